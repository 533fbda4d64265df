"""`terrain-mdm compare`: two runs side by side on the episodes both have."""

PARSER = {"help": "two runs side by side on their common episodes: table and plots"}


def add_arguments(parser):
    parser.add_argument("a", help="run folder, e.g. runs/model")
    parser.add_argument("b", help="run folder, e.g. runs/engine")
    parser.add_argument("--out", help="output folder (default: compare-A-B beside A)")


def run(args):
    from sim.evaluation.compare import compare_runs

    print(f"comparison written to {compare_runs(args.a, args.b, args.out)}")
