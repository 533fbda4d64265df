import os
from dataclasses import replace

import numpy as np
import pytest

from motion_model.body import quaternion as quat
from motion_model.body.motion import REQUIRED_KEYS, Motion
from motion_model.body.skeleton import MOVABLE_JOINTS, NUM_LINKS
from terrain.heightfield import Heightfield


def make_motion(frames=5, seed=0, **extra):
    rng = np.random.default_rng(seed)
    return Motion(
        fps=30.0,
        root_pos=rng.normal(size=(frames, 3)),
        root_quat=quat.normalize(rng.normal(size=(frames, 4))),
        joint_quat=quat.normalize(rng.normal(size=(frames, 12, 4))),
        contacts=rng.uniform(size=(frames, 2)),
        **extra,
    )


def make_terrain():
    heights = np.random.default_rng(1).uniform(0, 0.3, size=(6, 5))
    return Heightfield(heights, 0.25, np.array([-0.5, -0.5]), start=np.array([0.0, 0.0]), goal=np.array([0.5, 0.4]))


def assert_same(a, b):
    assert a.fps == b.fps
    for key in ("root_pos", "root_quat", "joint_quat", "contacts"):
        assert np.array_equal(getattr(a, key), getattr(b, key))


def test_fields_and_helpers():
    motion = make_motion(frames=31)
    assert motion.num_frames == 31 and motion.duration == pytest.approx(1.0)
    part = motion.slice(10, 20)
    assert part.num_frames == 10 and np.array_equal(part.root_pos, motion.root_pos[10:20])
    joined = Motion.concatenate([motion.slice(0, 10), motion.slice(10, None)])
    assert_same(joined, motion)
    pos, rot = motion.fk()
    assert pos.shape == (31, NUM_LINKS, 3) and rot.shape == (31, NUM_LINKS, 4)
    with pytest.raises(ValueError, match="one frame rate"):
        Motion.concatenate([motion, replace(motion, fps=60.0)])


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(fps=0), "fps"),
        (dict(root_pos=np.zeros((5, 2))), "root_pos"),
        (dict(root_pos=np.zeros((0, 3))), "root_pos"),
        (dict(root_quat=np.zeros((4, 4))), "root_quat"),
        (dict(joint_quat=np.tile([0.0, 0.0, 0.0, 1.0], (5, 11, 1))), "joint_quat"),
        (dict(joint_quat=np.tile([0.0, 0.0, 0.0, 2.0], (5, 12, 1))), "unit quaternions"),
        (dict(contacts=np.full((5, 2), 1.5)), r"\[0, 1\]"),
        (dict(root_pos=np.full((5, 3), np.nan)), "non-finite"),
        (dict(path=np.zeros((4, 3))), "path"),
        (dict(goal=np.zeros(3)), "goal"),
    ],
)
def test_validation(change, message):
    fields = dict(
        fps=30.0,
        root_pos=np.zeros((5, 3)),
        root_quat=np.tile([0.0, 0.0, 0.0, 1.0], (5, 1)),
        joint_quat=np.tile([0.0, 0.0, 0.0, 1.0], (5, 12, 1)),
        contacts=np.zeros((5, 2)),
    )
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        Motion(**fields)


def test_round_trip_plain(tmp_path):
    motion = make_motion()
    file = tmp_path / "plain.npz"
    motion.save(file)
    with np.load(file) as data:
        assert sorted(data.files) == sorted(REQUIRED_KEYS)
        assert tuple(data["joint_names"]) == MOVABLE_JOINTS
    loaded = Motion.load(file)
    assert_same(loaded, motion)
    assert loaded.terrain is None and loaded.path is None and loaded.goal is None
    assert os.listdir(tmp_path) == ["plain.npz"]  # no temporary file left behind


def test_round_trip_with_terrain_path_goal(tmp_path):
    terrain = make_terrain()
    path = np.array([[0.0, 0.0], [0.3, 0.2], [0.5, 0.4]])
    goal = np.array([0.5, 0.4])
    file = tmp_path / "full.npz"
    make_motion().save(file, terrain=terrain, path=path, goal=goal)
    loaded = Motion.load(file)
    assert_same(loaded, make_motion())
    assert np.array_equal(loaded.path, path) and np.array_equal(loaded.goal, goal)
    for key, value in terrain.arrays().items():
        assert np.array_equal(loaded.terrain.arrays()[key], value)
    assert np.array_equal(Heightfield.load(file).heights, terrain.heights)

    # Without save arguments the Motion's own terrain, path and goal are written.
    again = tmp_path / "again.npz"
    loaded.save(again)
    with np.load(file) as a, np.load(again) as b:
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_bad_files(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not a motion")
    with pytest.raises(ValueError, match="not a motion file"):
        Motion.load(text)
    array = tmp_path / "array.npy"
    np.save(array, np.zeros(3))
    with pytest.raises(ValueError, match="not a motion file"):
        Motion.load(array)
    terrain_only = tmp_path / "terrain.npz"
    make_terrain().save(terrain_only)
    with pytest.raises(ValueError, match="no 'fps' array"):
        Motion.load(terrain_only)
    partial = tmp_path / "partial.npz"
    motion = make_motion()
    np.savez(
        partial,
        fps=30.0,
        root_pos=motion.root_pos,
        root_quat=motion.root_quat,
        contacts=motion.contacts,
        joint_names=np.array(MOVABLE_JOINTS),
    )
    with pytest.raises(ValueError, match="no 'joint_quat' array"):
        Motion.load(partial)
    renamed = tmp_path / "renamed.npz"
    np.savez(
        renamed,
        fps=30.0,
        root_pos=motion.root_pos,
        root_quat=motion.root_quat,
        joint_quat=motion.joint_quat,
        contacts=motion.contacts,
        joint_names=np.array(MOVABLE_JOINTS[::-1]),
    )
    with pytest.raises(ValueError, match="joint_names"):
        Motion.load(renamed)
