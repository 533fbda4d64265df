"""Reaction times of a live-steered motion: from each command change to the motion carrying it out.

`measure(motion, command_log)` takes a Motion and the LiveController's command log (CommandRecords: from which
frame on, which direction and speed) and returns a Reaction per change, timed from the command's frame:
  turn N   the root's heading (yaw) within TURN_TOLERANCE of a new direction N degrees from the heading it had at
           the command, moving on ("turn N from standing" when it stood: the same floors)
  stop     the root slower than STOP_SPEED m/s after a stop (from a walk, or a run above RUN_FROM m/s)
  speed    the root moving at the new speed, within SPEED_TOLERANCE of it or SPEED_SLACK m/s
A change is measured until the next one (or the end of the motion); a reaction not reached by then has
seconds None. Each kind has a floor (what live steering must reach); on slopes and stairs the caller scales them.
Root speed is horizontal, over a window centred on each frame (a step's sway would read as speed changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from motion_model.body import quaternion as quat
from motion_model.body.legs import wrap_angle

TURN_TOLERANCE = math.radians(20.0)
TURN_MIN = math.radians(30.0)  # a direction change smaller than this is no turn to measure
STOP_SPEED = 0.05  # m/s
SPEED_TOLERANCE, SPEED_SLACK = 0.10, 0.1  # of the new speed, m/s: whichever is larger
RUN_FROM = 2.0  # m/s: a stop from faster counts as a stop from a run
STOP_WINDOW, SPEED_WINDOW = 0.2, 0.5  # s over which the root's speed is measured for a stop, for a new speed
FLOORS = {"turn 90": 0.8, "turn 180": 1.5, "stop from walk": 1.2, "stop from run": 2.0, "speed": 1.5}  # s


@dataclass(frozen=True)
class Reaction:
    kind: str  # "turn N" (N degrees), "turn N from standing", "stop from walk", "stop from run" or "speed"
    at: float  # s: the command's time in the motion
    detail: str  # what changed, e.g. "1.2 m/s, 0 -> 90 deg"
    seconds: float | None  # from the command to the motion carrying it out; None: not within the measured time
    floor: float  # s

    @property
    def passed(self):
        return self.seconds is not None and self.seconds <= self.floor


def measure(motion, command_log, floor_scale=1.0):
    """A Reaction for every change in `command_log` (CommandRecords, the first the initial state) that motion
    (Motion) shows; floors times floor_scale (1.5 on slopes and stairs)."""
    fps = motion.fps
    xy = motion.root_pos[:, :2]
    yaw = quat.heading(motion.root_quat)
    stop_speed, move_speed = (_centred_speed(xy, fps, w) for w in (STOP_WINDOW, SPEED_WINDOW))
    reactions = []
    records = list(command_log)
    for k in range(1, len(records)):
        before, now = records[k - 1], records[k]
        start = now.frame
        end = records[k + 1].frame if k + 1 < len(records) else motion.num_frames
        if start >= motion.num_frames or end <= start:
            continue
        kind, detail, reached = _criterion(before, now, yaw[start], yaw, stop_speed, move_speed)
        if kind is None:
            continue
        hits = np.flatnonzero(reached[start:end])
        seconds = float(hits[0] / fps) if len(hits) else None
        reactions.append(Reaction(kind, start / fps, detail, seconds, _floor(kind) * floor_scale))
    return reactions


def _criterion(before, now, heading, yaw, stop_speed, move_speed):
    """(kind, detail, per-frame bool: the change carried out) of a command change given at root heading `heading`
    (rad); kind None if there is none to measure."""
    if now.speed == 0.0 and before.speed > 0.0:
        gait = "run" if before.speed > RUN_FROM else "walk"
        return f"stop from {gait}", f"{before.speed:g} -> 0 m/s", stop_speed < STOP_SPEED
    turn = abs(float(wrap_angle(now.direction - heading)))
    if now.speed > 0.0 and turn >= TURN_MIN:
        kind = f"turn {int(round(math.degrees(turn)))}" + ("" if before.speed > 0.0 else " from standing")
        detail = f"{now.speed:g} m/s, {math.degrees(heading):.0f} -> {math.degrees(now.direction):.0f} deg"
        return kind, detail, np.abs(wrap_angle(yaw - now.direction)) <= TURN_TOLERANCE
    if now.speed > 0.0 and now.speed != before.speed:
        tolerance = max(SPEED_TOLERANCE * now.speed, SPEED_SLACK)
        return "speed", f"{before.speed:g} -> {now.speed:g} m/s", np.abs(move_speed - now.speed) <= tolerance
    return None, None, None


def _floor(kind):
    """The floor (s) of a reaction kind: a turn of up to 90 degrees has the 90-degree turn's, a larger one a floor
    between that and the 180-degree turn's, in proportion to its angle."""
    if kind.startswith("turn "):  # "turn N" or "turn N from standing"
        share = min(max((int(kind.split()[1]) - 90) / 90, 0.0), 1.0)
        return FLOORS["turn 90"] + share * (FLOORS["turn 180"] - FLOORS["turn 90"])
    return FLOORS[kind]


def _centred_speed(xy, fps, seconds):
    """Horizontal speed (T,) m/s of positions xy (T, 2) over `seconds` centred on each frame (shorter at the ends)."""
    half = max(1, int(round(0.5 * seconds * fps)))
    t = np.arange(len(xy))
    a, b = np.maximum(t - half, 0), np.minimum(t + half, len(xy) - 1)
    return np.linalg.norm(xy[b] - xy[a], axis=-1) * fps / np.maximum(b - a, 1)


def format_table(reactions, title=None):
    """The reactions as a text table: each figure beside its floor."""
    lines = [title] if title else []
    lines.append(f"{'reaction':<26}{'at s':>7}  {'change':<28}{'seconds':>9}{'floor':>8}  ok")
    for r in reactions:
        seconds = "never" if r.seconds is None else f"{r.seconds:.2f}"
        lines.append(
            f"{r.kind:<26}{r.at:>7.2f}  {r.detail:<28}{seconds:>9}{r.floor:>8.2f}  {'yes' if r.passed else 'NO'}"
        )
    return "\n".join(lines)
