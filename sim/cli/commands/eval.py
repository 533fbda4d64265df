"""`terrain-mdm eval`: plausibility metrics of motion files against their terrain."""

PARSER = {"help": "plausibility metrics of motion files against their terrain"}


def add_arguments(parser):
    parser.add_argument("files", nargs="+", help="motion files (.npz)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file instead of a table")
    parser.add_argument("--flat-ground", action="store_true", help="measure against z = 0 when a file has no terrain")
    parser.add_argument(
        "--dynamics",
        action="store_true",
        help="add the dynamic metrics: unsupported force and moment, flights against g, no-foot walking, ZMP",
    )


def run(args):
    from sim.evaluation.metrics import main_eval

    return main_eval(args.files, as_json=args.json, flat_ground=args.flat_ground, dynamics=args.dynamics)
