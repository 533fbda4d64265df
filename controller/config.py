"""The path controller's settings: `ControllerConfig`, typed and range-checked when it is built.

`ControllerConfig.from_dict` (a YAML file, a suite's overrides, the CLI's `--speed`) and `load` build it with
configs.typed.build, which refuses unknown keys, wrong types, NaN and values outside the ranges below, naming
the key and its range. A PathController checks a config made in code (the constructor, dataclasses.replace)
the same way before it generates anything, and the frame counts against its model's segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import configs
from configs.typed import bounded, build, to_dict
from controller.collision import CheckConfig
from motion_model.learner.condition import Condition

# Settings the characters of one batch share: the network call (steps, candidates, retries, precision,
# guidance) and the arrays after it (committed length, seam, collision check) are one for all of them.
BATCH_SETTINGS = (
    "ddim_steps",
    "commit_frames",
    "candidates",
    "max_retries",
    "seam_frames",
    "smoothing",
    "precision",
    "guidance",
    "check",
)


@dataclass(frozen=True)
class ControllerConfig:
    # denoising steps per segment (at most the model's training timesteps, checked by PathController)
    ddim_steps: int = bounded(2, 1, 1000)
    # frames of each 2-s segment that are kept before generating the next (PathController checks them against
    # the model: from its previous frames to its segment length)
    commit_frames: int = bounded(30, 1, 1000)
    goal_approach_frames: int = bounded(20, 1, 1000)  # frames kept per segment once the goal is within reach
    candidates: int = bounded(1, 1, 64)  # segments sampled per character and step, ranked by the collision check
    max_retries: int = bounded(0, 0, 20)  # new batches of candidates when none passes the check
    speed: float = bounded(1.2, 0.3, 4.0)  # desired speed, m/s: walk 0.6-1.5, run 2.5-3.8 (the training data's)
    accel: float = bounded(1.5, 0.1, 10.0)  # m/s^2 the follower speeds up at (follower.py; the engine's)
    decel: float = bounded(1.5, 0.1, 10.0)  # m/s^2 it slows down at for corners, stops and the goal
    # m/s^2 sideways in a corner, walking and running (speed^2 * curvature; motion_model/engine/pacing.py)
    lateral_accel: tuple[float, float] = bounded((1.0, 3.0), 0.1, 20.0)
    goal_radius: float = bounded(0.5, 0.05, 5.0)  # m: the episode ends once the root stands still this near the goal
    time_limit: float = bounded(120.0, 0.1, 3600.0)  # s of motion (at least one segment is generated)
    # s without stall_distance of progress along the path, where the follower means to move, ends the episode
    # ("stalled"); at the goal, the time the character has to come to rest ("unsettled")
    stall_time: float = bounded(8.0, 0.5, 3600.0)
    stall_distance: float = bounded(0.5, 0.01, 100.0)  # m
    foot_lock: bool = True  # pin stance feet to the terrain (see foot_lock.py)
    # running flights that fall at g: the centre of mass's filter (momentum.py)
    momentum: bool = True
    seam_frames: int = bounded(8, 0, 60)  # frames over which a new segment's first-frame mismatch fades out
    # frames (Gaussian sigma) over which each sampled segment is smoothed in time before it is used: a few
    # denoising steps leave frame-to-frame noise that doubles the jerk. 0.5 halves it; more smooths the feet's
    # touchdowns into skating (public suite: 0.5 -> jerk 349, skate 0.354; 1.0 -> 192, 0.419; 0 -> 486, 0.330).
    smoothing: float = bounded(0.5, 0.0, 10.0)
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # for the network
    guidance: dict[Condition, float] = bounded({}, 0.0, 10.0)  # classifier-free guidance scale per condition
    check: CheckConfig = CheckConfig()

    @classmethod
    def from_dict(cls, values, where="controller settings"):
        """A config from a mapping of settings (missing ones take their defaults); ValueError names a bad one."""
        return build(cls, values, where)

    @classmethod
    def load(cls, path):
        """A config from a YAML file (a `configs/...` path falls back to the shipped copy)."""
        return cls.from_dict(configs.read_yaml(path, "controller config"), f"controller config {path}")

    def to_dict(self):
        return to_dict(self)

    def checked(self):
        """This config, if every setting is in range as from_dict would build it (a config made in code, with
        the constructor or dataclasses.replace, is not checked until then); ValueError otherwise."""
        self.from_dict(self.to_dict())
        return self

    def batch_differences(self, other):
        """Names of the BATCH_SETTINGS in which `other` differs from this config."""
        return [name for name in BATCH_SETTINGS if getattr(self, name) != getattr(other, name)]
