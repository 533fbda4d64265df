"""The Python API refuses bad arguments with a ValueError naming the argument (not a ZeroDivisionError,
IndexError, AttributeError or TypeError from deep inside), before a model is loaded or a thread started; and no
writer makes a motion longer than the motion format's limit (MAX_FRAMES), which `eval` refuses.

Where a check must come before the model loads, the model given is a file that does not exist: an error naming
it would show that the check came too late.
"""

import math
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from cli_run import ROOT

from controller.config import ControllerConfig
from controller.crowd import crowd_controllers, crowd_routes, crowd_starts
from controller.live import LiveController
from controller.path_controller import PathController, run_batch
from controller.script import TimedCommand, run_scripts
from controller.stream import BufferedStream, CrowdStream
from motion_model.body.clips import load_clip, loop
from motion_model.body.motion import MAX_FRAMES, Motion
from motion_model.engine.synthesis import synthesize
from motion_model.learner import checkpoint
from sim.benchmarks import bench_speed
from sim.bullet.balls import ball_spawns
from sim.bullet.scene import Camera
from sim.bullet.simulate import SimulationSettings, simulate
from sim.cli import main
from terrain.generators import make_terrain
from terrain.numbers import MAX_SEED
from terrain.planning import PlannerConfig, plan_path

NO_MODEL = "no-such-model.pt"
SEED = f"seed must be a whole number in 0..{MAX_SEED}"


@pytest.fixture(scope="module")
def flat():
    return make_terrain("flat", seed=0)


@pytest.fixture(scope="module")
def controller(model, flat):
    return PathController(model, flat)


@pytest.mark.parametrize(
    "model_, terrain, kwargs, message",
    [
        (NO_MODEL, None, {}, "terrain must be a Heightfield"),
        (NO_MODEL, "flat", {}, "terrain must be a Heightfield"),
        (None, "FLAT", {}, "model must be a LoadedModel, a model name or a checkpoint path, got NoneType"),
        (3, "FLAT", {}, "model must be a LoadedModel"),
        (NO_MODEL, "FLAT", {"config": None}, "config must be a ControllerConfig"),
        (NO_MODEL, "FLAT", {"config": {"speed": 1.0}}, "config must be a ControllerConfig"),
        (NO_MODEL, "FLAT", {"seed": 2**70}, SEED),
        (NO_MODEL, "FLAT", {"seed": -1}, SEED),
        (NO_MODEL, "FLAT", {"seed": 1.5}, SEED),
        (NO_MODEL, "FLAT", {"seed": True}, SEED),
        (NO_MODEL, "FLAT", {"stops": [1]}, "stops must be a list of Stop records"),
        (NO_MODEL, "FLAT", {"keyframes": [1]}, "keyframes must be a list of Keyframe records"),
        (NO_MODEL, "FLAT", {"end_pose": "walk.npz"}, "end_pose must be an EndPose"),
    ],
)
def test_path_controller_names_a_bad_argument_before_loading_the_model(flat, model_, terrain, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        PathController(model_, flat if terrain == "FLAT" else terrain, **kwargs)


def test_a_given_route_is_bounded(model, flat):
    with pytest.raises(ValueError, match=r"path has 100001 points, more than a motion file holds \(100000\)"):
        PathController(model, flat, path=np.linspace([1.0, 0.0], [11.0, 0.0], 100_001))
    back_and_forth = np.array([[1.0, 0.0], [11.0, 0.0]] * 600)  # 12 km within an 8-m stretch
    with pytest.raises(ValueError, match=r"route is 12.0 km long, more than 10 km"):
        PathController(model, flat, path=back_and_forth)


def test_the_time_limit_fits_a_motion_file(model, flat):
    with pytest.raises(ValueError, match=r"time_limit 3600 s makes up to \d+ frames.*holds \(36000\)") as refused:
        PathController(model, flat, config=ControllerConfig(time_limit=3600.0))
    most = float(re.search(r"give at most ([\d.]+) s", str(refused.value)).group(1))
    config = ControllerConfig(time_limit=most)
    fps = model.window.fps
    assert math.ceil(most * fps) - 1 + config.commit_frames <= MAX_FRAMES  # the longest run fits
    PathController(model, flat, config=config)
    with pytest.raises(ValueError, match="time_limit"):
        PathController(model, flat, config=ControllerConfig(time_limit=most + 0.1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lanes": 0}, "lanes must be a whole number in 1..32, got 0"),
        ({"lanes": -1}, "lanes must be a whole number in 1..32"),
        ({"lanes": 1.5}, "lanes must be a whole number"),
        ({"lanes": 33}, "lanes must be a whole number in 1..32, got 33"),
        ({"batch": 0}, "batch must be a whole number >= 1, got 0"),
        ({"batch": 4, "lanes": 8}, "lanes must be a whole number in 1..4"),
    ],
)
def test_run_batch_names_a_bad_count(controller, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_batch([controller], **kwargs)
    assert not controller.chunks  # refused before a step


@pytest.mark.parametrize("controllers", [None, [1], (3, "x"), "abc"])
def test_run_batch_and_crowd_stream_refuse_what_is_not_controllers(controllers):
    with pytest.raises(ValueError, match="controllers must be a list of PathControllers"):
        run_batch(controllers)
    threads = threading.active_count()
    with pytest.raises(ValueError, match="controllers must be a list of PathControllers"):
        CrowdStream(controllers)
    assert threading.active_count() <= threads


def test_an_empty_crowd_stream_is_refused_and_an_empty_batch_runs():
    with pytest.raises(ValueError, match="controllers must hold at least one PathController"):
        CrowdStream([])
    assert run_batch([]) == []


@pytest.mark.parametrize("seconds", [math.nan, math.inf, 0, -1, 0.001, 1e9, "4", None])
def test_buffered_stream_names_a_bad_buffer(controller, seconds):
    threads = threading.active_count()
    with pytest.raises(ValueError, match=r"buffer_seconds must be a finite number in 0.01..600"):
        BufferedStream(controller, seconds)
    with pytest.raises(ValueError, match=r"buffer_seconds"):
        CrowdStream([controller], seconds)
    assert threading.active_count() <= threads and not controller.chunks


def test_buffered_stream_refuses_what_is_not_a_controller():
    with pytest.raises(ValueError, match="controller must be a PathController, got NoneType"):
        BufferedStream(None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"terrain": None}, "terrain must be a Heightfield"),
        ({"seed": 2**70}, SEED),
        ({"balls": -1}, "balls must be a whole number >= 0"),
        ({"balls": 2.5}, "balls must be a whole number"),
        ({"seconds": math.nan}, "seconds must be a finite number"),
        ({"seconds": -5}, "seconds must be a finite number"),
        ({"seconds": 0}, "seconds must be a finite number"),
        ({"buffer_seconds": 0}, "buffer_seconds must be a finite number"),
        ({"buffer_seconds": math.nan}, "buffer_seconds must be a finite number"),
        ({"video_every": 0}, "video_every must be a whole number >= 1"),
        ({"characters": 0}, "characters must be a whole number >= 1"),
    ],
)
def test_simulate_names_a_bad_argument_before_loading_the_model(flat, kwargs, message):
    threads = threading.active_count()
    settings = {name: value for name, value in kwargs.items() if name != "terrain"}
    with pytest.raises(ValueError, match=re.escape(message)):
        simulate(NO_MODEL, kwargs.get("terrain", flat), SimulationSettings(**settings))
    assert threading.active_count() <= threads


def test_simulate_refuses_more_balls_than_the_path_has_room_for(model, flat):
    path = plan_path(flat)
    with pytest.raises(ValueError, match=r"balls: this path has room for (\d+) balls, got 100000") as refused:
        ball_spawns(flat, path, 100_000)
    room = int(re.search(r"room for (\d+)", str(refused.value)).group(1))
    assert len(ball_spawns(flat, path, room)) == room
    threads = threading.active_count()
    with pytest.raises(ValueError, match=r"room for \d+ balls, got 100000"):
        simulate(model, flat, SimulationSettings(balls=100_000, progress=False))
    assert threading.active_count() <= threads  # the stream started for it is closed


@pytest.mark.parametrize("count", [0, -3, 1.5, 10**9, None])
def test_crowds_name_a_bad_count(flat, count):
    with pytest.raises(ValueError, match=r"count \(characters of a crowd\) must be a whole number in 1..1024"):
        crowd_routes(flat, count)
    with pytest.raises(ValueError, match=r"count \(characters of a crowd\) must be a whole number in 1..1024"):
        crowd_starts(flat, count)
    with pytest.raises(ValueError, match="terrain must be a Heightfield"):
        crowd_starts(None, 2)


def test_crowd_seeds_stay_in_range(model, flat):
    controllers = crowd_controllers(model, flat, 2, ControllerConfig(), seed=MAX_SEED)
    assert [c.generator.initial_seed() for c in controllers] == [MAX_SEED, 0]
    with pytest.raises(ValueError, match=re.escape(SEED)):
        crowd_controllers(NO_MODEL, flat, 2, ControllerConfig(), seed=MAX_SEED + 1)


@pytest.mark.parametrize("seed", [None, -1, 1.5, "a", 2**70, MAX_SEED + 1])
def test_make_terrain_names_a_bad_seed(seed):
    with pytest.raises(ValueError, match=re.escape(SEED)):
        make_terrain("flat", seed=seed)
    assert make_terrain("flat", seed=MAX_SEED).heights.size


def test_make_terrain_refuses_a_huge_integer_parameter():
    with pytest.raises(ValueError, match=r"length=<an integer of about 400 digits> is invalid: valid range"):
        make_terrain("flat", seed=0, length=int("1" * 401))


@pytest.mark.parametrize("speed", [math.nan, 0.001, 100.0, -1.0, "1"])
def test_synthesize_names_a_bad_speed(flat, speed):
    with pytest.raises(ValueError, match=r"speed must be a finite number in 0.3..3.8"):
        synthesize(flat, plan_path(flat), speed=speed)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sizes": (("fp32", 10**6),)}, "fp32 matmul size must be a whole number in 16..8192"),
        ({"batches": (1, 0)}, "batches must be a whole number in 1..1024, got 0"),
        ({"steps": 0}, "steps must be a whole number >= 1"),
        ({"warmup": -1}, "warmup must be a whole number >= 0"),
        ({"threads": 0}, "threads must be a whole number in 1..1024"),
    ],
)
def test_bench_speed_refuses_sizes_before_allocating(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        bench_speed.run(NO_MODEL, **kwargs)
    with pytest.raises(ValueError, match="matmul size must be a whole number in 16..8192"):
        bench_speed.matmul_peak(torch.float32, 10**6)  # 4 TB a matrix


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"terrain": None}, "terrain must be a Heightfield"),
        ({"config": PlannerConfig(grid=1e-6)}, "grid must be a finite number in 0.01..10"),
        ({"config": PlannerConfig(grid=math.nan)}, "grid must be a finite number"),
        ({"config": PlannerConfig(spacing=0.0)}, "spacing must be a finite number in 0.01..10"),
    ],
)
def test_plan_path_refuses_a_grid_before_allocating_it(flat, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        plan_path(**{"terrain": flat, **kwargs})


@pytest.mark.parametrize("kwargs", [{"yaw": math.nan}, {"pitch": 90.0}, {"pitch": math.nan}, {"distance": math.inf}])
def test_a_camera_refuses_a_view_that_is_not_a_number(kwargs):
    with pytest.raises(ValueError, match="camera"):
        Camera(**kwargs)


def test_live_controller_refuses_a_bad_seed_before_loading_the_model(flat):
    with pytest.raises(ValueError, match=re.escape(SEED)):
        LiveController(NO_MODEL, flat, seed=2**70)


# -- the motion format's length limit --------------------------------------------------------------------


def test_a_looped_clip_stops_at_the_format_s_limit():
    clip = load_clip("walk")
    most = (MAX_FRAMES - 1) // (clip.num_frames - 1)
    assert loop(clip, 3).num_frames == 3 * (clip.num_frames - 1) + 1  # so `most` cycles fit, one more does not
    assert most * (clip.num_frames - 1) + 1 <= MAX_FRAMES < (most + 1) * (clip.num_frames - 1) + 1
    with pytest.raises(ValueError, match=rf"give at most {most} cycles \(--cycles\)"):
        loop(clip, most + 1)


def test_save_refuses_a_motion_beyond_the_limit(tmp_path):
    t = MAX_FRAMES + 1
    quats = np.tile([0.0, 0.0, 0.0, 1.0], (t, 1))
    long = Motion(30.0, np.zeros((t, 3)), quats, np.tile(quats[:, None], (1, 12, 1)), np.zeros((t, 2)))
    (tmp_path / "old.npz").write_bytes(b"previous")
    with pytest.raises(ValueError, match=rf"holds at most {MAX_FRAMES} frames.*this motion has {t}"):
        long.save(tmp_path / "old.npz")
    with pytest.raises(ValueError, match="path points"):
        long.slice(0, 10).save(tmp_path / "new.npz", path=np.zeros((100_001, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.npz"]
    assert (tmp_path / "old.npz").read_bytes() == b"previous"
    long.slice(0, MAX_FRAMES).save(tmp_path / "longest.npz")
    assert Motion.load(tmp_path / "longest.npz").num_frames == MAX_FRAMES  # the longest is read back


def test_a_script_longer_than_a_motion_file_is_refused_before_its_first_frame(model, flat):
    live = LiveController(model, flat)
    commands = [TimedCommand(0.0, 0.0, 1.2), TimedCommand(1190.0, speed=0.0)]
    with pytest.raises(ValueError, match=r"make 36001 frames at 30 fps, more than a motion file holds"):
        run_scripts([live], commands, tail=10.0 + 1 / 30)  # one frame more than MAX_FRAMES at 30 fps
    assert live.frame_index == 0


def test_commands_refuse_a_motion_longer_than_the_limit(model, tmp_path, capsys):
    model_file = tmp_path / "tiny.pt"
    checkpoint.save(model_file, checkpoint.payload(model.config, model.normalizer, model.network.state_dict()))
    out = tmp_path / "long.npz"
    assert main(["clip", "walk", "--cycles", "1000", "--out", str(out)]) == 2
    assert "give at most" in capsys.readouterr().err
    args = ["generate", "--terrain", "flat", "--model", str(model_file), "--time-limit", "1500", "--out", str(out)]
    assert main(args) == 2
    assert "time_limit 1500 s makes up to" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.pt"]


PLAY_TO_THE_LIMIT = r"""
import sys
import sim.play.session
from sim.cli import main

sim.play.session.MAX_FRAMES = 45  # the format's limit, made small: the session stops there by itself
sys.exit(main(["play", "--terrain", "flat", "--model", sys.argv[1], "--out", sys.argv[2]]))
"""


@pytest.mark.gui
def test_a_play_session_stops_at_the_frame_limit(display, model, tmp_path):
    model_file, out = tmp_path / "tiny.pt", tmp_path / "play.npz"
    checkpoint.save(model_file, checkpoint.payload(model.config, model.normalizer, model.network.state_dict()))
    run = subprocess.run(
        [sys.executable, "-c", PLAY_TO_THE_LIMIT, str(model_file), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DISPLAY": display, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "stopped: 45 frames recorded" in run.stdout and "the frame limit of a motion file" in run.stdout
    assert Motion.load(out).num_frames == 45
