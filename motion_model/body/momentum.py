"""The whole body's centre of mass, made to move as a body under gravity could.

A kinematic generator (the engine's blended mocap, the network's segments) moves the centre of mass however its
poses happen to put it: in a running flight it may rise, stall or brake, and in support it may jerk. The
filter here finds the centre-of-mass path closest to the given one (least squares, per axis) that

- falls at g in flight (vertical acceleration -g, no horizontal acceleration: the ballistic parabola),
- changes its acceleration smoothly (a jerk penalty: feet load and unload over a few frames, not at once),
- accelerates little sideways and along the way (a penalty on horizontal acceleration, which friction and
  the legs must supply),

and `ballistic_body` moves the root by the difference and re-solves the legs so that planted feet stay put.
The normal equations are banded (third differences: 3 bands), solved with scipy.linalg.solveh_banded.
World frame: Z up, metres, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solveh_banded

from motion_model.body.inertia import LinkInertia
from motion_model.body.legs import leg_ik
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
    held: float = 1e-6  # m from the given path over the leading `held` frames (already shown)
    iterations: int = 2  # root shifts and leg solves: the legs' new pose moves the centre of mass a little


def centre_of_mass(links, inertia):
    """Whole-body centre of mass (T, 3) of Links (Skeleton.fk) with the links' masses (LinkInertia)."""
    c = inertia.world_com(links)
    return (inertia.mass[:, None] * c).sum(-2) / inertia.total_mass


STENCILS = {2: np.array([1.0, -2.0, 1.0]), 3: np.array([-1.0, 3.0, -3.0, 1.0])}  # forward differences


def _add_gram(ab, stencil, weights):
    """Add sum_i w_i r_i^T r_i to the upper banded storage ab (BANDS + 1, n), where row r_i holds `stencil`
    at columns i .. i + len(stencil) - 1 and weights (n - len(stencil) + 1,) are the w_i."""
    m = len(weights)
    for a, ca in enumerate(stencil):
        for b in range(a, len(stencil)):
            ab[BANDS - (b - a), a + (b - a) : a + (b - a) + m] += weights * ca * stencil[b]


def _apply_transposed(stencil, values, n):
    """R^T values for the difference rows R of _add_gram (values (m,)): a vector (n,)."""
    out = np.zeros(n)
    for a, ca in enumerate(stencil):
        out[a : a + len(values)] += ca * values
    return out


def filter_axes(x, airborne, fps, flight_accel, support_tol, config, held=0):
    """Axes (T, K) of a centre-of-mass path that share their weights, filtered (module docstring).

    airborne (T,) bool: frames in flight, which accelerate at flight_accel m/s^2 (-G vertically, 0
    horizontally); support_tol: m/s^2 of acceleration the other frames pay for (None: free). held: leading
    frames kept (already shown).
    """
    n = len(x)
    if n < len(STENCILS[3]) + 1:
        return x.copy()
    dt = 1.0 / fps
    fit_w = np.full(n, config.fit**-2)
    fit_w[:held] = config.held**-2
    flying = airborne[1:-1]  # the second difference from frame i is the acceleration at frame i + 1
    acc_w = np.where(flying, config.flight**-2, 0.0 if support_tol is None else support_tol**-2)
    ab = np.zeros((BANDS + 1, n))
    ab[BANDS] = fit_w
    _add_gram(ab, STENCILS[2] / dt**2, acc_w)
    _add_gram(ab, STENCILS[3] / dt**3, np.full(n - 3, config.jerk**-2))
    pull = _apply_transposed(STENCILS[2] / dt**2, acc_w * flying, n)  # where the flight's acceleration pulls
    return solveh_banded(ab, fit_w[:, None] * x + pull[:, None] * flight_accel)


def filtered_com(com, airborne, fps, config=MomentumConfig(), held=0):
    """The centre-of-mass path (T, 3) closest to com (T, 3) that flies ballistically while airborne (T,)."""
    out = np.empty_like(com)
    out[:, 2:] = filter_axes(com[:, 2:], airborne, fps, np.array([-G]), None, config, held)
    out[:, :2] = filter_axes(com[:, :2], airborne, fps, np.zeros(2), config.horizontal, config, held)
    return out


def ballistic_body(root_pos, root_quat, joints, ankles, foot_rots, airborne, fps, config=MomentumConfig(), held=0):
    """Root positions (T, 3) and joint rotations (T, 12, 4) whose centre of mass follows filtered_com.

    ankles (T, 2, 3) and foot_rots (T, 2, 4): where the legs keep the feet (legs.leg_ik targets), so that
    planted feet stay planted while the root moves. held: leading frames (already shown) left as they are.
    """
    skeleton, inertia = Skeleton.load(), LinkInertia.load()
    com = centre_of_mass(skeleton.fk(root_pos, root_quat, joints), inertia)
    goal = filtered_com(com, airborne, fps, config, held)
    for _ in range(config.iterations):
        root_pos = root_pos + (goal - com)
        joints = leg_ik(skeleton, root_pos, root_quat, joints, ankles, foot_rots)
        com = centre_of_mass(skeleton.fk(root_pos, root_quat, joints), inertia)
    return root_pos, joints
