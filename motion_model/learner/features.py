"""Per-frame motion features in a character's reference frame, and their standardisation.

Reference frame: origin at the reference root's xy and at `ref_z` (the ground height under that root), x along
the reference heading (yaw of the body's +X axis, `quaternion.heading`), y to its left, z up; metres.
The model's reference is the last previous frame, so every window looks the same whatever its world pose.

Feature layout per frame (NUM_FEATURES = 63), see LAYOUT:
  root_pos   0:3    root position in the reference frame (m)
  root_rot   3:9    root rotation in the reference frame, 6D (first two matrix columns)
  joint_rot  9:57   the 8 spherical joints in SPHERICAL order, 6D each (local rotations, frame-independent)
  hinge     57:61   knee and elbow angles about their +Z axis in HINGES order (rad, in (-pi, pi])
  contacts  61:63   foot contacts [left, right] in [0, 1]
Every function works on numpy arrays and torch tensors alike, batched over leading dimensions.
"""

import numpy as np
import torch

from motion_model.body import quaternion as quat
from motion_model.body.skeleton import JOINT_INDEX

SPHERICAL = tuple(
    JOINT_INDEX[n]
    for n in ("chest", "neck", "right_hip", "right_ankle", "right_shoulder", "left_hip", "left_ankle", "left_shoulder")
)
HINGES = tuple(JOINT_INDEX[n] for n in ("right_knee", "right_elbow", "left_knee", "left_elbow"))
LAYOUT = {
    "root_pos": slice(0, 3),
    "root_rot": slice(3, 9),
    "joint_rot": slice(9, 57),
    "hinge": slice(57, 61),
    "contacts": slice(61, 63),
}
NUM_FEATURES = 63
NUM_JOINTS = len(SPHERICAL) + len(HINGES)


def _xp(x):
    return torch if isinstance(x, torch.Tensor) else np


def _cat(arrays):
    return torch.cat(arrays, -1) if isinstance(arrays[0], torch.Tensor) else np.concatenate(arrays, -1)


def _as(x, like):
    """x as an array or tensor of like's kind and dtype."""
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(x, dtype=like.dtype, device=like.device)
    return np.asarray(x, dtype=like.dtype)


def _frame(ref_xy, ref_yaw, ref_z, like):
    """Reference origin (..., 1, 3) and yaw quaternion (..., 1, 4), broadcast over the frame axis."""
    origin = _cat([_as(ref_xy, like), _as(ref_z, like)[..., None]])[..., None, :]
    return origin, quat.about_z(_as(ref_yaw, like))[..., None, :]


def joint_features(joint_quat):
    """Frame-independent joint features (..., 52): 6D of the spherical joints, then the hinge angles (rad)."""
    xp = _xp(joint_quat)
    spherical = quat.to_6d(joint_quat[..., list(SPHERICAL), :])
    hinge = joint_quat[..., list(HINGES), :]
    # q and -q are the same rotation; taking w >= 0 keeps the angle in (-pi, pi].
    sign = xp.where(hinge[..., 3] < 0, -1.0, 1.0)
    angle = 2 * xp.arctan2(hinge[..., 2] * sign, hinge[..., 3] * sign)
    return _cat([spherical.reshape(spherical.shape[:-2] + (-1,)), angle])


def root_features(root_pos, root_quat, ref_xy, ref_yaw, ref_z):
    """Root position (..., T, 3) m and 6D rotation (..., T, 6) in the reference frame.

    root_pos (..., T, 3) world m, root_quat (..., T, 4) world xyzw; ref_xy (..., 2) m, ref_yaw (...,) rad,
    ref_z (...,) m.
    """
    origin, yaw = _frame(ref_xy, ref_yaw, ref_z, root_pos)
    inverse = quat.conjugate(yaw)
    pos = quat.rotate(inverse, root_pos - origin)
    return pos, quat.to_6d(quat.multiply(inverse, root_quat))


def motion_to_features(root_pos, root_quat, joint_quat, contacts, ref_xy, ref_yaw, ref_z):
    """Features (..., T, 63) of frames in world coordinates, expressed in the given reference frame.

    root_pos (..., T, 3) m, root_quat (..., T, 4) xyzw, joint_quat (..., T, 12, 4) xyzw, contacts (..., T, 2);
    ref_xy (..., 2) m, ref_yaw (...,) rad, ref_z (...,) m (ground height under the reference root).
    """
    pos, rot = root_features(root_pos, root_quat, ref_xy, ref_yaw, ref_z)
    return _cat([pos, rot, joint_features(joint_quat), contacts])


def features_to_motion(features, ref_xy, ref_yaw, ref_z):
    """Inverse of motion_to_features: (root_pos, root_quat, joint_quat, contacts) in the world.

    features (..., T, 63); returns root_pos (..., T, 3) m, root_quat (..., T, 4), joint_quat (..., T, 12, 4)
    (unit, w >= 0 for spherical joints), contacts (..., T, 2) clipped to [0, 1]. Any feature vector maps to
    valid rotations (6D by Gram-Schmidt). Differentiable for torch input.
    """
    xp = _xp(features)
    f = features
    origin, yaw = _frame(ref_xy, ref_yaw, ref_z, f)
    root_quat = quat.multiply(yaw, quat.from_6d(f[..., LAYOUT["root_rot"]]))
    root_pos = quat.rotate(yaw, f[..., LAYOUT["root_pos"]]) + origin
    spherical = quat.from_6d(f[..., LAYOUT["joint_rot"]].reshape(f.shape[:-1] + (len(SPHERICAL), 6)))
    hinge = quat.about_z(f[..., LAYOUT["hinge"]])
    order = np.argsort(SPHERICAL + HINGES)
    joints = (torch.cat if xp is torch else np.concatenate)([spherical, hinge], -2)[..., order, :]
    contacts = f[..., LAYOUT["contacts"]]
    contacts = contacts.clamp(0, 1) if xp is torch else np.clip(contacts, 0, 1)
    return root_pos, root_quat, joints, contacts


class Normalizer:
    """Feature standardisation x -> (x - mean) / std; std is floored so near-constant features stay bounded."""

    def __init__(self, mean, std, std_floor=0.02):
        self.mean = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
        self.std = torch.as_tensor(np.asarray(std), dtype=torch.float32).clamp_min(std_floor)

    def normalize(self, x):
        if isinstance(x, torch.Tensor):
            return (x - self.mean.to(x)) / self.std.to(x)
        return (x - self.mean.numpy()) / self.std.numpy()

    def denormalize(self, x):
        if isinstance(x, torch.Tensor):
            return x * self.std.to(x) + self.mean.to(x)
        return x * self.std.numpy() + self.mean.numpy()

    def state_dict(self):
        return {"mean": self.mean.clone(), "std": self.std.clone()}

    @classmethod
    def from_state_dict(cls, state):
        return cls(state["mean"], state["std"], std_floor=0.0)
