"""Terrains that need a jump: `gaps` (trenches across the corridor) and `ledges` (raised blocks across it).

Both are corridors with the shared layout of terrain/generators.py (start pad near x = 0, goal pad near
x = length), and both span the whole grid's width, so there is no way round a feature. The features lie between
x0 = PAD + RUN_UP = 2 m and x1 = length - 2 m, with at least SOLID m of flat ground between two of them: the
walker always has solid ground to run up on and to land on. Edges sit on vertices, as the other kinds' do, so
every wall is one cell wide, the way Bullet triangulates it.

Ledge levels: the ground before the first ledge is at 0. A ledge rises `ledge_height` above the ground before
it and the ground after it lies `drop_height` below its top. A null ledge_height or drop_height is drawn for
each ledge, and drawn so that the ground after a ledge stays within LEVEL_BAND of the start height and the
ground after the last ledge comes back to it (exactly when both are drawn; with one set, as close as the other's
range allows). Set values hold for every ledge, so with both set the ground drifts by ledge_height - drop_height
per ledge: whatever is set, every height stays between 6 x (0.3 - 1.0) = -4.2 m and 5 x (0.6 - 0.3) + 0.6 =
2.1 m of the start height.

`section(kind, draw, X, x0, x1, cell)` gives the heights at the vertices' x (X); `draw` is generators' parameter
drawer (a call `draw(name, fit)`, its seeded `draw.rng`, its `draw.spec` and `draw.values`).
"""

from __future__ import annotations

import numpy as np

KINDS = ("gaps", "ledges")
SOLID = 2.0  # m of flat ground between two features: room to land, stand and run up
# m from the start height that drawn heights keep the ground within: at most the smallest ledge height, so that
# the last ledge can always bring the ground back onto the start height when both heights are drawn
LEVEL_BAND = 0.3
# A jump reach that crosses every gaps and ledges terrain within their parameter ranges (the widest gap, 1.5 m,
# asks for about 2.2 m from take-off to landing: the planner keeps its clearance from both lips).
REACH = {"jump_length": 2.5, "jump_up": 0.7, "jump_down": 1.1}


def section(kind: str, draw, X, x0: float, x1: float, cell: float) -> np.ndarray:
    """Heights (X's shape) of a gaps or ledges corridor whose features lie between x0 and x1."""
    return {"gaps": _gaps, "ledges": _ledges}[kind](draw, X, x0, x1, cell)


def _whole_cells(length: float, cell: float) -> float:
    return round(length / cell) * cell


def _layout(draw, count: int, size: float, room: float, cell: float) -> list[float]:
    """Near edges of `count` features `size` m long, at least SOLID apart, spread at random over `room` m:
    offsets from x0, each on whole cells."""
    spare = room - count * size - (count - 1) * SOLID
    # The spare ground is shared out at random among the count + 1 stretches of ground (before, between, after).
    shares = draw.rng.dirichlet(np.ones(count + 1)) * max(spare, 0.0)
    extra = [np.floor(s / cell) * cell for s in shares[:-1]]
    starts, at = [], 0.0
    for k in range(count):
        at += extra[k]
        starts.append(at)
        at += size + SOLID
    return starts


def _profile(X, cell, edges, levels) -> np.ndarray:
    """Heights levels[0] before edges[0] and levels[k] from edges[k - 1] on (edges on vertices), so each wall
    is one cell wide."""
    h = np.full(X.shape, float(levels[0]))
    for edge, before, after in zip(edges, levels[:-1], levels[1:]):
        h += (after - before) * (X > edge - 0.5 * cell)
    return h


def _vertex(X, x: float, up: bool = False) -> float:
    """The vertex x nearest to x, or with `up` the first at or beyond it (X's first axis runs along x)."""
    xs = X[:, 0]
    if up:
        return float(xs[np.searchsorted(xs, x - 1e-9)])
    return float(xs[np.argmin(np.abs(xs - x))])


def _least_count(draw, count: str, size: str) -> int:
    """How many features a drawn size must leave room for: the count's least; with the size set, one (so that a
    count that does not fit is the one named)."""
    return draw.least(count) if draw.values[size] is None else 1


def _gaps(draw, X, x0, x1, cell):
    first = _vertex(X, x0, up=True)  # so that the solid ground before the first gap is SOLID at least
    room = x1 - first
    least = _least_count(draw, "num_gaps", "gap_width")
    width = _whole_cells(draw("gap_width", (room - (least - 1) * SOLID) / least), cell)
    depth = draw("gap_depth")
    count = draw("num_gaps", (room + SOLID) / (width + SOLID))
    edges, levels = [], [0.0]
    for offset in _layout(draw, count, width, room, cell):
        near = _vertex(X, first + offset)
        edges += [near + cell, near + width]  # the lips at near and near + width stay at ground level
        levels += [-depth, 0.0]
    return _profile(X, cell, edges, levels)


def _ledges(draw, X, x0, x1, cell):
    first = _vertex(X, x0, up=True)
    room = x1 - first
    least = _least_count(draw, "num_ledges", "ledge_length")
    length = _whole_cells(draw("ledge_length", (room - (least - 1) * SOLID) / least), cell)
    count = draw("num_ledges", (room + SOLID) / (length + SOLID))
    edges, levels = [], [0.0]
    for k, offset in enumerate(_layout(draw, count, length, room, cell)):
        near = _vertex(X, first + offset)
        top, after = _ledge_levels(draw, levels[-1], last=k == count - 1)
        edges += [near, near + length]
        levels += [top, after]
    return _profile(X, cell, edges, levels)


def _ledge_levels(draw, level: float, last: bool) -> tuple[float, float]:
    """(top, ground after) of a ledge whose near ground is at `level`, the start height being 0: what is drawn
    brings the ground after it within LEVEL_BAND of the start height, or onto it after the last ledge."""
    band = 0.0 if last else LEVEL_BAND
    drop = draw.values["drop_height"]
    lo, hi = (drop, drop) if drop is not None else (draw.spec["drop_height"][k] for k in ("min", "max"))
    # A top from which some drop reaches the band: so that a drawn drop seldom has to stop at its range's end.
    top = level + _each(draw, "ledge_height", (lo - level - band, hi - level + band))
    return top, top - _each(draw, "drop_height", (top - band, top + band))


def _each(draw, name: str, wanted: tuple[float, float]) -> float:
    """A set value of `name` as it is; a null one drawn afresh from its range, within `wanted` as far as the
    range allows (the range's nearest end when they do not meet)."""
    if draw.values[name] is not None:
        return float(draw.values[name])
    lo, hi = draw.spec[name]["min"], draw.spec[name]["max"]
    a, b = np.clip(wanted, lo, hi)
    return float(draw.rng.uniform(a, b)) if b > a else float(a)
