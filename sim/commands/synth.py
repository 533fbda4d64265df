"""`terrain-mdm synth`: one terrain-fitted locomotion episode from the synthesis engine (training data)."""

from sim.commands.arguments import SEED_HELP

PARSER = {"help": "synthesise one terrain-fitted locomotion episode (training data)"}


def add_arguments(parser):
    parser.add_argument("--terrain", required=True, help="generator name or terrain YAML")
    parser.add_argument("params", nargs="*", help="generator parameters as key=value")
    parser.add_argument("--seed", type=int, help=SEED_HELP + "; also of the motion")
    parser.add_argument("--gait", choices=("walk", "run", "mixed"), default="walk")
    parser.add_argument("--speed", type=float, help="constant speed in m/s instead of the seeded profile")
    parser.add_argument("--out", required=True, help="motion file (.npz) with terrain, path and goal")


def run(args):
    from motion_model.synthesis import synthesize
    from sim.commands.terrain import terrain_spec
    from terrain.atomic import check_writable
    from terrain.planning import plan_path

    spec = terrain_spec(args.terrain, args.params, args.seed)
    check_writable(args.out, "motion file")
    terrain = spec.make()
    motion = synthesize(terrain, plan_path(terrain), gait=args.gait, seed=spec.seed, speed=args.speed)
    motion.save(args.out)
    print(f"{motion.duration:.1f} s of {args.gait} over {args.terrain} written to {args.out}")
