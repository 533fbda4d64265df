"""Keyframes: the root at a place, facing a way, at a time; visited in time order on the way to the goal.

  Keyframe(t, xy, heading)   t s of motion from the start, xy world m, heading rad of world yaw (None: any)
  parse_keyframe(text)       the CLI's form, "t=6 x=4.0 y=1.5 heading=90" (heading in degrees)
  check_keyframes(...)       refuses times out of order or past the time limit, places off the walkable ground
  keyed_route(...)           the route start -> keyframes -> goal, planned around obstacles between them, each
                             keyframe with a heading met on a straight piece along it (approached and left that
                             way, so that the character faces it there without turning on the move)

The timing (which speed on each leg, where to wait) is controller/timing.py's; imposing the root there at
the keyframe's time is controller/inpaint.py's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from configs.typed import shown
from controller.follower import wrap
from terrain.planning import UnreachableGoal, plan_path, traversable
from terrain.polyline import Polyline

EXAMPLE = '"t=6 x=4.0 y=1.5 heading=90"'
MIN_TIME = 0.5  # s: the earliest keyframe (the first segment must have frames before it to reach it)
LEADS = (0.75, 0.4)  # m of straight route either side of a keyframe with a heading, longest that fits first


@dataclass(frozen=True)
class Keyframe:
    t: float  # s of motion from the start
    xy: tuple  # world m
    heading: float | None = None  # rad of world yaw (counter-clockwise from +X); None leaves the facing free

    def name(self, index):
        """How errors name it: its number (1-based) and values."""
        x, y = self.xy
        return f"keyframe {index + 1} (t={self.t:g} s at x={x:g}, y={y:g})"


def parse_keyframe(text):
    """A Keyframe from "t=6 x=4.0 y=1.5 heading=90" (t s, x and y world m, optional heading in degrees of world
    yaw); ValueError naming the problem and the form."""
    values, named = {}, shown(str(text))
    for item in str(text).split():
        key, sep, value = item.partition("=")
        if not sep or key not in ("t", "x", "y", "heading") or key in values:
            raise ValueError(
                f"keyframe {named}: {shown(item)} is not one of t=, x=, y=, heading= (once each): write {EXAMPLE}"
            )
        try:
            values[key] = float(value)
        except ValueError:
            raise ValueError(f"keyframe {named}: {key}={shown(value)} is not a number: write {EXAMPLE}") from None
        if not math.isfinite(values[key]):
            raise ValueError(f"keyframe {named}: {key} must be a finite number: write {EXAMPLE}")
    missing = [k for k in ("t", "x", "y") if k not in values]
    if missing:
        raise ValueError(f"keyframe {named} lacks {', '.join(missing)}: write {EXAMPLE}")
    heading = values.get("heading")
    return Keyframe(values["t"], (values["x"], values["y"]), None if heading is None else math.radians(heading))


def check_keyframes(terrain, keyframes, time_limit):
    """ValueError naming the first keyframe whose time is not after the one before (nor MIN_TIME after the
    start) or not before the time limit, or whose place is off the terrain or not walkable ground."""
    before = MIN_TIME
    for i, key in enumerate(keyframes):
        xy = np.asarray(key.xy, dtype=np.float64)
        heading = math.inf if key.heading is None else key.heading
        if not (math.isfinite(key.t) and xy.shape == (2,) and np.isfinite(xy).all() and not math.isnan(heading)):
            raise ValueError(f"keyframe {i + 1}: t, x, y and heading must be finite numbers, got {key}")
        if key.t < before:
            first = f"at least {MIN_TIME:g} s" if i == 0 else "later than the one before"
            raise ValueError(f"{key.name(i)} must come {first}: give the keyframes ascending times")
        if key.t >= time_limit:
            raise ValueError(
                f"{key.name(i)} is not before the time limit of {time_limit:g} s: give an earlier time or raise "
                "the time limit (--time-limit)"
            )
        lo, hi = terrain.bounds()
        if not terrain.contains(xy):
            raise ValueError(
                f"{key.name(i)} is off the terrain: keep x in {lo[0]:.2f}..{hi[0]:.2f} and "
                f"y in {lo[1]:.2f}..{hi[1]:.2f} m"
            )
        if not traversable(terrain, xy):
            raise ValueError(
                f"{key.name(i)} is inside an obstacle or on ground too steep to stand on (or within 0.3 m of "
                "one): move it onto walkable ground"
            )
        before = key.t + 1e-9


@dataclass(frozen=True)
class KeyedRoute:
    path: np.ndarray  # (P, 2) world m, from the start through every keyframe to the goal
    arcs: np.ndarray  # (K,) m along the path of each keyframe


def keyed_route(terrain, start, goal, keyframes, end_heading=None):
    """The KeyedRoute from `start` through `keyframes` (checked: check_keyframes) to `goal` (world xy), the goal
    approached along `end_heading` (rad) if given. ValueError naming a keyframe the planner cannot reach."""
    stops = [(np.asarray(k.xy, dtype=np.float64), k.heading, k.name(i)) for i, k in enumerate(keyframes)]
    stops.append((np.asarray(goal, dtype=np.float64), end_heading, "the goal"))
    legs, here, arcs, length = [], np.asarray(start, dtype=np.float64), [], 0.0
    for index, (xy, heading, name) in enumerate(stops):
        lead_in, lead_out = _leads(terrain, xy, heading, last=index == len(stops) - 1)
        for point in [p for p in (lead_in, xy) if p is not None]:
            if np.linalg.norm(point - here) > 1e-6:
                legs.append(_plan(terrain, here, point, name))
                length += Polyline(legs[-1]).length
                here = point
        arcs.append(length)
        if lead_out is not None:
            legs.append(np.stack([xy, lead_out]))
            length += float(np.linalg.norm(lead_out - xy))
            here = lead_out
    path = np.concatenate([legs[0]] + [leg[1:] for leg in legs[1:]]) if legs else np.stack([here, here])
    return KeyedRoute(path, np.array(arcs[:-1]))


def _leads(terrain, xy, heading, last):
    """The points (or None) a straight piece along `heading` starts and ends at around `xy`: the longest of
    LEADS whose piece is walkable; none without a heading, no lead-out at the goal."""
    if heading is None:
        return None, None
    direction = np.array([math.cos(heading), math.sin(heading)])
    for lead in LEADS:
        ends = [xy - lead * direction] + ([] if last else [xy + lead * direction])
        pieces = [np.linspace(xy, end, 9) for end in ends]
        if all(terrain.contains(p).all() and traversable(terrain, p).all() for p in pieces):
            return ends[0], (None if last else ends[1])
    return None, None


def _plan(terrain, a, b, name):
    """plan_path from a to b; ValueError naming `name` when no route joins them."""
    try:
        return plan_path(terrain, start=a, goal=b)
    except UnreachableGoal:
        raise ValueError(
            f"{name} cannot be reached on walkable ground from the point before it (it is on or inside an "
            "obstacle, or cut off by one): move it, or the keyframe before it"
        ) from None


@dataclass(frozen=True)
class KeyframeError:
    root: float  # m of the root's ground position from the keyframe's place, at its frame
    heading: float | None  # deg of its facing from the keyframe's heading (None: the keyframe has none)


def keyframe_errors(motion, keyframes):
    """How far a Motion is from each keyframe at the keyframe's frame (the last frame for one beyond the end)."""
    from motion_model.body import quaternion as quat

    out = []
    for key in keyframes:
        n = min(int(round(key.t * motion.fps)), len(motion.root_pos) - 1)
        root = float(np.linalg.norm(motion.root_pos[n, :2] - np.asarray(key.xy)))
        heading = None
        if key.heading is not None:
            turn = wrap(quat.heading(motion.root_quat[n]) - key.heading)
            heading = abs(math.degrees(turn))
        out.append(KeyframeError(root, heading))
    return out
