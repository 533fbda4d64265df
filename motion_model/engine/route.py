"""Route shaping: a path's smoothed heading, its sharp corners, the pieces between them, and its stairs.

One owner for what the engine (motion_model/engine/travel.py) and the path follower (controller/follower.py)
both read off a path: a sharp corner is one the body stops on and turns on the spot, so the heading is smoothed
within each piece between sharp corners, never round one; and people slow down on stairs and steps.

World frame: Z up, metres; headings in rad (world yaw, counter-clockwise from +X), curvature in rad/m.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from motion_model.body.legs import wrap_angle
from terrain.polyline import Polyline

HEADING_SMOOTHING = 0.3  # m of arc length (Gaussian sigma) over which the path tangent is smoothed
STAIR_SLOWDOWN = 2.0  # speed factor lost per metre of riser ahead (see stair_slowdown)
PATH_SPACING = 0.05  # m between path samples, so that the heading is smoothed over arc length on any polyline
PROFILE_STEP = 0.02  # m between the samples a route is profiled at (speed limits, standing spots)
MERGE = 0.05  # m: corners (and halts) closer than this to each other or to the path's ends are one
RISER = 0.03  # m: a height change over 5 cm of path this large is a step's riser


@dataclass
class PathCurve:
    """The path with a smoothed heading; positions past the end continue along the last segment."""

    line: Polyline  # (P, 2) points, no two within 1 um
    yaw: np.ndarray  # (P,) smoothed tangent direction (rad)

    @classmethod
    def from_points(cls, points, smoothing):
        line = Polyline(points).without_repeats(1e-6)
        if len(line.points) < 2:
            raise ValueError("the path needs at least two distinct points")
        d = np.gradient(line.points, line.arc, axis=0)
        yaw = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
        spacing = line.arc[-1] / (len(line.arc) - 1)
        yaw = gaussian_filter1d(yaw, max(smoothing / spacing, 1e-3), mode="nearest")
        return cls(line, yaw)

    @property
    def length(self):
        return self.line.length

    def position(self, s):
        return self.line.point_at(s, extend=True)

    def heading(self, s):
        return np.interp(s, self.line.arc, self.yaw)

    def curvature(self, s):
        return float(np.interp(s, self.line.arc, np.gradient(self.yaw, self.line.arc)))


# --------------------------------------------------------------------------------------------------------
# Sharp corners and the pieces between them


def densify(points, spacing):
    """The polyline's distinct vertices, with samples at most `spacing` m apart between them."""
    points = np.asarray(points, dtype=float)
    points = points[np.r_[True, np.linalg.norm(np.diff(points, axis=0), axis=-1) > 1e-6]]
    out = [points[:1]]
    for a, b in pairwise(points):
        n = max(int(np.ceil(np.linalg.norm(b - a) / spacing)), 1)
        out.append(a + (b - a) * (np.arange(1, n + 1) / n)[:, None])
    return np.concatenate(out)


def sharp_corners(points, angle, window):
    """Vertex indices where the polyline turns by more than `angle` (rad) within `window` m, one per corner."""
    seg = np.diff(points, axis=0)
    turn = np.diff(np.unwrap(np.arctan2(seg[:, 1], seg[:, 0])))  # at vertices 1 .. P-2
    arc = Polyline(points).arc
    s = arc[1:-1]
    total = np.r_[0.0, np.cumsum(turn)]
    windowed = np.abs(total[np.searchsorted(s, s + window / 2, "right")] - total[np.searchsorted(s, s - window / 2)])
    sharp = (windowed > angle) & (s > MERGE) & (s < arc[-1] - MERGE)
    edges = np.diff(np.r_[0, sharp.astype(int), 0])
    corners = []
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        # The corner's vertex: where the windowed turn peaks; of equal peaks, the vertex turning most.
        peak = a + np.flatnonzero(windowed[a:b] >= windowed[a:b].max() - 1e-9)
        corners.append(1 + int(peak[np.argmax(np.abs(turn[peak]))]))
    return corners


def piece_bounds(corners, count):
    """Vertex indices bounding the pieces of a polyline of `count` vertices split at `corners` (indices)."""
    return [0] + list(corners) + [count - 1]


class PiecedRoute:
    """A path split at its sharp corners into pieces, each with its own smoothed heading (continuous curves, for
    the engine's travel), unwrapped so that each corner turns by less than half a turn; positions along the
    whole path; the stairs along it. behaviour: a speed_plan.BehaviourConfig (pivot_angle, pivot_window)."""

    def __init__(self, terrain, path, smoothing, behaviour):
        points = densify(path, PATH_SPACING)
        if len(points) < 2:
            raise ValueError("the path needs at least two distinct points")
        self.curve = PathCurve.from_points(points, smoothing)
        self.stairs = Stairs.along(terrain, self.curve)
        arc = Polyline(points).arc
        cuts = sharp_corners(points, behaviour.pivot_angle, behaviour.pivot_window)
        bounds = piece_bounds(cuts, len(points))
        self.starts = arc[bounds[:-1]]
        self.corners = arc[cuts]
        self.pieces = [PathCurve.from_points(points[i : j + 1], smoothing) for i, j in pairwise(bounds)]
        self.offsets = [0.0]
        for prev, nxt in zip(self.pieces[:-1], self.pieces[1:]):
            end = prev.heading(prev.length) + self.offsets[-1]
            self.offsets.append(end + wrap_angle(nxt.heading(0.0) - end) - nxt.heading(0.0))

    @property
    def length(self):
        return self.curve.length

    def piece(self, s):
        """Index of the piece holding arc length s (a corner belongs to the piece before it)."""
        return int(np.searchsorted(self.corners, s))

    def heading(self, k, s):
        return self.pieces[k].heading(np.asarray(s) - self.starts[k]) + self.offsets[k]

    def curvature(self, k, s):
        return np.array([self.pieces[k].curvature(x - self.starts[k]) for x in np.atleast_1d(s)])

    def position(self, s):
        """Points (..., 2) at arc lengths s (...); before the start and past the end along the end tangents."""
        s = np.asarray(s, dtype=float)
        ahead = self.curve.line.points[1] - self.curve.line.points[0]
        return self.curve.position(np.maximum(s, 0.0)) + np.minimum(s, 0.0)[..., None] * ahead / np.linalg.norm(ahead)


def piece_headings(line, corners, spacing, smoothing=HEADING_SMOOTHING):
    """The heading (rad) and curvature (rad/m) at every sample of `line` (a Polyline resampled `spacing` m
    apart), smoothed over `smoothing` m within each piece between the sharp corners at arc lengths `corners`
    (a sharp corner is turned on the spot, not rounded); a corner's own sample has the heading of the piece
    before it. The sampled counterpart of PiecedRoute, for the follower's per-frame look-ups; each piece's
    heading is unwrapped on its own."""
    bounds = piece_bounds(np.searchsorted(line.arc, corners), len(line.arc))
    heading, curvature = np.empty(len(line.arc)), np.zeros(len(line.arc))
    for k, (a, b) in enumerate(pairwise(bounds)):
        g = np.gradient(line.points[a : b + 1], axis=0)
        smooth = gaussian_filter1d(np.unwrap(np.arctan2(g[:, 1], g[:, 0])), smoothing / spacing, mode="nearest")
        first = a if k == 0 else a + 1
        heading[first : b + 1] = smooth[first - a :]
        curvature[first : b + 1] = np.gradient(smooth, line.arc[a : b + 1])[first - a :]
    return heading, curvature


# --------------------------------------------------------------------------------------------------------
# Stairs


def riser_ahead(terrain, curve):
    """Arc lengths (N,) 0.05 m apart and the largest riser (N,) in m from 0.3 m behind to 0.8 m ahead."""
    s = np.arange(0.0, curve.length + 2.0, 0.05)
    rise = np.abs(np.diff(terrain.height(curve.position(s)), append=0.0))
    return s, maximum_filter1d(rise, int(1.1 / 0.05), origin=-int(0.25 / 0.05), mode="nearest")


def stair_slowdown(terrain, curve, per_metre=STAIR_SLOWDOWN):
    """Speed factor as a function of arc length: people slow down on stairs and steps.

    The largest height change between path samples 0.05 m apart (a riser, on Bullet's one-cell edges) in a
    window from 0.3 m behind to 0.8 m ahead (riser_ahead) sets the factor, 1 - per_metre * riser, at least 0.5.
    """
    s, ahead = riser_ahead(terrain, curve)
    factor = np.clip(1.0 - per_metre * ahead, 0.5, 1.0)
    return lambda x: float(np.interp(x, s, factor))


def stair_factors(terrain, line):
    """The stair slowdown (stair_slowdown, at the engine's defaults) at every sample of the Polyline `line`."""
    slow = stair_slowdown(terrain, PathCurve.from_points(line.points, HEADING_SMOOTHING))
    return np.array([slow(s) for s in line.arc])


@dataclass(frozen=True)
class Stairs:
    """Along the path at arc lengths s (N,) 0.05 m apart: the largest riser near (m, see riser_ahead) and the
    depth of the treads there (m, the gap between the nearest riser and its neighbours; inf without)."""

    s: np.ndarray
    riser: np.ndarray
    tread: np.ndarray

    @classmethod
    def along(cls, terrain, curve):
        s, riser = riser_ahead(terrain, curve)
        rises = np.flatnonzero(np.abs(np.diff(terrain.height(curve.position(s)), append=0.0)) > RISER)
        edges = s[rises[np.r_[True, np.diff(rises) > 1]]] if len(rises) else s[:0]  # one per riser
        tread = np.full(len(s), np.inf)
        if len(edges) > 1:
            gaps = np.diff(edges)
            depth = np.minimum(np.r_[gaps[0], gaps], np.r_[gaps, gaps[-1]])
            tread = depth[np.abs(s[:, None] - edges).argmin(1)]
        return cls(s, riser, tread)

    def near(self, x):
        return np.interp(x, self.s, self.riser) > RISER
