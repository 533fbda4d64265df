"""`terrain-mdm view`: play a motion file in the PyBullet GUI."""

PARSER = {"help": "play a motion file in the PyBullet GUI (space, n/p, +/-, r)"}


def add_arguments(parser):
    parser.add_argument("file", help="motion file (.npz)")


def run(args):
    from sim.bullet.viewer import view

    return view(args.file)
