"""Terrain-aware locomotion synthesis: the shipped flat-ground mocap cycles driven along a path over terrain.

The engine (in the spirit of PFNN's terrain fitting) works in five passes over the frames of an episode:

1. Timeline. A gait phase advances at a cadence derived from the requested speed; the root's arc length
   along the path advances at the speed. Walk, the turning walks (and their mirrors) and run are gait cycles
   with phase 0 at the left foot's touchdown, blended by the path's curvature and the walk/run mix.
2. Nominal pose. The blended cycle gives the pose relative to the heading frame; the root is put on the path
   with its heading along the smoothed tangent.
3. Footsteps. Each stance of the blended contact schedule becomes one foothold: where the nominal pose puts
   the foot at mid-stance, moved along the foot (up to `max_foot_shift`) until the whole sole rests on one
   plane of the terrain (a full stair tread, never across an edge), lifted so that no sole point is below
   the surface, and tilted with the surface.
4. Feet and pelvis. Stance feet stay exactly on their footholds; swing feet follow the clip's swing timing
   and lift between footholds, raised further wherever the terrain under the sole (plus a margin) demands.
   The pelvis follows a smoothed ground height from the footholds and drops where a leg could not reach.
5. Leg IK. Analytic two-bone IK (hip ball joint, knee hinge) puts each ankle where its sole must be and the
   ankle joint turns the sole to the foothold's orientation. Torso and arms keep the clip's motion.

World frame: Z up, metres, seconds; +X is the character's forward at rest. Quaternions xyzw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from motion_model import quaternion as quat
from motion_model.clips import Q_Y2Z
from motion_model.gait import SWING_SAMPLES, run_cycle, walk_cycles
from motion_model.motion import Motion
from motion_model.legs import (FOOT_LINKS, HIP_LINKS, KNEE_LINKS, ankle_targets, footprint, leg_ik,
                               place_foothold, rotate2, sole_offset)
from motion_model.skeleton import Skeleton
from terrain.polyline import Polyline

WALK_SPEEDS = (0.6, 1.5)  # m/s
RUN_SPEEDS = (2.5, 3.8)  # m/s


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
        wobble = 0.08 * np.sin(2 * np.pi * s / wobble_len[0] + wobble_phase[0]) \
            + 0.05 * np.sin(2 * np.pi * s / wobble_len[1] + wobble_phase[1])
        return base * (1.0 + wobble)

    return speed, run_weight


def _turn_weights(cycles, yaw_per_cycle):
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
    window from 0.3 m behind to 0.8 m ahead sets the factor, 1 - stair_slowdown * riser, at least 0.5.
    """
    s = np.arange(0.0, curve.length + 2.0, 0.05)
    rise = np.abs(np.diff(terrain.height(curve.position(s)), append=0.0))
    ahead = maximum_filter1d(rise, int(1.1 / 0.05), origin=-int(0.25 / 0.05), mode="nearest")
    factor = np.clip(1.0 - config.stair_slowdown * ahead, 0.5, 1.0)
    return lambda x: float(np.interp(x, s, factor))


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
        w[:walk_n] = (1 - g) * _turn_weights(cycles[:walk_n], curvature(s) * walk_stride)
        w[walk_n] = g
        natural_speed = sum(wi * c.speed for wi, c in zip(w, cycles))
        cadence = sum(wi / c.duration for wi, c in zip(w, cycles))
        rows.append((phase, s, g, w))
        phase += dt * cadence * (v / natural_speed) ** config.cadence_exponent
        s += v * dt
        t += dt
    phase, s, g, w = (np.array(x) for x in zip(*rows))
    return Timeline(phase, s, g, w, cycles)


def blend_pose(timeline):
    """Blended cycle pose per frame: root_height, root_offset, root_rel, joints, stance (T, 2, 2), lift, progress."""
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
    return height, offset, quat.normalize(rel_acc), quat.normalize(joint_acc), stance, lift, progress


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
# Pass 3: footholds


@dataclass
class Foothold:
    foot: int
    start: int  # first and last frame of the stance
    stop: int
    sole: np.ndarray  # (3,) sole centre on the surface
    rot: np.ndarray  # (4,) foot link's world rotation


def _stance_intervals(mask):
    """[first, last] frame of each run of True in a boolean series."""
    edges = np.diff(np.r_[0, mask.astype(int), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def plan_footholds(terrain, stance_masks, nominal_soles, nominal_yaw, config):
    """One Foothold per stance interval of each foot, in time order, from the nominal pose at mid-stance."""
    stances = sorted(((a, b, f) for f in range(2) for a, b in _stance_intervals(stance_masks[:, f])),
                     key=lambda x: (x[0] + x[1]) / 2)
    holds = []
    for a, b, f in stances:
        mid = (a + b) // 2
        sole, tilt = place_foothold(terrain, nominal_soles[mid, f, :2], nominal_yaw[mid, f], config.max_foot_shift,
                                    config.flat_tolerance)
        rot = quat.multiply(tilt, quat.multiply(quat.about_z(np.asarray(nominal_yaw[mid, f])), Q_Y2Z))
        holds.append(Foothold(f, a, b, sole, rot))
    return holds


# --------------------------------------------------------------------------------------------------------
# Pass 4: feet and pelvis


def foot_trajectories(terrain, holds, lift, progress, nominal_rots, config):
    """Sole centres (T, 2, 3) and foot rotations (T, 2, 4): fixed on footholds, swinging between them.

    A swing interpolates between its footholds with the clip's timing and lift; the foot turns from the
    foothold's orientation to the clip's own swing orientation (toe-off, dorsiflexion) and back. Wherever the
    sole, dilated by 3 cm, would pass within swing_margin of the terrain, the swing is raised by a smooth
    bump (and at least by the deficit).
    """
    num_frames = len(nominal_rots)
    soles = np.zeros((num_frames, 2, 3))
    rots = np.zeros((num_frames, 2, 4))
    u_grid = np.linspace(0.0, 1.0, SWING_SAMPLES)
    outline = np.c_[footprint(nx=5, ny=3, margin=0.03), np.zeros(15)]
    for f in range(2):
        mine = sorted((h for h in holds if h.foot == f), key=lambda h: h.start)
        for h in mine:
            soles[h.start:h.stop + 1, f] = h.sole
            rots[h.start:h.stop + 1, f] = h.rot
        soles[:mine[0].start, f], rots[:mine[0].start, f] = mine[0].sole, mine[0].rot
        soles[mine[-1].stop + 1:, f], rots[mine[-1].stop + 1:, f] = mine[-1].sole, mine[-1].rot
        for prev, nxt in zip(mine[:-1], mine[1:]):
            frames = np.arange(prev.stop + 1, nxt.start)
            if not len(frames):
                continue
            u = (frames - prev.stop) / (nxt.start - prev.stop)
            prog = np.array([np.interp(ui, u_grid, progress[t, f]) for ui, t in zip(u, frames)])
            up = np.array([np.interp(ui, u_grid, lift[t, f]) for ui, t in zip(u, frames)])
            pos = prev.sole + prog[:, None] * (nxt.sole - prev.sole)
            pos[:, 2] += up
            flat = quat.slerp(prev.rot, nxt.rot, prog)
            rot = quat.slerp(flat, nominal_rots[frames, f], np.sin(np.pi * u) ** 2)
            # Clearance of every point of the dilated sole outline, measured where the foot really is.
            foot_frame = quat.multiply(rot, quat.conjugate(Q_Y2Z))
            points = pos[:, None] + quat.rotate(foot_frame[:, None], np.broadcast_to(outline, (len(u),) + outline.shape))
            fade = np.clip(np.minimum(u, 1 - u) / 0.2, 0.0, 1.0)
            deficit = (terrain.height(points[..., :2]) - points[..., 2]).max(-1) + config.swing_margin * fade
            deficit = np.maximum(deficit, 0.0)
            if deficit.any():
                # Rise ahead of an obstacle and come down after it at no more than swing_climb_speed: the
                # raise is the upper envelope of cones under each frame's deficit.
                dt = np.abs(frames[:, None] - frames[None, :]) / config.fps
                pos[:, 2] += (deficit[None, :] - config.swing_climb_speed * dt).max(-1).clip(min=0.0)
            soles[frames, f], rots[frames, f] = pos, rot
    return soles, rots


def ground_height(holds, num_frames, config):
    """The pelvis's ground reference (T,): foothold heights at mid-stance, interpolated and smoothed."""
    mids = np.array([(h.start + h.stop) / 2 for h in holds])
    z = np.array([h.sole[2] for h in holds])
    order = np.argsort(mids)
    ground = np.interp(np.arange(num_frames), mids[order], z[order])
    return gaussian_filter1d(ground, config.pelvis_smoothing * config.fps, mode="nearest")


def reach_lowering(skeleton, root_pos, root_quat, ankles, config):
    """How far (T,) the pelvis must drop so that every leg reaches its ankle target, smoothed."""
    leg = -(skeleton.offsets[KNEE_LINKS[0], 1] + skeleton.offsets[FOOT_LINKS[0], 1])
    reach = config.max_reach * leg
    need = np.zeros(len(root_pos))
    for f in range(2):
        hip = root_pos + quat.rotate(root_quat, np.broadcast_to(skeleton.offsets[HIP_LINKS[f]], root_pos.shape))
        horiz = np.linalg.norm(ankles[:, f, :2] - hip[:, :2], axis=-1)
        vert = hip[:, 2] - ankles[:, f, 2]
        need = np.maximum(need, vert - np.sqrt(np.maximum(reach ** 2 - horiz ** 2, 0.0)))
    need = np.maximum(need, 0.0)
    width = int(config.fps * 0.3) | 1
    smooth = gaussian_filter1d(maximum_filter1d(need, width, mode="nearest"), width / 4, mode="nearest")
    return np.maximum(smooth, need)


# --------------------------------------------------------------------------------------------------------
# Pass 5: leg IK


# --------------------------------------------------------------------------------------------------------
# The engine


def synthesize(terrain, path, gait="walk", seed=0, config=SynthesisConfig(), speed=None):
    """A terrain-fitted locomotion Motion along `path` (P, 2) over `terrain`, ending where the path ends.

    gait: "walk", "run" or "mixed". speed: a constant target speed (m/s) instead of the seeded random
    profile. The Motion carries contact labels (stance = the foot is on its foothold), the terrain, the
    path and its end as the goal.
    """
    skeleton = Skeleton.load()
    curve = PathCurve.from_points(path, config.heading_smoothing)
    speed_fn, run_fn = speed_profile(gait, seed, curve.length, config)
    if speed is not None:
        speed_fn = lambda s, g, v=float(speed): v
    slow = stair_slowdown(terrain, curve, config)
    base_speed = speed_fn
    speed_fn = lambda s, g: base_speed(s, g) * slow(s)
    timeline = make_timeline(curve.length, curve.curvature, speed_fn, run_fn, config)
    height, offset, root_rel, joints, stance, lift, progress = blend_pose(timeline)
    T = len(timeline.phase)

    yaw = curve.heading(timeline.s)
    root_xy = curve.position(timeline.s) + rotate2(yaw, offset)
    root_quat = quat.multiply(quat.about_z(yaw), root_rel)
    root_pos = np.c_[root_xy, height]
    link_pos, link_rot = skeleton.fk(root_pos, root_quat, joints)
    nominal_soles = np.stack([link_pos[:, k] + quat.rotate(link_rot[:, k], np.broadcast_to(sole_offset(), (T, 3)))
                              for k in FOOT_LINKS], 1)
    nominal_yaw = quat.heading(link_rot[:, list(FOOT_LINKS)])

    on, off = stance[..., 0], stance[..., 1]
    masks = ((timeline.phase[:, None] - on) % 1.0) < (off - on)
    holds = plan_footholds(terrain, masks, nominal_soles, nominal_yaw, config)
    soles, rots = foot_trajectories(terrain, holds, lift, progress, link_rot[:, list(FOOT_LINKS)], config)
    ankles = ankle_targets(soles, rots)

    root_pos[:, 2] = ground_height(holds, T, config) + height
    root_pos[:, 2] -= reach_lowering(skeleton, root_pos, root_quat, ankles, config)
    joints = leg_ik(skeleton, root_pos, root_quat, joints, ankles, rots)

    end = int(np.searchsorted(timeline.s, curve.length)) + 1
    motion = Motion(config.fps, root_pos[:end], root_quat[:end], joints[:end], masks[:end].astype(float),
                    terrain=terrain, path=curve.line.points, goal=curve.line.points[-1])
    return motion
