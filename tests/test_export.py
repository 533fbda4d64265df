import importlib.util
import json
import os

import numpy as np
import pybullet as p
import pytest

from motion_model.body import clips
from motion_model.body import quaternion as quat
from motion_model.body.motion import Motion
from motion_model.body.skeleton import LINK_INDEX, MOVABLE_JOINTS, MOVABLE_LINKS
from sim.formats import export
from terrain.generators import make_terrain
from terrain.planning import plan_path


@pytest.fixture(scope="module")
def stairs_walk():
    from motion_model.engine.synthesis import synthesize

    terrain = make_terrain("stairs", seed=0)
    return synthesize(terrain, plan_path(terrain), gait="walk", seed=0)


@pytest.fixture(scope="module")
def clip():
    """The looped walk clip: its knees and elbows bend, its root turns."""
    return clips.clip_motion("walk", cycles=2)


def y_up(points):
    """Z-up world points (..., 3) in the Y-up world of BVH and DeepMimic: (x, z, -y)."""
    return points[..., [0, 2, 1]] * np.array([1.0, 1.0, -1.0])


def read_bvh(text):
    """A minimal BVH reader: joint names, parents, offsets (J, 3), and per frame the channel values (T, C).
    End Sites are skipped. Only this module's channel layouts are supported, which the test also checks."""
    tokens = text.split()
    names, parents, offsets, stack = [], [], [], []
    i = tokens.index("HIERARCHY") + 1
    while tokens[i] != "MOTION":
        token = tokens[i]
        if token in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            i += 2
        elif token == "End":
            i += 8  # End Site { OFFSET x y z }
        elif token == "{":
            stack.append(len(names) - 1)
            i += 1
        elif token == "}":
            stack.pop()
            i += 1
        elif token == "OFFSET":
            offsets.append([float(v) for v in tokens[i + 1 : i + 4]])
            i += 4
        elif token == "CHANNELS":
            count = int(tokens[i + 1])
            expected = (["Xposition", "Yposition", "Zposition"] if parents[-1] < 0 else []) + [
                "Zrotation",
                "Xrotation",
                "Yrotation",
            ]
            assert tokens[i + 2 : i + 2 + count] == expected
            i += 2 + count
        else:
            raise AssertionError(f"unexpected BVH token {token!r}")
    assert tokens[i + 1] == "Frames:" and tokens[i + 3 : i + 5] == ["Frame", "Time:"]
    frames, frame_time = int(tokens[i + 2]), float(tokens[i + 5])
    values = np.array(tokens[i + 6 :], dtype=np.float64).reshape(frames, -1)
    return names, parents, np.array(offsets), frame_time, values


def rotation(axis, degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    one, zero = np.ones_like(c), np.zeros_like(c)
    rows = {
        "x": [[one, zero, zero], [zero, c, -s], [zero, s, c]],
        "y": [[c, zero, s], [zero, one, zero], [-s, zero, c]],
        "z": [[c, -s, zero], [s, c, zero], [zero, zero, one]],
    }[axis]
    return np.moveaxis(np.array(rows), (0, 1), (-2, -1))


def bvh_positions(names, parents, offsets, values):
    """World joint positions (T, J, 3) of the BVH (its own units and axes)."""
    pos, rot = [], []
    for j, parent in enumerate(parents):
        angles = values[:, 3 + 3 * j : 6 + 3 * j]
        local = rotation("z", angles[:, 0]) @ rotation("x", angles[:, 1]) @ rotation("y", angles[:, 2])
        if parent < 0:
            pos.append(values[:, :3] + offsets[j])
            rot.append(local)
        else:
            pos.append(pos[parent] + rot[parent] @ offsets[j])
            rot.append(rot[parent] @ local)
    return np.stack(pos, 1)


@pytest.mark.parametrize("name", ["clip", "stairs_walk"])
def test_bvh_joint_positions_match_fk(name, request, tmp_path):
    motion = request.getfixturevalue(name)
    out = tmp_path / "walk.bvh"
    export.export(motion, out, "bvh")
    names, parents, offsets, frame_time, values = read_bvh(out.read_text())
    assert frame_time == pytest.approx(1.0 / motion.fps)
    assert len(values) == motion.num_frames
    assert sorted(names) == sorted(["root", *MOVABLE_JOINTS])
    link_pos, _ = motion.fk()
    expected = y_up(link_pos[:, [LINK_INDEX[n] for n in names]])
    error = np.linalg.norm(bvh_positions(names, parents, offsets, values) / export.BVH_UNITS - expected, axis=-1)
    assert error.max() < 1e-3  # m


def test_euler_zxy_inverts_rotations_including_gimbal_lock():
    rng = np.random.default_rng(0)
    q = quat.normalize(rng.normal(size=(200, 4)))
    pitch = quat.from_axis_angle(np.array([1.0, 0.0, 0.0]), np.array([np.pi / 2, -np.pi / 2]))
    locked = quat.multiply(quat.about_z(np.array([0.3, -1.2])), pitch)  # Rx at +-90 degrees
    q = np.concatenate([q, locked])
    a = export.euler_zxy(q)
    m = rotation("z", a[:, 0]) @ rotation("x", a[:, 1]) @ rotation("y", a[:, 2])
    assert np.abs(m - quat.to_matrix(q)).max() < 1e-9


def load_deepmimic_module(name):
    """A module of pybullet_envs.deep_mimic.env, loaded from its file: importing the package would import
    gym (pybullet_envs/__init__.py registers gym environments), which is not installed."""
    package = importlib.util.find_spec("pybullet_envs").submodule_search_locations[0]
    folder = os.path.join(package, "deep_mimic", "env")
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deepmimic_loads_in_pybullet_deepmimic_code_and_poses_round_trip(stairs_walk, bullet, tmp_path):
    motion = stairs_walk
    out = tmp_path / "walk.txt"
    export.export(motion, out, "deepmimic")
    data = load_deepmimic_module("motion_capture_data").MotionCaptureData()
    data.Load(str(out))
    assert data.NumFrames() == motion.num_frames
    assert data.KeyFrameDuraction() == pytest.approx(1.0 / motion.fps)
    assert json.loads(out.read_text())["Loop"] == "none"

    # Pose the humanoid as DeepMimic does (its Y-up world, humanoid_stable_pd.initializePose) and compare
    # the joints with our FK moved to that world.
    pose = load_deepmimic_module("humanoid_pose_interpolator").HumanoidPoseInterpolator()
    link_pos, _ = motion.fk()
    frames = data._motion_data["Frames"]
    for t in range(0, motion.num_frames - 1, 25):
        pose.Slerp(0.0, frames[t], frames[t + 1], p)
        p.resetBasePositionAndOrientation(bullet.body, pose._basePos, pose._baseOrn, physicsClientId=bullet.client)
        joints = [
            pose._chestRot,
            pose._neckRot,
            pose._rightHipRot,
            pose._rightKneeRot,
            pose._rightAnkleRot,
            pose._rightShoulderRot,
            pose._rightElbowRot,
            pose._leftHipRot,
            pose._leftKneeRot,
            pose._leftAnkleRot,
            pose._leftShoulderRot,
            pose._leftElbowRot,
        ]
        p.resetJointStatesMultiDof(bullet.body, MOVABLE_LINKS.tolist(), joints, physicsClientId=bullet.client)
        positions, _ = bullet.link_states()
        assert np.abs(positions - y_up(link_pos[t])).max() < 1e-4, t

    # And through our own clip loader's conversion, exactly; hinge angles within (-pi, pi].
    frames = np.array(frames)
    hinges = [
        8 + sum(1 if n.endswith(("knee", "elbow")) else 4 for n in MOVABLE_JOINTS[:j])
        for j, n in enumerate(MOVABLE_JOINTS)
        if n.endswith(("knee", "elbow"))
    ]
    assert np.all(np.abs(frames[:, hinges]) <= np.pi) and np.all(frames[:, hinges[0]] <= 0)
    root_pos, root_quat, joint_quat = clips._to_z_up(frames)
    assert np.abs(root_pos - motion.root_pos).max() < 1e-8
    assert np.abs(np.abs((root_quat * motion.root_quat).sum(-1)) - 1).max() < 1e-8
    assert np.abs(np.abs((joint_quat * motion.joint_quat).sum(-1)) - 1).max() < 1e-8


def test_bad_input(tmp_path, clip):
    with pytest.raises(ValueError, match="must end in .bvh"):
        export.export(clip, tmp_path / "walk.txt", "bvh")
    with pytest.raises(ValueError, match="must end in .txt"):
        export.export(clip, tmp_path / "walk.json", "deepmimic")
    with pytest.raises(ValueError, match="unknown export format"):
        export.export(clip, tmp_path / "walk.fbx", "fbx")
    with pytest.raises(ValueError, match="does not exist"):
        export.export(clip, tmp_path / "missing" / "walk.bvh", "bvh")
    not_motion = tmp_path / "terrain.npz"
    make_terrain("flat", seed=0).save(not_motion)
    with pytest.raises(ValueError, match="not a motion file"):
        export.main_export(not_motion, "bvh", tmp_path / "x.bvh")
    assert not (tmp_path / "x.bvh").exists()
    text_file = tmp_path / "notes.npz"
    text_file.write_text("hello")
    with pytest.raises(ValueError, match="notes.npz is not a motion file"):
        export.main_export(text_file, "deepmimic", tmp_path / "x.txt")


def test_main_export_writes_atomically(tmp_path, clip, capsys):
    file = tmp_path / "walk.npz"
    clip.save(file, terrain=make_terrain("flat", seed=0))
    assert export.main_export(file, "bvh", tmp_path / "walk.bvh") == 0
    assert "bvh written to" in capsys.readouterr().out
    assert sorted(f.name for f in tmp_path.iterdir()) == ["walk.bvh", "walk.npz"]
    assert Motion.load(file).num_frames == clip.num_frames


@pytest.mark.parametrize("fps", [1e9, 1e-6, 1001.0, 0.5])
@pytest.mark.parametrize("fmt, suffix", [("bvh", ".bvh"), ("deepmimic", ".txt")])
def test_frame_rates_outside_the_range_are_refused(tmp_path, clip, fps, fmt, suffix):
    odd = Motion(fps, clip.root_pos, clip.root_quat, clip.joint_quat, clip.contacts)
    out = tmp_path / f"walk{suffix}"
    out.write_text("the previous export")
    with pytest.raises(ValueError, match=r"fps is out of range for export: it must lie in \[1, 1000\]"):
        export.export(odd, out, fmt)
    assert [f.name for f in tmp_path.iterdir()] == [out.name] and out.read_text() == "the previous export"
    export.export(
        Motion(1000.0, *(getattr(odd, k) for k in ("root_pos", "root_quat", "joint_quat", "contacts"))), out, fmt
    )
    frame_time = "Frame Time: 0.00100000" if fmt == "bvh" else '"Frames":[[0.001,'
    assert frame_time in out.read_text()
