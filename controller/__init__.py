"""The controller: path following, live steering, keyframes, collision checks and streaming (its public
API; each name's module owns it)."""

from controller.config import ControllerConfig
from controller.frames import Frame
from controller.live import LiveController, next_frames
from controller.live_config import LiveConfig
from controller.live_stream import LiveCrowdStream, LiveStream
from controller.path_controller import PathController, lane_threads, run_batch
from controller.script import TimedCommand, load_commands, run_script
from controller.stream import BufferedStream, CrowdStream

__all__ = [
    "BufferedStream",
    "ControllerConfig",
    "CrowdStream",
    "Frame",
    "LiveConfig",
    "LiveController",
    "LiveCrowdStream",
    "LiveStream",
    "PathController",
    "TimedCommand",
    "lane_threads",
    "load_commands",
    "next_frames",
    "run_batch",
    "run_script",
]
