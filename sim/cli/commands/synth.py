"""`terrain-mdm synth`: one terrain-fitted locomotion episode from the synthesis engine (training data)."""

from sim.cli.commands.arguments import SEED, SEED_HELP, number_in

PARSER = {"help": "synthesise one terrain-fitted locomotion episode (training data)"}


def add_arguments(parser):
    parser.add_argument("--terrain", required=True, help="generator name or terrain YAML")
    parser.add_argument("params", nargs="*", help="generator parameters as key=value")
    parser.add_argument("--seed", type=SEED, help=SEED_HELP + "; also of the motion")
    parser.add_argument("--gait", choices=("walk", "run", "mixed"), default="walk")
    parser.add_argument(
        "--speed",
        type=number_in(float, 0.3, 3.8),
        help="constant speed in m/s instead of the seeded profile (0.3-3.8: speed_plan.SPEED_RANGE)",
    )
    parser.add_argument("--out", required=True, help="motion file (.npz) with terrain, path and goal")


def run(args):
    from motion_model.engine.synthesis import synthesize
    from sim.cli.commands.terrain import terrain_spec
    from terrain.atomic import check_writable
    from terrain.planning import plan_path

    spec = terrain_spec(args.terrain, args.params, args.seed)
    check_writable(args.out, "motion file")
    terrain = spec.make()
    motion = synthesize(terrain, plan_path(terrain), gait=args.gait, seed=spec.seed, speed=args.speed)
    motion.save(args.out)
    print(f"{motion.duration:.1f} s of {args.gait} over {args.terrain} written to {args.out}")
