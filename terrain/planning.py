"""Walking routes over a Heightfield: A* on a coarse node grid, smoothed, resampled by arc length.

What a walker can use (the limits and costs are PlannerConfig's): a node is traversable when the ground under its
footprint has a foothold no steeper than `max_slope_deg` (stair treads count even though their risers are walls)
and rises or falls by at most `max_step` within the footprint (so every step edge it stands near is climbable),
and it lies at least `clearance` from every non-traversable node and from the border. Neighbouring nodes connect
when their heights differ by at most `max_step`. A move costs its length times (1 + slope_cost * uphill/downhill
slope + cross_cost * cross slope) plus step_cost times the height change, slopes measured on heights smoothed
over about 0.2 m: the cross-slope term makes routes cross stairs and ramps head-on and turn on level ground.

With a jump reach (`jump_length` > 0; none by default), A* may also jump in a straight line along a move direction
from the last allowed node before ground a walker may not use to the first allowed node after it, within the
reach's distance, rise and drop, over nothing higher than the landing or the take-off (terrain/jumps.py: which
jumps, and what they cost). Smoothing never touches a jump: the walked stretches are smoothed on their own, so a
jump stays the straight line that A* chose.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from terrain import numbers
from terrain.heightfield import Heightfield
from terrain.jumps import (
    MAX_REACH,
    MOVES,
    OVER_REACH,
    Jump,
    Reach,
    adjacency,
    blocked_at,
    edge_costs,
    excess,
    jump_edges,
    jump_record,
    leaps,
    path_edges,
)
from terrain.polyline import Polyline

_SMOOTHING = 0.2  # length over which slopes are measured for costs, m


class UnreachableGoal(ValueError):
    """No traversable route joins the start to the goal."""


@dataclass(frozen=True)
class PlannerConfig:
    """What a walker may use and what a route costs (the module docstring says how each counts)."""

    spacing: float = 0.1  # m between a planned route's points, at most
    max_step: float = 0.3  # m a foothold may rise or fall within a node's footprint, and between nodes
    max_slope_deg: float = 25.0  # the steepest foothold
    clearance: float = 0.3  # m a route keeps from ground a walker may not stand on and from the border
    grid: float = 0.1  # m between the planning nodes
    slope_cost: float = 1.0  # per unit of uphill/downhill slope, times the length
    cross_cost: float = 3.0  # per unit of cross slope, times the length
    step_cost: float = 2.0  # per metre of height change
    # A jump reach (terrain/jumps.py); the default, none, keeps every route on the ground.
    jump_length: float = 0.0  # m from take-off to landing, horizontally, over ground a walker may not use
    jump_up: float = 0.0  # m a jump may rise
    jump_down: float = 0.0  # m a jump may drop


@dataclass(frozen=True, eq=False)
class PlannedRoute:
    """A planned route: `points` (P, 2) world xy (plan_path's) and the stretches of it that are jumps, in order."""

    points: np.ndarray
    jumps: tuple[Jump, ...] = field(default=())


class _Grid:
    """The planning nodes: traversability, heights and smoothed slopes at spacing `step` (metres)."""

    def __init__(self, terrain: Heightfield, config: PlannerConfig):
        numbers.instance(terrain, Heightfield, "terrain", "a Heightfield (make_terrain, Heightfield.load)")
        # before the nodes are allocated: a grid of 1e-6 m asks for terabytes
        step = numbers.finite(config.grid, "grid", 0.01, 10.0)
        self.terrain, self.step = terrain, step
        self.slope_cost, self.cross_cost = config.slope_cost, config.cross_cost
        lo, hi = terrain.bounds()
        self.lo = lo
        self.shape = tuple(int(n) for n in np.floor((hi - lo) / step + 1e-9) + 1)
        gx, gy = np.meshgrid(*(lo[k] + step * np.arange(self.shape[k]) for k in range(2)), indexing="ij")
        self.xy = np.stack([gx, gy], -1)
        self.h = terrain.height(self.xy)
        smooth = ndimage.gaussian_filter(self.h, _SMOOTHING / step, mode="nearest")
        self.grad = np.stack(np.gradient(smooth, step), -1)

        # Footprint of a node: the fine vertices within half a node spacing, plus one cell of overlap so that a
        # one-cell step edge between two nodes always lies inside one of their footprints.
        h, cell = terrain.heights, terrain.cell
        reach = int(np.ceil(0.5 * step / cell)) + 1
        size = 2 * reach + 1
        rise = ndimage.maximum_filter(h, size, mode="nearest") - ndimage.minimum_filter(h, size, mode="nearest")
        foothold = ndimage.minimum_filter(_vertex_slopes(h, cell), size, mode="nearest")
        idx = tuple(np.clip(np.rint((self.xy[..., k] - lo[k]) / cell).astype(int), 0, h.shape[k] - 1) for k in range(2))
        traversable = (rise[idx] <= config.max_step) & (foothold[idx] <= np.tan(np.radians(config.max_slope_deg)))
        # Distance (in nodes) to the nearest non-traversable node or to beyond the border.
        room = ndimage.distance_transform_edt(np.pad(traversable, 1))[1:-1, 1:-1]
        self.room = room * step
        self.allowed = traversable & (self.room >= config.clearance)

    def node(self, xy) -> np.ndarray:
        """Index (ix, iy) of the nearest node to world xy (..., 2)."""
        return np.clip(np.rint((np.asarray(xy) - self.lo) / self.step).astype(int), 0, np.array(self.shape) - 1)

    def allowed_at(self, xy) -> np.ndarray:
        n = self.node(xy)
        return self.allowed[n[..., 0], n[..., 1]]

    def cost_rate(self, xy, direction) -> np.ndarray:
        """Cost per metre of walking in unit `direction` (..., 2) at world xy (..., 2), before step costs."""
        n = self.node(xy)
        g = self.grad[n[..., 0], n[..., 1]]
        along = np.abs(np.sum(g * direction, -1))
        cross = np.abs(g[..., 0] * direction[..., 1] - g[..., 1] * direction[..., 0])
        return 1.0 + self.slope_cost * along + self.cross_cost * cross


def _vertex_slopes(h: np.ndarray, cell: float) -> np.ndarray:
    """Per vertex, the gentlest slope (tan) among the six Bullet triangles that share it."""
    lower = np.hypot(h[1:, :-1] - h[:-1, :-1], h[:-1, 1:] - h[:-1, :-1]) / cell
    upper = np.hypot(h[1:, 1:] - h[:-1, 1:], h[1:, 1:] - h[1:, :-1]) / cell
    out = np.full(h.shape, np.inf)
    # Lower triangle of cell (i, j) has vertices (i, j), (i+1, j), (i, j+1); upper has (i+1, j+1), (i+1, j),
    # (i, j+1).
    for tri, corners in ((lower, [(0, 0), (1, 0), (0, 1)]), (upper, [(1, 1), (1, 0), (0, 1)])):
        for di, dj in corners:
            view = out[di : di + tri.shape[0], dj : dj + tri.shape[1]]
            np.minimum(view, tri, out=view)
    return out


def plan_path(terrain: Heightfield, start=None, goal=None, config: PlannerConfig = PlannerConfig()) -> np.ndarray:
    """A walking route (P, 2) in world xy metres from `start` to `goal` (default: the terrain's pads).

    A* on nodes `config.grid` metres apart (see the module docstring for what is traversable and what costs),
    then shortcut where a straight line is free and no costlier, rounded at the corners, and resampled at
    equal arc-length steps of at most `config.spacing`; the first and last points are exactly start and goal.
    Raises UnreachableGoal (a ValueError) when no route exists, ValueError when the start is not traversable.
    The points of plan_route, which also says where the route jumps (with a jump reach in `config`).
    """
    return plan_route(terrain, start, goal, config).points


def plan_route(terrain: Heightfield, start=None, goal=None, config: PlannerConfig = PlannerConfig()) -> PlannedRoute:
    """plan_path's route and its jumps: each walked stretch shortcut, rounded and resampled on its own, each jump
    a straight stretch resampled likewise, so that every take-off and landing is one of the points.

    UnreachableGoal's message names where the route is blocked and, when jumps would pass, the reach to ask for.
    """
    numbers.instance(terrain, Heightfield, "terrain", "a Heightfield (make_terrain, Heightfield.load)")
    numbers.finite(config.spacing, "spacing", 0.01, 10.0)  # of the route's points: a smaller one makes millions
    reach = _reach(config)
    start = _endpoint(terrain, start, "start")
    goal = _endpoint(terrain, goal, "goal")
    g = _Grid(terrain, config)
    limits = f"max_step={config.max_step} m, max_slope_deg={config.max_slope_deg}, clearance={config.clearance} m"
    if reach.length > 0:
        limits += f", jump_length={reach.length} m, jump_up={reach.up} m, jump_down={reach.down} m"
    if not g.allowed_at(start):
        raise ValueError(f"start {start.tolist()} is not on traversable ground ({limits})")
    if not g.allowed_at(goal):
        raise UnreachableGoal(f"goal {goal.tolist()} is not on traversable ground ({limits})")

    source, target = tuple(g.node(start)), tuple(g.node(goal))
    jumps = _jump_moves(g, reach, config.step_cost) if reach.length > 0 else None
    nodes, costs = _astar(g, source, target, config.max_step, config.step_cost, jumps)
    if nodes is None:
        raise UnreachableGoal(
            f"no traversable route from start {start.tolist()} to goal {goal.tolist()} ({limits})"
            + _blocked(g, source, target, reach, config)
        )
    return _route(g, nodes, costs, start, goal, config)


def _jump_moves(g: _Grid, reach: Reach, step_cost: float, beyond: Reach | None = None) -> dict:
    """A*'s jump moves within `reach`; with `beyond`, a jump beyond that reach costs OVER_REACH more per metre
    it goes beyond it."""
    edges = jump_edges(g.allowed, g.h, g.step, reach)
    cost = edge_costs(edges, step_cost)
    if beyond is not None:
        cost = cost + OVER_REACH * excess(edges, beyond)
    return adjacency(edges, cost)


def _route(g: _Grid, nodes, costs, start, goal, config: PlannerConfig) -> PlannedRoute:
    """The route of A*'s nodes: walked runs smoothed apart, jumps kept straight, each resampled."""
    points = g.xy[nodes[:, 0], nodes[:, 1]]
    points[0], points[-1] = start, goal
    at = leaps(nodes).tolist()
    if not at:  # exactly the ground route of before jumps existed
        points = _round_corners(g, _shortcut(g, points, costs, config.step_cost))
        return PlannedRoute(Polyline(points).resample(config.spacing).points)
    pieces = []
    for k, (i, j) in enumerate(zip([0] + [i + 1 for i in at], at + [len(nodes) - 1])):
        walk = points[i : j + 1]
        if j > i:
            walk = _round_corners(g, _shortcut(g, walk, costs[i : j + 1], config.step_cost))
            walk = Polyline(walk).resample(config.spacing).points
        pieces.append(walk if k == 0 else walk[1:])
        if k < len(at):
            pieces.append(Polyline(points[j : j + 2]).resample(config.spacing).points[1:])
    route = np.concatenate(pieces)
    arc = Polyline(route).arc[np.cumsum([len(p) for p in pieces]) - 1]  # at each piece's last point
    ends = g.terrain.height(np.stack([points[at], points[np.array(at) + 1]], 1))
    edges = path_edges(nodes, g.h, g.step)
    jumps = (
        jump_record(edges, k, g.h, (points[i], points[i + 1]), arc[2 * k : 2 * k + 2], ends[k], config.max_step)
        for k, i in enumerate(at)
    )
    return PlannedRoute(route, tuple(jumps))


def _reach(config: PlannerConfig) -> Reach:
    """The config's jump reach, each number checked against MAX_REACH."""
    return Reach(
        *(numbers.finite(getattr(config, f"jump_{k}"), f"jump_{k}", 0.0, m) for k, m in zip(Reach._fields, MAX_REACH))
    )


def _blocked(g: _Grid, source, target, reach: Reach, config: PlannerConfig) -> str:
    """Where a route with no way through is blocked, and the reach that would pass, for UnreachableGoal: on the
    route that jumps least beyond the reach (up to MAX_REACH), its first jump beyond it."""
    wide = _jump_moves(g, MAX_REACH, config.step_cost, beyond=reach)
    nodes, best = _astar(g, source, target, config.max_step, config.step_cost, wide)
    if nodes is not None:
        return blocked_at(path_edges(nodes, g.h, g.step), g.h, g.room, g.xy, reach, config.max_step)
    reached = g.xy.reshape(-1, 2)[np.isfinite(best)]
    near = reached[np.argmin(np.linalg.norm(reached - g.xy[target], axis=-1))]
    return (
        f": it gets no nearer the goal than x={near[0]:.2f}, y={near[1]:.2f} m, and no jump passes on from there "
        f"(with jump_length up to {MAX_REACH.length} m, jump_up {MAX_REACH.up} m, jump_down {MAX_REACH.down} m)"
    )


def traversable(terrain: Heightfield, xy, config: PlannerConfig = PlannerConfig()) -> np.ndarray:
    """Whether a walker may stand at world xy (..., 2) by `plan_path`'s rules (judged at the nearest node)."""
    return _Grid(terrain, config).allowed_at(np.asarray(xy, dtype=np.float64))


class Room:
    """Distance (m) from any world xy to the nearest ground a walker may not stand on by `plan_path`'s step and
    slope rules (config's; its clearance is what this measures), or to the terrain's border (0 on such ground;
    judged at the nearest node): built once, queried often (a live controller clips every new route by it)."""

    def __init__(self, terrain: Heightfield, config: PlannerConfig = PlannerConfig()):
        self._grid = _Grid(terrain, replace(config, clearance=0.0))

    def at(self, xy) -> np.ndarray:
        """Room (...,) m at world xy (..., 2)."""
        n = self._grid.node(np.asarray(xy, dtype=np.float64))
        return self._grid.room[n[..., 0], n[..., 1]]


def _endpoint(terrain: Heightfield, xy, name: str) -> np.ndarray:
    xy = getattr(terrain, name) if xy is None else xy
    if xy is None:
        raise ValueError(f"no {name} given and the terrain has no {name} pad")
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape != (2,) or not terrain.contains(xy):
        raise ValueError(f"{name} {xy.tolist()} must be a world xy pair inside the terrain {terrain.bounds()}")
    return xy


def _astar(g: _Grid, source, target, max_step, step_cost, jumps=None):
    """Cheapest node path (K, 2) and the cost accumulated at each node; or None and the best cost found to every
    node (inf where none). `jumps`: jump moves {node: [(node, cost), ...]} (flat indices) beside the steps."""
    nx, ny = g.shape
    ok = g.allowed
    padded_ok = np.pad(ok, 1)
    padded_h = np.pad(g.h, 1)
    edge_costs, offsets = [], []
    for dx, dy in MOVES:
        there = (slice(1 + dx, 1 + dx + nx), slice(1 + dy, 1 + dy + ny))
        dh = np.abs(padded_h[there] - g.h)
        valid = ok & padded_ok[there] & (dh <= max_step)
        if dx and dy:  # no cutting corners past a blocked node
            valid &= padded_ok[1 + dx : 1 + dx + nx, 1 : 1 + ny] & padded_ok[1 : 1 + nx, 1 + dy : 1 + dy + ny]
        direction = np.array([dx, dy]) / np.hypot(dx, dy)
        length = g.step * np.hypot(dx, dy)
        cost = length * g.cost_rate(g.xy, direction) + step_cost * dh
        edge_costs.append(np.where(valid, cost, np.inf).ravel().tolist())
        offsets.append(dx * ny + dy)
    goal_xy = g.xy[target]
    heuristic = np.linalg.norm(g.xy - goal_xy, axis=-1).ravel().tolist()  # every metre costs at least 1

    src, dst = source[0] * ny + source[1], target[0] * ny + target[1]
    best = [np.inf] * (nx * ny)
    parent = [-1] * (nx * ny)
    done = bytearray(nx * ny)
    best[src] = 0.0
    heap = [(heuristic[src], src)]
    moves = list(zip(edge_costs, offsets))
    while heap:
        _, a = heapq.heappop(heap)
        if done[a]:
            continue
        if a == dst:
            break
        done[a] = 1
        base = best[a]
        for costs, offset in moves:
            c = costs[a]
            if c != np.inf:
                b = a + offset
                total = base + c
                if total < best[b]:
                    best[b] = total
                    parent[b] = a
                    heapq.heappush(heap, (total + heuristic[b], b))
        for b, c in jumps.get(a, ()) if jumps else ():
            total = base + c
            if total < best[b]:
                best[b] = total
                parent[b] = a
                heapq.heappush(heap, (total + heuristic[b], b))
    if best[dst] == np.inf:
        return None, np.array(best)
    chain = [dst]
    while chain[-1] != src:
        chain.append(parent[chain[-1]])
    chain.reverse()
    chain = np.array(chain)
    return np.stack([chain // ny, chain % ny], -1), np.array([best[k] for k in chain])


def _segment_cost(g: _Grid, a, b, step_cost):
    """(free, cost) of walking straight from a to b: free when every sample lies on an allowed node."""
    length = float(np.linalg.norm(b - a))
    n = max(int(np.ceil(length / (0.25 * g.step))), 1)
    samples = a + np.linspace(0.0, 1.0, n + 1)[:, None] * (b - a)
    if not g.allowed_at(samples).all():
        return False, np.inf
    direction = (b - a) / max(length, 1e-12)
    h = g.terrain.height(samples)
    rate = g.cost_rate(0.5 * (samples[1:] + samples[:-1]), direction)
    return True, float(np.sum(rate) * length / n + step_cost * np.abs(np.diff(h)).sum())


def _shortcut(g: _Grid, points, costs, step_cost):
    """Replace runs of the grid path by straight lines that are free and add no terrain cost (slope, cross
    slope, steps) beyond the run they replace (string pulling). Comparing totals would let a line across
    stairs win just by being shorter than the grid's zig-zag."""
    terrain_cost = costs - Polyline(points).arc
    keep = [0]
    i = 0
    while i < len(points) - 1:
        j = i + 1
        while j + 1 < len(points):
            free, cost = _segment_cost(g, points[i], points[j + 1], step_cost)
            extra = cost - np.linalg.norm(points[j + 1] - points[i]) - (terrain_cost[j + 1] - terrain_cost[i])
            if not free or extra > 0.02:
                break
            j += 1
        keep.append(j)
        i = j
    return points[keep]


def _round_corners(g: _Grid, points, iterations=40):
    """Laplacian smoothing of the polyline (resampled finely), never moving a point off allowed nodes."""
    fine = Polyline(points).resample(0.5 * g.step).points
    for _ in range(iterations):
        moved = fine.copy()
        moved[1:-1] = 0.5 * fine[1:-1] + 0.25 * (fine[:-2] + fine[2:])
        ok = g.allowed_at(moved)
        fine[ok] = moved[ok]
    return fine
