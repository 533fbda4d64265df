"""Heightfield terrain: exactly the surface PyBullet builds for GEOM_HEIGHTFIELD, with vectorised queries.

Frame and units: world coordinates in metres, Z up. `heights[ix, iy]` is the height of vertex (ix, iy), which
sits at world xy `(origin[0] + ix * cell, origin[1] + iy * cell)`. Every cell is split into two triangles
along the diagonal from vertex (ix + 1, iy) to vertex (ix, iy + 1), as Bullet does: the "lower" triangle
(ix, iy), (ix + 1, iy), (ix, iy + 1) and the "upper" triangle (ix + 1, iy + 1), (ix + 1, iy), (ix, iy + 1).
Interpolating on that triangle (not bilinearly) matches Bullet's ray hits; bilinear interpolation differs
by decimetres on rough ground.

Queries outside the grid clamp xy to the border first: height and normal there are those of the nearest
border point, and `sdf` measures from the clamped point.

Queries take numpy arrays or torch tensors and return the same kind; the torch results are differentiable
with respect to the query points (index look-ups run in numpy, the arithmetic that carries gradients in torch).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import ndimage

from terrain.atomic import atomic_path
from terrain.npz import Limit, read_npz

# sdf is exact (to SDF_TOLERANCE) within this distance of the surface; beyond it, it may return an upper
# bound (the vertical gap), which is still larger than this.
SDF_EXACT_RANGE = 0.5
# Candidates that could beat the best distance found by less than this are not examined.
SDF_TOLERANCE = 0.005

# Default local terrain grid seen by a character: metres in its heading frame.
LOCAL_EXTENT_X = (-1.0, 2.0)
LOCAL_EXTENT_Y = (-1.0, 1.0)
LOCAL_SPACING = 0.1

TERRAIN_KEYS = ("terrain_heights", "terrain_cell", "terrain_origin")
OPTIONAL_KEYS = ("terrain_start", "terrain_goal")
# Largest terrain read from a file (docs/motion_format.md, Limits): 4096 vertices a side, 2048 x 2048 in all
# (100 m x 100 m at 0.05 m; the sdf tables of that take about 2 GB).
FILE_LIMITS = {"terrain_heights": Limit((4096, 4096), 2048 * 2048), "terrain_cell": (), "terrain_origin": (2,),
               "terrain_start": (2,), "terrain_goal": (2,)}

# What an sdf value measures to (the torch path recomputes the same): the vertical gap, the plane of a
# triangle, or one of its edges (an edge's end stands for a vertex).
_VERTICAL, _FACE, _EAB, _EAC, _EBC = range(5)


def _is_torch(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _as_xy(value, name: str) -> np.ndarray:
    xy = np.asarray(value, dtype=np.float64)
    if xy.shape != (2,) or not np.all(np.isfinite(xy)):
        raise ValueError(f"{name} must be a finite world xy pair of shape (2,), got {value!r}")
    return xy


def local_grid_xy(extent_x=LOCAL_EXTENT_X, extent_y=LOCAL_EXTENT_Y, spacing=LOCAL_SPACING) -> np.ndarray:
    """Local xy (nx, ny, 2) of a character-frame grid: x forward, y left, metres; both extents inclusive."""
    if spacing <= 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    axes = []
    for name, (lo, hi) in (("extent_x", extent_x), ("extent_y", extent_y)):
        if hi < lo:
            raise ValueError(f"{name} must be (low, high) with low <= high, got {(lo, hi)}")
        n = int(round((hi - lo) / spacing)) + 1
        axes.append(lo + spacing * np.arange(n))
    gx, gy = np.meshgrid(*axes, indexing="ij")
    return np.stack([gx, gy], -1)


@dataclass(frozen=True, eq=False, repr=False)
class Heightfield:
    """Terrain heights on a regular grid; see the module docstring for the frame and the triangulation.

    heights: (nx, ny) metres, x index first; cell: vertex spacing in metres; origin: world xy of vertex (0, 0);
    start, goal: optional world xy of the start and goal pads.
    """

    heights: np.ndarray
    cell: float
    origin: np.ndarray
    start: np.ndarray | None = None
    goal: np.ndarray | None = None

    def __post_init__(self):
        heights = np.array(self.heights, dtype=np.float64)
        if heights.ndim != 2:
            raise ValueError(f"heights must be a 2-D array heights[ix, iy], got shape {heights.shape}")
        if min(heights.shape) < 2:
            raise ValueError(f"heights needs at least 2 x 2 vertices, got shape {heights.shape}")
        if not np.all(np.isfinite(heights)):
            raise ValueError("heights contain NaN or infinite values")
        cell = float(self.cell)
        if not (np.isfinite(cell) and cell > 0):
            raise ValueError(f"cell must be a finite length > 0 m, got {self.cell!r}")
        heights.flags.writeable = False
        object.__setattr__(self, "heights", heights)
        object.__setattr__(self, "cell", cell)
        object.__setattr__(self, "origin", _as_xy(self.origin, "origin"))
        for name in ("start", "goal"):
            value = getattr(self, name)
            if value is not None:
                xy = _as_xy(value, name)
                if not self.contains(xy):
                    raise ValueError(f"{name} {xy.tolist()} lies outside the terrain bounds {self.bounds()}")
                object.__setattr__(self, name, xy)

    def __getstate__(self):
        # Pickles (worker processes, Ray) carry the grid only: look-up tables and torch copies, megabytes per
        # terrain, are rebuilt on demand where they are needed.
        return {k: v for k, v in self.__dict__.items() if k not in ("_sdf_tables", "_torch_heights")}

    def __repr__(self):
        lo, hi = self.bounds()
        return (f"Heightfield({self.shape[0]} x {self.shape[1]} vertices, cell {self.cell} m, "
                f"x {lo[0]:.2f}..{hi[0]:.2f}, y {lo[1]:.2f}..{hi[1]:.2f}, "
                f"heights {self.heights.min():.3f}..{self.heights.max():.3f} m)")

    # ----------------------------------------------------------------------------------------------------
    # Geometry of the grid

    @property
    def shape(self) -> tuple[int, int]:
        return self.heights.shape

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """World xy of the first and the last vertex: (xy_min, xy_max), metres."""
        return self.origin.copy(), self.origin + self.cell * (np.array(self.shape) - 1)

    def contains(self, xy, margin: float = 0.0):
        """True where world xy (..., 2) lies inside the bounds shrunk by `margin` metres (edges included).

        Bullet's rays miss exactly on the border vertices: use a small margin for points meant for Bullet.
        """
        lo, hi = self.bounds()
        xy = np.asarray(xy, dtype=np.float64)
        return np.all((xy >= lo + margin) & (xy <= hi - margin), axis=-1)

    def _locate(self, xy: np.ndarray):
        """Cell (i, j), in-cell offsets (u, v) in cells and upper-triangle flag under world xy (..., 2),
        clamped to the grid."""
        nx, ny = self.shape
        fx = np.clip((xy[..., 0] - self.origin[0]) / self.cell, 0.0, nx - 1)
        fy = np.clip((xy[..., 1] - self.origin[1]) / self.cell, 0.0, ny - 1)
        i = np.minimum(fx.astype(np.int64), nx - 2)
        j = np.minimum(fy.astype(np.int64), ny - 2)
        u, v = fx - i, fy - j
        return i, j, u, v, u + v > 1.0

    def _corners(self, i, j, heights=None):
        """Heights h00, h10, h01, h11 of the corners of cells (i, j), from `heights` (a torch copy) or ours."""
        ny = self.shape[1]
        base = i * ny + j
        if heights is None:
            flat = self.heights.reshape(-1)
        else:
            flat = heights.reshape(-1)
            base = _torch().as_tensor(base, device=heights.device)
        return flat[base], flat[base + ny], flat[base + 1], flat[base + ny + 1]

    def _surface(self, xy: np.ndarray):
        """The triangle under world xy (..., 2): cell, offsets, upper flag, height, and height change per cell
        along x and y."""
        i, j, u, v, upper = self._locate(xy)
        h, sx, sy = _interpolate(*self._corners(i, j), u, v, upper, np.where)
        return i, j, u, v, upper, h, sx, sy

    # ----------------------------------------------------------------------------------------------------
    # Height and normal

    def height(self, xy):
        """Surface height (metres) at world xy (..., 2); numpy in, numpy out; torch in, torch out."""
        if _is_torch(xy):
            return self._height_torch(xy)
        return self._surface(np.asarray(xy, dtype=np.float64))[5]

    def normal(self, xy):
        """Unit upward normal (..., 3) of the triangle under world xy (..., 2); numpy or torch like `xy`.

        The normal is constant on each triangle, so the torch result carries no gradient w.r.t. xy.
        """
        if _is_torch(xy):
            n = self.normal(xy.detach().cpu().numpy())
            return _torch().as_tensor(n, dtype=xy.dtype, device=xy.device)
        *_, sx, sy = self._surface(np.asarray(xy, dtype=np.float64))
        n = np.stack([-sx / self.cell, -sy / self.cell, np.ones_like(sx)], -1)
        return n / np.linalg.norm(n, axis=-1, keepdims=True)

    def _heights_torch(self, like):
        key = (like.dtype, like.device)
        cache = self.__dict__.setdefault("_torch_heights", {})
        if key not in cache:
            cache[key] = _torch().tensor(np.array(self.heights), dtype=like.dtype, device=like.device)
        return cache[key]

    def _clamp_torch(self, xy):
        lo, hi = self.bounds()
        return xy.clamp(min=xy.new_tensor(lo), max=xy.new_tensor(hi))

    def _height_torch(self, xy):
        torch = _torch()
        xy = self._clamp_torch(xy)
        i, j, _, _, upper = self._locate(xy.detach().cpu().numpy().astype(np.float64))
        u = (xy[..., 0] - self.origin[0]) / self.cell - torch.as_tensor(i, dtype=xy.dtype, device=xy.device)
        v = (xy[..., 1] - self.origin[1]) / self.cell - torch.as_tensor(j, dtype=xy.dtype, device=xy.device)
        corners = self._corners(i, j, self._heights_torch(xy))
        return _interpolate(*corners, u, v, torch.as_tensor(upper, device=xy.device), torch.where)[0]

    # ----------------------------------------------------------------------------------------------------
    # Local grids in a character's frame

    def local_grid(self, position, heading, relative_to, extent_x=LOCAL_EXTENT_X, extent_y=LOCAL_EXTENT_Y,
                   spacing=LOCAL_SPACING):
        """Terrain heights (B, nx, ny) on a grid in each character's heading frame, minus `relative_to`.

        position: (B, 2) or (B, 3) world metres (z is ignored); heading: (B,) yaw in radians about +Z (0 faces
        +X); relative_to: (B,) metres subtracted from each character's grid. Grid x (first index) runs
        forward, y to the character's left, at the local xy given by `local_grid_xy(extent_x, extent_y,
        spacing)`. numpy or torch like `position`; the torch result is differentiable w.r.t. position and
        heading.
        """
        local = local_grid_xy(extent_x, extent_y, spacing)
        if _is_torch(position):
            import torch

            local, heading, relative_to = (torch.as_tensor(a, dtype=position.dtype, device=position.device)
                                            for a in (local, heading, relative_to))
            xp = torch
        else:
            position = np.asarray(position, dtype=np.float64)
            heading = np.asarray(heading, dtype=np.float64)
            relative_to = np.asarray(relative_to, dtype=np.float64)
            xp = np
        if position.ndim != 2 or position.shape[1] not in (2, 3):
            raise ValueError(f"position must be (B, 2) or (B, 3), got shape {tuple(position.shape)}")
        batch = position.shape[0]
        for name, value in (("heading", heading), ("relative_to", relative_to)):
            if tuple(value.shape) != (batch,):
                raise ValueError(f"{name} must have shape ({batch},), got {tuple(value.shape)}")
        c = xp.cos(heading)[:, None, None]
        s = xp.sin(heading)[:, None, None]
        lx, ly = local[..., 0], local[..., 1]
        wx = position[:, 0, None, None] + c * lx - s * ly
        wy = position[:, 1, None, None] + s * lx + c * ly
        return self.height(xp.stack([wx, wy], -1)) - relative_to[:, None, None]

    # ----------------------------------------------------------------------------------------------------
    # Signed distance

    def sdf(self, points):
        """Signed distance (...,) from points (..., 3) to the surface, metres: positive above, negative below.

        Exact (within SDF_TOLERANCE = 5 mm) wherever the true distance is below SDF_EXACT_RANGE = 0.5 m,
        including beside step walls and under ledges; farther away it may return an upper bound (the vertical
        gap), itself beyond 0.5 m. xy is clamped to the grid first. numpy or torch like `points`; the torch
        result is differentiable w.r.t. the points (the closest feature is found in numpy, its distance
        recomputed in torch).
        """
        if _is_torch(points):
            return self._sdf_torch(points)
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,):
            raise ValueError(f"points must have shape (..., 3), got {p.shape}")
        value, _, _ = self._sdf_search(p.reshape(-1, 3))
        return value.reshape(p.shape[:-1])

    def depth(self, points):
        """Penetration depth (...,) of points (..., 3) in metres: 0 on or above the surface, else the exact
        distance to it (numpy).

        The same as max(-sdf, 0) but without sdf's precomputed tables (tens of ms per terrain): the surface
        point nearest to a point below lies within its vertical gap, so only the cells that close are searched,
        which is cheap for the shallow depths a collision check meets. xy is clamped to the grid first.
        """
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,):
            raise ValueError(f"points must have shape (..., 3), got {p.shape}")
        flat = p.reshape(-1, 3)
        lo, hi = self.bounds()
        xy = np.clip(flat[:, :2], lo, hi)
        i, j, _, _, _, h, _, _ = self._surface(xy)
        gap = h - flat[:, 2]
        out = np.zeros(len(flat))
        below = np.flatnonzero(gap > 0)
        if below.size:
            q = np.concatenate([xy[below], flat[below, 2:]], -1)
            reach = np.ceil(np.minimum(gap[below], SDF_EXACT_RANGE) / self.cell).astype(np.int64)
            side = 2 * reach + 1
            owner, local = _ragged(side * side)
            di, dj = local // side[owner] - reach[owner], local % side[owner] - reach[owner]
            ci = np.clip(i[below][owner] + di, 0, self.shape[0] - 2)
            cj = np.clip(j[below][owner] + dj, 0, self.shape[1] - 2)
            unused = np.zeros(len(q), dtype=np.int64)
            out[below], _, _ = self._improve(q, owner, ci, cj, gap[below], unused, unused.copy())
        return out.reshape(p.shape[:-1])

    @cached_property
    def _sdf_tables(self):
        """Bounds that let `sdf` prove no geometry is near a point, per cell (i, j) (flat index i * (ny - 1) + j).

        Window k of a cell covers cells (i - k .. i + k, j - k .. j + k). For the window sizes in `levels`: max
        and min vertex height and max slope (tan). `planar_radius`: the largest k whose window is one plane
        (-1 for a bent cell). `cell_range`: min and max height of each cell; `cell_planes`: the planes of its two
        triangles; `block_range` and `block_cells`: the height range and the ids (-1 padded) of the bent cells
        in each block of `block` x `block` cells.
        """
        h = self.heights
        cell = self.cell
        h00, h10, h01, h11 = h[:-1, :-1], h[1:, :-1], h[:-1, 1:], h[1:, 1:]
        cmax = np.maximum(np.maximum(h00, h10), np.maximum(h01, h11))
        cmin = np.minimum(np.minimum(h00, h10), np.minimum(h01, h11))
        slope = np.sqrt(np.maximum((h10 - h00) ** 2 + (h01 - h00) ** 2,
                                   (h11 - h01) ** 2 + (h11 - h10) ** 2)) / cell

        kmax = int(np.ceil(SDF_EXACT_RANGE / cell - 1e-9))
        # A cell is one plane when its diagonals agree; it shares its neighbours' plane when they are planar
        # too with the same slopes (neighbours share a vertex). Window k is one plane when window k - 1 of the
        # cell and of all its neighbours is.
        eps = 1e-9
        sx, sy = h10 - h00, h01 - h00
        planar = np.abs(h00 + h11 - h10 - h01) <= eps

        def spread(a):
            return ndimage.maximum_filter(a, 3, mode="nearest") - ndimage.minimum_filter(a, 3, mode="nearest")

        same = (planar & ndimage.minimum_filter(planar, 3, mode="nearest")
                & (spread(sx) <= eps) & (spread(sy) <= eps))
        planar_radius = np.where(planar, 0, -1)
        window_planar = planar
        for k in range(1, kmax + 1):
            window_planar = same & ndimage.minimum_filter(window_planar, 3, mode="nearest")
            if not window_planar.any():
                break
            planar_radius[window_planar] = k

        levels = sorted({k for k in (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64) if k < kmax} | {kmax})

        def windows(a, op):
            return np.stack([(op(a, 2 * k + 1, mode="nearest") if k else a).ravel() for k in levels])

        # Blocks of about 0.2 m for the best-first search, listing their bent (not level) cells first; their
        # bounds cover the bent cells only (a block with none is never visited).
        block = max(2, int(round(0.2 / cell)))
        nbx, nby = -(-cmax.shape[0] // block), -(-cmax.shape[1] // block)
        pad = ((0, nbx * block - cmax.shape[0]), (0, nby * block - cmax.shape[1]))
        bent = np.pad(cmax > cmin, pad)

        def per_block(a):
            return a.reshape(nbx, block, nby, block).transpose(0, 2, 1, 3).reshape(nbx * nby, block * block)

        bent_b = per_block(bent)
        bmax = np.where(bent_b, per_block(np.pad(cmax, pad)), -np.inf).max(1)
        bmin = np.where(bent_b, per_block(np.pad(cmin, pad)), np.inf).min(1)
        ids = per_block(np.pad(np.arange(cmax.size).reshape(cmax.shape), pad, constant_values=-1))
        ids = np.where(bent_b, ids, -1)
        ids = np.take_along_axis(ids, np.argsort(~bent_b, axis=1, kind="stable"), 1)
        # Unit normal n and offset w of both triangles of each cell (signed plane distance n.p + w): the
        # triangle distance is at least the plane distance, a tighter bound than the box for steep cells.
        ii, jj = np.meshgrid(np.arange(cmax.shape[0]), np.arange(cmax.shape[1]), indexing="ij")
        x0, y0 = self.origin[0] + ii * cell, self.origin[1] + jj * cell
        planes = []
        for gx, gy, corner in (((h10 - h00) / cell, (h01 - h00) / cell, (x0, y0, h00)),
                               ((h11 - h01) / cell, (h11 - h10) / cell, (x0 + cell, y0 + cell, h11))):
            norm = np.sqrt(1.0 + gx * gx + gy * gy)
            n = (-gx / norm, -gy / norm, 1.0 / norm)
            planes.append(np.stack([*n, -(n[0] * corner[0] + n[1] * corner[1] + n[2] * corner[2])], -1))
        return {
            "cell_planes": np.stack(planes, -2).reshape(-1, 2, 4),
            "levels": np.array(levels),
            "hmax": windows(cmax, ndimage.maximum_filter),
            "hmin": windows(cmin, ndimage.minimum_filter),
            "slope": windows(slope, ndimage.maximum_filter),
            "planar_radius": planar_radius.ravel(),
            "cell_range": np.stack([cmin.ravel(), cmax.ravel()], -1),
            "block": block,
            "blocks": (nbx, nby),
            "block_range": np.stack([bmin, bmax], -1),
            "block_cells": ids[:, :max(int(bent_b.sum(1).max()), 1)],
        }

    def _sdf_search(self, p: np.ndarray):
        """Core of `sdf` for p (N, 3): signed distance, and the triangle and feature code it measures to.

        Triangle id = 2 * (i * (ny - 1) + j) + upper. Cheapest first: a point whose neighbourhood is one plane
        gets its plane distance; a point whose vertical gap is proven (by the window bounds) to be within
        tolerance of its distance gets the gap; the rest search nearby cells best-first.
        """
        t = self._sdf_tables
        ny = self.shape[1]
        lo, hi = self.bounds()
        x, y, z = np.clip(p[:, 0], lo[0], hi[0]), np.clip(p[:, 1], lo[1], hi[1]), p[:, 2]
        i, j, u, v, upper, h, sx, sy = self._surface(np.stack([x, y], -1))
        cell_id = i * (ny - 1) + j
        gap = z - h
        above = gap >= 0
        dist = np.abs(gap)
        tri = 2 * cell_id + upper
        code = np.full(len(p), _VERTICAL)

        plane = dist * self.cell / np.sqrt(self.cell ** 2 + sx * sx + sy * sy)
        planar = plane <= t["planar_radius"][cell_id] * self.cell
        dist[planar] = plane[planar]
        code[planar] = _FACE

        # Geometry within window `level` lies no closer than these bounds; beyond it, no closer than its reach.
        levels = t["levels"]
        need = np.minimum(dist, SDF_EXACT_RANGE) / self.cell
        level = np.minimum(np.searchsorted(levels, need - 1e-9), len(levels) - 1)
        at = level * len(t["planar_radius"]) + cell_id
        vertical = np.where(above, z - t["hmax"].ravel()[at], t["hmin"].ravel()[at] - z)
        lipschitz = dist / np.sqrt(1.0 + t["slope"].ravel()[at] ** 2)
        lower = np.minimum(np.maximum(vertical, lipschitz), levels[level] * self.cell)
        proven = planar | (dist - lower <= SDF_TOLERANCE) | (lower >= SDF_EXACT_RANGE)

        todo = np.flatnonzero(~proven)
        if todo.size:
            q = np.stack([x[todo], y[todo], z[todo]], -1)
            d, tr, c = self._nearest_search(q, i[todo], j[todo], dist[todo])
            better = d < dist[todo]
            todo = todo[better]
            dist[todo], tri[todo], code[todo] = d[better], tr[better], c[better]
        return np.where(above, dist, -dist), tri, code

    def _nearest_search(self, p, i, j, best):
        """Exact search around points p (N, 3) in cells (i, j), starting from the upper bound `best` (N,).

        Only bent cells need a look: the surface under the point is already in `best` (vertical gap or its own
        cell), and any other level region is nearest at its rim, which is an edge of a bent cell next to it
        (the grid border cannot be nearer for a point inside the grid). Best-first over blocks of cells: each
        point visits the blocks within min(best, SDF_EXACT_RANGE) of it, nearest bounding box first, skipping
        a block or cell whose box cannot beat its best distance by more than SDF_TOLERANCE. Returns unsigned
        distance, triangle id and feature code.
        """
        t = self._sdf_tables
        nx, ny = self.shape
        c, size = self.cell, t["block"]
        nbx, nby = t["blocks"]
        tri = np.full(len(p), -1)
        code = np.full(len(p), _VERTICAL)
        best, tri, code = self._improve(p, np.arange(len(p)), i, j, best, tri, code)

        fx, fy, z = (p[:, 0] - self.origin[0]) / c, (p[:, 1] - self.origin[1]) / c, p[:, 2]
        reach = np.minimum(best, SDF_EXACT_RANGE) / c
        bx0, bx1 = (np.clip(np.floor((fx + s * reach) / size).astype(np.int64), 0, nbx - 1) for s in (-1, 1))
        by0, by1 = (np.clip(np.floor((fy + s * reach) / size).astype(np.int64), 0, nby - 1) for s in (-1, 1))
        wide = by1 - by0 + 1
        counts = (bx1 - bx0 + 1) * wide
        owner, local = _ragged(counts)
        bi = bx0[owner] + local // wide[owner]
        bj = by0[owner] + local % wide[owner]
        block_id = bi * nby + bj
        bent = np.flatnonzero(t["block_cells"][block_id, 0] >= 0)
        owner, bi, bj, block_id = owner[bent], bi[bent], bj[bent], block_id[bent]
        span = t["block_range"][block_id]
        i0, j0 = bi * size, bj * size
        lower = _box_distance(fx[owner], fy[owner], z[owner], i0, i0 + size, j0, j0 + size,
                              span[:, 0], span[:, 1], c)
        keep = np.flatnonzero(lower < best[owner] - SDF_TOLERANCE)
        # Pairs come grouped by point; sort each group by its lower bound (one argsort on a combined key).
        order = keep[np.argsort(owner[keep] + lower[keep] / (lower[keep].max(initial=0.0) + 1.0))]
        owner, lower, block_id = owner[order], lower[order], block_id[order]
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])[:len(owner)]
        sizes = np.diff(np.r_[starts, len(owner)])

        # Visit every point's nearest block, then every point's second nearest, and so on.
        for rank in range(sizes.max(initial=0)):
            sel = starts[sizes > rank] + rank
            sel = sel[lower[sel] < best[owner[sel]] - SDF_TOLERANCE]
            if sel.size == 0:
                continue
            o = owner[sel]
            cid = t["block_cells"][block_id[sel]]
            cspan = t["cell_range"][cid]
            box = _box_distance(fx[o, None], fy[o, None], z[o, None], cid // (ny - 1), cid // (ny - 1) + 1,
                                cid % (ny - 1), cid % (ny - 1) + 1, cspan[..., 0], cspan[..., 1], c)
            plane = t["cell_planes"][cid]
            q = np.stack([p[o, 0], p[o, 1], z[o], np.ones(len(o))], -1)[:, None, None, :]
            box = np.maximum(box, np.abs((plane * q).sum(-1)).min(-1))
            box[cid < 0] = np.inf
            # The block's nearest cell first: it often settles the point, so the others need no triangles.
            first = np.argmin(box, 1)
            rows = np.arange(len(o))
            near = rows[box[rows, first] < best[o] - SDF_TOLERANCE]
            cells = cid[near, first[near]]
            best, tri, code = self._improve(p, o[near], cells // (ny - 1), cells % (ny - 1), best, tri, code)
            box[near, first[near]] = np.inf
            r, k = np.nonzero(box < best[o, None] - SDF_TOLERANCE)
            if r.size:
                cells = cid[r, k]
                best, tri, code = self._improve(p, o[r], cells // (ny - 1), cells % (ny - 1), best, tri, code)
        return best, tri, code

    def _improve(self, p, owner, ci, cj, best, tri, code):
        """Lower best/tri/code of points `owner` (M,) with the distances to both triangles of cells (ci, cj)."""
        ny = self.shape[1]
        owner, ci, cj = np.tile(owner, 2), np.tile(ci, 2), np.tile(cj, 2)
        upper = np.repeat([False, True], len(owner) // 2)
        d, feature = self._triangle_distance(p[owner], ci, cj, upper)
        return self._keep_better(owner, d, 2 * (ci * (ny - 1) + cj) + upper, feature, best, tri, code)

    @staticmethod
    def _keep_better(owner, d, tri_id, feature, best, tri, code):
        improved = best.copy()
        np.minimum.at(improved, owner, d)
        win = (d < best[owner]) & (d <= improved[owner])
        tri[owner[win]] = tri_id[win]
        code[owner[win]] = feature[win]
        return improved, tri, code

    def _triangle_distance(self, p, i, j, upper):
        """Distance from points p (M, 3) to the triangles (i, j, upper) and the closest feature: _FACE, or the
        edge _EAB, _EAC or _EBC (an edge's end stands for the vertex)."""
        c = self.cell
        h00, h10, h01, h11 = self._corners(i, j)
        x0, y0 = self.origin[0] + i * c, self.origin[1] + j * c
        # B = (i + 1, j) and C = (i, j + 1) are shared by both triangles; A is the right-angle corner.
        up = upper.astype(np.float64)
        a = (x0 + c * up, y0 + c * up, np.where(upper, h11, h00))
        b = (x0 + c, y0, h10)
        ab = (c * (1.0 - up), -c * up, h10 - a[2])
        ac = (-c * up, c * (1.0 - up), h01 - a[2])
        bc = (-c, c, h01 - h10)
        ap = [p[:, k] - a[k] for k in range(3)]
        bp = [p[:, k] - b[k] for k in range(3)]

        def dot(e, f):
            return e[0] * f[0] + e[1] * f[1] + e[2] * f[2]

        def segment(e, q):
            s = np.clip(dot(q, e) / dot(e, e), 0.0, 1.0)
            r = [qk - s * ek for qk, ek in zip(q, e)]
            return dot(r, r)

        d00, d01, d11, d20, d21 = dot(ab, ab), dot(ab, ac), dot(ac, ac), dot(ap, ab), dot(ap, ac)
        den = d00 * d11 - d01 * d01
        s = (d11 * d20 - d01 * d21) / den
        w = (d00 * d21 - d01 * d20) / den
        inside = (s >= 0) & (w >= 0) & (s + w <= 1)
        n = (ab[1] * ac[2] - ab[2] * ac[1], ab[2] * ac[0] - ab[0] * ac[2], ab[0] * ac[1] - ab[1] * ac[0])
        face = np.abs(dot(ap, n)) / np.sqrt(dot(n, n))
        edges = np.stack([segment(ab, ap), segment(ac, ap), segment(bc, bp)])
        nearest = np.argmin(edges, 0)
        edge = np.sqrt(np.take_along_axis(edges, nearest[None], 0)[0])
        return np.where(inside, face, edge), np.where(inside, _FACE, np.array([_EAB, _EAC, _EBC])[nearest])

    def _sdf_torch(self, points):
        torch = _torch()
        if points.shape[-1:] != (3,):
            raise ValueError(f"points must have shape (..., 3), got {tuple(points.shape)}")
        p = points.reshape(-1, 3)
        _, tri, code = self._sdf_search(p.detach().cpu().numpy().astype(np.float64))
        xy = self._clamp_torch(p[:, :2])
        q = torch.cat([xy, p[:, 2:]], -1)
        gap = q[:, 2] - self._height_torch(xy)
        sign = torch.where(gap >= 0, 1.0, -1.0).to(p.dtype)

        ny = self.shape[1]
        cid, upper = tri // 2, (tri % 2).astype(bool)
        i, j = cid // (ny - 1), cid % (ny - 1)
        h00, h10, h01, h11 = self._corners(i, j, self._heights_torch(p))
        up = torch.as_tensor(upper, device=p.device)
        x0 = torch.as_tensor(self.origin[0] + i * self.cell, dtype=p.dtype, device=p.device)
        y0 = torch.as_tensor(self.origin[1] + j * self.cell, dtype=p.dtype, device=p.device)
        shift = up.to(p.dtype) * self.cell
        a = torch.stack([x0 + shift, y0 + shift, torch.where(up, h11, h00)], -1)
        b = torch.stack([x0 + self.cell, y0, h10], -1)
        c = torch.stack([x0, y0 + self.cell, h01], -1)
        normal = torch.linalg.cross(b - a, c - a)
        normal = normal / normal.norm(dim=-1, keepdim=True)
        face = sign * ((q - a) * normal).sum(-1).abs()

        code_t = torch.as_tensor(code, device=p.device)[:, None]
        e0 = torch.where(code_t == _EBC, b, a)
        e1 = torch.where(code_t == _EAB, b, c)
        e = e1 - e0
        s = (((q - e0) * e).sum(-1) / (e * e).sum(-1)).clamp(0.0, 1.0)
        offset = q - (e0 + s[:, None] * e)
        segment = sign * (offset * offset).sum(-1).clamp(min=1e-24).sqrt()

        code_t = code_t[:, 0]
        value = torch.where(code_t == _VERTICAL, gap, torch.where(code_t == _FACE, face, segment))
        return value.reshape(points.shape[:-1])

    # ----------------------------------------------------------------------------------------------------
    # Files

    def arrays(self) -> dict:
        """The terrain as arrays under the `terrain_*` keys (for .npz files, also embedded in Motion files)."""
        out = {"terrain_heights": np.array(self.heights), "terrain_cell": np.array(self.cell),
               "terrain_origin": self.origin.copy()}
        if self.start is not None:
            out["terrain_start"] = self.start.copy()
        if self.goal is not None:
            out["terrain_goal"] = self.goal.copy()
        return out

    @classmethod
    def from_arrays(cls, arrays, source: str = "arrays") -> "Heightfield":
        """Inverse of `arrays()`; `arrays` is any mapping (dict, NpzFile). Extra keys are ignored."""
        for key in TERRAIN_KEYS:
            if key not in arrays:
                raise ValueError(f"{source}: missing key '{key}': not a terrain file")
        optional = {key[len("terrain_"):]: np.asarray(arrays[key]) for key in OPTIONAL_KEYS if key in arrays}
        return cls(np.asarray(arrays["terrain_heights"]), float(np.asarray(arrays["terrain_cell"])),
                   np.asarray(arrays["terrain_origin"]), **optional)

    def save(self, path) -> Path:
        """Write the terrain as .npz (keys of `arrays()`), atomically: a temporary file, then os.replace."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **self.arrays())
        return path

    @classmethod
    def load(cls, path) -> "Heightfield":
        """Read a terrain (or a motion file's terrain); ValueError beyond the size limits of FILE_LIMITS."""
        return cls.from_arrays(read_npz(path, FILE_LIMITS, "terrain file"), source=str(path))


def _torch():
    import torch

    return torch


def _box_distance(fx, fy, z, i0, i1, j0, j1, lo, hi, cell):
    """Distance (m) from points at cell coordinates (fx, fy) and height z to boxes spanning cells [i0, i1] x
    [j0, j1] (cell coordinates) and heights [lo, hi] (m); all arguments broadcast."""
    dx = np.maximum(np.maximum(i0 - fx, fx - i1), 0.0) * cell
    dy = np.maximum(np.maximum(j0 - fy, fy - j1), 0.0) * cell
    dz = np.maximum(np.maximum(lo - z, z - hi), 0.0)
    return np.sqrt(dx * dx + dy * dy + dz * dz)


def _interpolate(h00, h10, h01, h11, u, v, upper, where):
    """Height on the Bullet triangle at in-cell offsets (u, v), and its change per cell along x and y.

    Lower triangle (u + v <= 1): corners (0, 0), (1, 0), (0, 1); upper: (1, 1), (1, 0), (0, 1). `where` is
    np.where or torch.where, so one formula serves both.
    """
    sx = where(upper, h11 - h01, h10 - h00)
    sy = where(upper, h11 - h10, h01 - h00)
    h = where(upper, h11 - (1.0 - u) * sx - (1.0 - v) * sy, h00 + u * sx + v * sy)
    return h, sx, sy


def _ragged(counts):
    """For counts (N,): the owner (0..N-1) and the index within its owner of each of sum(counts) items."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
