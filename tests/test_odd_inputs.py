"""Odd input files are refused at once with one line naming the file (terrain/npz.py, terrain/atomic.py,
motion_model/body/motion.py, terrain/heightfield.py): FIFOs, devices and folders named like motion files, archives
that are encrypted, compressed unknowingly, truncated or damaged, numbers that would overflow; and a motion
without terrain, which the format allows, is rendered on flat ground."""

import os
import struct
import time
import zipfile

import imageio.v2 as imageio
import numpy as np
import pytest
from cli_run import assert_one_line_error, run_cli

from motion_model.body.clips import clip_motion
from motion_model.body.motion import Motion
from motion_model.learner.checkpoint import load_model
from sim.bullet.render import on_ground, render
from sim.evaluation.metrics import load_motion
from terrain.generators import make_terrain
from terrain.heightfield import Heightfield

LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"
# Offsets of the general-purpose flags and of the compression method in zip's local and central headers.
FLAGS = {LOCAL: 6, CENTRAL: 8}
METHOD = {LOCAL: 8, CENTRAL: 10}


@pytest.fixture(scope="module")
def walk_file(tmp_path_factory):
    file = tmp_path_factory.mktemp("walk") / "walk.npz"
    clip_motion("walk").save(file, terrain=make_terrain("flat", seed=0, length=8.0))
    return file


def rewrite_headers(source, target, offsets, change):
    """A copy of the zip `source` with the 2-byte field at `offsets` of every local and central header changed."""
    data = bytearray(source.read_bytes())
    for signature, offset in offsets.items():
        start = data.find(signature)
        while start >= 0:
            (value,) = struct.unpack_from("<H", data, start + offset)
            struct.pack_into("<H", data, start + offset, change(value))
            start = data.find(signature, start + 4)
    target.write_bytes(bytes(data))
    return target


def with_arrays(source, target, **changes):
    np.savez(target, **{**dict(np.load(source)), **changes})
    return target


def test_a_fifo_named_like_a_motion_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "walk.npz"
    os.mkfifo(fifo)
    for command in ("eval", "view"):
        start = time.perf_counter()
        result = run_cli(command, fifo, timeout=60)
        assert_one_line_error(result, str(fifo), "FIFO", "not a regular file")
        assert time.perf_counter() - start < 30
    with pytest.raises(ValueError, match="FIFO"):
        load_model(fifo)


@pytest.mark.parametrize("path, kind", [(".", "a folder"), ("/dev/zero", "a device")])
def test_folders_and_devices_are_refused(path, kind):
    for load in (Motion.load, Heightfield.load, load_motion):
        with pytest.raises(ValueError, match=f"{path} is {kind}, not a regular file"):
            load(path)


@pytest.mark.parametrize(
    "name, offsets, change, message",
    [
        ("encrypted", FLAGS, lambda flags: flags | 0x1, "encrypted"),
        ("method 99", METHOD, lambda method: 99, "compression method is not supported"),
    ],
)
def test_encrypted_members_and_unknown_compressions_are_refused(walk_file, tmp_path, name, offsets, change, message):
    bad = rewrite_headers(walk_file, tmp_path / f"{name}.npz", offsets, change)
    with zipfile.ZipFile(bad) as archive:  # the crafted file is what it should be
        first = archive.infolist()[0]
    assert (first.flag_bits & 0x1) if name == "encrypted" else first.compress_type == 99
    for load in (Motion.load, load_motion):
        with pytest.raises(ValueError, match=f"{bad} is not a motion file: its fps.npy cannot be read.*{message}"):
            load(bad)
    assert_one_line_error(run_cli("eval", bad), str(bad), message)


def test_truncated_and_damaged_archives_are_refused(walk_file, tmp_path):
    data = walk_file.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"{truncated} is not a motion file"):
        Motion.load(truncated)
    compressed = tmp_path / "compressed.npz"
    np.savez_compressed(compressed, **dict(np.load(walk_file)))
    damaged = bytearray(compressed.read_bytes())
    second = damaged.find(LOCAL, 4)  # the second member, root_pos, after its fps
    damaged[second + 100 : second + 140] = b"\x00\xff" * 20
    (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="damaged.npz is not a motion file: its .*npy cannot be read"):
        Motion.load(tmp_path / "damaged.npz")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"fps": np.float64(1e300)}, r"'fps' is 1e\+300; a motion file's frame rate must lie in \[1, 1000\]"),
        ({"fps": np.float64(np.nan)}, "'fps' is nan"),
        ({"fps": np.float64(1e-300)}, "'fps' is 1e-300"),
        ({"goal": np.array([1e300, 0.0])}, r"'goal' holds a position beyond 1e\+06 m"),
        ({"terrain_cell": np.float64(1e300)}, r"'terrain_cell' is 1e\+300 m; a cell must be one length in"),
        ({"terrain_cell": np.float64(1e-300)}, "'terrain_cell' is 1e-300 m"),
        ({"terrain_origin": np.array([-1e300, 0.0])}, r"'terrain_origin' holds a value beyond 1e\+06 m"),
    ],
)
def test_numbers_that_would_overflow_are_refused_naming_the_key(walk_file, tmp_path, changes, message):
    bad = with_arrays(walk_file, tmp_path / "bad.npz", **changes)
    for load in (Motion.load, load_motion):
        with pytest.raises(ValueError, match=message):
            load(bad)
    line = assert_one_line_error(run_cli("eval", bad), str(bad), list(changes)[0])
    assert line.count(str(bad)) == 1


def test_huge_root_positions_are_refused_even_beside_nan(walk_file, tmp_path):
    root = np.load(walk_file)["root_pos"].copy()
    root[3, 0] = 1e300
    with pytest.raises(ValueError, match=r"'root_pos' holds a position beyond 1e\+06 m"):
        Motion.load(with_arrays(walk_file, tmp_path / "huge.npz", root_pos=root))
    root[4, 1] = np.nan  # eval reports a diverged motion (NaN), but not one beyond every bound
    with pytest.raises(ValueError, match="'root_pos' holds a position beyond"):
        load_motion(with_arrays(walk_file, tmp_path / "huge-nan.npz", root_pos=root))
    root[3, 0] = 0.0
    assert load_motion(with_arrays(walk_file, tmp_path / "nan.npz", root_pos=root)).num_frames == len(root)
    with pytest.raises(ValueError, match="nan.npz is not a valid motion file: Motion.root_pos has non-finite"):
        Motion.load(tmp_path / "nan.npz")


def test_a_motion_without_terrain_renders_on_flat_ground(tmp_path):
    motion = clip_motion("walk").slice(0, 8)
    assert motion.terrain is None
    ground = on_ground(motion).terrain
    assert np.all(ground.heights == 0) and ground.cell == pytest.approx(0.1)
    assert np.all(ground.contains(motion.root_pos[:, :2], margin=4.0))
    out = tmp_path / "walk.mp4"
    stats = render(motion, out, width=96, height=64, workers=2, progress=False)  # in worker processes
    frames = imageio.mimread(out)
    assert stats["frames"] == len(frames) == 8
    assert (np.asarray(frames[0])[40:].min(-1) < 240).mean() > 0.9  # the lower part is ground, not background
    assert [f.name for f in tmp_path.iterdir()] == ["walk.mp4"]


def test_long_motions_get_a_coarser_flat_ground():
    walk = clip_motion("walk")
    root = walk.root_pos.copy()
    root[-1, 0] += 500.0
    far = Motion(walk.fps, root, walk.root_quat, walk.joint_quat, walk.contacts)
    ground = on_ground(far).terrain
    assert max(ground.shape) <= 256 and ground.contains(far.root_pos[:, :2]).all()
