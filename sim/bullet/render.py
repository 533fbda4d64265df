"""Headless videos of a motion over its terrain with PyBullet's TinyRenderer (no display, no GPU).

TinyRenderer takes about 80 ms of CPU for a 640 x 480 frame of a stairs scene, mostly per pixel (a quarter
of the pixels costs less than half), so frames are rendered by `workers` processes, each with its own
p.DIRECT scene (1.4 s to build), and a lower video `fps` skips motion frames. TinyRenderer's shadows are
too faint and blurred to help, so there are none; feet labelled in contact turn green instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import mmap
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from tqdm import tqdm

from sim.bullet.scene import Camera, Scene, p
from sim.evaluation.metrics import ground_under
from sim.formats.preview import check_video_fps, write_video
from terrain.atomic import check_writable

VIDEO_SUFFIXES = (".mp4", ".gif")
SHOWN_CELL = 0.1  # m, of the flat ground shown under a motion without terrain
CHUNK = 8  # most frames per task handed to a worker process
AHEAD = 2  # chunks per worker handed out ahead of the encoder: both stay busy, few frames wait in memory
# Video size in pixels, width x height (up to 4K UHD): checked before anything is allocated.
MIN_SIZE = (16, 16)
MAX_SIZE = (3840, 2160)


class RenderError(OSError):
    """Rendering stopped for a reason outside its input (a render process died); nothing was written."""


def frame_indices(num_frames, motion_fps, fps=None):
    """Motion frames (int array) shown by a video at `fps` (default the motion's): frame k of the video is
    the motion frame nearest to time k / fps. ValueError if fps exceeds the motion's frame rate."""
    if fps is None or fps == motion_fps:
        return np.arange(num_frames)
    if not 0 < fps <= motion_fps:
        raise ValueError(f"video fps must be in (0, {motion_fps:g}] (the motion's frame rate), got {fps:g}")
    duration = (num_frames - 1) / motion_fps
    k = np.arange(math.floor(duration * fps + 1e-9) + 1)
    return np.minimum(np.round(k * motion_fps / fps).astype(int), num_frames - 1)


class _Renderer:
    """A p.DIRECT scene of the motion that renders given frames with given camera targets."""

    def __init__(self, motion, width, height, camera, distance):
        self.motion, self.width, self.height = motion, width, height
        self.camera, self.distance = camera, distance
        self.scene = Scene.for_motion(motion)
        self.projection = camera.projection_matrix(width, height)

    def render(self, items):
        """RGB frames (height, width, 3) uint8 for (motion frame, camera target (3,)) pairs."""
        frames = []
        for t, target in items:
            self.scene.pose_frame(self.motion, t)
            _, _, rgb, _, _ = p.getCameraImage(
                self.width,
                self.height,
                self.camera.view_matrix(target, self.distance),
                self.projection,
                renderer=p.ER_TINY_RENDERER,
                physicsClientId=self.scene.client,
            )
            frames.append(np.reshape(rgb, (self.height, self.width, 4))[..., :3].astype(np.uint8))
        return frames


class VideoRecorder:
    """A video of a running scene (sim.bullet.loop's): frames rendered with TinyRenderer on add(), encoded by
    write_video in a thread (frames stream into the encoder through a bounded queue)."""

    def __init__(self, out, fps, scene, camera, width, height):
        self.scene, self.camera, self.width, self.height = scene, camera, width, height
        self.projection = camera.projection_matrix(width, height)
        self.frames = queue.Queue(maxsize=32)
        self.count = 0
        self.error = None

        def frames():
            while (frame := self.frames.get()) is not None:
                yield frame

        def write():
            try:
                write_video(frames(), str(out), fps)
            except Exception as error:  # reported by close(); keep draining so that add() never blocks
                self.error = error
                while self.frames.get() is not None:
                    pass

        self.thread = threading.Thread(target=write, name="video-writer", daemon=True)
        self.thread.start()

    def add(self, target, distance):
        _, _, rgb, _, _ = p.getCameraImage(
            self.width,
            self.height,
            self.camera.view_matrix(target, distance),
            self.projection,
            renderer=p.ER_TINY_RENDERER,
            physicsClientId=self.scene.client,
        )
        self.frames.put(np.reshape(rgb, (self.height, self.width, 4))[..., :3].astype(np.uint8))
        self.count += 1

    def close(self):
        self.frames.put(None)
        self.thread.join()
        if isinstance(self.error, OSError):  # a full disk, a vanished folder: the caller's one-line message
            raise self.error
        if self.error is not None:
            raise RuntimeError(f"writing the video failed: {self.error}") from self.error


_worker = None  # the _Renderer of a worker process
_slots = None  # (slots, chunk frames, height, width, 3) uint8 in memory shared with the parent


def _start_worker(slots, *args):
    global _worker, _slots
    _slots, _worker = slots, _Renderer(*args)


def _render_chunk(slot, items):
    frames = _worker.render(items)
    _slots[slot, : len(frames)] = frames
    return len(frames)


def _shared_slots(count, frames, height, width):
    """Frame buffers in anonymous shared memory: made before the workers fork, they are the workers' too.
    Frames travel through them, not through the pool's result pipe: a worker killed while writing a long
    message there would leave half of it, and ProcessPoolExecutor would wait for the rest forever."""
    shape = (count, frames, height, width, 3)
    return np.frombuffer(mmap.mmap(-1, math.prod(shape)), dtype=np.uint8).reshape(shape)


def _death(processes):
    """'render worker PID died (how)' for the first of `processes` that died (ended workers are joined)."""
    ended = sorted(
        (p for p in processes if p.exitcode not in (None, 0)), key=lambda p: p.exitcode == -signal.SIGTERM
    )  # the pool ends the others with SIGTERM
    if not ended:
        return "a render worker process died"
    code = ended[0].exitcode
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
    return f"render worker {ended[0].pid} died ({how})"


def _pool_frames(args, chunks, workers):
    """Rendered chunks, in order, from `workers` forked processes; RenderError as soon as one of them dies
    (multiprocessing.Pool would wait for its result forever)."""
    _, width, height, _, _ = args
    slots = _shared_slots(AHEAD * workers, max(map(len, chunks)), height, width)
    before = set(multiprocessing.active_children())
    # fork: the workers inherit the motion and the slots instead of unpickling them, and start in milliseconds.
    pool = ProcessPoolExecutor(workers, multiprocessing.get_context("fork"), _start_worker, (slots, *args))
    todo = iter(chunks)
    pending, processes = deque(), set()
    try:
        pending.extend((slot, pool.submit(_render_chunk, slot, chunk)) for slot, chunk in zip(range(len(slots)), todo))
        processes = set(multiprocessing.active_children()) - before  # a fork pool starts all its workers at once
        while pending:
            slot, future = pending.popleft()
            try:
                frames = slots[slot, : future.result()].copy()
                # The slot takes the next chunk.
                pending.extend((slot, pool.submit(_render_chunk, slot, chunk)) for chunk in itertools.islice(todo, 1))
            except BrokenProcessPool as error:
                pool.shutdown(wait=True)
                raise RenderError(_death(processes)) from error
            yield frames
    finally:
        if pending:  # stopped early: do not wait for chunks nobody will take
            for process in processes:
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


def check_size(width, height):
    """ValueError unless width x height pixels lies within MIN_SIZE..MAX_SIZE."""
    sizes = (width, height)
    if not all(isinstance(n, (int, np.integer)) and lo <= n <= hi for n, lo, hi in zip(sizes, MIN_SIZE, MAX_SIZE)):
        raise ValueError(
            f"video size {width} x {height} is out of range: give whole pixels, width "
            f"{MIN_SIZE[0]}..{MAX_SIZE[0]} and height {MIN_SIZE[1]}..{MAX_SIZE[1]}"
        )


def _local_frames(args, chunks):
    """Rendered chunks from a scene in this process."""
    renderer = _Renderer(*args)
    try:
        for chunk in chunks:
            yield renderer.render(chunk)
    finally:
        renderer.scene.close()


def check_video_file(out):
    """ValueError unless a video (.mp4 or .gif) can be written at `out`, before the work that makes it."""
    check_writable(out, "video file", VIDEO_SUFFIXES)


def on_ground(motion):
    """`motion`, or where it has no terrain (the format's terrain keys are optional) a copy on flat ground at
    z = 0, the ground `eval --flat-ground` measures against."""
    if motion.terrain is not None:
        return motion
    return dataclasses.replace(motion, terrain=ground_under(motion, SHOWN_CELL))


def render(motion, out, width=640, height=480, fps=None, camera=None, workers=None, progress=True):
    """Render `motion` over its terrain (flat ground without one; path and goal drawn) into `out` (.mp4 or
    .gif, written atomically).

    width, height: pixels. fps: video frame rate, at most the motion's (default); lower rates skip motion
    frames and keep real time. camera: a sim.bullet.scene.Camera (default: following from behind the character's
    right). workers: rendering processes (default: the CPU count, at most 2). progress: a tqdm bar on
    stderr. Returns {"frames", "fps", "workers", "seconds", "ms_per_frame"}: wall time of rendering and
    encoding together (scene set-up included), and per video frame.
    """
    check_video_file(out)
    check_size(width, height)
    check_video_fps(fps or motion.fps)
    camera = camera or Camera()
    motion = on_ground(motion)
    indices = frame_indices(motion.num_frames, motion.fps, fps)
    targets, distance = camera.track(motion.root_pos, motion.fps, motion.terrain)
    items = [(int(t), targets[t]) for t in indices]
    workers = min(workers or min(os.cpu_count() or 1, 2), len(items))
    # Several chunks per worker keep both busy to the end.
    size = min(CHUNK, max(1, len(items) // (4 * workers)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    args = (motion, width, height, camera, distance)
    start = time.perf_counter()

    def frames():
        with tqdm(total=len(items), desc="render", unit="frame", disable=not progress, file=sys.stderr) as bar:
            rendered = _pool_frames(args, chunks, workers) if workers > 1 else _local_frames(args, chunks)
            for chunk in rendered:
                bar.update(len(chunk))
                yield from chunk

    # Frames stream into the encoder, so a long motion does not have to fit in memory; closing the stream
    # ends the workers at once when the encoder fails.
    try:
        with contextlib.closing(frames()) as stream:
            write_video(stream, str(out), fps or motion.fps)
    except RenderError as error:
        raise RenderError(f"{error}; nothing was written to {out}") from error.__cause__
    seconds = time.perf_counter() - start
    return {
        "frames": len(items),
        "fps": float(fps or motion.fps),
        "workers": workers,
        "seconds": seconds,
        "ms_per_frame": 1000.0 * seconds / len(items),
    }


def main_render(
    file, out, width=640, height=480, fps=None, workers=None, distance=None, yaw=None, pitch=None, follow=True
):
    """`terrain-mdm render FILE --out OUT`: render a motion file; prints a summary, returns the exit status.
    Camera options left at None take sim.bullet.scene.Camera's defaults (distance m, yaw and pitch degrees)."""
    from motion_model.body.motion import Motion

    angles = {k: v for k, v in (("yaw", yaw), ("pitch", pitch)) if v is not None}
    camera = Camera(distance=distance, follow=follow, **angles)
    check_video_file(out)
    motion = Motion.load(file)
    stats = render(motion, out, width, height, fps, camera, workers)
    print(
        f"{out}: {stats['frames']} frames at {stats['fps']:g} fps, {width} x {height}; rendered and encoded in "
        f"{stats['seconds']:.1f} s by {stats['workers']} processes ({stats['ms_per_frame']:.0f} ms per frame)"
    )
    return 0
