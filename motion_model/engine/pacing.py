"""How fast a person goes along a path: slower in corners, slowing in time for them and for every halt ahead.

One rule for the synthesis engine (motion_model/engine/travel.py), which makes the training data, and the path
follower (controller/follower.py), which asks the model for the same. Arc lengths in metres, speeds in m/s,
accelerations in m/s^2.
"""

from __future__ import annotations

import numpy as np

from motion_model.engine.speed_plan import run_weight


def lateral_accel(speed, walk_run):
    """The sideways acceleration (m/s^2) a person accepts in a corner at `speed`: walk_run[0] walking,
    walk_run[1] running, blended in between as the gait is (people run round corners much harder than they
    walk them)."""
    walk, run = walk_run
    return walk + run_weight(speed) * (run - walk)


def speed_limit(s, cruise, curvature, lateral, decel):
    """The speed limit (N,) at arc lengths s (N,), increasing: the cruise speed (N,) (0 at a halt), capped
    where the path curves (curvature (N,), rad/m) so that speed^2 * |curvature| <= lateral (N,) or scalar,
    and lowered ahead of every lower limit so that slowing at `decel` reaches it."""
    s = np.asarray(s, dtype=np.float64)
    limit = np.minimum(
        np.asarray(cruise, dtype=np.float64),
        np.sqrt(lateral / np.maximum(np.abs(np.asarray(curvature, dtype=np.float64)), 1e-9)),
    )
    room = 2.0 * decel * np.diff(s)
    for i in range(len(s) - 2, -1, -1):
        limit[i] = min(limit[i], np.sqrt(limit[i + 1] ** 2 + room[i]))
    return limit
