import json
import math

import numpy as np
import pybullet as p
import pytest

from motion_model.body import clips
from motion_model.body import quaternion as quat
from motion_model.body.inertia import LinkInertia
from motion_model.body.motion import Motion
from motion_model.body.skeleton import NUM_LINKS, SCALE, URDF_PATH, Skeleton
from motion_model.engine.gait import standing_pose
from sim.cli import main
from sim.evaluation import dynamics
from terrain.heightfield import Heightfield

FPS = 30.0


def _standing(frames=20, lift=0.0):
    pose = standing_pose()
    root_pos = np.tile([0.0, 0.0, pose.root_height + lift], (frames, 1))
    return Motion(
        FPS,
        root_pos,
        np.tile(pose.root_rel, (frames, 1)),
        np.tile(pose.joints, (frames, 1, 1)),
        np.zeros((frames, 2)),
    )


def test_inertia_matches_pybullet():
    client = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(URDF_PATH, globalScaling=SCALE, flags=p.URDF_MAINTAIN_LINK_ORDER, physicsClientId=client)
        info = [p.getDynamicsInfo(body, i, physicsClientId=client) for i in range(NUM_LINKS)]
    finally:
        p.disconnect(client)
    model = LinkInertia.load()
    np.testing.assert_allclose(model.mass, [d[0] for d in info])
    np.testing.assert_allclose(model.com_local, [d[3] for d in info], atol=1e-9)
    assert all(np.allclose(d[4], [0, 0, 0, 1]) for d in info)  # inertial frames are not rotated
    diagonal = np.array([np.diag(i) for i in model.inertia_local])
    np.testing.assert_allclose(diagonal, [d[2] for d in info], rtol=1e-5)  # Bullet turns the capsules in float32
    assert np.allclose(model.inertia_local, np.array([np.diag(d) for d in diagonal]), atol=1e-7)
    assert model.total_mass == pytest.approx(45.0)


def test_standing_still_is_supported():
    frames = dynamics.dynamics_frames(_standing(), dynamics.flat_ground(_standing()))
    weight = LinkInertia.load().total_mass * dynamics.G
    np.testing.assert_allclose(frames.force, np.tile([0, 0, weight], (20, 1)), atol=1e-6)
    assert frames.supporting.all()
    result = dynamics.dynamic_metrics(_standing())
    assert result["residual_force_mean_bw"] < 1e-6
    assert result["residual_moment_mean"] < 1e-6
    assert result["zmp_outside_max_m"] == 0.0
    assert result["flight_count"] == 0
    assert result["no_foot_walk_frac"] == 0.0


def test_held_in_the_air_is_a_hovering_flight():
    result = dynamics.dynamic_metrics(_standing(lift=0.5))
    assert result["residual_force_mean_bw"] == pytest.approx(1.0, abs=1e-6)
    assert result["residual_force_frac_0p1"] == 1.0
    assert result["flight_count"] == 1
    assert result["flight_accel_error_mean"] == pytest.approx(1.0, abs=1e-6)
    assert result["no_foot_walk_frac"] == 1.0
    assert math.isnan(result["zmp_outside_mean_m"])  # no support, no polygon


def test_free_fall_is_ballistic():
    motion = _standing(frames=12, lift=1.0)
    t = np.arange(12) / FPS
    motion.root_pos[:, 2] -= 0.5 * dynamics.G * t**2
    motion.root_pos[:, 0] += 0.8 * t  # drifting forward at a constant speed changes nothing
    frames = dynamics.dynamics_frames(motion, dynamics.flat_ground(motion))
    assert np.abs(frames.force).max() < 1e-6
    result = dynamics.dynamic_metrics(motion)
    assert result["flight_count"] == 1
    assert result["flight_accel_error_mean"] < 1e-9
    assert result["residual_force_mean_bw"] < 1e-9


def test_leaning_beyond_the_toes_is_unsupported():
    # The standing body turned rigidly forward about its toe line: held still, it needs its weight straight
    # up through the centre of mass, which now lies ahead of every sole corner.
    motion = _standing()
    links = motion.fk()
    toe_x = Skeleton.load().sole_points(*links)[0, :, :, 0].max()
    turn = quat.from_axis_angle(np.array([0.0, 1.0, 0.0]), np.array(np.radians(12.0)))
    pivot = np.array([toe_x, 0.0, 0.0])
    motion.root_pos[:] = pivot + quat.rotate(turn, motion.root_pos[0] - pivot)
    motion.root_quat[:] = quat.multiply(turn, motion.root_quat[0])
    frames = dynamics.dynamics_frames(motion, dynamics.flat_ground(motion))
    corners = Skeleton.load().sole_points(*motion.fk())[0]
    assert frames.supporting.all() and corners[..., 2].min() == pytest.approx(0.0, abs=1e-9)
    ahead = frames.com[0, 0] - corners[..., 0].max()
    assert ahead > 0.05
    np.testing.assert_allclose(frames.zmp_outside, ahead, atol=1e-6)
    result = dynamics.dynamic_metrics(motion)
    assert result["residual_moment_mean"] > 0.03 and result["zmp_outside_mean_m"] == pytest.approx(ahead, abs=1e-6)


@pytest.mark.parametrize("degrees", [15.0, 35.0])
def test_standing_on_a_slope_is_supported_with_mu_1(degrees):
    slope = math.tan(math.radians(degrees))
    x = np.linspace(-2.0, 2.0, 41)
    terrain = Heightfield(np.tile(slope * x[:, None], (1, 41)), 0.1, (-2.0, -2.0))
    result = dynamics.dynamic_metrics(_standing(), terrain)
    assert result["residual_force_mean_bw"] < 1e-6
    assert result["residual_moment_mean"] < 1e-6
    assert math.isnan(result["zmp_outside_mean_m"])  # defined on flat ground only


def test_steeper_than_the_cone_slips():
    slope = math.tan(math.radians(55.0))
    x = np.linspace(-2.0, 2.0, 41)
    terrain = Heightfield(np.tile(slope * x[:, None], (1, 41)), 0.1, (-2.0, -2.0))
    assert dynamics.dynamic_metrics(_standing(), terrain)["residual_force_mean_bw"] > 0.1


def test_short_or_broken_motions_give_nan():
    result = dynamics.dynamic_metrics(_standing(frames=5))
    assert set(result) == set(dynamics.KEYS)
    assert math.isnan(result["residual_force_mean_bw"]) and result["flight_count"] == 0


def test_smoothing_window_follows_the_frame_rate():
    assert dynamics.smoothing_window(30.0) == 7
    assert dynamics.smoothing_window(60.0) == 13
    assert dynamics.smoothing_window(10.0) == 5


def test_reference_figures_of_the_shipped_mocap():
    """The shipped clips under the module's rule (docs/guide.md quotes these figures)."""
    figures = {}
    for name in ("walk", "walker/0walk_forward", "run", "jump"):
        figures[name] = dynamics.dynamic_metrics(clips.clip_motion(name))
        print(name, {k: round(v, 4) for k, v in figures[name].items()})
    for name in ("walk", "walker/0walk_forward"):
        assert figures[name]["residual_force_mean_bw"] < 0.015  # FACTS.md: about 0.01
        assert figures[name]["residual_force_frac_0p1"] == 0.0
        assert figures[name]["zmp_outside_mean_m"] < 0.03  # FACTS.md: 1-3 cm outside at times
        assert figures[name]["no_foot_walk_frac"] == 0.0
        assert figures[name]["flight_count"] == 0
    jump = figures["jump"]
    assert jump["flight_count"] == 1
    assert jump["flight_accel_error_mean"] < 0.03  # FACTS.md: within 1-3 %
    assert jump["residual_force_mean_bw"] < 0.08


def test_eval_dynamics_adds_the_keys(tmp_path, capsys):
    path = tmp_path / "walk.npz"
    motion = clips.clip_motion("walk")
    motion.save(path)
    assert main(["eval", str(path), "--flat-ground", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not set(dynamics.KEYS) & set(plain)
    assert main(["eval", str(path), "--flat-ground", "--json", "--dynamics"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    expected = dynamics.dynamic_metrics(motion)
    assert {k: v for k, v in result.items() if k not in dynamics.KEYS} == plain
    for key in dynamics.KEYS:
        value = result[key]
        assert (value is None and math.isnan(expected[key])) or value == pytest.approx(expected[key])
    assert main(["eval", str(path), str(path), "--flat-ground", "--dynamics"]) == 0
    table = capsys.readouterr().out
    assert "res F bw" in table and "|a-g|/g" in table and table.splitlines()[-1].startswith("mean")
