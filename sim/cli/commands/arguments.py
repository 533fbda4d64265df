"""Argument types and option groups shared by several commands."""

import argparse
import math

from terrain.numbers import MAX_SEED

FPS_RANGE = (1.0, 240.0)  # frames per second of a video or a clip
MAX_WORKERS = 1024  # worker processes of render, dataset and batch
SEED_HELP = "seed of the terrain (default: the terrain file's `seed:`, else 0)"


def number_in(kind, low, high):
    """An argparse type: `kind` (int or float) parsed from the text and refused outside [low, high], NaN and
    infinities included (argparse names the option in its message)."""
    name = "an integer" if kind is int else "a number"
    span = f"{low}..{high}" if kind is int else f"{low:g}..{high:g}"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_cut(repr(text))} is not {name}: give {name} in {span}") from None
        # An int is compared as it is: math.isfinite would raise OverflowError on one beyond float's range.
        if not ((kind is int or math.isfinite(value)) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{_cut(text)} is out of range: give {name} in {span}")
        return value

    parse.kind, parse.low, parse.high = kind, low, high  # tests/test_numeric_inputs.py walks every range
    return parse


def _cut(text):
    """configs.typed.cut, imported only for a message: `terrain-mdm --help` imports no YAML."""
    from configs.typed import cut

    return cut(text)  # a 401-digit number stays a short line


FPS = number_in(float, *FPS_RANGE)
WORKERS = number_in(int, 1, MAX_WORKERS)
MAX_CHARACTERS = 64  # characters of a crowd (simulate, play): one network call per step for all
CHARACTERS = number_in(int, 1, MAX_CHARACTERS)
SEED = number_in(int, 0, MAX_SEED)
# The ranges of ControllerConfig's speed and time_limit, and of a video's pixels (sim/bullet/render.py check_size),
# here so that the option is named; tests/test_numeric_inputs.py holds them equal to those.
SPEED_RANGE = (0.3, 4.0)  # m/s
TIME_LIMIT_RANGE = (0.1, 3600.0)  # s
WIDTH = number_in(int, 16, 3840)
HEIGHT = number_in(int, 16, 2160)
DEGREES = number_in(float, -360.0, 360.0)  # a world yaw


def add_controller_arguments(parser, seed_help):
    """The terrain, model and controller options shared by `generate` and `simulate` (see controller_config)."""
    parser.add_argument("--terrain", default="course", help="generator name or terrain YAML (default: course)")
    parser.add_argument("params", nargs="*", help="generator parameters as key=value")
    parser.add_argument("--seed", type=SEED, help=seed_help)
    parser.add_argument("--model", default="default", help="shipped model name or checkpoint path")
    parser.add_argument("--config", help="controller YAML (default: configs/controller/default.yaml values)")
    parser.add_argument(
        "--speed", type=number_in(float, *SPEED_RANGE), help="desired speed, m/s (walk 0.6-1.5, run 2.5-3.8)"
    )
    parser.add_argument(
        "--time-limit",
        type=number_in(float, *TIME_LIMIT_RANGE),
        help="seconds of motion the controller generates at most (what a motion file holds: 1199 at 30 fps)",
    )


def controller_file(path):
    """The ControllerConfig of the YAML file `path`; the defaults when it is None."""
    from controller.path_controller import ControllerConfig

    return ControllerConfig.load(path) if path else ControllerConfig()


def controller_config(args):
    """The ControllerConfig of --config with --speed and --time-limit applied."""
    from controller.path_controller import ControllerConfig

    config = controller_file(args.config)
    overrides = {k: v for k, v in (("speed", args.speed), ("time_limit", args.time_limit)) if v is not None}
    return ControllerConfig.from_dict({**config.to_dict(), **overrides})
