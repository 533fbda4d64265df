"""What a run of the simulator loop did (sim/bullet/loop.py SimulationLoop.run; `terrain-mdm simulate` prints it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LoopStats:
    """What a SimulationLoop.run did. Rates are per second of wall time, over the whole run."""

    simulated_seconds: float  # physics_steps / PHYSICS_HZ
    wall_seconds: float  # from the first pose to the end (the buffer filling before it is startup_seconds)
    physics_steps: int
    poses: int  # motion frames shown
    physics_hz: float  # achieved physics steps per wall second
    pose_hz: float  # achieved poses per wall second
    underruns: int  # frames the streams did not have ready when the loop asked (BufferedStream.underruns), all
    wait_seconds: float  # time spent waiting for them
    resyncs: int  # times the loop fell more than MAX_LAG s behind the wall clock and gave the time up
    stopped: str  # "seconds", "stream_end", "window_closed" or "interrupted"
    ball_positions: np.ndarray  # (N, 3) m at the end; NaN for balls not dropped yet
    startup_seconds: float = 0.0  # waiting for the buffer to fill before the clock started
    video_frames: int = 0
    controller_status: str | None = None  # the controller's stop reason (None: still going), from simulate()
    generated_seconds: float | None = None  # motion the controller generated, shown or still buffered (a crowd:
    # the character furthest ahead's)
    characters: int = 1
    underruns_per_character: tuple = ()

    @property
    def realtime_factor(self):
        return self.simulated_seconds / max(self.wall_seconds, 1e-9)

    def summary(self):
        balls = np.isfinite(self.ball_positions).all(-1).sum()
        crowd = f"{self.characters} characters: " if self.characters > 1 else ""
        return (
            f"{crowd}{self.simulated_seconds:.2f} s simulated in {self.wall_seconds:.2f} s of wall time "
            f"({self.realtime_factor:.2f}x real time) after {self.startup_seconds:.1f} s filling the buffer; "
            f"physics {self.physics_hz:.1f} Hz ({self.physics_steps} steps), poses {self.pose_hz:.1f} Hz "
            f"({self.poses}); underruns {self.underruns} ({self.wait_seconds:.2f} s waiting), resyncs "
            f"{self.resyncs}; {balls} of {len(self.ball_positions)} balls dropped; stopped: {self.stopped}"
        )
