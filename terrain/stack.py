"""Queries of many terrains at once: points that each lie on their own Heightfield, answered in one go.

`TerrainStack(terrains, which)` stands in for a Heightfield where the leading axes of every query array say
whose terrain a point is on: `which` (shape of those leading axes) indexes `terrains`. Its height, local_grid
and depth give the same numbers, to the bit, as asking each terrain for its own points (the same arithmetic on
the same values, with each point's origin, cell and grid size), but the arithmetic runs once for all the
points: a controller step for many characters queries all of their terrains together. Only the corner heights
are gathered terrain by terrain, and depth's search below the surface (rare: a point inside the ground) runs
on each terrain's points below it. numpy only.

Units and frames as terrain.heightfield's: world metres, Z up.
"""

from __future__ import annotations

import numpy as np

from terrain.heightfield import Heightfield, _interpolate
from terrain.sdf import depth


class TerrainStack:
    """terrains: Heightfields; which: int array (leading axes of the queries) of indices into terrains."""

    def __init__(self, terrains, which):
        self.terrains = list(terrains)
        self.which = np.asarray(which, dtype=np.int64)
        self._origin = np.array([t.origin for t in self.terrains])  # (N, 2)
        self._cell = np.array([t.cell for t in self.terrains])  # (N,)
        self._shape = np.array([t.shape for t in self.terrains])  # (N, 2)

    @classmethod
    def of(cls, terrains):
        """The stack of a list of terrains, one per row of the queries (a terrain repeated is stored once)."""
        unique = {}
        which = [unique.setdefault(id(t), (len(unique), t))[0] for t in terrains]
        return cls([t for _, t in unique.values()], which)

    def rows(self, index):
        """The stack for rows `index` (int array) of this one's rows."""
        return TerrainStack(self.terrains, self.which[index])

    def _index(self, shape):
        """Each point's terrain index, broadcast to query points of leading shape `shape`."""
        which = self.which.reshape(self.which.shape + (1,) * (len(shape) - self.which.ndim))
        return np.broadcast_to(which, shape)

    def height(self, xy):
        """Surface heights (...) at world xy (..., 2): Heightfield.height of each point's terrain."""
        xy = np.asarray(xy, dtype=np.float64)
        k = self._index(xy.shape[:-1])
        origin, cell, shape = self._origin[k], self._cell[k], self._shape[k]
        nx, ny = shape[..., 0], shape[..., 1]
        # Heightfield._locate with each point's origin, cell and grid size
        fx = np.clip((xy[..., 0] - origin[..., 0]) / cell, 0.0, nx - 1)
        fy = np.clip((xy[..., 1] - origin[..., 1]) / cell, 0.0, ny - 1)
        i = np.minimum(fx.astype(np.int64), nx - 2)
        j = np.minimum(fy.astype(np.int64), ny - 2)
        u, v = fx - i, fy - j
        base = i * ny + j
        corners = [np.empty(base.shape) for _ in range(4)]
        for n, terrain in enumerate(self.terrains):
            mine = k == n
            if not mine.any():
                continue
            flat, b, step = terrain.heights.reshape(-1), base[mine], terrain.shape[1]
            for corner, offset in zip(corners, (0, step, 1, step + 1)):
                corner[mine] = flat[b + offset]
        return _interpolate(*corners, u, v, u + v > 1.0, np.where)[0]

    def local_grid(self, *args, **kwargs):
        """Heightfield.local_grid with each character (the first axis) on its own terrain."""
        return Heightfield.local_grid(self, *args, **kwargs)

    def clamp(self, xy):
        """World xy (..., 2) moved into each point's terrain bounds."""
        k = self._index(xy.shape[:-1])
        lo = self._origin[k]
        return np.clip(xy, lo, lo + self._cell[k][..., None] * (self._shape[k] - 1))

    def depth(self, points):
        """Penetration depth (...) of points (..., 3): terrain.sdf.depth on each point's terrain."""
        points = np.asarray(points, dtype=np.float64)
        gap = self.height(self.clamp(points[..., :2])) - points[..., 2]
        out = np.zeros(gap.shape)
        below = gap > 0
        if below.any():
            k = self._index(gap.shape)
            for n in np.unique(k[below]):
                mine = below & (k == n)
                out[mine] = depth(self.terrains[n], points[mine])
        return out
