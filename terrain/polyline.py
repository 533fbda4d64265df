"""A path as a polyline: points joined by straight segments, parameterised by arc length.

Frame and units: world metres; points (P, 2) in xy, or (P, 3). Arc length s runs from 0 at the first point
to `length` at the last. Queries are vectorised over any leading shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


class Projection(NamedTuple):
    """The path point nearest to each query point (...,)."""

    s: np.ndarray  # (...,) its arc length, m
    point: np.ndarray  # (..., D) the point itself
    distance: np.ndarray  # (...,) from the query to it, m
    segment: np.ndarray  # (...,) the segment it lies on: k joins points[k] and points[k + 1]


@dataclass(frozen=True, eq=False)
class Polyline:
    """points (P, D), P >= 1 and D = 2 or 3 (not copied); `arc` (P,) is the arc length at each point."""

    points: np.ndarray
    arc: np.ndarray = field(init=False, repr=False)
    # The segments (start points, vectors, lengths) that every projection needs, worked out once.
    _segments: tuple = field(init=False, repr=False)

    def __post_init__(self):
        points = np.asarray(self.points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] not in (2, 3) or len(points) == 0:
            raise ValueError(f"a polyline needs points of shape (P, 2) or (P, 3) with P >= 1, got shape {points.shape}")
        if not np.all(np.isfinite(points)):
            raise ValueError("polyline points contain NaN or infinite values")
        object.__setattr__(self, "points", points)
        object.__setattr__(
            self, "arc", np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        )
        if len(points) == 1:  # one point: a segment of zero length
            start, seg = points, np.zeros_like(points)
        else:
            start, seg = points[:-1], np.diff(points, axis=0)
        object.__setattr__(self, "_segments", (start, seg, np.maximum(np.linalg.norm(seg, axis=1), 1e-9)))

    @property
    def length(self) -> float:
        return float(self.arc[-1])

    def project(self, xy) -> Projection:
        """The nearest path point to each of xy (..., D): the projection on the nearest segment."""
        q = self._queries(xy)
        start, seg, seg_len = self._segments
        d = q[..., None, :] - start  # (..., S, D)
        u = np.clip((d * seg).sum(-1) / seg_len**2, 0.0, 1.0)
        dist = np.linalg.norm(d - u[..., None] * seg, axis=-1)
        k = dist.argmin(-1)
        u = np.take_along_axis(u, k[..., None], -1)[..., 0]
        return Projection(
            self.arc[k] + u * seg_len[k],
            start[k] + u[..., None] * seg[k],
            np.take_along_axis(dist, k[..., None], -1)[..., 0],
            k,
        )

    def arc_length(self, xy) -> np.ndarray:
        """Arc length (...,) of the path point nearest to each of xy (..., D): `project(xy).s`."""
        return self.project(xy).s

    def point_at(self, s, extend=False) -> np.ndarray:
        """Path points (..., D) at arc lengths s (...,). Before the start and past the end they stay at the end
        points, or with `extend` continue along the first and last segment (unless that has zero length)."""
        s = np.asarray(s, dtype=np.float64)
        out = np.stack([np.interp(s, self.arc, self.points[:, k]) for k in range(self.points.shape[1])], -1)
        if extend and len(self.points) > 1:
            first, last = self.points[1] - self.points[0], self.points[-1] - self.points[-2]
            out = out + np.minimum(s, 0.0)[..., None] * first / max(np.linalg.norm(first), 1e-12)
            out = out + np.maximum(s - self.length, 0.0)[..., None] * last / max(np.linalg.norm(last), 1e-12)
        return out

    def resample(self, spacing) -> Polyline:
        """The path at equal arc-length steps of at most `spacing` m, keeping both ends (at least 2 points)."""
        if not spacing > 0:
            raise ValueError(f"spacing must be > 0 m, got {spacing}")
        n = max(int(np.ceil(self.length / spacing - 1e-9)), 1)
        return Polyline(self.point_at(np.linspace(0.0, self.length, n + 1)))

    def without_repeats(self, tolerance) -> Polyline:
        """The path without the points within `tolerance` m of their predecessor in `points`."""
        step = np.linalg.norm(np.diff(self.points, axis=0), axis=-1)
        return Polyline(self.points[np.r_[True, step > tolerance]])

    def tangents(self) -> np.ndarray:
        """Unit tangents (P, D) at the points, by central differences (one-sided at the ends); +X for a
        single point."""
        if len(self.points) == 1:
            return np.eye(self.points.shape[1])[:1]
        g = np.gradient(self.points, axis=0)
        return g / np.maximum(np.linalg.norm(g, axis=-1, keepdims=True), 1e-9)

    def _queries(self, xy) -> np.ndarray:
        q = np.asarray(xy, dtype=np.float64)
        if q.shape[-1:] != self.points.shape[1:]:
            raise ValueError(
                f"query points must have shape (..., {self.points.shape[1]}) like the polyline's, got {q.shape}"
            )
        return q
