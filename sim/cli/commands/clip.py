"""`terrain-mdm clip`: a shipped mocap clip, looped, as a motion file on flat terrain."""

from sim.cli.commands.arguments import FPS, number_in

PARSER = {"help": "write a shipped mocap clip, looped, as a motion file on flat terrain"}


def add_arguments(parser):
    parser.add_argument("name", help="clip name, e.g. walk, run, walker/turn_left0")
    parser.add_argument("--cycles", type=number_in(int, 1, 1000), default=1, help="times the clip is played")
    parser.add_argument("--fps", type=FPS, default=30.0, help="frame rate of the motion file (default 30)")
    parser.add_argument("--out", required=True, help="motion file (.npz)")


def run(args):
    from motion_model.body.clips import clip_motion
    from terrain.atomic import check_writable
    from terrain.generators import make_terrain, parameter_spec

    check_writable(args.out, "motion file")
    motion = clip_motion(args.name, cycles=args.cycles, fps=args.fps)
    end = motion.root_pos[-1, :2]
    length, longest = max(8.0, float(abs(end[0])) + 4.0), parameter_spec("flat")["length"]["max"]
    if length > longest:
        raise ValueError(
            f"{args.name} x{args.cycles} ends {abs(end[0]):.1f} m ahead, beyond the longest flat terrain "
            f"({longest:g} m): give fewer --cycles"
        )
    terrain = make_terrain("flat", seed=0, length=length)
    shift = terrain.start - motion.root_pos[0, :2]
    motion.root_pos[:, :2] += shift
    motion.save(args.out, terrain=terrain)
    print(f"{args.name} x{args.cycles}: {motion.num_frames} frames at {motion.fps:g} fps written to {args.out}")
