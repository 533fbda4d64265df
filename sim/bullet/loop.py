"""The simulator loop: motion streamed from the controller into a running PyBullet world, in real time.

Physics steps at PHYSICS_HZ (240 Hz); the character is kinematic and shows a new motion frame every
PHYSICS_HZ / fps physics steps (8 at 30 fps; the pose is re-applied after every step, as gravity would
otherwise swing its free joints), from a controller.stream.BufferedStream (for
a crowd, a CrowdStream's streams, one per character) that generates ahead in a background thread, so the loop
does not wait for the network once the buffer is full. Dynamic objects (balls) roll over the terrain and bounce
off the characters' links. In real time the loop sleeps so that
physics step k ends at wall time k / PHYSICS_HZ after the start; when it falls behind (a stream underrun, a
slow video frame) it runs the missed steps at once, and when it is more than MAX_LAG s behind it gives the
time up and restarts its schedule from now (a "resync").

World frame: Z up, metres, seconds (docs/architecture.md).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from sim.bullet.balls import BALL_COLOURS, DROP_AHEAD, TERRAIN_FRICTION, TERRAIN_RESTITUTION, add_ball
from sim.bullet.loop_stats import LoopStats
from sim.bullet.scene import PHYSICS_HZ, Camera, p
from terrain import numbers

MAX_LAG = 0.25  # s behind the wall clock before the real-time schedule restarts from now
MAX_SECONDS = 86_400.0  # s of simulated time a run may be given (the controller's time limit ends it sooner)
STATUS_EVERY = 0.5  # s of wall time between status line updates
# s: the loop expects the GIL to be handed over this often while it runs (Python's default 5 ms), so that the
# generator thread's network calls are not held up; its entry point sets it (motion_model.runtime.threads).
SWITCH_INTERVAL = 0.001


@dataclass(frozen=True)
class LoopSettings:
    """How a SimulationLoop runs. fps: of the motion (PHYSICS_HZ / fps must be a whole number of steps).
    realtime: keep physics in step with the wall clock (else as fast as possible). progress: a status line on
    stderr. prefill: before the clock starts, wait until each stream's buffer is full (or its generator is done)."""

    fps: float = 30.0
    realtime: bool = True
    progress: bool = False
    prefill: bool = True

    def __post_init__(self):
        steps = PHYSICS_HZ / self.fps
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise ValueError(f"the motion's {self.fps:g} fps must divide the {PHYSICS_HZ:g} Hz physics rate")

    @property
    def steps_per_pose(self):
        return int(round(PHYSICS_HZ / self.fps))


@dataclass(frozen=True)
class VideoOutput:
    """A video a SimulationLoop records: every `every`-th pose to `path` (.mp4 or .gif), `size` (width, height)
    pixels."""

    path: str | Path
    every: int = 4
    size: tuple[int, int] = (480, 360)

    def __post_init__(self):
        from sim.bullet.render import check_size, check_video_file

        if self.every < 1:
            raise ValueError(f"video_every must be at least 1 pose, got {self.every}")
        check_video_file(self.path)
        check_size(*self.size)


class StatusMark(NamedTuple):
    """Where the loop stood at the last status line update."""

    wall: float  # s, perf_counter
    steps: int
    poses: int


@dataclass
class _RunState:
    """The state of one SimulationLoop.run: counters, the real-time schedule, the video and the status bar."""

    limit: int | None  # physics steps, None: no limit
    start: float  # wall time run() began
    steps: int = 0
    poses: int = 0
    resyncs: int = 0
    stopped: str | None = None
    clock: float = 0.0  # wall time at which the schedule's step 0 starts (moved on by resyncs)
    startup: float | None = None  # seconds filling the buffer; None while it fills
    end: float = 0.0
    last_status: StatusMark = StatusMark(wall=0.0, steps=0, poses=0)
    gui: bool = False  # the scene is a p.GUI window, aimed at the first character
    video: object = None  # a sim.bullet.render.VideoRecorder when recording
    bar: object = None  # the tqdm status bar when progress is on


class SimulationLoop:
    """Stream frames into `scene` (a sim.bullet.scene.Scene) while stepping its physics at PHYSICS_HZ.

    streams: a controller.protocols.FrameStream (a BufferedStream; its underruns and wait_seconds are
    reported), or a list of them, one per humanoid of the scene (a crowd: CrowdStream.streams; a
    character whose stream has ended keeps its last pose until every stream has). settings: LoopSettings.
    balls: BallSpawns. camera: a Camera whose follow filter aims the GUI window (a p.GUI scene) and the video,
    at the first character. video: a VideoOutput to record. run() closes the streams when it ends, so no
    generator thread outlives the loop.
    """

    def __init__(self, scene, streams, settings=LoopSettings(), balls=(), camera=None, video=None):
        self.streams = list(streams) if isinstance(streams, (list, tuple)) else [streams]
        _check_fits(scene, self.streams, settings, video)
        self.scene, self.settings, self.video = scene, settings, video
        self.fps = float(settings.fps)
        self.camera = camera or Camera()
        self.spawns = list(balls)
        self.balls = [None] * len(self.spawns)  # body ids once dropped
        self._shown = [None] * len(self.streams)  # each character's current frame
        self._targets = [None] * len(self.streams)  # and its Scene.pose_targets
        self._target = None  # the camera's filtered target
        self._ran = False

    # -- pieces of one iteration -----------------------------------------------------------------------

    def _drop_balls(self, positions):
        """Drop the balls whose trigger any of the characters' root positions (N, 3) has reached."""
        for i, spawn in enumerate(self.spawns):
            if self.balls[i] is None and (
                spawn.trigger is None
                or np.linalg.norm(np.asarray(positions)[:, :2] - spawn.trigger, axis=-1).min() <= DROP_AHEAD
            ):
                self.balls[i] = add_ball(self.scene.client, spawn, BALL_COLOURS[i % len(BALL_COLOURS)])

    def ball_positions(self):
        """(N, 3) centres of the balls, NaN for those not dropped yet."""
        out = np.full((len(self.spawns), 3), np.nan)
        for i, body in enumerate(self.balls):
            if body is not None:
                out[i] = p.getBasePositionAndOrientation(body, physicsClientId=self.scene.client)[0]
        return out

    def _aim_window(self, target, distance, first):
        c = self.scene.client
        if first:
            view = (distance, self.camera.yaw, self.camera.pitch)
        else:  # keep what the mouse made of the view
            yaw, pitch, dist = p.getDebugVisualizerCamera(physicsClientId=c)[8:11]
            view = (dist, yaw, pitch)
        p.resetDebugVisualizerCamera(*view, list(target), physicsClientId=c)

    def _wait_for_buffer(self):
        if not self.settings.prefill:
            return
        for stream in self.streams:
            while stream.buffered < stream.capacity and not stream.finished:
                time.sleep(0.01)

    def _connected(self):
        return self.scene.client is not None and p.isConnected(physicsClientId=self.scene.client)

    # -- the loop ------------------------------------------------------------------------------------

    def run(self, seconds=None):
        """Run until `seconds` of simulated time (None: no limit), the end of the stream, the GUI window
        closing or Ctrl-C. Returns LoopStats. Closes the stream."""
        if self._ran:
            raise RuntimeError("a SimulationLoop runs once (its stream is closed at the end)")
        if seconds is not None:
            check_seconds(seconds)
        self._ran = True
        run = _RunState(limit=None if seconds is None else int(round(seconds * PHYSICS_HZ)), start=time.perf_counter())
        try:
            self._prepare(run, seconds)
            while self._wait_for_frames(run):
                self._pose_characters(run)
                self._step_physics(run)
                self._show_status(run)
        except KeyboardInterrupt:
            run.stopped = "interrupted"
        except p.error:
            if self._connected():
                raise
            run.stopped = "window_closed"  # the window was closed during a call
        finally:
            run.end = time.perf_counter()
            self._finish(run)
        return self._stats(run)

    def _prepare(self, run, seconds):
        """Make the terrain bouncy for the balls, fill the buffer, open the video and the status bar, and start
        the real-time clock."""
        c = self.scene.client
        run.gui = p.getConnectionInfo(physicsClientId=c)["connectionMethod"] == p.GUI
        if self.spawns:
            p.changeDynamics(
                self.scene.terrain_body,
                -1,
                restitution=TERRAIN_RESTITUTION,
                lateralFriction=TERRAIN_FRICTION,
                physicsClientId=c,
            )
        if self.settings.progress:
            print("filling the motion buffer...", file=sys.stderr, flush=True)
        self._wait_for_buffer()
        if self.video is not None:
            from sim.bullet.render import VideoRecorder

            run.video = VideoRecorder(
                self.video.path, self.fps / self.video.every, self.scene, self.camera, *self.video.size
            )
        if self.settings.progress:
            from tqdm import tqdm

            run.bar = tqdm(
                total=seconds,
                unit="s",
                desc="",
                file=sys.stderr,
                bar_format="simulate {n:.1f}/{total:.1f} s |{bar}| {desc}" if seconds else "simulate {n:.1f} s {desc}",
            )
        run.clock = time.perf_counter()  # wall time at which the schedule's step 0 starts
        run.startup = run.clock - run.start
        run.last_status = StatusMark(wall=run.clock, steps=0, poses=0)

    def _wait_for_frames(self, run):
        """Whether to go on, with the next frame of each character still going in self._shown; False with
        run.stopped set when time is up, every stream has ended or the window closed."""
        if run.limit is not None and run.steps >= run.limit:
            run.stopped = "seconds"
            return False
        fresh = [stream.next_frame() for stream in self.streams]
        if all(frame is None for frame in fresh):
            run.stopped = "stream_end"
            return False
        if not self._connected():
            run.stopped = "window_closed"
            return False
        self._shown = [old if new is None else new for old, new in zip(self._shown, fresh)]
        return True

    def _pose_characters(self, run):
        """Show the frames, drop the balls they reach, aim the window at the first character and record the
        video frame."""
        for i, frame in enumerate(self._shown):
            self._targets[i] = self.scene.pose_targets(frame.root_pos, frame.root_quat, frame.joint_quat)
            self.scene.apply_pose(self._targets[i], character=i)
            self.scene.show_contacts(frame.contacts, character=i)
        self._drop_balls([frame.root_pos for frame in self._shown])
        if run.gui or run.video is not None:
            aim = self.camera.step(self._target, self._shown[0].root_pos, self.fps, self.scene.terrain)
            self._target = aim.target
            if run.gui:
                self._aim_window(aim.target, aim.distance, run.poses == 0)
            if run.video is not None and run.poses % self.video.every == 0:
                run.video.add(aim.target, aim.distance)
        run.poses += 1

    def _step_physics(self, run):
        """The physics steps of one pose, at most up to the time limit, each kept in real time."""
        per_pose = self.settings.steps_per_pose
        n = per_pose if run.limit is None else min(per_pose, run.limit - run.steps)
        for _ in range(n):
            p.stepSimulation(physicsClientId=self.scene.client)
            # A humanoid's base is fixed but its joints are free: a step of gravity and contacts moves its
            # limbs (by up to 0.5 rad over 8 steps), so the pose is restored after each.
            for i, targets in enumerate(self._targets):
                self.scene.apply_pose(targets, character=i)
            run.steps += 1
            if self.settings.realtime:
                self._pace(run)

    @staticmethod
    def _pace(run):
        """Sleep until step run.steps is due; more than MAX_LAG s late, restart the schedule from now."""
        lag = time.perf_counter() - (run.clock + run.steps / PHYSICS_HZ)
        if lag > MAX_LAG:
            run.clock += lag
            run.resyncs += 1
        elif lag < 0:
            time.sleep(-lag)

    def _show_status(self, run):
        now = time.perf_counter()
        last = run.last_status
        if run.bar is None or now - last.wall < STATUS_EVERY:
            return
        dt = now - last.wall
        going = [s for s in self.streams if not s.finished] or self.streams
        buffered = min(stream.buffered for stream in going) / self.fps
        run.bar.set_description_str(
            f"physics {(run.steps - last.steps) / dt:.0f} Hz, poses {(run.poses - last.poses) / dt:.1f} Hz, buffer"
            f" {buffered:.1f} s, underruns {self._underruns()}",
            refresh=False,
        )
        run.bar.update(run.steps / PHYSICS_HZ - run.bar.n)
        run.last_status = StatusMark(wall=now, steps=run.steps, poses=run.poses)

    def _finish(self, run):
        """Close the status bar, the stream (its generator thread must not outlive the loop) and the video."""
        if run.bar is not None:
            run.bar.update(run.steps / PHYSICS_HZ - run.bar.n)
            run.bar.close()
        for stream in self.streams:
            stream.close()
        if run.video is not None:
            run.video.close()

    def _stats(self, run):
        if run.startup is None:  # stopped while the buffer was filling
            run.startup = run.end - run.start
        wall = run.end - run.start - run.startup
        balls = self.ball_positions() if self._connected() else np.full((len(self.spawns), 3), np.nan)
        return LoopStats(
            simulated_seconds=run.steps / PHYSICS_HZ,
            wall_seconds=wall,
            physics_steps=run.steps,
            poses=run.poses,
            physics_hz=run.steps / max(wall, 1e-9),
            pose_hz=run.poses / max(wall, 1e-9),
            underruns=self._underruns(),
            wait_seconds=sum(stream.wait_seconds for stream in self.streams),
            resyncs=run.resyncs,
            stopped=run.stopped,
            ball_positions=balls,
            startup_seconds=run.startup,
            video_frames=run.video.count if run.video else 0,
            characters=len(self.streams),
            underruns_per_character=tuple(stream.underruns for stream in self.streams),
        )

    def _underruns(self):
        return sum(stream.underruns for stream in self.streams)


def check_seconds(seconds):
    """ValueError unless `seconds` (of simulated time) is a finite number of at least one physics step."""
    numbers.finite(seconds, "seconds", 1.0 / PHYSICS_HZ, MAX_SECONDS)


def _check_fits(scene, streams, settings, video):
    """ValueError unless there is a stream for each character of the scene and the video's frame rate is in
    range."""
    if video is not None:
        from sim.formats.preview import check_video_fps

        check_video_fps(settings.fps / video.every)
    if len(streams) != scene.characters:
        raise ValueError(f"{len(streams)} streams for a scene of {scene.characters} characters")
