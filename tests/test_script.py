"""Timed commands: the YAML list, its refusals naming the entry, and playing it on a live controller."""

import math

import pytest

from controller.live import LiveController
from controller.script import TimedCommand, load_commands, parse_commands, run_script
from motion_model.learner.checkpoint import load_model
from terrain.generators import make_terrain


def test_a_commands_file_is_read_with_missing_keys_kept(tmp_path):
    path = tmp_path / "cmds.yaml"
    path.write_text("- {t: 0.0, direction: 0, speed: 1.2}\n- {t: 4.0, direction: 90}\n- {t: 8.0, speed: 0}\n")
    assert load_commands(path) == [
        TimedCommand(0.0, 0.0, 1.2),
        TimedCommand(4.0, math.radians(90.0), None),
        TimedCommand(8.0, None, 0.0),
    ]


@pytest.mark.parametrize(
    "entries, message",
    [
        ([{"t": 0, "direction": 0}], r"entry 0 .*first command must give both direction and speed"),
        ([{"t": 0, "direction": 0, "speed": 1}, {"t": 0, "speed": 2}], r"entry 1 .*later than the entry before"),
        ([{"t": 0, "direction": 0, "speed": 1}, {"t": 1, "sped": 2}], r"entry 1 .*unknown key 'sped'"),
        ([{"t": 0, "direction": 0, "speed": 9}], r"entry 0 .*speed must be in \[0, 4.0\]"),
        ([{"t": 0, "direction": "north", "speed": 1}], r"entry 0 .*direction must be a finite number"),
        ([{"t": 0, "direction": 0, "speed": 1}, {"t": 2}], r"entry 1 .*neither direction nor speed"),
        ([{"direction": 0, "speed": 1}], r"entry 0 .*no t"),
        ([{"t": -1, "direction": 0, "speed": 1}], r"entry 0 .*t must be >= 0"),
        (["go"], r"entry 0 .*must be a mapping"),
        ({"t": 0}, r"non-empty list"),
        ([], r"non-empty list"),
    ],
)
def test_bad_entries_are_refused_naming_the_entry(entries, message):
    with pytest.raises(ValueError, match=message):
        parse_commands(entries, "cmds.yaml")


def test_bad_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("- {t: 0.0, direction: [\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_commands(path)


def test_a_script_plays_its_commands_at_their_times_and_stops_after_the_tail():
    live = LiveController(load_model("default"), make_terrain("field", 0, size=20.0, features=0), seed=0)
    commands = parse_commands([{"t": 0.0, "direction": 0, "speed": 1.2}, {"t": 1.5, "direction": 45}])
    motion = run_script(live, commands, tail=0.5)
    assert motion.num_frames == 60 and motion.terrain is not None
    assert [(r.frame, round(math.degrees(r.direction)), r.speed) for r in live.command_log] == [
        (0, 0, 0.0),
        (0, 0, 1.2),
        (45, 45, 1.2),
    ]
    with pytest.raises(ValueError, match="tail"):
        run_script(live, commands, tail=-1.0)
