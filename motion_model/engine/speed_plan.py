"""Speed plans: what the character is told along its path (how fast, where to stop and for how long, which
way it faces at the start), as a short list of records: written by hand in tests and benchmarks, drawn at
random for the training data.

Arc lengths in metres from the path's start, speeds in m/s (a walk 0.6 to 1.5, a run 2.5 to 3.8; a speed in
between blends the walk into the run), times in seconds, angles in radians (Z up, counter-clockwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from configs.typed import bounded

WALK_SPEEDS = (0.6, 1.5)  # m/s
RUN_SPEEDS = (2.5, 3.8)  # m/s
SPEED_RANGE = (0.3, 3.8)  # m/s any Cruise may ask for
MAX_STAND = 60.0  # s, the longest stand a plan may ask for


def run_weight(speed):
    """How much of the run cycle a speed takes: 0 up to the fastest walk, 1 from the slowest run, smooth between."""
    x = np.clip((np.asarray(speed, dtype=float) - WALK_SPEEDS[1]) / (RUN_SPEEDS[0] - WALK_SPEEDS[1]), 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class Cruise:
    """From arc length `at` on, travel at `speed` m/s."""

    at: float
    speed: float


@dataclass(frozen=True)
class Stop:
    """Come to a stand at arc length `at`, stand for `seconds`, then go on at the cruise speed in force."""

    at: float
    seconds: float


@dataclass(frozen=True)
class SpeedPlan:
    """Cruise and Stop records by arc length (the first a Cruise at 0), and the episode's two ends.

    start_standing: s standing still before setting off (0: the episode starts in motion at the cruise speed).
    end_standing: s standing still at the path's end (0: walk on past it, the episode cut at the end).
    start_heading: the facing at the start (rad); None faces along the path. A facing away from the path
    turns on the spot first.
    """

    steps: tuple
    start_standing: float = 0.0
    end_standing: float = 0.0
    start_heading: float | None = None

    def __post_init__(self):
        for r in self.steps:
            if not isinstance(r, (Cruise, Stop)):
                raise ValueError(f"a speed plan holds Cruise and Stop records, got {r!r}")
        object.__setattr__(self, "steps", tuple(sorted(self.steps, key=lambda r: r.at)))
        if not self.steps or not isinstance(self.steps[0], Cruise) or self.steps[0].at != 0:
            raise ValueError("a speed plan must begin with a Cruise at arc length 0, e.g. Cruise(0.0, 1.2)")
        for r in self.steps:
            if not (math.isfinite(r.at) and r.at >= 0):
                raise ValueError(f"{r!r}: the arc length must be a finite number >= 0 m")
            if isinstance(r, Cruise) and not SPEED_RANGE[0] <= r.speed <= SPEED_RANGE[1]:
                raise ValueError(
                    f"{r!r}: speed must be in [{SPEED_RANGE[0]}, {SPEED_RANGE[1]}] m/s (use a Stop to stand still)"
                )
            if isinstance(r, Stop):
                _check_seconds(f"{r!r}: seconds", r.seconds)
        _check_seconds("start_standing", self.start_standing)
        _check_seconds("end_standing", self.end_standing)
        if self.start_heading is not None and not math.isfinite(self.start_heading):
            raise ValueError(f"start_heading must be a finite angle in rad or None, got {self.start_heading}")

    @classmethod
    def constant(cls, speed, **ends):
        """One speed all along; `ends`: start_standing, end_standing, start_heading."""
        return cls((Cruise(0.0, float(speed)),), **ends)

    def speed_at(self, s):
        """The cruise speed (m/s) in force at arc length s."""
        return [r.speed for r in self.steps if isinstance(r, Cruise) and r.at <= s][-1]

    def stops(self):
        return [r for r in self.steps if isinstance(r, Stop)]


def _check_seconds(name, value):
    if not (math.isfinite(value) and 0 <= value <= MAX_STAND):
        raise ValueError(f"{name} must be in [0, {MAX_STAND:g}] s, got {value}")


@dataclass(frozen=True)
class BehaviourConfig:
    """How a person carries a plan out: the engine's limits for starts and stops, corners and turns on the spot
    (motion_model/engine/travel.py and motion_model/engine/stepping.py; the legacy speed profile does not use them)."""

    accel: float = bounded(1.5, 0.1, 10.0)  # m/s^2 speeding up (a 1.2 m/s walk from standing in 0.8 s)
    decel: float = bounded(1.5, 0.1, 10.0)  # m/s^2 slowing down for a stop or a corner
    lateral_accel: tuple[float, float] = bounded((1.0, 3.0), 0.1, 20.0)  # m/s^2 walking, running: v^2 * curvature
    pivot_angle: float = bounded(2.0, 0.5, 3.2)  # rad: a corner turning more within pivot_window is taken by
    pivot_window: float = bounded(0.3, 0.05, 2.0)  # m          stopping and turning on the spot
    turn_rate: float = bounded(1.7, 0.3, 6.0)  # rad/s turning on the spot, at most
    turn_ease: float = bounded(0.4, 0.05, 2.0)  # s to reach turn_rate from rest, and to come back to rest
    step_cadence: float = bounded(0.8, 0.3, 1.5)  # the slowest cadence, stepping near rest, as a fraction of
    turn_cadence: float = bounded(1.0, 0.3, 1.5)  # the cycles' own; and turning on the spot at turn_rate
    stair_cadence: float = bounded(1.0, 0.3, 1.5)  # on stairs, where the speed is capped to one tread a step
    step_width: float = bounded(0.06, 0.0, 0.3)  # m a foot lands at least to its own side of the other
    stand_speed: float = bounded(0.6, 0.1, 2.0)  # m/s below which the body blends toward the standing pose,
    stand_stepping: float = bounded(0.6, 0.0, 1.0)  # up to this weight while still stepping (1 standing)
    stand_blend: float = bounded(0.15, 0.01, 1.0)  # s (Gaussian sigma) over which the body settles into a stand
    stand_reach: float = bounded(0.998, 0.9, 0.9999)  # fraction of thigh + shin a standing leg may stretch to
    corner_rounding: float = bounded(0.08, 0.0, 0.5)  # s (Gaussian sigma) rounding the root's course at corners


@dataclass(frozen=True)
class PlanConfig:
    """Probabilities and ranges of the random speed plans of the training data (random_plan)."""

    start_standing: float = bounded(0.5, 0.0, 1.0)  # probability that an episode starts standing
    end_standing: float = bounded(0.8, 0.0, 1.0)  # probability that it ends standing at the path's end
    turn_round: float = bounded(0.15, 0.0, 1.0)  # probability of a random start facing (turn on the spot)
    stops_per_metre: float = bounded(0.04, 0.0, 1.0)  # mean stops per metre of path, at random arc lengths
    changes_per_metre: float = bounded(0.08, 0.0, 1.0)  # mean speed changes per metre, at random arc lengths
    stand_seconds: tuple[float, float] = bounded((0.5, 3.0), 0.0, MAX_STAND)  # range of a stop's standing
    end_seconds: tuple[float, float] = bounded((1.0, 2.5), 1.0, MAX_STAND)  # range of the standing at the end
    walk_speeds: tuple[float, float] = bounded(WALK_SPEEDS, *SPEED_RANGE)
    run_speeds: tuple[float, float] = bounded(RUN_SPEEDS, *SPEED_RANGE)

    def __post_init__(self):
        for name in ("stand_seconds", "end_seconds", "walk_speeds", "run_speeds"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"plan config {name} must be [low, high] with low <= high, got {[low, high]}")


def random_plan(length, gait: Literal["walk", "run", "mixed"], rng, config=PlanConfig()):
    """A random SpeedPlan for a path of `length` m: cruise speeds of the gait ("mixed": walk, run for a
    stretch, walk again), speed changes and stops at random arc lengths, and random starts and ends.
    rng: a numpy Generator, the only source of randomness."""
    if gait not in ("walk", "run", "mixed"):
        raise ValueError(f"gait must be walk, run or mixed, got {gait!r}")
    speeds = config.run_speeds if gait == "run" else config.walk_speeds
    steps = [Cruise(0.0, float(rng.uniform(*speeds)))]
    for at in _arc_lengths(length, config.changes_per_metre, rng):
        steps.append(Cruise(at, float(rng.uniform(*speeds))))
    if gait == "mixed":
        # The run's stretch overrides the walk's speed changes inside it.
        a = float(rng.uniform(0.2, 0.5) * length)
        b = a + float(rng.uniform(0.25, 0.45) * length)
        after = [r for r in steps if r.at <= b][-1].speed
        steps = [r for r in steps if not a <= r.at <= b]
        steps += [Cruise(a, float(rng.uniform(*config.run_speeds))), Cruise(b, after)]
    steps += [
        Stop(at, float(rng.uniform(*config.stand_seconds))) for at in _arc_lengths(length, config.stops_per_metre, rng)
    ]
    start = float(rng.uniform(*config.stand_seconds)) if rng.random() < config.start_standing else 0.0
    end = float(rng.uniform(*config.end_seconds)) if rng.random() < config.end_standing else 0.0
    heading = float(rng.uniform(-np.pi, np.pi)) if rng.random() < config.turn_round else None
    return SpeedPlan(tuple(steps), start_standing=start, end_standing=end, start_heading=heading)


def _arc_lengths(length, per_metre, rng, margin=1.0):
    """Sorted random arc lengths, a Poisson number of them, at least `margin` m from the path's ends."""
    if length <= 2 * margin:
        return []
    count = int(rng.poisson(per_metre * (length - 2 * margin)))
    return sorted(float(x) for x in rng.uniform(margin, length - margin, count))
