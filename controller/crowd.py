"""A crowd: many characters on one terrain, each with its own route, stepped together (controller/step.py).

The characters start in a formation on the terrain's start end and walk to the same formation on its goal end:
rows of up to `columns` characters across the direction of the terrain's planned route, SPACING m apart, the
rows ROW_SPACING m apart along the route (the first on the start pad, the next ones ahead of it); the goals
mirror it (the first row on the goal pad, the next ones short of it). Each character plans its own path from
its start to its goal (terrain.planning.plan_path, around whatever is in the way). A formation slot whose start
or goal is off walkable ground, or whose goal cannot be reached, is skipped for the next one. The characters do
not see each other: where routes cross, they walk through each other.

Live crowds (`terrain-mdm play --characters N`) have no routes: crowd_starts places them around the terrain's
start, and random_commands drives the ones no key does (controller/live_stream.py's LiveCrowdStream generates
them all ahead in one background thread).

World frame: Z up, metres, seconds, radians (docs/architecture.md).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from terrain import numbers
from terrain.heightfield import Heightfield
from terrain.planning import plan_path, traversable
from terrain.polyline import Polyline

SPACING = 0.8  # m between the characters of a row
ROW_SPACING = 1.2  # m between rows
COLUMNS = 4  # characters per row at most
MAX_SLOTS = 8  # formation slots tried per character before giving up
MAX_CROWD = 1024  # characters of a crowd (the command line allows 64): each takes its row of the batch
START_SPACING = 1.5  # m between neighbouring starts of a live crowd
RANDOM_INTERVAL = (1.0, 3.0)  # s between random command changes
RANDOM_SPEEDS = ("stop", "walk", "walk", "run")  # drawn uniformly: half the changes walk


class FormationRoute(NamedTuple):
    """One character's place in the formation and its way there."""

    start: np.ndarray  # (2,) world xy, m
    goal: np.ndarray  # (2,) world xy, m
    path: np.ndarray  # (P, 2) the planned path from start to goal


def crowd_routes(terrain, count, columns=COLUMNS):
    """`count` FormationRoutes over `terrain` (which needs start and goal pads), in formation order; ValueError if the
    terrain has no room for that many."""
    numbers.instance(terrain, Heightfield, "terrain", "a Heightfield (make_terrain, Heightfield.load)")
    numbers.whole(count, "count (characters of a crowd)", 1, MAX_CROWD)
    main = Polyline(plan_path(terrain))
    start_dir = _unit(main.point_at(min(0.5, main.length)) - main.points[0])
    goal_dir = _unit(main.points[-1] - main.point_at(max(main.length - 0.5, 0.0)))
    routes = []
    for slot in range(count * MAX_SLOTS):
        if len(routes) == count:
            break
        row, column = divmod(slot, columns)
        across = SPACING * (column - (columns - 1) / 2)
        start = main.points[0] + ROW_SPACING * row * start_dir + across * _left(start_dir)
        goal = main.points[-1] - ROW_SPACING * row * goal_dir + across * _left(goal_dir)
        if not (terrain.contains(start) and terrain.contains(goal)):
            continue
        try:
            routes.append(FormationRoute(start=start, goal=goal, path=plan_path(terrain, start=start, goal=goal)))
        except ValueError:  # off walkable ground, or no way to the goal: the next slot
            continue
    if len(routes) < count:
        raise ValueError(
            f"found routes for {len(routes)} of {count} characters on this terrain: ask for fewer characters "
            "or use a wider or longer terrain (width=..., length=...)"
        )
    return routes


def crowd_controllers(model, terrain, count, config, seed=0):
    """PathControllers of a crowd of `count` on `terrain` (crowd_routes), sharing one loaded model; character i
    draws its sampling noise from seed + i (numbers.character_seed)."""
    from controller.path_controller import PathController
    from motion_model.learner.checkpoint import LoadedModel, load_model

    seed = numbers.seed(seed)
    routes = crowd_routes(terrain, count)  # before the model is loaded: a bad count is refused at once
    model = model if isinstance(model, LoadedModel) else load_model(model)
    return [
        PathController(
            model, terrain, goal=r.goal, path=r.path, config=config, seed=numbers.character_seed(seed, i), start=r.start
        )
        for i, r in enumerate(routes)
    ]


def crowd_starts(terrain, count, spacing=START_SPACING):
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
        direction = float(rng.uniform(-math.pi, math.pi))
        out.append(TimedCommand(t=t, direction=direction, speed=speeds[rng.choice(RANDOM_SPEEDS)]))
        t += float(rng.uniform(*interval))
    return out


def _unit(v):
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _left(direction):
    return np.array([-direction[1], direction[0]])
