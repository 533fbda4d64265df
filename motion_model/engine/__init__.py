"""The synthesis engine: mocap cycles fitted to any terrain along any path (the training data).

Its public surface, what the runtime controller (controller/) may use of it, one owner each:
  plans   speed_plan.py: SpeedPlan and its records (Cruise, Stop), the speeds a plan may ask for (SPEED_RANGE),
          the behaviour limits the engine keeps (BehaviourConfig)
  pace    pacing.py: how fast along a path (speed_limit) and how hard round a corner (lateral_accel)
  halts   halts.py: where the body comes to rest (Halt, Wait) and the follower's halts on a sampled path
  route   route.py: sharp corners, the heading and curvature of each piece between them, the stair slowdown,
          and the heading smoothing the engine uses
and synthesize (synthesis.py), the engine itself. The rest of its modules are its own.
"""

from motion_model.engine.halts import Halt, Wait, sampled_halts
from motion_model.engine.pacing import lateral_accel, speed_limit
from motion_model.engine.route import HEADING_SMOOTHING, piece_headings, sharp_corners, stair_factors
from motion_model.engine.speed_plan import SPEED_RANGE, BehaviourConfig, Cruise, SpeedPlan, Stop
from motion_model.engine.synthesis import synthesize

__all__ = [
    "HEADING_SMOOTHING",
    "SPEED_RANGE",
    "BehaviourConfig",
    "Cruise",
    "Halt",
    "SpeedPlan",
    "Stop",
    "Wait",
    "lateral_accel",
    "piece_headings",
    "sampled_halts",
    "sharp_corners",
    "speed_limit",
    "stair_factors",
    "synthesize",
]
