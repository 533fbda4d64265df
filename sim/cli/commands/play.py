"""`terrain-mdm play`: drive characters live in the PyBullet GUI, or headless from a script of timed commands."""

from sim.cli.commands.arguments import CHARACTERS, MAX_CHARACTERS, SEED, number_in

PARSER = {"help": "drive a character live in the PyBullet GUI (W/A/S/D, Shift, Space, R, Esc) or from --commands"}
TAIL = number_in(float, 0.0, 600.0)
LEAD = number_in(float, 0.05, 10.0)


def add_arguments(parser):
    parser.add_argument("--terrain", default="field", help="generator name or terrain YAML (default: field)")
    parser.add_argument("params", nargs="*", help="generator parameters as key=value (field: size, features)")
    parser.add_argument("--seed", type=SEED, help="seed of the terrain and the sampling noise (default 0)")
    parser.add_argument("--model", default="default", help="shipped model name or checkpoint path")
    parser.add_argument("--config", help="live controller YAML (default: LiveConfig's values)")
    parser.add_argument(
        "--characters", type=CHARACTERS, default=1, help=f"characters on the terrain, 1-{MAX_CHARACTERS}"
    )
    parser.add_argument("--out", help="save the motion (.npz; several characters: OUT_0.npz, OUT_1.npz, ...)")
    parser.add_argument("--commands", help="timed commands (YAML): run headless, without a window")
    parser.add_argument("--tail", type=TAIL, default=3.0, help="seconds after the last command (default 3)")
    parser.add_argument("--video", help="with --commands: also render a video (.mp4 or .gif)")
    parser.add_argument("--lead", type=LEAD, default=0.2, help="seconds of motion generated ahead live (0.2)")


def run(args):
    from sim.cli.commands.terrain import terrain_spec
    from sim.play.scripted import check_outputs, motion_files, print_session

    if args.video and not args.commands:
        raise ValueError("--video needs --commands (a scripted session); the GUI session is saved with --out")
    spec = terrain_spec(args.terrain, args.params, args.seed)
    check_outputs(args.out, args.video, args.characters)
    if args.commands:
        from controller.script import load_commands

        commands = load_commands(args.commands)
    else:
        from sim.bullet.viewer import check_display

        check_display()
    config = _config(args.config)
    terrain = spec.make()
    model = _model(args.model)
    if args.commands:
        from sim.play.scripted import play_script

        result = play_script(model, terrain, commands, args.tail, config, spec.seed, args.characters, args.video)
    else:
        from sim.play.session import play_gui

        result = play_gui(model, terrain, config, spec.seed, args.characters, args.lead)
    print_session(result)
    if args.out:
        files = motion_files(args.out, len(result.motions))
        for motion, file in zip(result.motions, files):
            if motion is not None:
                motion.save(file)
        print(f"motion written to {', '.join(files) if len(files) < 4 else f'{files[0]} ... {files[-1]}'}")
    if args.video:
        print(f"video written to {args.video}")
    return 0


def _config(path):
    from controller.live import LiveConfig

    return LiveConfig.load(path) if path else LiveConfig()


def _model(name):
    from motion_model.learner.checkpoint import load_model

    return load_model(name)
