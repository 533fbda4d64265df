"""The live controller's settings (`LiveConfig`) and its command log's records (`CommandRecord`).

Typed like controller/config.py: `LiveConfig.from_dict`/`load` refuse unknown keys, wrong types and values out
of range, naming the key; a LiveController checks one made in code the same way. The network call and its checks
are the nested ControllerConfig's (`controller`: denoising steps, candidates, precision, foot locking, the
follower's accelerations), except the frames kept per step, which are `commit_frames` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import configs
from configs.typed import bounded, build, to_dict
from controller.config import ControllerConfig

MAX_SPEED = 4.0  # m/s: the fastest command (the training data's runs reach 3.8)


class CommandRecord(NamedTuple):
    """A command change: from frame `frame` on (frames handed out before it), head `direction` (rad, world yaw)
    at `speed` m/s (0 stands)."""

    frame: int
    direction: float
    speed: float


@dataclass(frozen=True)
class LiveConfig:
    walk_speed: float = bounded(1.2, 0.3, MAX_SPEED)  # m/s a walking command asks for (the GUI's keys)
    run_speed: float = bounded(3.0, 0.3, MAX_SPEED)  # m/s running
    # frames generated per network call (the model's previous frames at least: checked by LiveController);
    # frames not yet handed out stay provisional and a command change regenerates them
    commit_frames: int = bounded(15, 1, 1000)
    # frames not yet handed out that a command change keeps: the time a new segment has to be generated before
    # the stream runs dry, and the least delay before a command shows (1/30 s each)
    margin_frames: int = bounded(4, 0, 60)
    turn_lead: float = bounded(0.2, 0.0, 2.0)  # s of the current heading (at the current speed) before a turn
    reach: float = bounded(20.0, 1.0, 500.0)  # m a route leads ahead (extended as the character goes)
    clearance: float = bounded(0.3, 0.0, 2.0)  # m a route keeps from unwalkable ground and the border
    # route: the path follower along a route from the current heading into the new direction (follower.py);
    # straight: the command points the new way at once (motion_model.command.Command.straight)
    steering: Literal["route", "straight"] = "route"
    controller: ControllerConfig = ControllerConfig()

    @classmethod
    def from_dict(cls, values, where="live settings"):
        """A config from a mapping of settings (missing ones take their defaults); ValueError names a bad one."""
        return build(cls, values, where)

    @classmethod
    def load(cls, path):
        """A config from a YAML file (a `configs/...` path falls back to the shipped copy)."""
        return cls.from_dict(configs.read_yaml(path, "live config"), f"live config {path}")

    def to_dict(self):
        return to_dict(self)

    def checked(self):
        """This config if every setting is in range as from_dict would build it; ValueError otherwise."""
        self.from_dict(self.to_dict())
        return self
