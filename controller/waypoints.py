"""Routes drawn by hand: `--waypoints "x,y x,y ..."`, world points in metres joined by straight legs."""

from __future__ import annotations

import numpy as np

from configs.typed import shown

EXAMPLE = '"1,0 10,0 10,4"'


def parse_waypoints(text):
    """The waypoints (P, 2) float64 in `text`: "x,y" pairs separated by spaces, the first the start and the last
    the goal; ValueError naming the first bad entry. Whether they lie on walkable ground is the
    controller's check (path_controller.check_route)."""
    points = []
    for i, item in enumerate(str(text).split(), 1):
        parts = item.split(",")
        try:
            x, y = (float(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            x = y = None
        if x is None or not np.isfinite([x, y]).all():
            raise ValueError(
                f"waypoint {i} {shown(item)} is not an x,y pair of numbers in metres: write the waypoints as {EXAMPLE}"
            )
        if points and np.allclose(points[-1], (x, y)):
            raise ValueError(f"waypoint {i} ({x:g}, {y:g}) repeats the one before it: leave it out")
        points.append((x, y))
    if len(points) < 2:
        raise ValueError(
            f"waypoints need at least two points, the start and the goal; got {len(points)}: write them as {EXAMPLE}"
        )
    return np.array(points, dtype=np.float64)
