"""Jump edges of the planner (terrain/planning.py): where a walker with a jump reach may leave the ground.

A jump joins two allowed nodes (planning's: traversable, with the clearance) along one of the eight move
directions: it takes off from the last allowed node before ground it may not stand on and lands on the first
allowed node after such ground (after the first stretch of it, or after a later one: a trench's floor may be
allowed ground that leads nowhere). Longer flights from further back or to further on are left out: walking to
the lip and from it costs less, and the sparse edges keep A* fast. Nothing in between may rise above the higher
end (it would be hit), and the horizontal distance and the rise or drop must be within the reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

# The eight move directions of the planner's steps and jumps, in A*'s order (so that ties break as before).
MOVES = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]
HEADROOM = 1e-6  # m the ground in between may rise above the higher end (rounding of equal heights)
FLIGHT_RATE = 2.0  # cost per metre flown, walking's being 1: a route jumps only where it must, and at the lips
_ROUNDING = 1e-9  # m: a length of k nodes is within a reach of k nodes, however it rounds
TAKE_OFF = 1.0  # cost of each jump, as many metres walked: a short detour on foot is preferred to a jump


@dataclass(frozen=True, kw_only=True)
class Jump:
    """One jump of a planned route: where it takes off and lands (world xy, m), at which arc lengths of the
    route (m), how far it rises (m; negative for a drop), and what it crosses: "gap" (ground lower than both
    ends, or little height change), "up" onto a ledge or "down" off one."""

    start: float
    end: float
    takeoff: tuple[float, float]
    landing: tuple[float, float]
    rise: float
    kind: Literal["gap", "up", "down"]

    @property
    def length(self) -> float:
        """Horizontal distance from take-off to landing, m (a jump is straight)."""
        return self.end - self.start


class Reach(NamedTuple):
    """How far a jump may reach: horizontal distance, rise and drop (m)."""

    length: float
    up: float
    down: float


MAX_REACH = Reach(length=10.0, up=5.0, down=10.0)  # the largest jump reach a planner config may ask for, m
# Cost per metre a jump goes beyond the reach, when the planner looks for the reach a blocked route needs: far
# above any route's own cost, so that the route found needs as little more reach as there is.
OVER_REACH = 1e4


class Edges(NamedTuple):
    """Jump edges: from nodes a to nodes b (flat indices (E,), or index pairs (E, 2) for a path's), with their
    horizontal lengths and rises (E,) in m."""

    a: np.ndarray
    b: np.ndarray
    length: np.ndarray
    rise: np.ndarray


def jump_edges(allowed: np.ndarray, h: np.ndarray, step: float, reach: Reach) -> Edges:
    """Every jump edge within `reach` on the node grid (allowed and h: (nx, ny); step: m between nodes)."""
    parts = [_along(allowed, h, step, reach, move) for move in MOVES]
    return Edges(*(np.concatenate([p[k] for p in parts]) for k in range(4)))


def _along(allowed, h, step, reach, move):
    """The jump edges along one move direction: (a, b, length, rise) arrays."""
    (nx, ny), (dx, dy) = allowed.shape, move
    unit = step * float(np.hypot(dx, dy))
    ax, ay = np.nonzero(allowed)
    nxt_x, nxt_y = ax + dx, ay + dy
    inside = (nxt_x >= 0) & (nxt_x < nx) & (nxt_y >= 0) & (nxt_y < ny)
    lip = inside & ~allowed[np.clip(nxt_x, 0, nx - 1), np.clip(nxt_y, 0, ny - 1)]
    ax, ay = ax[lip], ay[lip]
    ha = h[ax, ay]
    top = np.full(len(ax), -np.inf)  # the highest node in between so far
    before_blocked = np.zeros(len(ax), bool)  # whether the node before the one looked at is not allowed
    alive = np.ones(len(ax), bool)
    found = []
    for k in range(1, int(np.floor((reach.length + _ROUNDING) / unit)) + 1):
        bx, by = ax + k * dx, ay + k * dy
        alive &= (bx >= 0) & (bx < nx) & (by >= 0) & (by < ny)
        if not alive.any():
            break
        bx, by = np.clip(bx, 0, nx - 1), np.clip(by, 0, ny - 1)
        hb, ok = h[bx, by], allowed[bx, by]
        rise = hb - ha
        land = alive & ok & before_blocked & (top <= np.maximum(ha, hb) + HEADROOM)
        land &= (rise <= reach.up + _ROUNDING) & (rise >= -reach.down - _ROUNDING)
        if land.any():
            found.append(
                (ax[land] * ny + ay[land], bx[land] * ny + by[land], np.full(land.sum(), k * unit), rise[land])
            )
        before_blocked = ~ok
        top = np.maximum(top, hb)
        alive &= top <= ha + reach.up + HEADROOM  # no landing within the reach clears what is in between now
    if not found:
        empty = np.zeros(0)
        return empty.astype(int), empty.astype(int), empty, empty
    return tuple(np.concatenate([f[k] for f in found]) for k in range(4))


def edge_costs(edges: Edges, step_cost: float) -> np.ndarray:
    """What each jump costs the planner (walking costs 1 per metre and step_cost per metre of height change)."""
    return FLIGHT_RATE * edges.length + step_cost * np.abs(edges.rise) + TAKE_OFF


def excess(edges: Edges, reach: Reach) -> np.ndarray:
    """How far (m, summed over length, rise and drop) each edge goes beyond `reach`."""
    over = np.maximum(edges.length - reach.length - _ROUNDING, 0.0)
    over += np.maximum(edges.rise - reach.up - _ROUNDING, 0.0)
    return over + np.maximum(-edges.rise - reach.down - _ROUNDING, 0.0)


def adjacency(edges: Edges, cost: np.ndarray) -> dict:
    """A*'s jump moves: {node: [(node, cost), ...]} in flat node indices."""
    out = {}
    for a, b, c in zip(edges.a.tolist(), edges.b.tolist(), cost.tolist()):
        out.setdefault(a, []).append((b, c))
    return out


def leaps(nodes: np.ndarray) -> np.ndarray:
    """The indices i at which a node path (K, 2) jumps from node i to node i + 1 (a step moves one node)."""
    return np.flatnonzero(np.abs(np.diff(nodes, axis=0)).max(-1) > 1)


def path_edges(nodes: np.ndarray, h: np.ndarray, step: float) -> Edges:
    """The jumps of a node path (K, 2) as Edges whose a and b are node pairs (J, 2)."""
    at = leaps(nodes)
    a, b = nodes[at], nodes[at + 1]
    return Edges(a, b, step * np.hypot(*(b - a).T), h[b[:, 0], b[:, 1]] - h[a[:, 0], a[:, 1]])


def between(a, b) -> np.ndarray:
    """The nodes (K, 2) strictly between nodes a and b, which lie along a move direction."""
    k = int(np.abs(b - a).max())
    return a + np.arange(1, k)[:, None] * ((b - a) // k)


def jump_record(edges: Edges, k: int, h, ends, arc, heights, max_step: float) -> Jump:
    """Jump k of a path's edges (path_edges), taking off at ends[0] and landing at ends[1] (world xy, m), at
    arc lengths arc (2,) of the route, with the ground at `heights` (2,) there; h: the nodes' heights."""
    inner = between(edges.a[k], edges.b[k])
    lowest = h[inner[:, 0], inner[:, 1]].min()
    return Jump(
        start=float(arc[0]),
        end=float(arc[1]),
        takeoff=(float(ends[0][0]), float(ends[0][1])),
        landing=(float(ends[1][0]), float(ends[1][1])),
        rise=float(heights[1] - heights[0]),
        kind=kind_of(h[tuple(edges.a[k])], h[tuple(edges.b[k])], lowest, max_step),
    )


def blocked_at(edges: Edges, h, room, xy, reach: Reach, max_step: float) -> str:
    """The end of UnreachableGoal's message, from the jumps (path_edges) of a route that passes with a wider
    reach: where its first jump beyond `reach` leaves walkable ground (room 0: planning's Room), what it
    crosses, and the reach each setting needs for all of them."""
    beyond = excess(edges, reach) > 0
    if not beyond.any():  # cannot be, as the reach's own jumps are among the wider reach's: say nothing more
        return ""
    first = int(np.argmax(beyond))
    inner = between(edges.a[first], edges.b[first])
    lip = xy[tuple(inner[np.argmax(room[inner[:, 0], inner[:, 1]] == 0)])]
    rise, low = edges.rise[first], h[inner[:, 0], inner[:, 1]].min()
    what = kind_of(h[tuple(edges.a[first])], h[tuple(edges.b[first])], low, max_step)
    what = {"gap": "a gap", "up": f"a rise of {rise:.2f} m", "down": f"a drop of {-rise:.2f} m"}[what]
    return f": blocked at x={lip[0]:.2f}, y={lip[1]:.2f} m by {what}; {needed(edges.length, edges.rise, reach)}"


def kind_of(h_takeoff: float, h_landing: float, lowest: float, max_step: float) -> str:
    """What a jump crosses, from its ends' heights and the lowest node in between (m)."""
    rise = h_landing - h_takeoff
    if lowest < min(h_takeoff, h_landing) - max_step or abs(rise) <= max_step:
        return "gap"
    return "up" if rise > 0 else "down"


def needed(lengths, rises, reach: Reach) -> str:
    """The fix for a route whose jumps have these lengths and rises (m): the reach settings to widen, each to at
    least what its largest jump needs (rounded up to the centimetre)."""
    lengths, rises = np.asarray(lengths, float), np.asarray(rises, float)
    wants = [
        ("jump_length", lengths.max(initial=0.0), reach.length),
        ("jump_up", rises.max(initial=0.0), reach.up),
        ("jump_down", (-rises).max(initial=0.0), reach.down),
    ]
    fixes = [
        f"{name} to at least {np.ceil(want * 100 - 1e-9) / 100:.2f} m"
        for name, want, have in wants
        if want > have + _ROUNDING
    ]
    return "widen the reach: " + (fixes[0] if len(fixes) == 1 else ", ".join(fixes[:-1]) + " and " + fixes[-1])
