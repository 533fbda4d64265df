"""Terrain generators: determinism, parameters, layout and the shapes they promise."""

import time

import numpy as np
import pytest
from scipy import ndimage

from terrain.generators import CORRIDOR_KINDS, KINDS, MARGIN, PAD, START_CLEAR, make_terrain, parameter_spec
from terrain.heightfield import FILE_LIMITS


def pad_points(centre, half=0.5 * PAD - 0.02, n=15):
    s = np.linspace(-half, half, n)
    gx, gy = np.meshgrid(s, s, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], -1) + centre


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_terrain_and_different_seeds_differ(kind):
    a, b, c = make_terrain(kind, 11), make_terrain(kind, 11), make_terrain(kind, 12)
    assert np.array_equal(a.heights, b.heights) and np.array_equal(a.goal, b.goal)
    assert a.cell == b.cell and np.array_equal(a.origin, b.origin)
    assert not (np.array_equal(a.heights, c.heights) and np.array_equal(a.goal, c.goal))


@pytest.mark.parametrize("kind", CORRIDOR_KINDS)
def test_layout_pads_and_speed(kind):
    for seed in range(4):
        start = time.perf_counter()
        hf = make_terrain(kind, seed)
        assert time.perf_counter() - start < 0.5  # about 10 ms when the machine is quiet
        length, width = (parameter_spec(kind)[k]["default"] for k in ("length", "width"))
        lo, hi = hf.bounds()
        assert np.all(lo <= [-MARGIN + 1e-9, -0.5 * width - MARGIN + hf.cell])
        assert np.all(hi >= [length + MARGIN - 1e-9, 0.5 * width + MARGIN - hf.cell])
        assert hf.start is not None and hf.goal is not None
        assert hf.start[0] < 1.5 and hf.goal[0] > length - 1.5 and abs(hf.goal[1]) <= 0.5 * width - 0.5 * PAD
        for pad in (hf.start, hf.goal):
            assert np.ptp(hf.height(pad_points(pad))) == 0.0


@pytest.mark.parametrize(
    "kind, params, message",
    [
        ("stairs", {"step_height": 0.3}, r"step_height=0\.3.*\[0\.05, 0\.25\]"),
        ("stairs", {"direction": "sideways"}, r"direction.*one of"),
        ("stairs", {"num_steps": 2.5}, r"num_steps"),
        ("slope", {"angle": 25.0}, r"angle=25\.0.*\[2\.0, 20\.0\]"),
        ("rough", {"amplitude": -0.1}, r"amplitude"),
        ("flat", {"length": 3.0}, r"length=3\.0.*\[8\.0, 20\.0\]"),
        ("steps", {"colour": "red"}, r"no parameter 'colour'"),
    ],
)
def test_bad_parameters_name_themselves_and_their_range(kind, params, message):
    with pytest.raises(ValueError, match=message):
        make_terrain(kind, 0, **params)


def test_unknown_kind_and_parameters_that_do_not_fit():
    with pytest.raises(ValueError, match="unknown terrain kind"):
        make_terrain("lava", 0)
    with pytest.raises(ValueError, match="num_steps.*does not fit"):
        make_terrain("stairs", 0, length=8.0, direction="up_down", tread=0.5, num_steps=12)


def test_stairs_have_flat_treads_and_one_cell_risers():
    hf = make_terrain("stairs", 3, direction="up", step_height=0.15, tread=0.3, num_steps=6)
    profile = hf.heights[:, hf.shape[1] // 2]
    assert np.all(hf.heights == profile[:, None])  # spans the whole width
    rises = np.diff(profile)
    assert np.allclose(rises[rises != 0], 0.15) and np.count_nonzero(rises) == 6
    edges = np.flatnonzero(rises)
    assert np.all(np.diff(edges) == round(0.3 / hf.cell))
    assert profile[-1] == pytest.approx(0.9)


@pytest.mark.parametrize("direction, top, end", [("down", 0.0, -0.6), ("up_down", 0.6, 0.0)])
def test_stairs_directions(direction, top, end):
    hf = make_terrain("stairs", 0, direction=direction, step_height=0.1, num_steps=6)
    profile = hf.heights[:, 0]
    assert profile.max() == pytest.approx(top) and profile[-1] == pytest.approx(end)


def test_slopes_rough_and_steps_stay_in_their_ranges():
    for seed in range(5):
        ramp = make_terrain("slope", seed)
        gradient = np.abs(np.diff(ramp.heights, axis=0)).max() / ramp.cell
        assert gradient <= np.tan(np.radians(20.0)) + 1e-9
        rough = make_terrain("rough", seed)
        assert np.abs(rough.heights).max() <= 0.15 + 1e-12
        steps = make_terrain("steps", seed)
        assert np.abs(steps.heights).max() <= 8 * 0.25 + 0.4
    boxes = make_terrain("steps", 1, num_features=6, box_height=0.4)
    assert boxes.heights.max() - boxes.heights.min() >= 0.4 - 1e-9


def test_field_is_an_open_square_with_its_start_in_the_middle_kept_clear():
    for seed, size, features in [(0, 40.0, 12), (1, 20.0, 50), (2, 30.0, 25)]:
        hf = make_terrain("field", seed, size=size, features=features)
        lo, hi = hf.bounds()
        assert np.allclose(lo, -0.5 * size - MARGIN, atol=hf.cell) and np.allclose(
            hi, 0.5 * size + MARGIN, atol=hf.cell
        )
        assert np.allclose(hf.start, 0.0)
        assert np.abs(hf.goal).max() == pytest.approx(0.5 * size - PAD)
        clear = pad_points(hf.start, half=START_CLEAR / np.sqrt(2.0), n=41)
        assert np.ptp(hf.height(clear)) == 0.0 and np.ptp(hf.height(pad_points(hf.goal))) == 0.0
        # Every feature stands apart: as many separate raised or lowered patches as features.
        _, patches = ndimage.label(hf.heights != 0.0, structure=np.ones((3, 3)))
        assert patches == features
        assert np.abs(hf.heights).max() <= 5 * 0.2 + 1e-9  # the tallest: a stepped pyramid of five 0.2-m risers


def test_field_without_features_is_flat_and_the_largest_fits_the_file_limits():
    assert not make_terrain("field", 5, features=0).heights.any()
    big = make_terrain("field", 5, size=100.0, features=50)
    assert FILE_LIMITS["terrain_heights"].admits(big.heights.shape)
    with pytest.raises(ValueError, match=r"size=10\.0.*\[20\.0, 100\.0\]"):
        make_terrain("field", 0, size=10.0)
    with pytest.raises(ValueError, match=r"features=51"):
        make_terrain("field", 0, features=51)
