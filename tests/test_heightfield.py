"""Heightfield against PyBullet's own collision surface and against brute force."""

import numpy as np
import pybullet as p
import pytest
import torch

from terrain.bullet import add_heightfield_body, connect_direct
from terrain.generators import make_terrain
from terrain.heightfield import Heightfield, local_grid_xy
from terrain.sdf import SignedDistance, depth


@pytest.fixture(scope="module")
def client():
    cid = connect_direct()
    yield cid
    p.disconnect(cid)


def ray_down(client, hf, xy):
    """Bullet's hit height and normal straight below xy (N, 2); the body is removed afterwards."""
    body = add_heightfield_body(client, hf)
    top, bottom = hf.heights.max() + 1.0, hf.heights.min() - 1.0
    hits = []
    for chunk in np.array_split(xy, max(1, len(xy) // 10000 + 1)):
        start = np.column_stack([chunk, np.full(len(chunk), top)])
        end = np.column_stack([chunk, np.full(len(chunk), bottom)])
        hits += p.rayTestBatch(start, end, physicsClientId=client)
    p.removeBody(body, physicsClientId=client)
    assert all(h[0] == body for h in hits), "a ray missed the heightfield"
    return np.array([h[3][2] for h in hits]), np.array([h[4] for h in hits])


def inside_points(hf, n, rng, margin=0.01):
    lo, hi = hf.bounds()
    return rng.uniform(lo + margin, hi - margin, size=(n, 2))


@pytest.mark.parametrize("kind", ["stairs", "slope", "rough", "steps"])
def test_height_and_normal_match_bullet_rays(client, kind):
    hf = make_terrain(kind, 3, length=8.0)
    xy = inside_points(hf, 4000, np.random.default_rng(0))
    z, normal = ray_down(client, hf, xy)
    assert np.abs(hf.height(xy) - z).max() < 1e-3
    # Exactly on a triangle edge the two normals differ; elsewhere they must agree.
    steep = np.abs(normal - hf.normal(xy)).max(axis=1)
    assert np.mean(steep < 1e-3) > 0.99


def test_random_heights_follow_bullets_diagonal_not_bilinear(client):
    rng = np.random.default_rng(1)
    hf = Heightfield(rng.normal(0, 0.2, (30, 20)), 0.1, (-1.0, 2.0))
    xy = inside_points(hf, 3000, rng)
    z, normal = ray_down(client, hf, xy)
    assert np.abs(hf.height(xy) - z).max() < 1e-3
    on_edge = np.abs(normal - hf.normal(xy)).max(axis=1) > 1e-3
    assert on_edge.mean() < 0.01


def test_a_heightfield_is_plain_data_and_pickles_as_such():
    import pickle

    hf = make_terrain("stairs", 1)
    bare = pickle.dumps(hf)
    points = np.array([[3.0, 0.0, 0.1], [5.0, 0.5, -0.2]])
    before = SignedDistance(hf)(points)
    depth(hf, points), hf.height(torch.tensor(points[:, :2]))
    # Queries leave nothing behind on the object: no tables, no torch copies.
    assert set(vars(hf)) == {"heights", "cell", "origin", "start", "goal"} and pickle.dumps(hf) == bare
    copy = pickle.loads(bare)
    np.testing.assert_array_equal(SignedDistance(copy)(points), before)
    np.testing.assert_array_equal(copy.goal, hf.goal)


# ------------------------------------------------------------------------------------------------------------
# Heights in torch and local grids


def test_height_torch_matches_numpy_with_slope_gradients():
    hf = make_terrain("rough", 2, length=8.0)
    xy = inside_points(hf, 500, np.random.default_rng(5))
    t = torch.tensor(xy, requires_grad=True)
    h = hf.height(t)
    np.testing.assert_allclose(h.detach().numpy(), hf.height(xy), atol=1e-12)
    h.sum().backward()
    n = hf.normal(xy)
    np.testing.assert_allclose(t.grad.numpy(), -n[:, :2] / n[:, 2:], atol=1e-9)


def test_local_grid_of_a_ramp_seen_facing_plus_y():
    # Ramp rising 0.1 m per metre along +Y, level along X.
    y = np.arange(81) * 0.1 - 4.0
    hf = Heightfield(np.tile(0.1 * y, (61, 1)), 0.1, (-3.0, -4.0))
    position = np.array([[0.5, 1.0, 0.7], [-1.0, -2.0, 0.0]])
    heading = np.array([np.pi / 2, -np.pi / 2])  # first faces +Y, second faces -Y
    relative = np.array([0.1, -0.2])
    local = local_grid_xy((-1.0, 1.0), (-0.5, 0.5), 0.25)
    grid = hf.local_grid(position, heading, relative, (-1.0, 1.0), (-0.5, 0.5), 0.25)
    assert grid.shape == (2,) + local.shape[:2] == (2, 9, 5)
    # Facing +Y, forward (local x) is world +Y and left (local y) is world -X: height changes along x only.
    np.testing.assert_allclose(grid[0], 0.1 * (1.0 + local[..., 0]) - 0.1, atol=1e-12)
    np.testing.assert_allclose(grid[1], 0.1 * (-2.0 - local[..., 0]) + 0.2, atol=1e-12)
    assert np.ptp(grid[0], axis=1).max() < 1e-12
    t = hf.local_grid(
        torch.tensor(position, requires_grad=True),
        torch.tensor(heading),
        torch.tensor(relative),
        (-1.0, 1.0),
        (-0.5, 0.5),
        0.25,
    )
    np.testing.assert_allclose(t.detach().numpy(), grid, atol=1e-12)


def test_local_grid_rejects_bad_shapes():
    hf = Heightfield(np.zeros((41, 21)), 0.05, (0.0, -0.5))
    with pytest.raises(ValueError, match="heading"):
        hf.local_grid(np.zeros((2, 2)), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="position"):
        hf.local_grid(np.zeros((2, 4)), np.zeros(2), np.zeros(2))


# ------------------------------------------------------------------------------------------------------------
# Files and validation


def test_save_load_round_trip_is_exact(tmp_path):
    hf = make_terrain("steps", 7, length=8.0)
    path = hf.save(tmp_path / "t.npz")
    back = Heightfield.load(path)
    assert np.array_equal(back.heights, hf.heights) and back.cell == hf.cell
    assert np.array_equal(back.origin, hf.origin)
    assert np.array_equal(back.start, hf.start) and np.array_equal(back.goal, hf.goal)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]
    assert set(np.load(path).files) == {
        "terrain_heights",
        "terrain_cell",
        "terrain_origin",
        "terrain_start",
        "terrain_goal",
    }
    bare = Heightfield.from_arrays(Heightfield(hf.heights, hf.cell, hf.origin).arrays())
    assert bare.start is None and bare.goal is None


def test_load_names_the_missing_key(tmp_path):
    arrays = make_terrain("flat", 0, length=8.0).arrays()
    del arrays["terrain_cell"]
    np.savez(tmp_path / "x.npz", **arrays)
    with pytest.raises(ValueError, match="terrain_cell.*not a terrain file"):
        Heightfield.load(tmp_path / "x.npz")


@pytest.mark.parametrize(
    "heights, cell, origin, message",
    [
        (np.zeros(5), 0.1, (0, 0), "2-D"),
        (np.zeros((1, 5)), 0.1, (0, 0), "at least 2 x 2"),
        (np.array([[0.0, np.nan], [0.0, 0.0]]), 0.1, (0, 0), "NaN"),
        (np.zeros((3, 3)), 0.0, (0, 0), "cell"),
        (np.zeros((3, 3)), 0.1, (0, 0, 0), "origin"),
    ],
)
def test_invalid_input_is_rejected(heights, cell, origin, message):
    with pytest.raises(ValueError, match=message):
        Heightfield(heights, cell, origin)


def test_start_outside_is_rejected():
    with pytest.raises(ValueError, match="start"):
        Heightfield(np.zeros((3, 3)), 0.1, (0, 0), start=(1.0, 0.1))
    hf = Heightfield(np.zeros((3, 3)), 0.1, (0, 0), start=(0.1, 0.1))
    lo, hi = hf.bounds()
    assert np.allclose(hi, [0.2, 0.2]) and hf.contains([0.2, 0.2]) and not hf.contains([0.2, 0.2], margin=0.01)
