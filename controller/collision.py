"""Collision and quality checks of candidate segments against the terrain's signed distance.

A candidate is a generated segment in the world frame. It is scored by how deep its body goes into the
terrain (the depth by its signed distance, Heightfield.depth, at the sample points of every collision shape
but the feet), how far the soles of the feet it labels in contact are from the surface (above or below), how
far it moves along the path, and how far its first frame jumps from the last committed frame (a visible seam).

The feet are judged by their distance to the surface rather than their depth because foot locking
(foot_lock.py) puts every stance foot flat on the terrain and lifts swing feet out of it after the check:
what matters is how far it has to move them.
"""

from dataclasses import dataclass, fields

import numpy as np

from configs.typed import bounded
from motion_model.body.skeleton import FEET, Skeleton
from terrain.stack import TerrainStack


@dataclass(frozen=True)
class CheckConfig:
    """The collision check's settings (ControllerConfig.check), with the ranges configs.typed.build enforces."""

    # m: a candidate passes if no checked body point goes deeper (feet excepted)
    max_depth: float = bounded(0.02, 0.0, 1.0)
    # m: ... and its contact-labelled soles are this close to the surface on average
    max_foot_error: float = bounded(0.05, 0.0, 1.0)
    frame_stride: int = bounded(3, 1, 60)  # check every n-th frame of the committed part
    progress_weight: float = bounded(0.05, 0.0, 10.0)  # m of penetration-equivalent cost per m of progress
    seam_weight: float = bounded(0.5, 0.0, 10.0)  # cost per m of the largest body-point jump at the seam


@dataclass
class Scores:
    """Per character and candidate (B, K): depth_mean and depth_max (m), foot_error (m), progress (m), seam (m),
    cost, passed."""

    depth_mean: np.ndarray
    depth_max: np.ndarray
    foot_error: np.ndarray
    progress: np.ndarray
    seam: np.ndarray
    cost: np.ndarray
    passed: np.ndarray

    def at(self, b, k):
        """The scores of character b's candidate k (scalars)."""
        return Scores(*(getattr(self, f.name)[b, k] for f in fields(self)))


def score_candidates(
    terrains, path_arcs, root_pos, root_quat, joint_quat, contacts, last_links, config: CheckConfig, links=None
):
    """Scores of K candidate segments for each of B characters (each on its own terrain).

    root_pos (B, K, T, 3), root_quat (B, K, T, 4), joint_quat (B, K, T, 12, 4), contacts (B, K, T, 2): the
    frames to be committed, world frame. terrains, path_arcs: B terrains and B callables mapping xy (..., 2)
    to arc length along the character's path (m). last_links: B arrays (15, 3), the link positions of each
    character's last committed frame (for the seam jump), or None for a character without one. links: the
    frames' Links (Skeleton.fk) if the caller has them.
    """
    skeleton = Skeleton.load()
    frames = np.arange(0, root_pos.shape[2], config.frame_stride)
    if links is None:
        link_pos, link_rot = skeleton.fk(root_pos[:, :, frames], root_quat[:, :, frames], joint_quat[:, :, frames])
    else:
        link_pos, link_rot = links.pos[:, :, frames], links.rot[:, :, frames]
    body = skeleton.body_points(link_pos, link_rot, exclude=FEET)  # (B, K, F, N, 3)
    soles = skeleton.sole_points(link_pos, link_rot)  # (B, K, F, 2, S, 3)
    labelled = contacts[:, :, frames] > 0.5
    stack = TerrainStack.of(terrains)  # each character's points on its own terrain, all in one query
    depth = stack.depth(body).max(-1)  # (B, K, F)
    ground = stack.height(soles[..., :2])
    depth_mean, depth_max = depth.mean(2), depth.max(2)
    gap = np.abs((soles[..., 2] - ground).min(-1))  # lowest sole point (B, K, F, 2)
    foot_error = (gap * labelled).sum((2, 3)) / np.maximum(labelled.sum((2, 3)), 1)
    ends = np.stack([path_arc(root_pos[b][:, [0, -1], :2]) for b, path_arc in enumerate(path_arcs)])  # (B, K, 2)
    progress = ends[..., 1] - ends[..., 0]
    seam = np.zeros(root_pos.shape[:2])
    with_last = [b for b, links in enumerate(last_links) if links is not None]
    if with_last:
        last = np.stack([last_links[b] for b in with_last])[:, None]  # (W, 1, 15, 3)
        seam[with_last] = np.linalg.norm(link_pos[with_last, :, 0] - last, axis=-1).max(-1)
    passed = (depth_max <= config.max_depth) & (foot_error <= config.max_foot_error)
    cost = (
        depth_mean + 0.2 * depth_max + 0.5 * foot_error + config.seam_weight * seam - config.progress_weight * progress
    )
    return Scores(depth_mean, depth_max, foot_error, progress, seam, cost, passed)
