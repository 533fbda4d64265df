"""Distances from points to the Bullet triangles of a Heightfield's cells (terrain.surface), the feature each
distance measures to, and the bounding boxes that let a search skip cells: the geometry under
terrain.sdf's SignedDistance and depth. World metres, Z up.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# What a distance measures to (the torch path recomputes the same): the vertical gap, the plane of a
# triangle, or one of its edges AB, AC, BC (an edge's end stands for a vertex; A is the triangle's right-angle
# corner, B and C the corners (i + 1, j) and (i, j + 1) that both triangles of a cell share).
VERTICAL, FACE, EDGE_AB, EDGE_AC, EDGE_BC = range(5)


class Nearest(NamedTuple):
    """The nearest surface feature found so far for each of N points."""

    distance: np.ndarray  # (N,) metres; signed in SignedDistance.search's result, unsigned while searching
    triangle: np.ndarray  # (N,) triangle id 2 * (i * (ny - 1) + j) + upper, -1 before any was measured
    feature: np.ndarray  # (N,) what the distance measures to: VERTICAL, FACE, EDGE_AB, EDGE_AC or EDGE_BC


def improve(terrain, p, owner, ci, cj, found: Nearest) -> Nearest:
    """`found` lowered for points `owner` (M,) by the distances to both triangles of cells (ci, cj); its
    triangle and feature arrays are updated in place."""
    ny = terrain.shape[1]
    owner, ci, cj = np.tile(owner, 2), np.tile(ci, 2), np.tile(cj, 2)
    upper = np.repeat([False, True], len(owner) // 2)
    d, feature = triangle_distance(terrain, p[owner], ci, cj, upper)
    improved = found.distance.copy()
    np.minimum.at(improved, owner, d)
    win = (d < found.distance[owner]) & (d <= improved[owner])
    found.triangle[owner[win]] = (2 * (ci * (ny - 1) + cj) + upper)[win]
    found.feature[owner[win]] = feature[win]
    return Nearest(improved, found.triangle, found.feature)


def triangle_distance(terrain, p, i, j, upper):
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


def box_distance(fx, fy, z, i0, i1, j0, j1, lo, hi, cell):
    """Distance (m) from points at cell coordinates (fx, fy) and height z to boxes spanning cells [i0, i1] x
    [j0, j1] (cell coordinates) and heights [lo, hi] (m); all arguments broadcast."""
    dx = np.maximum(np.maximum(i0 - fx, fx - i1), 0.0) * cell
    dy = np.maximum(np.maximum(j0 - fy, fy - j1), 0.0) * cell
    dz = np.maximum(np.maximum(lo - z, z - hi), 0.0)
    return np.sqrt(dx * dx + dy * dy + dz * dz)


def ragged(counts):
    """For counts (N,): the owner (0..N-1) and the index within its owner of each of sum(counts) items."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
