import os
import stat

import numpy as np
import pytest

from motion_model.clips import clip_motion
from terrain.atomic import atomic_path


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "walk.npz"
    clip_motion("walk").save(target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["walk.npz"]


def test_written_files_are_readable_by_others_like_open_makes_them(tmp_path):
    target = tmp_path / "t.npz"
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        np.savez(f, a=np.zeros(3))
    mode = stat.S_IMODE(os.stat(target).st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    assert np.load(target)["a"].shape == (3,)
