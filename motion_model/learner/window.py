"""The training window: what one training example (and one step of the controller) spans.

A window around a reference frame r holds the n_prev previous frames up to r and the segment of `frames` after
it, at fps; the command (command.py) at command_frames after r; and the local heightfield grid around the
reference root (extent_x, extent_y, m in the reference frame, every `spacing` m). Training (dataset.py), the
condition (condition.py) and checkpoints (checkpoint.py) read it.
"""

import math
from dataclasses import dataclass

from configs.typed import bounded
from motion_model.learner.command import target_dim

MAX_GRID_CELLS = 65_536  # of the local heightfield grid (the shipped models' is 71 x 31)


@dataclass
class WindowConfig:
    fps: float = bounded(30.0, 1.0, 1000.0)
    n_prev: int = bounded(10, 1, 1000)
    frames: int = bounded(60, 1, 10_000)  # segment length: 2 s at 30 fps
    # The command's times (command.py), frames after the reference frame: every 1/3 s over the segment.
    command_frames: tuple[int, ...] = (10, 20, 30, 40, 50, 60)
    # Local heightfield grid in the reference frame (m, both ends inclusive): a run at 3.8 m/s covers 7.6 m in
    # a segment, a walk 1.2-3 m; the near 6 m and 1.5 m to each side hold the terrain the feet can reach.
    extent_x: tuple[float, float] = bounded((-1.0, 6.0), -20.0, 20.0)
    extent_y: tuple[float, float] = bounded((-1.5, 1.5), -20.0, 20.0)
    spacing: float = bounded(0.1, 0.01, 1.0)

    def __post_init__(self):
        frames = tuple(self.command_frames)
        if (
            not frames
            or any(not isinstance(f, int) for f in frames)
            or list(frames) != sorted(set(frames))
            or not 1 <= frames[0] <= frames[-1] <= self.frames
        ):
            raise ValueError(
                f"window command_frames must be increasing whole frames from 1 to the segment's "
                f"{self.frames}, got {list(frames)}"
            )
        self.command_frames = frames
        # Every sample of every batch carries this grid: refused before one is made (the ranges allow 4001^2).
        cells = math.prod(round((hi - lo) / self.spacing) + 1 for lo, hi in (self.extent_x, self.extent_y))
        if cells > MAX_GRID_CELLS:
            raise ValueError(
                f"the local heightfield grid of extent_x {list(self.extent_x)}, extent_y "
                f"{list(self.extent_y)} m at {self.spacing:g} m has {cells} cells, more than {MAX_GRID_CELLS}: "
                "make it smaller or coarser"
            )

    @property
    def target_dim(self):
        """Length of the network's target: the command's (command.target_dim)."""
        return target_dim(len(self.command_frames))
