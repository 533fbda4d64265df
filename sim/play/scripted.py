"""`terrain-mdm play --commands`: the play session headless, from a script of timed commands
(controller/script.py), for one character or a crowd; and what both forms of `play` print and save.

Several characters all follow the same script, each from its own start (controller/crowd.py crowd_starts: the
terrain's start and a 1.5 m grid around it), stepped together with one network call per step
(controller/live.py next_frames).
"""

from __future__ import annotations

import time
from pathlib import Path

from sim.bullet.render import VIDEO_SUFFIXES
from sim.play.session import PlayResult
from terrain.atomic import check_writable
from terrain.numbers import character_seed

VIDEO_SIZE = (640, 480)  # pixels


def check_outputs(out, video, characters=1):
    """ValueError unless the motion file(s) `out` (.npz; see motion_files) and the video (.mp4/.gif) can be
    written: for several characters the longest of their names too, which a name near the file system's
    limit would otherwise exceed only after the session."""
    if out:
        check_writable(out, "motion file", (".npz",))
        check_writable(motion_files(out, characters)[-1], "motion file", (".npz",))
    if video:
        check_writable(video, "video file", VIDEO_SUFFIXES)


def motion_files(out, count):
    """The motion file of each of `count` characters: `out` itself for one, else OUT_0.npz, OUT_1.npz, ..."""
    if count == 1:
        return [str(out)]
    path = Path(out)
    return [str(path.with_name(f"{path.stem}_{i}{path.suffix}")) for i in range(count)]


def play_script(model, terrain, commands, tail, config, seed=0, characters=1, video=None):
    """Run `commands` (controller.script TimedCommands) on `characters` live characters until the last
    command's time plus `tail` s; render `video` (a path, or None) of them all. Returns a PlayResult."""
    from controller.crowd import crowd_starts
    from controller.live import LiveController
    from controller.script import run_scripts
    from terrain.planning import Room

    began = time.perf_counter()
    starts = crowd_starts(terrain, characters)
    room = Room(terrain)  # one for all: building it costs up to 0.25 s on a 100-m field
    lives = [
        LiveController(model, terrain, config=config, seed=character_seed(seed, i), start=xy, room=room)
        for i, xy in enumerate(starts)
    ]
    motions = run_scripts(lives, commands, tail=tail)
    if video:
        record_video(motions, video)
    return PlayResult(
        motions=motions,
        command_logs=[list(live.command_log) for live in lives],
        underruns=0,
        stopped="script",
        seconds=time.perf_counter() - began,
    )


def record_video(motions, out, size=VIDEO_SIZE):
    """A video of `motions` (one per character, the same length, on one terrain) with the camera following
    the first: sim/bullet/render.py's renderer for one, its VideoRecorder on a scene of them all for a crowd."""
    from sim.bullet.render import VideoRecorder, render
    from sim.bullet.scene import Camera, Scene

    if len(motions) == 1:
        render(motions[0], out, *size, progress=False)
        return
    camera = Camera(distance=8.0)
    targets, distance = camera.track(motions[0].root_pos, motions[0].fps, motions[0].terrain)
    with Scene(motions[0].terrain, characters=len(motions)) as scene:
        recorder = VideoRecorder(out, motions[0].fps, scene, camera, *size)
        try:
            for t in range(min(m.num_frames for m in motions)):
                for i, motion in enumerate(motions):
                    scene.pose(motion.root_pos[t], motion.root_quat[t], motion.joint_quat[t], motion.contacts[t], i)
                recorder.add(targets[t], distance)
        finally:
            recorder.close()


def print_session(result):
    """Print the reaction table of each character's session, and the live stream's underruns and latencies."""
    from sim.evaluation.reaction import format_table, measure

    for i, (motion, log) in enumerate(zip(result.motions, result.command_logs)):
        if motion is None:
            continue
        if len(result.motions) > 1:
            print(f"character {i}:")
        print(format_table(measure(motion, log)))
    if result.stopped != "script":
        latency = f", key to frame {1000 * max(result.latencies):.0f} ms at most" if result.latencies else ""
        how = {
            "window_closed": "the window closing (Esc or its close button)",
            "frame_limit": "the frame limit of a motion file",
        }.get(result.stopped, result.stopped)
        print(f"{result.seconds:.1f} s played, ended by {how}; underruns {result.underruns}{latency}")
