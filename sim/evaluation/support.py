"""What the soles can push with: supporting feet, friction-cone contact wrenches and the support polygon.

Contact rule (one rule for every source, see docs/guide.md, Metrics): a foot supports in a frame when its
lowest sole point is within SUPPORT_GAP (5 cm) of the terrain (or below it), whatever its speed: a foot
that near the ground could push, and a speed test (3 cm and 0.35 m/s, say) misses the landing foot of
double support, which triples the shipped walk's residual. A supporting foot pushes at its 4 sole corners, each with a
force inside the friction pyramid of coefficient MU = 1 about the terrain normal there (8 edges, inscribed in
the cone), unilateral: no pulling.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import nnls
from scipy.spatial import ConvexHull, QhullError

from motion_model.body.skeleton import SOLE_GRID

SUPPORT_GAP = 0.05  # m
MU = 1.0
CONE_EDGES = 8
# Indices of the 4 corners of the sole grid (skeleton.sole_points): heel and toe, inside and outside.
SOLE_CORNERS = np.ravel_multi_index(([0, 0, -1, -1], [0, -1, 0, -1]), SOLE_GRID, mode="wrap")


def supporting_feet(gap):
    """(T, 2) bool per [left, right] foot under the module's contact rule, from the (T, 2) gaps (m) of each
    foot's lowest sole point above the terrain."""
    return gap < SUPPORT_GAP


def cone_edges(normals, mu=MU, edges=CONE_EDGES):
    """Unit edge directions (..., E, 3) of the friction pyramids about unit normals (..., 3)."""
    helper = np.where(np.abs(normals[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    t1 = np.cross(normals, helper)
    t1 /= np.linalg.norm(t1, axis=-1, keepdims=True)
    t2 = np.cross(normals, t1)
    phi = 2 * np.pi * np.arange(edges) / edges
    tangent = np.cos(phi)[:, None] * t1[..., None, :] + np.sin(phi)[:, None] * t2[..., None, :]
    e = normals[..., None, :] + mu * tangent
    return e / np.linalg.norm(e, axis=-1, keepdims=True)


def best_support(points, normals, com, force, moment, weight, height):
    """The contact wrench closest to the required one, for one frame.

    points (K, 3) contact points and normals (K, 3); com (3,); force (3,) N and moment (3,) N m about com:
    the wrench the ground must supply. Rows are scaled, force by 1 / weight, moment by 1 / (weight * height),
    and non-negative edge weights solve the least-squares problem (scipy.optimize.nnls). Returns the residual
    force (3,) in body weights and the residual moment (3,) in weight * height, required minus supplied.
    """
    b = np.concatenate([force / weight, moment / (weight * height)])
    if len(points) == 0:
        return b[:3], b[3:]
    edges = cone_edges(normals)  # (K, E, 3)
    arms = np.cross((points - com)[:, None, :], edges)
    a = np.concatenate([edges.reshape(-1, 3).T, arms.reshape(-1, 3).T / height])
    weights, _ = nnls(a, b)
    residual = b - a @ weights
    return residual[:3], residual[3:]


def zmp(com, force, moment, ground_z):
    """Zero-moment point (2,) on the plane z = ground_z of the contact wrench force (3,), moment (3,) about
    com; NaN where the vertical force is below a tenth of its magnitude (no meaningful centre of pressure)."""
    if force[2] <= 0.1 * np.linalg.norm(force) or force[2] <= 0:
        return np.full(2, math.nan)
    dz = com[2] - ground_z
    dx = (moment[1] + dz * force[0]) / force[2]
    dy = (dz * force[1] - moment[0]) / force[2]
    return com[:2] - np.array([dx, dy])


def distance_outside(point, polygon_points):
    """Distance (m) of xy `point` (2,) outside the convex hull of xy points (N, 2); 0 inside, NaN if N = 0."""
    if len(polygon_points) == 0 or not np.all(np.isfinite(point)):
        return math.nan
    try:
        hull = ConvexHull(polygon_points)
    except QhullError:  # fewer than 3 points or all on one line: the hull is a segment or a point
        return _distance_to_segments(point, polygon_points, _all_pairs(len(polygon_points)))
    if np.all(hull.equations[:, :2] @ point + hull.equations[:, 2] <= 1e-12):
        return 0.0
    return _distance_to_segments(point, polygon_points, hull.simplices)


def _all_pairs(n):
    i, j = np.triu_indices(n)
    return np.stack([i, j], -1)


def _distance_to_segments(point, points, pairs):
    a, b = points[pairs[:, 0]], points[pairs[:, 1]]
    ab = b - a
    length_sq = np.maximum((ab * ab).sum(-1), 1e-18)
    t = np.clip(((point - a) * ab).sum(-1) / length_sq, 0.0, 1.0)
    return float(np.linalg.norm(a + t[:, None] * ab - point, axis=-1).min())
