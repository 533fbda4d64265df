"""The Bullet triangle under a point of a heightfield grid, and the surface's height on it.

Every cell (i, j) of the vertex grid is split along the diagonal from vertex (i + 1, j) to vertex (i, j + 1), as
Bullet does for GEOM_HEIGHTFIELD: the lower triangle (u + v <= 1 in cell offsets) has corners (0, 0), (1, 0),
(0, 1), the upper one (1, 1), (1, 0), (0, 1). terrain.heightfield (one terrain) and terrain.stack (many at once)
both locate points and interpolate here, so their heights agree to the bit. World metres, Z up.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Surface(NamedTuple):
    """The triangle under query points (...,): cell (i, j), in-cell offsets (u, v) in cells, upper-triangle
    flag, surface height (m), and the height change per cell along x and y."""

    i: np.ndarray
    j: np.ndarray
    u: np.ndarray
    v: np.ndarray
    upper: np.ndarray
    height: np.ndarray
    sx: np.ndarray
    sy: np.ndarray


def locate(xy, ox, oy, cell, nx, ny):
    """Cell (i, j), in-cell offsets (u, v) in cells and upper-triangle flag under world xy (..., 2) (numpy), clamped
    to a grid of nx x ny vertices `cell` m apart whose vertex (0, 0) is at (ox, oy). The grid's numbers may be
    scalars or arrays that broadcast over the points (each point on its own grid)."""
    fx = np.clip((xy[..., 0] - ox) / cell, 0.0, nx - 1)
    fy = np.clip((xy[..., 1] - oy) / cell, 0.0, ny - 1)
    i = np.minimum(fx.astype(np.int64), nx - 2)
    j = np.minimum(fy.astype(np.int64), ny - 2)
    u, v = fx - i, fy - j
    return i, j, u, v, u + v > 1.0


def interpolate(h00, h10, h01, h11, u, v, upper, where):
    """Height on the Bullet triangle at in-cell offsets (u, v) of a cell with corner heights h00, h10, h01, h11,
    and its change per cell along x and y. `where` is np.where or torch.where, so one formula serves both."""
    sx = where(upper, h11 - h01, h10 - h00)
    sy = where(upper, h11 - h10, h01 - h00)
    h = where(upper, h11 - (1.0 - u) * sx - (1.0 - v) * sy, h00 + u * sx + v * sy)
    return h, sx, sy
