"""The known parts of a segment (ddim.Known): keyframes and the end pose, imposed while it is sampled.

A keyframe fixes the root's ground position (and its heading, if it has one) at its frame and KEY_HOLD frames
either side, and on every frame the plan stands on it (waiting for its time), fading out over KEY_RAMP more
frames on each side (a cosine), so that the root is led onto it without a seam. The values around the
keyframe are the follower's plan (where the timed route has the root frame by frame), shifted so that it is
exactly on the keyframe at its frame: the plan carries the root there and the mask only corrects what the
model missed. The heading is imposed on the horizontal part of the root rotation's first matrix column
(features 3:5, the body's forward axis; the second column is the body's up axis, left to the model with the
forward axis's vertical part, so pitch and roll stay the model's; the 6D form's Gram-Schmidt makes a rotation
of any values).

The end pose fixes every feature (root position on the goal and height above the ground there, root and joint
rotations, contacts), fading in from END_LEAD frames before the plan comes to rest on the goal to full at
END_FULL frames after, and held to the end; the episode does not end before it is full (end_frame).
Frames are counted in the motion from its first (frame n is at n / fps s); a segment starting at frame n0
holds frames n0 .. n0 + window.frames - 1, and the follower's plan state j is at frame n0 + j.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from motion_model.learner.ddim import Known
from motion_model.learner.features import NUM_FEATURES, motion_to_features

KEY_HOLD = 1  # frames either side of a keyframe's own imposed in full
KEY_RAMP = 8  # frames over which it fades out beyond them
KEY_MARGIN = KEY_HOLD + KEY_RAMP + 1  # frames from a keyframe to a seam between segments, at least
MIN_COMMIT = 10  # frames a segment shortened for a keyframe keeps at least
END_LEAD, END_FULL = 10, 20  # frames before / after the plan's arrival at which the end pose starts / is full
REST_TOLERANCE = 0.05  # m between a wait's halt on the follower's resampled route and its keyframe's arc
ROOT_XY = [0, 1]
HEADING = [3, 4]  # the body's forward axis, x and y (features.LAYOUT["root_rot"] begins with that matrix column)


class Inpainter:
    """Known parts for the segments of one character: `keyframes` (Keyframe records) at arc lengths `arcs` (m
    along the follower's route), `end_pose` (EndPose or None) on `terrain`, in the feature space of `model` (a
    LoadedModel)."""

    def __init__(self, keyframes, arcs, end_pose, terrain, model):
        self.keyframes = list(keyframes)
        self.arcs = list(arcs)
        self.end_pose = end_pose
        self.terrain = terrain
        self.normalizer = model.normalizer
        self.fps = model.window.fps
        self.frames = model.window.frames

    def key_frames(self):
        """The motion frame of each keyframe."""
        return [int(round(k.t * self.fps)) for k in self.keyframes]

    def commit_frames(self, n0, default):
        """Frames to commit of the segment starting at frame n0: `default`, or fewer where a keyframe would fall
        less than KEY_MARGIN before its end: then the segment ends KEY_MARGIN frames before the keyframe, so
        that the next one holds the keyframe and its fade either side, away from both its seams."""
        count = default
        for n in self.key_frames():
            j = n - n0
            if j >= KEY_MARGIN + MIN_COMMIT and j + KEY_MARGIN > count:
                count = min(count, j - KEY_MARGIN)
        return count

    def arrival_frame(self, follower):
        """The frame at which the follower's plan comes to rest on the goal (committed or in the plan ahead);
        None if not within the plan."""
        if follower.goal_time is not None:
            return int(round(follower.goal_time * self.fps))
        last = len(follower.halts) - 1
        for state in follower.plan or ():
            if state.halt == last and state.halted_at is not None:
                return int(round(state.halted_at * self.fps))
        return None

    def end_frame(self, follower):
        """The first frame at which the episode may end: the end pose imposed in full (0 without one)."""
        if self.end_pose is None or follower.goal_time is None:
            return 0
        return int(round(follower.goal_time * self.fps)) + END_FULL

    def known(self, n0, ref, follower):
        """The Known (1, frames, features) of the segment starting at frame n0 in the reference frame ref = (xy
        (2,) m, yaw rad, ground z m); None where nothing is known. follower: its plan for this segment made."""
        mask = np.zeros((self.frames, NUM_FEATURES))
        values = np.zeros((self.frames, NUM_FEATURES))
        j = np.arange(self.frames)
        states = [follower.plan[min(i, len(follower.plan) - 1)] for i in j]
        for key, at, n in zip(self.keyframes, self.arcs, self.key_frames()):
            # Held: the keyframe's own frames, and every frame the plan stands on it (a wait for its time).
            held = (np.abs(j - (n - n0)) <= KEY_HOLD) | np.array([_resting_at(st, at) for st in states])
            if held.any():
                weight = _key_weight(np.abs(j[:, None] - j[held][None]).min(1))
                anchor = n - n0 if 0 <= n - n0 < self.frames else int(np.flatnonzero(held)[0])
                _blend(mask, values, weight[:, None], self._key_values(key, anchor, states, follower.line, ref))
        arrival = self.arrival_frame(follower) if self.end_pose is not None else None
        if arrival is not None:
            weight = _smoothstep((n0 + j - (arrival - END_LEAD)) / (END_LEAD + END_FULL))
            _blend(mask, values, np.broadcast_to(weight[:, None], mask.shape), self._end_values(ref))
        if not mask.any():
            return None
        normalized = self.normalizer.normalize(values.astype(np.float32))
        return Known(torch.from_numpy(mask.astype(np.float32))[None], torch.as_tensor(normalized)[None])

    def _key_values(self, key, anchor, states, line, ref):
        """Features (frames, NUM_FEATURES) of the plan `states` (one per frame, on the follower's `line`) shifted
        so that frame `anchor` is on the keyframe, with the mask's columns (NUM_FEATURES,) 0/1: root xy, and
        the heading if the keyframe has one."""
        jk = anchor
        xy = line.point_at(np.array([s.s for s in states]))
        xy = xy + (np.asarray(key.xy) - xy[jk])
        ref_xy, ref_yaw, _ = ref
        c, s = math.cos(ref_yaw), math.sin(ref_yaw)
        d = xy - ref_xy
        values = np.zeros((self.frames, NUM_FEATURES))
        columns = np.zeros(NUM_FEATURES)
        values[:, ROOT_XY] = np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], -1)
        columns[ROOT_XY] = 1.0
        if key.heading is not None:
            yaw = np.array([st.yaw for st in states])
            psi = yaw + (key.heading - yaw[jk]) - ref_yaw
            values[:, HEADING] = np.stack([np.cos(psi), np.sin(psi)], -1)
            columns[HEADING] = 1.0
        return values, columns

    def _end_values(self, ref):
        """Features (frames, NUM_FEATURES) of the end pose on the goal, every column known."""
        pose = self.end_pose
        root = np.r_[pose.xy, float(self.terrain.height(pose.xy)) + pose.height]
        features = motion_to_features(
            root[None], pose.root_quat[None], pose.joint_quat[None], pose.contacts[None], *ref
        )
        return np.broadcast_to(features, (self.frames, NUM_FEATURES)), np.ones(NUM_FEATURES)


def _key_weight(offset):
    """Mask weight at frames `offset` from the nearest held frame: a cosine from 1 down to 0 over KEY_RAMP."""
    beyond = np.clip(np.abs(offset) / KEY_RAMP, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * beyond))


def _resting_at(state, at):
    """Whether a follower PlanState stands at arc length `at` (m). The follower resamples its route, so its halt
    for a wait lies up to a few cm from the keyframe's arc on the route it was given."""
    return state.halted_at is not None and abs(state.s - at) < REST_TOLERANCE


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _blend(mask, values, weight, known):
    """Add a constraint (values, columns) with weight (frames, 1 or NUM_FEATURES) to mask and values in place:
    where its weight is at least the mask's, its values win."""
    new_values, columns = known
    new_mask = weight * columns
    wins = new_mask >= mask
    values[wins & (new_mask > 0)] = np.broadcast_to(new_values, values.shape)[wins & (new_mask > 0)]
    np.maximum(mask, new_mask, out=mask)
