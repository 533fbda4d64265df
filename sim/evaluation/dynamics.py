"""Dynamic plausibility of a `Motion`: could a body under gravity, pushing only on the ground, move so?

Definitions: docs/guide.md, Metrics, "Dynamic metrics". In short:
- the required wrench: from the 15 links' masses, centres of mass and inertias (motion_model.body.inertia),
  the whole-body linear momentum rate M (a_com - g) and the angular momentum rate about the centre of mass,
  sum_i m_i (c_i - c) x (a_i - a_com) + d/dt (I_i w_i). Derivatives are Savitzky-Golay filters
  (scipy.signal.savgol_filter, window SMOOTH_WINDOW = 7 frames at 30 fps, about 0.2 s, polynomial order 3;
  the window scales with the frame rate), applied to positions, quaternions (for the angular velocities
  w = 2 dq/dt q*) and I_i w_i, within each contact phase (phases(): each flight and each stretch of support
  between flights), never across a take-off or a touchdown, where a real body's acceleration jumps; a phase
  shorter than the window gets one parabola (a flight's constant acceleration). The half window at either
  end of a motion, where the filter extrapolates, is left out of the wrench and ZMP summaries;
- the best wrench the supporting soles can supply (sim.evaluation.support: contact rule, friction pyramids
  mu 1, non-negative least squares) and the residual, force in body weights and moment in body weight
  times the centre of mass's height above the terrain under it;
- flights: stretches of FLIGHT_FRAMES (4) or more frames with no foot within NEAR_GROUND (5 cm) of the
  terrain; the acceleration of the parabola fitted to the centre of mass's height against g, |a - g| / g;
- walking frames (root horizontal speed below WALK_SPEED, 2 m/s) with no foot within 5 cm of the terrain;
- on flat terrain only, the distance of the required wrench's zero-moment point outside the support polygon
  (convex hull of the supporting sole corners).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import savgol_filter

from motion_model.body import quaternion as quat
from motion_model.body.inertia import LinkInertia
from motion_model.body.skeleton import Skeleton
from sim.evaluation import support
from terrain.heightfield import Heightfield

G = 9.81  # m/s^2
SMOOTH_WINDOW = 7  # frames at SMOOTH_FPS
SMOOTH_FPS = 30.0
SMOOTH_ORDER = 3
NEAR_GROUND = 0.05  # m
FLIGHT_FRAMES = 4
WALK_SPEED = 2.0  # m/s
RESIDUAL_LEVEL = 0.1  # body weights
MIN_COM_HEIGHT = 0.2  # m, floor of the moment normalisation (a body lying on the ground)
FLAT_MARGIN = 5.0  # m of flat ground around the motion when it has no terrain

KEYS = (
    "residual_force_mean_bw",
    "residual_force_frac_0p1",
    "residual_moment_mean",
    "flight_count",
    "flight_accel_error_mean",
    "no_foot_walk_frac",
    "zmp_outside_mean_m",
    "zmp_outside_max_m",
)


@dataclass(frozen=True)
class DynamicsFrames:
    """Per frame: com (T, 3) m; force (T, 3) N and moment (T, 3) N m about com, the wrench the ground must
    supply; residual_force (T,) body weights and residual_moment (T,) in weight * com height; gap (T, 2) m,
    lowest sole point above the terrain; supporting (T, 2) bool; zmp_outside (T,) m (NaN off flat ground or
    without support)."""

    com: np.ndarray
    force: np.ndarray
    moment: np.ndarray
    residual_force: np.ndarray
    residual_moment: np.ndarray
    gap: np.ndarray
    supporting: np.ndarray
    zmp_outside: np.ndarray


def smoothing_window(fps):
    """Savitzky-Golay window (odd, frames) of about SMOOTH_WINDOW / SMOOTH_FPS seconds at `fps`."""
    return max(SMOOTH_ORDER + 2, 2 * round(0.5 * (SMOOTH_WINDOW * fps / SMOOTH_FPS - 1)) + 1)


def phases(gap):
    """[start, stop) ranges that together cover every frame: each flight (no foot within NEAR_GROUND for
    FLIGHT_FRAMES or more) and each stretch of support between them. A support
    stretch of fewer than 3 frames joins the flight after it (too short to fit an acceleration to)."""
    bounds = [0, len(gap)]
    for start, stop in flights(gap):
        bounds += [start, stop]
    bounds = sorted(set(bounds))
    kept = [bounds[0]]
    for b in bounds[1:-1]:
        if b - kept[-1] >= 3:
            kept.append(b)
    if bounds[-1] - kept[-1] < 3 and len(kept) > 1:
        kept.pop()
    kept.append(bounds[-1])
    return list(zip(kept[:-1], kept[1:]))


def _derivative(x, fps, order, pieces=None):
    """Savitzky-Golay derivative of x (T, ...) along time, fitted within each [start, stop) piece separately
    (a piece shorter than the window: one parabola over it, the constant acceleration of a flight)."""
    window = smoothing_window(fps)
    out = np.empty_like(x)
    for start, stop in pieces or [(0, len(x))]:
        n = stop - start
        w, polyorder = (window, SMOOTH_ORDER) if n >= window else (n, 2)
        out[start:stop] = savgol_filter(x[start:stop], w, polyorder, deriv=order, delta=1.0 / fps, axis=0)
    return out


def angular_velocity(rot, fps, pieces=None):
    """World angular velocities (T, L, 3) rad/s of world orientations rot (T, L, 4) xyzw (pieces: as
    _derivative)."""
    q = rot.copy()
    for t in range(1, len(q)):  # one hemisphere along time, so that the filter sees a smooth curve
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t, flip] *= -1
    dq = _derivative(q, fps, 1, pieces)
    return 2.0 * quat.multiply(dq, quat.conjugate(q))[..., :3]


def required_wrench(links, fps, inertia, pieces=None):
    """The ground's required force (T, 3) N and moment (T, 3) N m about the centre of mass, and com (T, 3).
    pieces: [start, stop) contact phases (phases()) that the smoothing does not cross; one by default."""
    mass = inertia.mass
    total = inertia.total_mass
    c_links = inertia.world_com(links)
    com = (mass[:, None] * c_links).sum(1) / total
    a_links = _derivative(c_links, fps, 2, pieces)
    a_com = (mass[:, None] * a_links).sum(1) / total
    force = total * (a_com - np.array([0.0, 0.0, -G]))
    spin = np.einsum("tlij,tlj->tli", inertia.world_inertia(links), angular_velocity(links.rot, fps, pieces))
    orbital = np.cross(c_links - com[:, None], mass[:, None] * (a_links - a_com[:, None])).sum(1)
    moment = orbital + _derivative(spin, fps, 1, pieces).sum(1)
    return force, moment, com


def dynamics_frames(motion, terrain, skeleton=None, inertia=None):
    """The per-frame quantities (DynamicsFrames) of a finite motion of at least smoothing_window frames."""
    skeleton = skeleton or Skeleton.load()
    inertia = inertia or LinkInertia.load()
    links = motion.fk(skeleton)
    soles = skeleton.sole_points(*links)
    gap = (soles[..., 2] - terrain.height(soles[..., :2])).min(-1)
    force, moment, com = required_wrench(links, motion.fps, inertia, phases(gap))
    supporting = support.supporting_feet(gap)
    corners = soles[:, :, support.SOLE_CORNERS]  # (T, 2, 4, 3)
    weight = inertia.total_mass * G
    height = np.maximum(com[:, 2] - terrain.height(com[:, :2]), MIN_COM_HEIGHT)
    flat = float(np.ptp(terrain.heights)) < 1e-9
    res_force, res_moment, outside = (np.full(len(com), math.nan) for _ in range(3))
    for t in range(len(com)):
        points = corners[t][supporting[t]].reshape(-1, 3)
        normals = terrain.normal(points[:, :2]).reshape(-1, 3)
        f, m = support.best_support(points, normals, com[t], force[t], moment[t], weight, height[t])
        res_force[t], res_moment[t] = np.linalg.norm(f), np.linalg.norm(m)
        if flat and len(points):
            ground = float(terrain.heights.flat[0])
            outside[t] = support.distance_outside(support.zmp(com[t], force[t], moment[t], ground), points[:, :2])
    return DynamicsFrames(com, force, moment, res_force, res_moment, gap, supporting, outside)


def flights(gap, min_frames=FLIGHT_FRAMES):
    """[start, stop) frame ranges of the stretches of min_frames or more with no foot within NEAR_GROUND."""
    airborne = np.r_[False, (gap >= NEAR_GROUND).all(1), False].astype(np.int8)
    edges = np.diff(airborne)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops) if b - a >= min_frames]


def flight_accel_errors(com_z, ranges, fps):
    """|a - g| / g of each flight's fitted parabola (a: its vertical acceleration, g pointing down)."""
    errors = []
    for start, stop in ranges:
        t = np.arange(start, stop) / fps
        curvature = np.polyfit(t - t.mean(), com_z[start:stop], 2)[0]
        errors.append(abs(2 * curvature + G) / G)
    return errors


def _summary(frames, motion):
    ranges = flights(frames.gap)
    errors = flight_accel_errors(frames.com[:, 2], ranges, motion.fps)
    root_speed = np.linalg.norm(np.gradient(motion.root_pos[:, :2], axis=0), axis=-1) * motion.fps
    walking = root_speed < WALK_SPEED
    no_foot = (frames.gap >= NEAR_GROUND).all(1)
    edge = smoothing_window(motion.fps) // 2
    inner = slice(edge, len(frames.com) - edge)
    force, moment = frames.residual_force[inner], frames.residual_moment[inner]
    outside = frames.zmp_outside[inner][np.isfinite(frames.zmp_outside[inner])]
    return {
        "residual_force_mean_bw": float(force.mean()),
        "residual_force_frac_0p1": float((force > RESIDUAL_LEVEL).mean()),
        "residual_moment_mean": float(moment.mean()),
        "flight_count": len(ranges),
        "flight_accel_error_mean": float(np.mean(errors)) if errors else math.nan,
        "no_foot_walk_frac": float(no_foot[walking].mean()) if walking.any() else math.nan,
        "zmp_outside_mean_m": float(outside.mean()) if outside.size else math.nan,
        "zmp_outside_max_m": float(outside.max()) if outside.size else math.nan,
    }


def flat_ground(motion):
    """Flat z = 0 ground under the motion's root path, FLAT_MARGIN m beyond it on every side."""
    xy = motion.root_pos[:, :2]
    lo, hi = xy.min(0), xy.max(0)
    size = float((hi - lo).max()) + 2 * FLAT_MARGIN
    return Heightfield(np.zeros((2, 2)), size, lo - FLAT_MARGIN)


def dynamic_metrics(motion, terrain=None, skeleton=None, inertia=None):
    """The dynamic metrics of `motion` (keys: KEYS; definitions: the module docstring and docs/guide.md).

    terrain: by default the motion's own, else flat ground at z = 0. A motion with non-finite values or
    fewer frames than the smoothing window gets NaN everywhere (flight_count 0).
    """
    finite = all(np.isfinite(a).all() for a in (motion.root_pos, motion.root_quat, motion.joint_quat))
    if not finite or motion.num_frames < smoothing_window(motion.fps):
        return {key: (0 if key == "flight_count" else math.nan) for key in KEYS}
    terrain = terrain if terrain is not None else motion.terrain
    terrain = terrain if terrain is not None else flat_ground(motion)
    return _summary(dynamics_frames(motion, terrain, skeleton, inertia), motion)
