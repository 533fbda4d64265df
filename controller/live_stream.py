"""Real-time live steering: a background thread keeps live characters a fraction of a second ahead.

The worker steps every LiveController that has fewer than `lead` seconds of frames ready, or a command waiting
to take effect, all of them with one network call (controller/step.py `advance`); the consumer pulls one frame
per character per 1/30 s and sends commands whenever. A command keeps only the live controller's margin of the
frames ready: the worker regenerates at once and the change shows `margin_frames` later (or, when a step is slow,
a little later: the old frames fill in meanwhile). `underruns` counts the pulls that had to wait (after the
first); `latencies` holds, for each command, the wall seconds from the command to the moment its first affected
frame was handed out. LiveCrowdStream serves several characters (`terrain-mdm play --characters N`), LiveStream
one.
"""

from __future__ import annotations

import threading
import time

from controller.protocols import FrameStream
from controller.step import advance
from controller.stream import Background, raise_error


class _Worker:
    """The thread's side: steps the live controllers that are due while the stream is open. It holds no
    reference to the stream (stream.Background)."""

    def __init__(self, lives, lead_frames, wake, stop):
        self.lives, self.lead_frames, self.wake, self.stop = lives, lead_frames, wake, stop
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                due = [live for live in self.lives if live.needs_step(self.lead_frames)]
                if due:
                    advance(due)
                else:
                    self.wake.wait(0.01)
                    self.wake.clear()
        except Exception as error:  # surfaced to the consumer by next_frames()
            self.error = error


class LiveCrowdStream(Background):
    """LiveControllers `lives` generated `lead` s ahead by one background thread; use as a context manager or
    close(). command(i, ...) is LiveController.command of character i; next_frames() the next Frame of each."""

    def __init__(self, lives, lead=0.2):
        if not 0.0 < lead <= 10.0:
            raise ValueError(f"lead must be in (0, 10] s of frames generated ahead, got {lead}")
        self.lives = list(lives)
        if not self.lives:
            raise ValueError("lives must hold at least one LiveController (a LiveCrowdStream of none has no frames)")
        self.underruns = 0
        self.wait_seconds = 0.0
        self.latencies = []  # s from each command to its first affected frame being handed out
        self._pending = []  # (character, command id, wall time of the command)
        self._started = False
        self._wake, stop = threading.Event(), threading.Event()
        self.lead_frames = max(1, round(lead * self.lives[0].model.window.fps))  # each character's frames ahead
        self._start(_Worker(self.lives, self.lead_frames, self._wake, stop), stop, "live-generator")

    def command(self, character, direction=None, speed=None):
        """LiveController.command of character `character`, timed for `latencies`."""
        command = self.lives[character].command(direction=direction, speed=speed)
        if command is not None:
            self._pending.append((character, command, time.perf_counter()))
            self._wake.set()
        return command

    def next_frames(self):
        """The next Frame of each character (a list), waiting (an underrun) for the ones not generated yet."""
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
        self._time_commands()
        return frames

    def _time_commands(self):
        """Move the commands whose first affected frame has been handed out from _pending to latencies."""
        now = time.perf_counter()
        for entry in list(self._pending):
            character, command, at = entry
            live = self.lives[character]
            first = live.effect_frame(command)
            if first is not None and first < live.frame_index:
                self.latencies.append(now - at)
                self._pending.remove(entry)

    def _check(self):
        raise_error(self.error)
        if self.finished:
            raise RuntimeError("the live stream is closed")

    def close(self):
        self._stop.set()
        self._wake.set()  # the worker may be waiting for work
        super().close()


class LiveStream(FrameStream):
    """One LiveController generated `lead` s ahead (a LiveCrowdStream of one): command(direction, speed) and
    next_frame(); use as a context manager or close()."""

    def __init__(self, live, lead=0.2):
        self.live = live
        self._crowd = LiveCrowdStream([live], lead)

    @property
    def buffered(self):
        return self.live.buffered

    @property
    def capacity(self):
        return self._crowd.lead_frames

    @property
    def finished(self):
        """True once the worker has stopped (an error, or close()): a live character never ends by itself."""
        return self._crowd.finished

    @property
    def underruns(self):
        return self._crowd.underruns

    @property
    def wait_seconds(self):
        return self._crowd.wait_seconds

    @property
    def latencies(self):
        return self._crowd.latencies

    @property
    def error(self):
        return self._crowd.error

    def command(self, direction=None, speed=None):
        """LiveController.command, timed for `latencies`."""
        return self._crowd.command(0, direction=direction, speed=speed)

    def next_frame(self):
        """The next Frame, waiting (an underrun) if it is not generated yet."""
        return self._crowd.next_frames()[0]

    def close(self):
        self._crowd.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
