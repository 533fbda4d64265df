"""The root's travel along a path under a speed plan: frame by frame, where its ground point is, which way the
body faces, how fast it goes and whether it stands. Starts from standing, stops to a stand, slowing into
corners and turning on the spot. (The planned engine's first pass, used by motion_model/engine/stepping.py.)

Halts (motion_model/engine/halts.py) split the path into legs: the plan's stops (moved by up to STOP_SEARCH m
to where both feet stand flat), the path's sharp corners (motion_model/engine/route.py: turning by more than
pivot_angle within pivot_window m; the root stops on the corner and turns on the spot) and the path's end
when the episode ends standing. Along a leg the speed limit is the plan's cruise speed times the stair
slowdown, capped where the path curves so that v^2 * curvature stays under the lateral acceleration; a
backward pass lowers it so that the root can slow down (at decel) for every curve and halt ahead, and the
root speeds up at accel. The heading is the path's tangent smoothed over
heading_smoothing m, each side of a sharp corner on its own. The course is rounded a little in time
(corner_rounding) so that the root does not turn a polyline's corner within one frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motion_model.body.legs import wrap_angle
from motion_model.engine.gait import gait_cycle
from motion_model.engine.halts import Halt, route_halts
from motion_model.engine.pacing import lateral_accel, speed_limit
from motion_model.engine.route import MERGE, PROFILE_STEP, PiecedRoute, stair_slowdown

RUN_OUT = 4.0  # m walked past the path's end when the episode does not end standing (footholds for the last steps)
RUN_IN = 3.0  # m walked (and cut) before the start of an episode that starts in motion: its first steps have footholds
MIN_SPEED = 0.03  # m/s: a travelling root never creeps slower


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
class Leg:
    """The travel from arc length `start` in route piece `piece` to `halt`, coming to rest there when `rests`
    (it runs on past the path's end otherwise)."""

    start: float
    halt: Halt
    piece: int
    rests: bool


def leg_speed_limit(route, leg, plan, slow, behaviour):
    """The SpeedLimit along a Leg: arc lengths (N,) and the speed (N,), m/s, that the root can keep while slowing
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
    return SpeedLimit(s=grid, limit=speed_limit(grid, allowed, curvature, lateral, behaviour.decel))


class CourseFrame(NamedTuple):
    """One frame of a course: arc length (m), heading (rad), speed (m/s) and whether the body stands."""

    s: float
    yaw: float
    speed: float
    standing: bool


class SpeedLimit(NamedTuple):
    """A leg's speed limit (N,) in m/s at arc lengths s (N,)."""

    s: np.ndarray
    limit: np.ndarray


class _Course:
    """The frames of a travel, appended one activity at a time: standing, turning on the spot, a leg."""

    def __init__(self, fps, start):
        self.fps = fps
        self.rows = [start]  # CourseFrames

    def stand(self, seconds):
        """Stand still for `seconds` from the last frame on (the root is at rest there)."""
        if seconds <= 0:
            return
        s, yaw = self.rows[-1].s, self.rows[-1].yaw
        self.rows[-1] = CourseFrame(s=s, yaw=yaw, speed=0.0, standing=True)
        self.rows += [CourseFrame(s=s, yaw=yaw, speed=0.0, standing=True)] * round(seconds * self.fps)

    def turn(self, target, behaviour):
        """Turn on the spot to heading `target`: the turn rate eases in and out over turn_ease."""
        s, yaw = self.rows[-1].s, self.rows[-1].yaw
        delta, ease = target - yaw, behaviour.turn_ease
        if abs(delta) < 1e-3:
            return
        duration = abs(delta) / behaviour.turn_rate + ease
        t = np.linspace(0.0, duration, max(int(np.ceil(duration * self.fps)), 2) + 1)
        rate = np.sin(np.pi / 2 * np.clip(np.minimum(t, duration - t) / ease, 0.0, 1.0)) ** 2
        done = np.cumsum(rate)
        done = (done - done[0]) / (done[-1] - done[0])
        self.rows += [CourseFrame(s=s, yaw=yaw + delta * f, speed=0.0, standing=False) for f in done[1:]]

    def leg(self, route, k, end, limit, halt, accel):
        """Travel to arc length `end` in piece k under the speed limit, coming to rest there when `halt`."""
        grid, cap = limit
        s, v = self.rows[-1].s, self.rows[-1].speed
        dt = 1.0 / self.fps
        while s < end:
            if halt and end - s <= max(v * dt, 1e-3):
                self.rows.append(CourseFrame(s=end, yaw=float(route.heading(k, end)), speed=0.0, standing=False))
                return
            v = max(min(v + accel * dt, float(np.interp(s, grid, cap))), MIN_SPEED)
            s += v * dt
            self.rows.append(CourseFrame(s=s, yaw=float(route.heading(k, s)), speed=v, standing=False))


def plan_legs(terrain, route, plan, tolerance):
    """The Legs of a plan on a route: between the halts, and past the path's end when not ending standing."""
    halts = route_halts(terrain, route, plan, tolerance)
    ends = halts if plan.end_standing else halts + [Halt(at=route.length + RUN_OUT, seconds=0.0)]
    starts = [0.0] + [h.at for h in ends[:-1]]
    pieces = np.cumsum([0] + [h.turn for h in ends[:-1]])
    return [
        Leg(start=a, halt=h, piece=int(k), rests=i < len(halts))
        for i, (a, h, k) in enumerate(zip(starts, ends, pieces))
    ]


def plan_travel(terrain, path, plan, config):
    """The Travel of a SpeedPlan along `path` (P, 2) over `terrain` (config: a SynthesisConfig)."""
    behaviour = config.behaviour
    route = PiecedRoute(terrain, path, config.heading_smoothing, behaviour)
    slow = stair_slowdown(terrain, route.curve, config.stair_slowdown)
    along = float(route.heading(0, 0.0))
    yaw = along if plan.start_heading is None else along - wrap_angle(along - plan.start_heading)
    cruising = not plan.start_standing and yaw == along
    legs = plan_legs(terrain, route, plan, config.flat_tolerance)
    if cruising:
        legs[0] = replace(legs[0], start=-RUN_IN)
    limits = [leg_speed_limit(route, leg, plan, slow, behaviour) for leg in legs]

    start = CourseFrame(
        s=legs[0].start, yaw=yaw, speed=limits[0].limit[0] if cruising else 0.0, standing=bool(plan.start_standing)
    )
    course = _Course(config.fps, start)
    course.stand(plan.start_standing)
    course.turn(along, behaviour)
    for leg, limit in zip(legs, limits):
        if leg.halt.at - leg.start >= MERGE:  # a halt right after another is stood at the same spot
            course.leg(route, leg.piece, leg.halt.at, limit, leg.rests, behaviour.accel)
        course.stand(leg.halt.seconds)
        if leg.halt.turn:
            course.turn(float(route.heading(leg.piece + 1, leg.halt.at)), behaviour)

    s, yaw, speed, standing = (np.array(x) for x in zip(*course.rows))
    xy = route.position(s)
    if behaviour.corner_rounding > 0:
        xy = gaussian_filter1d(xy, behaviour.corner_rounding * config.fps, axis=0, mode="nearest")
    first = int(np.searchsorted(s, 0.0))
    end = len(s) if plan.end_standing else int(np.searchsorted(s, route.length, side="right")) + 1
    return Travel(
        s=s,
        xy=xy,
        yaw=yaw,
        speed=speed,
        turn=np.gradient(yaw) * config.fps,
        standing=standing.astype(bool),
        stairs=route.stairs.near(s),
        keep=slice(first, min(end, len(s))),
    )
