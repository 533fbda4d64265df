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

import os
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy import ndimage

# sdf is exact (to SDF_TOLERANCE) within this distance of the surface; beyond it, it may return an upper
# bound (the vertical gap), which is still larger than this.
SDF_EXACT_RANGE = 0.5
# Candidates that could beat the best distance found by less than this are not examined.
SDF_TOLERANCE = 0.002

# Default local terrain grid seen by a character: metres in its heading frame.
LOCAL_EXTENT_X = (-1.0, 2.0)
LOCAL_EXTENT_Y = (-1.0, 1.0)
LOCAL_SPACING = 0.1

TERRAIN_KEYS = ("terrain_heights", "terrain_cell", "terrain_origin")
OPTIONAL_KEYS = ("terrain_start", "terrain_goal")

# Which closest-point feature of a triangle an sdf value measures to; the torch path recomputes the same one.
_VERTICAL, _FACE, _VA, _VB, _VC, _EAB, _EAC, _EBC = range(8)
# Segment (first vertex, second vertex) of each vertex/edge feature, vertices numbered A=0, B=1, C=2.
_SEGMENT = {_VA: (0, 0), _VB: (1, 1), _VC: (2, 2), _EAB: (0, 1), _EAC: (0, 2), _EBC: (1, 2)}
_SEG0 = np.array([_SEGMENT.get(c, (0, 0))[0] for c in range(8)])
_SEG1 = np.array([_SEGMENT.get(c, (0, 0))[1] for c in range(8)])


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


@dataclass(frozen=True, eq=False)
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
        """Triangle under world xy (..., 2) after clamping: cell (i, j), upper flag, in-cell offsets (u, v)."""
        nx, ny = self.shape
        f = (xy - self.origin) / self.cell
        fx = np.clip(f[..., 0], 0.0, nx - 1)
        fy = np.clip(f[..., 1], 0.0, ny - 1)
        i = np.minimum(fx.astype(np.int64), nx - 2)
        j = np.minimum(fy.astype(np.int64), ny - 2)
        u, v = fx - i, fy - j
        return i, j, u + v > 1.0, u, v

    @staticmethod
    def _vertex_indices(i, j, upper):
        """Vertex indices (ix, iy) of the triangle's corners A, B, C; A is the right-angle corner."""
        up = upper.astype(np.int64)
        return (i + up, j + up), (i + 1, j), (i, j + 1)

    # ----------------------------------------------------------------------------------------------------
    # Height and normal

    def height(self, xy):
        """Surface height (metres) at world xy (..., 2); numpy in, numpy out; torch in, torch out."""
        if _is_torch(xy):
            return self._height_torch(xy)
        xy = np.asarray(xy, dtype=np.float64)
        i, j, upper, u, v = self._locate(xy)
        (ax, ay), (bx, by), (cx, cy) = self._vertex_indices(i, j, upper)
        h = self.heights
        ha, hb, hc = h[ax, ay], h[bx, by], h[cx, cy]
        wb = np.where(upper, 1.0 - v, u)
        wc = np.where(upper, 1.0 - u, v)
        return ha + wb * (hb - ha) + wc * (hc - ha)

    def _slopes(self, i, j, upper):
        """Height gradient (dh/dx, dh/dy) of the given triangles (numpy)."""
        (ax, ay), (bx, by), (cx, cy) = self._vertex_indices(i, j, upper)
        h = self.heights
        db = (h[bx, by] - h[ax, ay]) / self.cell
        dc = (h[cx, cy] - h[ax, ay]) / self.cell
        # For the upper triangle B is A - y and C is A - x, so the differences flip sign and swap axes.
        return np.where(upper, -dc, db), np.where(upper, -db, dc)

    def normal(self, xy):
        """Unit upward normal (..., 3) of the triangle under world xy (..., 2); numpy or torch like `xy`.

        The normal is constant on each triangle, so the torch result carries no gradient w.r.t. xy.
        """
        if _is_torch(xy):
            import torch

            n = self.normal(xy.detach().cpu().numpy())
            return torch.as_tensor(n, dtype=xy.dtype, device=xy.device)
        i, j, upper, _, _ = self._locate(np.asarray(xy, dtype=np.float64))
        gx, gy = self._slopes(i, j, upper)
        n = np.stack([-gx, -gy, np.ones_like(gx)], -1)
        return n / np.linalg.norm(n, axis=-1, keepdims=True)

    def _heights_torch(self, like):
        import torch

        key = (like.dtype, like.device)
        cache = self.__dict__.setdefault("_torch_heights", {})
        if key not in cache:
            cache[key] = torch.tensor(np.array(self.heights), dtype=like.dtype, device=like.device)
        return cache[key]

    def _clamp_torch(self, xy):
        lo, hi = self.bounds()
        return xy.clamp(min=xy.new_tensor(lo), max=xy.new_tensor(hi))

    def _height_torch(self, xy):
        import torch

        xy = self._clamp_torch(xy)
        i, j, upper, _, _ = self._locate(xy.detach().cpu().numpy().astype(np.float64))
        (ax, ay), (bx, by), (cx, cy) = (tuple(torch.as_tensor(a, device=xy.device) for a in corner)
                                        for corner in self._vertex_indices(i, j, upper))
        h = self._heights_torch(xy)
        f = (xy - xy.new_tensor(self.origin)) / self.cell
        u = f[..., 0] - torch.as_tensor(i, dtype=xy.dtype, device=xy.device)
        v = f[..., 1] - torch.as_tensor(j, dtype=xy.dtype, device=xy.device)
        up = torch.as_tensor(upper, device=xy.device)
        wb = torch.where(up, 1.0 - v, u)
        wc = torch.where(up, 1.0 - u, v)
        ha = h[ax, ay]
        return ha + wb * (h[bx, by] - ha) + wc * (h[cx, cy] - ha)

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

            local = torch.as_tensor(local, dtype=position.dtype, device=position.device)
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

        Exact (within SDF_TOLERANCE = 2 mm) wherever the true distance is below SDF_EXACT_RANGE = 0.5 m, including
        beside step walls and under ledges; farther away it may return an upper bound (the vertical gap) that
        is itself beyond 0.5 m. xy is clamped to the grid first. numpy or torch like `points`; the torch result
        is differentiable w.r.t. the points (the closest feature is found in numpy, its distance recomputed in
        torch).
        """
        if _is_torch(points):
            return self._sdf_torch(points)
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,):
            raise ValueError(f"points must have shape (..., 3), got {p.shape}")
        value, _, _ = self._sdf_search(p.reshape(-1, 3))
        return value.reshape(p.shape[:-1])

    @cached_property
    def _sdf_tables(self):
        """Per-cell bounds over square windows of cells, used to prove that no geometry is near a point.

        Window k covers cells (i - k .. i + k, j - k .. j + k). For each stored k: max and min vertex height,
        max slope (tan), and per cell the largest k whose window is one plane (-1 if the cell bends).
        """
        h = self.heights
        nx, ny = self.shape
        quad = np.stack([h[:-1, :-1], h[1:, :-1], h[:-1, 1:], h[1:, 1:]])
        cmax, cmin = quad.max(0), quad.min(0)
        ii, jj = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1), indexing="ij")
        # Plane of each triangle as z = a*ix + b*iy + c in vertex-index units, rounded so equal planes match.
        lower = (h[1:, :-1] - h[:-1, :-1], h[:-1, 1:] - h[:-1, :-1])
        upper = (h[1:, 1:] - h[:-1, 1:], h[1:, 1:] - h[1:, :-1])
        c_lower = h[:-1, :-1] - lower[0] * ii - lower[1] * jj
        c_upper = h[1:, 1:] - upper[0] * (ii + 1) - upper[1] * (jj + 1)
        planes = np.round(np.stack([*lower, c_lower, *upper, c_upper], -1).reshape(-1, 2, 3), 9)
        flat_cell = np.all(planes[:, 0] == planes[:, 1], axis=1)
        _, plane_id = np.unique(planes[:, 0], axis=0, return_inverse=True)
        plane_id = plane_id.reshape(-1)
        # A bent cell gets an id of its own, so no window containing it is one plane.
        plane_id = np.where(flat_cell, plane_id, plane_id.max() + 1 + np.arange(plane_id.size)).reshape(nx - 1,
                                                                                                     ny - 1)
        slope = np.sqrt(np.maximum(lower[0] ** 2 + lower[1] ** 2, upper[0] ** 2 + upper[1] ** 2)) / self.cell

        kmax = int(np.ceil(SDF_EXACT_RANGE / self.cell - 1e-9))
        levels = sorted({k for k in (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64) if k < kmax} | {kmax})
        planar_radius = np.where(flat_cell.reshape(nx - 1, ny - 1), 0, -1)
        id_max, id_min = plane_id, plane_id
        for k in range(1, kmax + 1):
            id_max = ndimage.maximum_filter(id_max, size=3, mode="nearest")
            id_min = ndimage.minimum_filter(id_min, size=3, mode="nearest")
            planar_radius[id_max == id_min] = k

        def window(a, op, k):
            return op(a, size=2 * k + 1, mode="nearest").ravel() if k else a.ravel()

        return {
            "levels": np.array(levels),
            "hmax": np.stack([window(cmax, ndimage.maximum_filter, k) for k in levels]),
            "hmin": np.stack([window(cmin, ndimage.minimum_filter, k) for k in levels]),
            "slope": np.stack([window(slope, ndimage.maximum_filter, k) for k in levels]),
            "planar_radius": planar_radius.ravel(),
            "rings": [np.array([(di, dj) for di in range(-m, m + 1) for dj in range(-m, m + 1)
                                if max(abs(di), abs(dj)) == m]) for m in range(kmax + 1)],
        }

    def _triangles(self, i, j, upper):
        """World corners A, B, C (each (..., 3)) of the given triangles."""
        corners = []
        for ix, iy in self._vertex_indices(i, j, upper):
            corners.append(np.stack([self.origin[0] + ix * self.cell, self.origin[1] + iy * self.cell,
                                     self.heights[ix, iy]], -1))
        return corners

    def _sdf_search(self, p: np.ndarray):
        """Core of `sdf` for p (N, 3): signed distance, and the triangle id and feature code it measures to.

        Triangle id = 2 * (i * (ny - 1) + j) + upper. Stages, cheapest first: a point whose neighbourhood is one
        plane gets its plane distance; a point whose vertical gap is proven (by window height and slope bounds)
        to be within tolerance of the distance gets the gap; the rest search rings of cells outward.
        """
        t = self._sdf_tables
        nx, ny = self.shape
        lo, hi = self.bounds()
        xy = np.clip(p[:, :2], lo, hi)
        z = p[:, 2]
        p = np.column_stack([xy, z])
        i, j, upper, u, v = self._locate(xy)
        cell_id = i * (ny - 1) + j
        gx, gy = self._slopes(i, j, upper)
        gap = z - self.height(xy)
        above = gap >= 0
        dist = np.abs(gap)
        tri = 2 * cell_id + upper
        code = np.full(len(p), _VERTICAL)

        plane = gap / np.sqrt(1.0 + gx * gx + gy * gy)
        planar = np.abs(plane) <= t["planar_radius"][cell_id] * self.cell
        dist[planar] = np.abs(plane[planar])
        code[planar] = _FACE

        # Geometry within window k lies no closer than these bounds; beyond it, no closer than k cells.
        levels = t["levels"]
        need = np.minimum(dist, SDF_EXACT_RANGE) / self.cell
        level = np.minimum(np.searchsorted(levels, need - 1e-9), len(levels) - 1)
        vertical = np.where(above, z - t["hmax"][level, cell_id], t["hmin"][level, cell_id] - z)
        lipschitz = dist / np.sqrt(1.0 + t["slope"][level, cell_id] ** 2)
        lower = np.minimum(np.maximum(vertical, lipschitz), levels[level] * self.cell)
        proven = planar | (dist - lower <= SDF_TOLERANCE) | (lower >= SDF_EXACT_RANGE)

        todo = np.flatnonzero(~proven)
        if todo.size:
            d, tr, c = self._ring_search(p[todo], xy[todo], i[todo], j[todo], u[todo], v[todo], above[todo],
                                         dist[todo])
            better = d < dist[todo]
            todo = todo[better]
            dist[todo], tri[todo], code[todo] = d[better], tr[better], c[better]
        return np.where(above, dist, -dist), tri, code

    def _ring_search(self, p, xy, i, j, u, v, above, best):
        """Search cells ring by ring around each point's cell until no unseen cell can beat `best` by more
        than SDF_TOLERANCE. Returns unsigned distance, triangle id and feature code of the best triangle."""
        t = self._sdf_tables
        nx, ny = self.shape
        n = len(p)
        tri = np.full(n, -1)
        code = np.full(n, _VERTICAL)
        # Lower bound on the vertical gap to anything within the exact range.
        hk_max, hk_min = t["hmax"][-1], t["hmin"][-1]
        cell_id = i * (ny - 1) + j
        vgap = np.maximum(np.where(above, p[:, 2] - hk_max[cell_id], hk_min[cell_id] - p[:, 2]), 0.0)
        edge = np.minimum(np.minimum(u, 1 - u), np.minimum(v, 1 - v)) * self.cell
        cmax, cmin = t["hmax"][0], t["hmin"][0]
        for m, ring in enumerate(t["rings"]):
            reach = max(m - 1, 0) * self.cell + (edge if m else 0.0)
            alive = np.flatnonzero(best - SDF_TOLERANCE > np.sqrt(reach * reach + vgap * vgap))
            if alive.size == 0:
                break
            ci = np.clip(i[alive, None] + ring[:, 0], 0, nx - 2)
            cj = np.clip(j[alive, None] + ring[:, 1], 0, ny - 2)
            cid = ci * (ny - 1) + cj
            px, py, pz = (p[alive, k, None] for k in range(3))
            x0 = self.origin[0] + ci * self.cell
            y0 = self.origin[1] + cj * self.cell
            dx = np.maximum(np.maximum(x0 - px, px - x0 - self.cell), 0.0)
            dy = np.maximum(np.maximum(y0 - py, py - y0 - self.cell), 0.0)
            dz = np.maximum(np.maximum(cmin[cid] - pz, pz - cmax[cid]), 0.0)
            limit = best[alive, None] - SDF_TOLERANCE
            rows, cols = np.nonzero(dx * dx + dy * dy + dz * dz < limit * limit)
            if rows.size == 0:
                continue
            owner = np.concatenate([alive[rows], alive[rows]])
            pi = np.tile(ci[rows, cols], 2)
            pj = np.tile(cj[rows, cols], 2)
            upper = np.repeat([False, True], rows.size)
            d, c = _point_triangle_distance(p[owner], *self._triangles(pi, pj, upper))
            improved = best.copy()
            np.minimum.at(improved, owner, d)
            win = (d < best[owner]) & (d <= improved[owner])
            tri[owner[win]] = 2 * (pi * (ny - 1) + pj)[win] + upper[win]
            code[owner[win]] = c[win]
            best = improved
        return best, tri, code

    def _sdf_torch(self, points):
        import torch

        if points.shape[-1:] != (3,):
            raise ValueError(f"points must have shape (..., 3), got {tuple(points.shape)}")
        p = points.reshape(-1, 3)
        _, tri, code = self._sdf_search(p.detach().cpu().numpy().astype(np.float64))
        xy = self._clamp_torch(p[:, :2])
        q = torch.cat([xy, p[:, 2:]], -1)
        gap = q[:, 2] - self._height_torch(xy)
        sign = torch.where(gap >= 0, 1.0, -1.0).to(p.dtype)

        ny = self.shape[1]
        tri = np.maximum(tri, 0)
        cid, upper = tri // 2, (tri % 2).astype(bool)
        i, j = cid // (ny - 1), cid % (ny - 1)
        h = self._heights_torch(p)
        corners = []
        for ix, iy in self._vertex_indices(i, j, upper):
            ix_t, iy_t = torch.as_tensor(ix, device=p.device), torch.as_tensor(iy, device=p.device)
            corners.append(torch.stack([self.origin[0] + ix_t.to(p.dtype) * self.cell,
                                        self.origin[1] + iy_t.to(p.dtype) * self.cell, h[ix_t, iy_t]], -1))
        corners = torch.stack(corners, 1)  # (N, 3 corners, 3)
        normal = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        normal = normal * torch.where(normal[:, 2:] < 0, -1.0, 1.0).to(p.dtype)
        normal = normal / normal.norm(dim=-1, keepdim=True)
        face = sign * ((q - corners[:, 0]) * normal).sum(-1).abs()

        rows = torch.arange(len(p), device=p.device)
        e0 = corners[rows, torch.as_tensor(_SEG0[code], device=p.device)]
        e1 = corners[rows, torch.as_tensor(_SEG1[code], device=p.device)]
        e = e1 - e0
        s = (((q - e0) * e).sum(-1) / (e * e).sum(-1).clamp(min=1e-18)).clamp(0.0, 1.0)
        offset = q - (e0 + s[:, None] * e)
        segment = sign * (offset * offset).sum(-1).clamp(min=1e-24).sqrt()

        code_t = torch.as_tensor(code, device=p.device)
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
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **self.arrays())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path) -> "Heightfield":
        with np.load(path) as data:
            return cls.from_arrays(data, source=str(path))


def _point_triangle_distance(p, a, b, c):
    """Distance from points p (N, 3) to triangles (a, b, c) and the closest feature's code (Ericson's
    closest-point regions)."""

    def dot(x, y):
        return np.einsum("ij,ij->i", x, y)

    ab, ac = b - a, c - a
    ap, bp, cp = p - a, p - b, p - c
    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    # In Ericson's order: where regions touch, the first test wins.
    code = np.select([(d1 <= 0) & (d2 <= 0),
                      (d3 >= 0) & (d4 <= d3),
                      (vc <= 0) & (d1 >= 0) & (d3 <= 0),
                      (d6 >= 0) & (d5 <= d6),
                      (vb <= 0) & (d2 >= 0) & (d6 <= 0),
                      (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)],
                     [_VA, _VB, _EAB, _VC, _EAC, _EBC], _FACE)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        denom = 1.0 / (va + vb + vc)
    s, w = vb * denom, vc * denom
    closest = np.select(
        [code[:, None] == k for k in (_VA, _VB, _VC, _EAB, _EAC, _EBC)],
        [a, b, c, a + t_ab[:, None] * ab, a + t_ac[:, None] * ac, b + t_bc[:, None] * (c - b)],
        a + s[:, None] * ab + w[:, None] * ac)
    return np.linalg.norm(p - closest, axis=1), code
