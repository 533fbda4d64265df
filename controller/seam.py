"""Seam blending: a new segment starts where the committed motion left off.

The network sees the previous frames, but its first frame can still differ from them, most often in the
legs (a step phase chosen slightly differently). The difference between the new first frame and the pose
the committed motion would reach one frame later (its last frame plus its last velocity) is removed in
full at the seam and faded out over `frames` frames: root position, root rotation and every joint rotation.
"""

import numpy as np

from motion_model.body import quaternion as quat

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


def blend_seam(last_pos, last_quat, last_joints, root_pos, root_quat, joint_quat, frames=8):
    """Blend candidate segments into the committed motion (batched over any leading dims, which broadcast).

    last_pos (..., 2, 3), last_quat (..., 2, 4), last_joints (..., 2, 12, 4): the last two committed frames
    (world frame). root_pos (..., T, 3), root_quat (..., T, 4), joint_quat (..., T, 12, 4): the candidates.
    Returns blended copies; frames = 0 leaves the candidates as they are.
    """
    if frames == 0:
        return root_pos.copy(), root_quat.copy(), joint_quat.copy()
    weight = np.clip(1.0 - np.arange(root_pos.shape[-2]) / frames, 0.0, 1.0)  # 1 at the seam, 0 after `frames`
    expected_pos = 2 * last_pos[..., 1, :] - last_pos[..., 0, :]
    root_pos = root_pos + weight[:, None] * (expected_pos - root_pos[..., 0, :])[..., None, :]
    correction = quat.multiply(last_quat[..., 1, :], quat.conjugate(root_quat[..., 0, :]))  # (..., 4)
    root_quat = quat.normalize(quat.multiply(_partial(correction[..., None, :], weight), root_quat))
    correction = quat.multiply(last_joints[..., 1, :, :], quat.conjugate(joint_quat[..., 0, :, :]))  # (..., 12, 4)
    joint_quat = quat.multiply(_partial(correction[..., None, :, :], weight[:, None]), joint_quat)
    return root_pos, root_quat, quat.normalize(joint_quat)


def _partial(rotation, weight):
    """`weight` of a rotation (the shortest way), broadcasting rotation (..., 4) against weight (...)."""
    return quat.slerp(IDENTITY, rotation, weight)
