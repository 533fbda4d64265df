"""The path follower: the command (motion_model/learner/command.py) for a character on a path, planned afresh each step.

From the character's place on the path (its projection, searched near where the plan had it, so that the other
leg of a U-turn is never taken for its own), a plan steps frame by frame over the command's horizon:
  moving   the speed rises at `accel` up to the limit of the engine's speed_limit (pacing.py): the cruise speed,
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

import bisect
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from motion_model.engine import (
    HEADING_SMOOTHING,
    BehaviourConfig,
    Cruise,
    lateral_accel,
    piece_headings,
    sampled_halts,
    sharp_corners,
    speed_limit,
    stair_factors,
)
from motion_model.learner.command import Command
from terrain.polyline import Polyline

SPACING = 0.05  # m between the plan's path samples
# The engine's limits (motion_model/engine/speed_plan.py): the follower asks for what the training data holds.
BEHAVIOUR = BehaviourConfig()
TURN_START = math.radians(20)  # rad: at rest and facing further away from the path ahead, turn on the spot
TURN_RATE, TURN_EASE = BEHAVIOUR.turn_rate, BEHAVIOUR.turn_ease  # rad/s at most, s to reach it from rest
LEG_AHEAD = 0.5  # m: "the path ahead" that a turn on the spot faces
CONVERGE_TIME = 0.5  # s: time constant of the command's return from beside the path onto it
CREEP = 0.05  # m/s: the slowest a moving plan goes, so that it arrives at a halt
SEARCH = 1.5  # m either side of the plan's place in which the character's projection is searched
REST_SPEED, REST_TIME = 0.05, 1.0  # m/s over s: the root counts as standing still (the goal is reached so)


@dataclass(frozen=True)
class FollowerConfig:
    """How the follower plans: the model's window (fps, and command_frames: the command's times, frames after
    the reference frame), the pace of a ControllerConfig (accel and decel in m/s^2, lateral_accel: walking and
    running, m/s^2) and the fastest turn on the spot (turn_rate, rad/s)."""

    fps: float
    command_frames: tuple[int, ...]
    accel: float
    decel: float
    lateral_accel: tuple[float, float]
    turn_rate: float = TURN_RATE

    @classmethod
    def of(cls, config, window, turn_rate=TURN_RATE):
        """The FollowerConfig of a ControllerConfig `config` for a model's WindowConfig `window`."""
        return cls(
            fps=window.fps,
            command_frames=tuple(window.command_frames),
            accel=config.accel,
            decel=config.decel,
            lateral_accel=config.lateral_accel,
            turn_rate=turn_rate,
        )


class PlanState(NamedTuple):
    """The plan at one frame (a NamedTuple: the plan makes one per frame, and _replace is cheap)."""

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


def root_speed(xy, fps):
    """Mean horizontal speed (m/s) over root positions xy (T, 2): first to last, over the T - 1 frames between."""
    return float(np.linalg.norm(xy[-1] - xy[0]) * fps / max(len(xy) - 1, 1))


def wrap(angle):
    """Angle (rad) wrapped into [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


class PathFollower:
    """Commands for one character along `path` (P, 2) at `cruise` m/s over `terrain`, standing still at `stops`
    (speed_plan.Stop records) and at `waits` (halts.Wait records: a timed route's keyframes), setting off facing
    `heading` (rad; None: along the path).

    config: a FollowerConfig (the model's window, the pace and the turn rate). `command(xy, yaw)` plans from
    the character's root xy and heading; `advance(frames)` moves the plan on by the frames the controller
    committed of it.
    """

    def __init__(self, path, cruise, terrain, config: FollowerConfig, stops=(), heading=None, waits=()):
        line = Polyline(np.asarray(path, dtype=np.float64))
        self.line = line.resample(SPACING) if line.length > SPACING else Polyline(line.points[[0, -1]])
        self.fps = config.fps
        self.frames = np.asarray(config.command_frames)
        self.config = config
        corners = self.line.arc[sharp_corners(self.line.points, BEHAVIOUR.pivot_angle, BEHAVIOUR.pivot_window)]
        self.heading, self.curvature = piece_headings(self.line, corners, SPACING, HEADING_SMOOTHING)
        self.halts = sampled_halts(self.line.arc, corners, stops, waits)
        self.stairs = stair_factors(terrain, self.line)
        self.set_cruise([Cruise(at=0.0, speed=cruise)])
        yaw = float(self.heading[0] if heading is None else heading)
        self.state = PlanState(t=0.0, s=0.0, speed=0.0, yaw=yaw, turn_rate=0.0, halt=0, halted_at=None, held_at=0.0)
        self.plan = None
        # The plan's per-frame look-ups on Python lists (_interp): numpy's per-call overhead on one float was
        # most of a step's Python time.
        self._arc, self._x, self._y = (a.tolist() for a in (self.line.arc, *self.line.points.T))
        self._heading = self.heading.tolist()

    def set_cruise(self, cruises):
        """Cruise at the speeds of `cruises` (speed_plan.Cruise records, the first at 0 m) from the next command
        on: a timed route (controller/timing.py) sets each leg's speed so that it arrives on time."""
        arc = self.line.arc
        starts = np.array([c.at for c in cruises])
        cruise = np.array([c.speed for c in cruises])[np.searchsorted(starts, arc, side="right") - 1]
        cruise_at = cruise * self.stairs
        for halt in self.halts:
            cruise_at[np.searchsorted(arc, halt.at)] = 0.0
        lateral = lateral_accel(cruise, self.config.lateral_accel)
        self.limit = speed_limit(arc, cruise_at, self.curvature, lateral, self.config.decel)
        self._limit = self.limit.tolist()

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

    def place_of(self, xy):
        """Where (m along the path) a character at root xy (2,) is, searched near the plan's place."""
        return self._anchored(np.asarray(xy, dtype=np.float64), self.state.yaw).s

    def advance(self, frames):
        """The controller committed the first `frames` frames of the last command's plan."""
        self.state = self.plan[min(frames, len(self.plan) - 1)]

    def _anchored(self, xy, yaw):
        """The plan's state with the character's place on the path and its heading."""
        st = self.state
        if st.halted_at is None:
            lo, hi = np.searchsorted(self.line.arc, [st.s - SEARCH, st.s + SEARCH])
            piece = Polyline(self.line.points[max(lo - 1, 0) : hi + 1])
            s = float(self.line.arc[max(lo - 1, 0)]) + float(piece.project(xy).s)  # floats: numpy scalars are slow
            st = st._replace(s=min(s, self.halts[st.halt].at))
        return st._replace(yaw=yaw)

    def _step(self, st, dt):
        """The plan one frame of dt s on."""
        t = st.t + dt
        if st.halted_at is not None:
            halt = self.halts[st.halt]
            if t < max(st.halted_at + halt.seconds, halt.until):
                return st._replace(t=t, speed=0.0, turn_rate=0.0, held_at=t)
            st = st._replace(halted_at=None, halt=st.halt + 1)
        if st.speed < CREEP:  # only a plan at rest turns on the spot: moving, the path ahead is not looked up
            error = self._error_ahead(st)
            if abs(error) > TURN_START or st.turn_rate != 0.0:
                return st._replace(
                    t=t,
                    speed=0.0,
                    held_at=t,
                    **turn_on_the_spot(st.yaw, st.turn_rate, error, dt, self.config.turn_rate),
                )
        arc, at = self._arc, self.halts[st.halt].at
        speed = max(min(_interp(st.s, arc, self._limit), st.speed + self.config.accel * dt), CREEP)
        s = min(st.s + speed * dt, at)
        yaw = _interp(s, arc, self._heading)
        if s >= at:
            return PlanState(t=t, s=s, speed=0.0, yaw=yaw, turn_rate=0.0, halt=st.halt, halted_at=t, held_at=t)
        return PlanState(
            t=t, s=s, speed=speed, yaw=yaw, turn_rate=0.0, halt=st.halt, halted_at=st.halted_at, held_at=st.held_at
        )

    def _error_ahead(self, st):
        """Angle (rad) from the facing st.yaw to the path LEG_AHEAD m on from st.s; 0 where the path ends there."""
        arc, ahead = self._arc, min(st.s + LEG_AHEAD, self.length)
        ax = _interp(ahead, arc, self._x) - _interp(st.s, arc, self._x)
        ay = _interp(ahead, arc, self._y) - _interp(st.s, arc, self._y)
        return wrap(math.atan2(ay, ax) - st.yaw) if ax * ax + ay * ay > 1e-6 else 0.0


def _interp(x, xp, fp):
    """np.interp(x, xp, fp) for one float x on Python lists xp (ascending) and fp: the same arithmetic as
    numpy's, so the same result to the bit (checked by tests/test_follower.py), without numpy's per-call
    overhead (the plan looks up two values a frame)."""
    if x >= xp[-1]:
        return fp[-1]
    if x < xp[0]:
        return fp[0]
    j = bisect.bisect_right(xp, x) - 1
    if x == xp[j]:
        return fp[j]
    return (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]) * (x - xp[j]) + fp[j]


def turn_on_the_spot(yaw, rate, error, dt, most=TURN_RATE):
    """The next yaw and turn_rate of a turn on the spot `error` rad short of its aim, turning at `rate`: the
    rate eases towards `most` (rad/s) within TURN_EASE and back to rest on arrival."""
    alpha = most / TURN_EASE
    wanted = math.copysign(min(most, math.sqrt(2.0 * alpha * abs(error))), error)
    rate = rate + min(max(wanted - rate, -alpha * dt), alpha * dt)
    if abs(error) < math.radians(1.0) and abs(rate) <= 2.0 * alpha * dt:
        return {"yaw": yaw + error, "turn_rate": 0.0}
    return {"yaw": yaw + rate * dt, "turn_rate": rate}
