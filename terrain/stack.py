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

from terrain.heightfield import Heightfield
from terrain.sdf import depth
from terrain.surface import interpolate, locate


class TerrainStack:
    """terrains: Heightfields; which: int array of indices into terrains, one per row: every query's leading axes
    have which's shape."""

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
        return np.broadcast_to(self._rows(self.which, len(shape)), shape)

    def _rows(self, values, ndim):
        """Per-row values (leading axes of `which`) shaped to broadcast over query points with `ndim` axes."""
        return values.reshape(self.which.shape + (1,) * (ndim - self.which.ndim) + values.shape[self.which.ndim :])

    def height(self, xy):
        """Surface heights (...) at world xy (..., 2), whose leading axes are `which`'s: Heightfield.height of
        each point's terrain."""
        xy = np.asarray(xy, dtype=np.float64)
        if len(self.terrains) == 1:  # one terrain (one character, or a crowd): its own query
            return self.terrains[0].height(xy)
        ndim = xy.ndim - 1
        origin = self._origin[self.which]
        ox, oy = (self._rows(origin[..., a], ndim) for a in (0, 1))
        cell = self._rows(self._cell[self.which], ndim)
        nx, ny = (self._rows(self._shape[self.which][..., a], ndim) for a in (0, 1))
        i, j, u, v, upper = locate(xy, ox, oy, cell, nx, ny)  # each point on its own terrain's grid
        rows = self.which.reshape(-1)
        base = (i * ny + j).reshape(rows.size, -1)
        corners = np.empty((4,) + base.shape)
        order = np.argsort(rows, kind="stable")  # each terrain's rows, one slice after another
        bounds = np.searchsorted(rows[order], np.arange(len(self.terrains) + 1))
        for n, terrain in enumerate(self.terrains):  # the four corner heights, terrain by terrain
            mine = order[bounds[n] : bounds[n + 1]]
            if mine.size:
                step = terrain.shape[1]
                offsets = np.array([0, step, 1, step + 1])[:, None, None]
                corners[:, mine] = terrain.heights.reshape(-1)[base[mine] + offsets]
        return interpolate(*corners.reshape((4,) + u.shape), u, v, upper, np.where)[0]

    def local_grid(self, *args, **kwargs):
        """Heightfield.local_grid with each character (the first axis) on its own terrain."""
        return Heightfield.local_grid(self, *args, **kwargs)

    def clamp(self, xy):
        """World xy (..., 2) moved into each point's terrain bounds (Heightfield.clamp)."""
        ndim = xy.ndim - 1
        lo = self._rows(self._origin[self.which], ndim)
        cell, shape = self._rows(self._cell[self.which], ndim), self._rows(self._shape[self.which], ndim)
        return np.clip(xy, lo, lo + cell[..., None] * (shape - 1))

    def depth(self, points):
        """Penetration depth (...) of points (..., 3): terrain.sdf.depth on each point's terrain."""
        points = np.asarray(points, dtype=np.float64)
        if len(self.terrains) == 1:
            return depth(self.terrains[0], points)
        gap = self.height(self.clamp(points[..., :2])) - points[..., 2]
        out = np.zeros(gap.shape)
        below = gap > 0
        if below.any():
            k = self._index(gap.shape)
            for n in np.unique(k[below]):
                mine = below & (k == n)
                out[mine] = depth(self.terrains[n], points[mine])
        return out
