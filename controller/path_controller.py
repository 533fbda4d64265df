"""Autoregressive path following: chain 2-s diffusion segments along a planned path over terrain.

Each step, for every character still going: take its last committed frames as the previous state, express
everything in the frame of the last one, sample the local heightfield there, take the command of its path
follower (follower.py: the path ahead at the desired speed, slowing into corners and coming to rest on the
goal), sample `candidates` segments with DDIM in one batch (all characters together), check them against the
terrain's signed distance, keep the best, pin its stance feet, and commit its first `commit_frames` frames.
A character's episode ends standing still at the goal ("goal"), at the time limit, when it makes no progress
where it should move ("stalled"), or when it does not come to rest at the goal ("unsettled").
`PathController` is one character and its transitions; controller/step.py is the step for many at once.

World frame: Z up, metres, seconds; +X is the character's forward at rest; quaternions xyzw.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from controller.checks import check_against_model, check_arguments, check_length
from controller.conditions import condition_rows
from controller.config import ControllerConfig
from controller.follower import REST_SPEED, REST_TIME, trailing_speed
from controller.foot_lock import FootLock
from controller.frames import Frames
from controller.protocols import SteppedCharacter
from controller.route_plan import RouteRequest, plan_route
from controller.step import advance, shared_setup
from motion_model.body.motion import Motion
from motion_model.learner.checkpoint import LoadedModel, load_model
from motion_model.learner.condition import reference_frame
from motion_model.runtime import threads
from terrain import numbers
from terrain.polyline import Polyline
from terrain.stack import TerrainStack

# s: a lane waiting for the GIL to launch its next network op waits out the other lane's Python time slice
# (5 ms by default); shorter slices keep the network lanes busy.
LANE_SWITCH_INTERVAL = 2e-4


@dataclass
class Result:
    motion: Motion
    status: str  # "goal", "time_limit" or "stalled"
    segments: list  # per-segment diagnostics (dicts)
    wall_seconds: float

    @property
    def realtime_factor(self):
        return self.motion.duration / max(self.wall_seconds, 1e-9)


class PathController(SteppedCharacter):
    """One character following a path over a terrain with a motion diffusion model (a SteppedCharacter).

    model: a LoadedModel or a name/path for load_model. goal defaults to the terrain's goal pad, start to
    its start pad; path (P, 2) defaults to the terrain planner's route from start to goal. A given path is
    refused (ValueError) where it, or the straight line from its end to the goal, crosses ground the planner
    would not walk on (check_route): the model would walk into the obstacle rather than around it.
    heading: the facing at the start (rad, world yaw; default along the path). stops: speed_plan.Stop records,
    where to stand still on the way and for how long.
    keyframes: keyframes.Keyframe records, the root at a place (facing a way) at a time, visited in time order
    on the way to the goal; end_pose: an end_pose.EndPose to arrive in, whose place is the goal. With either,
    the route is planned through them (leave out path; an end pose also replaces goal), the follower's speed
    timed to meet them (timing.py) and they are imposed while each segment is sampled (inpaint.py); an
    impossible keyframe is refused (ValueError) before anything is generated. The route inputs are planned
    by route_plan.plan_route.
    """

    def __init__(
        self,
        model,
        terrain,
        goal=None,
        path=None,
        config=ControllerConfig(),
        seed=0,
        start=None,
        heading=None,
        stops=(),
        keyframes=(),
        end_pose=None,
    ):
        check_arguments(model, terrain, config, stops, keyframes, end_pose)
        seed = numbers.seed(seed)
        self.config = config.checked()
        self.model = model if isinstance(model, LoadedModel) else load_model(model)
        self.terrain = terrain
        check_against_model(config, self.model)
        check_length(config, self.model)
        request = RouteRequest(
            goal=goal, path=path, start=start, heading=heading, stops=stops, keyframes=keyframes, end_pose=end_pose
        )
        plan = plan_route(terrain, self.model, self.config, request)
        self.path, self.goal, self.start_yaw = plan.path, plan.goal, plan.start_yaw
        self.timing, self.inpainter = plan.timing, plan.inpainter
        self.known = None  # the Known parts of the next segment (ddim.Known), set by conditions()
        self.tracker = Polyline(self.path)
        self.generator = torch.Generator().manual_seed(seed)
        self.foot_lock = FootLock(terrain) if config.foot_lock else None
        self.chunks = []  # committed Frames, one per segment
        self.places = []  # (frames committed, m along the path) at each step: the follower's measured place
        self.segments = []
        self.status = None
        self.wall_seconds = 0.0
        self.follower = plan.follower(terrain, self.config, self.model.window)

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

    @property
    def step_config(self):
        """The settings its steps run with (SteppedCharacter): its config."""
        return self.config

    def condition(self):
        """(cond dict for one row, reference (xy (1, 2), yaw (1,), z (1,))) for the next segment."""
        cond, *ref = self.conditions([self])
        return cond, tuple(ref)

    @classmethod
    def conditions(cls, controllers):
        """The network's condition dict, one row per controller, for the controllers' next segments, and their
        reference frames: xy (B, 2), yaw (B,), z (B,). A controller without frames starts cold: standing on its
        start pad, facing along its path. Each controller's follower plans its command (its place is recorded);
        the rest runs for all at once (conditions.condition_rows)."""
        window = controllers[0].model.window
        terrains = TerrainStack.of([c.terrain for c in controllers])
        n = len(controllers)
        ref_xy, ref_yaw, ref_z = np.zeros((n, 2)), np.zeros(n), np.zeros(n)
        recents = [c.last_frames(window.n_prev) for c in controllers]
        warm = [i for i, recent in enumerate(recents) if recent is not None]
        for i, c in enumerate(controllers):
            if recents[i] is None:
                ref_xy[i], ref_yaw[i], ref_z[i] = c.path[0], c.start_yaw, c.terrain.height(c.path[0])
        if warm:
            last = Frames.stack([recents[i][-1:] for i in warm])
            ref_xy[warm], ref_yaw[warm], ref_z[warm] = reference_frame(
                last.root_pos[:, 0], last.root_quat[:, 0], terrains.rows(warm)
            )
        commands = []
        for i, c in enumerate(controllers):
            if c.timing:
                c.timing.retime(c.follower, ref_xy[i])
            commands.append(c.follower.command(ref_xy[i], float(ref_yaw[i])))
            c.places.append((c.num_frames, c.follower.place))
            if c.inpainter:
                here = (ref_xy[i], float(ref_yaw[i]), float(ref_z[i]))
                c.known = c.inpainter.known(c.num_frames, here, c.follower)
        cond = condition_rows(controllers[0].model, terrains, ref_xy, ref_yaw, ref_z, recents, commands)
        return cond, ref_xy, ref_yaw, ref_z

    def motion(self):
        """Everything committed so far as a Motion with the terrain, path and goal."""
        if not self.chunks:
            raise ValueError("nothing generated yet: call step() first")
        return Frames.concatenate(self.chunks).motion(
            self.model.window.fps, terrain=self.terrain, path=self.path, goal=self.goal
        )

    def progress(self):
        """Arc length (m) along the path of the last committed root position."""
        return float(self.tracker.arc_length(self.chunks[-1].root_pos[-1, :2])) if self.chunks else 0.0

    def frames_to_commit(self):
        """How many frames of the next segment to keep: commit_frames, or goal_approach_frames once the goal is
        within a segment's reach (shorter steps re-aim at the goal more often instead of walking past it); more
        where a keyframe would otherwise fall just after them (Inpainter.commit_frames)."""
        config = self.config
        reach = config.speed * config.commit_frames / self.model.window.fps
        count = config.commit_frames
        if self.tracker.length - self.progress() < reach:
            count = min(config.commit_frames, config.goal_approach_frames)
        return self.inpainter.commit_frames(self.num_frames, count) if self.inpainter else count

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

    def commit(self, frames: Frames, diagnostics):
        """Append a segment's frames (feet already locked), up to the first at which the episode ends at the goal,
        move the follower's plan on, and update the status; returns the appended frames as a Motion (no
        terrain). diagnostics: the segment's entry of Result.segments; its "seconds" (the segment's share of
        the step's wall time) add to wall_seconds."""
        self.follower.advance(len(frames))
        rest = self._end_at_goal(frames)
        chunk = frames[: rest + 1] if rest is not None else frames
        self.chunks.append(chunk)
        self.segments.append(diagnostics)
        self.wall_seconds += diagnostics["seconds"]
        self.status = "goal" if rest is not None else self._time_limit_or_stall()
        return chunk.motion(self.model.window.fps)

    def _end_at_goal(self, frames):
        """The first of `frames` (not yet committed) at which the root has stood still (slower than REST_SPEED
        over the last REST_TIME) within goal_radius of the goal, once the plan has come to rest there; None if
        there is none."""
        fps = self.model.window.fps
        near = np.linalg.norm(frames.root_pos[:, :2] - self.goal, axis=-1) < self.config.goal_radius
        if self.follower.goal_time is None:
            return None
        before = self.last_frames(int(round(REST_TIME * fps)))
        xy = (
            frames.root_pos[:, :2]
            if before is None
            else np.concatenate([before.root_pos[:, :2], frames.root_pos[:, :2]])
        )
        hits = np.flatnonzero(near & (trailing_speed(xy, fps)[-len(frames) :] < REST_SPEED))
        if self.inpainter:  # not before the end pose is imposed in full
            hits = hits[hits >= self.inpainter.end_frame(self.follower) - self.num_frames]
        return int(hits[0]) if len(hits) else None

    def _time_limit_or_stall(self):
        """ "time_limit", "unsettled" or "stalled" if the motion so far ends the episode that way, else None."""
        fps = self.model.window.fps
        now = self.num_frames / fps
        if now >= self.config.time_limit:
            return "time_limit"
        plan = self.follower.state  # its clock is the committed motion's
        if self.follower.goal_time is not None:
            return "unsettled" if plan.t - self.follower.goal_time >= self.config.stall_time else None
        window = int(self.config.stall_time * fps)
        # Only while the plan meant to move all along: standing at a stop or turning on the spot is no stall.
        # Progress by the follower's places, each searched near the last: a route that crosses or runs beside
        # itself would fool a projection onto the nearest segment of the whole path.
        if self.num_frames > window and plan.t - plan.held_at >= self.config.stall_time:
            frames_now, place_now = self.places[-1]
            earlier = [s for n, s in self.places if n <= frames_now - window]
            if earlier and place_now - earlier[-1] < self.config.stall_distance:
                return "stalled"
        return None


def run_batch(controllers, progress=False, batch=32, lanes=None):
    """Run many characters until all stop, up to `batch` at a time: when one stops, the next waiting one
    takes its place, so the network batch stays full. Returns their Results in order.

    The running characters are dealt into `lanes` (default_lanes) that run in parallel threads. A step's
    numpy work after the network (checks, foot locking) holds the GIL and uses one core; with lanes, another
    lane's network pass uses the other core meanwhile. With more than one lane it expects one torch thread
    and a short switch interval, which it does not set itself (they are process-wide): run it within
    lane_threads(lanes). A character's motion depends on its batch-mates only through floating-point rounding.
    The characters must share one model and the settings of the shared step (config.BATCH_SETTINGS); a mix
    is refused (ValueError naming the settings that differ) before anything runs.
    """
    from tqdm import tqdm

    numbers.instance(controllers, (list, tuple), "controllers", "a list of PathControllers")
    for controller in controllers:
        numbers.instance(controller, PathController, "controllers", "a list of PathControllers (one is not)")
    batch = numbers.whole(batch, "batch", 1)
    if controllers:
        shared_setup(controllers)
    if lanes is None:
        lanes = default_lanes(len(controllers), batch)
    lanes = numbers.whole(lanes, "lanes", 1, batch)  # each lane runs batch // lanes characters at a time
    slots = max(1, batch // lanes)
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
            with ThreadPoolExecutor(lanes) as pool:
                list(pool.map(run, [list(controllers[i::lanes]) for i in range(lanes)]))  # re-raises errors
    return [c.result() for c in controllers]


def default_lanes(count, batch):
    """run_batch's lanes for `count` characters `batch` at a time: one per CPU core when each gets at least 8."""
    return max(1, min(os.cpu_count() or 1, min(batch, count) // 8))


def lane_threads(lanes):
    """The process settings run_batch's `lanes` expect, for the entry point that calls it to enter: with more
    than one lane, one torch thread (each lane runs its own network pass) and LANE_SWITCH_INTERVAL; with one,
    nothing changed."""
    if lanes == 1:
        return contextlib.nullcontext()
    return threads(torch_threads=1, switch_interval=LANE_SWITCH_INTERVAL)
