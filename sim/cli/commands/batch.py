"""`terrain-mdm batch`: a benchmark suite run headless, every episode generated, evaluated and saved."""

from sim.cli.commands.arguments import WORKERS

PARSER = {
    "help": "run a benchmark suite headless: every episode generated, evaluated, saved (resumable)",
    "description": "Run every episode of a suite (configs/bench/suite.yaml shows the format) and save, per "
    "episode, episodes/<id>.npz and episodes/<id>.json in --out; then summary.csv, report.md and "
    "plots. Rerunning the same command after an interruption (even kill -9) finishes what is "
    "missing; results do not depend on --workers, --shard or --backend.",
}


def add_arguments(parser):
    parser.add_argument("--suite", required=True, help="suite YAML, e.g. configs/bench/suite.yaml")
    parser.add_argument("--out", required=True, help="run folder, e.g. runs/NAME")
    parser.add_argument("--workers", type=WORKERS, help="worker processes, one torch thread each (default: the cores)")
    parser.add_argument(
        "--method",
        choices=("model", "engine", "blind"),
        help="override the suite's method: the model, the synthesis engine, or the model terrain-blind",
    )
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="run only the episode groups with index %% N == I (0-based, "
        "e.g. 0/4 .. 3/4); merge shards by copying their folders "
        "together",
    )
    parser.add_argument(
        "--backend",
        choices=("processes", "ray"),
        default="processes",
        help="processes (default) or ray: one Ray task per group (pip install 'terrain-mdm[ray]')",
    )
    parser.add_argument("--address", help="Ray cluster address (e.g. auto or ray://head:10001; default: a local Ray)")


def run(args):
    from sim.evaluation.batch import run_suite
    from sim.evaluation.report import write_report
    from sim.evaluation.suite import load_suite, parse_shard

    if args.address and args.backend != "ray":
        raise ValueError("--address is the address of a Ray cluster: add --backend ray")
    suite = load_suite(args.suite, method=args.method)
    shard = parse_shard(args.shard) if args.shard else None
    counts = run_suite(suite, args.out, workers=args.workers, shard=shard, backend=args.backend, address=args.address)
    scope = f" of shard {args.shard}" if shard else ""
    print(
        f"{counts['written']} episodes written ({counts['errors']} with an error), {counts['done_before']} "
        f"already done, of {counts['episodes']}{scope}, in {args.out}"
    )
    if shard:
        print(
            "when every shard is done, copy their folders into one (episodes/ and run.yaml) and run: "
            "terrain-mdm report FOLDER"
        )
        return
    print(f"report written to {write_report(args.out)}")
