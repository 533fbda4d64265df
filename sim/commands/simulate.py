"""`terrain-mdm simulate`: the controller streams into a running PyBullet world with balls, in real time."""

from sim.commands.arguments import CHARACTERS, SEED_HELP, add_controller_arguments, controller_config

PARSER = {"help": "stream the controller into a running PyBullet world with balls, in real time"}


def add_arguments(parser):
    add_controller_arguments(parser, seed_help=SEED_HELP + "; also of the sampling noise and the balls")
    parser.add_argument(
        "--characters",
        type=CHARACTERS,
        default=1,
        help="a crowd: this many characters (1-64) from the start end to the goal end, each on its own path, "
        "one network call per step for all (default 1)",
    )
    parser.add_argument("--balls", type=int, default=3, help="balls dropped along the path ahead of the character")
    parser.add_argument(
        "--seconds", type=float, help="stop after this much simulated time (default: when the controller stops)"
    )
    parser.add_argument("--buffer", type=float, default=4.0, help="seconds of motion generated ahead (default 4)")
    parser.add_argument("--gui", action="store_true", help="show a PyBullet window (default: headless)")
    parser.add_argument("--video", help="also record a video (.mp4 or .gif) with TinyRenderer")
    parser.add_argument("--video-every", type=int, default=4, help="record every n-th pose (default 4: 7.5 fps)")
    parser.add_argument("--width", type=int, default=480, help="video width, pixels")
    parser.add_argument("--height", type=int, default=360, help="video height, pixels")


def run(args):
    import numpy as np

    from sim.commands.terrain import terrain_spec
    from sim.loop import simulate
    from sim.render import VIDEO_SUFFIXES, check_size
    from sim.viewer import check_display
    from terrain.atomic import check_writable

    spec = terrain_spec(args.terrain, args.params, args.seed)
    if args.video:
        check_writable(args.video, "video file", VIDEO_SUFFIXES)
        check_size(args.width, args.height)
    terrain = spec.make()
    config = controller_config(args)
    if args.gui:
        check_display()
    stats = simulate(
        args.model,
        terrain,
        seed=spec.seed,
        config=config,
        balls=args.balls,
        seconds=args.seconds,
        buffer_seconds=args.buffer,
        gui=args.gui,
        video=args.video,
        video_every=args.video_every,
        video_size=(args.width, args.height),
        characters=args.characters,
    )
    print(stats.summary())
    if stats.characters > 1:
        print(f"underruns per character: {' '.join(str(n) for n in stats.underruns_per_character)}")
    print(
        f"controller: {stats.generated_seconds:.1f} s of motion generated (up to --buffer ahead of the "
        f"simulation), {'stopped: ' + stats.controller_status if stats.controller_status else 'still going'}"
    )
    for i, (x, y, z) in enumerate(stats.ball_positions):
        print(f"ball {i}: " + ("not dropped" if np.isnan(x) else f"at ({x:.2f}, {y:.2f}, {z:.2f}) m"))
    if args.video:
        print(f"video ({stats.video_frames} frames) written to {args.video}")
