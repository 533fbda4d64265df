import dataclasses

import numpy as np
import pytest

from controller import ControllerConfig, PathController
from controller.frames import Frames
from controller.momentum import flight_frames, settled_roots
from motion_model.body.inertia import LinkInertia
from motion_model.body.momentum import G, MomentumConfig, centre_of_mass, filtered_com
from motion_model.body.skeleton import Skeleton
from motion_model.engine import synthesize
from motion_model.engine.gait import standing_pose
from motion_model.learner.checkpoint import load_model
from sim.evaluation import dynamics
from sim.evaluation.metrics import evaluate
from terrain import make_terrain, plan_path
from terrain.heightfield import Heightfield

FPS = 30.0
DT = 1.0 / FPS


def _accel(x):
    return (x[2:] - 2 * x[1:-1] + x[:-2]) / DT**2


def _hop(frames=40, flight=(15, 25), height=0.9):
    """A centre of mass that runs forward at 3 m/s and hovers at one height through a flight."""
    t = np.arange(frames) * DT
    com = np.c_[3.0 * t, np.zeros(frames), np.full(frames, height)]
    airborne = np.zeros(frames, bool)
    airborne[slice(*flight)] = True
    return com, airborne


def test_a_hovering_flight_falls_at_g():
    com, airborne = _hop()
    out = filtered_com(com, airborne, FPS)
    flying = airborne[1:-1]
    np.testing.assert_allclose(_accel(out[:, 2])[flying], -G, atol=0.3)
    np.testing.assert_allclose(_accel(out[:, 0])[flying], 0.0, atol=0.3)
    # the flight is a parabola through the stance ends: it rises, then falls back
    assert out[20, 2] > com[20, 2] + 0.02
    assert abs(out[0, 2] - com[0, 2]) < 0.02 and abs(out[-1, 2] - com[-1, 2]) < 0.02


def test_a_ballistic_path_stays_as_it_is():
    t = np.arange(30) * DT
    com = np.c_[2.0 * t, 0.1 * t, 1.0 + 1.5 * t - 0.5 * G * t**2]
    out = filtered_com(com, np.ones(30, bool), FPS)
    np.testing.assert_allclose(out, com, atol=1e-6)


def test_held_frames_stay_put():
    com, airborne = _hop()
    out = filtered_com(com, airborne, FPS, fixed=np.arange(40) < 16)  # held into the flight: it cannot rise there
    np.testing.assert_allclose(out[:16], com[:16], atol=1e-3)


def test_the_filter_is_smooth_in_support():
    rng = np.random.default_rng(0)
    com = np.c_[np.zeros((60, 2)), 0.9 + 0.005 * rng.standard_normal(60)]
    out = filtered_com(com, np.zeros(60, bool), FPS, MomentumConfig())
    assert np.abs(np.diff(out[:, 2], 3)).mean() < 0.2 * np.abs(np.diff(com[:, 2], 3)).mean()
    assert np.abs(out - com).max() < 0.01


def test_the_engine_runs_ballistically_with_feet_on_their_footholds():
    terrain = make_terrain("slope", seed=3, length=12.0)
    motion = synthesize(terrain, plan_path(terrain), gait="run", seed=3)
    result = dynamics.dynamic_metrics(motion)
    assert result["flight_count"] >= 4
    assert result["flight_accel_error_mean"] < 0.05
    kinematic = evaluate(motion)
    assert kinematic["penetration_mean_mm"] < 0.5
    assert kinematic["float_mean_mm"] < 0.5


def _frames(frames, speed, lift=None):
    """Standing poses gliding at `speed` m/s over flat ground at z = 0, raised by lift (T,) m."""
    pose = standing_pose()
    lift = np.zeros(frames) if lift is None else lift
    root = np.c_[speed * np.arange(frames) * DT, np.zeros(frames), pose.root_height + lift]
    return Frames(root, np.tile(pose.root_rel, (frames, 1)), np.tile(pose.joints, (frames, 1, 1)), np.ones((frames, 2)))


FLAT = Heightfield(np.zeros((2, 2)), 20.0, np.array([-5.0, -10.0]))


def _links(frames):
    return Skeleton.load().fk(frames.root_pos, frames.root_quat, frames.joint_quat)


def _com(frames):
    return centre_of_mass(_links(frames), LinkInertia.load())


def _settled(held, frames):
    return settled_roots([held], [frames], [_links(frames)], [FLAT], FPS)[0]


def _flights(frames):
    links = _links(frames)
    soles = Skeleton.load().sole_points(*links)
    return flight_frames(links, soles[..., 2].min(-1), FPS)  # the gaps above flat ground at z = 0


def test_settled_roots_make_a_hovering_hop_fall_and_continue_from_the_held_frames():
    lift = np.zeros(30)
    lift[12:22] = 0.1  # both feet 10 cm up, held there: a hover
    frames = _frames(30, speed=3.0, lift=lift)
    held, new = frames[:8], frames[8:]
    root, flying = _settled(held, new)
    np.testing.assert_array_equal(np.flatnonzero(flying), np.arange(4, 14))
    com = _com(Frames.concatenate([held, dataclasses.replace(new, root_pos=root)]))
    np.testing.assert_allclose(_accel(com[:, 2])[12:20], -G, atol=0.5)
    assert abs(root[0, 2] - new.root_pos[0, 2]) < 0.01  # no jump at the seam: the take-off comes after it


def test_walking_and_standing_have_no_flights():
    lift = np.zeros(30)
    lift[12:22] = 0.1
    assert not _flights(_frames(30, speed=1.2, lift=lift)).any()
    np.testing.assert_array_equal(np.flatnonzero(_flights(_frames(30, speed=3.0, lift=lift))), np.arange(12, 22))
    standing = _frames(20, speed=0.0)
    np.testing.assert_allclose(_settled(None, standing)[0], standing.root_pos, atol=1e-6)


@pytest.fixture(scope="module")
def shipped():
    return load_model("default")


def test_the_shipped_controller_runs_ballistically(shipped):
    terrain = make_terrain("flat", seed=41, length=20.0)
    result = PathController(shipped, terrain, config=ControllerConfig(speed=3.2), seed=41).run()
    on = dynamics.dynamic_metrics(result.motion)
    off_config = ControllerConfig(speed=3.2, momentum=False)
    off = dynamics.dynamic_metrics(PathController(shipped, terrain, config=off_config, seed=41).run().motion)
    assert on["flight_count"] >= 3
    assert on["flight_accel_error_mean"] < 0.15 < off["flight_accel_error_mean"]


def test_the_shipped_controller_keeps_a_foot_down_on_stairs(shipped):
    terrain = make_terrain("stairs", seed=43, length=12.0)
    motion = PathController(shipped, terrain, seed=43).run().motion
    result = dynamics.dynamic_metrics(motion)
    assert result["no_foot_walk_frac"] <= 0.005
    assert evaluate(motion)["penetration_mean_mm"] < 2.0
