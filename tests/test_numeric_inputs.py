"""Numbers given on the command line and in files, checked up front for type, finiteness and range.

Every numeric option of every subcommand (found by walking the parser, so a new option is covered too) refuses
NaN, infinities, a 401-digit number, text, a fraction where a count is expected and the values just beyond its
range with exit status 2 and one `error:` line naming the option, before any work; the bounds themselves are
taken. Numbers in files (configs, terrain files and parameters, commands files) are refused the same way, before
a model is loaded: the model given is a file that does not exist, so an error naming it would show that the
check came too late.
"""

import argparse
import math

import pytest
from cli_run import assert_one_line_error, run_cli

from controller.config import ControllerConfig
from sim.benchmarks.bench_speed import MAX_MATMUL
from sim.bullet.render import MAX_SIZE, MIN_SIZE
from sim.cli import build_parser, main
from sim.cli.commands.arguments import HEIGHT, SPEED_RANGE, TIME_LIMIT_RANGE, WIDTH
from sim.cli.commands.bench_speed import MATMUL
from terrain.numbers import MAX_SEED

HUGE = "1" * 401
NO_MODEL = "no-such-model.pt"


def subcommands():
    parser = build_parser()
    actions = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return actions.choices


def numeric_options():
    """(command, option, its argparse type) of every option with a number_in range type."""
    return [
        (name, action.option_strings[-1], action.type)
        for name, command in subcommands().items()
        for action in command._actions
        if action.option_strings and hasattr(action.type, "low")
    ]


def bad_values(kind, low, high):
    """Texts the option must refuse: not numbers, not finite, too long, and just outside [low, high]."""
    step = 1 if kind is int else max(1e-3, 1e-3 * max(abs(low), abs(high)))
    values = ["nan", "inf", "-inf", "x", "", HUGE, f"-{HUGE}", repr(low - step), repr(high + step)]
    return values + (["1.5", "1e3"] if kind is int else [])


CASES = [
    pytest.param(command, option, value, id=f"{command} {option}={value[:12]}")
    for command, option, kind in numeric_options()
    for value in bad_values(kind.kind, kind.low, kind.high)
]


def test_no_option_takes_a_bare_int_or_float():
    plain = [
        (name, action.option_strings)
        for name, command in subcommands().items()
        for action in command._actions
        if action.type in (int, float)
    ]
    assert not plain, f"options without a range: {plain}"
    found = {(command, option) for command, option, _ in numeric_options()}
    assert {("simulate", "--seconds"), ("simulate", "--balls"), ("bench-speed", "--matmul-fp32")} <= found
    assert len(found) >= 35


@pytest.mark.parametrize("command, option, value", CASES)
def test_a_bad_number_is_refused_naming_the_option(command, option, value, capsys):
    assert main([command, f"{option}={value}", "--model", NO_MODEL]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: argument {option}:"), captured.err
    assert len(lines[0]) < 250 and not captured.out


@pytest.mark.parametrize("command, option, kind", numeric_options(), ids=lambda x: getattr(x, "__name__", x))
def test_the_bounds_of_a_range_are_taken(command, option, kind):
    for bound in (kind.low, kind.high):
        assert kind(str(bound)) == bound and isinstance(kind(str(bound)), kind.kind)


def test_the_ranges_given_twice_agree():
    speed = ControllerConfig.__dataclass_fields__["speed"].metadata["range"]
    limit = ControllerConfig.__dataclass_fields__["time_limit"].metadata["range"]
    assert SPEED_RANGE == speed and TIME_LIMIT_RANGE == limit
    assert (WIDTH.low, WIDTH.high, HEIGHT.low, HEIGHT.high) == (MIN_SIZE[0], MAX_SIZE[0], MIN_SIZE[1], MAX_SIZE[1])
    assert MATMUL.high == MAX_MATMUL


@pytest.mark.parametrize(
    "args, words",
    [
        (["simulate", "--video-every", "0"], ("--video-every", "1..240")),
        (["simulate", "--seconds", "-5"], ("--seconds", "-5")),
        (["simulate", "--buffer", "0"], ("--buffer", "0.1..120")),
        (["simulate", "--balls", "100000"], ("--balls", "0..100")),
        (["bench-speed", "--batches", "1", "0"], ("--batches", "0")),
        (["bench-speed", "--matmul-bf16", "1000000"], ("--matmul-bf16", "16..8192")),
        (["generate", "--seed", str(2**70), "--out", "x.npz"], ("--seed", f"0..{MAX_SEED}")),
        (["play", "--seed", str(2**32)], ("--seed",)),
        (["generate", "--speed", HUGE, "--out", "x.npz"], ("--speed", "...")),
    ],
)
def test_the_reported_examples_are_refused_naming_the_option(args, words, capsys):
    assert main([*args, "--model", NO_MODEL]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and all(word in line for word in words), line


def test_nan_seconds_ends_in_one_line_not_an_abort(tmp_path):
    # It used to pass the parser, load the model, start the generator and abort the interpreter (exit 134).
    result = run_cli("simulate", "--terrain", "flat", "--seconds", "nan", "--model", tmp_path / NO_MODEL)
    assert_one_line_error(result, "--seconds", "nan")


def test_a_refused_option_leaves_the_old_output(tmp_path, capsys):
    out = tmp_path / "walk.npz"
    out.write_bytes(b"previous")
    assert main(["clip", "walk", "--cycles", HUGE, "--out", str(out)]) == 2
    assert "--cycles" in capsys.readouterr().err and out.read_bytes() == b"previous"


@pytest.mark.parametrize(
    "args, files, words",
    [
        (["terrain", "flat", f"length={HUGE}"], {}, ("length", "digits")),
        (["terrain", "{dir}/t.yaml"], {"t.yaml": f"kind: flat\nseed: {2**40}\n"}, ("t.yaml", "seed", str(MAX_SEED))),
        (
            ["generate", "--config", "{dir}/c.yaml", "--out", "{dir}/w.npz", "--model", "{dir}/" + NO_MODEL],
            {"c.yaml": f"speed: {HUGE}\n"},
            ("c.yaml", "speed", "finite"),
        ),
        (
            ["play", "--commands", "{dir}/cmd.yaml", "--model", "{dir}/" + NO_MODEL],
            {"cmd.yaml": f"- {{t: {HUGE}, direction: 0, speed: 1}}\n"},
            ("cmd.yaml", "entry 0", "3600"),
        ),
        (
            ["play", "--commands", "{dir}/cmd.yaml", "--model", "{dir}/" + NO_MODEL],
            {"cmd.yaml": "- {t: 0, direction: 1e400, speed: 1}\n"},
            ("cmd.yaml", "direction", "finite"),
        ),
        (
            ["dataset", "--config", "{dir}/d.yaml", "--out", "{dir}/data"],
            {"d.yaml": f"episodes: 1\nseed: {2**40}\nterrains: {{flat: 1}}\ngaits: {{walk: 1}}\n"},
            ("d.yaml", "seed"),
        ),
        (
            ["train", "--config", "{dir}/train.yaml", "--data", "{dir}/data", "--out", "{dir}/run"],
            {"train.yaml": "model: {d_model: 16384, n_layers: 1000, d_ff: 65536}\n"},
            ("train.yaml", "parameters"),
        ),
        (
            ["train", "--config", "{dir}/train.yaml", "--data", "{dir}/data", "--out", "{dir}/run"],
            {"train.yaml": "window: {extent_x: [-20, 20], extent_y: [-20, 20], spacing: 0.01}\n"},
            ("train.yaml", "65536"),
        ),
    ],
)
def test_numbers_in_files_are_refused_before_the_work(tmp_path, capsys, args, files, words):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main([a.format(dir=tmp_path) for a in args]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in words), lines
    assert len(lines[0]) < 400
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)  # nothing written


def test_a_huge_integer_in_a_config_is_not_finite():
    with pytest.raises(ValueError, match=r"speed must be a finite number, got <an integer of about 400 digits>"):
        ControllerConfig.from_dict({"speed": int(HUGE)})
    assert math.isinf(float(HUGE))  # the text of it, as a float, is refused by the same finiteness check
