"""`terrain-mdm simulate`: the controller streams into a running PyBullet world with balls, in real time."""

from sim.cli.commands.arguments import (
    CHARACTERS,
    HEIGHT,
    SEED_HELP,
    WIDTH,
    add_controller_arguments,
    controller_config,
    number_in,
)

PARSER = {"help": "stream the controller into a running PyBullet world with balls, in real time"}
MAX_BALLS = 100  # and no more than the path has room for (sim/bullet/balls.py ball_spawns refuses more)
BUFFER_RANGE = (0.1, 120.0)  # s: the loop waits for the buffer to fill before it starts


def add_arguments(parser):
    add_controller_arguments(parser, seed_help=SEED_HELP + "; also of the sampling noise and the balls")
    parser.add_argument(
        "--characters",
        type=CHARACTERS,
        default=1,
        help="a crowd: this many characters (1-64) from the start end to the goal end, each on its own path, "
        "one network call per step for all (default 1)",
    )
    parser.add_argument(
        "--balls", type=number_in(int, 0, MAX_BALLS), default=3, help="balls dropped along the path ahead (default 3)"
    )
    parser.add_argument(
        "--seconds",
        type=number_in(float, 0.01, 3600.0),
        help="stop after this much simulated time (default: when the controller stops)",
    )
    parser.add_argument(
        "--buffer", type=number_in(float, *BUFFER_RANGE), default=4.0, help="seconds of motion generated ahead (4)"
    )
    parser.add_argument("--gui", action="store_true", help="show a PyBullet window (default: headless)")
    parser.add_argument("--video", help="also record a video (.mp4 or .gif) with TinyRenderer")
    parser.add_argument(
        "--video-every", type=number_in(int, 1, 240), default=4, help="record every n-th pose (default 4: 7.5 fps)"
    )
    parser.add_argument("--width", type=WIDTH, default=480, help="video width, pixels")
    parser.add_argument("--height", type=HEIGHT, default=360, help="video height, pixels")


def run(args):
    import numpy as np

    from motion_model.runtime import threads
    from sim.bullet.loop import SWITCH_INTERVAL
    from sim.bullet.render import check_size, check_video_file
    from sim.bullet.simulate import SimulationSettings, simulate
    from sim.bullet.viewer import check_display
    from sim.cli.commands.terrain import terrain_spec

    spec = terrain_spec(args.terrain, args.params, args.seed)
    if args.video:
        check_video_file(args.video)
        check_size(args.width, args.height)
    terrain = spec.make()
    config = controller_config(args)
    if args.gui:
        check_display()
    settings = SimulationSettings(
        seed=spec.seed,
        characters=args.characters,
        balls=args.balls,
        seconds=args.seconds,
        buffer_seconds=args.buffer,
        gui=args.gui,
        video=args.video,
        video_every=args.video_every,
        video_size=(args.width, args.height),
    )
    with threads(switch_interval=SWITCH_INTERVAL):
        stats = simulate(args.model, terrain, settings, config=config)
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
