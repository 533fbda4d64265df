"""Headless videos of a motion over its terrain with PyBullet's TinyRenderer (no display, no GPU).

TinyRenderer takes about 80 ms of CPU for a 640 x 480 frame of a stairs scene, mostly per pixel (a quarter
of the pixels costs less than half), so frames are rendered by `workers` processes, each with its own
p.DIRECT scene (1.4 s to build), and a lower video `fps` skips motion frames. TinyRenderer's shadows are
too faint and blurred to help, so there are none; feet labelled in contact turn green instead.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from sim.preview import write_video
from sim.scene import Camera, Scene, p
from terrain.atomic import check_writable

VIDEO_SUFFIXES = (".mp4", ".gif")
CHUNK = 8  # most frames per task handed to a worker process


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
                self.width, self.height, self.camera.view_matrix(target, self.distance), self.projection,
                renderer=p.ER_TINY_RENDERER, physicsClientId=self.scene.client)
            frames.append(np.reshape(rgb, (self.height, self.width, 4))[..., :3].astype(np.uint8))
        return frames


_worker = None  # the _Renderer of a worker process


def _start_worker(*args):
    global _worker
    _worker = _Renderer(*args)


def _render_chunk(items):
    return _worker.render(items)


def _check_output(out):
    check_writable(out, "video file", VIDEO_SUFFIXES)


def render(motion, out, width=640, height=480, fps=None, camera=None, workers=None, progress=True):
    """Render `motion` over its terrain (path and goal drawn) into `out` (.mp4 or .gif, written atomically).

    width, height: pixels. fps: video frame rate, at most the motion's (default); lower rates skip motion
    frames and keep real time. camera: a sim.scene.Camera (default: following from behind the character's
    right). workers: rendering processes (default: the CPU count, at most 2). progress: a tqdm bar on
    stderr. Returns {"frames", "fps", "workers", "seconds", "ms_per_frame"}: wall time of rendering and
    encoding together (scene set-up included), and per video frame.
    """
    _check_output(out)
    if width < 16 or height < 16:
        raise ValueError(f"video size must be at least 16 x 16 pixels, got {width} x {height}")
    camera = camera or Camera()
    indices = frame_indices(motion.num_frames, motion.fps, fps)
    targets, distance = camera.track(motion.root_pos, motion.fps, motion.terrain)
    items = [(int(t), targets[t]) for t in indices]
    workers = min(workers or min(os.cpu_count() or 1, 2), len(items))
    # Several chunks per worker keep both busy to the end.
    size = min(CHUNK, max(1, len(items) // (4 * workers)))
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    args = (motion, width, height, camera, distance)
    start = time.perf_counter()

    def frames():
        with tqdm(total=len(items), desc="render", unit="frame", disable=not progress, file=sys.stderr) as bar:
            if workers > 1:
                # fork: the workers inherit the motion instead of unpickling it, and start in milliseconds.
                with multiprocessing.get_context("fork").Pool(workers, _start_worker, args) as pool:
                    for chunk in pool.imap(_render_chunk, chunks):
                        bar.update(len(chunk))
                        yield from chunk
            else:
                renderer = _Renderer(*args)
                try:
                    for chunk in chunks:
                        rendered = renderer.render(chunk)
                        bar.update(len(chunk))
                        yield from rendered
                finally:
                    renderer.scene.close()

    # Frames stream into the encoder, so a long motion does not have to fit in memory.
    write_video(frames(), str(out), fps or motion.fps)
    seconds = time.perf_counter() - start
    return {"frames": len(items), "fps": float(fps or motion.fps), "workers": workers, "seconds": seconds,
            "ms_per_frame": 1000.0 * seconds / len(items)}


def main_render(file, out, width=640, height=480, fps=None, workers=None, distance=None, yaw=None, pitch=None,
                follow=True):
    """`terrain-mdm render FILE --out OUT`: render a motion file; prints a summary, returns the exit status.
    Camera options left at None take sim.scene.Camera's defaults (distance m, yaw and pitch degrees)."""
    from motion_model.motion import Motion

    angles = {k: v for k, v in (("yaw", yaw), ("pitch", pitch)) if v is not None}
    camera = Camera(distance=distance, follow=follow, **angles)
    _check_output(out)
    motion = Motion.load(file)
    stats = render(motion, out, width, height, fps, camera, workers)
    print(f"{out}: {stats['frames']} frames at {stats['fps']:g} fps, {width} x {height}; rendered and encoded in "
          f"{stats['seconds']:.1f} s by {stats['workers']} processes ({stats['ms_per_frame']:.0f} ms per frame)")
    return 0
