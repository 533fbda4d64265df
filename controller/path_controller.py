"""Autoregressive path following: chain 2-s diffusion segments along a planned path over terrain.

Each step, for every character still going: take its last committed frames as the previous state, express
everything in the frame of the last one, sample the local heightfield there, aim the target at a point
ahead on the path, sample `candidates` segments with DDIM in one batch (all characters together), check
them against the terrain's signed distance, keep the best, pin its stance feet, and commit its first
`commit_frames` frames. A character stops at the goal, at the time limit, or when it makes no progress.
`PathController` is one character and its transitions; controller/step.py is the step for many at once.

World frame: Z up, metres, seconds; +X is the character's forward at rest; quaternions xyzw.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from controller.config import ControllerConfig
from controller.foot_lock import FootLock
from controller.frames import Frames
from controller.step import advance, shared_setup
from motion_model.checkpoint import LoadedModel, load_model
from motion_model.condition import make_condition, reference_frame
from motion_model.features import motion_to_features
from motion_model.legs import FOOT_LINKS
from motion_model.motion import Motion
from terrain.planning import plan_path, traversable
from terrain.polyline import Polyline


@dataclass
class Result:
    motion: Motion
    status: str  # "goal", "time_limit" or "stalled"
    segments: list  # per-segment diagnostics (dicts)
    wall_seconds: float

    @property
    def realtime_factor(self):
        return self.motion.duration / max(self.wall_seconds, 1e-9)


class PathController:
    """One character following a path over a terrain with a motion diffusion model.

    model: a LoadedModel or a name/path for load_model. goal defaults to the terrain's goal pad, start to
    its start pad; path (P, 2) defaults to the terrain planner's route from start to goal. A given path is
    refused (ValueError) where it, or the straight line from its end to the goal, crosses ground the planner
    would not walk on (check_route): the model would walk into the obstacle rather than around it.
    """

    def __init__(self, model, terrain, goal=None, path=None, config=ControllerConfig(), seed=0, start=None):
        self.config = config.checked()
        self.model = model if isinstance(model, LoadedModel) else load_model(model)
        self.terrain = terrain
        _check_against_model(config, self.model)
        start = np.asarray(terrain.start if start is None else start, dtype=np.float64)
        goal = np.asarray(terrain.goal if goal is None else goal, dtype=np.float64)
        if start.shape != (2,) or goal.shape != (2,):
            raise ValueError("start and goal must be world xy pairs (the terrain has no pads to default to)")
        self.path = plan_path(terrain, start=start, goal=goal) if path is None else check_route(terrain, path, goal)
        self.goal = goal
        self.tracker = Polyline(self.path)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.foot_lock = FootLock(terrain) if config.foot_lock else None
        self.chunks = []  # committed Frames, one per segment
        self.segments = []
        self.status = None
        self.wall_seconds = 0.0
        direction = self.path[min(5, len(self.path) - 1)] - self.path[0]
        self.start_yaw = float(np.arctan2(direction[1], direction[0]))

    # -- state ---------------------------------------------------------------------------------------

    @property
    def done(self):
        return self.status is not None

    @property
    def num_frames(self):
        return sum(len(c) for c in self.chunks)

    def last_frames(self, n):
        """The last n committed Frames (fewer at the start); None before the first."""
        if not self.chunks:
            return None
        chunks, count = [], 0
        for chunk in reversed(self.chunks):  # only the chunks needed: episodes grow to thousands of frames
            chunks.insert(0, chunk)
            count += len(chunk)
            if count >= n:
                break
        return Frames.concatenate(chunks)[-n:]

    def condition(self):
        """(cond dict for one row, reference (xy, yaw, z)) for the next segment."""
        window = self.model.window
        if not self.chunks:  # cold start: standing on the start pad, facing along the path
            ref_xy, ref_yaw = self.path[0], self.start_yaw
            ref_z = float(self.terrain.height(ref_xy))
            prev = None
        else:
            recent = self.last_frames(window.n_prev)
            ref_xy, ref_yaw, ref_z = reference_frame(recent.root_pos[-1], recent.root_quat[-1], self.terrain)
            features = motion_to_features(*recent.arrays(), ref_xy, ref_yaw, ref_z)
            prev = self.model.normalizer.normalize(features.astype(np.float32))[None]
        ref = (np.asarray(ref_xy, float).reshape(1, 2), np.asarray(ref_yaw, float).reshape(1),
               np.asarray(ref_z, float).reshape(1))
        path = self.path
        if self.tracker.length - self.progress() < window.lookahead:
            # The last stretch: aim at the goal itself. (Past the path's end the target would run on along
            # its last segment, and a character a little beside the path would walk past the goal.)
            path = np.stack([ref[0][0], self.goal])
        cond = make_condition(self.terrain, path, [self.config.speed], *ref, window, prev=prev)
        return cond, ref

    def motion(self):
        """Everything committed so far as a Motion with the terrain, path and goal."""
        if not self.chunks:
            raise ValueError("nothing generated yet: call step() first")
        return Frames.concatenate(self.chunks).motion(self.model.window.fps, terrain=self.terrain, path=self.path,
                                                      goal=self.goal)

    def progress(self):
        """Arc length (m) along the path of the last committed root position."""
        return float(self.tracker.arc_length(self.chunks[-1].root_pos[-1, :2])) if self.chunks else 0.0

    def frames_to_commit(self):
        """How many frames of the next segment to keep: commit_frames, or goal_approach_frames once the goal is
        within a segment's reach (shorter steps re-aim at the goal more often instead of walking past it)."""
        config = self.config
        reach = config.speed * config.commit_frames / self.model.window.fps
        if self.tracker.length - self.progress() < reach:
            return min(config.commit_frames, config.goal_approach_frames)
        return config.commit_frames

    # -- generation ----------------------------------------------------------------------------------

    def step(self):
        """Generate and commit one segment; returns the committed frames as a Motion (no terrain)."""
        return advance([self])[0]

    def run(self, progress=False):
        """Generate until the goal, the time limit or a stall. Returns a Result."""
        from tqdm import tqdm

        with tqdm(total=round(self.tracker.length, 1), unit="m", disable=not progress, desc="path") as bar:
            while not self.done:
                self.step()
                bar.n = round(min(self.progress(), self.tracker.length), 1)
                bar.refresh()
        return self.result()

    def stream(self):
        """Yield committed segments (Motions without terrain) one by one as they are generated."""
        while not self.done:
            yield self.step()

    def result(self):
        return Result(self.motion(), self.status, self.segments, self.wall_seconds)

    def commit(self, frames: Frames, link_pos, diagnostics):
        """Append a segment's frames (feet already locked) up to the first that reaches the goal, and update the
        status; returns the appended frames as a Motion (no terrain).

        link_pos (T, 15, 3) from before foot locking, which moves a foot by centimetres at most, is close
        enough to find that frame. diagnostics: the segment's entry of Result.segments; its "seconds" (the
        segment's share of the step's wall time) add to wall_seconds.
        """
        near = np.minimum(np.linalg.norm(frames.root_pos[:, :2] - self.goal, axis=-1),
                          np.linalg.norm(link_pos[:, list(FOOT_LINKS), :2] - self.goal, axis=-1).min(-1))
        reached = np.flatnonzero(near < self.config.goal_radius)
        chunk = frames[:reached[0] + 1] if len(reached) else frames
        self.chunks.append(chunk)
        self.segments.append(diagnostics)
        self.wall_seconds += diagnostics["seconds"]
        self.status = "goal" if len(reached) else self._time_limit_or_stall()
        return chunk.motion(self.model.window.fps)

    def _time_limit_or_stall(self):
        """"time_limit" or "stalled" if the motion so far ends the episode that way, else None."""
        fps = self.model.window.fps
        if self.num_frames / fps >= self.config.time_limit:
            return "time_limit"
        window = int(self.config.stall_time * fps)
        if self.num_frames > window:
            roots = self.last_frames(window + 1).root_pos
            moved = self.tracker.arc_length(roots[-1, :2]) - self.tracker.arc_length(roots[-window - 1, :2])
            if moved < self.config.stall_distance:
                return "stalled"
        return None


def _check_against_model(config, model):
    """ValueError if the config's frame counts or denoising steps do not fit the model."""
    window = model.window
    for name in ("commit_frames", "goal_approach_frames"):
        if not window.n_prev <= getattr(config, name) <= window.frames:
            raise ValueError(f"{name} must be between the model's {window.n_prev} previous frames and its "
                             f"{window.frames}-frame segment, got {getattr(config, name)}")
    if config.ddim_steps > model.schedule.num_train_timesteps:
        raise ValueError(f"ddim_steps must be at most the model's {model.schedule.num_train_timesteps} training "
                         f"timesteps, got {config.ddim_steps}")


def check_route(terrain, path, goal, spacing=0.05):
    """`path` (P, 2) as float64 if it and the straight line from its end to `goal` lie inside the terrain and on
    ground that terrain.planning.traversable calls walkable (its step and slope limits, without the planner's
    clearance, which a given path need not keep); ValueError naming the first point where they do not."""
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) < 2 or not np.isfinite(path).all():
        raise ValueError(f"path must be two or more finite world xy points, an array (P, 2); got shape {path.shape}")
    route = np.concatenate([path, goal[None]])
    outside = np.flatnonzero(~terrain.contains(route))
    if len(outside):
        x, y = route[outside[0]]
        lo, hi = terrain.bounds()
        raise ValueError(f"route leaves the terrain at ({x:.2f}, {y:.2f}): keep the path and goal inside "
                         f"x {lo[0]:.2f}..{hi[0]:.2f}, y {lo[1]:.2f}..{hi[1]:.2f} m")
    steps = np.ceil(np.linalg.norm(np.diff(route, axis=0), axis=1) / spacing).astype(int)
    points = np.concatenate([a + np.linspace(0.0, 1.0, n + 1)[:, None] * (b - a)
                             for a, b, n in zip(route[:-1], route[1:], steps)])
    blocked = np.flatnonzero(~traversable(terrain, points, clearance=0.0))
    if len(blocked):
        x, y = points[blocked[0]]
        raise ValueError(f"route is blocked at ({x:.2f}, {y:.2f}): the ground there is too steep or has a step "
                         "too high to walk; plan around it, or leave out the path to use the planned route")
    return path


def run_batch(controllers, progress=False, batch=32, lanes=None):
    """Run many characters until all stop, up to `batch` at a time: when one stops, the next waiting one
    takes its place, so the network batch stays full. Returns their Results in order.

    The running characters are dealt into `lanes` (default: one per CPU core when each gets at least 8) that
    run in parallel threads with one torch thread each. A step's numpy work after the network (checks, foot
    locking) holds the GIL and uses one core; with lanes, another lane's network pass uses the other core
    meanwhile. A character's motion depends on its batch-mates only through floating-point rounding.
    The characters must share one model and the settings of the shared step (config.BATCH_SETTINGS); a mix
    is refused (ValueError naming the settings that differ) before anything runs.
    """
    from tqdm import tqdm

    if controllers:
        shared_setup(controllers)
    if lanes is None:
        lanes = max(1, min(os.cpu_count() or 1, min(batch, len(controllers)) // 8))
    slots = max(1, batch // lanes)
    threads = torch.get_num_threads()
    with tqdm(total=len(controllers), unit="char", disable=not progress, desc="characters") as bar:
        def run(waiting):
            running = []
            while True:
                running = [c for c in running if not c.done]
                free = slots - len(running)
                running += waiting[:free]
                del waiting[:free]
                if not running:
                    return
                advance(running)
                bar.n = sum(c.done for c in controllers)
                bar.refresh()

        if lanes == 1:
            run(list(controllers))
        else:
            # A lane waiting for the GIL to launch its next network op waits out the other lane's Python time
            # slice (5 ms by default); shorter slices keep the network lanes busy.
            switch = sys.getswitchinterval()
            torch.set_num_threads(1)
            sys.setswitchinterval(2e-4)
            try:
                with ThreadPoolExecutor(lanes) as pool:
                    list(pool.map(run, [list(controllers[i::lanes]) for i in range(lanes)]))  # re-raises errors
            finally:
                torch.set_num_threads(threads)
                sys.setswitchinterval(switch)
    return [c.result() for c in controllers]
