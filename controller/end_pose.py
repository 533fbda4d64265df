"""The pose to arrive in: `--end-pose FILE.npz[:FRAME]`, one frame of a motion file.

The goal becomes the pose's root xy and its heading the arrival's; the joints' rotations, the root's
orientation and its height above the ground under it are imposed over the last frames (controller/inpaint.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from configs.typed import shown
from motion_model.body import quaternion as quat

EXAMPLE = "walk.npz or walk.npz:42"


@dataclass(frozen=True, eq=False)
class EndPose:
    xy: np.ndarray  # (2,) world m: the goal
    height: float  # m of the root above the ground under it
    root_quat: np.ndarray  # (4,) xyzw, world
    joint_quat: np.ndarray  # (12, 4) xyzw, local
    contacts: np.ndarray  # (2,) [left, right] in [0, 1]

    @property
    def heading(self):
        """rad of world yaw the body faces."""
        return float(quat.heading(self.root_quat))

    def error(self, motion, terrain):
        """Mean distance (m) of the 15 links of a Motion's last frame from this pose's, on its place on `terrain`."""
        from motion_model.body.skeleton import Skeleton

        skeleton = Skeleton.load()
        root = np.r_[self.xy, float(terrain.height(self.xy)) + self.height]
        target = skeleton.fk(root[None], self.root_quat[None], self.joint_quat[None]).pos[0]
        last = skeleton.fk(motion.root_pos[-1:], motion.root_quat[-1:], motion.joint_quat[-1:]).pos[0]
        return float(np.linalg.norm(last - target, axis=-1).mean())

    @classmethod
    def from_motion(cls, motion, frame=-1):
        """Frame `frame` of a Motion (its height above its own terrain, or above z = 0 without one)."""
        root = motion.root_pos[frame]
        ground = float(motion.terrain.height(root[:2])) if motion.terrain is not None else 0.0
        return cls(
            root[:2].copy(),
            float(root[2] - ground),
            motion.root_quat[frame].copy(),
            motion.joint_quat[frame].copy(),
            motion.contacts[frame].copy(),
        )


def load_end_pose(spec):
    """The EndPose of "FILE.npz[:FRAME]" (FRAME an index into the file's frames, negative from the end; default
    the last); ValueError naming the problem and the form."""
    from motion_model.body.motion import Motion

    text = str(spec)
    named = shown(text)
    path, frame = text, -1
    head, sep, tail = text.rpartition(":")
    if sep and head.lower().endswith(".npz"):
        path = head
        try:
            frame = int(tail)
        except ValueError:
            raise ValueError(f"end pose {named}: frame {shown(tail)} is not an integer: write {EXAMPLE}") from None
    if not path.lower().endswith(".npz"):
        raise ValueError(f"end pose {named} is not a motion file (.npz) with an optional :FRAME: write {EXAMPLE}")
    try:
        motion = Motion.load(path)
    except FileNotFoundError:
        raise ValueError(f"end pose file {path} does not exist: give a motion file (.npz), e.g. {EXAMPLE}") from None
    count = len(motion.root_pos)
    if not -count <= frame < count:
        raise ValueError(f"end pose {named}: frame {frame} is out of range: {path} has frames 0..{count - 1}")
    pose = EndPose.from_motion(motion, frame)
    if not math.isfinite(pose.height):
        raise ValueError(f"end pose {named}: the root's height is not finite")
    return pose
