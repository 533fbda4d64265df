"""Where a controller step's time goes: ms per stage of controller/step.py at each batch size.

    .venv/bin/python -m sim.benchmarks.profile_step [--batches 1 32] [--steps 20] [--ddim-steps 1] [--threads 1]
        [--crowd]

Characters walk seeded 40-m courses (as bench-speed's), or with --crowd one 40-m course together (a crowd in
formation, controller/crowd.py: their terrain queries are shared). After one untimed step, each stage of
`steps` steps is timed (the thread's CPU time: use --threads 1; or --wall) by wrapping the functions the step
calls (nested stages are shown indented and are part of their parent's time). Prints a table of the median ms
per controller step of every stage for every batch size.
"""

import argparse
import statistics
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from dataclasses import replace

import torch

import controller.conditions as conditions
import controller.path_controller as path_controller
import controller.step as step
from controller.config import ControllerConfig
from controller.crowd import crowd_controllers
from controller.follower import PathFollower
from controller.foot_lock import FootLock
from controller.path_controller import PathController
from motion_model.learner.checkpoint import load_model
from terrain.generators import make_terrain

# The clock: the stepping thread's CPU time (default; with one torch thread the network runs on it too) does not
# count the time other processes of a shared machine take the core away; wall time does.
CLOCK = [time.thread_time]

# (label, owner, attribute): what is timed, parents before their children
STAGES = (
    ("segment_starts", step, "segment_starts"),
    ("  condition(s)", PathController, "condition"),  # before the batching: one character at a time
    ("  condition(s)", path_controller, "conditions"),
    ("    follower.command", PathFollower, "command"),
    ("    make_condition", path_controller, "make_condition"),  # before controller/conditions.py
    ("    make_condition", conditions, "make_condition"),
    ("    motion_to_features", path_controller, "motion_to_features"),
    ("    motion_to_features", conditions, "motion_to_features"),
    ("sample_candidates", step, "sample_candidates"),
    ("  network (sample)", step, "sample"),
    ("  features_to_motion", step, "features_to_motion"),
    ("  blend_seam", step, "blend_seam"),
    ("score_candidates", step, "score_candidates"),
    ("committed_frames", step, "committed_frames"),
    ("settle_bodies", step, "settle_bodies"),
    ("lock_feet", step, "lock_feet"),
    ("  foot lock targets", FootLock, "targets"),  # before the batching
    ("  foot lock targets", step, "lock_targets"),
    ("  leg_ik", step, "leg_ik"),
    ("commit", PathController, "commit"),
)


@contextmanager
def timed(owner, name, totals, label):
    """Time calls of owner.name (a function or method) into totals[label]; nothing if owner has no such name."""
    original = getattr(owner, name, None)
    if original is None:
        yield
        return

    def wrapper(*args, **kwargs):
        start = CLOCK[0]()
        try:
            return original(*args, **kwargs)
        finally:
            totals[label] += CLOCK[0]() - start

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def profile(model, config, batch, steps, crowd=False):
    """ms per controller step of each stage, and of the whole step ("step")."""
    if crowd:
        controllers = crowd_controllers(model, make_terrain("course", seed=0, length=40.0, width=8.0), batch, config)
    else:
        controllers = [
            PathController(model, make_terrain("course", seed=i, length=40.0), config=config, seed=i)
            for i in range(batch)
        ]
    step.advance(controllers)
    totals, per_step = defaultdict(float), []
    with ExitStack() as stack:
        for label, owner, name in STAGES:
            stack.enter_context(timed(owner, name, totals, label))
        for _ in range(steps):
            totals.clear()
            start = CLOCK[0]()
            step.advance(controllers)
            totals["step"] += CLOCK[0]() - start
            per_step.append(dict(totals))
    # The median step of each stage: a shared machine's load spikes hit single steps.
    labels = set().union(*per_step)
    return {label: 1000 * statistics.median(s.get(label, 0.0) for s in per_step) for label in labels}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--ddim-steps", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--crowd", action="store_true", help="all characters on one terrain, in formation")
    parser.add_argument("--wall", action="store_true", help="wall time rather than the thread's CPU time")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.wall:
        CLOCK[0] = time.perf_counter
    model = load_model(args.model)
    config = replace(ControllerConfig(), ddim_steps=args.ddim_steps)
    rows = {batch: profile(model, config, batch, args.steps, args.crowd) for batch in args.batches}
    labels = ["step"] + list(dict.fromkeys(label for label, _, _ in STAGES))
    print(f"{'ms per controller step':<24}" + "".join(f"{'batch ' + str(b):>12}" for b in args.batches))
    for label in labels:
        print(f"{label:<24}" + "".join(f"{rows[b].get(label, 0.0):>12.2f}" for b in args.batches))
    top = {label for label, _, _ in STAGES if not label.startswith(" ")}
    other = {b: rows[b]["step"] - sum(rows[b].get(label, 0.0) for label in top) for b in rows}
    print(f"{'(rest of advance)':<24}" + "".join(f"{other[b]:>12.2f}" for b in args.batches))


if __name__ == "__main__":
    main()
