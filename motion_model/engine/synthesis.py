"""Terrain-aware locomotion synthesis: the shipped flat-ground mocap cycles driven along a path over terrain.

The engine (in the spirit of PFNN's terrain fitting) works in five passes over the frames of an episode:

1. Timeline. A gait phase advances at a cadence derived from the requested speed; the root's arc length
   along the path advances at the speed. Walk, the turning walks (and their mirrors) and run are gait cycles
   with phase 0 at the left foot's touchdown, blended by the path's curvature and the walk/run mix.
2. Nominal pose. The blended cycle gives the pose relative to the heading frame; the root is put on the path
   with its heading along the smoothed tangent.
3-5. Footsteps, feet and pelvis, leg IK: motion_model/engine/footing.py fits the carried pose to the terrain.

With a speed plan (motion_model/engine/speed_plan.py) passes 1 and 2 are motion_model/engine/travel.py and
motion_model/engine/stepping.py instead: starts from standing, stops to a stand, slowing into corners, turning on
the spot.

World frame: Z up, metres, seconds; +X is the character's forward at rest. Quaternions xyzw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from motion_model.body import quaternion as quat
from motion_model.engine.footing import fit_to_terrain
from motion_model.engine.gait import SWING_SAMPLES, run_cycle, walk_cycles
from motion_model.engine.speed_plan import RUN_SPEEDS, SPEED_RANGE, WALK_SPEEDS, BehaviourConfig
from terrain import numbers
from terrain.polyline import Polyline


@dataclass(frozen=True)
class SynthesisConfig:
    fps: float = 30.0
    heading_smoothing: float = 0.3  # m of arc length (Gaussian sigma) over which the path tangent is smoothed
    cadence_exponent: float = 0.5  # cadence ~ speed**e: the rest of a speed change goes into stride length
    max_foot_shift: float = 0.2  # m a foothold may move along the foot to rest on one plane
    flat_tolerance: float = 0.006  # m of sole-point deviation from a plane that still counts as flat
    swing_margin: float = 0.04  # m of clearance the swinging sole keeps above the terrain
    swing_climb_speed: float = 1.5  # m/s: how fast a swing rises before an obstacle and drops after it
    pelvis_smoothing: float = 0.2  # s (Gaussian sigma) for the pelvis's ground height
    max_reach: float = 0.975  # fraction of thigh + shin a leg may stretch to
    gait_blend_time: float = 0.8  # s for a walk/run transition
    speed_ramp: float = 1.0  # s to reach the requested speed from the start
    stair_slowdown: float = 2.0  # speed factor lost per metre of riser ahead (see stair_slowdown)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)  # speed plans only (speed_plan.py)


# --------------------------------------------------------------------------------------------------------
# Pass 1: the timeline


@dataclass
class Timeline:
    """Per-frame phase, arc length s (m) along the path, run weight g in [0, 1] and the cycle weights."""

    phase: np.ndarray
    s: np.ndarray
    run: np.ndarray
    weights: np.ndarray  # (T, len(cycles))
    cycles: list


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


def turn_weights(cycles, yaw_per_cycle):
    """Weights over walk cycles (sorted by yaw per cycle) interpolating the requested turn rate."""
    yaws = np.array([c.yaw_per_cycle for c in cycles])
    w = np.zeros(len(cycles))
    y = np.clip(yaw_per_cycle, yaws[0], yaws[-1])
    i = int(np.clip(np.searchsorted(yaws, y) - 1, 0, len(yaws) - 2))
    t = (y - yaws[i]) / max(yaws[i + 1] - yaws[i], 1e-9)
    w[i], w[i + 1] = 1 - t, t
    return w


def stair_slowdown(terrain, curve, config):
    """Speed factor as a function of arc length: people slow down on stairs and steps.

    The largest height change between path samples 0.05 m apart (a riser, on Bullet's one-cell edges) in a
    window from 0.3 m behind to 0.8 m ahead (riser_ahead) sets the factor, 1 - stair_slowdown * riser, at
    least 0.5.
    """
    s, ahead = riser_ahead(terrain, curve)
    factor = np.clip(1.0 - config.stair_slowdown * ahead, 0.5, 1.0)
    return lambda x: float(np.interp(x, s, factor))


def riser_ahead(terrain, curve):
    """Arc lengths (N,) 0.05 m apart and the largest riser (N,) in m from 0.3 m behind to 0.8 m ahead."""
    s = np.arange(0.0, curve.length + 2.0, 0.05)
    rise = np.abs(np.diff(terrain.height(curve.position(s)), append=0.0))
    return s, maximum_filter1d(rise, int(1.1 / 0.05), origin=-int(0.25 / 0.05), mode="nearest")


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
    return Timeline(phase, s, g, w, cycles)


class CyclePose(NamedTuple):
    """Blended cycle pose per frame: root height (T,), root offset (T, 2), root_rel (T, 4), joints (T, 12, 4),
    stance (T, 2, 2) [on, off] phases per foot, swing lift and progress (T, 2, SWING_SAMPLES)."""

    height: np.ndarray
    offset: np.ndarray
    root_rel: np.ndarray
    joints: np.ndarray
    stance: np.ndarray
    lift: np.ndarray
    progress: np.ndarray


def blend_pose(timeline):
    """The CyclePose of a timeline: its cycles' poses blended by their weights, frame by frame."""
    T = len(timeline.phase)
    height = np.zeros(T)
    offset = np.zeros((T, 2))
    stance = np.zeros((T, 2, 2))
    lift = np.zeros((T, 2, SWING_SAMPLES))
    progress = np.zeros((T, 2, SWING_SAMPLES))
    rel_acc = np.zeros((T, 4))
    joint_acc = np.zeros((T, 12, 4))
    ref_rel, ref_joints = None, None
    for k, cycle in enumerate(timeline.cycles):
        w = timeline.weights[:, k]
        if not w.any():
            continue
        h, o, r, j = cycle.sample(timeline.phase)
        height += w * h
        offset += w[:, None] * o
        stance += w[:, None, None] * cycle.stance
        lift += w[:, None, None] * cycle.lift
        progress += w[:, None, None] * cycle.progress
        # Weighted quaternion average (hemisphere-aligned, then normalised): exact for one cycle.
        if ref_rel is None:
            ref_rel, ref_joints = r, j
        r = np.where((r * ref_rel).sum(-1, keepdims=True) < 0, -r, r)
        j = np.where((j * ref_joints).sum(-1, keepdims=True) < 0, -j, j)
        rel_acc += w[:, None] * r
        joint_acc += w[:, None, None] * j
    return CyclePose(height, offset, quat.normalize(rel_acc), quat.normalize(joint_acc), stance, lift, progress)


def stance_masks(phase, stance):
    """(T, 2) bool: which feet are in stance at phases (T,) under the blended stance intervals (T, 2, 2)."""
    on, off = stance[..., 0], stance[..., 1]
    return ((phase[:, None] - on) % 1.0) < (off - on)


# --------------------------------------------------------------------------------------------------------
# The path


@dataclass
class PathCurve:
    """The path with a smoothed heading; positions past the end continue along the last segment."""

    line: Polyline  # (P, 2) points, no two within 1 um
    yaw: np.ndarray  # (P,) smoothed tangent direction (rad)

    @classmethod
    def from_points(cls, points, smoothing):
        line = Polyline(points).without_repeats(1e-6)
        if len(line.points) < 2:
            raise ValueError("the path needs at least two distinct points")
        d = np.gradient(line.points, line.arc, axis=0)
        yaw = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
        spacing = line.arc[-1] / (len(line.arc) - 1)
        yaw = gaussian_filter1d(yaw, max(smoothing / spacing, 1e-3), mode="nearest")
        return cls(line, yaw)

    @property
    def length(self):
        return self.line.length

    def position(self, s):
        return self.line.point_at(s, extend=True)

    def heading(self, s):
        return np.interp(s, self.line.arc, self.yaw)

    def curvature(self, s):
        return float(np.interp(s, self.line.arc, np.gradient(self.yaw, self.line.arc)))


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
        # The planned engine builds on this module's passes, so it is imported here, not at the top.
        from motion_model.engine.stepping import synthesize_planned

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
    slow = stair_slowdown(terrain, curve, config)
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
