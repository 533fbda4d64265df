"""Buffered streaming: generate ahead in a background thread so a real-time consumer never waits.

A simulator loop pulls frames at the motion's rate with `next_frame()`. A worker thread generates while fewer
than `buffer_seconds` of committed motion are queued; the network and numpy release the GIL while they compute, so
generation overlaps the loop. When the loop asks for a frame that is not there yet it blocks and the
stream counts an underrun; once the buffer has filled, a generator faster than real time never underruns.
CrowdStream does the same for many characters stepped together, one network call per step for all of them;
a BufferedStream is a CrowdStream of one.
"""

import queue
import threading
import time
import weakref

from controller.frames import Frame
from controller.path_controller import PathController
from controller.protocols import FrameStream
from controller.step import advance, shared_setup
from terrain import numbers

BUFFER_RANGE = (0.01, 600.0)  # s of motion generated ahead: at least a frame or so, at most 10 minutes


class Background:
    """Base of the streams that generate in a background thread (CrowdStream here, live_stream.LiveCrowdStream).

    _start runs `worker.run()` in a daemon thread; the worker keeps the exception that stopped it as `error`
    and holds no reference to the stream, so a stream dropped without close() is collected, and its finalizer
    sets `stop`, which ends the thread. close(), or leaving a with block, stops it at once.
    """

    def _start(self, worker, stop, name):
        self._worker, self._stop = worker, stop
        self._thread = threading.Thread(target=worker.run, name=name, daemon=True)
        self._thread.start()
        weakref.finalize(self, stop.set)

    @property
    def error(self):
        """The exception that stopped generation, or None."""
        return self._worker.error

    @property
    def finished(self):
        """True once the worker has stopped (everything generated, an error, or close())."""
        return not self._thread.is_alive()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _CrowdProducer:
    """The worker thread's side of a CrowdStream: steps the characters whose buffers have room, all of them with
    one advance() call (one network call), until every controller stops or `stop` is set. It holds no
    reference to the stream (Background)."""

    def __init__(self, controllers, queues, capacity, stop):
        self.controllers, self.queues, self.capacity, self.stop = controllers, queues, capacity, stop
        self.error = None
        self.ended = set()  # characters whose end marker is queued

    def run(self):
        ended = self.ended
        try:
            while not self.stop.is_set():
                going = [i for i, c in enumerate(self.controllers) if not c.done]
                if not going:
                    return
                hungry = [i for i in going if self.queues[i].qsize() < self.capacity]
                if not hungry:
                    self.stop.wait(0.005)
                    continue
                for i, segment in zip(hungry, advance([self.controllers[i] for i in hungry])):
                    for t in range(segment.num_frames):
                        self.queues[i].put(
                            Frame(segment.root_pos[t], segment.root_quat[t], segment.joint_quat[t], segment.contacts[t])
                        )
                    if self.controllers[i].done:  # its consumer stops waiting now, whatever the others do
                        self.queues[i].put(None)
                        ended.add(i)
        except Exception as error:  # surfaced to the consumer by next_frame()
            self.error = error
        finally:
            for i, q in enumerate(self.queues):  # the end markers left (unbounded queues: this never blocks)
                if i not in ended:
                    q.put(None)


class CrowdStream(Background):
    """Frames of many PathControllers on one step (controller.step.advance: one network call for all of them per
    step), generated ahead in one background thread.

    `streams[i]` is character i's stream (a CharacterStream, a protocols.FrameStream). A character is stepped
    while fewer than `buffer_seconds` of its motion are buffered, so the characters that need frames share each
    network call. The controllers must share one model and the batch settings (advance's shared_setup). close()
    stops the worker; so does dropping the stream.
    """

    def __init__(self, controllers, buffer_seconds=4.0, name="crowd-generator"):
        numbers.instance(controllers, (list, tuple), "controllers", "a list of PathControllers")
        if not controllers:
            raise ValueError("controllers must hold at least one PathController (a CrowdStream of none has no frames)")
        for controller in controllers:
            numbers.instance(controller, PathController, "controllers", "a list of PathControllers (one is not)")
        buffer_seconds = numbers.finite(buffer_seconds, "buffer_seconds", *BUFFER_RANGE)
        shared_setup(controllers)
        fps = controllers[0].model.window.fps
        self.capacity = max(1, int(round(buffer_seconds * fps)))
        self.queues = [queue.Queue() for _ in controllers]  # unbounded: the producer paces itself by their sizes
        self.streams = [CharacterStream(self, i) for i in range(len(controllers))]
        stop = threading.Event()
        self._start(_CrowdProducer(list(controllers), self.queues, self.capacity, stop), stop, name)

    def character_finished(self, index):
        """True once no more frames of character `index` will be added."""
        return index in self._worker.ended or self.finished


class CharacterStream(FrameStream):
    """One character's frames of a CrowdStream (closing it closes the crowd's)."""

    def __init__(self, crowd, index):
        self.crowd, self.index, self._frames = crowd, index, crowd.queues[index]
        self.capacity = crowd.capacity
        self.underruns = 0
        self.wait_seconds = 0.0
        self._started = False

    @property
    def finished(self):
        """True once no more frames of this character will be added (it stopped, or the crowd's worker did)."""
        return self.crowd.character_finished(self.index)

    @property
    def buffered(self):
        return self._frames.qsize()

    def next_frame(self):
        """The next Frame, waiting if it is not generated yet; None once the character has stopped."""
        frame, waited = _next(self._frames)
        if self._started and waited is not None:
            self.underruns += 1
            self.wait_seconds += waited
        self._started = True
        if frame is None:
            self._frames.put(None)  # stay finished for later calls
            raise_error(self.error)
        return frame

    @property
    def error(self):
        """The exception that stopped the crowd's generation, or None."""
        return self.crowd.error

    def __iter__(self):
        while (frame := self.next_frame()) is not None:
            yield frame

    def close(self):
        self.crowd.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BufferedStream(CharacterStream):
    """Frames of one PathController, generated ahead in a background thread: a CrowdStream of one.

    Iterate it, or call next_frame() until it returns None (the controller stopped). The worker steps the
    controller while fewer than `buffer_seconds` of its frames are buffered. `underruns` counts the times a
    frame was asked for before it was ready (after the first); `wait_seconds` is the time spent waiting for
    them. Call close() (or use it as a context manager) to stop the worker early; a stream dropped without
    close() stops its worker when it is garbage-collected.
    """

    def __init__(self, controller, buffer_seconds=4.0):
        numbers.instance(controller, PathController, "controller", "a PathController")
        crowd = CrowdStream([controller], buffer_seconds, name="motion-generator")
        super().__init__(crowd, 0)
        crowd.streams[0] = self  # the crowd's one stream
        self.controller = controller


def _next(frames):
    """The next item of a queue and the seconds waited for it (None if it was there)."""
    try:
        return frames.get_nowait(), None
    except queue.Empty:
        start = time.perf_counter()
        frame = frames.get()
        return frame, time.perf_counter() - start


def raise_error(error):
    """Re-raise a generator's error for the consumer: bad input as itself (the caller's one-line message)."""
    if isinstance(error, (ValueError, OSError)):
        raise error
    if error is not None:
        raise RuntimeError("motion generation failed") from error
