"""The DeepMimic motion clips shipped with pybullet_data, as `Motion`s in the Z-up world.

Clip files (`pybullet_data/data/motions/humanoid3d_*.txt` and `walker/*.txt`) are JSON with a "Loop" mode
("wrap" or "none") and "Frames", each [duration s, root position (Y-up, m), root quaternion w,x,y,z, then
per joint in skeleton.MOVABLE_JOINTS order a quaternion w,x,y,z or, for knees and elbows, one angle
(rad)]. Loading converts them to the Z-up world, xyzw, unit quaternions, a uniform frame rate, and labels
foot contacts.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pybullet_data

from configs.typed import shown
from motion_model.body import quaternion as quat
from motion_model.body.motion import MAX_FRAMES, Motion
from motion_model.body.skeleton import JOINT_INDEX, MOVABLE_JOINTS, Skeleton

MOTIONS_DIR = os.path.join(pybullet_data.getDataPath(), "data", "motions")
HUMANOID_PREFIX = "humanoid3d_"
WALKER_DIR = "walker"
# Rotation about +X by 90 degrees, p.getQuaternionFromEuler([pi/2, 0, 0]): Y-up (clip, URDF) to Z-up world.
Q_Y2Z = np.array([np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5)])

# Contact labels (measured on the walk clip, see FACTS.md): height alone misreads the swing foot skimming
# the ground, so a sole point must also be nearly still horizontally.
CONTACT_HEIGHT = 0.03  # m above z = 0
CONTACT_SPEED = 0.35  # m/s, horizontal
# Joint j of a mirrored motion is joint MIRROR_JOINTS[j] of the original.
MIRROR_JOINTS = np.array(
    [
        JOINT_INDEX[n.replace("left_", "right_") if n.startswith("left_") else n.replace("right_", "left_")]
        for n in MOVABLE_JOINTS
    ]
)
# Seconds on each side of a loop seam over which the mismatch between a cycle's end and the next cycle's
# start is blended away.
SEAM_BLEND = 0.25


def available_clips():
    """Names accepted by load_clip: 'walk', 'run', ... (humanoid3d_*) and 'walker/turn_left0', ..."""
    names = [
        f[len(HUMANOID_PREFIX) : -4]
        for f in os.listdir(MOTIONS_DIR)
        if f.startswith(HUMANOID_PREFIX) and f.endswith(".txt")
    ]
    walker = os.path.join(MOTIONS_DIR, WALKER_DIR)
    names += [f"{WALKER_DIR}/{f[:-4]}" for f in os.listdir(walker) if f.endswith(".txt")]
    return sorted(names)


def clip_file(name):
    """Path of the clip file for a name from available_clips()."""
    names = available_clips()
    if name not in names:
        raise ValueError(f"unknown clip {shown(name)}; available clips: {', '.join(names)}")
    if name.startswith(WALKER_DIR + "/"):
        return os.path.join(MOTIONS_DIR, name + ".txt")
    return os.path.join(MOTIONS_DIR, HUMANOID_PREFIX + name + ".txt")


def is_looping(name):
    """Whether the clip is a cycle ("Loop": "wrap") that loop() may repeat."""
    with open(clip_file(name)) as f:
        return json.load(f)["Loop"] == "wrap"


def load_clip(name, fps=30.0):
    """A shipped clip as a Motion at `fps`, with contact labels.

    Keyframe times are scaled by at most half a frame over the clip so that the first and the last
    resampled frames land exactly on the first and the last keyframes (a looping clip's last keyframe is
    the pose the next cycle starts from). Positions are interpolated linearly, rotations by slerp.
    """
    with open(clip_file(name)) as f:
        frames = np.asarray(json.load(f)["Frames"], dtype=np.float64)
    width = 8 + sum(1 if _is_hinge(j) else 4 for j in MOVABLE_JOINTS)
    if frames.ndim != 2 or frames.shape[1] != width:
        raise ValueError(f"clip {name!r}: frames must have {width} values, got shape {frames.shape}")
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    root_pos, root_quat, joint_quat = _to_z_up(frames)
    count = max(1, int(round(times[-1] * fps)))
    root_pos, root_quat, joint_quat = _resample(
        times, np.linspace(0.0, times[-1], count + 1), root_pos, root_quat, joint_quat
    )
    contacts = foot_contacts(root_pos, root_quat, joint_quat, fps)
    return Motion(fps, root_pos, root_quat, joint_quat, contacts)


def clip_motion(name, cycles=1, fps=30.0):
    """A shipped clip at `fps`, repeated `cycles` times if it loops (what `terrain-mdm clip` writes)."""
    motion = load_clip(name, fps)
    if cycles == 1:
        return motion
    if not is_looping(name):
        raise ValueError(f"clip {name!r} does not loop; it can only be played once (cycles=1)")
    return loop(motion, cycles)


def mirror(motion):
    """The motion reflected across the character's sagittal plane: left and right swap, world y -> -y.

    Joint frames in the URDF are aligned with the body (Z to the right at rest), so a reflected joint
    rotation is the original with its x and y components negated, moved to the other side's joint. The root
    is reflected the same way in the Y-up body frame. Path and goal are reflected too; a terrain cannot be,
    because Bullet's triangle diagonals would not reflect with it.
    """
    if motion.terrain is not None:
        raise ValueError("mirror() cannot reflect a terrain; mirror the motion before placing it on one")
    root_yup = quat.multiply(quat.conjugate(Q_Y2Z), motion.root_quat)
    flip = np.array([1.0, -1.0])
    return replace(
        motion,
        root_pos=motion.root_pos * np.array([1.0, -1.0, 1.0]),
        root_quat=quat.multiply(Q_Y2Z, _reflect_body(root_yup)),
        joint_quat=_reflect_body(motion.joint_quat[:, MIRROR_JOINTS]),
        contacts=motion.contacts[:, ::-1],
        path=None if motion.path is None else motion.path * flip,
        goal=None if motion.goal is None else motion.goal * flip,
    )


def loop(motion, cycles):
    """A looping clip repeated `cycles` times, each cycle continuing where the previous one ended.

    The motion is one cycle whose last frame is the pose the next cycle starts from (as load_clip gives for
    "wrap" clips), so the result has cycles * (T - 1) + 1 frames. Each cycle is moved by the planar
    transform (heading yaw about Z and xy translation of the root) that takes the first frame's root to the
    last frame's. The clips do not close exactly (walk: 29 degrees at the right shoulder, 7 degrees of pelvis
    yaw), so the remaining mismatch is blended away over SEAM_BLEND seconds on each side of every seam, half
    of it on each side; contacts are labelled again on the result. The pelvis yaw of the walk clip ends 7
    degrees left of where it starts, so the looped walk veers left by that much per cycle.
    """
    if cycles < 1:
        raise ValueError(f"loop() needs cycles >= 1, got {cycles}")
    if motion.num_frames < 3:
        raise ValueError(f"loop() needs a cycle of at least 3 frames, got {motion.num_frames}")
    if cycles * (motion.num_frames - 1) + 1 > MAX_FRAMES:
        raise ValueError(
            f"{cycles} cycles of {motion.num_frames - 1} frames make more than a motion file holds ({MAX_FRAMES} "
            f"frames): give at most {(MAX_FRAMES - 1) // (motion.num_frames - 1)} cycles (--cycles), or a lower --fps"
        )
    if cycles == 1:
        return motion
    heading = quat.heading(motion.root_quat)
    yaw = heading[-1] - heading[0]
    turn = quat.about_z(np.asarray(yaw))
    shift = motion.root_pos[-1] - quat.rotate(turn, motion.root_pos[0])
    shift[2] = 0.0
    # Mismatch between the closing frame and the next cycle's first frame, as rotation vectors (world frame
    # for the root, parent joint frame for joints) and a root offset (world).
    next_root_quat = quat.multiply(turn, motion.root_quat[0])
    root_error = quat.to_axis_angle(quat.multiply(next_root_quat, quat.conjugate(motion.root_quat[-1])))
    pos_error = quat.rotate(turn, motion.root_pos[0]) + shift - motion.root_pos[-1]
    joint_error = quat.to_axis_angle(quat.multiply(motion.joint_quat[0], quat.conjugate(motion.joint_quat[-1])))
    # The first frames are corrected in the cycle's own frame, so world-frame errors are turned back by yaw.
    unturn = quat.conjugate(turn)
    last = motion.num_frames - 1
    width = min(max(1, int(round(SEAM_BLEND * motion.fps))), last // 2)
    ramp = np.zeros(motion.num_frames)
    x = np.arange(1, width + 1) / width
    ramp[last - width + 1 :] = 0.5 * _smoothstep(x)
    ramp[:width] -= 0.5 * _smoothstep(x[::-1])
    at_end = ramp > 0
    root_error = np.where(at_end[:, None], root_error, quat.rotate(unturn, root_error)) * ramp[:, None]
    pos_error = np.where(at_end[:, None], pos_error, quat.rotate(unturn, pos_error)) * ramp[:, None]
    root_quat = quat.multiply(quat.from_axis_angle_vector(root_error), motion.root_quat)
    root_pos = motion.root_pos + pos_error
    joint_quat = quat.multiply(quat.from_axis_angle_vector(joint_error * ramp[:, None, None]), motion.joint_quat)
    cycle_pos, cycle_quat, cycle_joints = [], [], []
    for k in range(cycles):
        frames = slice(0, None) if k == cycles - 1 else slice(0, last)
        k_turn = quat.about_z(np.asarray(k * yaw))
        k_shift = sum((quat.rotate(quat.about_z(np.asarray(i * yaw)), shift) for i in range(k)), np.zeros(3))
        cycle_pos.append(quat.rotate(k_turn, root_pos[frames]) + k_shift)
        cycle_quat.append(quat.multiply(k_turn, root_quat[frames]))
        cycle_joints.append(joint_quat[frames])
    root_pos, root_quat, joint_quat = (np.concatenate(c) for c in (cycle_pos, cycle_quat, cycle_joints))
    contacts = foot_contacts(root_pos, root_quat, joint_quat, motion.fps)
    return replace(motion, root_pos=root_pos, root_quat=root_quat, joint_quat=joint_quat, contacts=contacts)


def _smoothstep(x):
    return x * x * (3.0 - 2.0 * x)


def _reflect_body(q):
    # Reflection across the body's z = 0 plane maps the rotation axis (x, y, z) to (-x, -y, z).
    return q * np.array([-1.0, -1.0, 1.0, 1.0])


def _is_hinge(joint):
    return joint.endswith(("knee", "elbow"))


def _wxyz_to_xyzw(q):
    return quat.normalize(np.concatenate([q[..., 1:], q[..., :1]], -1))


def _to_z_up(frames):
    """Clip frames (T, 44) to root_pos (T, 3), root_quat (T, 4), joint_quat (T, 12, 4) in the Z-up world."""
    x, y, z = frames[:, 1], frames[:, 2], frames[:, 3]
    root_pos = np.stack([x, -z, y], -1)
    root_quat = quat.multiply(Q_Y2Z, _wxyz_to_xyzw(frames[:, 4:8]))
    joints, column = [], 8
    for joint in MOVABLE_JOINTS:
        if _is_hinge(joint):
            joints.append(quat.about_z(frames[:, column]))
            column += 1
        else:
            joints.append(_wxyz_to_xyzw(frames[:, column : column + 4]))
            column += 4
    return root_pos, root_quat, np.stack(joints, 1)


def to_y_up(root_pos, root_quat):
    """Inverse of the root conversion in _to_z_up: Z-up world root position (..., 3) m and orientation
    (..., 4) xyzw to the Y-up world of the clip files, position (x, z, -y) and the URDF body's orientation
    in that world (xyzw)."""
    x, y, z = root_pos[..., 0], root_pos[..., 1], root_pos[..., 2]
    return np.stack([x, z, -y], -1), quat.multiply(quat.conjugate(Q_Y2Z), root_quat)


def to_clip_frames(motion):
    """The inverse of _to_z_up: a Motion as clip frames (T, 44), each [1 / fps, Y-up root position, root
    quaternion w,x,y,z, then per joint in MOVABLE_JOINTS order a quaternion w,x,y,z or a hinge angle in
    (-pi, pi] rad]."""
    root_pos, root_quat = to_y_up(motion.root_pos, motion.root_quat)
    columns = [np.full((motion.num_frames, 1), 1.0 / motion.fps), root_pos, _xyzw_to_wxyz(root_quat)]
    for j, joint in enumerate(MOVABLE_JOINTS):
        q = motion.joint_quat[:, j]
        if _is_hinge(joint):
            angle = 2.0 * np.arctan2(q[:, 2], q[:, 3])
            columns.append(np.arctan2(np.sin(angle), np.cos(angle))[:, None])
        else:
            columns.append(_xyzw_to_wxyz(q))
    return np.concatenate(columns, 1)


def _xyzw_to_wxyz(q):
    return np.concatenate([q[..., 3:], q[..., :3]], -1)


def _resample(times, new_times, root_pos, root_quat, joint_quat):
    index = np.clip(np.searchsorted(times, new_times, side="right") - 1, 0, len(times) - 2)
    span = times[index + 1] - times[index]
    w = np.clip((new_times - times[index]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    pos = root_pos[index] + w[:, None] * (root_pos[index + 1] - root_pos[index])
    rot = quat.slerp(root_quat[index], root_quat[index + 1], w)
    joints = quat.slerp(joint_quat[index], joint_quat[index + 1], w[:, None])
    return pos, rot, joints


def foot_contacts(root_pos, root_quat, joint_quat, fps, skeleton=None):
    """Contact labels (T, 2) in {0, 1} for [left, right] foot on flat ground at z = 0.

    A foot is in contact when one of its sole points is below CONTACT_HEIGHT and moves horizontally slower
    than CONTACT_SPEED (central differences over the frames).
    """
    skeleton = skeleton or Skeleton.load()
    soles = skeleton.sole_points(*skeleton.fk(root_pos, root_quat, joint_quat))
    if len(soles) > 1:
        speed = np.linalg.norm(np.gradient(soles[..., :2], axis=0), axis=-1) * fps
    else:
        speed = np.zeros(soles.shape[:-1])
    touching = (soles[..., 2] < CONTACT_HEIGHT) & (speed < CONTACT_SPEED)
    return touching.any(-1).astype(np.float64)
