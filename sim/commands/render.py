"""`terrain-mdm render`: a headless TinyRenderer video of a motion file."""

from sim.commands.arguments import FPS, WORKERS

PARSER = {"help": "render a motion file headless (TinyRenderer) to .mp4 or .gif"}


def add_arguments(parser):
    parser.add_argument("file", help="motion file (.npz)")
    parser.add_argument("--out", required=True, help="video file (.mp4 or .gif)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=FPS, help="video frame rate, at most the motion's (frames are skipped)")
    parser.add_argument("--workers", type=WORKERS, help="render processes (default 2)")
    parser.add_argument("--distance", type=float, help="camera distance, m")
    parser.add_argument("--yaw", type=float, help="camera yaw, degrees")
    parser.add_argument("--pitch", type=float, help="camera pitch, degrees")
    parser.add_argument("--static", action="store_true", help="fixed camera instead of following the character")


def run(args):
    from sim.render import main_render

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
