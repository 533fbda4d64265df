"""Terrain-aware locomotion synthesis: the shipped flat-ground mocap cycles driven along a path over terrain.

The engine (in the spirit of PFNN's terrain fitting) works in six passes over the frames of an episode:

1. Timeline. A gait phase advances at a cadence derived from the requested speed; the root's arc length
   along the path advances at the speed. Walk, the turning walks (and their mirrors) and run are gait cycles
   with phase 0 at the left foot's touchdown, blended by the path's curvature and the walk/run mix.
2. Nominal pose. The blended cycle (motion_model/engine/timeline.py) gives the pose relative to the heading
   frame; the root is put on the path with its heading along the smoothed tangent (motion_model/engine/route.py).
3-6. Footsteps, feet and pelvis, leg IK, momentum: motion_model/engine/footing.py fits the carried pose to the
   terrain and makes its centre of mass move as a body's.

With a speed plan (motion_model/engine/speed_plan.py) passes 1 and 2 are motion_model/engine/travel.py and
motion_model/engine/stepping.py instead: starts from standing, stops to a stand, slowing into corners, turning on
the spot.

World frame: Z up, metres, seconds; +X is the character's forward at rest. Quaternions xyzw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motion_model.body.legs import MAX_REACH
from motion_model.body.momentum import MomentumConfig
from motion_model.engine.footing import fit_to_terrain
from motion_model.engine.gait import run_cycle, walk_cycles
from motion_model.engine.route import HEADING_SMOOTHING, STAIR_SLOWDOWN, PathCurve, stair_slowdown
from motion_model.engine.speed_plan import RUN_SPEEDS, SPEED_RANGE, WALK_SPEEDS, BehaviourConfig
from motion_model.engine.stepping import synthesize_planned
from motion_model.engine.timeline import Timeline, blend_pose, stance_masks, turn_weights
from terrain import numbers


@dataclass(frozen=True)
class SynthesisConfig:
    fps: float = 30.0
    heading_smoothing: float = HEADING_SMOOTHING  # m of arc length (Gaussian sigma): route.py
    cadence_exponent: float = 0.5  # cadence ~ speed**e: the rest of a speed change goes into stride length
    max_foot_shift: float = 0.2  # m a foothold may move along the foot to rest on one plane
    flat_tolerance: float = 0.006  # m of sole-point deviation from a plane that still counts as flat
    swing_margin: float = 0.04  # m of clearance the swinging sole keeps above the terrain
    swing_climb_speed: float = 1.5  # m/s: how fast a swing rises before an obstacle and drops after it
    pelvis_smoothing: float = 0.2  # s (Gaussian sigma) for the pelvis's ground height
    max_reach: float = MAX_REACH  # fraction of thigh + shin a leg may stretch to (legs.py)
    gait_blend_time: float = 0.8  # s for a walk/run transition
    speed_ramp: float = 1.0  # s to reach the requested speed from the start
    stair_slowdown: float = STAIR_SLOWDOWN  # speed factor lost per metre of riser ahead (route.stair_slowdown)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)  # speed plans only (speed_plan.py)
    momentum: MomentumConfig = field(default_factory=MomentumConfig)  # the centre of mass's filter (body/momentum.py)


# --------------------------------------------------------------------------------------------------------
# Pass 1: the timeline


def speed_profile(gait, seed, length, config):
    """A random, smooth target speed (m/s) and run weight as functions of arc length, for one episode.

    gait: "walk", "run" or "mixed" (walk, run for a stretch, walk again). Returns two callables of s.
    """
    rng = np.random.default_rng(seed)
    walk = rng.uniform(*WALK_SPEEDS)
    run = rng.uniform(*RUN_SPEEDS)
    if gait == "walk":
        spans = []
    elif gait == "run":
        spans = [(2.0, np.inf)]
    elif gait == "mixed":
        a = rng.uniform(0.2, 0.5) * length
        spans = [(a, a + rng.uniform(0.25, 0.45) * length)]
    else:
        raise ValueError(f"gait must be walk, run or mixed, got {gait!r}")
    wobble_phase = rng.uniform(0, 2 * np.pi, 2)
    wobble_len = rng.uniform(3.0, 6.0, 2)

    def run_weight(s):
        g = 0.0
        for a, b in spans:
            ramp = config.gait_blend_time * 0.5 * (walk + run)
            g = max(g, float(np.clip((s - a) / ramp, 0, 1) * np.clip((b - s) / ramp, 0, 1)))
        return g

    def speed(s, g):
        base = walk + g * (run - walk)
        wobble = 0.08 * np.sin(2 * np.pi * s / wobble_len[0] + wobble_phase[0]) + 0.05 * np.sin(
            2 * np.pi * s / wobble_len[1] + wobble_phase[1]
        )
        return base * (1.0 + wobble)

    return speed, run_weight


def make_timeline(path_length, curvature, speed, run_weight, config, extra=4.0):
    """Integrate phase and arc length frame by frame until `extra` m past the path's end.

    curvature: callable of s (rad/m). The cadence of the blended cycles is scaled by
    (speed / blended natural speed) ** cadence_exponent; the rest of the speed comes from longer strides.
    """
    cycles = walk_cycles() + [run_cycle()]
    walk_n = len(cycles) - 1
    dt = 1.0 / config.fps
    phase, s, t = 0.0, 0.0, 0.0
    rows = []
    while s < path_length + extra:
        g = run_weight(s)
        ramp = min(1.0, 0.45 + 0.55 * t / config.speed_ramp)
        v = speed(s, g) * ramp
        w = np.zeros(len(cycles))
        walk_stride = cycles[walk_n // 2].stride
        w[:walk_n] = (1 - g) * turn_weights(cycles[:walk_n], curvature(s) * walk_stride)
        w[walk_n] = g
        natural_speed = sum(wi * c.speed for wi, c in zip(w, cycles))
        cadence = sum(wi / c.duration for wi, c in zip(w, cycles))
        rows.append((phase, s, g, w))
        phase += dt * cadence * (v / natural_speed) ** config.cadence_exponent
        s += v * dt
        t += dt
    phase, s, g, w = (np.array(x) for x in zip(*rows))
    return Timeline(phase=phase, s=s, run=g, weights=w, cycles=cycles)


# --------------------------------------------------------------------------------------------------------
# The engine


def synthesize(terrain, path, gait="walk", seed=0, config=SynthesisConfig(), speed=None, plan=None):
    """A terrain-fitted locomotion Motion along `path` (P, 2) over `terrain`, ending where the path ends.

    gait: "walk", "run" or "mixed". speed: a constant target speed (m/s) instead of the seeded random
    profile. plan: a SpeedPlan (motion_model/engine/speed_plan.py) instead of gait, seed and speed: starts from
    standing, stops, speed changes, slowing into corners, turning on the spot. The Motion carries contact
    labels (stance = the foot is on its foothold), the terrain, the path and its end as the goal.
    """
    if plan is not None:
        if speed is not None:
            raise ValueError("give synthesize either speed or plan, not both (SpeedPlan.constant(speed) is both)")
        return synthesize_planned(terrain, path, plan, config)
    seed = numbers.seed(seed)
    if speed is not None:
        speed = numbers.finite(speed, "speed", *SPEED_RANGE)
    curve = PathCurve.from_points(path, config.heading_smoothing)
    speed_fn, run_fn = speed_profile(gait, seed, curve.length, config)
    if speed is not None:
        speed_fn = lambda s, g, v=speed: v
    slow = stair_slowdown(terrain, curve, config.stair_slowdown)
    base_speed = speed_fn
    speed_fn = lambda s, g: base_speed(s, g) * slow(s)
    timeline = make_timeline(curve.length, curve.curvature, speed_fn, run_fn, config)
    pose = blend_pose(timeline)
    masks = stance_masks(timeline.phase, pose.stance)
    end = int(np.searchsorted(timeline.s, curve.length)) + 1
    return fit_to_terrain(
        terrain,
        curve.position(timeline.s),
        curve.heading(timeline.s),
        pose,
        masks,
        config,
        slice(0, end),
        curve.line.points,
    )
