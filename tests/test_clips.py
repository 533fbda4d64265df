import json

import numpy as np
import pybullet as p
import pytest

from motion_model.body import clips
from motion_model.body import quaternion as quat
from motion_model.body.skeleton import FEET, LINK_NAMES, Skeleton

WALK_LENGTH = 1.239  # m, root displacement over one walk cycle


@pytest.fixture(scope="module")
def walk():
    return clips.load_clip("walk")


def max_joint_jump(link_pos):
    """Largest frame-to-frame displacement (m) of any joint, per frame pair."""
    return np.linalg.norm(np.diff(link_pos, axis=0), axis=-1).max(-1)


def test_names():
    names = clips.available_clips()
    for name in ("walk", "run", "jump", "cartwheel", "walker/turn_left0", "walker/0walk_forward"):
        assert name in names
    assert not any("laikago" in n for n in names)
    with pytest.raises(ValueError, match="available clips: .*walk"):
        clips.load_clip("moonwalk")


def test_axis_and_order_conversion():
    assert np.allclose(clips.Q_Y2Z, p.getQuaternionFromEuler([np.pi / 2, 0, 0]))
    with open(clips.clip_file("walker/turn_left0")) as f:
        raw = np.array(json.load(f)["Frames"])
    motion = clips.load_clip("walker/turn_left0")  # 30 fps keyframes: resampling keeps them
    assert motion.num_frames == len(raw)
    x, y, z = raw[-1, 1:4]
    assert np.allclose(motion.root_pos[-1], [x, -z, y])
    # The character turns to its left, which is +Y in the world.
    assert motion.root_pos[-1, 1] > 0.3
    w, qx, qy, qz = raw[5, 4:8] / np.linalg.norm(raw[5, 4:8])
    y_to_z = p.getQuaternionFromEuler([np.pi / 2, 0, 0])
    expected = p.multiplyTransforms([0, 0, 0], y_to_z, [0, 0, 0], [qx, qy, qz, w])[1]
    assert np.abs(np.abs(motion.root_quat[5] @ expected) - 1) < 1e-6  # PyBullet computes in float32
    # Upright and facing +X at the start: the pelvis' URDF +Y (up) points along world +Z.
    assert quat.rotate(motion.root_quat[0], np.array([0.0, 1.0, 0.0]))[2] > 0.95
    assert quat.rotate(motion.root_quat[0], np.array([1.0, 0.0, 0.0]))[0] > 0.95


@pytest.mark.parametrize("name", ["kick", "backflip", "roll"])
def test_resampling_normalises_and_keeps_ends(name):
    with open(clips.clip_file(name)) as f:
        raw = np.array(json.load(f)["Frames"])
    for fps in (30, 60):
        motion = clips.load_clip(name, fps=fps)
        assert motion.fps == fps
        assert motion.num_frames == round(raw[:-1, 0].sum() * fps) + 1
        assert np.allclose(np.linalg.norm(motion.joint_quat, axis=-1), 1)
        assert np.allclose(motion.root_pos[[0, -1]], raw[[0, -1], 1:4][:, [0, 2, 1]] * [1, -1, 1])


def test_walk_stands_on_the_ground(walk, bullet):
    skeleton = Skeleton.load()
    lowest = skeleton.lowest_sole(*walk.fk()).min(-1)
    assert np.abs(lowest).max() < 0.02
    for t in range(walk.num_frames):
        bullet.pose(walk.root_pos[t], walk.root_quat[t], walk.joint_quat[t])
        aabb_lowest = min(bullet.aabb_min_z(f) for f in FEET)
        assert abs(aabb_lowest - lowest[t]) < 1e-6


def test_walk_contacts(walk):
    looped = clips.loop(walk, 4)
    stance = looped.contacts.mean(0)
    assert np.all((stance > 0.45) & (stance < 0.6))
    double = (looped.contacts.sum(-1) == 2).mean()
    assert 0.03 < double < 0.15
    assert set(np.unique(looped.contacts)) <= {0.0, 1.0}


def test_mirror(walk):
    skeleton = Skeleton.load()
    turn = clips.load_clip("walker/turn_left0")
    for motion in (walk, turn):
        twice = clips.mirror(clips.mirror(motion))
        for key in ("root_pos", "root_quat", "joint_quat", "contacts"):
            assert np.allclose(getattr(twice, key), getattr(motion, key), atol=1e-12)

        pos, rot = motion.fk(skeleton)
        mirrored = clips.mirror(motion)
        mirror_pos, mirror_rot = mirrored.fk(skeleton)
        swap = [
            LINK_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right")) for n in LINK_NAMES
        ]
        reflect_world, reflect_body = np.diag([1.0, -1.0, 1.0]), np.diag([1.0, 1.0, -1.0])
        assert np.abs(mirror_pos - pos[:, swap] * [1, -1, 1]).max() < 1e-6
        expected = reflect_world @ quat.to_matrix(rot[:, swap]) @ reflect_body
        assert np.abs(quat.to_matrix(mirror_rot) - expected).max() < 1e-6
        assert np.array_equal(mirrored.contacts, motion.contacts[:, ::-1])
    # A left turn mirrored is a right turn.
    heading = quat.heading(clips.mirror(turn).root_quat)
    assert np.degrees(heading[-1] - heading[0]) == pytest.approx(-30, abs=1)


def test_loop_walk_carries_on_without_seam_jumps(walk):
    cycles = 4
    looped = clips.loop(walk, cycles)
    period = walk.num_frames - 1
    assert looped.num_frames == cycles * period + 1
    distance = np.linalg.norm(looped.root_pos[-1, :2] - looped.root_pos[0, :2])
    assert distance == pytest.approx(cycles * WALK_LENGTH, rel=0.03)
    assert np.all(np.diff(looped.root_pos[:, 0]) > 0)
    jumps = max_joint_jump(looped.fk()[0])
    seams = [k * period - 1 for k in range(1, cycles)]
    within_clip = max_joint_jump(walk.fk()[0])
    assert jumps[seams].max() <= np.percentile(within_clip, 90)
    assert jumps.max() <= within_clip.max() + 1e-3
    # Every cycle is the same motion moved by one rigid planar transform.
    assert np.allclose(looped.joint_quat[period : 2 * period], looped.joint_quat[2 * period : 3 * period])


@pytest.mark.parametrize("name, yaw", [("walker/turn_left0", 30), ("walker/turn_right0", -99)])
def test_loop_turns_keep_turning(name, yaw):
    motion = clips.load_clip(name)
    looped = clips.loop(motion, 3)
    period = motion.num_frames - 1
    heading = np.unwrap(quat.heading(looped.root_quat))
    assert np.degrees(heading[2 * period] - heading[0]) == pytest.approx(2 * yaw, abs=2)
    jumps = max_joint_jump(looped.fk()[0])
    assert jumps.max() <= max_joint_jump(motion.fk()[0]).max() + 0.01


def test_clip_motion():
    once = clips.clip_motion("run")
    assert once.num_frames == clips.load_clip("run").num_frames
    assert clips.clip_motion("run", cycles=3).num_frames == 3 * (once.num_frames - 1) + 1
    assert not clips.is_looping("kick")
    with pytest.raises(ValueError, match="does not loop"):
        clips.clip_motion("kick", cycles=2)
    with pytest.raises(ValueError, match="cycles >= 1"):
        clips.clip_motion("walk", cycles=0)
