import json
import math
import os
import subprocess
import sys

import pybullet as p
import pytest

from sim.bullet import viewer
from sim.bullet.scene import DisplayError
from sim.bullet.viewer import SHOWN_METRICS, Playback, check_display, metric_lines
from terrain.generators import make_terrain
from terrain.planning import plan_path

PRESSED = p.KEY_WAS_TRIGGERED | p.KEY_IS_DOWN


def test_playback_keys():
    play = Playback(num_frames=31, fps=30.0)  # one second
    play.advance(0.5)
    assert play.frame == 15 and not play.paused
    play.handle({ord("="): PRESSED})
    assert play.speed == 2.0
    play.advance(0.1)
    assert play.frame == 21
    play.handle({p.B3G_SPACE: PRESSED})
    play.advance(1.0)
    assert play.paused and play.frame == 21
    play.handle({ord("n"): PRESSED})
    play.handle({p.B3G_RIGHT_ARROW: PRESSED})
    assert play.frame == 23
    play.handle({p.B3G_LEFT_ARROW: PRESSED, ord("-"): PRESSED})
    assert play.frame == 22 and play.speed == 1.0
    play.handle({ord("p"): p.KEY_IS_DOWN})  # held, not pressed again: nothing
    assert play.frame == 22
    play.handle({p.B3G_SPACE: PRESSED})
    play.advance(5.0)
    assert play.at_end and play.paused and play.frame == 30  # stops on the last frame
    play.handle({ord("n"): PRESSED})
    assert play.frame == 30
    play.handle({p.B3G_SPACE: PRESSED})  # space at the end plays again from the start
    assert not play.paused and play.frame == 0
    play.advance(0.2)
    play.handle({ord("r"): PRESSED})
    assert play.frame == 0 and not play.paused
    for _ in range(10):
        play.handle({ord("-"): PRESSED})
    assert play.speed == viewer.SPEEDS[0]
    assert play.status().startswith("playing at 0.125x")
    play.handle({p.B3G_SPACE: PRESSED})
    assert play.status() == "paused at frame 0 / 30, 0.00 / 1.00 s, speed 0.125x"


def test_metric_lines():
    result = {key: 1.25 for key, _, _ in SHOWN_METRICS}
    result["goal_dist_root_m"] = math.nan
    lines = metric_lines(result)
    assert len(lines) == len(SHOWN_METRICS)
    assert lines[0] == "penetration mean: 1.2 mm" and lines[-1] == "goal distance: -"


def test_no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(DisplayError, match="no display"):
        check_display()
    with pytest.raises(FileNotFoundError):
        viewer.view("missing.npz")
    monkeypatch.setenv("DISPLAY", ":987")
    with pytest.raises(DisplayError, match="cannot open the X display"):
        check_display()


# Runs in its own process: PyBullet allows one GUI per process, and ends the process on a display error.
GUI_SCRIPT = r"""
import json, sys
import numpy as np
from motion_model.body.motion import Motion
from sim.bullet.viewer import Viewer, p

motion = Motion.load(sys.argv[1])
with Viewer(motion) as viewer:
    c = viewer.client
    iterations = viewer.run(max_frames=8)
    viewer.playback.handle({p.B3G_SPACE: p.KEY_WAS_TRIGGERED})
    viewer.playback.handle({ord("n"): p.KEY_WAS_TRIGGERED})
    viewer.run(max_frames=2)
    frame = viewer.playback.frame

    def screenshot():
        width, height, view, projection = p.getDebugVisualizerCamera(physicsClientId=c)[:4]
        _, _, rgb, _, seg = p.getCameraImage(width, height, view, projection,
                                             renderer=p.ER_BULLET_HARDWARE_OPENGL, physicsClientId=c)
        return np.reshape(rgb, (height, width, 4))[..., :3].astype(int), np.reshape(seg, (height, width))

    rgb, seg = screenshot()
    # PyBullet's OpenGL segmentation mask leaves out bodies whose visuals come from their collision shapes,
    # as the humanoid URDF's do: the character's pixels are those that change when it is moved away.
    p.resetBasePositionAndOrientation(viewer.scene.humanoid, [0, 0, -100], [0, 0, 0, 1], physicsClientId=c)
    without, _ = screenshot()
    rows, cols = np.nonzero(np.abs(rgb - without).sum(-1) > 30)
    camera_target = p.getDebugVisualizerCamera(physicsClientId=c)[11]
    result = {
        "iterations": iterations, "frame": frame, "paused": viewer.playback.paused,
        "size": rgb.shape[:2], "terrain_fraction": float((seg == viewer.scene.terrain_visual).mean()),
        "path_in_picture": bool((seg == viewer.scene.path_body).any()),
        "character_pixels": int(len(rows)),
        "character_centre": [float(cols.mean()) if len(cols) else -1, float(rows.mean()) if len(rows) else -1],
        "camera_target_error": float(np.linalg.norm(np.subtract(camera_target, viewer.targets[frame]))),
        "texts": len(viewer.hud.texts),
    }
    viewer.scene.close()
    result["after_close"] = viewer.run(max_frames=5)
print("RESULT " + json.dumps(result))
"""


@pytest.mark.gui
def test_viewer_in_a_real_window(display, tmp_path):
    from motion_model.engine.synthesis import synthesize

    terrain = make_terrain("stairs", seed=0)
    motion = synthesize(terrain, plan_path(terrain), gait="walk", seed=0)
    file = tmp_path / "walk.npz"
    motion.save(file)
    run = subprocess.run(
        [sys.executable, "-c", GUI_SCRIPT, str(file)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DISPLAY": display},
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["iterations"] == 8
    assert result["paused"] and result["frame"] >= 1
    height, width = result["size"]
    assert result["terrain_fraction"] > 0.3 and result["path_in_picture"]
    # The character is drawn, near the middle of the window: the camera follows it.
    assert result["character_pixels"] > 500
    x, y = result["character_centre"]
    assert abs(x - width / 2) < 0.2 * width and abs(y - height / 2) < 0.3 * height
    assert result["camera_target_error"] < 1e-3
    assert result["texts"] == len(SHOWN_METRICS) + 2  # status, metrics, key help
    assert result["after_close"] == 0
