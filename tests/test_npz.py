"""terrain/npz.py: array sizes in `.npz` files are checked from their headers before any data is read, so a
small file that declares a huge array is refused without allocating it (Motion.load, Heightfield.load, eval)."""

import tracemalloc
import zipfile

import numpy as np
import pytest
from cli_run import assert_one_line_error, run_cli
from numpy.lib import format as npy

from motion_model.body.clips import clip_motion
from motion_model.body.motion import MAX_FRAMES, Motion
from sim.evaluation.metrics import load_motion
from terrain.generators import make_terrain
from terrain.heightfield import Heightfield
from terrain.npz import Limit, read_npz


def declare(path, arrays):
    """An .npz whose members declare {name: (shape, dtype)} in their headers and hold a few zero bytes of data,
    as a compressed file of zeros would, without making the arrays."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (shape, dtype) in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                npy.write_array_header_1_0(
                    member, {"descr": npy.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
                )
                member.write(bytes(1000))
    return path


def peak_bytes(function, *args):
    """(exception raised by function(*args), the most memory Python allocated meanwhile)."""
    tracemalloc.start()
    try:
        function(*args)
    except ValueError as error:
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    raise AssertionError(f"{function.__qualname__} accepted the file")


@pytest.mark.parametrize("load", [Motion.load, Heightfield.load, load_motion])
def test_a_huge_declared_terrain_is_refused_without_allocating(tmp_path, load):
    file = declare(tmp_path / "big.npz", {"terrain_heights": ((20000, 20000), "<f8"), "terrain_cell": ((), "<f8")})
    error, peak = peak_bytes(load, file)
    assert "'terrain_heights' has shape (20000, 20000), beyond the limit of (4096, 4096)" in str(error)
    assert "docs/motion_format.md" in str(error) and peak < 50e6


def test_real_compressed_files_beyond_the_limits(tmp_path):
    grid = {"terrain_cell": np.array(0.05), "terrain_origin": np.zeros(2)}
    wide = tmp_path / "wide.npz"  # more vertices in all than the limit, each side within it
    np.savez_compressed(wide, terrain_heights=np.zeros((2100, 2100)), **grid)
    with pytest.raises(ValueError, match=r"\(2100, 2100\), beyond the limit of \(4096, 4096\) and 4194304 elements"):
        Heightfield.load(wide)
    long = tmp_path / "long.npz"
    np.savez_compressed(long, terrain_heights=np.zeros((4097, 3)), **grid)
    with pytest.raises(ValueError, match=r"\(4097, 3\), beyond the limit"):
        Heightfield.load(long)
    edge = tmp_path / "edge.npz"  # exactly at the limit of one side
    np.savez_compressed(edge, terrain_heights=np.zeros((4096, 3)), **grid)
    assert Heightfield.load(edge).heights.shape == (4096, 3)


def test_motion_frames_are_bounded(tmp_path):
    file = declare(tmp_path / "long.npz", {"fps": ((), "<f8"), "root_pos": ((MAX_FRAMES + 1, 3), "<f8")})
    error, peak = peak_bytes(Motion.load, file)
    assert f"'root_pos' has shape ({MAX_FRAMES + 1}, 3), beyond the limit of ({MAX_FRAMES}, 3)" in str(error)
    file = declare(tmp_path / "deep.npz", {"joint_quat": ((10, 12, 4, 10**9), "<f8")})
    error, peak = peak_bytes(Motion.load, file)
    assert "'joint_quat' has shape (10, 12, 4, 1000000000)" in str(error) and peak < 50e6


def test_a_motion_file_round_trips_and_extra_arrays_are_not_read(tmp_path):
    motion = clip_motion("walk")
    file = tmp_path / "walk.npz"
    motion.save(file, terrain=make_terrain("flat", seed=0, length=8.0))
    # An array no reader asks for, declared huge.
    with zipfile.ZipFile(file, "a") as archive, archive.open("notes.npy", "w") as member:
        npy.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    loaded = Motion.load(file)
    assert np.array_equal(loaded.root_pos, motion.root_pos) and loaded.terrain.heights.shape[0] > 2


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"fps": ((), "O")}, "'fps' holds Python objects"),
        ({"joint_names": ((12,), "<U100")}, "'joint_names' has 400-byte elements"),
    ],
)
def test_objects_and_long_elements_are_refused(tmp_path, arrays, message):
    with pytest.raises(ValueError, match=message):
        Motion.load(declare(tmp_path / "odd.npz", arrays))


def test_damaged_and_empty_files(tmp_path):
    damaged = declare(tmp_path / "damaged.npz", {"fps": ((), "<f8"), "root_pos": ((100, 3), "<f8")})
    with pytest.raises(ValueError, match=r"damaged.npz is not a motion file: its root_pos.npy cannot be read"):
        Motion.load(damaged)
    empty = tmp_path / "empty.npz"
    np.savez(empty)
    with pytest.raises(ValueError, match=r"empty.npz is not a motion file: no 'fps' array \(it has \[\]\)"):
        Motion.load(empty)
    nothing = tmp_path / "nothing.npz"
    nothing.write_bytes(b"")
    with pytest.raises(ValueError, match=r"nothing.npz is not a terrain file \(.npz\)"):
        Heightfield.load(nothing)


def test_limits_take_a_shape_or_a_limit(tmp_path):
    file = tmp_path / "a.npz"
    np.savez(file, a=np.zeros((3, 4)), b=np.zeros(5))
    arrays = read_npz(file, {"a": Limit((3, 4), 12), "b": (5,), "c": (1,)}, "test file")
    assert sorted(arrays) == ["a", "b"] and arrays["a"].shape == (3, 4)
    with pytest.raises(ValueError, match=r"'a' has shape \(3, 4\), beyond the limit of \(4, 4\) and 10 elements"):
        read_npz(file, {"a": Limit((4, 4), 10)}, "test file")


def test_eval_refuses_the_file_in_one_line(tmp_path):
    file = declare(tmp_path / "big.npz", {"terrain_heights": ((20000, 20000), "<f8")})
    assert_one_line_error(run_cli("eval", file, cwd=tmp_path), "big.npz", "terrain_heights", "beyond the limit")
