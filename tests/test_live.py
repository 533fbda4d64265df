"""Live steering with the shipped model: turns, stops, walls, determinism, provisional frames, many characters,
the real-time stream, reaction measurement and bad input."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from controller.live import LiveConfig, LiveController, LiveStream, next_frames
from controller.script import TimedCommand, run_script
from motion_model.body import quaternion as quat
from motion_model.body.motion import Motion
from motion_model.learner.checkpoint import load_model
from sim.benchmarks.bench_reaction import STICK_FINAL_FLOOR, stick_session
from sim.cli import main
from sim.evaluation.metrics import evaluate
from sim.evaluation.reaction import format_table, measure
from terrain.generators import make_terrain
from terrain.heightfield import Heightfield

WALK = [TimedCommand(0.0, 0.0, 1.2)]


@pytest.fixture(scope="module")
def shipped():
    return load_model("default")


@pytest.fixture(scope="module")
def flat():
    return make_terrain("field", 0, size=20.0, features=0)


def headings(motion):
    return np.degrees(quat.heading(motion.root_quat))


def test_a_90_degree_command_turns_the_character_and_a_stop_ends_at_rest(shipped, flat):
    live = LiveController(shipped, flat, seed=0)
    motion = run_script(live, WALK + [TimedCommand(2.0, math.radians(90.0)), TimedCommand(5.0, speed=0.0)])
    turn = next(r for r in measure(motion, live.command_log) if r.kind.startswith("turn"))
    assert turn.seconds is not None and turn.seconds <= 1.5  # the floor is 0.8 s (bench-reaction)
    assert abs(headings(motion)[150] - 90.0) < 20.0
    last = motion.root_pos[-30:, :2]
    assert np.linalg.norm(last[-1] - last[0]) < 0.05  # at rest over the last second
    assert motion.root_pos[150, 1] - motion.root_pos[60, 1] > 1.5  # it walked the new way
    assert evaluate(motion)["penetration_max_mm"] < 10.0


def test_a_command_into_a_wall_stops_before_it_without_penetration(shipped):
    x, y = np.arange(241) * 0.05 - 1.0, np.arange(121) * 0.05 - 3.0
    wall = np.abs(x[:, None] - 4.0) < 0.1
    terrain = Heightfield(np.where(wall & (y[None] == y[None]), 1.0, 0.0), 0.05, (-1.0, -3.0), start=(0.0, 0.0))
    live = LiveController(shipped, terrain, seed=0)
    motion = run_script(live, [TimedCommand(0.0, 0.0, 3.0)], tail=6.0)
    assert motion.root_pos[:, 0].max() < 4.0 - 0.1 - 0.2  # the root stays clear of the wall's face
    assert motion.root_pos[-1, 0] > 2.5  # it went as far as the terrain allows
    assert np.linalg.norm(motion.root_pos[-1, :2] - motion.root_pos[-30, :2]) < 0.05
    assert evaluate(motion)["penetration_max_mm"] < 10.0


def test_same_seed_same_motion_and_the_motion_file_round_trips(shipped, flat, tmp_path):
    script = WALK + [TimedCommand(1.0, math.radians(-60.0))]
    a = run_script(LiveController(shipped, flat, seed=3), script, tail=1.0)
    b = run_script(LiveController(shipped, flat, seed=3), script, tail=1.0)
    assert np.array_equal(a.root_pos, b.root_pos) and np.array_equal(a.joint_quat, b.joint_quat)
    a.save(tmp_path / "live.npz")
    loaded = Motion.load(tmp_path / "live.npz")
    assert loaded.num_frames == a.num_frames and np.array_equal(loaded.terrain.heights, flat.heights)


def test_a_command_keeps_the_margin_and_regenerates_the_rest(shipped, flat):
    plain = LiveController(shipped, flat, seed=0)
    plain.command(direction=0.0, speed=1.2)
    for _ in range(40):
        plain.next_frame()
    live = LiveController(shipped, flat, seed=0)
    live.command(direction=0.0, speed=1.2)
    for _ in range(3):
        live.next_frame()
    command = live.command(direction=math.radians(90.0))
    assert live.command(direction=math.radians(90.0)) is None  # no change
    assert live.effect_frame(command) is None and live.buffered == live.settings.commit_frames - 3
    for _ in range(37):
        live.next_frame()
    first = 3 + live.settings.margin_frames
    assert live.effect_frame(command) == first
    motion = live.motion()
    assert motion.num_frames == live.frame_index == 40
    assert np.array_equal(motion.root_pos[:first], plain.motion().root_pos[:first])
    assert headings(motion)[-1] - headings(plain.motion())[-1] > 30.0
    assert [r.frame for r in live.command_log] == [0, 0, 3]
    live.reset()
    assert live.frame_index == 0 and live.buffered == 0 and len(live.command_log) == 1
    assert np.allclose(live.next_frame().root_pos[:2], flat.start, atol=0.05)


def test_many_characters_step_together(shipped, flat):
    lives = [LiveController(shipped, flat, seed=s, heading=s) for s in range(3)]
    for live in lives:
        live.command(speed=1.2)
    for _ in range(45):
        frames = next_frames(lives)
    assert [live.frame_index for live in lives] == [45] * 3 and len(frames) == 3
    moved = [np.linalg.norm(live.motion().root_pos[-1, :2]) for live in lives]
    assert min(moved) > 0.5


def test_the_stream_hands_out_frames_and_times_commands(shipped, flat):
    live = LiveController(shipped, flat, seed=0)
    with LiveStream(live, lead=0.2) as stream:
        stream.command(direction=0.0, speed=1.2)
        frames = [stream.next_frame() for _ in range(20)]
        stream.command(direction=math.pi / 2)
        frames += [stream.next_frame() for _ in range(20)]
    assert len(frames) == 40 and all(f.root_pos.shape == (3,) for f in frames)
    assert len(stream.latencies) == 2 and stream.error is None
    assert live.motion().num_frames == 40


def test_a_command_that_comes_during_a_step_lets_the_step_commit(shipped, flat):
    live = LiveController(shipped, flat, seed=0)
    live.command(direction=0.0, speed=1.2)
    commit, commits = live.commit, []

    def command_mid_step(frames, diagnostics):  # the stick moves while the network runs, at every step
        commits.append(live.command(direction=live.direction + 0.01))
        assert len(commits) < 40, "steps keep being dropped: the stream stalls"
        return commit(frames, diagnostics)

    live.commit = command_mid_step
    for _ in range(60):
        live.next_frame()
    assert live.frame_index == 60 and len(live.segments) == len(commits)
    assert live.effect_frame(commits[-2]) is not None  # taken up by a later step


@pytest.mark.slow
def test_a_stick_sent_every_tick_or_faster_from_a_thread_is_followed_in_real_time(shipped):
    config = LiveConfig()
    for hz, threaded in ((60.0, False), (200.0, True)):
        s = stick_session(shipped, config, 6.0, hz, threaded)
        assert s["frames"] == 180 and s["wall_s"] < 7.5  # real time: no stall
        assert s["commands_sent"] >= 0.9 * 6.0 * hz and s["steps"] < s["commands_sent"] / 4  # coalesced
        assert s["underruns"] <= 3
        assert s["heading_error_median_deg"] < 25.0 and s["final_error_deg"] < STICK_FINAL_FLOOR


def test_reactions_are_measured_from_the_command_log(shipped, flat):
    live = LiveController(shipped, flat, seed=1)
    motion = run_script(live, WALK + [TimedCommand(2.0, speed=0.0)], tail=2.0)
    kinds = [r.kind for r in measure(motion, live.command_log)]
    assert kinds == ["speed", "stop from walk"]
    table = format_table(measure(motion, live.command_log))
    assert "stop from walk" in table and "1.20" in table  # each figure beside its floor


def test_bad_commands_and_settings_are_refused(shipped, flat):
    live = LiveController(shipped, flat)
    with pytest.raises(ValueError, match=r"speed must be in \[0, 4.0\]"):
        live.command(speed=5.0)
    with pytest.raises(ValueError, match="direction must be finite"):
        live.command(direction=float("nan"))
    with pytest.raises(ValueError, match="margin_frames"):
        LiveConfig.from_dict({"margin_frames": -1})
    with pytest.raises(ValueError, match="commit_frames"):
        LiveController(shipped, flat, config=replace(LiveConfig(), commit_frames=5))
    with pytest.raises(ValueError, match="start must be"):
        LiveController(shipped, flat, start=(100.0, 0.0))
    assert LiveConfig.from_dict({"controller": {"ddim_steps": 2}}).controller.guidance == {"target": 2.0}


@pytest.mark.slow
def test_bench_reaction_prints_each_figure_beside_its_floor_and_writes_json(tmp_path, capsys):
    out = tmp_path / "reaction.json"
    assert main(["bench-reaction", "--quick", "--live", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "turn 90" in text and "0.80" in text and "underruns" in text
    result = json.loads(out.read_text())
    assert {r["label"] for r in result["reactions"]} >= {"turn 90", "turn 180", "stop from walk", "stop from run"}
    assert result["live"]["frames"] == 60
    assert main(["bench-reaction", "--live", "-1", "--out", str(out)]) == 2
