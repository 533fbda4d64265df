import imageio.v2 as imageio
import numpy as np
import pytest

from sim.render import frame_indices, main_render, render
from sim.scene import Camera
from terrain.generators import make_terrain
from terrain.planning import plan_path


@pytest.fixture(scope="module")
def short_walk():
    """Ten frames of a walk up stairs, with terrain, path and goal."""
    from motion_model.synthesis import synthesize

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
