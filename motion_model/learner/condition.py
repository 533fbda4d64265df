"""The network's condition: what the model is told about the terrain, its command and the previous motion.

Training (dataset.py, train.py) and inference (ddim.py, the controller) build it with the same helpers, so the
controller sees at run time what training saw. Everything is in the reference frame of the last previous frame
(features.py): its root xy, heading yaw and the ground height under it.

The conditions, by name, in the order of the columns of a keep mask (B, len(CONDITIONS)):
  terrain  the local heightfield (B, nx, ny), m above the reference ground
  target   (B, target_dim): the command (command.py): future root positions and facings, desired speed
  prev     (B, n_prev, features): standardised previous frames
A condition dict (see network.MDM.forward) holds them under these names, plus prev_clean (B,) and keep.
"""

from __future__ import annotations

import typing
from typing import Literal

import numpy as np
import torch

from motion_model.body import quaternion as quat
from motion_model.learner.command import Command
from motion_model.learner.window import WindowConfig
from terrain.heightfield import local_grid_xy

Condition = Literal["terrain", "target", "prev"]
CONDITIONS: tuple = typing.get_args(Condition)


def column(name) -> int:
    """The column of condition `name` in a keep mask."""
    if name not in CONDITIONS:
        raise ValueError(f"unknown condition {name!r}; the conditions are {', '.join(CONDITIONS)}")
    return CONDITIONS.index(name)


def keep_mask(batch, **kept) -> torch.Tensor:
    """Keep mask (batch, len(CONDITIONS)) bool: every condition kept except those given as False (a bool or a
    (batch,) bool tensor per name), e.g. keep_mask(4, prev=False)."""
    keep = torch.ones(batch, len(CONDITIONS), dtype=torch.bool)
    for name, value in kept.items():
        keep[:, column(name)] = torch.as_tensor(value, dtype=torch.bool)
    return keep


def reference_frame(root_pos, root_quat, terrain):
    """Reference xy (..., 2) m, heading yaw (...,) rad and ground height under the root (...,) m."""
    xy = np.asarray(root_pos)[..., :2]
    return xy, quat.heading(np.asarray(root_quat)), terrain.height(xy)


def local_heightfield(terrain, ref_xy, ref_yaw, ref_z, config: WindowConfig):
    """Terrain heights (B, nx, ny) float32 m above ref_z on the config's grid in each reference frame."""
    grid = terrain.local_grid(
        np.asarray(ref_xy).reshape(-1, 2),
        np.asarray(ref_yaw).reshape(-1),
        np.asarray(ref_z).reshape(-1),
        tuple(config.extent_x),
        tuple(config.extent_y),
        config.spacing,
    )
    return grid.astype(np.float32)


def grid_shape(config: WindowConfig):
    """(nx, ny) of the local heightfield grid."""
    return local_grid_xy(tuple(config.extent_x), tuple(config.extent_y), config.spacing).shape[:2]


def command_target(command: Command, config: WindowConfig):
    """The network's target (B, target_dim) float32 for Commands (B, K): the command's own vector."""
    if command.k != len(config.command_frames):
        raise ValueError(
            f"a command of {command.k} times for a model of {len(config.command_frames)}: make it "
            "at the model's window.command_frames"
        )
    return command.target()


def make_condition(terrain, command: Command, ref_xy, ref_yaw, ref_z, config: WindowConfig, prev=None, prev_clean=True):
    """The network's condition dict for B characters on one terrain (see network.MDM.forward).

    command: Commands (B, K) in the reference frames ref_xy (B, 2), ref_yaw (B,), ref_z (B,) (reference_frame
    of the last previous frame); prev (B, n_prev, 63) standardised previous features or None (cold start).
    """
    b = len(np.asarray(ref_yaw).reshape(-1))
    cond = {
        "terrain": torch.from_numpy(local_heightfield(terrain, ref_xy, ref_yaw, ref_z, config)),
        "target": torch.from_numpy(command_target(command, config).reshape(b, -1)),
        "prev_clean": torch.full((b,), bool(prev_clean)),
        "keep": keep_mask(b, prev=prev is not None),
    }
    if prev is not None:
        cond["prev"] = torch.as_tensor(prev, dtype=torch.float32)
    return cond
