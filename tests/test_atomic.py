import os
import stat
from pathlib import Path

import numpy as np
import pytest
from cli_run import assert_one_line_error, run_cli

from motion_model.body.clips import clip_motion
from terrain.atomic import atomic_files, atomic_path, check_writable, stale_temporaries


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


def test_a_name_at_the_file_system_limit_is_written_and_one_beyond_is_refused_before_the_work(tmp_path):
    longest = tmp_path / ("w" * (255 - len(".npz")) + ".npz")
    check_writable(longest, "motion file", (".npz",))  # the temporary name beside it fits too
    clip_motion("walk").save(longest)
    assert [f.name for f in tmp_path.iterdir()] == [longest.name]
    with pytest.raises(ValueError, match="is 256 bytes, more than the 255 its file system allows"):
        check_writable(tmp_path / ("w" * 252 + ".npz"), "motion file")
    accented = tmp_path / ("é" * 125 + ".npz")  # 254 bytes: the temporary name is cut on bytes, not characters
    with atomic_path(accented) as tmp, open(tmp, "wb") as f:
        assert len(os.fsencode(Path(tmp).name)) <= 255
        f.write(b"x")
    assert accented.read_bytes() == b"x"


def test_the_command_line_refuses_a_name_too_long_before_it_works(tmp_path):
    result = run_cli("terrain", "flat", "--out", tmp_path / ("t" * 252 + ".npz"))
    assert_one_line_error(result, "256 bytes", "shorter")
    assert list(tmp_path.iterdir()) == []
    result = run_cli("terrain", "flat", "--out", tmp_path / ("t" * 251 + ".npz"))
    assert result.returncode == 0, result.stderr
    assert [len(f.name) for f in tmp_path.iterdir()] == [255]


def test_stale_temporaries_are_found_beside_their_file(tmp_path):
    target = tmp_path / "checkpoint.pt"
    stale = tmp_path / ".checkpoint.pt.abcd1234.pt"
    stale.write_bytes(b"half")
    (tmp_path / ".model.pt.abcd1234.pt").write_bytes(b"another file's")
    assert stale_temporaries(target) == [stale]


def test_atomic_files_replace_all_together_or_none(tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_files(tmp_path) as output:
            Path(output("a.txt")).write_text("new")
            raise RuntimeError("the second output failed")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    assert {(tmp_path / n).read_text() for n in ("a.txt", "b.txt")} == {"old"}
    with atomic_files(tmp_path) as output:
        for name in ("a.txt", "b.txt"):
            Path(output(name)).write_text("new")
        assert (tmp_path / "a.txt").read_text() == "old"  # nothing replaced before the end
    assert {(tmp_path / n).read_text() for n in ("a.txt", "b.txt")} == {"new"}


def test_a_folder_the_writer_makes_only_has_to_be_possible_to_make(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "out.json", "JSON file", make_folder=True)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="a_file of the JSON file .* is a file"):
        check_writable(tmp_path / "a_file" / "out.json", "JSON file", make_folder=True)
    with pytest.raises(ValueError, match="cannot be made: .*a_file is a file"):
        check_writable(tmp_path / "a_file" / "deeper" / "out.json", "JSON file", make_folder=True)
    with pytest.raises(ValueError, match="is 256 bytes"):
        check_writable(tmp_path / "new" / ("j" * 251 + ".json"), "JSON file", make_folder=True)
