"""Signed distance from points to a Heightfield's surface (Bullet's triangles, see terrain.heightfield).

Frame and units: world coordinates in metres, Z up. Distances are positive above the surface and negative
below it; xy is clamped to the grid first, so points outside it measure from the nearest border point.

`SignedDistance(terrain)` builds look-up tables once (tens of ms for a course) and then answers many queries;
`depth(terrain, points)` needs no tables and is cheap for the shallow penetrations a collision check meets.
Both take numpy arrays; `SignedDistance` also takes torch tensors and returns a result differentiable with
respect to the points (the closest feature is found in numpy, its distance recomputed in torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from terrain.heightfield import Heightfield, is_torch

# sdf is exact (to SDF_TOLERANCE) within this distance of the surface; beyond it, it may return an upper
# bound (the vertical gap), which is still larger than this.
SDF_EXACT_RANGE = 0.5
# Candidates that could beat the best distance found by less than this are not examined.
SDF_TOLERANCE = 0.005

# What a distance measures to (the torch path recomputes the same): the vertical gap, the plane of a
# triangle, or one of its edges AB, AC, BC (an edge's end stands for a vertex; A is the triangle's right-angle
# corner, B and C the corners (i + 1, j) and (i, j + 1) that both triangles of a cell share).
VERTICAL, FACE, EDGE_AB, EDGE_AC, EDGE_BC = range(5)


class Nearest(NamedTuple):
    """The nearest surface feature found so far for each of N points."""

    distance: np.ndarray  # (N,) metres; signed in SignedDistance.search's result, unsigned while searching
    triangle: np.ndarray  # (N,) triangle id 2 * (i * (ny - 1) + j) + upper, -1 before any was measured
    feature: np.ndarray  # (N,) what the distance measures to: VERTICAL, FACE, EDGE_AB, EDGE_AC or EDGE_BC


@dataclass(frozen=True)
class SdfTables:
    """Bounds that let the search prove no geometry is near a point. Cells (i, j) are numbered i * (ny - 1) + j;
    window k of a cell covers cells (i - k .. i + k, j - k .. j + k)."""

    levels: np.ndarray  # (L,) the window sizes k that the bounds below are kept for
    hmax: np.ndarray  # (L, cells) max vertex height over each window
    hmin: np.ndarray  # (L, cells) min vertex height over each window
    slope: np.ndarray  # (L, cells) max slope (tan) over each window
    planar_radius: np.ndarray  # (cells,) the largest k whose window is one plane; -1 for a bent cell
    cell_range: np.ndarray  # (cells, 2) min and max height of each cell
    cell_planes: np.ndarray  # (cells, 2, 4) unit normal n and offset w of its two triangles (distance n.p + w)
    block: int  # blocks of block x block cells for the best-first search
    blocks: tuple  # (nbx, nby) blocks along x and y
    block_range: np.ndarray  # (blocks, 2) height range of each block's bent cells
    block_cells: np.ndarray  # (blocks, M) ids of each block's bent (not level) cells, -1 padded

    @classmethod
    def build(cls, terrain: Heightfield) -> SdfTables:
        h, cell = terrain.heights, terrain.cell
        h00, h10, h01, h11 = h[:-1, :-1], h[1:, :-1], h[:-1, 1:], h[1:, 1:]
        cmax = np.maximum(np.maximum(h00, h10), np.maximum(h01, h11))
        cmin = np.minimum(np.minimum(h00, h10), np.minimum(h01, h11))
        slope = np.sqrt(np.maximum((h10 - h00) ** 2 + (h01 - h00) ** 2, (h11 - h01) ** 2 + (h11 - h10) ** 2)) / cell
        kmax = int(np.ceil(SDF_EXACT_RANGE / cell - 1e-9))
        levels = sorted({k for k in (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64) if k < kmax} | {kmax})

        def windows(a, op):
            return np.stack([(op(a, 2 * k + 1, mode="nearest") if k else a).ravel() for k in levels])

        return cls(
            levels=np.array(levels),
            hmax=windows(cmax, ndimage.maximum_filter),
            hmin=windows(cmin, ndimage.minimum_filter),
            slope=windows(slope, ndimage.maximum_filter),
            planar_radius=_planar_radius(h00, h10, h01, h11, kmax).ravel(),
            cell_range=np.stack([cmin.ravel(), cmax.ravel()], -1),
            cell_planes=_cell_planes(terrain, h00, h10, h01, h11),
            **_blocks(cmin, cmax, cell),
        )


def _planar_radius(h00, h10, h01, h11, kmax):
    """Per cell, the largest k <= kmax whose window is one plane; -1 for a bent cell."""
    # A cell is one plane when its diagonals agree; it shares its neighbours' plane when they are planar
    # too with the same slopes (neighbours share a vertex). Window k is one plane when window k - 1 of the
    # cell and of all its neighbours is.
    eps = 1e-9
    sx, sy = h10 - h00, h01 - h00
    planar = np.abs(h00 + h11 - h10 - h01) <= eps

    def spread(a):
        return ndimage.maximum_filter(a, 3, mode="nearest") - ndimage.minimum_filter(a, 3, mode="nearest")

    same = planar & ndimage.minimum_filter(planar, 3, mode="nearest") & (spread(sx) <= eps) & (spread(sy) <= eps)
    planar_radius = np.where(planar, 0, -1)
    window_planar = planar
    for k in range(1, kmax + 1):
        window_planar = same & ndimage.minimum_filter(window_planar, 3, mode="nearest")
        if not window_planar.any():
            break
        planar_radius[window_planar] = k
    return planar_radius


def _blocks(cmin, cmax, cell) -> dict:
    """The SdfTables fields of the blocks: about 0.2 m each, listing their bent (not level) cells first; their
    bounds cover the bent cells only (a block with none is never visited)."""
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
    return {
        "block": block,
        "blocks": (nbx, nby),
        "block_range": np.stack([bmin, bmax], -1),
        "block_cells": ids[:, : max(int(bent_b.sum(1).max()), 1)],
    }


def _cell_planes(terrain, h00, h10, h01, h11):
    """Unit normal n and offset w (cells, 2, 4) of both triangles of each cell: the triangle distance is at
    least the plane distance |n.p + w|, a tighter bound than the box for steep cells."""
    cell = terrain.cell
    ii, jj = np.meshgrid(np.arange(h00.shape[0]), np.arange(h00.shape[1]), indexing="ij")
    x0, y0 = terrain.origin[0] + ii * cell, terrain.origin[1] + jj * cell
    planes = []
    for gx, gy, corner in (
        ((h10 - h00) / cell, (h01 - h00) / cell, (x0, y0, h00)),
        ((h11 - h01) / cell, (h11 - h10) / cell, (x0 + cell, y0 + cell, h11)),
    ):
        norm = np.sqrt(1.0 + gx * gx + gy * gy)
        n = (-gx / norm, -gy / norm, 1.0 / norm)
        planes.append(np.stack([*n, -(n[0] * corner[0] + n[1] * corner[1] + n[2] * corner[2])], -1))
    return np.stack(planes, -2).reshape(-1, 2, 4)


class SignedDistance:
    """Signed distance to one terrain's surface. Building one computes its look-up tables: hold it to query
    the same terrain many times."""

    def __init__(self, terrain: Heightfield):
        self.terrain = terrain
        self.tables = SdfTables.build(terrain)

    def __call__(self, points):
        """Signed distance (...,) from points (..., 3) to the surface, metres: positive above, negative below.

        Exact (within SDF_TOLERANCE = 5 mm) wherever the true distance is below SDF_EXACT_RANGE = 0.5 m,
        including beside step walls and under ledges; farther away it may return an upper bound (the vertical
        gap), itself beyond 0.5 m. numpy or torch like `points`; the torch result is differentiable.
        """
        if is_torch(points):
            return self._torch(points)
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,):
            raise ValueError(f"points must have shape (..., 3), got {p.shape}")
        return self.search(p.reshape(-1, 3)).distance.reshape(p.shape[:-1])

    def search(self, p: np.ndarray) -> Nearest:
        """Signed distance for p (N, 3), with the triangle and feature it measures to.

        Cheapest first: a point whose neighbourhood is one plane gets its plane distance; a point whose
        vertical gap is proven (by the window bounds) to be within tolerance of its distance gets the gap; the
        rest search nearby cells best-first.
        """
        t, c = self.tables, self.terrain.cell
        xy = self.terrain.clamp(p[:, :2])
        x, y, z = xy[:, 0], xy[:, 1], p[:, 2]
        under = self.terrain.surface(xy)
        cell_id = under.i * (self.terrain.shape[1] - 1) + under.j
        gap = z - under.height
        above = gap >= 0
        dist = np.abs(gap)
        tri = 2 * cell_id + under.upper
        code = np.full(len(p), VERTICAL)

        plane = dist * c / np.sqrt(c**2 + under.sx * under.sx + under.sy * under.sy)
        planar = plane <= t.planar_radius[cell_id] * c
        dist[planar] = plane[planar]
        code[planar] = FACE

        # Geometry within window `level` lies no closer than these bounds; beyond it, no closer than its reach.
        need = np.minimum(dist, SDF_EXACT_RANGE) / c
        level = np.minimum(np.searchsorted(t.levels, need - 1e-9), len(t.levels) - 1)
        at = level * len(t.planar_radius) + cell_id
        vertical = np.where(above, z - t.hmax.ravel()[at], t.hmin.ravel()[at] - z)
        lipschitz = dist / np.sqrt(1.0 + t.slope.ravel()[at] ** 2)
        lower = np.minimum(np.maximum(vertical, lipschitz), t.levels[level] * c)
        proven = planar | (dist - lower <= SDF_TOLERANCE) | (lower >= SDF_EXACT_RANGE)

        todo = np.flatnonzero(~proven)
        if todo.size:
            q = np.stack([x[todo], y[todo], z[todo]], -1)
            found = self._nearest(q, under.i[todo], under.j[todo], dist[todo])
            better = found.distance < dist[todo]
            todo = todo[better]
            dist[todo], tri[todo], code[todo] = found.distance[better], found.triangle[better], found.feature[better]
        return Nearest(np.where(above, dist, -dist), tri, code)

    def _nearest(self, p, i, j, best) -> Nearest:
        """Exact search around points p (N, 3) in cells (i, j), starting from the upper bound `best` (N,).

        Only bent cells need a look: the surface under the point is already in `best` (vertical gap or its own
        cell), and any other level region is nearest at its rim, which is an edge of a bent cell next to it
        (the grid border cannot be nearer for a point inside the grid). Best-first over blocks of cells: each
        point visits the blocks within min(best, SDF_EXACT_RANGE) of it, nearest bounding box first, skipping
        a block or cell whose box cannot beat its best distance by more than SDF_TOLERANCE. Returns unsigned
        distances.
        """
        found = Nearest(best, np.full(len(p), -1), np.full(len(p), VERTICAL))
        found = _improve(self.terrain, p, np.arange(len(p)), i, j, found)
        owner, lower, block_id = self._blocks_by_distance(p, found.distance)
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])[: len(owner)]
        sizes = np.diff(np.r_[starts, len(owner)])
        # Visit every point's nearest block, then every point's second nearest, and so on.
        for rank in range(sizes.max(initial=0)):
            sel = starts[sizes > rank] + rank
            sel = sel[lower[sel] < found.distance[owner[sel]] - SDF_TOLERANCE]
            if sel.size:
                found = self._visit(p, owner[sel], block_id[sel], found)
        return found

    def _blocks_by_distance(self, p, best):
        """The (point, block) pairs worth a visit: bent blocks within min(best, SDF_EXACT_RANGE) of the point
        whose box could beat `best`; grouped by point (owner), each group ordered by its lower bound."""
        t, origin, c = self.tables, self.terrain.origin, self.terrain.cell
        size, (nbx, nby) = t.block, t.blocks
        fx, fy, z = (p[:, 0] - origin[0]) / c, (p[:, 1] - origin[1]) / c, p[:, 2]
        reach = np.minimum(best, SDF_EXACT_RANGE) / c
        bx0, bx1 = (np.clip(np.floor((fx + s * reach) / size).astype(np.int64), 0, nbx - 1) for s in (-1, 1))
        by0, by1 = (np.clip(np.floor((fy + s * reach) / size).astype(np.int64), 0, nby - 1) for s in (-1, 1))
        wide = by1 - by0 + 1
        owner, local = _ragged((bx1 - bx0 + 1) * wide)
        bi = bx0[owner] + local // wide[owner]
        bj = by0[owner] + local % wide[owner]
        block_id = bi * nby + bj
        bent = np.flatnonzero(t.block_cells[block_id, 0] >= 0)
        owner, bi, bj, block_id = owner[bent], bi[bent], bj[bent], block_id[bent]
        span = t.block_range[block_id]
        i0, j0 = bi * size, bj * size
        lower = _box_distance(fx[owner], fy[owner], z[owner], i0, i0 + size, j0, j0 + size, span[:, 0], span[:, 1], c)
        keep = np.flatnonzero(lower < best[owner] - SDF_TOLERANCE)
        # One argsort on a combined key: the owner, then the lower bound within it.
        order = keep[np.argsort(owner[keep] + lower[keep] / (lower[keep].max(initial=0.0) + 1.0))]
        return owner[order], lower[order], block_id[order]

    def _visit(self, p, o, block_id, found: Nearest) -> Nearest:
        """Lower `found` for points o (M,) with the bent cells of one block each, block_id (M,)."""
        t, origin, c = self.tables, self.terrain.origin, self.terrain.cell
        ny = self.terrain.shape[1]
        fx, fy, z = (p[o, 0] - origin[0]) / c, (p[o, 1] - origin[1]) / c, p[o, 2]
        cid = t.block_cells[block_id]
        cspan = t.cell_range[cid]
        box = _box_distance(
            fx[:, None],
            fy[:, None],
            z[:, None],
            cid // (ny - 1),
            cid // (ny - 1) + 1,
            cid % (ny - 1),
            cid % (ny - 1) + 1,
            cspan[..., 0],
            cspan[..., 1],
            c,
        )
        q = np.stack([p[o, 0], p[o, 1], z, np.ones(len(o))], -1)[:, None, None, :]
        box = np.maximum(box, np.abs((t.cell_planes[cid] * q).sum(-1)).min(-1))
        box[cid < 0] = np.inf
        # The block's nearest cell first: it often settles the point, so the others need no triangles.
        first = np.argmin(box, 1)
        rows = np.arange(len(o))
        near = rows[box[rows, first] < found.distance[o] - SDF_TOLERANCE]
        cells = cid[near, first[near]]
        found = _improve(self.terrain, p, o[near], cells // (ny - 1), cells % (ny - 1), found)
        box[near, first[near]] = np.inf
        r, k = np.nonzero(box < found.distance[o, None] - SDF_TOLERANCE)
        if r.size:
            cells = cid[r, k]
            found = _improve(self.terrain, p, o[r], cells // (ny - 1), cells % (ny - 1), found)
        return found

    def _torch(self, points):
        import torch

        if points.shape[-1:] != (3,):
            raise ValueError(f"points must have shape (..., 3), got {tuple(points.shape)}")
        terrain = self.terrain
        p = points.reshape(-1, 3)
        found = self.search(p.detach().cpu().numpy().astype(np.float64))
        xy = terrain.clamp(p[:, :2])
        q = torch.cat([xy, p[:, 2:]], -1)
        gap = q[:, 2] - terrain.height(xy)
        sign = torch.where(gap >= 0, 1.0, -1.0).to(p.dtype)

        ny = terrain.shape[1]
        cid, upper = found.triangle // 2, (found.triangle % 2).astype(bool)
        i, j = cid // (ny - 1), cid % (ny - 1)
        h00, h10, h01, h11 = terrain.corners(i, j, like=p)
        up = torch.as_tensor(upper, device=p.device)
        x0 = torch.as_tensor(terrain.origin[0] + i * terrain.cell, dtype=p.dtype, device=p.device)
        y0 = torch.as_tensor(terrain.origin[1] + j * terrain.cell, dtype=p.dtype, device=p.device)
        shift = up.to(p.dtype) * terrain.cell
        a = torch.stack([x0 + shift, y0 + shift, torch.where(up, h11, h00)], -1)
        b = torch.stack([x0 + terrain.cell, y0, h10], -1)
        c = torch.stack([x0, y0 + terrain.cell, h01], -1)
        normal = torch.linalg.cross(b - a, c - a)
        normal = normal / normal.norm(dim=-1, keepdim=True)
        face = sign * ((q - a) * normal).sum(-1).abs()

        code = torch.as_tensor(found.feature, device=p.device)[:, None]
        e0 = torch.where(code == EDGE_BC, b, a)
        e1 = torch.where(code == EDGE_AB, b, c)
        e = e1 - e0
        s = (((q - e0) * e).sum(-1) / (e * e).sum(-1)).clamp(0.0, 1.0)
        offset = q - (e0 + s[:, None] * e)
        segment = sign * (offset * offset).sum(-1).clamp(min=1e-24).sqrt()

        code = code[:, 0]
        value = torch.where(code == VERTICAL, gap, torch.where(code == FACE, face, segment))
        return value.reshape(points.shape[:-1])


def depth(terrain: Heightfield, points):
    """Penetration depth (...,) of points (..., 3) in metres: 0 on or above the surface, else the exact
    distance to it (numpy).

    The same as max(-sdf, 0) but without SignedDistance's tables (tens of ms per terrain): the surface point
    nearest to a point below lies within its vertical gap, so only the cells that close are searched, which
    is cheap for the shallow depths a collision check meets.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-1:] != (3,):
        raise ValueError(f"points must have shape (..., 3), got {p.shape}")
    flat = p.reshape(-1, 3)
    xy = terrain.clamp(flat[:, :2])
    under = terrain.surface(xy)
    gap = under.height - flat[:, 2]
    out = np.zeros(len(flat))
    below = np.flatnonzero(gap > 0)
    if below.size:
        q = np.concatenate([xy[below], flat[below, 2:]], -1)
        reach = np.ceil(np.minimum(gap[below], SDF_EXACT_RANGE) / terrain.cell).astype(np.int64)
        side = 2 * reach + 1
        owner, local = _ragged(side * side)
        di, dj = local // side[owner] - reach[owner], local % side[owner] - reach[owner]
        ci = np.clip(under.i[below][owner] + di, 0, terrain.shape[0] - 2)
        cj = np.clip(under.j[below][owner] + dj, 0, terrain.shape[1] - 2)
        unused = np.zeros(len(q), dtype=np.int64)
        out[below] = _improve(terrain, q, owner, ci, cj, Nearest(gap[below], unused, unused.copy())).distance
    return out.reshape(p.shape[:-1])


def _improve(terrain, p, owner, ci, cj, found: Nearest) -> Nearest:
    """`found` lowered for points `owner` (M,) by the distances to both triangles of cells (ci, cj); its
    triangle and feature arrays are updated in place."""
    ny = terrain.shape[1]
    owner, ci, cj = np.tile(owner, 2), np.tile(ci, 2), np.tile(cj, 2)
    upper = np.repeat([False, True], len(owner) // 2)
    d, feature = _triangle_distance(terrain, p[owner], ci, cj, upper)
    improved = found.distance.copy()
    np.minimum.at(improved, owner, d)
    win = (d < found.distance[owner]) & (d <= improved[owner])
    found.triangle[owner[win]] = (2 * (ci * (ny - 1) + cj) + upper)[win]
    found.feature[owner[win]] = feature[win]
    return Nearest(improved, found.triangle, found.feature)


def _triangle_distance(terrain, p, i, j, upper):
    """Distance from points p (M, 3) to the triangles (i, j, upper) and the closest feature: FACE, or the
    edge EDGE_AB, EDGE_AC or EDGE_BC (an edge's end stands for the vertex)."""
    c = terrain.cell
    h00, h10, h01, h11 = terrain.corners(i, j)
    x0, y0 = terrain.origin[0] + i * c, terrain.origin[1] + j * c
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
    feature = np.where(inside, FACE, np.array([EDGE_AB, EDGE_AC, EDGE_BC])[nearest])
    return np.where(inside, face, edge), feature


def _box_distance(fx, fy, z, i0, i1, j0, j1, lo, hi, cell):
    """Distance (m) from points at cell coordinates (fx, fy) and height z to boxes spanning cells [i0, i1] x
    [j0, j1] (cell coordinates) and heights [lo, hi] (m); all arguments broadcast."""
    dx = np.maximum(np.maximum(i0 - fx, fx - i1), 0.0) * cell
    dy = np.maximum(np.maximum(j0 - fy, fy - j1), 0.0) * cell
    dz = np.maximum(np.maximum(lo - z, z - hi), 0.0)
    return np.sqrt(dx * dx + dy * dy + dz * dz)


def _ragged(counts):
    """For counts (N,): the owner (0..N-1) and the index within its owner of each of sum(counts) items."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
