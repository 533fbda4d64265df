import faulthandler
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from motion_model.engine.synthesis import synthesize
from sim.bullet.render import RenderError, frame_indices, main_render, render
from sim.bullet.scene import Camera
from terrain.generators import make_terrain
from terrain.planning import plan_path


@pytest.fixture(scope="module")
def short_walk():
    """Ten frames of a walk up stairs, with terrain, path and goal."""
    terrain = make_terrain("stairs", seed=0)
    return synthesize(terrain, plan_path(terrain), gait="walk", seed=0).slice(130, 140)


def limb_pixels(frame):
    """Pixels of the character's orange (right) and blue (left) limbs in an RGB frame."""
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    return ((r - b > 90) & (r > 150)).sum(), ((b - r > 60) & (b > 120)).sum()


def test_frame_indices():
    assert np.array_equal(frame_indices(10, 30.0), np.arange(10))
    assert np.array_equal(frame_indices(10, 30.0, 15.0), [0, 2, 4, 6, 8])
    assert np.array_equal(frame_indices(31, 30.0, 12.0), [0, 2, 5, 8, 10, 12, 15, 18, 20, 22, 25, 28, 30])
    with pytest.raises(ValueError, match="at most|in \\(0"):
        frame_indices(10, 30.0, 60.0)


@pytest.mark.slow
@pytest.mark.parametrize("suffix, workers", [(".mp4", 1), (".gif", 2)])
def test_render_video(short_walk, tmp_path, suffix, workers):
    out = tmp_path / f"walk{suffix}"
    stats = render(short_walk, out, width=160, height=120, fps=15.0, workers=workers, progress=False)
    assert stats["frames"] == 5 and stats["workers"] == workers and stats["ms_per_frame"] > 0
    frames = imageio.mimread(out)
    assert len(frames) == 5 and frames[0].shape[:2] == (120, 160)
    assert [f.name for f in tmp_path.iterdir()] == [out.name]  # no temporary files left
    # The character is in the middle of the picture, lit (its limb colours show).
    orange, blue = limb_pixels(np.asarray(frames[2])[:, 40:120, :3])
    assert orange > 30 and blue > 30


def test_render_frames_show_terrain_and_character(short_walk, tmp_path):
    out = tmp_path / "still.mp4"
    render(short_walk.slice(0, 1), out, width=320, height=240, camera=Camera(yaw=-60.0), progress=False)
    frame = imageio.mimread(out)[0].astype(int)
    orange, blue = limb_pixels(frame)
    assert orange > 100 and blue > 100
    # The lower half is terrain, not the white background.
    assert (frame[120:].min(-1) < 240).mean() > 0.95


def test_bad_input(short_walk, tmp_path):
    with pytest.raises(ValueError, match="must end in .mp4 or .gif"):
        render(short_walk, tmp_path / "walk.avi", progress=False)
    with pytest.raises(ValueError, match="does not exist"):
        render(short_walk, tmp_path / "missing" / "walk.mp4", progress=False)
    motion_file = tmp_path / "walk.npz"
    short_walk.save(motion_file)
    with pytest.raises(ValueError, match="must end in .mp4 or .gif"):
        main_render(motion_file, tmp_path / "walk.png")
    terrain_file = tmp_path / "terrain.npz"
    make_terrain("flat", seed=0).save(terrain_file)
    with pytest.raises(ValueError, match="not a motion file"):
        main_render(terrain_file, tmp_path / "walk.mp4")
    with pytest.raises(ValueError, match="video fps must be in"):
        main_render(motion_file, tmp_path / "walk.mp4", fps=100.0)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["terrain.npz", "walk.npz"]


def test_main_render(short_walk, tmp_path, capsys):
    motion_file = tmp_path / "walk.npz"
    short_walk.save(motion_file)
    assert main_render(motion_file, tmp_path / "walk.gif", width=96, height=72, fps=10.0, workers=1) == 0
    assert "ms per frame" in capsys.readouterr().out
    assert len(imageio.mimread(tmp_path / "walk.gif")) == 4


def _children():
    """Pids of this process's children (all threads'), from /proc."""
    pids = []
    for file in Path("/proc/self/task").glob("*/children"):
        pids += [int(pid) for pid in file.read_text().split()]
    return pids


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_worker_ends_the_render_with_an_error_and_no_files(tmp_path):
    terrain = make_terrain("stairs", seed=0)
    walk = synthesize(terrain, plan_path(terrain), gait="walk", seed=0).slice(0, 240)
    out = tmp_path / "walk.mp4"
    out.write_bytes(b"the previous video")
    workers, killed = [], {}

    def kill_one_worker_mid_render():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            forked = [c.pid for c in multiprocessing.active_children()]
            # The encoder (ffmpeg, not a multiprocessing child) starts with the first rendered frame.
            if len(forked) == 2 and any(pid not in forked for pid in _children()):
                workers.extend(forked)
                killed["at"] = time.monotonic()
                os.kill(forked[0], signal.SIGKILL)
            time.sleep(0.02)

    faulthandler.dump_traceback_later(120, exit=True)  # a hang fails the run instead of blocking it
    killer = threading.Thread(target=kill_one_worker_mid_render)
    killer.start()
    try:
        with pytest.raises(RenderError) as error:
            render(walk, out, width=320, height=240, workers=2, progress=False)
        raised = time.monotonic()
    finally:
        killed.setdefault("at", None)
        killer.join()
        faulthandler.cancel_dump_traceback_later()
    assert killed["at"] is not None, "the render ended before a worker could be killed"
    assert raised - killed["at"] < 5.0
    assert str(error.value) == f"render worker {workers[0]} died (killed by SIGKILL); nothing was written to {out}"
    assert [f.name for f in tmp_path.iterdir()] == [out.name] and out.read_bytes() == b"the previous video"
    deadline = time.monotonic() + 5
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers))


@pytest.mark.parametrize("width, height", [(50000, 50000), (3841, 480), (640, 2161), (15, 480)])
def test_video_size_is_bounded_before_anything_is_allocated(short_walk, tmp_path, width, height):
    with pytest.raises(ValueError, match="16..3840 and height 16..2160"):
        render(short_walk, tmp_path / "walk.mp4", width=width, height=height, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fps", [1e9, 1e-6, 0.5])
def test_video_fps_is_bounded(short_walk, tmp_path, fps):
    from motion_model.body.motion import Motion

    fast = Motion(
        fps, short_walk.root_pos, short_walk.root_quat, short_walk.joint_quat, short_walk.contacts, short_walk.terrain
    )
    with pytest.raises(ValueError, match=r"video fps .* must lie in \[1, 240\]"):
        render(fast, tmp_path / "walk.mp4", progress=False)
    with pytest.raises(ValueError, match=r"must lie in \[1, 240\]"):
        render(short_walk, tmp_path / "walk.gif", fps=fps, progress=False)
    assert list(tmp_path.iterdir()) == []
