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

import contextlib
import sys
import time
from dataclasses import dataclass

import numpy as np

from sim.bullet.balls import BALL_COLOURS, DROP_AHEAD, TERRAIN_FRICTION, TERRAIN_RESTITUTION, add_ball, ball_spawns
from sim.bullet.scene import PHYSICS_HZ, TARGET_DROP, Camera, p
from terrain import numbers

MAX_LAG = 0.25  # s behind the wall clock before the real-time schedule restarts from now
MAX_SECONDS = 86_400.0  # s of simulated time a run may be given (the controller's time limit ends it sooner)
STATUS_EVERY = 0.5  # s of wall time between status line updates
SWITCH_INTERVAL = 0.001  # s: the GIL is handed over this often while the loop runs (Python's default 5 ms)


@dataclass
class LoopStats:
    """What a SimulationLoop.run did. Rates are per second of wall time, over the whole run."""

    simulated_seconds: float  # physics_steps / PHYSICS_HZ
    wall_seconds: float  # from the first pose to the end (the buffer filling before it is startup_seconds)
    physics_steps: int
    poses: int  # motion frames shown
    physics_hz: float  # achieved physics steps per wall second
    pose_hz: float  # achieved poses per wall second
    underruns: int  # frames the streams did not have ready when the loop asked (BufferedStream.underruns), all
    wait_seconds: float  # time spent waiting for them
    resyncs: int  # times the loop fell more than MAX_LAG s behind the wall clock and gave the time up
    stopped: str  # "seconds", "stream_end", "window_closed" or "interrupted"
    ball_positions: np.ndarray  # (N, 3) m at the end; NaN for balls not dropped yet
    startup_seconds: float = 0.0  # waiting for the buffer to fill before the clock started
    video_frames: int = 0
    controller_status: str | None = None  # the controller's stop reason (None: still going), from simulate()
    generated_seconds: float | None = None  # motion the controller generated, shown or still buffered (a crowd:
    # the character furthest ahead's)
    characters: int = 1
    underruns_per_character: tuple = ()

    @property
    def realtime_factor(self):
        return self.simulated_seconds / max(self.wall_seconds, 1e-9)

    def summary(self):
        balls = np.isfinite(self.ball_positions).all(-1).sum()
        crowd = f"{self.characters} characters: " if self.characters > 1 else ""
        return (
            f"{crowd}{self.simulated_seconds:.2f} s simulated in {self.wall_seconds:.2f} s of wall time "
            f"({self.realtime_factor:.2f}x real time) after {self.startup_seconds:.1f} s filling the buffer; "
            f"physics {self.physics_hz:.1f} Hz ({self.physics_steps} steps), poses {self.pose_hz:.1f} Hz "
            f"({self.poses}); underruns {self.underruns} ({self.wait_seconds:.2f} s waiting), resyncs "
            f"{self.resyncs}; {balls} of {len(self.ball_positions)} balls dropped; stopped: {self.stopped}"
        )


@dataclass
class _Run:
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
    last_status: tuple = (0.0, 0, 0)  # (wall time, steps, poses) at the last status update
    video: object = None  # a sim.bullet.render.VideoRecorder when recording
    bar: object = None  # the tqdm status bar when progress is on


class SimulationLoop:
    """Stream frames into `scene` (a sim.bullet.scene.Scene) while stepping its physics at PHYSICS_HZ.

    stream: anything with next_frame() -> Frame or None (a BufferedStream; its underruns and wait_seconds
    are reported), or a list of them, one per humanoid of the scene (a crowd: CrowdStream.streams; a
    character whose stream has ended keeps its last pose until every stream has), shown at `fps`
    (PHYSICS_HZ / fps must be a whole number of steps). balls: BallSpawns. realtime: keep physics in step
    with the wall clock (else as fast as possible). camera: a Camera whose follow filter aims the GUI window
    (a p.GUI scene) and the video, at the first character. video: an .mp4/.gif path to record every
    `video_every`-th pose to, `video_size` (width, height) pixels. progress: a status line on stderr.
    prefill: before the clock starts, wait until each stream's buffer is full (or its generator is done).
    run() closes the streams when it ends, so no generator thread outlives the loop.
    """

    def __init__(
        self,
        scene,
        stream,
        fps=30.0,
        balls=(),
        realtime=True,
        camera=None,
        video=None,
        video_every=4,
        video_size=(480, 360),
        progress=False,
        prefill=True,
    ):
        steps = PHYSICS_HZ / fps
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise ValueError(f"the motion's {fps:g} fps must divide the {PHYSICS_HZ:g} Hz physics rate")
        if video_every < 1:
            raise ValueError(f"video_every must be at least 1 pose, got {video_every}")
        if video is not None:
            from sim.bullet.render import _check_output, check_size
            from sim.formats.preview import check_video_fps

            _check_output(video)
            check_size(*video_size)
            check_video_fps(fps / video_every)
        self.streams = list(stream) if isinstance(stream, (list, tuple)) else [stream]
        if len(self.streams) != scene.characters:
            raise ValueError(f"{len(self.streams)} streams for a scene of {scene.characters} characters")
        self.scene, self.fps = scene, float(fps)
        self._shown = [None] * len(self.streams)  # each character's current frame
        self._targets = [None] * len(self.streams)  # and its Scene.pose_targets
        self.steps_per_pose = int(round(steps))
        self.spawns = list(balls)
        self.balls = [None] * len(self.spawns)  # body ids once dropped
        self.realtime, self.progress, self.prefill = realtime, progress, prefill
        self.camera = camera or Camera()
        self.gui = p.getConnectionInfo(physicsClientId=scene.client)["connectionMethod"] == p.GUI
        self.video_path, self.video_every, self.video_size = video, int(video_every), video_size
        self._target = None  # the camera's filtered target
        self._ran = False
        if self.spawns:
            p.changeDynamics(
                scene.terrain_body,
                -1,
                restitution=TERRAIN_RESTITUTION,
                lateralFriction=TERRAIN_FRICTION,
                physicsClientId=scene.client,
            )

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

    def _follow(self, root_pos):
        """Advance the camera's follow filter to the pelvis at root_pos; returns (target, distance)."""
        root_pos = np.asarray(root_pos, dtype=np.float64)
        if self._target is None or not self.camera.follow:
            targets, distance = self.camera.track(root_pos[None], self.fps, self.scene.terrain)
        else:  # Camera.track's filter, one step on from the previous target
            history = np.stack([self._target + [0.0, 0.0, TARGET_DROP], root_pos])
            targets, distance = self.camera.track(history, self.fps, self.scene.terrain)
        self._target = np.array(targets[-1])
        return self._target, distance

    def _aim_window(self, target, distance, first):
        c = self.scene.client
        if first:
            view = (distance, self.camera.yaw, self.camera.pitch)
        else:  # keep what the mouse made of the view
            yaw, pitch, dist = p.getDebugVisualizerCamera(physicsClientId=c)[8:11]
            view = (dist, yaw, pitch)
        p.resetDebugVisualizerCamera(*view, list(target), physicsClientId=c)

    def _wait_for_buffer(self):
        if not self.prefill:
            return
        for stream in self.streams:
            if not hasattr(stream, "finished"):
                continue
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
        run = _Run(limit=None if seconds is None else int(round(seconds * PHYSICS_HZ)), start=time.perf_counter())
        switch = sys.getswitchinterval()
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
            sys.setswitchinterval(switch)
            run.end = time.perf_counter()
            self._finish(run)
        return self._stats(run)

    def _prepare(self, run, seconds):
        """Fill the buffer, open the video and the status bar, and start the real-time clock."""
        if self.progress:
            print("filling the motion buffer...", file=sys.stderr, flush=True)
        self._wait_for_buffer()
        if self.video_path is not None:
            from sim.bullet.render import VideoRecorder

            run.video = VideoRecorder(
                self.video_path, self.fps / self.video_every, self.scene, self.camera, *self.video_size
            )
        if self.progress:
            from tqdm import tqdm

            run.bar = tqdm(
                total=seconds,
                unit="s",
                desc="",
                file=sys.stderr,
                bar_format="simulate {n:.1f}/{total:.1f} s |{bar}| {desc}" if seconds else "simulate {n:.1f} s {desc}",
            )
        sys.setswitchinterval(SWITCH_INTERVAL)
        run.clock = time.perf_counter()  # wall time at which the schedule's step 0 starts
        run.startup = run.clock - run.start
        run.last_status = (run.clock, 0, 0)

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
        if self.gui or run.video is not None:
            target, distance = self._follow(self._shown[0].root_pos)
            if self.gui:
                self._aim_window(target, distance, run.poses == 0)
            if run.video is not None and run.poses % self.video_every == 0:
                run.video.add(target, distance)
        run.poses += 1

    def _step_physics(self, run):
        """The physics steps of one pose, at most up to the time limit, each kept in real time."""
        n = self.steps_per_pose if run.limit is None else min(self.steps_per_pose, run.limit - run.steps)
        for _ in range(n):
            p.stepSimulation(physicsClientId=self.scene.client)
            # A humanoid's base is fixed but its joints are free: a step of gravity and contacts moves its
            # limbs (by up to 0.5 rad over 8 steps), so the pose is restored after each.
            for i, targets in enumerate(self._targets):
                self.scene.apply_pose(targets, character=i)
            run.steps += 1
            if self.realtime:
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
        if run.bar is None or now - run.last_status[0] < STATUS_EVERY:
            return
        dt = now - run.last_status[0]
        going = [s for s in self.streams if not getattr(s, "finished", False)] or self.streams
        buffered = min(getattr(stream, "buffered", 0) for stream in going) / self.fps
        run.bar.set_description_str(
            f"physics {(run.steps - run.last_status[1]) / dt:.0f} Hz, poses {(run.poses - run.last_status[2]) / dt:.1f}"
            f" Hz, buffer {buffered:.1f} s, underruns {self._underruns()}",
            refresh=False,
        )
        run.bar.update(run.steps / PHYSICS_HZ - run.bar.n)
        run.last_status = (now, run.steps, run.poses)

    def _finish(self, run):
        """Close the status bar, the stream (its generator thread must not outlive the loop) and the video."""
        if run.bar is not None:
            run.bar.update(run.steps / PHYSICS_HZ - run.bar.n)
            run.bar.close()
        for stream in self.streams:
            if hasattr(stream, "close"):
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
            wait_seconds=sum(float(getattr(stream, "wait_seconds", 0.0)) for stream in self.streams),
            resyncs=run.resyncs,
            stopped=run.stopped,
            ball_positions=balls,
            startup_seconds=run.startup,
            video_frames=run.video.count if run.video else 0,
            characters=len(self.streams),
            underruns_per_character=tuple(int(getattr(stream, "underruns", 0)) for stream in self.streams),
        )

    def _underruns(self):
        return sum(int(getattr(stream, "underruns", 0)) for stream in self.streams)


def simulate(
    model,
    terrain,
    seed=0,
    config=None,
    balls=3,
    seconds=None,
    buffer_seconds=4.0,
    gui=False,
    realtime=True,
    video=None,
    video_every=4,
    video_size=(480, 360),
    camera=None,
    progress=True,
    characters=1,
):
    """Walk a character (or a crowd of `characters`) over `terrain` with the controller and show it in a running
    PyBullet world.

    model: a LoadedModel, a shipped model name or a checkpoint path. config: a ControllerConfig (default:
    its defaults). balls: how many balls to drop along the path ahead of the character. seconds: simulated
    seconds at most (the controller's time limit, the goal or a stall end it earlier). buffer_seconds: how
    far the generator runs ahead. gui: a PyBullet window (else headless p.DIRECT). Other arguments as for
    SimulationLoop. A crowd (controller/crowd.py: a formation walking from the start end to the goal end, each
    on its own planned path) is stepped together, one network call per step for all (CrowdStream); the balls
    drop along the first character's path, which the camera follows. Returns LoopStats with the controller's
    status (a crowd's: a count of each once all have stopped, e.g. "goal 14, stalled 2").
    """
    from sim.bullet.scene import Scene

    _check_simulate(terrain, seed, balls, seconds, buffer_seconds, video_every, characters)
    controllers, crowd, stream = _start_streams(model, terrain, seed, config, buffer_seconds, characters)
    controller = controllers[0]
    with contextlib.ExitStack() as stack:
        stack.callback((crowd or stream).close)  # whatever fails below, no generator thread outlives this
        spawns = ball_spawns(terrain, controller.path, balls, seed=seed)
        scene = stack.enter_context(Scene(terrain, controller.path, controller.goal, gui=gui, characters=characters))
        for other in controllers[1:]:
            scene.add_route(other.path, other.goal)
        loop = SimulationLoop(
            scene,
            stream,
            fps=controller.model.window.fps,
            balls=spawns,
            realtime=realtime,
            camera=camera,
            video=video,
            video_every=video_every,
            video_size=video_size,
            progress=progress,
        )
        stats = loop.run(seconds)
    stats.controller_status = _status(controllers)
    stats.generated_seconds = max(c.num_frames for c in controllers) / controller.model.window.fps
    return stats


def _check_simulate(terrain, seed, balls, seconds, buffer_seconds, video_every, characters):
    """ValueError naming the first of simulate()'s arguments that is out of range, before a model is loaded."""
    from controller.stream import BUFFER_RANGE
    from terrain.heightfield import Heightfield

    numbers.instance(terrain, Heightfield, "terrain", "a Heightfield (make_terrain, Heightfield.load)")
    numbers.seed(seed)
    numbers.whole(balls, "balls", 0)
    if seconds is not None:
        check_seconds(seconds)
    numbers.finite(buffer_seconds, "buffer_seconds", *BUFFER_RANGE)
    numbers.whole(video_every, "video_every", 1)
    numbers.whole(characters, "characters", 1)


def check_seconds(seconds):
    """ValueError unless `seconds` (of simulated time) is a finite number of at least one physics step."""
    numbers.finite(seconds, "seconds", 1.0 / PHYSICS_HZ, MAX_SECONDS)


def _start_streams(model, terrain, seed, config, buffer_seconds, characters):
    """The controllers, the CrowdStream (None for one character) and the stream(s) the loop pulls from; the
    generator starts filling its buffer at once, while the scene is built."""
    from controller.crowd import crowd_controllers
    from controller.path_controller import ControllerConfig, PathController
    from controller.stream import BufferedStream, CrowdStream

    config = config or ControllerConfig()
    if characters == 1:
        controller = PathController(model, terrain, config=config, seed=seed)
        return [controller], None, BufferedStream(controller, buffer_seconds)
    controllers = crowd_controllers(model, terrain, characters, config, seed=seed)
    crowd = CrowdStream(controllers, buffer_seconds)
    return controllers, crowd, crowd.streams


def _status(controllers):
    """The controllers' stop reason (None while any is still going): one's own, or a count of each, e.g.
    "goal 14, stalled 2"."""
    statuses = [c.status for c in controllers]
    if None in statuses:
        return None
    if len(statuses) == 1:
        return statuses[0]
    return ", ".join(f"{status} {statuses.count(status)}" for status in sorted(set(statuses)))
