"""BufferedStream with a real tiny model (the `model` fixture in conftest.py): its worker thread ends when the
stream ends, is closed, or is dropped without close()."""

import functools
import gc
import threading
import time

import pytest
import torch

from controller.path_controller import ControllerConfig, PathController
from controller.stream import BufferedStream
from terrain.generators import make_terrain

torch.set_num_threads(1)

FAST = ControllerConfig(ddim_steps=2, commit_frames=30, candidates=2, max_retries=1, time_limit=3.0)


@pytest.fixture(scope="module")
def stairs():
    return make_terrain("stairs", seed=4)


def generator_threads():
    return {t for t in threading.enumerate() if t.name == "motion-generator" and t.is_alive()}


def is_full(stream):
    return stream.buffered >= stream.capacity


def wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_a_stream_dropped_without_close_ends_its_thread(model, stairs):
    before = generator_threads()
    stream = BufferedStream(PathController(model, stairs, config=FAST, seed=0), buffer_seconds=0.5)
    (worker,) = generator_threads() - before
    # The buffer fills, and the worker waits for room: nobody will ever take another frame.
    assert wait_for(functools.partial(is_full, stream), 60.0)
    assert stream.next_frame() is not None and not stream.finished
    del stream
    gc.collect()
    assert wait_for(lambda: not worker.is_alive(), 1.0)


def test_finished_and_error_after_the_last_frame(model, stairs):
    with BufferedStream(PathController(model, stairs, config=FAST, seed=0), buffer_seconds=0.5) as stream:
        frames = list(stream)
        assert len(frames) >= FAST.time_limit * 30 and stream.finished and stream.error is None
