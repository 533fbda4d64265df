import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pybullet as p
import pytest
from cli_run import ROOT, assert_one_line_error, run_cli

from controller.crowd import crowd_starts, random_commands
from controller.live_stream import LiveCrowdStream
from motion_model.body.motion import Motion
from sim.play.scripted import motion_files
from sim.play.steering import Decision, Steering, camera_heading, camera_yaw_behind
from terrain.generators import make_terrain
from terrain.planning import traversable

DOWN = p.KEY_IS_DOWN
TAPPED = p.KEY_WAS_TRIGGERED | p.KEY_WAS_RELEASED  # pressed and released between two polls


def yaw_of(motion):
    """Root yaw (radians, world) per frame, unwrapped."""
    x, y, z, w = motion.root_quat.T
    return np.unwrap(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def test_camera_convention():
    # PyBullet's camera of yaw 0 looks along +Y; the yaw behind a character facing +X is -90.
    forward = np.reshape(p.computeViewMatrixFromYawPitchRoll([0, 0, 0], 3, -40, -20, 0, 2), (4, 4))[:3, 2]
    assert math.isclose(math.atan2(-forward[1], -forward[0]), camera_heading(-40), abs_tol=1e-5)
    assert camera_yaw_behind(0.0) == -90.0 and math.isclose(camera_heading(camera_yaw_behind(1.0)), 1.0)


def test_steering_keys():
    steer = Steering(walk_speed=1.2, run_speed=3.0)
    behind = camera_yaw_behind(0.0)  # looking along +X
    first = steer.update({}, behind)
    assert first.direction is None and first.speed == 0.0  # stands until a direction key
    assert steer.update({ord("w"): DOWN}, behind) == Decision(0.0, 1.2)
    right = steer.update({ord("d"): DOWN, p.B3G_SHIFT: DOWN}, behind)
    assert math.isclose(right.direction, -math.pi / 2) and right.speed == 3.0
    # Released: it keeps going that way, walking once Shift is up; arrows are the same keys.
    assert steer.update({}, behind).speed == 1.2 and math.isclose(steer.direction, -math.pi / 2)
    half = steer.update({p.B3G_UP_ARROW: DOWN, p.B3G_LEFT_ARROW: DOWN}, behind)
    assert math.isclose(half.direction, math.pi / 4)
    # Relative to the camera: W looks away from it wherever the mouse turned it.
    assert math.isclose(steer.update({ord("w"): DOWN}, behind + 90).direction, math.pi / 2)
    assert math.isclose(abs(steer.update({ord("s"): TAPPED}, behind).direction), math.pi)  # a tap counts
    assert steer.update({p.B3G_SPACE: TAPPED}, behind).speed == 0.0
    assert steer.update({}, behind).speed == 0.0  # stays stopped
    steer.update({ord("w"): DOWN}, behind)
    assert steer.update({p.B3G_SPACE: p.KEY_WAS_RELEASED}, behind).speed == 0.0  # a tap whose press was lost
    assert not steer.update({ord("r"): p.KEY_WAS_TRIGGERED | DOWN}, behind).reset  # R acts when let go
    assert steer.update({ord("r"): p.KEY_WAS_RELEASED}, behind).reset and steer.direction is None
    assert steer.update({27: TAPPED}, behind).quit
    with pytest.raises(ValueError, match="walk speed"):
        Steering(walk_speed=2.0, run_speed=1.0)


def test_crowd_starts_and_random_commands():
    terrain = make_terrain("flat", seed=0, length=8.0)
    starts = crowd_starts(terrain, 9)
    assert np.allclose(starts[0], terrain.start) and traversable(terrain, starts).all()
    gaps = np.linalg.norm(starts[:, None] - starts[None], axis=-1) + np.eye(9) * 100
    assert gaps.min() >= 1.5 - 1e-9
    with pytest.raises(ValueError, match="traversable starts"):
        crowd_starts(terrain, 64, spacing=3.0)
    commands = random_commands(4, 30.0, 1.2, 3.0)
    assert commands == random_commands(4, 30.0, 1.2, 3.0) != random_commands(5, 30.0, 1.2, 3.0)
    gaps = np.diff([0.0] + [c.t for c in commands])
    assert 10 <= len(commands) <= 30 and gaps.min() >= 1.0 and gaps.max() <= 3.0
    assert {c.speed for c in commands} <= {0.0, 1.2, 3.0}
    assert motion_files("out/a.npz", 1) == ["out/a.npz"]
    assert motion_files("out/a.npz", 3) == ["out/a_0.npz", "out/a_1.npz", "out/a_2.npz"]


def test_crowd_stream(model):
    from controller.live import LiveConfig, LiveController

    terrain = make_terrain("flat", seed=0, length=8.0)
    config = LiveConfig(commit_frames=model.window.n_prev + 2)
    lives = [
        LiveController(model, terrain, config=config, seed=i, start=xy) for i, xy in enumerate(crowd_starts(terrain, 3))
    ]
    with LiveCrowdStream(lives, lead=0.1) as stream:
        frames = [stream.next_frames() for _ in range(12)]
        stream.command(1, direction=0.0, speed=1.2)  # one character's command: it is regenerated alone
        frames += [stream.next_frames() for _ in range(8)]
        assert stream.error is None
    assert all(len(f) == 3 for f in frames)
    assert [live.frame_index for live in lives] == [20, 20, 20]
    assert len(lives[1].command_log) == 2 and len(lives[0].command_log) == 1
    # Each character is posed on its own start.
    assert np.linalg.norm(frames[0][1].root_pos[:2] - frames[0][0].root_pos[:2]) > 1.0


FIELD = ("--terrain", "field", "size=20", "features=0")
SCRIPT = "- {t: 0.0, direction: 0, speed: 1.2}\n- {t: 1.5, direction: 90}\n"


def test_play_script_turns(tmp_path):
    (tmp_path / "cmds.yaml").write_text(SCRIPT)
    out = tmp_path / "m.npz"
    run = run_cli("play", *FIELD, "--commands", tmp_path / "cmds.yaml", "--tail", "2", "--out", out)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "\nturn " in run.stdout and f"motion written to {out}" in run.stdout  # the reaction table
    motion = Motion.load(out)
    assert motion.terrain is not None and motion.num_frames == round(3.5 * motion.fps)
    yaw = yaw_of(motion)
    assert abs(yaw[0]) < 0.3 and abs(yaw[-1] - math.pi / 2) < math.radians(25)
    assert motion.root_pos[-1, 1] - motion.root_pos[0, 1] > 0.5  # it went the new way, +Y


def test_play_script_crowd(tmp_path):
    (tmp_path / "cmds.yaml").write_text(SCRIPT)
    out = tmp_path / "crowd.npz"
    run = run_cli(
        "play", *FIELD, "--commands", tmp_path / "cmds.yaml", "--tail", "1", "--characters", "2", "--out", out
    )
    assert run.returncode == 0, run.stderr[-2000:]
    motions = [Motion.load(tmp_path / f"crowd_{i}.npz") for i in range(2)]
    assert not out.exists() and motions[0].num_frames == motions[1].num_frames
    assert np.linalg.norm(motions[1].root_pos[0, :2] - motions[0].root_pos[0, :2]) > 1.0  # own starts
    for motion in motions:
        assert yaw_of(motion)[-1] > math.radians(45)  # both follow the script


def test_play_refusals(tmp_path):
    out = tmp_path / "m.npz"
    (tmp_path / "bad.yaml").write_text("- {t: 0.0, direction: 0, speed: 1.2}\n- {t: 1.0, speed: 9}\n")
    run = run_cli("play", *FIELD, "--commands", tmp_path / "bad.yaml", "--out", out)
    assert_one_line_error(run, "entry 1", "speed")
    assert run.returncode == 2
    run = run_cli("play", *FIELD, "--out", out, "--video", tmp_path / "v.mp4")
    assert_one_line_error(run, "--video needs --commands")
    run = run_cli("play", *FIELD, "--commands", tmp_path / "bad.yaml", "--out", tmp_path / "missing" / "m.npz")
    assert_one_line_error(run, "missing", "does not exist")
    assert_one_line_error(run_cli("play", "--characters", "65"), "characters", "1..64")
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.yaml"]  # nothing written


def _lines_until(process, text, timeout):
    """Read the process's stdout until a line starting with `text`; False after `timeout` s or at its end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            return False
        if line.startswith(text):
            return True
    return False


@pytest.mark.gui
def test_play_in_a_real_window(display, tmp_path):
    """The real `play` window driven by real key events: D (right of the camera, which starts behind the
    character facing +X) turns the walk to -Y, Esc ends the session with status 0 and the motion saved."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed: apt-get install -y xdotool")
    out = tmp_path / "play.npz"
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "play", *FIELD, "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _lines_until(process, "playing:", timeout=240), process.stderr.read()[-3000:]

        def xdotool(*args):
            subprocess.run(["xdotool", *args], env=env, check=True, timeout=30)

        xdotool("mousemove", "512", "384")  # the window under the pointer takes the keys
        time.sleep(1.5)
        xdotool("keydown", "d")
        time.sleep(3.0)
        xdotool("keyup", "d")
        time.sleep(2.5)  # it keeps walking that way
        xdotool("key", "Escape")
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, stderr[-3000:]
    assert "underruns" in stdout and f"motion written to {out}" in stdout
    motion = Motion.load(out)
    yaw = yaw_of(motion)
    assert abs(yaw[0]) < 0.3 and abs(yaw[-1] + math.pi / 2) < math.radians(30), np.degrees(yaw[::15])
    # From standing it turns on the spot, then walks to the camera's right, -Y.
    assert motion.root_pos[-1, 1] - motion.root_pos[0, 1] < -0.3


# PyBullet allows one window per process (and ends the process on a display error): the check runs in its own.
FIELD_WINDOW = r"""
import numpy as np
from sim.bullet.scene import Scene, p
from terrain.generators import make_terrain

with Scene(make_terrain("field", seed=0, size=36, features=0), gui=True) as scene:  # 0.52 M vertices
    c = scene.client
    p.resetDebugVisualizerCamera(8, -90, -20, [0, 0, 0.5], physicsClientId=c)
    width, height, view, projection = p.getDebugVisualizerCamera(physicsClientId=c)[:4]
    seg = p.getCameraImage(width, height, view, projection, renderer=p.ER_BULLET_HARDWARE_OPENGL,
                           physicsClientId=c)[4]
    print("TERRAIN", float((np.reshape(seg, (height, width)) == scene.terrain_visual).mean()))
"""


@pytest.mark.gui
def test_a_large_field_is_drawn_in_the_window(display):
    run = subprocess.run(
        [sys.executable, "-c", FIELD_WINDOW],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("TERRAIN ")]
    assert run.returncode == 0 and lines, run.stderr[-2000:]
    assert float(lines[0].split()[1]) > 0.3  # the ground fills the lower part of the window
