"""`terrain-mdm render`: a headless TinyRenderer video of a motion file."""

from sim.cli.commands.arguments import DEGREES, FPS, HEIGHT, WIDTH, WORKERS, number_in

PARSER = {"help": "render a motion file headless (TinyRenderer) to .mp4 or .gif"}


def add_arguments(parser):
    parser.add_argument("file", help="motion file (.npz)")
    parser.add_argument("--out", required=True, help="video file (.mp4 or .gif)")
    parser.add_argument("--width", type=WIDTH, default=640, help="video width, pixels (default 640)")
    parser.add_argument("--height", type=HEIGHT, default=480, help="video height, pixels (default 480)")
    parser.add_argument("--fps", type=FPS, help="video frame rate, at most the motion's (frames are skipped)")
    parser.add_argument("--workers", type=WORKERS, help="render processes (default 2)")
    parser.add_argument("--distance", type=number_in(float, 0.1, 1000.0), help="camera distance, m")
    parser.add_argument("--yaw", type=DEGREES, help="camera yaw, degrees")
    parser.add_argument("--pitch", type=number_in(float, -89.0, 89.0), help="camera pitch, degrees (< 0 looks down)")
    parser.add_argument("--static", action="store_true", help="fixed camera instead of following the character")


def run(args):
    from sim.bullet.render import main_render

    return main_render(
        args.file,
        args.out,
        width=args.width,
        height=args.height,
        fps=args.fps,
        workers=args.workers,
        distance=args.distance,
        yaw=args.yaw,
        pitch=args.pitch,
        follow=not args.static,
    )
