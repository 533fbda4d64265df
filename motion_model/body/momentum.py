"""The whole body's centre of mass, made to move as a body under gravity could.

A kinematic generator (the engine's blended mocap, the network's segments) moves the centre of mass however its
poses happen to put it: in a running flight it may rise, stall or brake, and in support it may jerk. The
filter here finds the centre-of-mass path closest to the given one (least squares: the height first, then the
horizontal axes) that

- falls at g in flight (vertical acceleration -g, no horizontal acceleration: the ballistic parabola),
- changes its acceleration smoothly (a jerk penalty: feet load and unload over a few frames, not at once),
- on a single foot, accelerates horizontally as an inverted pendulum on that foot, (a_z + g) (c - p) /
  (c_z - p_z): the ground's push then points through the centre of mass and leaves no moment about it that
  the limbs would have to balance; in double support, accelerates little horizontally,

and `ballistic_body` moves the root by the difference and re-solves the legs so that planted feet stay put.
The normal equations are banded (third differences: 3 bands), solved with scipy.linalg.solveh_banded.
World frame: Z up, metres, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solveh_banded

from motion_model.body import quaternion as quat
from motion_model.body.inertia import LinkInertia
from motion_model.body.legs import leg_ik, reach_lowering, sole_offset
from motion_model.body.skeleton import Skeleton

G = 9.81  # m/s^2
BANDS = 3  # upper bandwidth of the normal equations (third differences)


@dataclass(frozen=True)
class MomentumConfig:
    """Tolerances of the centre-of-mass filter: each term's weight is 1 / tolerance^2."""

    fit: float = 0.01  # m from the generator's centre of mass
    flight: float = 0.05  # m/s^2 from the ballistic acceleration while airborne
    jerk: float = 300.0  # m/s^3: how fast the acceleration may change
    horizontal: float = 5.0  # m/s^2 of horizontal acceleration in support
    pendulum: float = 1.0  # m/s^2 from the inverted pendulum's horizontal acceleration on a single foot
    fixed: float = 1e-6  # m from the given path where it is fixed (frames already shown, standing still)
    iterations: int = 2  # root shifts and leg solves: the legs' new pose moves the centre of mass a little


def centre_of_mass(links, inertia):
    """Whole-body centre of mass (T, 3) of Links (Skeleton.fk) with the links' masses (LinkInertia)."""
    c = inertia.world_com(links)
    return (inertia.mass[:, None] * c).sum(-2) / inertia.total_mass


STENCILS = {2: np.array([1.0, -2.0, 1.0]), 3: np.array([-1.0, 3.0, -3.0, 1.0])}  # forward differences


def _add_gram(ab, stencil, weights):
    """Add sum_i w_i r_i^T r_i to the upper banded storage ab (BANDS + 1, n), where row r_i holds stencil (S,)
    or its row i (m, S) at columns i .. i + S - 1 and weights (m,) are the w_i."""
    m = len(weights)
    stencil = np.broadcast_to(stencil, (m, np.shape(stencil)[-1]))
    for a in range(stencil.shape[1]):
        for b in range(a, stencil.shape[1]):
            ab[BANDS - (b - a), b : b + m] += weights * stencil[:, a] * stencil[:, b]


def _apply_transposed(stencil, values, n):
    """R^T values for the rows R of _add_gram (values (m, K)): (n, K)."""
    m = len(values)
    stencil = np.broadcast_to(stencil, (m, np.shape(stencil)[-1]))
    out = np.zeros((n,) + values.shape[1:])
    for a in range(stencil.shape[1]):
        out[a : a + m] += stencil[:, a, None] * values
    return out


def filter_axes(x, fps, accel, target, weight, config, fixed=None):
    """Axes (T, K) of a centre-of-mass path that share their weights, filtered (module docstring).

    Each interior frame i (1 .. T-2) pays weight[i - 1] for the distance of accel (T - 2, 3) (a second-difference
    stencil per frame, in 1/s^2) applied to frames i - 1 .. i + 1 from target (T - 2, K); every frame pays
    config.fit from x (config.fixed where fixed (T,) is true), and config.jerk for the third differences.
    """
    n = len(x)
    if n < len(STENCILS[3]) + 1:
        return x.copy()
    dt = 1.0 / fps
    fit_w = np.full(n, config.fit**-2)
    if fixed is not None:
        fit_w[fixed] = config.fixed**-2
    ab = np.zeros((BANDS + 1, n))
    ab[BANDS] = fit_w
    _add_gram(ab, accel, weight)
    _add_gram(ab, STENCILS[3] / dt**3, np.full(n - 3, config.jerk**-2))
    return solveh_banded(ab, fit_w[:, None] * x + _apply_transposed(accel, weight[:, None] * target, n))


def filtered_com(com, airborne, fps, config=MomentumConfig(), fixed=None, support=None):
    """The centre-of-mass path (T, 3) closest to com (T, 3) that flies ballistically while airborne (T,),
    left as it is where fixed (T,) is true (frames already shown, a body standing still).

    support (T, 3): where a single supporting foot pushes (NaN elsewhere): there the horizontal acceleration
    follows the force line from the foot through the centre of mass, a = (a_z + g) (c - p) / (c_z - p_z),
    so that the ground's push leaves no moment about the centre of mass (an inverted pendulum).
    """
    n = len(com)
    if n < len(STENCILS[3]) + 1:
        return com.copy()
    d2 = np.broadcast_to(STENCILS[2] * fps**2, (n - 2, 3))
    flying = airborne[1:-1]
    out = np.empty_like(com)
    w = np.where(flying, config.flight**-2, 0.0)
    out[:, 2:] = filter_axes(com[:, 2:], fps, d2, np.where(flying, -G, 0.0)[:, None], w, config, fixed)
    w = np.where(flying, config.flight**-2, config.horizontal**-2)
    accel, target = d2.copy(), np.zeros((n - 2, 2))
    if support is not None:
        p = support[1:-1]
        lean = np.isfinite(p[:, 2]) & ~flying
        a_z = np.diff(out[:, 2], 2) * fps**2
        height = np.maximum(out[1:-1, 2] - np.nan_to_num(p[:, 2]), 0.3)
        omega2 = np.where(lean, np.maximum(a_z + G, 0.0) / height, 0.0)
        accel[:, 1] -= omega2
        target = -omega2[:, None] * np.nan_to_num(p[:, :2])
        w = np.where(lean, config.pendulum**-2, w)
    out[:, :2] = filter_axes(com[:, :2], fps, accel, target, w, config, fixed)
    return out


def single_support(soles, stance):
    """(T, 3) where a body on one foot pushes: the sole centre of soles (T, 2, 3) of the one foot in stance
    (T, 2) bool; NaN where both feet or neither are."""
    single = stance.sum(1) == 1
    return np.where(single[:, None], soles[np.arange(len(soles)), np.argmax(stance, 1)], np.nan)


def ballistic_body(
    root_pos, root_quat, joints, ankles, foot_rots, stance, fps, config=MomentumConfig(), still=None, reach=1.0
):
    """Root positions (T, 3) and joint rotations (T, 12, 4) whose centre of mass follows filtered_com.

    ankles (T, 2, 3) and foot_rots (T, 2, 4): where the legs keep the feet (legs.leg_ik targets), so that
    planted feet stay planted while the root moves; stance (T, 2) bool: the feet on their footholds (flight
    where neither is); still (T,) bool: frames where the body stands still, left as they are; reach: the
    fraction of the leg (a number or (T,)) the moved root may stretch one to (legs.reach_lowering drops it
    where the centre of mass's path would ask for more).
    """
    skeleton, inertia = Skeleton.load(), LinkInertia.load()
    com = centre_of_mass(skeleton.fk(root_pos, root_quat, joints), inertia)
    soles = ankles + quat.rotate(foot_rots, np.broadcast_to(sole_offset(), ankles.shape))
    goal = filtered_com(com, ~stance.any(1), fps, config, fixed=still, support=single_support(soles, stance))
    for _ in range(config.iterations):
        root_pos = root_pos + (goal - com)
        root_pos[:, 2] -= reach_lowering(skeleton, root_pos, root_quat, ankles, reach, fps)
        joints = leg_ik(skeleton, root_pos, root_quat, joints, ankles, foot_rots)
        com = centre_of_mass(skeleton.fk(root_pos, root_quat, joints), inertia)
    return root_pos, joints
