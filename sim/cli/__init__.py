"""The `terrain-mdm` command: the table of subcommands (sim/cli/commands/) and the one error path.

Bad input anywhere below raises ValueError, or OSError for a file; `main` prints it as one line,
`error: <message>`, on stderr and returns exit status 2 (`--debug` shows the traceback instead); so does
an ImportError (an optional dependency such as ray that is not installed).
"""

import argparse
import importlib
import sys

# Each is a module of sim/cli/commands/ (dashes as underscores) with PARSER, add_arguments(parser) and run(args).
COMMANDS = (
    "terrain",
    "clip",
    "synth",
    "dataset",
    "train",
    "eval",
    "preview",
    "generate",
    "demo",
    "simulate",
    "play",
    "view",
    "render",
    "export",
    "batch",
    "report",
    "compare",
    "bench-speed",
    "bench-tracking",
    "bench-reaction",
)
DEBUG_HELP = "show the traceback of an error instead of one line"
MAX_MESSAGE = 1000  # characters of an error line: messages show values cut short, this is the last guard


class UsageError(ValueError):
    """A command line argparse refuses: reported like any other bad input."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose refusals are UsageErrors (one line, exit 2), not a usage block and exit."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser():
    parser = Parser(
        prog="terrain-mdm", description="Terrain-aware motion diffusion for the PyBullet DeepMimic humanoid."
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = _module(name)
        command = sub.add_parser(name, **module.PARSER)
        module.add_arguments(command)
        if command.add_help:  # not `train`, whose arguments go to motion_model/learner/train.py as they are
            command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def _module(command):
    return importlib.import_module(f"sim.cli.commands.{command.replace('-', '_')}")


def _one_line(error):
    """The message of `error` on one line; an OSError as `file: reason`, without its errno."""
    from configs.typed import cut  # here, not at the top: `terrain-mdm --help` imports no YAML

    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        text = f"{cut(str(error.filename), MAX_MESSAGE // 4)}: {error.strerror}"  # a name too long for the OS
    else:
        text = str(error) or type(error).__name__
    return cut(" ".join(text[: 2 * MAX_MESSAGE].split()), MAX_MESSAGE)


def main(argv=None):
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return _module(args.command).run(args) or 0
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, ImportError) as error:
        if debug:
            raise
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
