"""Keyframes and end poses: known parts imposed while sampling (ddim.Known), keyframes met by the controller with
the shipped model, impossible ones refused up front, and the parsing of --keyframe and --end-pose."""

import math

import numpy as np
import pytest
import torch
from test_ddim import LinearModel, make_cond

from controller.end_pose import EndPose, load_end_pose
from controller.keyframes import Keyframe, parse_keyframe
from controller.path_controller import ControllerConfig, PathController
from controller.timing import speed_to_arrive
from motion_model.body import quaternion as quat
from motion_model.body.clips import clip_motion
from motion_model.body.skeleton import Skeleton
from motion_model.learner.checkpoint import load_model
from motion_model.learner.ddim import CosineSchedule, Known, sample
from sim.cli import main
from terrain.generators import make_terrain
from terrain.heightfield import Heightfield


@pytest.fixture(scope="module")
def shipped():
    return load_model("default")


@pytest.fixture(scope="module")
def flat():
    return make_terrain("flat", seed=0, length=8.0)


@pytest.mark.parametrize("steps", [1, 3])
def test_sampling_imposes_the_known_parts_and_nothing_else(steps):
    model, schedule, cond = LinearModel(), CosineSchedule(), make_cond()
    noise = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(0))
    free = sample(model, cond, schedule, steps, noise=noise)
    mask = torch.zeros(3, 6, 4)
    mask[0, 2:4, :2] = 1.0
    mask[2, 5, 3] = 1.0
    values = torch.full((3, 6, 4), 7.5)
    known = sample(model, cond, schedule, steps, noise=noise, known=Known(mask, values))
    assert torch.equal(known[mask == 1], values[mask == 1])
    assert not torch.allclose(free[mask == 1], values[mask == 1])
    assert torch.equal(known[1], free[1])  # a sample with nothing known is sampled as without
    nothing = Known(torch.zeros(3, 6, 4), values)
    assert torch.equal(sample(model, cond, schedule, steps, noise=noise, known=nothing), free)


def heading_error(motion, frame, heading):
    return abs(math.degrees((quat.heading(motion.root_quat[frame]) - heading + math.pi) % (2 * math.pi) - math.pi))


def test_keyframes_are_met_on_flat_ground_with_the_shipped_model(shipped, flat):
    # The first is passed through on the way; the second is early enough to be waited for, standing.
    keys = [Keyframe(3.0, (3.5, 0.5), 0.0), Keyframe(6.0, (5.0, -0.5), None)]
    config = ControllerConfig(time_limit=7.0)
    controller = PathController(shipped, flat, config=config, seed=5, keyframes=keys)
    assert [k.wait for k in controller.timing.keys] == [False, True]
    motion = controller.run().motion
    for key in keys:
        n = round(key.t * motion.fps)
        assert np.linalg.norm(motion.root_pos[n, :2] - key.xy) < 0.10
    assert heading_error(motion, 90, 0.0) < 10.0
    stand = motion.root_pos[170:190, :2]  # the wait: still on the keyframe around its time
    assert np.linalg.norm(stand - keys[1].xy, axis=-1).max() < 0.10


def test_the_end_pose_is_met_at_the_end(shipped, flat):
    pose = EndPose.from_motion(clip_motion("walk"), 15)  # mid-stride, one foot ahead
    turn = quat.about_z(np.float64(-pose.heading))
    pose = EndPose(
        np.array([4.0, 0.5]), pose.height, quat.multiply(turn, pose.root_quat), pose.joint_quat, pose.contacts
    )
    result = PathController(shipped, flat, config=ControllerConfig(time_limit=12.0), seed=2, end_pose=pose).run()
    assert result.status == "goal"
    motion, skeleton = result.motion, Skeleton.load()
    links = skeleton.fk(motion.root_pos[-1:], motion.root_quat[-1:], motion.joint_quat[-1:])[0][0]
    root = np.r_[pose.xy, flat.height(pose.xy) + pose.height]
    target = skeleton.fk(root[None], pose.root_quat[None], pose.joint_quat[None])[0][0]
    assert np.linalg.norm(links - target, axis=-1).mean() < 0.05


def walled():
    """Flat ground 10 m x 6 m with a 1 m high box from x = 4 to 5 across y = -1..1."""
    heights = np.zeros((201, 121))
    heights[80:101, 40:81] = 1.0
    return Heightfield(heights, 0.05, np.array([0.0, -3.0]), start=np.array([1.0, 0.0]), goal=np.array([9.0, 0.0]))


@pytest.mark.parametrize(
    "keys, words",
    [
        ([Keyframe(2.0, (9.0, 2.0))], ("keyframe 1", "at a run", "3.8 m/s")),
        ([Keyframe(4.0, (4.5, 0.0))], ("keyframe 1", "cannot be reached", "obstacle")),
        ([Keyframe(4.0, (3.9, 0.0))], ("keyframe 1", "inside an obstacle")),
        ([Keyframe(4.0, (12.0, 0.0))], ("keyframe 1", "off the terrain")),
        ([Keyframe(4.0, (3.0, 2.0)), Keyframe(3.0, (6.0, 2.0))], ("keyframe 2", "ascending")),
        ([Keyframe(0.2, (1.2, 0.0))], ("keyframe 1", "at least 0.5 s")),
        ([Keyframe(30.0, (3.0, 2.0))], ("keyframe 1", "time limit")),
        ([Keyframe(4.0, (3.0, 2.0), math.nan)], ("keyframe 1", "finite")),
    ],
)
def test_impossible_keyframes_are_refused_up_front(shipped, keys, words):
    with pytest.raises(ValueError) as error:
        PathController(shipped, walled(), config=ControllerConfig(time_limit=20.0), keyframes=keys)
    for word in words:
        assert word in str(error.value), str(error.value)


def test_the_route_goes_round_the_obstacle_through_the_keyframes(shipped):
    keys = [Keyframe(5.0, (3.0, 2.0), 0.0), Keyframe(9.0, (6.0, -2.0), None)]
    controller = PathController(shipped, walled(), keyframes=keys)
    path = controller.path
    for key in keys:
        assert np.linalg.norm(path - key.xy, axis=-1).min() < 1e-6
    inside = (path[:, 0] > 3.95) & (path[:, 0] < 5.05) & (np.abs(path[:, 1]) < 1.05)
    assert not inside.any()


@pytest.mark.parametrize(
    "text, words",
    [
        ("t=6 x=4.0", ("lacks y",)),
        ("t=6 x=4 y=1 z=2", ("'z=2'", "t=, x=, y=, heading=")),
        ("t=six x=4 y=1", ("t='six'", "not a number")),
        ("t=6 x=4 y=1 x=5", ("once each",)),
        ("t=6 x=inf y=1", ("finite",)),
    ],
)
def test_keyframe_text_errors_name_the_problem(text, words):
    with pytest.raises(ValueError) as error:
        parse_keyframe(text)
    for word in words:
        assert word in str(error.value)


def test_keyframe_text_parses_heading_in_degrees():
    key = parse_keyframe("t=6 x=4.0 y=1.5 heading=90")
    assert key == Keyframe(6.0, (4.0, 1.5), math.pi / 2)
    assert parse_keyframe("y=-1 x=2 t=3").heading is None


def test_end_pose_specs(tmp_path):
    path = tmp_path / "walk.npz"
    motion = clip_motion("walk").slice(0, 20)
    motion.save(path, terrain=make_terrain("flat", seed=0))
    pose = load_end_pose(f"{path}:5")
    assert np.allclose(pose.xy, motion.root_pos[5, :2]) and np.allclose(pose.joint_quat, motion.joint_quat[5])
    assert np.allclose(load_end_pose(str(path)).xy, motion.root_pos[-1, :2])
    for spec, word in [
        (f"{path}:20", "out of range"),
        (f"{path}:two", "not an integer"),
        (str(tmp_path / "none.npz"), "does not exist"),
        (str(tmp_path / "walk.txt"), "not a motion file"),
    ]:
        with pytest.raises(ValueError, match=word):
            load_end_pose(spec)


def test_generate_refuses_a_bad_keyframe_in_one_line(tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert main(["generate", "--terrain", "flat", "--out", str(out), "--keyframe", "t=6 x=4"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: keyframe") and "lacks y" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    "distance, seconds, speed", [(6.0, 5.0, 0.0), (3.0, 2.0, 1.2), (1.0, 2.0, 1.2), (8.0, 3.0, 2.0)]
)
def test_the_leg_speed_covers_the_distance_in_the_time(distance, seconds, speed):
    # The follower's plan: speed up at accel to the cruise speed, or drop to it at once; then hold it.
    accel, dt = 1.5, 1e-3
    cruise = speed_to_arrive(distance, seconds, speed, accel)
    s, v = 0.0, speed
    for _ in range(int(round(seconds / dt))):
        v = min(v + accel * dt, cruise) if cruise > v else cruise
        s += v * dt
    assert abs(s - distance) < 0.01
