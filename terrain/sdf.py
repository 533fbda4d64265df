"""Signed distance from points to a Heightfield's surface (Bullet's triangles, see terrain.heightfield).

Frame and units: world coordinates in metres, Z up. Distances are positive above the surface and negative
below it; xy is clamped to the grid first, so points outside it measure from the nearest border point.

`SignedDistance(terrain)` builds look-up tables once (tens of ms for a course) and then answers many queries;
`depth(terrain, points)` needs no tables and is cheap for the shallow penetrations a collision check meets.
Both take numpy arrays; `SignedDistance` also takes torch tensors and returns a result differentiable with
respect to the points (the closest feature is found in numpy, its distance recomputed in torch).
"""

from __future__ import annotations

import numpy as np

from terrain.heightfield import Heightfield, is_torch
from terrain.sdf_tables import SDF_EXACT_RANGE, SdfTables
from terrain.triangle_distance import EDGE_AB, EDGE_BC, FACE, VERTICAL, Nearest, box_distance, improve, ragged

# Candidates that could beat the best distance found by less than this are not examined.
SDF_TOLERANCE = 0.005


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
        found = improve(self.terrain, p, np.arange(len(p)), i, j, found)
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
        owner, local = ragged((bx1 - bx0 + 1) * wide)
        bi = bx0[owner] + local // wide[owner]
        bj = by0[owner] + local % wide[owner]
        block_id = bi * nby + bj
        bent = np.flatnonzero(t.block_cells[block_id, 0] >= 0)
        owner, bi, bj, block_id = owner[bent], bi[bent], bj[bent], block_id[bent]
        span = t.block_range[block_id]
        i0, j0 = bi * size, bj * size
        lower = box_distance(fx[owner], fy[owner], z[owner], i0, i0 + size, j0, j0 + size, span[:, 0], span[:, 1], c)
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
        box = box_distance(
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
        found = improve(self.terrain, p, o[near], cells // (ny - 1), cells % (ny - 1), found)
        box[near, first[near]] = np.inf
        r, k = np.nonzero(box < found.distance[o, None] - SDF_TOLERANCE)
        if r.size:
            cells = cid[r, k]
            found = improve(self.terrain, p, o[r], cells // (ny - 1), cells % (ny - 1), found)
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
        owner, local = ragged(side * side)
        di, dj = local // side[owner] - reach[owner], local % side[owner] - reach[owner]
        ci = np.clip(under.i[below][owner] + di, 0, terrain.shape[0] - 2)
        cj = np.clip(under.j[below][owner] + dj, 0, terrain.shape[1] - 2)
        unused = np.zeros(len(q), dtype=np.int64)
        out[below] = improve(terrain, q, owner, ci, cj, Nearest(gap[below], unused, unused.copy())).distance
    return out.reshape(p.shape[:-1])
