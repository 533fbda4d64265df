"""Rotations as quaternions (x, y, z, w), rotation matrices and the continuous 6D form.

Every function works on numpy arrays and on torch tensors alike (batched over leading dimensions), so the
same code serves data processing and differentiable losses.
"""

import numpy as np
import torch


def _xp(x):
    return torch if isinstance(x, torch.Tensor) else np


def normalize(q):
    return q / _xp(q).sqrt((q * q).sum(-1))[..., None]


def conjugate(q):
    return _xp(q).stack([-q[..., 0], -q[..., 1], -q[..., 2], q[..., 3]], -1)


def multiply(a, b):
    """Hamilton product a * b (apply b first, then a)."""
    ax, ay, az, aw = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bx, by, bz, bw = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _xp(a).stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        -1,
    )


def rotate(q, v):
    """Rotate vectors v (..., 3) by quaternions q (..., 4)."""
    # v + w t + u x t with t = 2 u x v, written out: np.cross (about 65 us a call) dominated the controller.
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    tx, ty, tz = 2.0 * (y * vz - z * vy), 2.0 * (z * vx - x * vz), 2.0 * (x * vy - y * vx)
    return _xp(q).stack(
        [vx + w * tx + y * tz - z * ty, vy + w * ty + z * tx - x * tz, vz + w * tz + x * ty - y * tx], -1
    )


def from_axis_angle(axis, angle):
    """Quaternion for a rotation of `angle` radians about the unit `axis` (broadcast together)."""
    xp = _xp(angle)
    half = 0.5 * angle
    s = xp.sin(half)
    axis = axis if xp is np else torch.as_tensor(axis, dtype=angle.dtype)
    return xp.stack([axis[..., 0] * s, axis[..., 1] * s, axis[..., 2] * s, xp.cos(half) + 0 * s], -1)


def about_z(angle):
    """Quaternion for a yaw of `angle` radians about +Z."""
    xp = _xp(angle)
    half = 0.5 * angle
    zero = 0 * half
    return xp.stack([zero, zero, xp.sin(half), xp.cos(half)], -1)


def to_matrix(q):
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    xp = _xp(q)
    rows = [
        1 - 2 * (y * y + z * z),
        2 * (x * y - z * w),
        2 * (x * z + y * w),
        2 * (x * y + z * w),
        1 - 2 * (x * x + z * z),
        2 * (y * z - x * w),
        2 * (x * z - y * w),
        2 * (y * z + x * w),
        1 - 2 * (x * x + y * y),
    ]
    return xp.stack(rows, -1).reshape(q.shape[:-1] + (3, 3))


def from_matrix(m):
    """Quaternion (w >= 0) of rotation matrices m (..., 3, 3); numerically safe on every branch."""
    xp = _xp(m)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Candidate |component| values; the largest one gives the best-conditioned division.
    cand = xp.stack([1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22, 1 + m00 + m11 + m22], -1)
    cand = xp.sqrt(xp.clip(cand, 1e-12, None) if xp is np else cand.clamp_min(1e-12)) * 0.5
    x_, y_, z_, w_ = cand[..., 0], cand[..., 1], cand[..., 2], cand[..., 3]
    m21m12, m02m20, m10m01 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    m01p10, m02p20, m12p21 = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    options = xp.stack(
        [
            xp.stack([x_, m01p10 / (4 * x_), m02p20 / (4 * x_), m21m12 / (4 * x_)], -1),
            xp.stack([m01p10 / (4 * y_), y_, m12p21 / (4 * y_), m02m20 / (4 * y_)], -1),
            xp.stack([m02p20 / (4 * z_), m12p21 / (4 * z_), z_, m10m01 / (4 * z_)], -1),
            xp.stack([m21m12 / (4 * w_), m02m20 / (4 * w_), m10m01 / (4 * w_), w_], -1),
        ],
        -2,
    )
    best = cand.argmax(-1)
    if xp is np:
        q = np.take_along_axis(options, best[..., None, None].repeat(4, -1), -2)[..., 0, :]
        q = np.where(q[..., 3:] < 0, -q, q)
    else:
        q = torch.gather(options, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
        q = torch.where(q[..., 3:] < 0, -q, q)
    return normalize(q)


def to_6d(q):
    """Continuous 6D rotation form (Zhou et al. 2019): the first two columns of the matrix, (..., 6)."""
    m = to_matrix(q)
    cat = np.concatenate if _xp(q) is np else torch.cat
    return cat([m[..., :, 0], m[..., :, 1]], -1)


def matrix_from_6d(d):
    """Rotation matrix from the 6D form by Gram-Schmidt; any 6-vector maps to a valid rotation."""
    xp = _xp(d)
    a, b = d[..., :3], d[..., 3:]
    cross = xp.cross if xp is np else torch.linalg.cross
    c0 = a / xp.sqrt((a * a).sum(-1) + 1e-12)[..., None]
    b = b - (c0 * b).sum(-1)[..., None] * c0
    c1 = b / xp.sqrt((b * b).sum(-1) + 1e-12)[..., None]
    c2 = cross(c0, c1)
    return xp.stack([c0, c1, c2], -1)


def from_6d(d):
    return from_matrix(matrix_from_6d(d))


def heading(q):
    """Yaw angle (radians, about +Z) of the direction that the body's +X axis points to, in the XY plane."""
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return _xp(q).arctan2(2 * (x * y + z * w), 1 - 2 * (y * y + z * z))


def slerp(a, b, t):
    """Spherical interpolation from a (t=0) to b (t=1), taking the short way; numpy only."""
    a, b, t = np.asarray(a), np.asarray(b), np.asarray(t, dtype=float)
    dot = (a * b).sum(-1)
    b = np.where(dot[..., None] < 0, -b, b)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    wa = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    wb = np.where(small, t, np.sin(t * theta) / safe)
    return normalize(wa[..., None] * a + wb[..., None] * b)


def to_axis_angle(q):
    """Rotation vector (axis * angle, radians) of q, using the shortest rotation; numpy only."""
    q = np.where(q[..., 3:] < 0, -q, q)
    s = np.linalg.norm(q[..., :3], axis=-1)
    angle = 2.0 * np.arctan2(s, q[..., 3])
    scale = np.where(s > 1e-9, angle / np.maximum(s, 1e-9), 2.0)
    return q[..., :3] * scale[..., None]


def from_axis_angle_vector(v):
    """Quaternion from a rotation vector (axis * angle); numpy only."""
    angle = np.linalg.norm(v, axis=-1)
    axis = v / np.maximum(angle, 1e-12)[..., None]
    return from_axis_angle(axis, angle)
