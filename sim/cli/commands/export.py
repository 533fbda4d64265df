"""`terrain-mdm export`: a motion file as BVH or DeepMimic .txt."""

PARSER = {"help": "export a motion file as BVH or DeepMimic .txt"}


def add_arguments(parser):
    parser.add_argument("file", help="motion file (.npz)")
    parser.add_argument("--format", required=True, choices=("bvh", "deepmimic"))
    parser.add_argument("--out", required=True)


def run(args):
    from sim.formats.export import main_export

    return main_export(args.file, args.format, args.out)
