"""Timing a keyed route: the follower's speed on each leg so that the root reaches each keyframe at its time.

A leg runs from one keyframe (or the start) to the next. One whose average speed would be a brisk walk or
faster is walked or run through at the speed that arrives on time; a slower one is walked at the cruise speed
and the rest of its time stood at the keyframe (a halts.Wait from HOLD before its time until HOLD after,
so that the root stands there at the time even if it comes a little late or early). Before each segment,
`retime` sets the current leg's speed afresh from the distance left and the time left (the character lags or
leads its plan, corners and stairs slow it), so that errors do not build up; later legs keep their planned
speeds. Distances are "effective": each metre counted as long as it takes at the follower's stair slowdown.
Arc lengths in m along the route, times in s of motion from the start, speeds in m/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controller.follower import SPACING
from motion_model.engine import SPEED_RANGE, Cruise, Wait, stair_factors
from terrain.polyline import Polyline

RUN_SPEED = SPEED_RANGE[1]  # m/s: the fastest a keyframe may demand
WAIT_BELOW = 0.7  # m/s: a leg slower on average than this is walked at the cruise speed, then stood out
HOLD = 0.4  # s: a wait starts this long before its keyframe's time at the latest and lasts this long after


@dataclass(frozen=True)
class TimedKey:
    t: float  # s: when the root is to be there
    at: float  # m along the route
    speed: float  # m/s planned for the leg that ends here
    wait: bool  # come to rest there and stand through t


class KeyTiming:
    """The timing of `keyframes` (Keyframe records) at arc lengths `arcs` (K,) along `path` (P, 2) over `terrain`.

    cruise: m/s after the last keyframe and on legs with time to spare; accel: m/s^2 (the follower's).
    ValueError, before anything is generated, naming the first keyframe farther along the route than a run
    (RUN_SPEED) reaches in its time, from rest at the start.
    """

    def __init__(self, keyframes, arcs, path, terrain, cruise, accel):
        line = Polyline(np.asarray(path, dtype=np.float64))
        line = line.resample(SPACING) if line.length > SPACING else Polyline(line.points[[0, -1]])
        # Effective metres (the time at unit speed) up to each sample: stairs slow the follower down.
        self.arc = line.arc
        self.effective = np.concatenate([[0.0], np.cumsum(np.diff(line.arc) / stair_factors(terrain, line)[1:])])
        self.cruise, self.accel = float(cruise), float(accel)
        keys, t0, s0 = [], 0.0, 0.0
        for i, (key, at) in enumerate(zip(keyframes, arcs)):
            distance, seconds = self.distance(s0, at), key.t - t0
            fastest = _fastest_time(distance, 0.0 if i == 0 else RUN_SPEED, self.accel)
            if fastest > seconds:
                origin = "the start" if i == 0 else f"keyframe {i}"
                raise ValueError(
                    f"{key.name(i)} is {distance:.1f} m along the walkable route from {origin}: that takes "
                    f"{fastest:.1f} s at a run ({RUN_SPEED:g} m/s) but it has {seconds:.1f} s; give it a later "
                    "time or a nearer place"
                )
            average = distance / seconds
            wait = average < WAIT_BELOW
            if wait:
                speed = max(self.cruise, average)
            else:
                speed = float(np.clip(speed_to_arrive(distance, seconds, 0.0, accel), *SPEED_RANGE))
            keys.append(TimedKey(float(key.t), float(at), speed, wait))
            t0, s0 = key.t, at
        self.keys = keys

    def distance(self, a, b):
        """Effective metres from arc length a to b."""
        return float(np.interp(b, self.arc, self.effective) - np.interp(a, self.arc, self.effective))

    def waits(self):
        """The Wait (motion_model/engine/halts.py) of every waiting keyframe."""
        return [Wait(at=k.at, until=k.t + HOLD) for k in self.keys if k.wait]

    def retime(self, follower, xy):
        """Set the follower's leg speeds for the next command, from where the character is (root xy) and the
        plan's clock: the current leg's so that it arrives on time (HOLD early at a wait), later legs' as
        planned, the cruise speed after the last keyframe."""
        now, place = follower.state.t, follower.place_of(xy)
        cruises, start = [], 0.0
        for key in self.keys:
            if key.t > now:
                speed = key.speed
                if not cruises:  # the current leg
                    seconds = key.t - now - (HOLD if key.wait else 0.0)
                    needed = speed_to_arrive(self.distance(place, key.at), seconds, follower.state.speed, self.accel)
                    speed = max(needed, self.cruise) if key.wait else needed
                cruises.append(Cruise(start, float(np.clip(speed, *SPEED_RANGE))))
            start = key.at
        cruises.append(Cruise(start, self.cruise))
        follower.set_cruise([Cruise(0.0, cruises[0].speed)] + cruises[1:])


def _fastest_time(distance, speed, accel):
    """s to cover `distance` m from `speed` m/s, speeding up at `accel` m/s^2 to RUN_SPEED."""
    ramp = (RUN_SPEED**2 - speed**2) / (2 * accel)
    if distance <= ramp:
        return (math.sqrt(speed**2 + 2 * accel * distance) - speed) / accel
    return (RUN_SPEED - speed) / accel + (distance - ramp) / RUN_SPEED


def speed_to_arrive(distance, seconds, speed, accel):
    """The cruise speed (m/s) that covers `distance` m in `seconds` s from `speed` m/s, speeding up at `accel`
    m/s^2 to it (the follower's plan) or dropping to it at once; RUN_SPEED when even that is too slow."""
    if distance <= 0:
        return 0.0
    if seconds <= 0:
        return RUN_SPEED
    if distance <= speed * seconds:  # slowing down: the plan drops to the new speed
        return distance / seconds
    # v - speed over accel s of speeding up, then cruising: (v - u)^2 + 2 a D = 2 a v T, the root below u + a T.
    reach = speed + accel * seconds
    discriminant = reach**2 - speed**2 - 2 * accel * distance
    return RUN_SPEED if discriminant < 0 else reach - math.sqrt(discriminant)
