"""A crowd: many characters on one terrain, each with its own route, stepped together (controller/step.py).

The characters start in a formation on the terrain's start end and walk to the same formation on its goal end:
rows of up to `columns` characters across the direction of the terrain's planned route, SPACING m apart, the
rows ROW_SPACING m apart along the route (the first on the start pad, the next ones ahead of it); the goals
mirror it (the first row on the goal pad, the next ones short of it). Each character plans its own path from
its start to its goal (terrain.planning.plan_path, around whatever is in the way). A formation slot whose start
or goal is off walkable ground, or whose goal cannot be reached, is skipped for the next one. The characters do
not see each other: where routes cross, they walk through each other.

World frame: Z up, metres, radians (docs/architecture.md).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from terrain import numbers
from terrain.heightfield import Heightfield
from terrain.planning import plan_path
from terrain.polyline import Polyline

SPACING = 0.8  # m between the characters of a row
ROW_SPACING = 1.2  # m between rows
COLUMNS = 4  # characters per row at most
MAX_SLOTS = 8  # formation slots tried per character before giving up
MAX_CROWD = 1024  # characters of a crowd (the command line allows 64): each takes its row of the batch


class Route(NamedTuple):
    start: np.ndarray  # (2,) world xy, m
    goal: np.ndarray  # (2,) world xy, m
    path: np.ndarray  # (P, 2) the planned path from start to goal


def crowd_routes(terrain, count, columns=COLUMNS):
    """`count` Routes over `terrain` (which needs start and goal pads), in formation order; ValueError if the
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
            routes.append(Route(start, goal, plan_path(terrain, start=start, goal=goal)))
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


def _unit(v):
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _left(direction):
    return np.array([-direction[1], direction[0]])
