"""The `terrain-mdm` command: one subcommand per job, each with its own --help.

Heavy imports (torch, pybullet, matplotlib) happen inside the handlers so that `--help` stays instant.
"""
import argparse
import sys
from pathlib import Path


def _parse_overrides(items):
    """`key=value` pairs from the command line, values parsed as YAML scalars (numbers, booleans, strings)."""
    import yaml

    params = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"error: expected key=value, got {item!r} (for example: step_height=0.2)")
        key, value = item.split("=", 1)
        params[key] = yaml.safe_load(value)
    return params


def _terrain_from_args(kind, overrides, seed):
    """A terrain by generator name with overrides, or from a YAML file naming `kind` and its parameters."""
    import yaml
    from terrain.generators import make_terrain

    if kind.endswith((".yaml", ".yml")):
        path = Path(kind)
        if not path.is_file():
            raise SystemExit(f"error: terrain file {kind} does not exist")
        spec = yaml.safe_load(path.read_text()) or {}
        if "kind" not in spec:
            raise SystemExit(f"error: terrain file {kind} has no 'kind' key (for example: kind: stairs)")
        params = {k: v for k, v in spec.items() if k not in ("kind", "seed")}
        params.update(overrides)
        return make_terrain(spec["kind"], seed=spec.get("seed", seed) if seed is None else seed, **params)
    return make_terrain(kind, seed=0 if seed is None else seed, **overrides)


def cmd_terrain(args):
    import numpy as np
    from terrain.planning import plan_path
    from terrain.plot import plot_terrain

    try:
        terrain = _terrain_from_args(args.kind, _parse_overrides(args.params), args.seed)
    except ValueError as error:
        raise SystemExit(f"error: {error}")
    path = plan_path(terrain)
    if args.out:
        terrain.save(args.out)
        print(f"terrain written to {args.out}")
    if args.png:
        plot_terrain(terrain, path=path, out_png=args.png, title=f"{args.kind} seed {args.seed}")
        print(f"picture written to {args.png}")
    length = float(np.linalg.norm(np.diff(path, axis=0), axis=-1).sum())
    print(f"{args.kind}: {terrain.heights.shape[0]} x {terrain.heights.shape[1]} cells of {terrain.cell} m, "
          f"heights {terrain.heights.min():.2f}..{terrain.heights.max():.2f} m, path {length:.1f} m")


def cmd_clip(args):
    from motion_model.clips import clip_motion
    from terrain.generators import make_terrain

    try:
        motion = clip_motion(args.name, cycles=args.cycles, fps=args.fps)
    except ValueError as error:
        raise SystemExit(f"error: {error}")
    end = motion.root_pos[-1, :2]
    terrain = make_terrain("flat", seed=0, length=max(8.0, float(abs(end[0])) + 4.0))
    shift = terrain.start - motion.root_pos[0, :2]
    motion.root_pos[:, :2] += shift
    motion.save(args.out, terrain=terrain)
    print(f"{args.name} x{args.cycles}: {motion.num_frames} frames at {motion.fps:g} fps written to {args.out}")


def cmd_synth(args):
    from motion_model.synthesis import synthesize
    from terrain.planning import plan_path

    try:
        terrain = _terrain_from_args(args.terrain, _parse_overrides(args.params), args.seed)
        motion = synthesize(terrain, plan_path(terrain), gait=args.gait, seed=args.seed, speed=args.speed)
    except ValueError as error:
        raise SystemExit(f"error: {error}")
    motion.save(args.out)
    print(f"{motion.duration:.1f} s of {args.gait} over {args.terrain} written to {args.out}")


def cmd_dataset(args):
    from motion_model.episodes import build_dataset, load_config

    try:
        config = load_config(args.config)
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: {error}")
    if args.episodes is not None:
        config["episodes"] = args.episodes
    built, seconds = build_dataset(config, args.out, workers=args.workers)
    print(f"{built} new episodes ({seconds / 3600:.2f} h of motion) in {args.out}")


def cmd_eval(args):
    from sim.metrics import main_eval

    return main_eval(args.files, as_json=args.json, flat_ground=args.flat_ground)


def cmd_preview(args):
    from motion_model.motion import Motion
    from sim.preview import frame_strip, preview_video

    motion = Motion.load(args.file)
    if args.out.endswith(".png"):
        frame_strip(motion, args.out, columns=args.columns)
    else:
        preview_video(motion, args.out, fps=args.fps)
    print(f"preview written to {args.out}")


def cmd_train(args):
    from motion_model.train import main as train_main

    return train_main(args.args)


def _controller_config(args):
    from controller.path_controller import ControllerConfig

    config = ControllerConfig.load(args.config) if args.config else ControllerConfig()
    overrides = {k: v for k, v in (("speed", args.speed), ("time_limit", args.time_limit)) if v is not None}
    return ControllerConfig.from_dict({**config.to_dict(), **overrides})


def cmd_generate(args):
    import math
    import time

    from controller.path_controller import PathController
    from controller.waypoints import parse_waypoints
    from motion_model.checkpoint import load_model
    from sim.metrics import evaluate, format_table

    try:
        terrain = _terrain_from_args(args.terrain, _parse_overrides(args.params), args.seed)
        config = _controller_config(args)
        model = load_model(args.model)
        path = parse_waypoints(args.waypoints) if args.waypoints is not None else None
        controller = PathController(model, terrain, config=config, seed=args.seed, path=path,
                                    goal=None if path is None else path[-1],
                                    heading=None if args.heading is None else math.radians(args.heading))
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}")
    start = time.perf_counter()
    result = controller.run(progress=True)
    wall = time.perf_counter() - start
    result.motion.save(args.out)
    fallbacks = sum(s["fallback"] for s in result.segments)
    print(f"{result.motion.duration:.1f} s of motion in {wall:.1f} s ({result.motion.duration / wall:.1f}x real "
          f"time, network and collision checks {result.realtime_factor:.1f}x); stopped: {result.status}; "
          f"{len(result.segments)} segments, {fallbacks} without a candidate passing the collision check")
    print(format_table([{**evaluate(result.motion), "file": args.out}]))
    print(f"motion written to {args.out}")
    if args.video:
        from sim.render import render

        render(result.motion, args.video, width=args.width, height=args.height)
        print(f"video written to {args.video}")


def cmd_demo(args):
    """The README's main job: the shipped model walks a mixed course; a motion file, a video and a map."""
    from terrain.plot import plot_terrain

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    motion_file, video, picture = out / "demo.npz", out / "demo.mp4", out / "demo_terrain.png"
    generate = build_parser().parse_args(["generate", "--terrain", "course", "--seed", str(args.seed),
                                          "--model", args.model, "--out", str(motion_file), "--video", str(video)])
    cmd_generate(generate)
    from motion_model.motion import Motion

    motion = Motion.load(motion_file)
    plot_terrain(motion.terrain, path=motion.path, out_png=picture, title="demo course and planned path")
    print(f"\ndone. motion file: {motion_file}\n      video:       {video}\n      terrain map: {picture}\n"
          f"watch it in the PyBullet GUI with: .venv/bin/terrain-mdm view {motion_file}")


def cmd_simulate(args):
    import numpy as np

    from sim.loop import simulate
    from sim.viewer import check_display

    try:
        terrain = _terrain_from_args(args.terrain, _parse_overrides(args.params), args.seed)
        config = _controller_config(args)
        if args.gui:
            check_display()
        stats = simulate(args.model, terrain, seed=args.seed, config=config, balls=args.balls, seconds=args.seconds,
                         buffer_seconds=args.buffer, gui=args.gui, video=args.video, video_every=args.video_every,
                         video_size=(args.width, args.height))
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        raise SystemExit(f"error: {error}")
    print(stats.summary())
    print(f"controller: {stats.generated_seconds:.1f} s of motion generated (up to --buffer ahead of the "
          f"simulation), {'stopped: ' + stats.controller_status if stats.controller_status else 'still going'}")
    for i, (x, y, z) in enumerate(stats.ball_positions):
        print(f"ball {i}: " + ("not dropped" if np.isnan(x) else f"at ({x:.2f}, {y:.2f}, {z:.2f}) m"))
    if args.video:
        print(f"video ({stats.video_frames} frames) written to {args.video}")


def cmd_view(args):
    from sim.viewer import view

    return view(args.file)


def cmd_render(args):
    from sim.render import main_render

    return main_render(args.file, args.out, width=args.width, height=args.height, fps=args.fps,
                       workers=args.workers, distance=args.distance, yaw=args.yaw, pitch=args.pitch,
                       follow=not args.static)


def cmd_export(args):
    from sim.export import main_export

    return main_export(args.file, args.format, args.out)


def cmd_batch(args):
    from sim.batch import run_suite
    from sim.report import write_report
    from sim.suite import load_suite, parse_shard

    if args.address and args.backend != "ray":
        raise SystemExit("error: --address is the address of a Ray cluster: add --backend ray")
    if args.workers is not None and args.workers < 1:
        raise SystemExit(f"error: --workers must be at least 1, got {args.workers}")
    try:
        suite = load_suite(args.suite, method=args.method)
        shard = parse_shard(args.shard) if args.shard else None
        counts = run_suite(suite, args.out, workers=args.workers, shard=shard, backend=args.backend,
                           address=args.address)
    except (ValueError, ImportError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}")
    scope = f" of shard {args.shard}" if shard else ""
    print(f"{counts['written']} episodes written ({counts['errors']} with an error), {counts['done_before']} "
          f"already done, of {counts['episodes']}{scope}, in {args.out}")
    if shard:
        print("when every shard is done, copy their folders into one (episodes/ and run.yaml) and run: "
              "terrain-mdm report FOLDER")
        return
    print(f"report written to {write_report(args.out)}")


def cmd_report(args):
    from sim.report import write_report

    try:
        print(f"report written to {write_report(args.run)}")
    except ValueError as error:
        raise SystemExit(f"error: {error}")


def cmd_compare(args):
    from sim.report import compare_runs

    try:
        print(f"comparison written to {compare_runs(args.a, args.b, args.out)}")
    except ValueError as error:
        raise SystemExit(f"error: {error}")


def cmd_bench_speed(args):
    from controller.path_controller import ControllerConfig
    from sim.bench_speed import format_report, run, write_json

    try:
        config = ControllerConfig.load(args.config) if args.config else ControllerConfig()
        report = run(args.model, config, batches=args.batches, steps=args.steps, warmup=args.warmup,
                     sizes=(("fp32", args.matmul_fp32), ("bf16", args.matmul_bf16)), threads=args.threads)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}")
    print(format_report(report))
    print(f"written to {write_json(report, args.out)}")


def _add_controller_arguments(p, seed_help):
    """The terrain, model and controller options shared by `generate` and `simulate` (_controller_config)."""
    p.add_argument("--terrain", default="course", help="generator name or terrain YAML (default: course)")
    p.add_argument("params", nargs="*", help="generator parameters as key=value")
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--model", default="default", help="shipped model name or checkpoint path")
    p.add_argument("--config", help="controller YAML (default: configs/controller/default.yaml values)")
    p.add_argument("--speed", type=float, help="desired speed, m/s (walk 0.6-1.5, run 2.5-3.8)")
    p.add_argument("--time-limit", type=float, help="seconds of motion the controller generates at most")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="terrain-mdm",
        description="Terrain-aware motion diffusion for the PyBullet DeepMimic humanoid.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("terrain", help="generate a procedural terrain, plan its path, save it and a picture")
    p.add_argument("kind", help="flat, slope, stairs, steps, rough, course, or a terrain YAML file")
    p.add_argument("params", nargs="*", help="generator parameters as key=value")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="terrain file (.npz)")
    p.add_argument("--png", help="top-down picture with the planned path (.png)")
    p.set_defaults(func=cmd_terrain)

    p = sub.add_parser("clip", help="write a shipped mocap clip, looped, as a motion file on flat terrain")
    p.add_argument("name", help="clip name, e.g. walk, run, walker/turn_left0")
    p.add_argument("--cycles", type=int, default=1)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--out", required=True, help="motion file (.npz)")
    p.set_defaults(func=cmd_clip)

    p = sub.add_parser("synth", help="synthesise one terrain-fitted locomotion episode (training data)")
    p.add_argument("--terrain", required=True, help="generator name or terrain YAML")
    p.add_argument("params", nargs="*", help="generator parameters as key=value")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gait", choices=("walk", "run", "mixed"), default="walk")
    p.add_argument("--speed", type=float, help="constant speed in m/s instead of the seeded profile")
    p.add_argument("--out", required=True, help="motion file (.npz) with terrain, path and goal")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("dataset", help="build the training dataset (parallel, resumable)")
    p.add_argument("--config", default="configs/data/default.yaml")
    p.add_argument("--out", required=True, help="dataset directory")
    p.add_argument("--episodes", type=int, help="override the number of episodes")
    p.add_argument("--workers", type=int, help="worker processes (default: the cores, at most 2)")
    p.set_defaults(func=cmd_dataset)

    # The training options live with the training code (motion_model/train.py), which imports torch: they are
    # forwarded as they are so that `terrain-mdm --help` stays instant.
    p = sub.add_parser("train", help="train the motion diffusion model (resumable); see train --help",
                       add_help=False, prefix_chars="\0")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="plausibility metrics of motion files against their terrain")
    p.add_argument("files", nargs="+", help="motion files (.npz)")
    p.add_argument("--json", action="store_true", help="one JSON object per file instead of a table")
    p.add_argument("--flat-ground", action="store_true", help="measure against z = 0 when a file has no terrain")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("preview", help="matplotlib preview of a motion file: frame strip (.png) or video")
    p.add_argument("file", help="motion file (.npz)")
    p.add_argument("--out", required=True, help=".png (frame strip), .gif or .mp4")
    p.add_argument("--columns", type=int, default=6, help="panels per row of a frame strip")
    p.add_argument("--fps", type=float, help="video frame rate (default: the motion's)")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("generate", help="walk a character along a planned path over terrain with the model")
    _add_controller_arguments(p, seed_help="seed of the terrain and of the sampling noise")
    p.add_argument("--out", required=True, help="motion file (.npz) with terrain, path and goal")
    p.add_argument("--waypoints", help='walk this route instead of the planned one: world points "x,y x,y ..." in m '
                                       "(the first is the start, the last the goal), joined by straight legs")
    p.add_argument("--heading", type=float, help="facing at the start, degrees of world yaw (default: along the path)")
    p.add_argument("--video", help="also render a video (.mp4 or .gif)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("demo", help="the main job: the shipped model walks a mixed course (file, video, map)")
    p.add_argument("--out", default="out", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="default")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("simulate", help="stream the controller into a running PyBullet world with balls, in real "
                                        "time")
    _add_controller_arguments(p, seed_help="seed of the terrain, the sampling noise and the balls")
    p.add_argument("--balls", type=int, default=3, help="balls dropped along the path ahead of the character")
    p.add_argument("--seconds", type=float, help="stop after this much simulated time (default: when the "
                                                  "controller stops)")
    p.add_argument("--buffer", type=float, default=4.0, help="seconds of motion generated ahead (default 4)")
    p.add_argument("--gui", action="store_true", help="show a PyBullet window (default: headless)")
    p.add_argument("--video", help="also record a video (.mp4 or .gif) with TinyRenderer")
    p.add_argument("--video-every", type=int, default=4, help="record every n-th pose (default 4: 7.5 fps)")
    p.add_argument("--width", type=int, default=480, help="video width, pixels")
    p.add_argument("--height", type=int, default=360, help="video height, pixels")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("view", help="play a motion file in the PyBullet GUI (space, n/p, +/-, r)")
    p.add_argument("file", help="motion file (.npz)")
    p.set_defaults(func=cmd_view)

    p = sub.add_parser("render", help="render a motion file headless (TinyRenderer) to .mp4 or .gif")
    p.add_argument("file", help="motion file (.npz)")
    p.add_argument("--out", required=True, help="video file (.mp4 or .gif)")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=float, help="video frame rate, at most the motion's (frames are skipped)")
    p.add_argument("--workers", type=int, help="render processes (default 2)")
    p.add_argument("--distance", type=float, help="camera distance, m")
    p.add_argument("--yaw", type=float, help="camera yaw, degrees")
    p.add_argument("--pitch", type=float, help="camera pitch, degrees")
    p.add_argument("--static", action="store_true", help="fixed camera instead of following the character")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("export", help="export a motion file as BVH or DeepMimic .txt")
    p.add_argument("file", help="motion file (.npz)")
    p.add_argument("--format", required=True, choices=("bvh", "deepmimic"))
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "batch", help="run a benchmark suite headless: every episode generated, evaluated, saved (resumable)",
        description="Run every episode of a suite (configs/bench/suite.yaml shows the format) and save, per "
                    "episode, episodes/<id>.npz and episodes/<id>.json in --out; then summary.csv, report.md and "
                    "plots. Rerunning the same command after an interruption (even kill -9) finishes what is "
                    "missing; results do not depend on --workers, --shard or --backend.")
    p.add_argument("--suite", required=True, help="suite YAML, e.g. configs/bench/suite.yaml")
    p.add_argument("--out", required=True, help="run folder, e.g. runs/NAME")
    p.add_argument("--workers", type=int, help="worker processes, one torch thread each (default: the cores)")
    p.add_argument("--method", choices=("model", "engine", "blind"),
                   help="override the suite's method: the model, the synthesis engine, or the model terrain-blind")
    p.add_argument("--shard", metavar="I/N", help="run only the episode groups with index %% N == I (0-based, e.g. "
                                                  "0/4 .. 3/4); merge shards by copying their folders together")
    p.add_argument("--backend", choices=("processes", "ray"), default="processes",
                   help="processes (default) or ray: one Ray task per group (pip install 'terrain-mdm[ray]')")
    p.add_argument("--address", help="Ray cluster address (e.g. auto or ray://head:10001; default: a local Ray)")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("report", help="summary.csv, report.md and plots of a run folder (e.g. merged shards)")
    p.add_argument("run", help="run folder written by batch")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="two runs side by side on their common episodes: table and plots")
    p.add_argument("a", help="run folder, e.g. runs/model")
    p.add_argument("b", help="run folder, e.g. runs/engine")
    p.add_argument("--out", help="output folder (default: compare-A-B beside A)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "bench-speed", help="controller speed: ms per denoising step, segment and second of motion; matmul peaks",
        description="Time controller steps (collision checks included) of characters on seeded courses at each "
                    "batch size, the network's denoising passes and FLOP/s, and the fp32 and bf16 matmul peaks of "
                    "this machine measured in the same run. Prints a table and writes JSON.")
    p.add_argument("--model", default="default", help="shipped model name or checkpoint path")
    p.add_argument("--config", help="controller YAML (default: configs/controller/default.yaml values)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32], help="characters per batch (default 1 32)")
    p.add_argument("--steps", type=int, default=6, help="timed controller steps per batch size (default 6)")
    p.add_argument("--warmup", type=int, default=1, help="untimed controller steps first (default 1)")
    p.add_argument("--threads", type=int, help="torch threads (default: the cores)")
    p.add_argument("--matmul-fp32", type=int, default=2048, help="side of the fp32 peak matmul (default 2048)")
    p.add_argument("--matmul-bf16", type=int, default=512,
                   help="side of the bf16 peak matmul (default 512: emulated bf16 is slow on CPUs without it)")
    p.add_argument("--out", default="runs/bench_speed.json", help="JSON file (default runs/bench_speed.json)")
    p.set_defaults(func=cmd_bench_speed)

    from sim import bench_tracking
    p = sub.add_parser("bench-tracking", help="how closely model and engine follow fixed routes (corners, U-turn, "
                                              "zigzag, turning round, a stop) on flat, slope and stairs")
    bench_tracking.add_arguments(p)
    p.set_defaults(func=bench_tracking.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
