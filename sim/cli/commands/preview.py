"""`terrain-mdm preview`: a matplotlib frame strip (.png) or 3D video (.gif, .mp4) of a motion file."""

from sim.cli.commands.arguments import FPS, number_in

PARSER = {"help": "matplotlib preview of a motion file: frame strip (.png) or video"}
SUFFIXES = (".png", ".gif", ".mp4")


def add_arguments(parser):
    parser.add_argument("file", help="motion file (.npz)")
    parser.add_argument("--out", required=True, help=".png (frame strip), .gif or .mp4")
    parser.add_argument(
        "--columns", type=number_in(int, 1, 24), default=6, help="panels per row of a frame strip (1..24)"
    )
    parser.add_argument("--fps", type=FPS, help="video frame rate (default: the motion's)")


def run(args):
    from motion_model.body.motion import Motion
    from sim.formats.preview import check_columns, frame_strip, preview_video
    from terrain.atomic import check_writable

    check_writable(args.out, "preview file", SUFFIXES)
    check_columns(args.columns)
    motion = Motion.load(args.file)
    if args.out.lower().endswith(".png"):
        frame_strip(motion, args.out, columns=args.columns)
    else:
        preview_video(motion, args.out, fps=args.fps)
    print(f"preview written to {args.out}")
