"""`terrain-mdm bench-reaction`: how fast live steering reacts to commands (sim/benchmarks/bench_reaction.py)."""

from sim.cli.commands.arguments import number_in

PARSER = {
    "help": "reaction times of live steering (turns, stops, speed changes on flat ground, a slope, stairs) and a "
    "real-time session's underruns and latency",
    "description": "Play scripted commands on a live controller and print, per terrain and reaction, the seconds from "
    "each command to the motion carrying it out beside its floor; then pull a live stream at 30 fps in real time with "
    "random commands every 1-3 s and print its underruns and the latency from each command to its first affected "
    "frame; then command it with a smoothly turning stick every tick of a 60-Hz loop and at 200 Hz from a second "
    "thread, and print the underruns and how far the walk lags the stick. Writes everything as JSON to --out.",
}


STICKS = ((60.0, False), (200.0, True))  # (commands a second, from a second thread) of the stick sessions


def add_arguments(parser):
    parser.add_argument("--model", default="default", help="shipped model name or checkpoint path")
    parser.add_argument("--config", help="live controller YAML (LiveConfig; default: its built-in values)")
    parser.add_argument(
        "--seeds", type=number_in(int, 1, 100), default=3, help="sampling seeds per scripted run (default 3)"
    )
    parser.add_argument(
        "--live",
        type=number_in(float, 0.0, 3600.0),
        metavar="SECONDS",
        help="seconds of the real-time session (default 120, --quick 10; 0 skips)",
    )
    parser.add_argument(
        "--stick",
        type=number_in(float, 0.0, 3600.0),
        metavar="SECONDS",
        help="seconds of each stick session, commanded every tick at 60 Hz and at 200 Hz from a second thread "
        "(default 60, --quick 10; 0 skips)",
    )
    parser.add_argument("--quick", action="store_true", help="one seed, flat ground only, 10-s live sessions")
    parser.add_argument(
        "--out", default="runs/bench_reaction.json", help="JSON output (default runs/bench_reaction.json)"
    )


def run(args):
    import json
    from pathlib import Path

    from controller.live_config import LiveConfig
    from motion_model.learner.checkpoint import load_model
    from sim.benchmarks.bench_reaction import format_live, format_stick, live_session, scripted, stick_session, table
    from terrain.atomic import atomic_path, check_writable

    seconds = (10.0 if args.quick else 120.0) if args.live is None else args.live
    out = Path(args.out)
    if out.parent == Path("runs"):  # the default place: made when missing
        out.parent.mkdir(exist_ok=True)
    check_writable(out, "JSON file", (".json",))
    config = LiveConfig.load(args.config) if args.config else LiveConfig()
    model = load_model(args.model)
    seeds = [0] if args.quick else list(range(args.seeds))
    rows, wall_per_second = scripted(model, config, seeds, ("flat",) if args.quick else ("flat", "slope", "stairs"))
    print(table(rows))
    print(f"scripted runs: {1 / wall_per_second:.1f}x real time")
    result = {"config": config.to_dict(), "seeds": seeds, "reactions": rows, "realtime_x": 1 / wall_per_second}
    if seconds > 0:
        summary, reactions = live_session(model, config, seconds)
        print(reactions)
        print(format_live(summary))
        result["live"] = summary
    stick = (10.0 if args.quick else 60.0) if args.stick is None else args.stick
    if stick > 0:
        result["stick"] = [stick_session(model, config, stick, hz, threaded) for hz, threaded in STICKS]
        print("\n".join(format_stick(s) for s in result["stick"]))
    with atomic_path(out) as tmp:
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
    print(f"written to {out}")
