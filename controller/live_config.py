"""The live controller's settings (`LiveConfig`) and its command log's records (`CommandRecord`).

Typed like controller/config.py: `LiveConfig.from_dict`/`load` refuse unknown keys, wrong types and values out
of range, naming the key; a LiveController checks one made in code the same way. The network call and its checks
are the nested ControllerConfig's (`controller`: denoising steps, candidates, precision, foot locking, the
follower's accelerations), except the frames kept per step, which are `commit_frames` here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

import configs
from configs.typed import bounded, build, to_dict
from controller.config import ControllerConfig

MAX_SPEED = 4.0  # m/s: the fastest command (the training data's runs reach 3.8)
# The settings of configs/controller/default.yaml (its denoising steps and checks, whichever the model), made
# to react (terrain-mdm bench-reaction): the command weighs twice (classifier-free guidance on the target; without
# it a 90-degree turn takes 0.85-0.9 s and a 180 1.6 s), and the follower speeds up and slows down at 2.5 m/s^2
# (at 1.5 a run takes 2.7 s to stop) and corners at up to 3 m/s^2 sideways walking.
LIVE_CONTROLLER = replace(
    ControllerConfig.load("configs/controller/default.yaml"),
    accel=2.5,
    decel=2.5,
    lateral_accel=(3.0, 4.0),
    guidance={"target": 2.0},
)


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
    commit_frames: int = bounded(10, 1, 1000)
    # frames not yet handed out that a command change keeps: the time a new segment has to be generated before
    # the stream runs dry, and the least delay before a command shows (1/30 s each)
    margin_frames: int = bounded(4, 0, 60)
    # frames of a command's new motion kept before a later command may replace them: commands that come faster
    # (a stick sent every tick) would otherwise string together the first frames of many segments, each of which
    # still carries on the motion before it, and the character would lag far behind the stick
    hold_frames: int = bounded(5, 0, 1000)
    turn_lead: float = bounded(0.0, 0.0, 2.0)  # s of the current heading (at the current speed) before a turn
    # rad/s a standing character is asked to turn on the spot at, at most: the model turns slower than it is asked
    # (the training data's 1.7 makes a 90-degree turn from standing take 1.1-1.2 s, 3.5 0.9 s; the feet skate more)
    turn_rate: float = bounded(3.0, 0.3, 6.0)
    u_turn_above: float = bounded(2.0, 0.0, 3.2)  # rad: a moving character turns further than this round a U...
    u_turn_width: float = bounded(0.6, 0.0, 5.0)  # m wide (0: it stops and turns on the spot instead)
    reach: float = bounded(20.0, 1.0, 500.0)  # m a route leads ahead (extended as the character goes)
    clearance: float = bounded(0.3, 0.0, 2.0)  # m a route keeps from unwalkable ground and the border
    # route: the path follower along a route from the current heading into the new direction (follower.py);
    # straight: the command points the new way at once (motion_model.learner.command.Command.straight)
    steering: Literal["route", "straight"] = "route"
    controller: ControllerConfig = LIVE_CONTROLLER

    @classmethod
    def from_dict(cls, values, where="live settings"):
        """A config from a mapping of settings (missing ones take their defaults, those of a `controller` mapping
        LIVE_CONTROLLER's); ValueError names a bad one."""
        if isinstance(values, dict) and isinstance(values.get("controller"), dict):
            values = {**values, "controller": {**LIVE_CONTROLLER.to_dict(), **values["controller"]}}
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
