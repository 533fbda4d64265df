"""The path follower: the command (motion_model/command.py) for a character on a path, planned afresh each step.

From the character's place on the path (its projection, searched near where the plan had it, so that the other
leg of a U-turn is never taken for its own), a plan steps frame by frame over the command's horizon:
  moving   the speed rises at `accel` up to the limit of motion_model.pacing.speed_limit: the cruise speed,
           slower on stairs as in the engine, capped where the path curves, and falling at `decel` in time for
           every halt ahead; the facing is the path's heading smoothed over HEADING_SMOOTHING m, as the engine's;
  halts    it comes to rest at sharp corners (the engine's: turning more than pivot_angle within pivot_window m,
           where the engine turns on the spot too), at the given stops for their seconds, and at the goal for good;
  turning  at rest and facing more than TURN_START away from the path ahead, it first turns on the spot, the
           turn rate easing in and out.
The command's positions are the plan's path points, blended from where the character is towards the path over
CONVERGE_TIME, so that a character beside the path is led back to it rather than told to jump there; its
speed is the mean speed of those positions over the horizon, 0 standing still. Once a step commits n frames,
the plan's state n frames on (speed, turn rate, halt, stand) carries over; place and heading are re-measured.
Arc lengths in metres, times in seconds, angles in radians (world yaw, counter-clockwise from +X).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motion_model.command import Command
from motion_model.pacing import lateral_accel, speed_limit
from motion_model.speed_plan import BehaviourConfig
from motion_model.synthesis import PathCurve, SynthesisConfig, stair_slowdown
from motion_model.travel import sharp_corners
from terrain.polyline import Polyline

SPACING = 0.05  # m between the plan's path samples
# The engine's limits (motion_model/speed_plan.py): the follower asks for what the training data holds.
BEHAVIOUR = BehaviourConfig()
HEADING_SMOOTHING = SynthesisConfig().heading_smoothing  # m (Gaussian sigma): the facing follows the path's heading
TURN_START = math.radians(20)  # rad: at rest and facing further away from the path ahead, turn on the spot
TURN_RATE, TURN_EASE = BEHAVIOUR.turn_rate, BEHAVIOUR.turn_ease  # rad/s at most, s to reach it from rest
LEG_AHEAD = 0.5  # m: "the path ahead" that a turn on the spot faces
CONVERGE_TIME = 0.5  # s: time constant of the command's return from beside the path onto it
CREEP = 0.05  # m/s: the slowest a moving plan goes, so that it arrives at a halt
SEARCH = 1.5  # m either side of the plan's place in which the character's projection is searched
REST_SPEED, REST_TIME = 0.05, 1.0  # m/s over s: the root counts as standing still (the goal is reached so)


@dataclass(frozen=True)
class Halt:
    at: float  # m of arc length (on a plan sample)
    seconds: float  # s standing there (inf at the goal)


@dataclass(frozen=True)
class PlanState:
    """The plan at one frame."""

    t: float  # s since the start
    s: float  # m along the path
    speed: float  # m/s along the path
    yaw: float  # rad, the facing
    turn_rate: float  # rad/s of a turn on the spot
    halt: int  # index of the next halt
    halted_at: float | None  # s at which it came to rest at that halt; None when not standing there
    held_at: float  # s: the last time the plan stood or turned on the spot (it did not mean to move)


def trailing_speed(xy, fps, seconds=REST_TIME):
    """Mean horizontal speed (T,) m/s of root positions xy (T, 2) over the `seconds` up to each frame (the root's
    path length over that time); nan where fewer frames precede."""
    n = int(round(seconds * fps))
    path = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=-1))])
    out = np.full(len(xy), np.nan)
    out[n:] = (path[n:] - path[: len(path) - n]) / seconds
    return out


def wrap(angle):
    """Angle (rad) wrapped into [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


class PathFollower:
    """Commands for one character along `path` (P, 2) at `cruise` m/s over `terrain`, standing still at `stops`
    (speed_plan.Stop records).

    config: a ControllerConfig (accel, decel, lateral_accel). fps and command_frames: the model's window.
    `command(xy, yaw)` plans from the character's root xy and heading; `advance(frames)` moves the plan on by
    the frames the controller committed of it.
    """

    def __init__(self, path, cruise, terrain, config, fps, command_frames, stops=(), heading=None, turn_rate=TURN_RATE):
        line = Polyline(np.asarray(path, dtype=np.float64))
        self.line = line.resample(SPACING) if line.length > SPACING else Polyline(line.points[[0, -1]])
        self.fps = fps
        self.frames = np.asarray(command_frames)
        self.config = config
        self.turn_rate = turn_rate  # rad/s turning on the spot, at most
        arc = self.line.arc
        corners = self.line.arc[sharp_corners(self.line.points, BEHAVIOUR.pivot_angle, BEHAVIOUR.pivot_window)]
        self.heading, curvature = piece_headings(self.line, corners)
        self.halts = plan_halts(arc, corners, stops)
        cruise_at = cruise * stair_factor(terrain, self.line)
        for halt in self.halts:
            cruise_at[np.searchsorted(arc, halt.at)] = 0.0
        self.limit = speed_limit(arc, cruise_at, curvature, lateral_accel(cruise, config.lateral_accel), config.decel)
        yaw = float(self.heading[0] if heading is None else heading)
        self.state = PlanState(0.0, 0.0, 0.0, yaw, 0.0, 0, None, 0.0)
        self.plan = None

    @property
    def length(self):
        return self.line.length

    @property
    def goal_time(self):
        """Plan time (s) at which it came to rest on the goal; None before."""
        st = self.state
        return st.halted_at if st.halt == len(self.halts) - 1 else None

    def command(self, xy, yaw):
        """The Command for a character at root xy (2,) with heading yaw (rad), in its reference frame."""
        start = self._anchored(np.asarray(xy, dtype=np.float64), float(yaw))
        self.place = start.s  # m along the path where the character is, searched near the plan's place
        states = [start]
        for _ in range(int(self.frames[-1])):
            states.append(self._step(states[-1], 1.0 / self.fps))
        self.plan = states
        times = self.frames / self.fps
        s = np.array([states[f].s for f in self.frames])
        offset = xy - self.line.point_at(start.s)
        positions = self.line.point_at(s) + offset * np.exp(-times / CONVERGE_TIME)[:, None]
        route = np.concatenate([np.asarray(xy, dtype=np.float64)[None], positions])
        speed = np.linalg.norm(np.diff(route, axis=0), axis=-1).sum() / times[-1]
        return Command.from_world(positions, [states[f].yaw for f in self.frames], xy, yaw, speed)

    def advance(self, frames):
        """The controller committed the first `frames` frames of the last command's plan."""
        self.state = self.plan[min(frames, len(self.plan) - 1)]

    def _anchored(self, xy, yaw):
        """The plan's state with the character's place on the path and its heading."""
        st = self.state
        if st.halted_at is None:
            lo, hi = np.searchsorted(self.line.arc, [st.s - SEARCH, st.s + SEARCH])
            piece = Polyline(self.line.points[max(lo - 1, 0) : hi + 1])
            s = self.line.arc[max(lo - 1, 0)] + float(piece.project(xy).s)
            st = replace(st, s=min(s, self.halts[st.halt].at))
        return replace(st, yaw=yaw)

    def _step(self, st, dt):
        """The plan one frame of dt s on."""
        t = st.t + dt
        if st.halted_at is not None:
            if t < st.halted_at + self.halts[st.halt].seconds:
                return replace(st, t=t, speed=0.0, turn_rate=0.0, held_at=t)
            st = replace(st, halted_at=None, halt=st.halt + 1)
        ahead = self.line.point_at(min(st.s + LEG_AHEAD, self.length)) - self.line.point_at(st.s)
        error = wrap(math.atan2(ahead[1], ahead[0]) - st.yaw) if ahead @ ahead > 1e-6 else 0.0
        if st.speed < CREEP and (abs(error) > TURN_START or st.turn_rate != 0.0):
            return replace(
                st, t=t, speed=0.0, held_at=t, **turn_on_the_spot(st.yaw, st.turn_rate, error, dt, self.turn_rate)
            )
        halt = self.halts[st.halt]
        limit = float(np.interp(st.s, self.line.arc, self.limit))
        speed = max(min(limit, st.speed + self.config.accel * dt), CREEP)
        s = min(st.s + speed * dt, halt.at)
        yaw = float(np.interp(s, self.line.arc, self.heading))
        if s >= halt.at:
            return replace(st, t=t, s=s, speed=0.0, yaw=yaw, turn_rate=0.0, halted_at=t, held_at=t)
        return replace(st, t=t, s=s, speed=speed, yaw=yaw, turn_rate=0.0)


def turn_on_the_spot(yaw, rate, error, dt, most=TURN_RATE):
    """The next yaw and turn_rate of a turn on the spot `error` rad short of its aim, turning at `rate`: the
    rate eases towards `most` (rad/s) within TURN_EASE and back to rest on arrival."""
    alpha = most / TURN_EASE
    wanted = math.copysign(min(most, math.sqrt(2.0 * alpha * abs(error))), error)
    rate = rate + float(np.clip(wanted - rate, -alpha * dt, alpha * dt))
    if abs(error) < math.radians(1.0) and abs(rate) <= 2.0 * alpha * dt:
        return {"yaw": yaw + error, "turn_rate": 0.0}
    return {"yaw": yaw + rate * dt, "turn_rate": rate}


def piece_headings(line, corners):
    """The heading (rad) and curvature (rad/m) at every sample of `line`, smoothed over HEADING_SMOOTHING m
    within each piece between sharp corners (a sharp corner is turned on the spot, not rounded); a corner's
    own sample has the heading of the piece before it."""
    bounds = np.r_[0, np.searchsorted(line.arc, corners), len(line.arc) - 1]
    heading, curvature = np.empty(len(line.arc)), np.zeros(len(line.arc))
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        g = np.gradient(line.points[a : b + 1], axis=0)
        smooth = gaussian_filter1d(np.unwrap(np.arctan2(g[:, 1], g[:, 0])), HEADING_SMOOTHING / SPACING, mode="nearest")
        first = a if k == 0 else a + 1
        heading[first : b + 1] = smooth[first - a :]
        curvature[first : b + 1] = np.gradient(smooth, line.arc[a : b + 1])[first - a :]
    return heading, curvature


def plan_halts(arc, corners, stops):
    """The Halts along a path with samples at arc lengths `arc`: its sharp corners, the stops, and the goal."""
    halts = [Halt(float(c), 0.0) for c in corners]
    for stop in stops:
        if not (0.0 <= stop.at <= arc[-1] and 0.0 <= stop.seconds < math.inf):
            raise ValueError(
                f"a stop must lie on the path (0 to {arc[-1]:.2f} m) and last a finite time >= 0 s, "
                f"got {stop.at} m for {stop.seconds} s"
            )
        halts.append(Halt(float(arc[np.abs(arc - stop.at).argmin()]), float(stop.seconds)))
    ordered = sorted((h for h in halts if h.at < arc[-1]), key=lambda h: h.at)
    return ordered + [Halt(float(arc[-1]), math.inf)]


def stair_factor(terrain, line):
    """The engine's slowdown on stairs and steps (synthesis.stair_slowdown) at every sample of `line`."""
    slow = stair_slowdown(terrain, PathCurve.from_points(line.points, HEADING_SMOOTHING), SynthesisConfig())
    return np.array([slow(s) for s in line.arc])
