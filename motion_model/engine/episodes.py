"""Training episodes: a seeded terrain, its planned path and a synthesised motion along it, built in parallel.

A dataset directory holds `episodes/ep_NNNNNN.npz` (motion files with terrain, path and goal embedded),
`dataset.yaml` (the config it was built with) and, written by the learner (motion_model/learner/dataset.py),
`stats.npz` (feature standardisation). Episode i depends only on (config seed, i), so a build is reproducible
whatever the worker count, and an interrupted build resumes by skipping the episodes already written.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

import configs
from configs.typed import bounded, build, to_dict
from motion_model.engine.speed_plan import PlanConfig, random_plan
from motion_model.engine.synthesis import SynthesisConfig, synthesize
from terrain.atomic import atomic_path
from terrain.generators import KINDS, SKILL_KINDS, make_terrain, resolve_params
from terrain.numbers import MAX_SEED
from terrain.planning import UnreachableGoal, plan_path, traversable
from terrain.polyline import Polyline

# The engine walks and runs: the kinds that need a jump (gaps, ledges) are not synthesised yet.
TerrainKind = Literal[tuple(k for k in KINDS if k not in SKILL_KINDS)]
Gait = Literal["walk", "run", "mixed"]  # synthesis.speed_profile's gaits
MAX_EPISODES = 1_000_000
MAX_WEIGHT = 1e6  # of a terrain kind or a gait: their sum stays finite, so the shares are numbers


@dataclass(frozen=True)
class DataConfig:
    """What a dataset holds (configs/data/default.yaml): episode count, seed and the mix of terrains and gaits."""

    episodes: int = bounded(MISSING, 1, MAX_EPISODES)  # required
    seed: int = bounded(MISSING, 0, MAX_SEED)  # required
    terrains: dict[TerrainKind, float] = bounded(MISSING, 0.0, MAX_WEIGHT)  # kind: relative weight (required)
    gaits: dict[Gait, float] = bounded(MISSING, 0.0, MAX_WEIGHT)  # gait: relative weight (required)
    run_kinds: tuple[TerrainKind, ...] = ()  # the kinds on which run and mixed are drawn; elsewhere only walk
    waypoint_paths: float = bounded(0.0, 0.0, 1.0)  # share of episodes on winding paths through 1-2 waypoints
    terrain_params: dict[TerrainKind, dict] = field(default_factory=dict)  # kind: generator parameters
    # Behaviours: with `plans`, every episode follows a random speed plan (speed changes, stops, starting and
    # ending standing, turning round first; motion_model/engine/speed_plan.py); without, the seeded speed profile.
    plans: PlanConfig | None = None
    corner_paths: float = bounded(0.0, 0.0, 1.0)  # share of episodes on straight legs with sharp corners

    def __post_init__(self):
        if sum(self.terrains.values()) <= 0:
            raise ValueError("terrains must give at least one kind a positive weight")
        for kind, weight in self.terrains.items():
            allowed = [w for g, w in self.gaits.items() if g == "walk" or kind in self.run_kinds]
            if weight > 0 and sum(allowed) <= 0:
                raise ValueError(
                    f"gaits: no gait for {kind} terrain (run and mixed only on run_kinds); give walk a positive weight"
                )
        for kind, params in self.terrain_params.items():
            resolve_params(kind, params)


def data_config(values, where="data config") -> DataConfig:
    """The DataConfig of a mapping (a YAML file's); ValueError names a missing, unknown or bad key."""
    if isinstance(values, dict):
        missing = [k for k in ("episodes", "seed", "terrains", "gaits") if k not in values]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)} (see configs/data/default.yaml)")
    return build(DataConfig, values, where)


def load_config(path, episodes=None) -> DataConfig:
    """The data config of a YAML file, with the command line's --episodes applied."""
    values = configs.read_yaml(path, "data config")
    if episodes is not None and isinstance(values, dict):
        values = {**values, "episodes": episodes}
    return data_config(values, f"data config {path}")


def episode_spec(config: DataConfig, index):
    """The terrain kind, gait and seeds of episode `index`: a pure function of the config seed and index."""
    rng = np.random.default_rng([config.seed, index])
    kinds, kind_w = zip(*config.terrains.items())
    kind = str(rng.choice(kinds, p=np.array(kind_w, float) / sum(kind_w)))
    gaits = {g: w for g, w in config.gaits.items() if g == "walk" or kind in config.run_kinds}
    names, gait_w = zip(*gaits.items())
    gait = str(rng.choice(names, p=np.array(gait_w, float) / sum(gait_w)))
    waypoints = int(rng.random() < config.waypoint_paths) * int(rng.integers(1, 3))
    spec = {
        "kind": kind,
        "gait": gait,
        "terrain_seed": int(rng.integers(2**31)),
        "motion_seed": int(rng.integers(2**31)),
        "waypoints": waypoints,
    }
    # Drawn after the others, so that a config without them gives the same episodes as before they existed.
    spec["corners"] = bool(rng.random() < config.corner_paths)
    return spec


def corner_path(terrain, rng, tries=30):
    """A route from the start pad of 2-4 straight legs of 1-4 m joined by corners of 30-180 degrees either way
    (the planner's routes are smooth: these hold the sharp corners, U-turns and turns on the spot), inside the
    corridor and walkable all along; None when no such route is found in `tries` draws."""
    lo, hi = terrain.bounds()
    for _ in range(tries):
        points, heading = [np.asarray(terrain.start, float)], 0.0
        for leg in range(int(rng.integers(2, 5))):
            if leg:
                heading += rng.choice([-1.0, 1.0]) * np.radians(rng.uniform(30.0, 180.0))
            points.append(points[-1] + rng.uniform(1.0, 4.0) * np.array([np.cos(heading), np.sin(heading)]))
        route = Polyline(np.array(points))
        samples = route.resample(0.1).points
        inside = np.all((samples > lo + 1.0) & (samples < hi - 1.0))
        if inside and traversable(terrain, samples).all():
            return route.points
    return None


def winding_path(terrain, waypoints, seed):
    """A planned path from start to goal through `waypoints` random walkable points of the corridor, so that
    the data holds turns as well as the corridor's mostly straight routes. Falls back to the direct route
    when a waypoint cannot be reached."""
    rng = np.random.default_rng(seed)
    lo, hi = terrain.bounds()
    points = [terrain.start]
    for k in range(waypoints):
        frac = (k + 1) / (waypoints + 1)
        x = terrain.start[0] + frac * (terrain.goal[0] - terrain.start[0]) + rng.uniform(-1.0, 1.0)
        for _ in range(20):
            xy = np.array([x, rng.uniform(lo[1] + 1.0, hi[1] - 1.0)])
            if traversable(terrain, xy):
                points.append(xy)
                break
    points.append(terrain.goal)
    try:
        legs = [plan_path(terrain, start=a, goal=b) for a, b in zip(points[:-1], points[1:])]
    except UnreachableGoal:
        return plan_path(terrain)
    return np.concatenate([legs[0]] + [leg[1:] for leg in legs[1:]])


def make_episode(
    kind,
    gait,
    terrain_seed,
    motion_seed,
    waypoints=0,
    terrain_params=None,
    synthesis=SynthesisConfig(),
    plans: PlanConfig | None = None,
    corners=False,
):
    """Terrain, path and synthesised Motion (with terrain, path and goal) for one episode: the planned route,
    a winding one through `waypoints`, or straight legs with sharp corners; with `plans`, a random speed plan."""
    terrain = make_terrain(kind, seed=terrain_seed, **(terrain_params or {}))
    rng = np.random.default_rng(motion_seed)
    path = corner_path(terrain, rng) if corners else None
    if path is None:
        path = winding_path(terrain, waypoints, motion_seed) if waypoints else plan_path(terrain)
    if plans is None:
        return synthesize(terrain, path, gait=gait, seed=motion_seed, config=synthesis)
    plan = random_plan(Polyline(path).length, gait, rng, plans)
    return synthesize(terrain, path, config=synthesis, plan=plan)


def _build_one(job):
    config, index, out = job
    spec = episode_spec(config, index)
    motion = make_episode(
        spec["kind"],
        spec["gait"],
        spec["terrain_seed"],
        spec["motion_seed"],
        spec["waypoints"],
        config.terrain_params.get(spec["kind"]),
        plans=config.plans,
        corners=spec["corners"],
    )
    motion.save(out)
    return index, spec["kind"], motion.duration


def build_episodes(config: DataConfig, out_dir, workers=None):
    """Write every episode of `config` not already in out_dir, in parallel, and dataset.yaml; returns how many
    were new and their seconds of motion. (The learner's dataset.build_dataset adds the feature statistics.)"""
    out_dir = Path(out_dir)
    _check_same_settings(out_dir, config)
    (out_dir / "episodes").mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "dataset.yaml") as tmp, open(tmp, "w") as f:
        f.write(configs.dump_yaml(to_dict(config)))
    jobs = [(config, i, str(out_dir / "episodes" / f"ep_{i:06d}.npz")) for i in range(config.episodes)]
    todo = [job for job in jobs if not os.path.exists(job[2])]
    workers = workers or min(os.cpu_count() or 1, 2)
    seconds = 0.0
    if todo:
        # Workers import torch through the model modules; one thread each keeps the cores busy without
        # oversubscription.
        from motion_model.runtime import set_threads

        with multiprocessing.get_context("spawn").Pool(workers, initializer=set_threads, initargs=(1,)) as pool:
            for _, _, duration in tqdm(
                pool.imap_unordered(_build_one, todo),
                total=len(todo),
                desc=f"episodes ({len(jobs) - len(todo)} already done)",
                unit="ep",
            ):
                seconds += duration
    return len(todo), seconds


def _check_same_settings(out_dir, config):
    """ValueError if out_dir holds a dataset made with other settings (its dataset.yaml): its episodes would mix
    with this config's. The episode count may differ: episode i is the same in both."""
    file = out_dir / "dataset.yaml"
    if not file.exists():
        return
    old, new = configs.read_yaml(file, "dataset file"), to_dict(config)
    if not isinstance(old, dict):
        raise ValueError(f"{file} is damaged (no mapping of settings): restore it, or build into a new --out folder")
    differ = sorted(k for k in set(old) | set(new) if k != "episodes" and old.get(k) != new.get(k))
    if differ:
        raise ValueError(
            f"dataset folder {out_dir} holds episodes made with other settings (they differ in {', '.join(differ)}): "
            "build with the config that made them, or into a new --out folder"
        )
