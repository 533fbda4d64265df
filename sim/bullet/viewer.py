"""Play a motion file in the PyBullet GUI at its true speed, with its metrics on screen.

Keys: space pause / play, right arrow or n one frame forward, left arrow or p one frame back (both pause),
+ and - double and halve the speed, r restart. Closing the window ends `run`. The camera follows the
character; the mouse still turns and zooms it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import time
from typing import NamedTuple

import numpy as np

from sim.bullet.render import on_ground
from sim.bullet.scene import Camera, DisplayError, Scene, p
from sim.evaluation.metrics import evaluate

SPEEDS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
UI_RATE = 60.0  # Hz, loop iterations per second of wall time

KEYS_PAUSE = (p.B3G_SPACE,)
KEYS_FORWARD = (p.B3G_RIGHT_ARROW, ord("n"))
KEYS_BACK = (p.B3G_LEFT_ARROW, ord("p"))
KEYS_FASTER = (ord("+"), ord("="))  # "+" is shift and "=" on most keyboards
KEYS_SLOWER = (ord("-"), ord("_"))
KEYS_RESTART = (ord("r"),)
KEY_HELP = "space pause, n/p or arrows step, +/- speed, r restart"

# Metrics shown: result key, label, format (definitions in the README's Metrics section).
SHOWN_METRICS = (
    ("penetration_mean_mm", "penetration mean", "{:.1f} mm"),
    ("penetration_max_mm", "penetration max", "{:.1f} mm"),
    ("float_mean_mm", "float", "{:.1f} mm"),
    ("skate_ratio", "skating", "{:.3f}"),
    ("sliding_ratio", "sliding", "{:.3f}"),
    ("jerk_m_s3", "jerk", "{:.0f} m/s3"),
    ("goal_dist_root_m", "goal distance", "{:.2f} m"),
)
TEXT_COLOUR = (0.05, 0.05, 0.05)
TEXT_SIZE = 1.2
HUD_CORNER = (-0.95, 0.9)  # window position of the first line, -1..1 from left to right and bottom to top
LINE_PIXELS = 18


class Playback:
    """Play position of a motion of `num_frames` frames at `fps`: time in seconds, pause, speed, and the
    key handling of the viewer (no GUI needed)."""

    def __init__(self, num_frames, fps):
        self.num_frames, self.fps = num_frames, fps
        self.time = 0.0
        self.paused = False
        self.speed_index = SPEEDS.index(1.0)

    @property
    def speed(self):
        return SPEEDS[self.speed_index]

    @property
    def frame(self):
        return min(int(round(self.time * self.fps)), self.num_frames - 1)

    @property
    def at_end(self):
        return self.frame == self.num_frames - 1

    def advance(self, wall_seconds):
        """Move on by `wall_seconds` of wall time at the current speed; pauses at the last frame."""
        if not self.paused:
            self.time = min(self.time + wall_seconds * self.speed, (self.num_frames - 1) / self.fps)
            self.paused = self.at_end

    def step(self, frames):
        self.paused = True
        self.time = min(max(self.frame + frames, 0), self.num_frames - 1) / self.fps

    def handle(self, events):
        """Apply the keys of a p.getKeyboardEvents() dict {key: state}: those just pressed."""
        for key, state in events.items():
            if not state & p.KEY_WAS_TRIGGERED:
                continue
            if key in KEYS_PAUSE:
                if self.paused and self.at_end:
                    self.time = 0.0
                self.paused = not self.paused
            elif key in KEYS_FORWARD:
                self.step(1)
            elif key in KEYS_BACK:
                self.step(-1)
            elif key in KEYS_FASTER:
                self.speed_index = min(self.speed_index + 1, len(SPEEDS) - 1)
            elif key in KEYS_SLOWER:
                self.speed_index = max(self.speed_index - 1, 0)
            elif key in KEYS_RESTART:
                self.time, self.paused = 0.0, False

    def status(self):
        """One line of state; while playing it shows whole seconds, so that it changes rarely (redrawing
        debug text is slow)."""
        end = (self.num_frames - 1) / self.fps
        if self.paused:
            return (
                f"paused at frame {self.frame} / {self.num_frames - 1}, {self.frame / self.fps:.2f} / "
                f"{end:.2f} s, speed {self.speed:g}x"
            )
        return f"playing at {self.speed:g}x, {int(self.time)} / {end:.1f} s"


def metric_lines(result):
    """Text lines of the SHOWN_METRICS of an evaluate() result; NaN (no goal, ...) shows as '-'."""
    return [
        f"{label}: {fmt.format(result[key]) if math.isfinite(result[key]) else '-'}"
        for key, label, fmt in SHOWN_METRICS
    ]


def check_display():
    """DisplayError unless an X display can be opened: PyBullet's GUI would end the whole process instead."""
    display = os.environ.get("DISPLAY")
    if not display:
        raise DisplayError(
            "no display (DISPLAY is not set): the viewer needs a window; run it under "
            "xvfb-run for a virtual one, or use `terrain-mdm render` for a video"
        )
    name = ctypes.util.find_library("X11")
    if name is None:
        return  # PyBullet loads libX11 itself and reports the failure
    x11 = ctypes.CDLL(name)
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    handle = x11.XOpenDisplay(display.encode())
    if not handle:
        raise DisplayError(
            f"cannot open the X display {display[:40]!r}: check DISPLAY, run it under xvfb-run for a virtual one, "
            "or use `terrain-mdm render` for a video"
        )
    x11.XCloseDisplay(handle)


def wait_for_view(hud, view, timeout=5.0):
    """Wait until the window has applied the camera `view` (distance, yaw, pitch) just set: until its next
    frame it reports the old one, which a following camera would write back."""
    deadline = time.perf_counter() + timeout
    while not np.allclose(hud.view(), view, atol=1e-3) and time.perf_counter() < deadline:
        time.sleep(0.02)


class View(NamedTuple):
    """A window camera's placement around its target, as PyBullet's resetDebugVisualizerCamera takes it."""

    distance: float  # m
    yaw: float  # degrees
    pitch: float  # degrees


class Hud:
    """Lines of text in the top left corner of a PyBullet window (client), kept there as the camera moves.

    Every debug text call waits for a frame of the window (0.2 s with software OpenGL), so the texts hang
    from a body that follows the camera target and are only re-added when they change or the mouse has
    turned (2 degrees) or zoomed (5 %) the camera. Texts only follow a body that has a visual shape: an
    invisible speck.
    """

    def __init__(self, client):
        self.client = client
        speck = p.createVisualShape(p.GEOM_SPHERE, radius=1e-3, rgbaColor=[0, 0, 0, 0], physicsClientId=client)
        self.body = p.createMultiBody(0, -1, speck, physicsClientId=client)
        self.texts = {}  # line number -> (text, item id)
        self._layout = None

    def view(self):
        """The window camera's View."""
        yaw, pitch, distance = p.getDebugVisualizerCamera(physicsClientId=self.client)[8:11]
        return View(distance=distance, yaw=yaw, pitch=pitch)

    def show(self, target, view, lines):
        """Show `lines` with the camera on `target` (3,) and at `view` (a View, as view() gives)."""
        c = self.client
        p.resetBasePositionAndOrientation(self.body, list(target), [0, 0, 0, 1], physicsClientId=c)
        relayout = self._layout is None or not np.allclose(self._layout[0], view, rtol=0.05, atol=2.0)
        if relayout or len(self._layout[1]) < len(lines):
            # Lines from the window's top left corner: screen offsets at the target's depth (distance).
            width, height, _, projection, _, _, right, up = p.getDebugVisualizerCamera(physicsClientId=c)[:8]
            right, up = (np.asarray(v) / np.linalg.norm(v) for v in (right, up))
            x, y = (view.distance * HUD_CORNER[i] / projection[5 * i] for i in range(2))
            line = view.distance * 2.0 * LINE_PIXELS / height / projection[5]
            self._layout = (view, [x * right + (y - i * line) * up for i in range(len(lines))])
            relayout = True
        for i, text in enumerate(lines):
            self._text(i, text, self._layout[1][i], relayout)

    def _text(self, line, text, offset, moved):
        old = self.texts.get(line)
        if old is not None and old[0] == text and not moved:
            return
        kwargs = {} if old is None else {"replaceItemUniqueId": old[1]}
        item = p.addUserDebugText(
            text,
            offset.tolist(),
            TEXT_COLOUR,
            TEXT_SIZE,
            parentObjectUniqueId=self.body,
            physicsClientId=self.client,
            **kwargs,
        )
        self.texts[line] = (text, item)


class Viewer:
    """The PyBullet GUI playing `motion` at wall-clock speed, over its terrain or else flat ground at z = 0.

    camera: sim.bullet.scene.Camera for the start view and the following (the mouse may turn and zoom it later).
    run() plays until the window is closed; use as a context manager or call close().
    """

    def __init__(self, motion, camera=None):
        check_display()
        self.camera = camera or Camera()
        self.metrics = metric_lines(evaluate(motion, flat_ground=True))
        self.motion = motion = on_ground(motion)
        self.targets, distance = self.camera.track(motion.root_pos, motion.fps, motion.terrain)
        self.playback = Playback(motion.num_frames, motion.fps)
        self.scene = Scene.for_motion(motion, gui=True)
        self.client = self.scene.client
        try:
            self._start(self.client, distance)
        except BaseException:
            self.close()
            raise

    def _start(self, c, distance):
        self.hud = Hud(c)
        self.scene.pose_frame(self.motion, 0)
        view = (distance, self.camera.yaw, self.camera.pitch)
        p.resetDebugVisualizerCamera(*view, list(self.targets[0]), physicsClientId=c)
        wait_for_view(self.hud, view)

    def _show(self, frame):
        self.scene.pose_frame(self.motion, frame)
        target = list(self.targets[frame])
        view = self.hud.view()
        if self.camera.follow:
            p.resetDebugVisualizerCamera(*view, target, physicsClientId=self.client)
        self.hud.show(target, view, [self.playback.status(), *self.metrics, KEY_HELP])

    def run(self, max_frames=None):
        """Play until the window is closed, or for `max_frames` loop iterations (at most UI_RATE per second).
        Returns the number of iterations run."""
        last = time.perf_counter()
        count = 0
        while (max_frames is None or count < max_frames) and p.isConnected(physicsClientId=self.client):
            try:
                self.playback.handle(p.getKeyboardEvents(physicsClientId=self.client))
                now = time.perf_counter()
                self.playback.advance(now - last)
                last = now
                self._show(self.playback.frame)
            except p.error:
                break  # the window was closed during the calls
            count += 1
            time.sleep(max(0.0, 1.0 / UI_RATE - (time.perf_counter() - now)))
        return count

    def close(self):
        self.scene.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def view(motion_file, camera=None):
    """`terrain-mdm view FILE`: play a motion file until the window is closed. Returns the exit status."""
    from motion_model.body.motion import Motion

    motion = Motion.load(motion_file)
    with Viewer(motion, camera) as viewer:
        viewer.run()
    return 0
