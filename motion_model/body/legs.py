"""The legs: foot geometry, footholds on terrain, and analytic two-bone leg IK.

Shared by the synthesis engine (which places feet on planned footholds) and the controller (which pins the
model's stance feet). World frame: Z up, metres; quaternions xyzw. A foot link's world rotation at rest is
Q_Y2Z (the URDF is Y-up), so "foot rotation" below always means the link's world rotation.
"""

from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from motion_model.body import quaternion as quat
from motion_model.body.skeleton import JOINT_INDEX, LEFT_FOOT, RIGHT_FOOT

FOOT_LINKS = (LEFT_FOOT, RIGHT_FOOT)
HIP_JOINTS = (JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"])
KNEE_JOINTS = (JOINT_INDEX["left_knee"], JOINT_INDEX["right_knee"])
ANKLE_JOINTS = (JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"])
HIP_LINKS = (9, 3)
KNEE_LINKS = (10, 4)
MAX_REACH = 0.975  # fraction of thigh + shin a leg may stretch to: nearly straight, never locked

# Foot box (FACTS.md): the sole is 0.05 m below the ankle; the box is centred 0.045 m ahead of it. In the
# foot's Z-up frame (x toe-ward, y left, z up) the sole centre sits at SOLE_CENTRE from the ankle joint.
SOLE_CENTRE = np.array([0.045, 0.0, -0.05])
SOLE_HALF = np.array([0.0885, 0.045])  # half length, half width of the sole (m)


def sole_offset():
    """SOLE_CENTRE in the ankle link's own (Y-up URDF) axes: x forward, y up, z right."""
    return np.array([SOLE_CENTRE[0], SOLE_CENTRE[2], -SOLE_CENTRE[1]])


def footprint(nx=7, ny=3, margin=0.01):
    """Sample points (K, 2) over the sole rectangle in the foot frame, relative to the sole centre."""
    x = np.linspace(-SOLE_HALF[0] - margin, SOLE_HALF[0] + margin, nx)
    y = np.linspace(-SOLE_HALF[1] - margin, SOLE_HALF[1] + margin, ny)
    return np.stack(np.meshgrid(x, y, indexing="ij"), -1).reshape(-1, 2)


def rotate2(yaw, xy):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * xy[..., 0] - s * xy[..., 1], s * xy[..., 0] + c * xy[..., 1]], -1)


def wrap_angle(angle):
    """Angles (rad) wrapped into [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def place_foothold(terrain, centre, yaw, max_shift, flat_tolerance):
    """Sole centres (..., 3) and foot tilts (..., 4) for nominal sole centres xy (..., 2) and toe directions yaw
    (...) (rad).

    Of the candidates along the foot (up to max_foot_shift either way) on which every footprint point lies
    within flat_tolerance of one plane (a whole stair tread, never across an edge), the nearest wins; with
    none, the flattest. The plane is lifted to the highest footprint point so that no part of the sole is
    below the surface. (Penalising big rises between footholds to land on every tread moved feet so far
    that knees hit the risers more often: measured on 16 staircases.)
    """
    local, design, fit = _plane_fit()
    centre, yaw = np.asarray(centre, dtype=np.float64), np.asarray(yaw, dtype=np.float64)
    shifts = np.arange(-max_shift, max_shift + 1e-9, 0.01)
    toe = np.stack([np.cos(yaw), np.sin(yaw)], -1)
    centres = centre[..., None, :] + shifts[:, None] * toe[..., None, :]  # (..., C, 2)
    heights = terrain.height(centres[..., None, :] + rotate2(yaw[..., None, None], local))  # (..., C, K)
    coef = heights @ fit  # plane height at the centre, slope along x, slope along y
    residual = heights - coef @ design.T
    spread = np.abs(residual).max(-1)
    top = coef[..., 0] + np.maximum(residual.max(-1), 0.0)
    cost = np.where(spread <= flat_tolerance, np.abs(shifts), 1e3 + spread)
    best = np.argmin(cost, -1)[..., None]
    bx, by = (np.take_along_axis(coef[..., i], best, -1)[..., 0] for i in (1, 2))
    normal_xy = rotate2(yaw, np.stack([-bx, -by], -1))
    normal = np.concatenate([normal_xy, np.ones_like(bx)[..., None]], -1)
    sole = np.concatenate(
        [np.take_along_axis(centres, best[..., None], -2)[..., 0, :], np.take_along_axis(top, best, -1)], -1
    )
    return sole, tilt(normal / np.linalg.norm(normal, axis=-1, keepdims=True))


def footprint_spread(terrain, centre, yaw):
    """How far (...) the terrain under soles centred at (..., 2) with toe directions (...) (rad) departs from one
    plane, in m: 0 on a tread or a slope, about the riser's height across a stair edge."""
    local, design, fit = _plane_fit()
    yaw = np.asarray(yaw, dtype=np.float64)
    heights = terrain.height(np.asarray(centre, dtype=np.float64)[..., None, :] + rotate2(yaw[..., None], local))
    return np.abs(heights - (heights @ fit) @ design.T).max(-1)


@lru_cache(maxsize=1)
def _plane_fit():
    """Footprint points (K, 2), the plane fit's design matrix (K, 3) and its least-squares solver (K, 3)."""
    local = footprint()
    design = np.c_[np.ones(len(local)), local]
    return local, design, np.linalg.pinv(design).T


def tilt(normal):
    """Quaternions (..., 4) of the smallest rotations taking +Z to the unit normals (..., 3)."""
    axis = np.stack([-normal[..., 1], normal[..., 0], np.zeros_like(normal[..., 0])], -1)  # +Z x normal
    s = np.linalg.norm(axis, axis=-1)
    axis = np.where(s[..., None] > 1e-9, axis / np.maximum(s, 1e-12)[..., None], [1.0, 0.0, 0.0])
    return quat.from_axis_angle(axis, np.arctan2(s, normal[..., 2]))


def ankle_targets(soles, rots):
    """Ankle joint positions (T, 2, 3) that put the sole centres at `soles` with foot rotations `rots`."""
    return soles - quat.rotate(rots, np.broadcast_to(sole_offset(), soles.shape))


def rotation_between(a, b):
    """Quaternions (T, 4) of the smallest rotations taking directions a to b (T, 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = (a * b).sum(-1)
    angle = np.arctan2(s, c)
    axis = np.where(s[:, None] > 1e-9, axis / np.maximum(s, 1e-12)[:, None], [1.0, 0.0, 0.0])
    return quat.from_axis_angle(axis, angle)


def leg_ik(skeleton, root_pos, root_quat, joints, ankles, foot_rots):
    """Joint rotations with each leg's hip and knee solved so the ankle lands on `ankles` (T, 2, 3), and the
    ankle turned so the foot link's world rotation is `foot_rots` (T, 2, 4). The clip's hip swivel is kept:
    after setting the knee angle from the hip-ankle distance, the thigh turns by the smallest rotation that
    points the leg at the target."""
    joints = joints.copy()
    thigh = -skeleton.offsets[KNEE_LINKS[0], 1]
    shin = -skeleton.offsets[FOOT_LINKS[0], 1]
    for f in range(2):
        hip = root_pos + quat.rotate(root_quat, np.broadcast_to(skeleton.offsets[HIP_LINKS[f]], root_pos.shape))
        target = ankles[:, f] - hip
        d = np.clip(np.linalg.norm(target, axis=-1), abs(thigh - shin) + 1e-3, thigh + shin - 1e-6)
        cos_inner = np.clip((thigh**2 + shin**2 - d**2) / (2 * thigh * shin), -1.0, 1.0)
        knee = -(np.pi - np.arccos(cos_inner))  # the knee hinge bends negatively about +Z
        knee_q = quat.about_z(knee)
        shin_vec = np.broadcast_to([0.0, -shin, 0.0], (len(d), 3))
        ankle_local = np.array([0.0, -thigh, 0.0]) + quat.rotate(knee_q, shin_vec)
        hip_world = quat.multiply(root_quat, joints[:, HIP_JOINTS[f]])
        current = quat.rotate(hip_world, ankle_local)
        hip_world = quat.multiply(rotation_between(current, target), hip_world)
        joints[:, HIP_JOINTS[f]] = quat.multiply(quat.conjugate(root_quat), hip_world)
        joints[:, KNEE_JOINTS[f]] = knee_q
        shin_world = quat.multiply(hip_world, knee_q)
        joints[:, ANKLE_JOINTS[f]] = quat.normalize(quat.multiply(quat.conjugate(shin_world), foot_rots[:, f]))
    return joints


def reach_lowering(skeleton, root_pos, root_quat, ankles, reach, fps):
    """How far (T,) the pelvis must drop so that every leg reaches its ankle target (T, 2, 3), smoothed over
    about 0.3 s (never less than the drop a frame needs). reach: the fraction of thigh plus shin a leg may
    stretch to, a number or one per frame (T,)."""
    leg = -(skeleton.offsets[KNEE_LINKS[0], 1] + skeleton.offsets[FOOT_LINKS[0], 1])  # thigh + shin
    reach = np.asarray(reach) * leg
    need = np.zeros(len(root_pos))
    for f in range(2):
        hip = root_pos + quat.rotate(root_quat, np.broadcast_to(skeleton.offsets[HIP_LINKS[f]], root_pos.shape))
        horiz = np.linalg.norm(ankles[:, f, :2] - hip[:, :2], axis=-1)
        vert = hip[:, 2] - ankles[:, f, 2]
        need = np.maximum(need, vert - np.sqrt(np.maximum(reach**2 - horiz**2, 0.0)))
    need = np.maximum(need, 0.0)
    width = int(fps * 0.3) | 1
    smooth = gaussian_filter1d(maximum_filter1d(need, width, mode="nearest"), width / 4, mode="nearest")
    return np.maximum(smooth, need)
