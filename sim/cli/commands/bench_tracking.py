"""`terrain-mdm bench-tracking`: how closely the model and the engine follow fixed routes
(sim/benchmarks/bench_tracking.py)."""

from sim.cli.commands.arguments import SEED

PARSER = {
    "help": "how closely model and engine follow fixed routes (corners, U-turn, zigzag, turning round, a stop) on "
    "flat ground, slopes and stairs, walking and running",
    "description": "Run the fixed routes of sim/benchmarks/bench_tracking.py with the model (the path controller) "
    "and the synthesis engine; print per run the distance of the root from the route, the time taken, the "
    "final distance to the goal, the speed over the last second and the quality metrics, and write "
    "tracking.json, tracking.md and tracking.png (the paths taken) to --out.",
}


def add_arguments(parser):
    parser.add_argument("--model", default="default", help="shipped model name or checkpoint path")
    parser.add_argument("--config", help="controller YAML (default: configs/controller/default.yaml values)")
    parser.add_argument("--methods", nargs="+", choices=("model", "engine"), default=["model", "engine"])
    parser.add_argument(
        "--routes", nargs="+", metavar="NAME", help="corner90 corner135 uturn zigzag behind stop (default: all)"
    )
    parser.add_argument("--terrains", nargs="+", metavar="KIND", help="flat slope stairs (default: all)")
    parser.add_argument("--gaits", nargs="+", metavar="GAIT", help="walk (1.2 m/s) run (3 m/s) (default: both)")
    parser.add_argument("--seed", type=SEED, default=0, help="sampling seed of the model and the engine")
    parser.add_argument("--quick", action="store_true", help="one route (corner90), flat, walking: for tests")
    parser.add_argument("--out", default="runs/bench_tracking", help="output folder (default runs/bench_tracking)")


def run(args):
    from pathlib import Path

    from sim.benchmarks.bench_tracking import Selection, benchmark
    from sim.cli.commands.arguments import controller_file

    selection = Selection.of(args.routes, args.terrains, args.gaits, quick=args.quick)
    print(benchmark(args.model, controller_file(args.config), args.methods, selection, args.seed, args.out))
    print(f"written to {Path(args.out) / 'tracking.md'}, tracking.json and tracking.png")
