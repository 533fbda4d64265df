"""A crowd: formation routes (controller/crowd.py), one generator thread for all (CrowdStream) and the simulator
loop with several humanoids, with real PyBullet (p.DIRECT) and the tiny model of conftest.py."""

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from recording import Recording

from controller.crowd import SPACING, crowd_controllers, crowd_routes
from controller.path_controller import ControllerConfig
from controller.stream import CrowdStream
from motion_model.learner import checkpoint
from sim.bullet.loop import LoopSettings, SimulationLoop
from sim.bullet.scene import PHYSICS_HZ, Scene
from sim.cli import main
from terrain.generators import make_terrain

torch.set_num_threads(1)

FAST = replace(ControllerConfig(), ddim_steps=1, time_limit=3.0)


@pytest.fixture(scope="module")
def flat():
    return make_terrain("flat", seed=0, length=10.0, width=6.0)


def test_formation_routes_start_apart_and_end_on_their_goals(flat):
    routes = crowd_routes(flat, 6)
    starts = np.stack([r.start for r in routes])
    assert min(np.linalg.norm(a - b) for i, a in enumerate(starts) for b in starts[i + 1 :]) >= SPACING - 1e-9
    for r in routes:
        assert np.allclose(r.path[0], r.start) and np.allclose(r.path[-1], r.goal)
    with pytest.raises(ValueError, match="found routes for .* of 500 characters"):
        crowd_routes(flat, 500)


def test_a_crowd_moves_in_the_loop_with_one_generator_thread(model, flat):
    controllers = crowd_controllers(model, flat, 3, FAST, seed=1)
    crowd = CrowdStream(controllers, buffer_seconds=1.0)
    streams = [Recording(s) for s in crowd.streams]
    with Scene(flat, characters=3) as scene:
        stats = SimulationLoop(scene, streams, LoopSettings(fps=30.0, realtime=False)).run(seconds=2.0)
    assert stats.characters == 3 and len(stats.underruns_per_character) == 3
    assert stats.physics_steps == 2 * PHYSICS_HZ and stats.poses == 60 and stats.stopped == "seconds"
    assert stats.physics_hz > 0 and stats.pose_hz > 0
    for controller, stream in zip(controllers, streams):
        root = np.stack([f.root_pos for f in stream.frames])
        joints = np.stack([f.joint_quat for f in stream.frames])
        assert len(root) == 60 and np.isfinite(root).all() and np.isfinite(joints).all()
        assert np.linalg.norm(root[-1, :2] - root[0, :2]) > 0.05  # it moved
        committed = np.concatenate([chunk.root_pos for chunk in controller.chunks])
        assert np.array_equal(root, committed[:60])  # its own frames, in order
    assert not [t for t in threading.enumerate() if t.name == "crowd-generator" and t.is_alive()]


def test_simulate_command_with_characters(model, tmp_path, capsys):
    model_file = tmp_path / "tiny.pt"
    checkpoint.save(model_file, checkpoint.payload(model.config, model.normalizer, model.network.state_dict()))
    args = ["simulate", "--terrain", "flat", "length=10", "--model", str(model_file), "--balls", "1"]
    assert main(args + ["--characters", "3", "--seconds", "0.5", "--buffer", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "3 characters:" in out and "underruns per character:" in out and "stopped: seconds" in out
    assert main(args + ["--characters", "0"]) == 2
    assert "error: argument --characters: 0 is out of range: give an integer in 1..64" in capsys.readouterr().err


def test_a_character_that_stops_first_stands_while_the_others_go_on(model, flat):
    controllers = crowd_controllers(model, flat, 2, FAST, seed=2)
    controllers[0].config = replace(FAST, time_limit=1.0)  # time_limit is not a batch setting
    streams = [Recording(s) for s in CrowdStream(controllers, buffer_seconds=0.5).streams]
    with Scene(flat, characters=2) as scene:
        stats = SimulationLoop(scene, streams, LoopSettings(fps=30.0, realtime=False)).run()
    assert stats.stopped == "stream_end" and [c.status for c in controllers] == ["time_limit"] * 2
    assert len(streams[0].frames) == 30 and len(streams[1].frames) == stats.poses == 90
