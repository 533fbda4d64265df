"""`terrain-mdm generate`: the controller walks the model along the planned path over a terrain, or along
waypoints drawn by hand, or through timed keyframes into an end pose."""

from sim.cli.commands.arguments import (
    DEGREES,
    HEIGHT,
    SEED_HELP,
    WIDTH,
    add_controller_arguments,
    controller_config,
)

PARSER = {"help": "walk a character along a planned path over terrain with the model"}


def add_arguments(parser):
    add_controller_arguments(parser, seed_help=SEED_HELP + "; also of the sampling noise")
    parser.add_argument("--out", required=True, help="motion file (.npz) with terrain, path and goal")
    parser.add_argument(
        "--waypoints",
        help='walk this route instead of the planned one: world points "x,y x,y ..." '
        "in m (the first the start, the last the goal), joined by straight legs",
    )
    parser.add_argument(
        "--heading", type=DEGREES, help="facing at the start, degrees of world yaw (default: along the path)"
    )
    parser.add_argument(
        "--keyframe",
        action="append",
        default=[],
        help='the root at a place at a time: "t=6 x=4.0 y=1.5 heading=90" (t s of motion, x y world m, heading '
        "degrees of world yaw, optional); repeat for several, visited in time order on the way to the goal",
    )
    parser.add_argument(
        "--end-pose",
        help="arrive at the goal in this pose: FILE.npz[:FRAME], a motion file's frame (default its last); the "
        "goal becomes its place and heading",
    )
    parser.add_argument("--video", help="also render a video (.mp4 or .gif)")
    parser.add_argument("--width", type=WIDTH, default=640, help="video width, pixels (default 640)")
    parser.add_argument("--height", type=HEIGHT, default=480, help="video height, pixels (default 480)")


def run(args):
    import math
    import time

    from controller.end_pose import load_end_pose
    from controller.keyframes import keyframe_errors, parse_keyframe
    from controller.path_controller import PathController
    from controller.waypoints import parse_waypoints
    from motion_model.learner.checkpoint import load_model
    from sim.bullet.render import VIDEO_SUFFIXES, check_size, render
    from sim.cli.commands.terrain import terrain_spec
    from sim.evaluation.metrics import evaluate, format_table
    from terrain.atomic import check_writable

    spec = terrain_spec(args.terrain, args.params, args.seed)
    keyframes = [parse_keyframe(text) for text in args.keyframe]
    end_pose = load_end_pose(args.end_pose) if args.end_pose else None
    check_writable(args.out, "motion file")
    if args.video:
        check_writable(args.video, "video file", VIDEO_SUFFIXES)
        check_size(args.width, args.height)
    terrain = spec.make()
    config = controller_config(args)
    path = parse_waypoints(args.waypoints) if args.waypoints is not None else None
    controller = PathController(
        load_model(args.model),
        terrain,
        config=config,
        seed=spec.seed,
        path=path,
        goal=None if path is None else path[-1],
        heading=None if args.heading is None else math.radians(args.heading),
        keyframes=keyframes,
        end_pose=end_pose,
    )
    start = time.perf_counter()
    result = controller.run(progress=True)
    wall = time.perf_counter() - start
    result.motion.save(args.out)
    fallbacks = sum(s["fallback"] for s in result.segments)
    print(
        f"{result.motion.duration:.1f} s of motion in {wall:.1f} s ({result.motion.duration / wall:.1f}x real "
        f"time, network and collision checks {result.realtime_factor:.1f}x); stopped: {result.status}; "
        f"{len(result.segments)} segments, {fallbacks} without a candidate passing the collision check"
    )
    print(format_table([{**evaluate(result.motion), "file": args.out}]))
    for i, (key, error) in enumerate(zip(keyframes, keyframe_errors(result.motion, keyframes))):
        facing = "" if error.heading is None else f", heading {error.heading:.1f} deg"
        print(f"{key.name(i)}: root {error.root:.3f} m{facing} off")
    if end_pose is not None:
        print(f"end pose: links {end_pose.error(result.motion, terrain):.3f} m off on average")
    print(f"motion written to {args.out}")
    if args.video:
        render(result.motion, args.video, width=args.width, height=args.height)
        print(f"video written to {args.video}")
