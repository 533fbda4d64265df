"""`terrain-mdm dataset`: the training dataset, many seeded episodes in parallel, resumable."""

from sim.cli.commands.arguments import WORKERS, number_in

MAX_EPISODES = 1_000_000  # episodes.MAX_EPISODES, a data config's bound

PARSER = {"help": "build the training dataset (parallel, resumable)"}


def add_arguments(parser):
    parser.add_argument("--config", default="configs/data/default.yaml")
    parser.add_argument("--out", required=True, help="dataset directory")
    parser.add_argument(
        "--episodes", type=number_in(int, 1, MAX_EPISODES), help="override the number of episodes (1-1000000)"
    )
    parser.add_argument("--workers", type=WORKERS, help="worker processes (default: the cores, at most 2)")


def run(args):
    from motion_model.engine.episodes import load_config
    from motion_model.learner.dataset import build_dataset
    from terrain.atomic import check_writable_folder

    config = load_config(args.config, episodes=args.episodes)
    check_writable_folder(args.out, "dataset folder")
    built, seconds = build_dataset(config, args.out, workers=args.workers)
    print(f"{built} new episodes ({seconds / 3600:.2f} h of motion) in {args.out}")
