"""Halts: where the body comes to rest on its path, how long it stands there, and whether it then turns on the spot.

A path's halts are its sharp corners (motion_model/engine/route.py: the body stops on the corner and turns on the
spot to the heading past it), the plan's stops and the path's end. Two planners make them, one record: the
engine's (route_halts: on a PiecedRoute over terrain, for the training data, each stop moved to where both feet
of the standing pose rest flat, halts closer than MERGE made one) and the path follower's (sampled_halts: on the
follower's resampled path, each halt on a sample, the goal held for good, and the keyframe waits of a timed
route).

Arc lengths in metres, times in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from motion_model.body.legs import footprint_spread, rotate2
from motion_model.engine.gait import standing_pose
from motion_model.engine.route import MERGE, PROFILE_STEP

STOP_SEARCH = 0.4  # m a stop may move to stand flat (less at the path's end: END_SEARCH)
END_SEARCH = 0.25  # m


@dataclass(frozen=True)
class Halt:
    """Where the root comes to rest: arc length `at` (m), `seconds` standing there (inf at the follower's goal),
    whether it then turns on the spot to the heading past a sharp corner (`turn`), and the plan time (s) before
    which it does not set off again (`until`: a keyframe's wait; the engine's halts have none)."""

    at: float
    seconds: float
    turn: bool = False
    until: float = 0.0


@dataclass(frozen=True)
class Wait:
    """Come to rest at arc length `at` (m) and stand there until plan time `until` (s) at least."""

    at: float
    until: float


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


def route_halts(terrain, route, plan, tolerance):
    """The engine's Halts of a SpeedPlan on a PiecedRoute, in order: sharp corners, stops moved to flat ground,
    the standing end."""
    halts = [Halt(at=float(c), seconds=0.0, turn=True) for c in route.corners]
    bounds = np.r_[0.0, route.corners, route.length]
    last = route.length - MERGE if plan.end_standing else route.length
    for stop in plan.stops():
        at = min(stop.at, last)
        k = route.piece(at)
        spot = standing_spot(terrain, route, at, bounds[k] + MERGE, bounds[k + 1] - MERGE, tolerance)
        halts.append(Halt(at=spot, seconds=stop.seconds))
    if plan.end_standing:
        low = max(route.length - END_SEARCH, bounds[-2] + MERGE if len(bounds) > 2 else 0.0)
        at = standing_spot(terrain, route, route.length, low, route.length, tolerance, search=END_SEARCH)
        halts.append(Halt(at=at, seconds=plan.end_standing))
    merged = []
    for h in sorted(halts, key=lambda h: h.at):
        if merged and h.at - merged[-1].at < MERGE:
            m = merged.pop()
            h = Halt(at=m.at if m.turn else h.at, seconds=max(m.seconds, h.seconds), turn=m.turn or h.turn)
        merged.append(h)
    return merged


def sampled_halts(arc, corners, stops, waits=()):
    """The follower's Halts along a path with samples at arc lengths `arc`: its sharp corners (arc lengths),
    the stops (speed_plan.Stop records), the waits (Wait records), each on its nearest sample, and the goal."""
    halts = [Halt(at=float(c), seconds=0.0, turn=True) for c in corners]
    for stop in stops:
        if not (0.0 <= stop.at <= arc[-1] and 0.0 <= stop.seconds < math.inf):
            raise ValueError(
                f"a stop must lie on the path (0 to {arc[-1]:.2f} m) and last a finite time >= 0 s, "
                f"got {stop.at} m for {stop.seconds} s"
            )
        halts.append(Halt(at=float(arc[np.abs(arc - stop.at).argmin()]), seconds=float(stop.seconds)))
    halts += [Halt(at=float(arc[np.abs(arc - w.at).argmin()]), seconds=0.0, until=float(w.until)) for w in waits]
    ordered = sorted((h for h in halts if h.at < arc[-1]), key=lambda h: h.at)
    return ordered + [Halt(at=float(arc[-1]), seconds=math.inf)]
