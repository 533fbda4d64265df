"""Real-time live steering: a background thread keeps a LiveController a fraction of a second ahead.

The worker generates whenever fewer than `lead` seconds of frames are ready; the consumer pulls one frame per
1/30 s with next_frame() and sends commands whenever. A command keeps only the live controller's margin of the
frames ready: the worker regenerates at once and the change shows `margin_frames` later (or, when a step is slow,
a little later: the old frames fill in meanwhile). `underruns` counts
the frames asked for before they were ready (after the first); `latencies` holds, for each command, the wall
seconds from the command to the moment its first affected frame was handed out. LiveCrowdStream does the same
for several characters, stepped together with one network call (`terrain-mdm play --characters N`).
"""

from __future__ import annotations

import threading
import time
import weakref

from controller.step import advance


class _Worker:
    """The thread's side: steps the live controller while the stream is open. It holds no reference to the
    stream, so a stream dropped without close() is collected and its finalizer sets `stop`."""

    def __init__(self, live, lead_frames, wake, stop):
        self.live, self.lead_frames, self.wake, self.stop = live, lead_frames, wake, stop
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                if self.live.needs_step(self.lead_frames):
                    advance([self.live])
                else:
                    self.wake.wait(0.01)
                    self.wake.clear()
        except Exception as error:  # surfaced to the consumer by next_frame()
            self.error = error


class LiveStream:
    """A LiveController generated `lead` s ahead in a background thread; use as a context manager or close()."""

    def __init__(self, live, lead=0.2):
        if not 0.0 < lead <= 10.0:
            raise ValueError(f"lead must be in (0, 10] s of frames generated ahead, got {lead}")
        self.live = live
        self.underruns = 0
        self.wait_seconds = 0.0
        self.latencies = []  # s from each command to its first affected frame being handed out
        self._pending = []  # (command id, wall time of the command)
        self._started = False
        self._wake, self._stop = threading.Event(), threading.Event()
        lead_frames = max(1, round(lead * live.model.window.fps))
        self._worker = _Worker(live, lead_frames, self._wake, self._stop)
        self._thread = threading.Thread(target=self._worker.run, name="live-generator", daemon=True)
        self._thread.start()
        weakref.finalize(self, self._stop.set)

    @property
    def error(self):
        """The exception that stopped generation, or None."""
        return self._worker.error

    def command(self, direction=None, speed=None):
        """LiveController.command, timed for `latencies`."""
        command = self.live.command(direction=direction, speed=speed)
        if command is not None:
            self._pending.append((command, time.perf_counter()))
            self._wake.set()
        return command

    def next_frame(self):
        """The next Frame, waiting (an underrun) if it is not generated yet."""
        frame = self.live.take_frame()
        if frame is None:
            start = time.perf_counter()
            while (frame := self.live.take_frame()) is None:
                self._check()
                self._wake.set()
                time.sleep(0.001)
            if self._started:
                self.underruns += 1
                self.wait_seconds += time.perf_counter() - start
        self._started = True
        self._wake.set()
        now, handed = time.perf_counter(), self.live.frame_index
        for command, at in list(self._pending):
            first = self.live.effect_frame(command)
            if first is not None and first < handed:
                self.latencies.append(now - at)
                self._pending.remove((command, at))
        return frame

    def _check(self):
        if self.error is not None:
            if isinstance(self.error, (ValueError, OSError)):
                raise self.error
            raise RuntimeError("motion generation failed") from self.error
        if not self._thread.is_alive():
            raise RuntimeError("the live stream is closed")

    def close(self):
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LiveCrowdStream:
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
            target=_generate_crowd,
            args=(self.lives, self.lead_frames, self._wake, self._stop, self._failure),
            daemon=True,
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


def _generate_crowd(lives, lead_frames, wake, stop, failure):
    """The worker thread: keeps every character lead_frames ahead until `stop` is set; an exception goes into
    the list `failure`. It holds no reference to the stream, so a stream dropped without close() is collected
    and its finalizer sets `stop`."""
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
