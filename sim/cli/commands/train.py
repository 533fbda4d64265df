"""`terrain-mdm train`: forwarded to motion_model/learner/train.py, which holds the training options.

That module imports torch, so its arguments are forwarded as they are: `terrain-mdm --help` stays instant.
"""

import argparse

PARSER = {
    "help": "train the motion diffusion model (resumable); see train --help",
    "add_help": False,
    "prefix_chars": "\0",
}


def add_arguments(parser):
    parser.add_argument("args", nargs=argparse.REMAINDER)


def run(args):
    from motion_model.learner.train import main
    from sim.cli import Parser

    return main(args.args, Parser)
