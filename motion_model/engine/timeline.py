"""A gait timeline and the pose it blends: per frame, the gait phase, the arc length along the path, the run
weight and the weights of the gait cycles (motion_model/engine/gait.py), and the cycles' poses blended by them.

Both engines build on it: the legacy one (synthesis.make_timeline) and the planned one (stepping.gait_timeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from motion_model.body import quaternion as quat
from motion_model.engine.gait import SWING_SAMPLES


@dataclass
class Timeline:
    """Per-frame phase, arc length s (m) along the path, run weight g in [0, 1] and the cycle weights."""

    phase: np.ndarray
    s: np.ndarray
    run: np.ndarray
    weights: np.ndarray  # (T, len(cycles))
    cycles: list


def turn_weights(cycles, yaw_per_cycle):
    """Weights over walk cycles (sorted by yaw per cycle) interpolating the requested turn rate."""
    yaws = np.array([c.yaw_per_cycle for c in cycles])
    w = np.zeros(len(cycles))
    y = np.clip(yaw_per_cycle, yaws[0], yaws[-1])
    i = int(np.clip(np.searchsorted(yaws, y) - 1, 0, len(yaws) - 2))
    t = (y - yaws[i]) / max(yaws[i + 1] - yaws[i], 1e-9)
    w[i], w[i + 1] = 1 - t, t
    return w


class CyclePose(NamedTuple):
    """Blended cycle pose per frame: root height (T,), root offset (T, 2), root_rel (T, 4), joints (T, 12, 4),
    stance (T, 2, 2) [on, off] phases per foot, swing lift and progress (T, 2, SWING_SAMPLES)."""

    height: np.ndarray
    offset: np.ndarray
    root_rel: np.ndarray
    joints: np.ndarray
    stance: np.ndarray
    lift: np.ndarray
    progress: np.ndarray


def blend_pose(timeline):
    """The CyclePose of a timeline: its cycles' poses blended by their weights, frame by frame."""
    T = len(timeline.phase)
    height = np.zeros(T)
    offset = np.zeros((T, 2))
    stance = np.zeros((T, 2, 2))
    lift = np.zeros((T, 2, SWING_SAMPLES))
    progress = np.zeros((T, 2, SWING_SAMPLES))
    rel_acc = np.zeros((T, 4))
    joint_acc = np.zeros((T, 12, 4))
    ref_rel, ref_joints = None, None
    for k, cycle in enumerate(timeline.cycles):
        w = timeline.weights[:, k]
        if not w.any():
            continue
        h, o, r, j = cycle.sample(timeline.phase)
        height += w * h
        offset += w[:, None] * o
        stance += w[:, None, None] * cycle.stance
        lift += w[:, None, None] * cycle.lift
        progress += w[:, None, None] * cycle.progress
        # Weighted quaternion average (hemisphere-aligned, then normalised): exact for one cycle.
        if ref_rel is None:
            ref_rel, ref_joints = r, j
        r = np.where((r * ref_rel).sum(-1, keepdims=True) < 0, -r, r)
        j = np.where((j * ref_joints).sum(-1, keepdims=True) < 0, -j, j)
        rel_acc += w[:, None] * r
        joint_acc += w[:, None, None] * j
    return CyclePose(
        height=height,
        offset=offset,
        root_rel=quat.normalize(rel_acc),
        joints=quat.normalize(joint_acc),
        stance=stance,
        lift=lift,
        progress=progress,
    )


def stance_masks(phase, stance):
    """(T, 2) bool: which feet are in stance at phases (T,) under the blended stance intervals (T, 2, 2)."""
    on, off = stance[..., 0], stance[..., 1]
    return ((phase[:, None] - on) % 1.0) < (off - on)
