"""Collision and quality checks of candidate segments against the terrain's signed distance.

A candidate is a generated segment in the world frame. It is scored by how deep its body goes into the
terrain (body sample points of every collision shape, Heightfield.sdf), how far the feet it labels in
contact float above the surface, how far it moves along the path, and how far its first frame jumps from
the last committed frame (a visible seam).
"""
from dataclasses import dataclass

import numpy as np

from motion_model.skeleton import Skeleton


@dataclass(frozen=True)
class CheckConfig:
    max_depth: float = 0.01  # m: a candidate passes if no checked frame goes deeper
    max_float: float = 0.03  # m: ... and its contact-labelled feet float no higher on average
    frame_stride: int = 2  # check every n-th frame of the committed part
    progress_weight: float = 0.05  # m of penetration-equivalent cost per m of progress along the path
    seam_weight: float = 0.5  # cost per m of the largest body-point jump at the seam


@dataclass
class Scores:
    """Per candidate (K,): depth_mean and depth_max (m), float_mean (m), progress (m), seam (m), cost, passed."""
    depth_mean: np.ndarray
    depth_max: np.ndarray
    float_mean: np.ndarray
    progress: np.ndarray
    seam: np.ndarray
    cost: np.ndarray
    passed: np.ndarray


def score_candidates(terrain, path_arc, root_pos, root_quat, joint_quat, contacts, last_links, config: CheckConfig):
    """Scores of K candidate segments of one character.

    root_pos (K, T, 3), root_quat (K, T, 4), joint_quat (K, T, 12, 4), contacts (K, T, 2): the frames to be
    committed, world frame. path_arc: callable mapping xy (..., 2) to arc length along the path (m).
    last_links (15, 3) or None: link positions of the last committed frame, for the seam jump.
    """
    skeleton = Skeleton.load()
    frames = np.arange(0, root_pos.shape[1], config.frame_stride)
    link_pos, link_rot = skeleton.fk(root_pos[:, frames], root_quat[:, frames], joint_quat[:, frames])
    depth = np.maximum(-terrain.sdf(skeleton.body_points(link_pos, link_rot)), 0.0).max(-1)  # (K, F)
    soles = skeleton.sole_points(link_pos, link_rot)  # (K, F, 2, S, 3)
    gap = np.maximum((soles[..., 2] - terrain.height(soles[..., :2])).min(-1), 0.0)  # (K, F, 2)
    labelled = contacts[:, frames] > 0.5
    float_mean = (gap * labelled).sum((1, 2)) / np.maximum(labelled.sum((1, 2)), 1)
    progress = path_arc(root_pos[:, -1, :2]) - path_arc(root_pos[:, 0, :2])
    if last_links is None:
        seam = np.zeros(len(root_pos))
    else:
        first, _ = skeleton.fk(root_pos[:, 0], root_quat[:, 0], joint_quat[:, 0])
        seam = np.linalg.norm(first - last_links, axis=-1).max(-1)
    depth_mean, depth_max = depth.mean(1), depth.max(1)
    passed = (depth_max <= config.max_depth) & (float_mean <= config.max_float)
    cost = (depth_mean + 0.2 * depth_max + 0.5 * float_mean + config.seam_weight * seam
            - config.progress_weight * progress)
    return Scores(depth_mean, depth_max, float_mean, progress, seam, cost, passed)
