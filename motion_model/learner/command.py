"""The command: what a character is told to do over its next segment, as the model is conditioned on it.

Like the trajectory inputs of PFNN, Learned Motion Matching and CAMDM, a command is the desired future of the
root: where it should be and which way the body should face at K future times, plus the desired speed. All in
the reference frame of features.py (x along the reference heading, y to its left, metres):

  positions (..., K, 2)  m, the root's ground point at each command time
  facings   (..., K, 2)  (cos, sin) of the heading at each command time, relative to the reference heading
  speed     (...,)       m/s, the mean root speed over the segment; 0 = stop and stand

The times are the window config's `command_frames` (dataset.WindowConfig), frames after the reference frame:
by default every 1/3 s over the 2-s segment (10, 20, .., 60 at 30 fps). A walk covers 0.4 m and a run 1 m
between two of them, which resolves a corner, and the six points keep the network's input small
(4 K + 1 = 25 numbers, `target_dim`). Training cuts the command from the episode's own future (dataset.py);
the path follower (controller/follower.py) derives it from a path; a live controller can make a straight one
from a direction and a speed (`Command.straight`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def target_dim(k):
    """Length of the network's target vector for a command of k times: positions, facings, speed."""
    return 4 * k + 1


@dataclass(frozen=True, eq=False)
class Command:
    positions: np.ndarray  # (..., K, 2) m
    facings: np.ndarray  # (..., K, 2) unit (cos, sin)
    speed: np.ndarray  # (...,) m/s

    def __post_init__(self):
        positions = np.asarray(self.positions, dtype=np.float64)
        facings = np.asarray(self.facings, dtype=np.float64)
        speed = np.asarray(self.speed, dtype=np.float64)
        if (
            positions.ndim < 2
            or positions.shape[-1] != 2
            or facings.shape != positions.shape
            or speed.shape != positions.shape[:-2]
        ):
            raise ValueError(
                f"a command needs positions and facings of one shape (..., K, 2) and a speed of "
                f"shape (...); got {positions.shape}, {facings.shape} and {speed.shape}"
            )
        if not (np.isfinite(positions).all() and np.isfinite(facings).all() and np.isfinite(speed).all()):
            raise ValueError("a command holds NaN or infinite values")
        if (speed < 0).any():
            raise ValueError(f"a command's speed must be >= 0 m/s (0 stands still), got {speed.min():g}")
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "facings", facings)
        object.__setattr__(self, "speed", speed)

    @property
    def k(self):
        return self.positions.shape[-2]

    def target(self):
        """The network's target vector (..., 4 K + 1) float32: positions, facings, speed."""
        lead = self.positions.shape[:-2]
        return np.concatenate(
            [self.positions.reshape(lead + (-1,)), self.facings.reshape(lead + (-1,)), self.speed[..., None]], -1
        ).astype(np.float32)

    @classmethod
    def from_world(cls, xy, yaw, ref_xy, ref_yaw, speed):
        """A command from world root positions xy (..., K, 2) and headings yaw (..., K) (rad), expressed in the
        reference frames ref_xy (..., 2), ref_yaw (...,)."""
        ref_yaw = np.asarray(ref_yaw, dtype=np.float64)[..., None]
        d = np.asarray(xy, dtype=np.float64) - np.asarray(ref_xy, dtype=np.float64)[..., None, :]
        c, s = np.cos(ref_yaw), np.sin(ref_yaw)
        positions = np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)
        relative = np.asarray(yaw, dtype=np.float64) - ref_yaw
        return cls(positions, np.stack([np.cos(relative), np.sin(relative)], -1), speed)

    @classmethod
    def straight(cls, direction, speed, times):
        """Go `speed` m/s along `direction` (rad, relative to the reference heading) at the command times
        (K,) s, facing that way; speed 0 stands on the spot facing it (turning there if it is not ahead)."""
        times = np.asarray(times, dtype=np.float64)
        unit = np.array([np.cos(direction), np.sin(direction)])
        return cls(float(speed) * times[:, None] * unit, np.broadcast_to(unit, (len(times), 2)), float(speed))

    @staticmethod
    def stack(commands):
        """Commands of equal K stacked along a new first axis."""
        return Command(
            np.stack([c.positions for c in commands]),
            np.stack([c.facings for c in commands]),
            np.stack([c.speed for c in commands]),
        )
