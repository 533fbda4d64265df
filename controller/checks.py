"""The path controller's argument checks, made before anything is generated: the objects it is given, its config
against the model, the length of motion its time limit allows, and a given route against the terrain.

World frame: Z up, metres, seconds.
"""

from __future__ import annotations

import math
import os

import numpy as np

from controller.config import ControllerConfig
from controller.end_pose import EndPose
from controller.keyframes import Keyframe
from motion_model.body.motion import MAX_FRAMES, MAX_PATH_POINTS
from motion_model.engine import Stop
from motion_model.learner.checkpoint import LoadedModel
from terrain import numbers
from terrain.heightfield import Heightfield
from terrain.planning import PlannerConfig, traversable

MAX_ROUTE = 10_000.0  # m of a given route: 40 minutes at a run's 4 m/s, a motion file's longest at most 20
GIVEN_ROUTE = PlannerConfig(clearance=0.0)  # the planner's rules for a given route, which need not keep its clearance


def check_arguments(model, terrain, config, stops=(), keyframes=(), end_pose=None):
    """ValueError naming the argument if one of PathController's is not what it takes (before a model loads)."""
    numbers.instance(
        model, (LoadedModel, str, os.PathLike), "model", "a LoadedModel, a model name or a checkpoint path"
    )
    numbers.instance(terrain, Heightfield, "terrain", "a Heightfield (make_terrain, Heightfield.load)")
    numbers.instance(config, ControllerConfig, "config", "a ControllerConfig (ControllerConfig.load, from_dict)")
    for name, items, kind in (("stops", stops, Stop), ("keyframes", keyframes, Keyframe)):
        for item in numbers.instance(items, (list, tuple), name, f"a list of {kind.__name__} records"):
            numbers.instance(item, kind, name, f"a list of {kind.__name__} records (one is not)")
    if end_pose is not None:
        numbers.instance(end_pose, EndPose, "end_pose", "an EndPose (end_pose.load_end_pose) or None")


def check_against_model(config, model):
    """ValueError if the config's frame counts or denoising steps do not fit the model."""
    window = model.window
    for name in ("commit_frames", "goal_approach_frames"):
        if not window.n_prev <= getattr(config, name) <= window.frames:
            raise ValueError(
                f"{name} must be between the model's {window.n_prev} previous frames and its "
                f"{window.frames}-frame segment, got {getattr(config, name)}"
            )
    if config.ddim_steps > model.schedule.num_train_timesteps:
        raise ValueError(
            f"ddim_steps must be at most the model's {model.schedule.num_train_timesteps} training "
            f"timesteps, got {config.ddim_steps}"
        )


def check_length(config, model):
    """ValueError if a run to the config's time limit could make more frames than a motion file holds (MAX_FRAMES):
    the last step before the limit commits up to commit_frames more."""
    fps = model.window.fps
    frames = math.ceil(round(config.time_limit * fps, 6)) - 1 + config.commit_frames
    if frames > MAX_FRAMES:
        most = math.floor((MAX_FRAMES + 1 - config.commit_frames) / fps * 10) / 10
        raise ValueError(
            f"time_limit {config.time_limit:g} s makes up to {frames} frames at the model's {fps:g} fps, more than a "
            f"motion file holds ({MAX_FRAMES}): give at most {most:g} s (--time-limit)"
        )


def check_route(terrain, path, goal, spacing=0.05):
    """`path` (P, 2) as float64 if it and the straight line from its end to `goal` lie inside the terrain and on
    ground that terrain.planning.traversable calls walkable (its step and slope limits, without the planner's
    clearance, which a given path need not keep); ValueError naming the first point where they do not, or if it
    is longer than a motion file's path (MAX_PATH_POINTS) or MAX_ROUTE."""
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) < 2 or not np.isfinite(path).all():
        raise ValueError(f"path must be two or more finite world xy points, an array (P, 2); got shape {path.shape}")
    if len(path) > MAX_PATH_POINTS:
        raise ValueError(f"path has {len(path)} points, more than a motion file holds ({MAX_PATH_POINTS}): give fewer")
    route = np.concatenate([path, goal[None]])
    legs = np.linalg.norm(np.diff(route, axis=0), axis=1)
    if legs.sum() > MAX_ROUTE:  # before it is sampled every `spacing` m
        raise ValueError(
            f"route is {legs.sum() / 1000:.1f} km long, more than {MAX_ROUTE / 1000:g} km: give a shorter one"
        )
    outside = np.flatnonzero(~terrain.contains(route))
    if len(outside):
        x, y = route[outside[0]]
        lo, hi = terrain.bounds()
        raise ValueError(
            f"route leaves the terrain at ({x:.2f}, {y:.2f}): keep the path and goal inside "
            f"x {lo[0]:.2f}..{hi[0]:.2f}, y {lo[1]:.2f}..{hi[1]:.2f} m"
        )
    steps = np.ceil(legs / spacing).astype(int)
    points = np.concatenate(
        [a + np.linspace(0.0, 1.0, n + 1)[:, None] * (b - a) for a, b, n in zip(route[:-1], route[1:], steps)]
    )
    blocked = np.flatnonzero(~traversable(terrain, points, GIVEN_ROUTE))
    if len(blocked):
        x, y = points[blocked[0]]
        raise ValueError(
            f"route is blocked at ({x:.2f}, {y:.2f}): the ground there is too steep or has a step "
            "too high to walk; plan around it, or leave out the path to use the planned route"
        )
    return path
