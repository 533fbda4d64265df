"""Inputs whose size must be bounded before use, and the messages that report bad input.

A YAML file is read only up to configs.MAX_BYTES and refused beyond configs.MAX_NODES nodes with its aliases
expanded, before a Python object is built; a value shown in a message is cut to configs.typed.SHOWN characters.
Through the command line, stderr holds exactly the one `error:` line (tests/cli_run.py), exit status 2.
"""

import os
import resource
import time

import numpy as np
import pytest
from cli_run import assert_one_line_error, run_cli

import configs
from configs.typed import SHOWN, shown
from controller.path_controller import ControllerConfig
from motion_model.learner import checkpoint
from motion_model.learner.dataset import load_stats
from motion_model.learner.features import NUM_FEATURES
from terrain.generators import make_terrain

NO_MODEL = "no-such-model.pt"
MEMORY = 2 * 2**30  # address space of a child under test: torch, pybullet and a model fit, a billion laughs not


def laughs(levels=9):
    """A YAML flow sequence of nested aliases, 10 of the level below on each level: 10**levels 'lol's."""
    items = ["&a [" + ", ".join(["lol"] * 10) + "]"]
    for level in range(1, levels):
        name, below = chr(ord("a") + level), chr(ord("a") + level - 1)
        items.append(f"&{name} [" + ", ".join([f"*{below}"] * 10) + "]")
    return "[" + ", ".join(items) + "]"


def capped():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


# -- YAML bounded by size and by expanded nodes ----------------------------------------------------------


@pytest.mark.parametrize(
    "name, text, args",
    [
        ("terrain.yaml", "kind: stairs\nstep_height: {bomb}\n", ["terrain", "{file}"]),
        ("controller.yaml", "speed: {bomb}\n", ["generate", "--config", "{file}", "--model", NO_MODEL]),
        ("commands.yaml", "- {{t: 0, direction: 0, speed: {bomb}}}\n", ["play", "--commands", "{file}"]),
    ],
)
def test_a_billion_laughs_is_refused_in_one_line_under_a_memory_cap(tmp_path, name, text, args):
    """700 bytes that expand to 10**9 strings: the old code formatted the expanded value into its message."""
    file = tmp_path / name
    file.write_text(text.format(bomb=laughs()))
    assert file.stat().st_size < 800
    out = tmp_path / "out.npz"
    start = time.monotonic()
    result = run_cli(*[a.format(file=file) for a in args], "--out", out, preexec_fn=capped, timeout=120)
    assert_one_line_error(result, name, f"more than {configs.MAX_NODES} YAML nodes", "line")
    assert time.monotonic() - start < 60 and not out.exists()


def test_nodes_are_counted_with_every_use_of_an_alias():
    text = "a: &x [1, 2]\nb: [*x, *x]\n"  # mapping 1, a 1, [1, 2] 3, b 1, [*x, *x] 1 + 3 + 3
    assert configs.parse_yaml(text, "t", max_nodes=13) == {"a": [1, 2], "b": [[1, 2], [1, 2]]}
    with pytest.raises(ValueError, match="^t expands to more than 12 YAML nodes"):
        configs.parse_yaml(text, "t", max_nodes=12)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"more than {configs.MAX_NODES} YAML nodes"):
        configs.parse_yaml(laughs(), "t")
    assert time.perf_counter() - start < 0.5  # refused while composing, after some fifty nodes


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: &x [1, *x]", "holds an alias of a node inside itself"),
        (
            "[" * (configs.MAX_DEPTH + 1) + "]" * (configs.MAX_DEPTH + 1),
            f"nests deeper than {configs.MAX_DEPTH} levels",
        ),
        ("a: " + "1" * 5000, "at line 1, column 4: '1111.*' is not a valid int"),
        ("a: 2021-13-45", "'2021-13-45' is not a valid timestamp \\(month must be in 1..12\\)"),
        ("a: !!python/object:os.system x", "could not determine a constructor"),
    ],
)
def test_documents_python_cannot_build_are_refused_in_one_line(text, message):
    with pytest.raises(ValueError, match=message) as error:
        configs.parse_yaml(text, "t")
    assert "\n" not in str(error.value) and "set_int_max_str_digits" not in str(error.value)
    assert len(str(error.value)) < 250


def test_a_real_long_commands_file_is_read(tmp_path):
    """The limits leave room for real files: an hour of commands, one a second."""
    file = tmp_path / "commands.yaml"
    file.write_text("".join(f"- {{t: {t}, direction: {t % 360}, speed: 1.2}}\n" for t in range(3600)))
    assert len(configs.read_yaml(file, "commands file")) == 3600


def test_a_50_megabyte_config_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "w") as f:
        f.write("speed: 1.0\n")
        f.truncate(50 * 2**20)  # sparse: its size is what is refused, before a byte past 1 MiB is read
    start = time.perf_counter()
    with pytest.raises(ValueError, match="big.yaml is larger than 1 MiB"):
        ControllerConfig.load(big)
    assert time.perf_counter() - start < 0.5
    result = run_cli("generate", "--config", big, "--model", NO_MODEL, "--out", tmp_path / "o.npz", timeout=60)
    assert_one_line_error(result, "controller config", "big.yaml", "larger than 1 MiB", "smaller file")


def test_a_fifo_or_a_device_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "commands.yaml"
    os.mkfifo(fifo)  # no writer: opening it would wait for ever
    for path in (fifo, "/dev/zero"):
        result = run_cli("play", "--commands", path, "--model", NO_MODEL, "--out", tmp_path / "o.npz", timeout=60)
        assert_one_line_error(result, str(path), "not a regular file")


# -- values in messages are cut --------------------------------------------------------------------------


def test_shown_is_short_whatever_the_value():
    nested = ["lol"] * 10
    for _ in range(8):
        nested = [nested] * 10  # 10**9 items, shared
    for value in ("x" * 10**6, 10**5000, nested, {str(i): i for i in range(10**5)}, np.zeros(10**6)):
        assert len(shown(value)) <= SHOWN
    assert shown("short") == "'short'" and shown(1.5) == "1.5"
    assert shown(10**5000) == "<an integer of about 5000 digits>"


def test_a_long_value_or_many_keys_in_a_config_are_shown_cut(tmp_path):
    config = tmp_path / "controller.yaml"
    config.write_text(f"speed: {'x' * 100_000}\n")
    with pytest.raises(ValueError, match=r"speed must be a number, got 'x+\.\.\.x+'$") as error:
        ControllerConfig.load(config)
    assert len(str(error.value)) < 200
    config.write_text("".join(f"key{i}: 1\n" for i in range(1000)))
    with pytest.raises(ValueError, match="unknown keys key0, key1, key10, key100 and 996 more") as error:
        ControllerConfig.load(config)
    assert len(str(error.value)) < 1000


def test_long_values_on_the_command_line_are_shown_cut(tmp_path):
    long = "x" * 100_000
    cases = [
        (["terrain", "stairs", f"step_height={long}"], "step_height="),
        (["generate", "--waypoints", f"0,0 {long}", "--model", NO_MODEL, "--out", tmp_path / "o.npz"], "waypoint 2"),
        (["generate", "--keyframe", f"t=1 {long}", "--model", NO_MODEL, "--out", tmp_path / "o.npz"], "keyframe"),
    ]
    for args, word in cases:
        line = assert_one_line_error(run_cli(*args, timeout=120), word, "...")
        assert len(line) < 400, line


def test_a_suite_shows_a_long_seeds_list_cut(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("method: engine\nepisodes:\n  - {kind: flat, seeds: {start: -5, count: 90000}}\n")
    result = run_cli("batch", "--suite", suite, "--out", tmp_path / "run", timeout=120)
    line = assert_one_line_error(result, "seeds must be a list of whole numbers", "[-5, -4,")
    assert len(line) < 400 and not (tmp_path / "run").exists()


# -- one line on stderr, naming the input ----------------------------------------------------------------


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("walk")
    from motion_model.body.clips import clip_motion

    clip_motion("walk").slice(0, 10).save(folder / "walk.npz", terrain=make_terrain("flat", seed=0))
    (folder / "commands.yaml").write_text("- {t: 0, direction: 0, speed: 1.2}\n- {t: 0.5, speed: 99}\n")
    return folder


@pytest.mark.parametrize(
    "args, words",
    [
        (["render", "{walk}/walk.npz", "--out", "{out}/o.mp4", "--fps", "60"], ("fps",)),
        (["view", "{walk}/walk.npz"], ("display",)),
        (["generate", "--terrain", "{out}/nope.yaml", "--model", NO_MODEL, "--out", "{out}/o.npz"], ("nope.yaml",)),
        (["simulate", "--terrain", "{out}/nope.yaml", "--model", NO_MODEL, "--seconds", "1"], ("nope.yaml",)),
        (["play", "--commands", "{walk}/commands.yaml", "--out", "{out}/o.npz"], ("entry 1", "speed")),
    ],
)
def test_no_pybullet_banner_before_an_error(walk, tmp_path, args, words):
    """These import pybullet before they refuse; its build banner used to come first on stderr."""
    result = run_cli(*[a.format(walk=walk, out=tmp_path) for a in args], env={"DISPLAY": ""}, timeout=200)
    assert_one_line_error(result, *words)
    assert "build time" not in result.stderr


@pytest.mark.parametrize(
    "command", ["terrain stairs --out o.npz", "synth --terrain stairs --out o.npz", "generate --out o.npz", "simulate"]
)
def test_a_negative_seed_names_the_option(command, tmp_path):
    result = run_cli(*command.split(), "--seed", "-1", cwd=tmp_path, timeout=60)
    assert_one_line_error(result, "--seed", "-1")


def test_train_refuses_an_unknown_option_in_one_line():
    assert_one_line_error(run_cli("train", "--stepz", "2", timeout=60), "unrecognized arguments: --stepz 2", "--help")


def stats_files(folder):
    """Bad stats.npz files by name: (write it, a word the error names)."""
    good = {"mean": np.zeros(NUM_FEATURES), "std": np.ones(NUM_FEATURES)}
    objects = {**good, "mean": np.array([{"a": 1}] * NUM_FEATURES, dtype=object)}
    return {
        "text": (lambda path: path.write_text("e"), "not a stats file"),
        "objects": (lambda path: np.savez(path, **objects), "Python objects"),
        "short": (lambda path: np.savez(path, **{**good, "mean": np.zeros(3)}), "no 'mean' array of 63 numbers"),
        "no std": (lambda path: np.savez(path, mean=good["mean"]), "no 'std' array"),
        "nan": (lambda path: np.savez(path, **{**good, "std": np.full(NUM_FEATURES, np.nan)}), "'std' is not positive"),
    }


@pytest.mark.parametrize("name", list(stats_files(None)))
def test_a_bad_stats_file_is_named_with_how_to_rebuild_it(tmp_path, name):
    write, word = stats_files(tmp_path)[name]
    write(tmp_path / "stats.npz")
    with pytest.raises(ValueError, match=word) as error:
        load_stats(tmp_path)
    message = str(error.value)
    assert "stats.npz" in message and "delete it and train again" in message and "pickle" not in message


def test_train_names_a_bad_stats_file_without_advising_pickles(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "stats.npz", mean=np.array([None] * NUM_FEATURES, dtype=object), std=np.ones(NUM_FEATURES))
    result = run_cli("train", "--config", "configs/train/tiny.yaml", "--data", data, "--out", tmp_path / "run")
    line = assert_one_line_error(result, "stats.npz", "delete it and train again")
    assert "pickle" not in line and not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_text_file_as_model_is_named_not_a_checkpoint(tmp_path):
    """torch's own words were "101" for a file holding `e` and advice to load with weights_only=False for `{}`."""
    model = tmp_path / "model.pt"
    for content in ("hello", "{}", "e"):
        model.write_text(content)
        with pytest.raises(ValueError, match="model.pt is not a terrain-mdm model checkpoint") as error:
            checkpoint.read(model)
        assert "101" not in str(error.value) and "weights_only" not in str(error.value)
    result = run_cli("generate", "--terrain", "flat", "--model", model, "--out", tmp_path / "o.npz", timeout=120)
    line = assert_one_line_error(result, str(model), "is not a terrain-mdm model checkpoint", "terrain-mdm train")
    assert "101" not in line


def test_a_file_name_too_long_for_the_system_is_shown_cut(tmp_path):
    name = "a" * 5000 + ".npz"
    line = assert_one_line_error(run_cli("eval", name, timeout=60), "File name too long")
    assert len(line) < 400
