"""Several live characters on one terrain for `terrain-mdm play --characters N`: where they start, the seeded
random commands of the ones no key drives, and a stream that generates them all ahead in one background
thread, the characters short of frames stepped together with one network call.

World frame: Z up, metres, seconds, radians of world yaw.
"""

from __future__ import annotations

import math
import threading
import time
import weakref

import numpy as np

from terrain.planning import traversable

SPACING = 1.5  # m between neighbouring starts
RANDOM_INTERVAL = (1.0, 3.0)  # s between random command changes
RANDOM_SPEEDS = ("stop", "walk", "walk", "run")  # drawn uniformly: half the changes walk


def crowd_starts(terrain, count, spacing=SPACING):
    """World xy (count, 2) of `count` starts: the terrain's start and the nearest points of a `spacing` m grid
    around it on traversable ground, nearest first. ValueError when the terrain has too little room."""
    centre = np.asarray(terrain.start, dtype=np.float64)
    rings = int(math.ceil(math.sqrt(count))) + 2
    while True:
        steps = np.arange(-rings, rings + 1)
        grid = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2).astype(np.float64)
        points = centre + spacing * grid[np.argsort(np.hypot(*grid.T), kind="stable")]
        inside = np.array([terrain.contains(xy) for xy in points])
        points = points[inside]
        usable = points[traversable(terrain, points)]
        if len(usable) >= count:
            return usable[:count]
        if not inside.all():  # the grid already covers the terrain
            raise ValueError(
                f"only {len(usable)} traversable starts {spacing:g} m apart on this terrain: give --characters "
                f"{len(usable)} or fewer, or a larger terrain (size=) with fewer features"
            )
        rings *= 2


def random_commands(seed, seconds, walk_speed, run_speed, interval=RANDOM_INTERVAL):
    """Seeded random controller.script TimedCommands over `seconds` s: every `interval` s (uniform) a new
    direction (uniform) and a stop, walk or run (RANDOM_SPEEDS)."""
    from controller.script import TimedCommand

    rng = np.random.default_rng(seed)
    speeds = {"stop": 0.0, "walk": walk_speed, "run": run_speed}
    out, t = [], float(rng.uniform(*interval))
    while t < seconds:
        out.append(TimedCommand(t, float(rng.uniform(-math.pi, math.pi)), speeds[rng.choice(RANDOM_SPEEDS)]))
        t += float(rng.uniform(*interval))
    return out


class CrowdStream:
    """LiveControllers `lives` generated `lead` s ahead by one background thread: each round, those with less
    than `lead` ready are stepped together (controller/step.py `advance`: one network call).

    next_frames() hands out the next Frame of every character, waiting when one is not ready (an underrun,
    counted after the first call, with its wait in `wait_seconds`). command(i, ...) is LiveController.command
    of character i. Use as a context manager or call close().
    """

    def __init__(self, lives, lead=0.2):
        if not 0.0 < lead <= 10.0:
            raise ValueError(f"lead must be in (0, 10] s of frames generated ahead, got {lead}")
        self.lives = list(lives)
        self.lead_frames = max(1, round(lead * self.lives[0].model.window.fps))
        self.underruns = 0
        self.wait_seconds = 0.0
        self._started = False
        self._wake, self._stop = threading.Event(), threading.Event()
        self._failure = []  # the worker's exception, if any
        self._thread = threading.Thread(
            target=_generate, args=(self.lives, self.lead_frames, self._wake, self._stop, self._failure), daemon=True
        )
        self._thread.start()
        weakref.finalize(self, self._stop.set)

    @property
    def error(self):
        """The exception that stopped generation, or None."""
        return self._failure[0] if self._failure else None

    def command(self, character, direction=None, speed=None):
        first = self.lives[character].command(direction=direction, speed=speed)
        if first is not None:
            self._wake.set()
        return first

    def next_frames(self):
        """The next Frame of each character (a list), waiting for the ones not generated yet."""
        start, waited = time.perf_counter(), False
        frames = [live.take_frame() for live in self.lives]
        while None in frames:
            waited = True
            self._check()
            self._wake.set()
            time.sleep(0.001)
            frames = [f if f is not None else live.take_frame() for f, live in zip(frames, self.lives)]
        if waited and self._started:
            self.underruns += 1
            self.wait_seconds += time.perf_counter() - start
        self._started = True
        self._wake.set()
        return frames

    def _check(self):
        if self.error is not None:
            if isinstance(self.error, (ValueError, OSError)):
                raise self.error
            raise RuntimeError("motion generation failed") from self.error
        if not self._thread.is_alive():
            raise RuntimeError("the crowd stream is closed")

    def close(self):
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _generate(lives, lead_frames, wake, stop, failure):
    """The worker thread: keeps every character lead_frames ahead until `stop` is set; an exception goes into
    the list `failure`. It holds no reference to the stream, so a stream dropped without close() is collected
    and its finalizer sets `stop`."""
    from controller.step import advance

    try:
        while not stop.is_set():
            needy = [live for live in lives if live.buffered < lead_frames]
            if needy:
                advance(needy)
            else:
                wake.wait(0.01)
                wake.clear()
    except Exception as error:  # surfaced to the consumer by next_frames()
        failure.append(error)
