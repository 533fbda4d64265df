"""`terrain-mdm play`: drive a character live in the PyBullet GUI (keys in sim/play/steering.py).

The character is a LiveController (controller/live.py) that a LiveCrowdStream generates a fraction of a second
ahead in a background thread; the loop below pulls its frames on a 30 fps wall-clock schedule, each iteration
taking the frames that are due and showing the last (a slow window, as with software OpenGL, shows fewer but
the motion keeps real time), reading the keys, following with the camera and redrawing one status line.
With several characters (controller/crowd.py) the keys drive the first and the others follow seeded random commands;
one background thread steps all of them with one network call per step.

World frame: Z up, metres, seconds; directions are radians of world yaw.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from controller.crowd import random_commands
from controller.follower import root_speed
from motion_model.body.motion import MAX_FRAMES
from sim.bullet.scene import FOLLOW_DISTANCE, Camera, p
from sim.bullet.viewer import Hud, wait_for_view
from sim.evaluation.metrics import penetration_depth
from sim.play.steering import KEY_HELP, Steering, camera_yaw_behind
from terrain.numbers import character_seed
from terrain.sdf import SignedDistance

MAX_LAG = 0.25  # s behind the frame schedule before it restarts from now (the character does not jump ahead)
STATUS_EVERY = 0.5  # s between status line updates: each redraw of a text costs a window frame
SPEED_FRAMES = 10  # frames over which the shown speed is measured
CROWD_DISTANCE = 8.0  # m: the camera starts farther out when there are several characters
RANDOM_HORIZON = 3600.0  # s of random commands drawn for each of the other characters


@dataclass
class PlayResult:
    """What a play session did: per character the Motion since the last reset (None if no frame was shown)
    and its command log; the stream's underruns and its key-to-frame latencies (s); why it stopped ("escape",
    "window_closed", "interrupted" or "frame_limit": MAX_FRAMES recorded); the wall seconds played."""

    motions: list
    command_logs: list
    underruns: int
    latencies: list = field(default_factory=list)
    stopped: str = ""
    seconds: float = 0.0


class Player:
    """The play loop: `stream` (controller.live_stream.LiveCrowdStream) shown in `scene` (a p.GUI
    sim.bullet.scene.Scene with one humanoid per character). seed: of the other characters' random commands."""

    def __init__(self, scene, stream, seed=0, camera=None):
        self.scene, self.stream, self.seed = scene, stream, seed
        self.lives = stream.lives
        live = self.lives[0]
        self.fps = live.model.window.fps
        self.steering = Steering(live.settings.walk_speed, live.settings.run_speed)
        self.camera = camera or Camera(distance=FOLLOW_DISTANCE if len(self.lives) == 1 else CROWD_DISTANCE)
        self.client = scene.client
        # Every call into the window waits for a frame of it, and shadows double the drawing of one.
        p.configureDebugVisualizer(p.COV_ENABLE_SHADOWS, 0, physicsClientId=self.client)
        self.hud = Hud(self.client)
        self._sdf = SignedDistance(scene.terrain)  # built once: a second on a 40 m field
        self._recent = deque(maxlen=SPEED_FRAMES)  # root positions of character 0
        self._sent = None  # the last (direction, speed) sent for the keys
        self._target = None
        self._status_time = -math.inf
        self._restart()

    def _restart(self):
        """The state of a new session: after the start and after a reset."""
        self.steering.reset()
        self._sent = None
        self._recent.clear()
        settings = self.lives[0].settings
        self._schedules = [
            iter(random_commands(character_seed(self.seed, i), RANDOM_HORIZON, settings.walk_speed, settings.run_speed))
            for i in range(1, len(self.lives))
        ]
        self._due = [next(s, None) for s in self._schedules]
        self._clock, self._shown = time.perf_counter(), 0

    def run(self):
        """Play until Esc, the window closing or Ctrl-C; returns the reason."""
        view = (self.camera.distance, camera_yaw_behind(self.lives[0].start_yaw), self.camera.pitch)
        start = self.lives[0].terrain.height(self.lives[0].start)
        p.resetDebugVisualizerCamera(*view, [*self.lives[0].start, float(start)], physicsClientId=self.client)
        wait_for_view(self.hud, view)
        print(f"playing: {KEY_HELP}", flush=True)
        self._clock = time.perf_counter()
        try:
            while True:
                if self.lives[0].frame_index >= MAX_FRAMES:
                    print(
                        f"stopped: {MAX_FRAMES} frames recorded since the start or the last reset, the most a "
                        f"motion file holds ({MAX_FRAMES / self.fps / 60:.0f} minutes)",
                        flush=True,
                    )
                    return "frame_limit"
                events = self._read_keys()
                decision = self.steering.update(events, self.hud.view().yaw)
                if decision.quit:
                    return "escape"
                if decision.reset:
                    self._reset()
                    continue
                self._decide_command(decision)
                frames = self._next_frames()
                self._pose(frames)
                self._follow_camera(frames[0])
                self._draw_status(frames[0], decision)
                self._pace()
        except KeyboardInterrupt:
            return "interrupted"
        except p.error:
            if self._connected():
                raise
            return "window_closed"  # closed during a call

    # -- the steps of one iteration ---------------------------------------------------------------------

    def _connected(self):
        return self.scene.client is not None and p.isConnected(physicsClientId=self.client)

    def _read_keys(self):
        """The keyboard events since the last call ({key: state}); p.error when the window was closed."""
        if not self._connected():
            raise p.error("the window was closed")
        return p.getKeyboardEvents(physicsClientId=self.client)

    def _decide_command(self, decision):
        """Send the keys' command to character 0 when it changed, and the others' random commands when due."""
        wanted = (decision.direction, decision.speed)
        if wanted != self._sent:
            self.stream.command(0, direction=decision.direction, speed=decision.speed)
            self._sent = wanted
        for i, due in enumerate(self._due, start=1):
            if due is not None and self.lives[i].frame_index / self.fps >= due.t:
                self.stream.command(i, direction=due.direction, speed=due.speed)
                self._due[i - 1] = next(self._schedules[i - 1], None)

    def _next_frames(self):
        """The frames due by the wall clock (at least one), each handed out; returns the last of each character."""
        due = int((time.perf_counter() - self._clock) * self.fps) + 1
        if due - self._shown > MAX_LAG * self.fps:  # a stall: carry on from now rather than race to catch up
            self._clock += (due - self._shown - 1) / self.fps
            due = self._shown + 1
        frames = None
        room = MAX_FRAMES - self.lives[0].frame_index  # at least 1 (run stops at the limit)
        for _ in range(max(1, min(due - self._shown, room))):
            frames = self.stream.next_frames()
            self._recent.append(np.asarray(frames[0].root_pos, dtype=np.float64))
        self._shown = max(due, self._shown + 1)
        return frames

    def _pose(self, frames):
        for i, frame in enumerate(frames):
            self.scene.pose(frame.root_pos, frame.root_quat, frame.joint_quat, frame.contacts, character=i)

    def _follow_camera(self, frame):
        """Aim the window at character 0 through the camera's follow filter, keeping the mouse's view."""
        self._target = self.camera.step(self._target, frame.root_pos, self.fps, self.scene.terrain).target
        distance, yaw, pitch = self.hud.view()
        p.resetDebugVisualizerCamera(distance, yaw, pitch, self._target.tolist(), physicsClientId=self.client)

    def _draw_status(self, frame, decision):
        now = time.perf_counter()
        if now - self._status_time < STATUS_EVERY:
            return
        self._status_time = now
        lines = [status_line(self._speed(), decision, self._penetration(frame), self.stream.underruns), KEY_HELP]
        if len(self.lives) > 1:
            lines.append(f"{len(self.lives)} characters: the keys drive the one the camera follows")
        self.hud.show(self._target, self.hud.view(), lines)

    def _pace(self):
        """Sleep until the next frame is due."""
        time.sleep(max(0.0, self._clock + self._shown / self.fps - time.perf_counter()))

    # -- helpers -----------------------------------------------------------------------------------------

    def _reset(self):
        for live in self.lives:
            live.reset()
        self._restart()
        self._target = None

    def _speed(self):
        """m/s of character 0's root over the recent frames (horizontal)."""
        if len(self._recent) < 2:
            return 0.0
        return root_speed(np.asarray(self._recent)[:, :2], self.fps)

    def _penetration(self, frame):
        """m: how deep character 0's body goes into the terrain in `frame`."""
        skeleton = self.scene.skeleton
        link_pos, link_rot = skeleton.fk(frame.root_pos[None], frame.root_quat[None], frame.joint_quat[None])
        return float(penetration_depth(skeleton.body_points(link_pos, link_rot), self.scene.terrain, self._sdf)[0])


def status_line(speed, decision, penetration, underruns):
    """The on-screen line: measured speed (m/s), the command (a Decision), penetration (m), underruns."""
    if decision.speed <= 0 or decision.direction is None:
        command = "stand"
    else:
        command = f"{decision.speed:.1f} m/s toward {math.degrees(decision.direction):+.0f} deg"
    return (
        f"speed {speed:.1f} m/s | command: {command} | penetration {1000 * penetration:.0f} mm | underruns {underruns}"
    )


def play_gui(model, terrain, config=None, seed=0, characters=1, lead=0.2):
    """Open the PyBullet window on `terrain` and play until Esc or the window closes. model: a LoadedModel;
    config: a LiveConfig; characters: how many (the first one keys drive). Returns a PlayResult."""
    from controller.crowd import crowd_starts
    from controller.live import LiveConfig, LiveController
    from controller.live_stream import LiveCrowdStream
    from sim.bullet.scene import Scene
    from terrain.planning import Room

    config = config or LiveConfig()
    starts = crowd_starts(terrain, characters)
    room = Room(terrain)  # one for all: building it costs up to 0.25 s on a 100-m field
    lives = [
        LiveController(model, terrain, config=config, seed=character_seed(seed, i), start=xy, room=room)
        for i, xy in enumerate(starts)
    ]
    stream = LiveCrowdStream(lives, lead)
    began = time.perf_counter()
    try:
        with Scene(terrain, gui=True, characters=characters) as scene:
            stopped = Player(scene, stream, seed=seed).run()
    finally:
        stream.close()
    return PlayResult(
        motions=[live.motion() if live.frame_index else None for live in lives],
        command_logs=[list(live.command_log) for live in lives],
        underruns=stream.underruns,
        latencies=list(stream.latencies),
        stopped=stopped,
        seconds=time.perf_counter() - began,
    )
