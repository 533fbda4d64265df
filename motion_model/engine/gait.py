"""Gait cycles: the shipped flat-ground mocap locomotion clips as periodic cycles the synthesis engine blends.

Each cycle is expressed relative to its heading frame, with phase 0 at the left foot's touchdown, its
contact schedule (stance intervals per foot) and its swing profiles (lift and progress over the swing) taken
from the clip's own feet. Walk, the turning walks and their mirrors, and run; and the standing pose that
starts and stops blend into.

World frame: Z up, metres, seconds; +X is the character's forward at rest. Quaternions xyzw.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from motion_model.body import quaternion as quat
from motion_model.body.clips import Q_Y2Z, load_clip, mirror
from motion_model.body.legs import FOOT_LINKS, ankle_targets, leg_ik, sole_offset
from motion_model.body.skeleton import Skeleton

WALK_TURNS = ("walker/turn_right0", "walker/turn_left1", "walker/turn_left0")  # mirrored for the other way


@dataclass(frozen=True)
class GaitCycle:
    """One periodic gait cycle in the heading frame, sampled at the clip's frames; phase 0 = left touchdown.

    root_height (N,) m above the ground; root_offset (N, 2) m of sway/surge from the path point in the
    heading frame; root_rel (N, 4) the root rotation relative to the heading yaw; joints (N, 12, 4);
    stance (2, 2) [on, off] phases of [left, right] (off may exceed 1); lift (2, S) and progress (2, S) the
    sole-centre height above the ground and the fraction of the step covered, over S samples of each foot's
    swing.
    """

    name: str
    duration: float
    stride: float
    yaw_per_cycle: float
    root_height: np.ndarray
    root_offset: np.ndarray
    root_rel: np.ndarray
    joints: np.ndarray
    stance: np.ndarray
    lift: np.ndarray
    progress: np.ndarray

    @property
    def speed(self):
        return self.stride / self.duration

    def sample(self, phase):
        """Pose arrays at phases (T,) in [0, 1): root_height, root_offset, root_rel, joints."""
        n = len(self.root_height)
        x = (np.asarray(phase) % 1.0) * n
        i0 = np.floor(x).astype(int) % n
        i1 = (i0 + 1) % n
        w = x - np.floor(x)
        lerp = lambda a: a[i0] + (a[i1] - a[i0]) * w.reshape(w.shape + (1,) * (a.ndim - 1))
        return (
            lerp(self.root_height),
            lerp(self.root_offset),
            quat.slerp(self.root_rel[i0], self.root_rel[i1], w),
            quat.slerp(self.joints[i0], self.joints[i1], w[:, None]),
        )

    def rest_phases(self):
        """Phases in [0, 1) in the middle of each double support (both feet in stance), where a gait can halt."""
        grid = (np.arange(720) + 0.5) / 720
        on, off = self.stance[:, 0], self.stance[:, 1]
        both = (((grid[:, None] - on) % 1.0) < (off - on)).all(1)
        if both.all() or not both.any():
            raise ValueError(f"cycle {self.name} has no double support to halt in")
        start = np.argmin(both)  # a single-support sample: the runs of `both` after it do not wrap
        rolled = np.roll(both, -start)
        edges = np.diff(np.r_[0, rolled.astype(int), 0])
        first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        return np.sort(grid[(start + (first + last) // 2) % len(grid)])


SWING_SAMPLES = 16


def _periodic(values, n):
    """Remove the linear drift that keeps values[n] from equalling values[0] (so the cycle closes)."""
    drift = values[n] - values[0]
    ramp = np.arange(len(values)) / n
    return values - ramp.reshape((-1,) + (1,) * (values.ndim - 1)) * drift


@functools.cache
def gait_cycle(name, mirrored=False):
    """The periodic gait cycle of a looping clip (optionally mirrored), phase 0 at left touchdown."""
    skeleton = Skeleton.load()
    clip = load_clip(name)
    if mirrored:
        clip = mirror(clip)
    n = clip.num_frames - 1  # the last keyframe is the next cycle's first pose
    duration = n / clip.fps
    yaw = np.unwrap(quat.heading(clip.root_quat))
    yaw_trend = yaw[0] + (yaw[n] - yaw[0]) * np.arange(n + 1) / n
    to_heading = quat.about_z(-yaw_trend)
    root_rel = quat.multiply(to_heading, clip.root_quat)
    chord = clip.root_pos[n, :2] - clip.root_pos[0, :2]
    line = clip.root_pos[0, :2] + np.arange(n + 1)[:, None] / n * chord
    offset = quat.rotate(to_heading, np.concatenate([clip.root_pos[:, :2] - line, np.zeros((n + 1, 1))], 1))[:, :2]

    # Close the cycle: rotations through their rotation vectors relative to the first frame.
    rel_vec = _periodic(quat.to_axis_angle(quat.multiply(quat.conjugate(root_rel[:1]), root_rel)), n)
    root_rel = quat.multiply(root_rel[:1], quat.from_axis_angle_vector(rel_vec))
    joint_vec = _periodic(quat.to_axis_angle(quat.multiply(quat.conjugate(clip.joint_quat[:1]), clip.joint_quat)), n)
    joints = quat.multiply(clip.joint_quat[:1], quat.from_axis_angle_vector(joint_vec))
    height = _periodic(clip.root_pos[:, 2], n)
    offset = _periodic(offset, n)
    offset = offset - offset[:n].mean(0)

    # Contact schedule and swing profiles from the clip's own feet (sole centres) on the flat ground.
    link_pos, link_rot = skeleton.fk(clip.root_pos, clip.root_quat, clip.joint_quat)
    soles = np.stack([link_pos[:, f] + quat.rotate(link_rot[:, f], sole_offset()) for f in FOOT_LINKS], 0)
    contact = clip.contacts[:n].T > 0.5  # (2, n)
    touch_left, _ = _transitions(contact[0])
    shift = touch_left[0] if len(touch_left) else 0
    stance = np.zeros((2, 2))
    lift = np.zeros((2, SWING_SAMPLES))
    progress = np.zeros((2, SWING_SAMPLES))
    for f in range(2):
        on, off = _transitions(contact[f])
        if not len(on) or not len(off):
            raise ValueError(f"clip {name}: foot {'left' if f == 0 else 'right'} has no complete stance in one cycle")
        stance[f] = (on[0] - shift) % n / n, (on[0] - shift) % n / n + ((off[0] - on[0]) % n) / n
        sole_path = np.concatenate([soles[f, :n], soles[f, :n] + np.r_[clip.root_pos[n, :2] - clip.root_pos[0, :2], 0]])
        lift[f], progress[f] = _swing_profile(sole_path, off[0], on[0] if on[0] > off[0] else on[0] + n)
    roll = lambda a: np.roll(a[:n], -shift, axis=0)
    return GaitCycle(
        name=name + (" (mirrored)" if mirrored else ""),
        duration=duration,
        stride=float(np.linalg.norm(chord)),
        yaw_per_cycle=float(yaw[n] - yaw[0]),
        root_height=roll(height),
        root_offset=roll(offset),
        root_rel=roll(root_rel),
        joints=roll(joints),
        stance=stance,
        lift=lift,
        progress=progress,
    )


def _swing_profile(sole_path, lift_i, touch_i):
    """The swing from liftoff frame `lift_i` to touchdown frame `touch_i` of a foot's sole path (2n, 3), the
    looped cycle unrolled over two cycles: its lift above the line between the two footholds (m) and the
    fraction of the step covered, at SWING_SAMPLES points."""
    u = np.linspace(0.0, 1.0, SWING_SAMPLES)
    idx = lift_i + u * (touch_i - lift_i)
    seg = np.stack([np.interp(idx, np.arange(len(sole_path)), sole_path[:, k]) for k in range(3)], -1)
    step = seg[-1, :2] - seg[0, :2]
    progress = np.clip(((seg[:, :2] - seg[0, :2]) @ step) / max(step @ step, 1e-9), 0.0, 1.0)
    progress = np.maximum.accumulate(progress)
    progress = (progress - progress[0]) / max(progress[-1] - progress[0], 1e-9)
    ground = seg[0, 2] + u * (seg[-1, 2] - seg[0, 2])
    lift = np.maximum(seg[:, 2] - ground, 0.0)
    lift[[0, -1]] = 0.0
    return lift, progress


def _transitions(contact):
    """Frame indices where a cyclic boolean series turns on and turns off."""
    prev = np.roll(contact, 1)
    return np.flatnonzero(contact & ~prev), np.flatnonzero(~contact & prev)


@functools.cache
def walk_cycles():
    """Walk and turning-walk cycles sorted by their yaw per cycle (mirrors give the other direction)."""
    # The walk clip drifts 7 degrees a cycle; it is the straight walk all the same.
    cycles = [dataclasses.replace(gait_cycle("walk"), yaw_per_cycle=0.0)]
    for name in WALK_TURNS:
        cycles += [gait_cycle(name), gait_cycle(name, mirrored=True)]
    return sorted(cycles, key=lambda c: c.yaw_per_cycle)


@functools.cache
def run_cycle():
    return gait_cycle("run")


STAND_HEIGHT = 0.88  # m from the feet's ground up to the pelvis: knees nearly straight
STAND_WIDTH = 0.2  # m between the sole centres
STAND_TOE_OUT = 0.1  # rad each foot turns out from the heading
STAND_SOLE_AHEAD = 0.03  # m the sole centres sit ahead of the pelvis (the ankles a little behind it)


@dataclass(frozen=True)
class StandingPose:
    """A person standing at rest in the heading frame: feet side by side, knees nearly straight, arms hanging.

    root_height m above the feet's ground; root_rel (4,) the root rotation relative to the heading yaw; joints
    (12, 4); soles (2, 2) the [left, right] sole centres relative to the pelvis's ground point in the heading
    frame; foot_yaw (2,) their toe directions relative to the heading.
    """

    root_height: float
    root_rel: np.ndarray
    joints: np.ndarray
    soles: np.ndarray
    foot_yaw: np.ndarray


def _mean_rotation(q):
    """Average of unit quaternions (N, ..., 4) over the first axis, each aligned to the first's hemisphere."""
    q = np.where((q * q[:1]).sum(-1, keepdims=True) < 0, -q, q)
    return quat.normalize(q.mean(0))


@functools.cache
def standing_pose():
    """The walk cycle's average torso, arms and pelvis, with the legs solved to stand on both feet."""
    walk = gait_cycle("walk")
    root_rel = _mean_rotation(walk.root_rel)
    root_rel = quat.multiply(quat.about_z(-quat.heading(root_rel)), root_rel)  # facing along the heading
    joints = _mean_rotation(walk.joints)
    soles = np.array([[STAND_SOLE_AHEAD, STAND_WIDTH / 2], [STAND_SOLE_AHEAD, -STAND_WIDTH / 2]])
    foot_yaw = np.array([STAND_TOE_OUT, -STAND_TOE_OUT])
    rots = quat.multiply(quat.about_z(foot_yaw), Q_Y2Z)
    ankles = ankle_targets(np.c_[soles, np.zeros(2)][None], rots[None])
    root_pos = np.array([[0.0, 0.0, STAND_HEIGHT]])
    joints = leg_ik(Skeleton.load(), root_pos, root_rel[None], joints[None], ankles, rots[None])[0]
    return StandingPose(root_height=STAND_HEIGHT, root_rel=root_rel, joints=joints, soles=soles, foot_yaw=foot_yaw)
