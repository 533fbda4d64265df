"""Several live characters on one terrain for `terrain-mdm play --characters N`: where they start, the seeded
random commands of the ones no key drives. controller/live_stream.py's LiveCrowdStream generates them all ahead
in one background thread.

World frame: Z up, metres, seconds, radians of world yaw.
"""

from __future__ import annotations

import math

import numpy as np

from controller.crowd import MAX_CROWD
from terrain import numbers
from terrain.heightfield import Heightfield
from terrain.planning import traversable

SPACING = 1.5  # m between neighbouring starts
RANDOM_INTERVAL = (1.0, 3.0)  # s between random command changes
RANDOM_SPEEDS = ("stop", "walk", "walk", "run")  # drawn uniformly: half the changes walk


def crowd_starts(terrain, count, spacing=SPACING):
    """World xy (count, 2) of `count` starts: the terrain's start and the nearest points of a `spacing` m grid
    around it on traversable ground, nearest first. ValueError when the terrain has too little room."""
    numbers.instance(terrain, Heightfield, "terrain", "a Heightfield (make_terrain, Heightfield.load)")
    numbers.whole(count, "count (characters of a crowd)", 1, MAX_CROWD)  # the grid below grows with it
    numbers.finite(spacing, "spacing", 0.1, 100.0)
    centre = np.asarray(terrain.start, dtype=np.float64)
    rings = int(math.ceil(math.sqrt(count))) + 2
    while True:
        steps = np.arange(-rings, rings + 1)
        grid = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2).astype(np.float64)
        points = centre + spacing * grid[np.argsort(np.hypot(*grid.T), kind="stable")]
        inside = np.array([terrain.contains(xy) for xy in points])
        points = points[inside]
        usable = points[traversable(terrain, points)]
        if len(usable) >= count:
            return usable[:count]
        if not inside.all():  # the grid already covers the terrain
            raise ValueError(
                f"only {len(usable)} traversable starts {spacing:g} m apart on this terrain: give --characters "
                f"{len(usable)} or fewer, or a larger terrain (size=) with fewer features"
            )
        rings *= 2


def random_commands(seed, seconds, walk_speed, run_speed, interval=RANDOM_INTERVAL):
    """Seeded random controller.script TimedCommands over `seconds` s: every `interval` s (uniform) a new
    direction (uniform) and a stop, walk or run (RANDOM_SPEEDS)."""
    from controller.script import TimedCommand

    rng = np.random.default_rng(seed)
    speeds = {"stop": 0.0, "walk": walk_speed, "run": run_speed}
    out, t = [], float(rng.uniform(*interval))
    while t < seconds:
        out.append(TimedCommand(t, float(rng.uniform(-math.pi, math.pi)), speeds[rng.choice(RANDOM_SPEEDS)]))
        t += float(rng.uniform(*interval))
    return out
