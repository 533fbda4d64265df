"""The simulator loop with real PyBullet (p.DIRECT) and a real tiny model (the `model` fixture in
conftest.py): physics rate, posing order, balls, real time, stopping, simulate() and the CLI."""

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from recording import Recording

from controller.path_controller import ControllerConfig, PathController
from controller.stream import BufferedStream
from motion_model.learner import checkpoint
from sim.bullet.balls import BALL_RADIUS, DROP_HEIGHT, BallSpawn, ball_spawns
from sim.bullet.loop import LoopSettings, SimulationLoop, VideoOutput
from sim.bullet.scene import PHYSICS_HZ, Scene, p
from sim.bullet.simulate import SimulationSettings, simulate
from sim.cli import main
from terrain.generators import make_terrain
from terrain.planning import plan_path

torch.set_num_threads(1)

FAST = ControllerConfig(ddim_steps=2, commit_frames=30, candidates=2, max_retries=1, time_limit=3.0)


@pytest.fixture(scope="module")
def stairs():
    return make_terrain("stairs", seed=1, length=8.0, direction="down", step_height=0.2, num_steps=4)


def generator_threads():
    return [t for t in threading.enumerate() if t.name == "motion-generator" and t.is_alive()]


def test_ball_spawns_sit_at_the_top_of_the_descent_and_push_downhill(stairs):
    path = plan_path(stairs)
    spawns = ball_spawns(stairs, path, 3, seed=0)
    assert len(spawns) == 3
    assert all(np.array_equal(a.position, b.position) for a, b in zip(spawns, ball_spawns(stairs, path, 3, seed=0)))
    xy = np.array([s.position[:2] for s in spawns])
    assert stairs.contains(xy).all()
    assert min(np.linalg.norm(a - b) for i, a in enumerate(xy) for b in xy[i + 1 :]) >= 0.99
    ground = stairs.height(xy)
    assert np.allclose([s.position[2] for s in spawns], ground + BALL_RADIUS + DROP_HEIGHT)
    # The best spot overlooks the flight: the ground 0.75 m along its push is lower by at least a step.
    heading = spawns[0].velocity[:2] / np.linalg.norm(spawns[0].velocity[:2])
    assert ground[0] - stairs.height(xy[0] + 0.75 * heading) >= 0.2
    assert all(np.allclose(s.trigger, s.position[:2]) for s in spawns)
    assert ball_spawns(stairs, path, 0) == []


def test_physics_at_240_hz_poses_in_order_and_balls_settle(model, stairs):
    controller = PathController(model, stairs, config=FAST, seed=3)
    reference = PathController(model, stairs, config=FAST, seed=3).run().motion
    flat_xy = np.array([0.8, 2.0])  # on the level start area, away from the path
    resting = BallSpawn(np.array([*flat_xy, stairs.height(flat_xy) + 0.4]))
    top = ball_spawns(stairs, controller.path, 1, seed=0, on_approach=False)[0]
    with Scene(stairs, controller.path, controller.goal) as scene:
        stream = Recording(BufferedStream(controller, buffer_seconds=1.0))
        loop = SimulationLoop(scene, stream, LoopSettings(fps=30.0, realtime=False), balls=[resting, top])
        stats = loop.run(seconds=2.0)
        c = scene.client
        assert stats.physics_steps == 2 * PHYSICS_HZ and stats.simulated_seconds == pytest.approx(2.0)
        assert stats.poses == 60 == len(stream.frames) and stats.stopped == "seconds"
        # Frames were shown in the order the controller commits them; the last one is on screen.
        assert np.array_equal(np.stack([f.root_pos for f in stream.frames]), reference.root_pos[:60])
        base = p.getBasePositionAndOrientation(scene.humanoid, physicsClientId=c)
        assert np.allclose(base[0], stream.frames[-1].root_pos, atol=1e-9)
        assert np.allclose(np.abs(np.dot(base[1], stream.frames[-1].root_quat)), 1.0, atol=1e-6)
        # The limbs hold the pose through the physics steps (gravity would swing the free joints).
        chest = p.getJointStateMultiDof(scene.humanoid, 1, physicsClientId=c)[0]
        expected = stream.frames[-1].joint_quat[0] / np.linalg.norm(stream.frames[-1].joint_quat[0])
        assert abs(np.dot(chest, expected)) == pytest.approx(1.0, abs=1e-9)
        # The ball dropped on level ground rests on it; the one at the top of the flight rolled down.
        rest, rolled = stats.ball_positions
        assert rest[2] == pytest.approx(stairs.height(flat_xy) + BALL_RADIUS, abs=0.02)
        assert np.linalg.norm(rest[:2] - flat_xy) < 0.05
        assert rolled[2] < top.position[2] - DROP_HEIGHT - 0.19  # at least a step below where it was dropped
        assert rolled[2] > stairs.height(rolled[:2]) + BALL_RADIUS - 0.02  # on the surface, not through it
    assert not generator_threads()


def test_real_time_loop_is_paced_by_the_wall_clock(model, stairs):
    controller = PathController(model, stairs, config=FAST, seed=4)
    with Scene(stairs) as scene:
        stream = BufferedStream(controller, buffer_seconds=1.0)
        loop = SimulationLoop(scene, stream, LoopSettings(fps=30.0), balls=ball_spawns(stairs, controller.path, 2))
        stats = loop.run(seconds=1.5)
    assert stats.simulated_seconds == pytest.approx(1.5)
    assert stats.physics_steps == 360 and stats.poses == 45
    # Paced: never ahead of the wall clock. (How close it keeps to it on a busy machine is the simulate
    # command's printed rate, not a test: a timed assertion would fail whenever CI is loaded.)
    assert stats.wall_seconds >= 1.5 - 1.0 / PHYSICS_HZ
    assert stats.underruns >= 0 and stats.resyncs >= 0
    assert not generator_threads()


def test_stops_at_the_end_of_the_stream_and_writes_a_video(model, stairs, tmp_path):
    out = tmp_path / "sim.mp4"
    settings = SimulationSettings(seed=2, balls=2, realtime=False, progress=False, video=out, video_size=(96, 64))
    stats = simulate(model, stairs, settings, config=replace(FAST, time_limit=1.0))
    # One 30-frame segment reaches the 1 s limit; the loop shows it and stops, the generator thread is gone.
    assert stats.stopped == "stream_end" and stats.controller_status == "time_limit"
    assert stats.poses == 30 and stats.physics_steps == 30 * 8
    assert stats.video_frames == 8 and out.stat().st_size > 0
    assert stats.ball_positions.shape == (2, 3)
    assert not generator_threads()


def test_simulate_command(model, tmp_path, capsys):
    model_file = tmp_path / "tiny.pt"
    checkpoint.save(model_file, checkpoint.payload(model.config, model.normalizer, model.network.state_dict()))
    assert (
        main(
            [
                "simulate",
                "--terrain",
                "flat",
                "length=8",
                "--model",
                str(model_file),
                "--balls",
                "1",
                "--seconds",
                "0.5",
                "--buffer",
                "0.5",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "underruns 0" in out and "physics" in out and "stopped: seconds" in out


@pytest.mark.parametrize(
    "size, every, message",
    [
        ((50000, 50000), 4, "video size 50000 x 50000 is out of range"),
        ((96, 64), 31, r"video fps 0.967742 is out of range: it must lie in \[1, 240\]"),
    ],
)
def test_video_settings_are_bounded_before_the_loop_starts(stairs, tmp_path, size, every, message):
    with Scene(stairs) as scene, pytest.raises(ValueError, match=message):
        SimulationLoop(scene, None, video=VideoOutput(path=tmp_path / "sim.mp4", every=every, size=size))
    assert list(tmp_path.iterdir()) == []
