"""`terrain-mdm simulate` as a function: the controllers and streams of one character or a crowd, wired into a
PyBullet scene and the simulator loop (sim/bullet/loop.py).

World frame: Z up, metres, seconds (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from controller.crowd import crowd_controllers
from controller.path_controller import ControllerConfig, PathController
from controller.stream import BUFFER_RANGE, BufferedStream, CrowdStream
from sim.bullet.balls import ball_spawns
from sim.bullet.loop import LoopSettings, SimulationLoop, VideoOutput, check_seconds
from sim.bullet.scene import Scene
from terrain import numbers
from terrain.heightfield import Heightfield


@dataclass(frozen=True)
class SimulationSettings:
    """What simulate() runs. seed: of the sampling noise (character i of a crowd: numbers.character_seed) and
    the balls. characters: a crowd of this many. balls: how many to drop along the path ahead of the (first)
    character. seconds: simulated seconds at most (None: until the controllers stop). buffer_seconds: how far
    the generator runs ahead. gui: a PyBullet window (else headless p.DIRECT). realtime, progress: as
    LoopSettings. video: an .mp4/.gif path to record every `video_every`-th pose to, `video_size` (width,
    height) pixels. Refused (ValueError naming the setting) when built, before a model is loaded."""

    seed: int = 0
    characters: int = 1
    balls: int = 3
    seconds: float | None = None
    buffer_seconds: float = 4.0
    gui: bool = False
    realtime: bool = True
    progress: bool = True
    video: str | Path | None = None
    video_every: int = 4
    video_size: tuple[int, int] = (480, 360)

    def __post_init__(self):
        numbers.seed(self.seed)
        numbers.whole(self.balls, "balls", 0)
        if self.seconds is not None:
            check_seconds(self.seconds)
        numbers.finite(self.buffer_seconds, "buffer_seconds", *BUFFER_RANGE)
        numbers.whole(self.video_every, "video_every", 1)
        numbers.whole(self.characters, "characters", 1)

    def loop(self, fps):
        """The LoopSettings of a motion at `fps`."""
        return LoopSettings(fps=fps, realtime=self.realtime, progress=self.progress)

    def video_output(self):
        """The VideoOutput to record, None without a video."""
        if self.video is None:
            return None
        return VideoOutput(path=self.video, every=self.video_every, size=self.video_size)


class SimulationStreams(NamedTuple):
    """The controllers of a simulation and the stream(s) the loop pulls their frames from."""

    controllers: list  # PathControllers, one per character
    pulled: object  # a BufferedStream, or a crowd's CrowdStream.streams (one per character)
    closer: object  # what to close so that no generator thread outlives the run (the crowd's CrowdStream)


def simulate(model, terrain, settings=SimulationSettings(), config=None, camera=None):
    """Walk a character (or a crowd of settings.characters) over `terrain` with the controller and show it in
    a running PyBullet world.

    model: a LoadedModel, a shipped model name or a checkpoint path. settings: SimulationSettings. config: a
    ControllerConfig (default: its defaults). camera: a sim.bullet.scene.Camera. A crowd (controller/crowd.py:
    a formation walking from the start end to the goal end, each on its own planned path) is stepped
    together, one network call per step for all (CrowdStream); the balls drop along the first character's
    path, which the camera follows. Returns LoopStats with the controller's status (a crowd's: a count of each
    once all have stopped, e.g. "goal 14, stalled 2"). The loop runs best with the switch interval
    sim.bullet.loop.SWITCH_INTERVAL, which the caller sets (the command line does).
    """
    numbers.instance(terrain, Heightfield, "terrain", "a Heightfield (make_terrain, Heightfield.load)")
    streams = start_streams(model, terrain, settings, config or ControllerConfig())
    controller = streams.controllers[0]
    fps = controller.model.window.fps
    with contextlib.ExitStack() as stack:
        stack.callback(streams.closer.close)  # whatever fails below, no generator thread outlives this
        spawns = ball_spawns(terrain, controller.path, settings.balls, seed=settings.seed)
        scene = Scene(terrain, controller.path, controller.goal, gui=settings.gui, characters=settings.characters)
        stack.enter_context(scene)
        for other in streams.controllers[1:]:
            scene.add_route(other.path, other.goal)
        loop = SimulationLoop(
            scene, streams.pulled, settings.loop(fps), balls=spawns, camera=camera, video=settings.video_output()
        )
        stats = loop.run(settings.seconds)
    stats.controller_status = _status(streams.controllers)
    stats.generated_seconds = max(c.num_frames for c in streams.controllers) / fps
    return stats


def start_streams(model, terrain, settings, config):
    """The SimulationStreams of settings.characters characters; the generator starts filling its buffer at once, while
    the scene is built."""
    if settings.characters == 1:
        controller = PathController(model, terrain, config=config, seed=settings.seed)
        stream = BufferedStream(controller, settings.buffer_seconds)
        return SimulationStreams(controllers=[controller], pulled=stream, closer=stream)
    controllers = crowd_controllers(model, terrain, settings.characters, config, seed=settings.seed)
    crowd = CrowdStream(controllers, settings.buffer_seconds)
    return SimulationStreams(controllers=controllers, pulled=crowd.streams, closer=crowd)


def _status(controllers):
    """The controllers' stop reason (None while any is still going): one's own, or a count of each, e.g.
    "goal 14, stalled 2"."""
    statuses = [c.status for c in controllers]
    if None in statuses:
        return None
    if len(statuses) == 1:
        return statuses[0]
    return ", ".join(f"{status} {statuses.count(status)}" for status in sorted(set(statuses)))
