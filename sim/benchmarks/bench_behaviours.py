"""The synthesis engine's behaviours under speed plans (standing starts and stops, corners, turning on the spot,
speed changes, runs, stops on stairs and slopes, random plans on every terrain kind), each measured with the
plausibility metrics beside today's plain walk (no plan), with the root's distance from the path and its speed
over the last second.

    .venv/bin/python -m sim.benchmarks.bench_behaviours [--out DIR]   # DIR: also write each episode's motion file
"""

import argparse
import os

import numpy as np

from motion_model.engine.route import PathCurve, Stairs
from motion_model.engine.speed_plan import Cruise, PlanConfig, SpeedPlan, Stop, random_plan
from motion_model.engine.synthesis import synthesize
from sim.evaluation.metrics import evaluate
from terrain.generators import CORRIDOR_KINDS, make_terrain
from terrain.planning import plan_path

COLUMNS = (
    "penetration_mean_mm",
    "penetration_frac_10mm",
    "float_mean_mm",
    "drift_label_mm",
    "drift_auto_mm",
    "sliding_ratio",
    "skate_ratio",
    "jerk_m_s3",
)


def path_distance(xy, path):
    """Distance (T,) of points from a polyline."""
    a, b = path[:-1], path[1:]
    t = np.clip(((xy[:, None] - a) * (b - a)).sum(-1) / np.maximum(((b - a) ** 2).sum(-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(xy[:, None] - (a + t[..., None] * (b - a)), axis=-1).min(1)


def mid_flight_stops(terrain, path):
    """Arc lengths halfway up the first flight of stairs and halfway down the last."""
    curve = PathCurve.from_points(path, 0.3)
    stairs = Stairs.along(terrain, curve)
    risers = stairs.s[np.abs(np.diff(terrain.height(curve.position(stairs.s)), append=0.0)) > 0.03]
    return (risers[2] + risers[3]) / 2, (risers[-3] + risers[-2]) / 2


def cases():
    """(name, terrain, path, plan or None) of every behaviour."""
    yield from flat_cases()
    yield from stops_on_inclines()
    yield from random_plans()


def flat_cases():
    """The plain walk, then standing starts and stops, corners, turns and speed changes on flat ground."""
    flat = make_terrain("flat", seed=0, length=16.0, width=8.0)
    start = np.asarray(flat.start)
    line = lambda *points: start + np.array(points, dtype=float)
    yield "plain walk (no plan)", flat, plan_path(flat), None
    yield (
        "stand, walk 4 m, stop",
        flat,
        line((0, 0), (4, 0)),
        SpeedPlan.constant(1.2, start_standing=1.5, end_standing=1.5),
    )
    yield "90 deg corner", flat, line((0, 0), (3, 0), (3, 3)), SpeedPlan.constant(1.3, end_standing=1.0)
    yield "135 deg corner", flat, line((0, 0), (3, 0), (0.9, 2.1)), SpeedPlan.constant(1.3, end_standing=1.0)
    yield "U-turn, 1 m apart", flat, line((0, 0), (3, 0), (3, 1), (0, 1)), SpeedPlan.constant(1.3, end_standing=1.0)
    yield (
        "zigzag",
        flat,
        line((0, 0), (1.5, 1.2), (3, -0.3), (4.5, 1.2), (6, -0.3)),
        SpeedPlan.constant(1.2, end_standing=1.0),
    )
    yield (
        "goal behind the start",
        flat,
        line((0, 0), (3, 0)),
        SpeedPlan.constant(1.2, start_standing=1.0, end_standing=1.0, start_heading=np.pi),
    )
    yield (
        "speeds 0.7/1.5, a stop",
        flat,
        line((0, 0), (10, 0)),
        SpeedPlan((Cruise(0.0, 0.7), Cruise(3.0, 1.5), Stop(6.0, 1.5), Cruise(7.5, 0.9)), end_standing=1.0),
    )
    yield (
        "run from and to a stand",
        flat,
        line((0, 0), (12, 0)),
        SpeedPlan.constant(3.2, start_standing=1.0, end_standing=1.5),
    )
    yield (
        "walk, run, walk",
        flat,
        line((0, 0), (13, 0)),
        SpeedPlan((Cruise(0.0, 1.2), Cruise(3.0, 3.0), Cruise(8.0, 1.0)), end_standing=1.0),
    )


def stops_on_inclines():
    """Stops halfway up and down a flight of stairs, and on a 15 degree slope."""
    stairs = make_terrain("stairs", seed=5, direction="up_down", step_height=0.18, tread=0.28, num_steps=6)
    path = plan_path(stairs)
    up, down = mid_flight_stops(stairs, path)
    yield (
        "stops on stairs",
        stairs,
        path,
        SpeedPlan((Cruise(0.0, 1.1), Stop(up, 1.5), Stop(down, 1.5)), start_standing=0.5, end_standing=1.0),
    )
    slope = make_terrain("slope", seed=2, direction="up_down", angle=15.0)
    yield (
        "stops on a slope",
        slope,
        plan_path(slope),
        SpeedPlan((Cruise(0.0, 1.1), Stop(4.0, 1.5), Stop(7.5, 1.0)), start_standing=1.0, end_standing=1.5),
    )


def random_plans():
    """Random speed plans (walk, mixed, run; walk only on stairs and steps) on three seeds of every corridor."""
    config = PlanConfig(stops_per_metre=0.1)
    for kind in CORRIDOR_KINDS:
        for seed in range(3):
            terrain = make_terrain(kind, seed=900 + seed)
            path = plan_path(terrain)
            length = float(np.linalg.norm(np.diff(path, axis=0), axis=-1).sum())
            gait = "walk" if kind in ("stairs", "steps") else ("walk", "mixed", "run")[seed]
            yield f"random {kind} {gait}", terrain, path, random_plan(length, gait, np.random.default_rng(seed), config)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="folder for the episodes' motion files")
    args = parser.parse_args()
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    print(
        f"{'':<26}" + "".join(f"{c[:11]:>12}" for c in COLUMNS) + f"{'path mean':>10}{'path max':>9}"
        f"{'v last 1s':>10}{'s':>6}"
    )
    for k, (name, terrain, path, plan) in enumerate(cases()):
        motion = synthesize(terrain, path, plan=plan) if plan else synthesize(terrain, path, gait="walk", seed=0)
        m = evaluate(motion)
        distance = path_distance(motion.root_pos[:, :2], motion.path)
        last = motion.root_pos[-int(motion.fps) - 1 :, :2]
        speed = np.linalg.norm(last[-1] - last[0])
        print(
            f"{name:<26}"
            + "".join(f"{m[c]:>12.3f}" for c in COLUMNS)
            + f"{distance.mean():>10.3f}{distance.max():>9.3f}{speed:>10.3f}{motion.duration:>6.1f}"
        )
        if args.out:
            motion.save(os.path.join(args.out, f"{k:02d}_{name.replace(' ', '_').replace('/', '-')}.npz"))


if __name__ == "__main__":
    main()
