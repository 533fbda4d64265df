"""The root's travel along a path under a speed plan: frame by frame, where its ground point is, which way the
body faces, how fast it goes and whether it stands. Starts from standing, stops to a stand, slowing into
corners and turning on the spot. (The planned engine's first pass, used by motion_model/engine/stepping.py.)

Halts split the path into legs: the plan's stops (moved by up to STOP_SEARCH m to where both feet stand flat),
the path's sharp corners (turning by more than pivot_angle within pivot_window m: the root stops on the corner
and turns on the spot) and the path's end when the episode ends standing. Along a leg the speed limit is the
plan's cruise speed times the stair slowdown, capped where the path curves so that v^2 * curvature stays under
the lateral acceleration; a backward pass lowers it so that the root can slow down (at decel) for every curve
and halt ahead, and the root speeds up at accel. The heading is the path's tangent smoothed over
heading_smoothing m, each side of a sharp corner on its own. The course is rounded a little in time
(corner_rounding) so that the root does not turn a polyline's corner within one frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motion_model.body.legs import footprint_spread, rotate2, wrap_angle
from motion_model.engine import pacing
from motion_model.engine.gait import gait_cycle, standing_pose
from motion_model.engine.pacing import lateral_accel
from motion_model.engine.synthesis import PathCurve, riser_ahead, stair_slowdown
from terrain.polyline import Polyline

PATH_SPACING = 0.05  # m between path samples, so that the heading is smoothed over arc length on any polyline
PROFILE_STEP = 0.02  # m between the speed limit's samples
STOP_SEARCH = 0.4  # m a stop may move to stand flat (less at the path's end: END_SEARCH)
END_SEARCH = 0.25  # m
MERGE = 0.05  # m: halts closer than this are one
RUN_OUT = 4.0  # m walked past the path's end when the episode does not end standing (footholds for the last steps)
RUN_IN = 3.0  # m walked (and cut) before the start of an episode that starts in motion: its first steps have footholds
MIN_SPEED = 0.03  # m/s: a travelling root never creeps slower
RISER = 0.03  # m: a height change over 5 cm of path this large is a step's riser


@dataclass
class Travel:
    """Per frame (T,): arc length s (m), the root's ground point xy (T, 2), heading yaw (rad, unwrapped), speed
    along the path (m/s), turn rate (rad/s), standing (bool: the body stands still), stairs (bool: a riser
    is near); keep: the episode's frames, a slice (the rest is run-in before the path's start and run-out
    past its end)."""

    s: np.ndarray
    xy: np.ndarray
    yaw: np.ndarray
    speed: np.ndarray
    turn: np.ndarray
    standing: np.ndarray
    stairs: np.ndarray
    keep: slice


@dataclass(frozen=True)
class Halt:
    """Where the root comes to rest: arc length, seconds standing there, and whether it then turns on the spot
    to the heading past a sharp corner."""

    at: float
    stand: float
    turn: bool


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


class Route:
    """A path split at its sharp corners into pieces, each with its own smoothed heading, unwrapped so that
    each corner turns by less than half a turn; positions along the whole path; the stairs along it."""

    def __init__(self, terrain, path, smoothing, behaviour):
        points = densify(path, PATH_SPACING)
        if len(points) < 2:
            raise ValueError("the path needs at least two distinct points")
        self.curve = PathCurve.from_points(points, smoothing)
        self.stairs = Stairs.along(terrain, self.curve)
        arc = Polyline(points).arc
        cuts = sharp_corners(points, behaviour.pivot_angle, behaviour.pivot_window)
        bounds = [0] + cuts + [len(points) - 1]
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


def standing_spot(terrain, route, s, low, high, tolerance, search=STOP_SEARCH):
    """The arc length nearest s within [low, high] and `search` m where both feet of the standing pose rest
    flat (each sole within `tolerance` of one plane: a whole tread, not across a step's edge); the flattest
    when there is none."""
    candidates = np.clip(s + np.arange(-search, search + 1e-9, PROFILE_STEP), low, max(low, high))
    yaw = route.heading(route.piece(s), candidates)
    stand = standing_pose()
    centres = route.position(candidates)[:, None] + rotate2(yaw[:, None], stand.soles)
    spread = footprint_spread(terrain, centres, yaw[:, None] + stand.foot_yaw).max(-1)
    cost = np.where(spread <= tolerance, np.abs(candidates - s), 1e3 + spread)
    return float(candidates[np.argmin(cost)])


def plan_halts(terrain, route, plan, tolerance):
    """The Halts of a plan on a route, in order: sharp corners, stops moved to flat ground, the standing end."""
    halts = [Halt(float(c), 0.0, True) for c in route.corners]
    bounds = np.r_[0.0, route.corners, route.length]
    last = route.length - MERGE if plan.end_standing else route.length
    for stop in plan.stops():
        at = min(stop.at, last)
        k = route.piece(at)
        halts.append(
            Halt(
                standing_spot(terrain, route, at, bounds[k] + MERGE, bounds[k + 1] - MERGE, tolerance),
                stop.seconds,
                False,
            )
        )
    if plan.end_standing:
        low = max(route.length - END_SEARCH, bounds[-2] + MERGE if len(bounds) > 2 else 0.0)
        at = standing_spot(terrain, route, route.length, low, route.length, tolerance, search=END_SEARCH)
        halts.append(Halt(at, plan.end_standing, False))
    merged = []
    for h in sorted(halts, key=lambda h: h.at):
        if merged and h.at - merged[-1].at < MERGE:
            m = merged.pop()
            h = Halt(m.at if m.turn else h.at, max(m.stand, h.stand), m.turn or h.turn)
        merged.append(h)
    return merged


@dataclass(frozen=True)
class Leg:
    """The travel from arc length `start` in route piece `piece` to `halt`, coming to rest there when `rests`
    (it runs on past the path's end otherwise)."""

    start: float
    halt: Halt
    piece: int
    rests: bool


def speed_limit(route, leg, plan, slow, behaviour):
    """Arc lengths (N,) along a Leg and the speed limit there (N,), m/s, that the root can keep while slowing
    at decel for every curve ahead and, when the leg rests, to rest at its end. slow: the stair slowdown (a
    function of arc length). On stairs the root climbs one tread per step at stair_cadence."""
    start, end = leg.start, leg.halt.at
    grid = np.linspace(start, end, max(int(np.ceil((end - start) / PROFILE_STEP)), 1) + 1)
    cruise = np.array([plan.speed_at(max(x, 0.0)) for x in grid])
    lateral = lateral_accel(cruise, behaviour.lateral_accel)
    curvature = np.maximum(np.abs(route.curvature(leg.piece, grid)), 1e-6)
    step_time = gait_cycle("walk").duration / (2 * behaviour.stair_cadence)
    stairs = route.stairs
    allowed = cruise * np.array([slow(x) for x in grid])
    allowed = np.where(
        stairs.near(grid), np.minimum(allowed, np.interp(grid, stairs.s, stairs.tread) / step_time), allowed
    )
    if leg.rests:
        allowed[-1] = 0.0
    return grid, pacing.speed_limit(grid, allowed, curvature, lateral, behaviour.decel)


class _Course:
    """The frames of a travel, appended one activity at a time: standing, turning on the spot, a leg."""

    def __init__(self, fps, s, yaw, speed, standing):
        self.fps = fps
        self.rows = [(s, yaw, speed, standing)]  # arc length, heading, speed, standing

    def stand(self, seconds):
        """Stand still for `seconds` from the last frame on (the root is at rest there)."""
        if seconds <= 0:
            return
        s, yaw = self.rows[-1][:2]
        self.rows[-1] = (s, yaw, 0.0, True)
        self.rows += [(s, yaw, 0.0, True)] * round(seconds * self.fps)

    def turn(self, target, behaviour):
        """Turn on the spot to heading `target`: the turn rate eases in and out over turn_ease."""
        s, yaw = self.rows[-1][:2]
        delta, ease = target - yaw, behaviour.turn_ease
        if abs(delta) < 1e-3:
            return
        duration = abs(delta) / behaviour.turn_rate + ease
        t = np.linspace(0.0, duration, max(int(np.ceil(duration * self.fps)), 2) + 1)
        rate = np.sin(np.pi / 2 * np.clip(np.minimum(t, duration - t) / ease, 0.0, 1.0)) ** 2
        done = np.cumsum(rate)
        done = (done - done[0]) / (done[-1] - done[0])
        self.rows += [(s, yaw + delta * f, 0.0, False) for f in done[1:]]

    def leg(self, route, k, end, limit, halt, accel):
        """Travel to arc length `end` in piece k under the speed limit, coming to rest there when `halt`."""
        grid, cap = limit
        s, _, v, _ = self.rows[-1]
        dt = 1.0 / self.fps
        while s < end:
            if halt and end - s <= max(v * dt, 1e-3):
                self.rows.append((end, float(route.heading(k, end)), 0.0, False))
                return
            v = max(min(v + accel * dt, float(np.interp(s, grid, cap))), MIN_SPEED)
            s += v * dt
            self.rows.append((s, float(route.heading(k, s)), v, False))


def plan_legs(terrain, route, plan, tolerance):
    """The Legs of a plan on a route: between the halts, and past the path's end when not ending standing."""
    halts = plan_halts(terrain, route, plan, tolerance)
    ends = halts if plan.end_standing else halts + [Halt(route.length + RUN_OUT, 0.0, False)]
    starts = [0.0] + [h.at for h in ends[:-1]]
    pieces = np.cumsum([0] + [h.turn for h in ends[:-1]])
    return [Leg(a, h, int(k), i < len(halts)) for i, (a, h, k) in enumerate(zip(starts, ends, pieces))]


def plan_travel(terrain, path, plan, config):
    """The Travel of a SpeedPlan along `path` (P, 2) over `terrain` (config: a SynthesisConfig)."""
    behaviour = config.behaviour
    route = Route(terrain, path, config.heading_smoothing, behaviour)
    slow = stair_slowdown(terrain, route.curve, config)
    along = float(route.heading(0, 0.0))
    yaw = along if plan.start_heading is None else along - wrap_angle(along - plan.start_heading)
    cruising = not plan.start_standing and yaw == along
    legs = plan_legs(terrain, route, plan, config.flat_tolerance)
    if cruising:
        legs[0] = replace(legs[0], start=-RUN_IN)
    limits = [speed_limit(route, leg, plan, slow, behaviour) for leg in legs]

    course = _Course(config.fps, legs[0].start, yaw, limits[0][1][0] if cruising else 0.0, bool(plan.start_standing))
    course.stand(plan.start_standing)
    course.turn(along, behaviour)
    for leg, limit in zip(legs, limits):
        if leg.halt.at - leg.start >= MERGE:  # a halt right after another is stood at the same spot
            course.leg(route, leg.piece, leg.halt.at, limit, leg.rests, behaviour.accel)
        course.stand(leg.halt.stand)
        if leg.halt.turn:
            course.turn(float(route.heading(leg.piece + 1, leg.halt.at)), behaviour)

    s, yaw, speed, standing = (np.array(x) for x in zip(*course.rows))
    xy = route.position(s)
    if behaviour.corner_rounding > 0:
        xy = gaussian_filter1d(xy, behaviour.corner_rounding * config.fps, axis=0, mode="nearest")
    first = int(np.searchsorted(s, 0.0))
    end = len(s) if plan.end_standing else int(np.searchsorted(s, route.length, side="right")) + 1
    return Travel(
        s,
        xy,
        yaw,
        speed,
        np.gradient(yaw) * config.fps,
        standing.astype(bool),
        route.stairs.near(s),
        slice(first, min(end, len(s))),
    )
