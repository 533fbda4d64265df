"""TerrainStack (terrain/stack.py): many terrains queried at once give each terrain's own answers, to the bit."""

import numpy as np

from terrain.generators import make_terrain
from terrain.sdf import depth
from terrain.stack import TerrainStack


def test_heights_depths_and_grids_are_each_terrains_own():
    terrains = [
        make_terrain("stairs", seed=1, length=8.0),
        make_terrain("rough", seed=2, length=10.0, width=5.0, cell=0.04),
        make_terrain("slope", seed=3),
    ]
    rng = np.random.default_rng(0)
    which = np.array([2, 0, 1, 0, 2])
    lo = np.array([terrains[k].bounds()[0] for k in which]) - 0.3  # some points beyond the edges
    hi = np.array([terrains[k].bounds()[1] for k in which]) + 0.3
    xy = lo[:, None] + rng.random((5, 400, 2)) * (hi - lo)[:, None]
    stack = TerrainStack(terrains, which)
    expected = np.stack([terrains[k].height(p) for k, p in zip(which, xy)])
    assert np.array_equal(stack.height(xy), expected)
    points = np.concatenate([xy, (expected + rng.normal(0.0, 0.05, expected.shape))[..., None]], -1)
    deep = stack.depth(points)
    assert (deep > 0).any() and np.array_equal(deep, np.stack([depth(terrains[k], p) for k, p in zip(which, points)]))
    heading, relative = rng.uniform(-3, 3, 5), rng.normal(0, 0.1, 5)
    grids = stack.local_grid(xy[:, 0], heading, relative)
    for k, grid, position, yaw, z in zip(which, grids, xy[:, 0], heading, relative):
        assert np.array_equal(grid, terrains[k].local_grid(position[None], yaw[None], z[None])[0])
    same = TerrainStack.of([terrains[0], terrains[1], terrains[0]])
    assert len(same.terrains) == 2 and same.which.tolist() == [0, 1, 0]
    assert np.array_equal(same.rows([2]).height(xy[1:2]), terrains[0].height(xy[1:2]))
