"""Matplotlib previews of a motion: a frame strip and a short video."""

import imageio.v2 as imageio
import pytest

from motion_model.body.clips import clip_motion
from sim.cli import main
from sim.formats.preview import frame_strip, preview_video, write_video


def test_frame_strip_and_gif(tmp_path):
    motion = clip_motion("walk", cycles=2)
    frame_strip(motion, tmp_path / "strip.png", columns=3, terrain=None)
    assert imageio.imread(tmp_path / "strip.png").shape[1] > 300
    preview_video(motion.slice(0, 6), str(tmp_path / "walk.gif"), size=(160, 120))
    frames = imageio.mimread(tmp_path / "walk.gif")
    assert len(frames) == 6 and frames[0].shape[:2] == (120, 160)


def test_clip_command_then_preview_command(tmp_path, capsys):
    out = tmp_path / "walk.npz"
    main(["clip", "walk", "--cycles", "3", "--out", str(out)])
    main(["preview", str(out), "--out", str(tmp_path / "strip.png"), "--columns", "4"])
    assert "preview written" in capsys.readouterr().out
    assert (tmp_path / "strip.png").stat().st_size > 10_000


@pytest.mark.parametrize("fps", [1e9, 1e-6, 241.0])
def test_video_fps_outside_the_range_is_refused_before_any_frame(tmp_path, fps):
    motion = clip_motion("walk").slice(0, 3)
    with pytest.raises(ValueError, match=r"video fps .* must lie in \[1, 240\]"):
        preview_video(motion, str(tmp_path / "walk.gif"), fps=fps)
    with pytest.raises(ValueError, match=r"must lie in \[1, 240\]"):
        write_video(iter([]), str(tmp_path / "walk.mp4"), fps)
    assert list(tmp_path.iterdir()) == []
