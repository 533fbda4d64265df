"""Seam blending: a new segment starts where the committed motion left off.

The network sees the previous frames, but its first frame can still differ from them, most often in the
legs (a step phase chosen slightly differently). The difference between the new first frame and the pose
the committed motion would reach one frame later (its last frame plus its last velocity) is removed in
full at the seam and faded out over `frames` frames: root position, root rotation and every joint rotation.
"""
import numpy as np

from motion_model import quaternion as quat

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


def blend_seam(last_pos, last_quat, last_joints, root_pos, root_quat, joint_quat, frames=8):
    """Blend K candidate segments into the committed motion.

    last_pos (2, 3), last_quat (2, 4), last_joints (2, 12, 4): the last two committed frames (world frame).
    root_pos (K, T, 3), root_quat (K, T, 4), joint_quat (K, T, 12, 4): the candidates. Returns blended copies.
    """
    weight = np.clip(1.0 - np.arange(root_pos.shape[1]) / frames, 0.0, 1.0)  # 1 at the seam, 0 after `frames`
    expected_pos = 2 * last_pos[1] - last_pos[0]
    root_pos = root_pos + weight[None, :, None] * (expected_pos - root_pos[:, :1])
    root_quat = _fade(quat.multiply(last_quat[1], quat.conjugate(root_quat[:, 0])), weight, root_quat)
    correction = quat.multiply(last_joints[1], quat.conjugate(joint_quat[:, 0]))  # (K, 12, 4)
    joint_quat = quat.multiply(_partial(correction[:, None], weight[None, :, None]), joint_quat)
    return root_pos, root_quat, quat.normalize(joint_quat)


def _partial(rotation, weight):
    """`weight` of a rotation (the shortest way), broadcasting rotation (..., 4) against weight (...)."""
    return quat.slerp(IDENTITY, rotation, weight)


def _fade(correction, weight, rotations):
    """Apply `weight` (T,) of world-frame corrections (K, 4) to rotations (K, T, 4)."""
    return quat.normalize(quat.multiply(_partial(correction[:, None], weight[None, :]), rotations))
