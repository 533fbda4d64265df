"""Controller benchmark: the model along planned paths over seeded terrains of every kind, beside the
synthesis engine on the same episodes and the same model with its terrain tokens dropped (terrain-blind);
seams; speed for one character and for 32 together; a continuous 10-minute walk with turns and stops.

    .venv/bin/python -m sim.benchmarks.bench_controller [--model default] [--per-kind 10] [--out runs/bench]

Terrain seeds start at 10000, far from anything the dataset drew. Prints tables; writes JSON to --out.
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from controller.path_controller import ControllerConfig, PathController, default_lanes, lane_threads, run_batch
from motion_model.body.skeleton import Skeleton
from motion_model.engine.speed_plan import Stop
from motion_model.engine.synthesis import synthesize
from motion_model.learner.checkpoint import load_model
from sim.evaluation.metrics import evaluate
from terrain.generators import CORRIDOR_KINDS, make_terrain
from terrain.heightfield import Heightfield
from terrain.planning import plan_path
from terrain.polyline import Polyline

COLUMNS = (
    ("success", "{:.2f}"),
    ("penetration_mean_mm", "{:.2f}"),
    ("penetration_frac_10mm", "{:.3f}"),
    ("float_mean_mm", "{:.1f}"),
    ("drift_label_mm", "{:.2f}"),
    ("drift_auto_mm", "{:.2f}"),
    ("sliding_ratio", "{:.3f}"),
    ("skate_ratio", "{:.3f}"),
    ("jerk_m_s3", "{:.0f}"),
    ("seam_ratio", "{:.2f}"),
)


def seam_ratio(motion, segments, commit):
    """Largest body-point jump across a segment seam over the median frame-to-frame body motion."""
    skeleton = Skeleton.load()
    links, _ = skeleton.fk(motion.root_pos, motion.root_quat, motion.joint_quat)
    step = np.linalg.norm(np.diff(links, axis=0), axis=-1).max(-1)
    seams = np.arange(commit, motion.num_frames, commit) - 1
    seams = seams[seams < len(step)]
    return float(step[seams].max() / max(np.median(step), 1e-9)) if len(seams) else 0.0


def summarise(name, rows):
    cells = [fmt.format(np.nanmean([r[key] for r in rows])) for key, fmt in COLUMNS]
    return f"{name:<26}" + "".join(f"{c:>12}" for c in cells)


def episodes(per_kind):
    out = []
    for kind in CORRIDOR_KINDS:
        for i in range(per_kind):
            terrain = make_terrain(kind, seed=10000 + i)
            out.append((kind, i, terrain, plan_path(terrain)))
    return out


def run_model(model, config, eps, batch):
    """Results of the model over the episodes, `batch` characters at a time; returns rows and the speed."""
    controllers = [PathController(model, t, path=p, config=config, seed=i) for _, i, t, p in eps]
    begin = time.perf_counter()
    lanes = default_lanes(len(controllers), batch)
    with lane_threads(lanes):
        results = run_batch(controllers, batch=batch, lanes=lanes)
    wall = time.perf_counter() - begin
    rows = []
    for (kind, i, _, _), r in zip(eps, results):
        m = evaluate(r.motion)
        m.update(
            kind=kind,
            seed=i,
            status=r.status,
            success=float(r.status == "goal"),
            seam_ratio=seam_ratio(r.motion, r.segments, config.commit_frames),
            fallbacks=sum(s["fallback"] for s in r.segments),
            segments=len(r.segments),
        )
        rows.append(m)
    return rows, sum(r.motion.duration for r in results) / wall


def steady_speed(model, config, characters=32, seconds=8.0):
    """Multiple of real time with `characters` walking together for `seconds` each on 20-m corridors of every
    kind: long enough that none reaches its goal first, so the batch stays full (no stragglers)."""
    terrains = [
        make_terrain(CORRIDOR_KINDS[i % len(CORRIDOR_KINDS)], seed=20000 + i, length=20.0) for i in range(characters)
    ]
    eps = [(kind, i, t, plan_path(t)) for i, (kind, t) in enumerate(zip(CORRIDOR_KINDS * characters, terrains))]
    _, speed = run_model(model, replace(config, time_limit=seconds), eps, characters)
    return speed


def spiral_course(seed=0, laps=4, r_out=26.0, r_in=9.0):
    """A 60 m square of smooth hills and bumps with a path of about 870 m: a spiral in (lanes 4 m apart), a
    U-turn at its centre and the spiral out again, 1 m inside the way in."""
    rng = np.random.default_rng(seed)
    cell = 0.1
    n = 600
    x = np.arange(n) * cell - 30.0
    X, Y = np.meshgrid(x, x, indexing="ij")
    h = np.zeros_like(X)
    for _ in range(40):
        cx, cy, r, a = rng.uniform(-28, 28), rng.uniform(-28, 28), rng.uniform(1.5, 5.0), rng.uniform(-0.4, 0.4)
        h += a * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * r * r))
    theta = np.linspace(0.0, 2 * np.pi * laps, 4000)
    radius = r_out + (r_in - r_out) * theta / theta[-1]
    inward = np.stack([radius * np.cos(theta), radius * np.sin(theta)], -1)
    outward = inward[::-1] * (1.0 - 1.0 / np.linalg.norm(inward[::-1], axis=-1, keepdims=True))  # 1 m further in
    path = np.concatenate([inward, outward])  # a U-turn at the centre, then out between the lanes
    return Heightfield(h, cell, np.array([-30.0, -30.0]), start=path[0], goal=path[-1]), path


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--config", help="controller YAML (default: the ControllerConfig defaults)")
    parser.add_argument("--per-kind", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32, help="characters per network call for the quality runs")
    parser.add_argument("--single", type=int, default=6, help="episodes run one at a time for the speed figure")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=(), choices=("engine", "blind", "long"))
    parser.add_argument("--out", default="runs/bench")
    return parser.parse_args()


def model_runs(model, config, eps, args, report):
    """The model over every episode, `args.batch` at a time, and its speeds (into `report`); returns the rows."""
    run_model(model, config, eps[:2], 2)  # warm-up: the first network calls allocate and tune kernels
    _, single_speed = run_model(model, config, eps[:: max(1, len(eps) // args.single)][: args.single], 1)
    rows, batch_speed = run_model(model, config, eps, args.batch)
    full_speed = steady_speed(model, config, args.batch)
    report.update(model=rows, speed_single=single_speed, speed_batch=full_speed, speed_episodes=batch_speed)
    print(f"{'':<26}" + "".join(f"{key[:11]:>12}" for key, _ in COLUMNS))
    for kind in CORRIDOR_KINDS:
        print(summarise(f"model {kind}", [r for r in rows if r["kind"] == kind]))
    print(summarise("model all", rows))
    return rows


def terrain_blind(model, config, eps, batch, report):
    blind, _ = run_model(model, replace(config, guidance={"terrain": 0.0}), eps, batch)
    report["terrain_blind"] = blind
    print(summarise("terrain-blind all", blind))
    for kind in ("stairs", "steps"):
        print(summarise(f"terrain-blind {kind}", [r for r in blind if r["kind"] == kind]))


def engine_runs(config, eps, report):
    """The synthesis engine on the same episodes; success is ending within the controller's goal radius."""
    engine = []
    for kind, i, terrain, path in eps:
        m = evaluate(synthesize(terrain, path, gait="walk", seed=i, speed=config.speed))
        m.update(kind=kind, seed=i, success=float(m["goal_dist_root_m"] < config.goal_radius), seam_ratio=np.nan)
        engine.append(m)
    report["engine"] = engine
    print(summarise("synthesis engine all", engine))


def long_walk(model, config, report):
    """The 10-minute spiral walk, a 3 s stop every 60 m."""
    terrain, path = spiral_course()
    long_config = replace(config, time_limit=600.0)
    stops = [Stop(at, 3.0) for at in np.arange(60.0, Polyline(path).length - 10.0, 60.0)]
    begin = time.perf_counter()
    controller = PathController(model, terrain, path=path, config=long_config, seed=0, stops=stops)
    result = controller.run(progress=True)
    wall = time.perf_counter() - begin
    m = evaluate(result.motion)
    off = Polyline(path).project(result.motion.root_pos[:, :2]).distance
    report["long"] = {
        **m,
        "status": result.status,
        "wall_s": wall,
        "path_mean_m": off.mean(),
        "path_max_m": off.max(),
    }
    print(
        f"10-minute walk ({len(stops)} stops of 3 s, a U-turn): {result.motion.duration:.0f} s, "
        f"{m['distance_m']:.0f} m, status {result.status}, NaN frames {m['nan_frames']}, from the path "
        f"{off.mean():.2f} m mean / {off.max():.2f} m max, penetration mean {m['penetration_mean_mm']:.2f} mm, "
        f"drift {m['drift_label_mm']:.2f} mm/frame, {result.motion.duration / wall:.1f}x real time"
    )


def print_speeds(report, rows, batch):
    """The model runs' speeds, share of segments that fell back and statuses."""
    fallback = sum(r["fallbacks"] for r in rows) / max(sum(r["segments"] for r in rows), 1)
    print(
        f"\nspeed, collision checks included: one character {report['speed_single']:.1f}x real time; "
        f"{batch} together {report['speed_batch']:.1f}x real time; all {report['episodes']} episodes, {batch} at "
        f"a time (stragglers at the end included) {report['speed_episodes']:.1f}x real time"
    )
    print(
        f"segments without a candidate passing the check: {100 * fallback:.1f}%;  statuses: "
        f"{ {s: sum(r['status'] == s for r in rows) for s in ('goal', 'time_limit', 'stalled')} }"
    )


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    config = ControllerConfig.load(args.config) if args.config else ControllerConfig()
    eps = episodes(args.per_kind)
    report = {"config": config.to_dict(), "episodes": len(eps)}
    rows = model_runs(model, config, eps, args, report)
    if "blind" not in args.skip:
        terrain_blind(model, config, eps, args.batch, report)
    if "engine" not in args.skip:
        engine_runs(config, eps, report)
    print_speeds(report, rows, args.batch)
    if "long" not in args.skip:
        long_walk(model, config, report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "bench_controller.json", "w") as f:
        json.dump(report, f, indent=1, default=str)
    print(f"\nwritten to {out / 'bench_controller.json'}")


if __name__ == "__main__":
    main()
