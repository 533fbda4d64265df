"""Terrain: heightfields, their generators, signed distance, paths and planning (its public API; each name's
module owns it).

The names are imported on first use: the command line imports terrain.numbers at start-up, and `--help`
should not wait for numpy, scipy and the generators.
"""

import importlib

_OWNERS = {
    "make_terrain": "terrain.generators",
    "Heightfield": "terrain.heightfield",
    "plan_path": "terrain.planning",
    "plan_route": "terrain.planning",
    "PlannedRoute": "terrain.planning",
    "PlannerConfig": "terrain.planning",
    "Jump": "terrain.jumps",
    "Polyline": "terrain.polyline",
}
__all__ = sorted(_OWNERS)


def __getattr__(name):
    if name not in _OWNERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_OWNERS[name]), name)
