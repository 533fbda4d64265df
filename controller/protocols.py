"""What the controller's step and a simulator's loop rely on, declared: a stepped character and a frame stream.

SteppedCharacter: what controller/step.py `advance` steps, many at once with one network call: PathController
(path_controller.py) and LiveController (live.py). FrameStream: one character's frames, pulled one at a time while
they are generated ahead: CharacterStream and BufferedStream (stream.py) and LiveStream (live_stream.py); what
sim.bullet.loop.SimulationLoop shows. Both implementations subclass the protocol they implement.

World frame: Z up, metres, seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

from controller.config import ControllerConfig
from controller.foot_lock import FootLock
from controller.frames import Frame, Frames
from motion_model.body.motion import Motion
from motion_model.learner.checkpoint import LoadedModel
from motion_model.learner.ddim import Known
from terrain.heightfield import Heightfield
from terrain.polyline import Polyline


class SteppedCharacter(Protocol):
    """A character that controller/step.py `advance` steps together with others: those stepped together are of one
    class and share the model and step_config's batch settings (config.BATCH_SETTINGS)."""

    done: bool  # True once it makes no more segments (advance skips it)
    model: LoadedModel
    terrain: Heightfield
    step_config: ControllerConfig  # the settings its segments are sampled, checked and committed with
    generator: torch.Generator  # its noise
    tracker: Polyline  # its route, along which the collision check measures progress
    foot_lock: FootLock | None  # its stance feet's holds; None: feet are not pinned
    known: Known | None  # what is imposed on its next segment (ddim.Known), set by conditions; None: nothing

    @classmethod
    def conditions(cls, characters: Sequence[SteppedCharacter]) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
        """The network's condition dict, one row per character, for the characters' next segments and their
        reference frames: xy (B, 2), yaw (B,), z (B,); the rest runs for all at once (conditions.condition_rows)."""
        ...

    def last_frames(self, n: int) -> Frames | None:
        """The last n committed Frames the next segment continues from (fewer at the start); None before the first."""
        ...

    def frames_to_commit(self) -> int:
        """How many frames of the next segment to keep."""
        ...

    def commit(self, frames: Frames, diagnostics: dict) -> Motion | None:
        """Keep a segment's frames (feet already locked) and its diagnostics (step.diagnostics); returns them as a
        Motion without terrain, or None if it drops them."""
        ...


class FrameStream(Protocol):
    """One character's frames, handed out one at a time (next_frame) while they are generated ahead."""

    underruns: int  # frames asked for before they were ready (after the first)
    wait_seconds: float  # s spent waiting for them
    buffered: int  # frames ready and not handed out yet
    capacity: int  # frames it generates ahead, at most (a loop may wait for that many before it starts)
    finished: bool  # True once no more frames will be added

    def next_frame(self) -> Frame | None:
        """The next Frame, waiting if it is not ready yet; None once the character has stopped."""
        ...

    def close(self) -> None:
        """Stop generating (at once; the stream's thread ends)."""
        ...
