"""Autoregressive path following: chain 2-s diffusion segments along a planned path over terrain.

Each step, for every character still going: take its last committed frames as the previous state, express
everything in the frame of the last one, sample the local heightfield there, aim the target at a point
ahead on the path, sample `candidates` segments with DDIM in one batch (all characters together), check
them against the terrain's signed distance, keep the best, pin its stance feet, and commit its first
`commit_frames` frames. A character stops at the goal, at the time limit, or when it makes no progress.

World frame: Z up, metres, seconds; +X is the character's forward at rest; quaternions xyzw.
"""
from __future__ import annotations

import copy
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
import yaml

from controller.collision import CheckConfig, score_candidates
from controller.foot_lock import FootLock
from controller.seam import blend_seam
from motion_model.checkpoint import LoadedModel, load_model
from motion_model.dataset import make_condition, reference_frame
from motion_model.ddim import sample
from motion_model.features import features_to_motion, motion_to_features
from motion_model.legs import FOOT_LINKS, leg_ik
from motion_model.motion import Motion
from motion_model.network import autocast
from motion_model.skeleton import Skeleton
from terrain.planning import plan_path
from terrain.polyline import Polyline


@dataclass(frozen=True)
class ControllerConfig:
    ddim_steps: int = 3  # denoising steps per segment
    commit_frames: int = 60  # frames of each 2-s segment that are kept before generating the next
    goal_approach_frames: int = 30  # frames kept per segment once the goal is within a segment's reach
    candidates: int = 1  # segments sampled per character and step, ranked by the collision check
    max_retries: int = 0  # new batches of candidates when none passes the check
    speed: float = 1.2  # desired speed, m/s (a walk; 2.5-3.8 asks for a run)
    goal_radius: float = 0.5  # m: stop when the root or a foot is this close to the goal
    time_limit: float = 120.0  # s of motion
    stall_time: float = 8.0  # s without stall_distance of progress along the path ends the episode
    stall_distance: float = 0.5  # m
    foot_lock: bool = True  # pin stance feet to the terrain (see foot_lock.py)
    seam_frames: int = 8  # frames over which a new segment's first-frame mismatch fades out (see seam.py)
    precision: str = "auto"  # "auto", "bf16" or "fp32" for the network
    guidance: dict = field(default_factory=dict)  # classifier-free guidance scale per condition
    check: CheckConfig = CheckConfig()

    @classmethod
    def from_dict(cls, values):
        values = dict(values or {})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown controller settings {sorted(unknown)}; known: {[f.name for f in fields(cls)]}")
        if "check" in values:
            unknown = set(values["check"]) - {f.name for f in fields(CheckConfig)}
            if unknown:
                raise ValueError(f"unknown check settings {sorted(unknown)}; known: {[f.name for f in fields(CheckConfig)]}")
            values["check"] = CheckConfig(**values["check"])
        return cls(**values)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls.from_dict(yaml.safe_load(f))

    def to_dict(self):
        return asdict(self)


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
    its start pad; path (P, 2) defaults to the terrain planner's route from start to goal.
    """

    def __init__(self, model, terrain, goal=None, path=None, config=ControllerConfig(), seed=0, start=None):
        self.model = model if isinstance(model, LoadedModel) else load_model(model)
        self.terrain = terrain
        self.config = config
        window = self.model.window
        for name in ("commit_frames", "goal_approach_frames"):
            if not window.n_prev <= getattr(config, name) <= window.frames:
                raise ValueError(f"{name} must be between the model's {window.n_prev} previous frames and its "
                                 f"{window.frames}-frame segment, got {getattr(config, name)}")
        start = np.asarray(terrain.start if start is None else start, dtype=np.float64)
        goal = np.asarray(terrain.goal if goal is None else goal, dtype=np.float64)
        if start.shape != (2,) or goal.shape != (2,):
            raise ValueError("start and goal must be world xy pairs (the terrain has no pads to default to)")
        self.path = plan_path(terrain, start=start, goal=goal) if path is None else np.asarray(path, float)
        self.goal = goal
        self.tracker = Polyline(self.path)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.foot_lock = FootLock(terrain) if config.foot_lock else None
        self.chunks = []  # committed (root_pos, root_quat, joint_quat, contacts) arrays
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
        return sum(len(c[0]) for c in self.chunks)

    def _recent(self, n):
        """The last n committed frames (fewer at the start) as four arrays; None before the first."""
        if not self.chunks:
            return None
        chunks, count = [], 0
        for chunk in reversed(self.chunks):  # only the chunks needed: episodes grow to thousands of frames
            chunks.insert(0, chunk)
            count += len(chunk[0])
            if count >= n:
                break
        return [np.concatenate([c[k] for c in chunks])[-n:] for k in range(4)]

    def condition(self):
        """(cond dict for one row, reference (xy, yaw, z)) for the next segment."""
        window = self.model.window
        if not self.chunks:  # cold start: standing on the start pad, facing along the path
            ref_xy, ref_yaw = self.path[0], self.start_yaw
            ref_z = float(self.terrain.height(ref_xy))
            prev = None
        else:
            root_pos, root_quat, joint_quat, contacts = self._recent(window.n_prev)
            ref_xy, ref_yaw, ref_z = reference_frame(root_pos[-1], root_quat[-1], self.terrain)
            features = motion_to_features(root_pos, root_quat, joint_quat, contacts, ref_xy, ref_yaw, ref_z)
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
        arrays = [np.concatenate([c[k] for c in self.chunks]) for k in range(4)]
        return Motion(self.model.window.fps, *arrays, terrain=self.terrain, path=self.path, goal=self.goal)

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

    def progress(self):
        """Arc length (m) along the path of the last committed root position."""
        return float(self.tracker.arc_length(self.chunks[-1][0][-1, :2])) if self.chunks else 0.0

    def _frames_to_commit(self):
        """commit_frames, or goal_approach_frames once the goal is within a segment's reach: shorter steps
        re-aim at the goal more often instead of walking past it."""
        config = self.config
        reach = config.speed * config.commit_frames / self.model.window.fps
        if self.tracker.length - self.progress() < reach:
            return min(config.commit_frames, config.goal_approach_frames)
        return config.commit_frames

    def _commit(self, root_pos, root_quat, joint_quat, contacts, link_pos, diagnostics):
        """Append frames (feet already locked); link_pos (T, 15, 3) from before foot locking, which moves a
        foot by centimetres at most, is close enough to stop at the first frame that reaches the goal."""
        fps = self.model.window.fps
        near = np.minimum(np.linalg.norm(root_pos[:, :2] - self.goal, axis=-1),
                          np.linalg.norm(link_pos[:, list(FOOT_LINKS), :2] - self.goal, axis=-1).min(-1))
        reached = np.flatnonzero(near < self.config.goal_radius)
        end = reached[0] + 1 if len(reached) else len(root_pos)
        chunk = (root_pos[:end], root_quat[:end], joint_quat[:end], contacts[:end])
        self.chunks.append(chunk)
        self.segments.append(diagnostics)
        if len(reached):
            self.status = "goal"
        elif self.num_frames / fps >= self.config.time_limit:
            self.status = "time_limit"
        else:
            window = int(self.config.stall_time * fps)
            if self.num_frames > window:
                roots = self._recent(window + 1)[0]
                moved = self.tracker.arc_length(roots[-1, :2]) - self.tracker.arc_length(roots[-window - 1, :2])
                if moved < self.config.stall_distance:
                    self.status = "stalled"
        return Motion(fps, *chunk)


def advance(controllers):
    """One step for every controller still going, with one network call per attempt for all of them.

    Everything after the network (rotations, seams, checks, forward kinematics) runs on arrays of all
    characters at once; only the terrain queries and foot locking go character by character. The
    controllers must share a model and config. Returns the committed segment (Motion) of each controller in
    order (None for those already done).
    """
    active = [c for c in controllers if not c.done]
    out = {id(c): None for c in controllers}
    if not active:
        return [None] * len(controllers)
    start = time.perf_counter()
    model, config = active[0].model, active[0].config
    skeleton = Skeleton.load()
    k, commit, n = config.candidates, config.commit_frames, len(active)
    conds, refs = zip(*(c.condition() for c in active))
    ref_xy, ref_yaw, ref_z = (np.concatenate([r[i] for r in refs])[:, None] for i in range(3))  # (B, 1, ...)
    # The last two committed frames of each character: where a new segment must start (seam) and the
    # body at the seam (its jump is scored); the same for every attempt.
    tails = [c._recent(2) for c in active]
    with_tail = np.array([t is not None for t in tails])
    tail = [np.stack([t[i] for t in tails if t is not None]) for i in range(3)] if with_tail.any() else None
    last_links = [None] * n
    if tail is not None:
        for i, links in zip(np.flatnonzero(with_tail), skeleton.fk(tail[0][:, 1], tail[1][:, 1], tail[2][:, 1])[0]):
            last_links[i] = links
    best = [None] * n
    pending = np.arange(n)
    for attempt in range(config.max_retries + 1):
        cond = _stack_conditions([conds[i] for i in pending], k)
        noise = torch.cat([torch.randn((k, model.window.frames, model.network.config.features),
                                       generator=active[i].generator) for i in pending])
        with autocast(config.precision):
            # A copy of the schedule: it holds one sampling run's timesteps, and lanes sample concurrently.
            x0 = sample(model.network, cond, copy.copy(model.schedule), config.ddim_steps, guidance=config.guidance,
                        noise=noise)
        features = model.normalizer.denormalize(x0.float()).numpy().astype(np.float64)
        features = features.reshape((len(pending), k) + features.shape[1:])[:, :, :commit]
        root_pos, root_quat, joint_quat, contacts = features_to_motion(
            features, ref_xy[pending], ref_yaw[pending], ref_z[pending])
        seam = with_tail[pending]
        if seam.any():
            rows = np.searchsorted(np.flatnonzero(with_tail), pending[seam])  # their rows in `tail`
            root_pos[seam], root_quat[seam], joint_quat[seam] = blend_seam(
                *(t[rows][:, None] for t in tail), root_pos[seam], root_quat[seam], joint_quat[seam],
                config.seam_frames)
        scores = score_candidates([active[i].terrain for i in pending], [active[i].tracker.arc_length for i in pending],
                                  root_pos, root_quat, joint_quat, contacts, [last_links[i] for i in pending],
                                  config.check)
        cost = np.where(scores.passed, scores.cost, scores.cost + 1e3)  # a passing candidate beats any other
        still = []
        for row, i in enumerate(pending):
            j = int(cost[row].argmin())
            if best[i] is None or cost[row, j] < best[i][0]:
                frames = (root_pos[row, j], root_quat[row, j], joint_quat[row, j], contacts[row, j])
                best[i] = (cost[row, j], attempt, frames, {f: getattr(scores, f)[row, j] for f in SCORE_FIELDS})
            if not scores.passed[row].any():
                still.append(i)
        pending = np.array(still, dtype=int)
        if not len(pending):
            break
    root_pos, root_quat, joint_quat, contacts = (np.stack([b[2][i] for b in best]) for i in range(4))
    link_pos, link_rot = skeleton.fk(root_pos, root_quat, joint_quat)
    frames = [[a[i, :c._frames_to_commit()] for a in (root_pos, root_quat, joint_quat, contacts, link_pos, link_rot)]
              for i, c in enumerate(active)]
    if config.foot_lock:  # targets character by character (state, terrain), then one IK solve for all
        ankles, foot_rots = zip(*(c.foot_lock.targets(*f[:4], f[4:]) for c, f in zip(active, frames)))
        solved = leg_ik(skeleton, *(np.concatenate(a) for a in ([f[0] for f in frames], [f[1] for f in frames],
                                                                [f[2] for f in frames], ankles, foot_rots)))
        for f, joints in zip(frames, np.split(solved, np.cumsum([len(f[0]) for f in frames])[:-1])):
            f[2] = joints
    seconds = (time.perf_counter() - start) / n
    for i, c in enumerate(active):
        attempt, score = best[i][1], best[i][3]
        diagnostics = {"attempts": attempt + 1, "passed": bool(score["passed"]), "fallback": not score["passed"],
                       "depth_max_mm": float(score["depth_max"] * 1000),
                       "depth_mean_mm": float(score["depth_mean"] * 1000),
                       "foot_error_mm": float(score["foot_error"] * 1000), "progress_m": float(score["progress"]),
                       "seam_mm": float(score["seam"] * 1000), "cost": float(score["cost"]), "seconds": seconds}
        c.wall_seconds += seconds
        out[id(c)] = c._commit(*frames[i][:5], diagnostics)
    return [out[id(c)] for c in controllers]


SCORE_FIELDS = ("depth_mean", "depth_max", "foot_error", "progress", "seam", "cost", "passed")


def _stack_conditions(conds, k):
    """Concatenate single-row condition dicts, each row repeated k times (candidates)."""
    keys = set().union(*(c.keys() for c in conds))
    stacked = {}
    for key in keys:
        if key == "prev":
            rows = [c["prev"] if "prev" in c else torch.zeros_like(next(x["prev"] for x in conds if "prev" in x))
                    for c in conds]
        else:
            rows = [c[key] for c in conds]
        stacked[key] = torch.cat(rows).repeat_interleave(k, 0)
    return stacked


def run_batch(controllers, progress=False, batch=32, lanes=None):
    """Run many characters until all stop, up to `batch` at a time: when one stops, the next waiting one
    takes its place, so the network batch stays full. Returns their Results in order.

    The running characters are dealt into `lanes` (default: one per CPU core when each gets at least 8) that
    run in parallel threads with one torch thread each. A step's numpy work after the network (checks, foot
    locking) holds the GIL and uses one core; with lanes, another lane's network pass uses the other core
    meanwhile. A character's motion depends on its batch-mates only through floating-point rounding.
    """
    from tqdm import tqdm

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
