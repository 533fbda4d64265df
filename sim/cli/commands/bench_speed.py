"""`terrain-mdm bench-speed`: controller and network timings and this machine's matmul peaks."""

from sim.cli.commands.arguments import MAX_WORKERS, number_in

MAX_BATCH = 256  # characters per batch: 32 is the batch runner's
# Side of a peak matmul: three 8192 x 8192 fp32 matrices take 0.8 GB (a larger side soon takes all memory).
MATMUL = number_in(int, 16, 8192)

PARSER = {
    "help": "controller speed: ms per denoising step, segment and second of motion; matmul peaks",
    "description": "Time controller steps (collision checks included) of characters on seeded courses at each "
    "batch size, the network's denoising passes and FLOP/s, and the fp32 and bf16 matmul peaks of "
    "this machine measured in the same run. Prints a table and writes JSON.",
}


def add_arguments(parser):
    parser.add_argument("--model", default="default", help="shipped model name or checkpoint path")
    parser.add_argument("--config", help="controller YAML (default: configs/controller/default.yaml values)")
    parser.add_argument(
        "--batches",
        type=number_in(int, 1, MAX_BATCH),
        nargs="+",
        default=[1, 32],
        help=f"characters per batch, 1-{MAX_BATCH} (default 1 32)",
    )
    parser.add_argument(
        "--steps", type=number_in(int, 1, 10_000), default=12, help="timed controller steps per batch size (12)"
    )
    parser.add_argument(
        "--warmup", type=number_in(int, 0, 1000), default=1, help="untimed controller steps first (default 1)"
    )
    parser.add_argument("--threads", type=number_in(int, 1, MAX_WORKERS), help="torch threads (default: the cores)")
    parser.add_argument("--matmul-fp32", type=MATMUL, default=2048, help="side of the fp32 peak matmul, 16-8192 (2048)")
    parser.add_argument(
        "--matmul-bf16",
        type=MATMUL,
        default=512,
        help="side of the bf16 peak matmul (default 512: emulated bf16 is slow on CPUs without it)",
    )
    parser.add_argument("--out", default="runs/bench_speed.json", help="JSON file (default runs/bench_speed.json)")


def run(args):
    from sim.benchmarks.bench_speed import format_report, write_json
    from sim.benchmarks.bench_speed import run as run_benchmark
    from sim.cli.commands.arguments import controller_file
    from terrain.atomic import check_writable

    check_writable(args.out, "JSON file", make_folder=True)  # before the minutes of timing, not after them
    report = run_benchmark(
        args.model,
        controller_file(args.config),
        batches=args.batches,
        steps=args.steps,
        warmup=args.warmup,
        sizes=(("fp32", args.matmul_fp32), ("bf16", args.matmul_bf16)),
        threads=args.threads,
    )
    print(format_report(report))
    print(f"written to {write_json(report, args.out)}")
