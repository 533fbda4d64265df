"""Argument types and option groups shared by several commands."""

import argparse
import math

FPS_RANGE = (1.0, 240.0)  # frames per second of a video or a clip
MAX_WORKERS = 1024  # worker processes of render, dataset and batch
SEED_HELP = "seed of the terrain (default: the terrain file's `seed:`, else 0)"


def number_in(kind, low, high):
    """An argparse type: `kind` (int or float) parsed from the text and refused outside [low, high]."""
    name = "an integer" if kind is int else "a number"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}: give {name} in {low:g}..{high:g}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {name} in {low:g}..{high:g}")
        return value

    return parse


FPS = number_in(float, *FPS_RANGE)
WORKERS = number_in(int, 1, MAX_WORKERS)
MAX_CHARACTERS = 64  # characters of a crowd (simulate, play): one network call per step for all
CHARACTERS = number_in(int, 1, MAX_CHARACTERS)


def add_controller_arguments(parser, seed_help):
    """The terrain, model and controller options shared by `generate` and `simulate` (see controller_config)."""
    parser.add_argument("--terrain", default="course", help="generator name or terrain YAML (default: course)")
    parser.add_argument("params", nargs="*", help="generator parameters as key=value")
    parser.add_argument("--seed", type=int, help=seed_help)
    parser.add_argument("--model", default="default", help="shipped model name or checkpoint path")
    parser.add_argument("--config", help="controller YAML (default: configs/controller/default.yaml values)")
    parser.add_argument("--speed", type=float, help="desired speed, m/s (walk 0.6-1.5, run 2.5-3.8)")
    parser.add_argument("--time-limit", type=float, help="seconds of motion the controller generates at most")


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
