"""Synthesis engine benchmark: its plausibility metrics per terrain kind beside the raw flat-ground clips,
and its speed (seconds of motion synthesised per second).

    .venv/bin/python -m sim.benchmarks.bench_synthesis [--per-kind 6] [--out runs/bench_synthesis.json]
"""

import argparse
import json
import time

import numpy as np

from motion_model.body.clips import clip_motion
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
    "goal_dist_root_m",
)


def row(name, results):
    values = [np.nanmean([r[c] for r in results]) for c in COLUMNS]
    return f"{name:<22}" + "".join(f"{v:>12.3f}" for v in values)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-kind", type=int, default=6, help="episodes per terrain kind (walk; run/mixed too)")
    parser.add_argument("--out", help="write all per-episode metrics as JSON")
    args = parser.parse_args()

    print(f"{'':<22}" + "".join(f"{c[:11]:>12}" for c in COLUMNS))
    for name in ("walk", "walker/turn_left0", "run"):
        print(row(f"clip {name} x4", [evaluate(clip_motion(name, cycles=4), flat_ground=True)]))
    everything, synth_seconds, motion_seconds = {}, 0.0, 0.0
    for kind in CORRIDOR_KINDS:
        results = []
        for seed in range(args.per_kind):
            gait = ("walk", "walk", "mixed")[seed % 3] if kind != "stairs" and kind != "steps" else "walk"
            terrain = make_terrain(kind, seed=1000 + seed)
            path = plan_path(terrain)
            start = time.perf_counter()
            motion = synthesize(terrain, path, gait=gait, seed=seed)
            synth_seconds += time.perf_counter() - start
            motion_seconds += motion.duration
            results.append(evaluate(motion))
        everything[kind] = results
        print(row(f"engine {kind}", results))
    print(row("engine all", [r for rs in everything.values() for r in rs]))
    print(
        f"\nsynthesis speed: {motion_seconds / synth_seconds:.0f} s of motion per second "
        f"({motion_seconds:.0f} s in {synth_seconds:.1f} s, path planning excluded)"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(everything, f, indent=1, default=float)


if __name__ == "__main__":
    main()
