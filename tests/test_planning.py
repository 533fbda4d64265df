"""Path planning: routes on every kind, around walls, and clear refusals."""

import time

import numpy as np
import pytest

from terrain.generators import CORRIDOR_KINDS, make_terrain
from terrain.heightfield import Heightfield
from terrain.planning import UnreachableGoal, plan_path, traversable


def check_route(hf, path, spacing=0.1):
    assert np.allclose(path[0], hf.start) and np.allclose(path[-1], hf.goal)
    step = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert step.max() <= spacing + 1e-9 and step.min() > 0.5 * spacing
    assert np.all(traversable(hf, path))
    # Smooth: no grid zig-zag, so the heading turns little between consecutive steps.
    heading = np.unwrap(np.arctan2(*np.diff(path, axis=0).T[::-1]))
    assert np.abs(np.diff(heading)).max() < np.radians(20)


@pytest.mark.parametrize("kind", CORRIDOR_KINDS + ("field",))  # the skill kinds need jumps: test_skill_terrains.py
def test_routes_on_every_kind(kind):
    for seed in range(3):
        hf = make_terrain(kind, seed)
        start = time.perf_counter()
        path = plan_path(hf)
        assert time.perf_counter() - start < 3.0  # about 0.2 s when the machine is quiet
        check_route(hf, path)


def test_stairs_are_crossed_head_on():
    hf = make_terrain("stairs", 0, direction="up_down", length=16.0)
    path = plan_path(hf)
    on_stairs = np.abs(np.gradient(hf.heights, axis=0)).max(axis=1) > 0
    x = hf.origin[0] + hf.cell * np.flatnonzero(on_stairs)
    inside = (path[:, 0] > x.min()) & (path[:, 0] < x.max())
    direction = np.diff(path[inside], axis=0)
    assert np.degrees(np.abs(np.arctan2(direction[:, 1], direction[:, 0]))).max() < 10


def wall_terrain(gap=None):
    """Flat 10 x 6 m with a 1 m wall across x = 5 m, open for y in `gap` if given."""
    x, y = np.arange(201) * 0.05, np.arange(121) * 0.05 - 3.0
    wall = (np.abs(x[:, None] - 5.0) < 0.1) & np.ones((1, 121), bool)
    if gap is not None:
        wall &= ~((y[None, :] > gap[0]) & (y[None, :] < gap[1]))
    return Heightfield(np.where(wall, 1.0, 0.0), 0.05, (0.0, -3.0), start=(1.0, -1.5), goal=(9.0, -1.0))


def test_route_goes_through_the_only_gap():
    hf = wall_terrain(gap=(1.0, 2.0))
    path = plan_path(hf)
    check_route(hf, path)
    crossing = path[np.abs(path[:, 0] - 5.0) < 0.15]
    assert len(crossing) and np.all((crossing[:, 1] > 1.0) & (crossing[:, 1] < 2.0))
    assert hf.height(path).max() == 0.0


def test_walled_in_goal_is_refused_quickly():
    hf = wall_terrain()
    start = time.perf_counter()
    with pytest.raises(UnreachableGoal, match="no traversable route"):
        plan_path(hf)
    assert time.perf_counter() - start < 3.0
    assert issubclass(UnreachableGoal, ValueError)


def test_bad_endpoints_are_refused():
    hf = wall_terrain(gap=(1.0, 2.0))
    with pytest.raises(ValueError, match="start .* not on traversable ground"):
        plan_path(hf, start=(5.0, -1.0))
    with pytest.raises(UnreachableGoal, match="goal"):
        plan_path(hf, goal=(9.0, 2.95))  # within the clearance of the border
    with pytest.raises(ValueError, match="inside the terrain"):
        plan_path(hf, goal=(20.0, 0.0))


def test_boxes_taller_than_a_step_are_walked_around():
    for seed in range(3):
        hf = make_terrain("steps", seed, num_features=6, box_height=0.4)
        path = plan_path(hf)
        assert np.abs(np.diff(hf.height(path))).max() <= 0.3
