"""Seeded terrain generators: `make_terrain(kind, seed, **params)`.

Every kind is a corridor along +X from x = 0 to `length` (metres), centred on y = 0 and `width` wide, on a grid
that reaches MARGIN beyond it on every side (so queries near the route stay strictly inside, where Bullet's
rays hit). The start pad is flat ground around start = (PAD / 2, 0) and the goal pad flat ground around
goal = (length - PAD / 2, y) with y drawn within the corridor; the features lie between the pads.

Heights are sampled at the vertices from piecewise-constant or piecewise-linear profiles whose breaks sit on
vertices, so treads and platforms are exactly flat, ramps exactly planar, and every step edge is one cell
wide, the way Bullet triangulates it.

Default parameters and valid ranges live in configs/terrain/KIND.yaml. A parameter whose value is null is
drawn per seed (numpy default_rng(seed)) from its range, cut to what fits the corridor.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import ndimage

import configs
from configs.typed import shown
from terrain import numbers, skill_terrains
from terrain.field import scatter
from terrain.heightfield import Heightfield

# The corridors (length, width: the suites, benchmarks and training data use these) and the open field. The
# skill corridors (terrain/skill_terrains.py) need a jump, which neither the engine nor the model can make yet:
# they stay out of CORRIDOR_KINDS, which the suites and benchmarks walk (the dataset configs name their kinds).
CORRIDOR_KINDS = ("flat", "slope", "stairs", "steps", "rough", "course")
SKILL_KINDS = skill_terrains.KINDS
KINDS = CORRIDOR_KINDS + ("field",) + SKILL_KINDS
SECTION_KINDS = ("slope", "stairs", "steps", "rough")
LAYOUT = ("length", "width", "cell")
PAD = 1.5  # side of the flat start and goal pads, m
RUN_UP = 0.5  # flat ground between a pad and the features, m
MARGIN = 0.5  # grid beyond the corridor on every side, m
START_CLEAR = 3.0  # m around the field's start (its middle) kept free of features
SECTION_GAP = 0.5  # flat ground between the sections of a course, m
MIN_SECTION = 3.0  # shortest course section, m


@cache
def parameter_spec(kind: str) -> dict:
    """Parameters of a kind as {name: {default, min, max} or {default, choices}}, from its shipped YAML."""
    if kind not in KINDS:
        raise ValueError(f"unknown terrain kind {shown(kind)}; kinds: {', '.join(KINDS)}")
    return load_parameter_spec(configs.shipped(f"terrain/{kind}.yaml"))


def load_parameter_spec(path) -> dict:
    """A terrain kind's parameter file, checked: each parameter {default, min, max} or {default, choices}."""
    spec = configs.read_yaml(path, "terrain parameter file")
    if not isinstance(spec, dict) or not all(isinstance(s, dict) for s in spec.values()):
        raise ValueError(
            f"terrain parameter file {path} must map each parameter to {{default, min, max}} or {{default, choices}}"
        )
    for name, s in spec.items():
        if sorted(s) not in (["default", "max", "min"], ["choices", "default"]):
            raise ValueError(
                f"terrain parameter file {path}: {name} has keys {', '.join(map(str, s))}; give "
                "default, min and max, or default and choices"
            )
    return spec


def _valid_range(spec: dict) -> str:
    return f"one of {spec['choices']}" if "choices" in spec else f"[{spec['min']}, {spec['max']}]"


def _is_int_param(spec: dict) -> bool:
    return "choices" not in spec and isinstance(spec["min"], int) and isinstance(spec["max"], int)


def resolve_params(kind: str, params: dict) -> dict:
    """The kind's defaults overridden by `params`, validated; ValueError names a bad parameter and its range."""
    spec = parameter_spec(kind)
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ValueError(f"{kind} terrain has no parameter {shown(unknown[0])}; parameters: {', '.join(spec)}")
    values = {name: s["default"] for name, s in spec.items()}
    for name, value in params.items():
        s = spec[name]
        if value is None and s["default"] is None:
            continue
        if "choices" in s:
            ok = value in s["choices"]
        elif _is_int_param(s):
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and s["min"] <= value <= s["max"]
        else:
            ok = (
                isinstance(value, (int, float, np.integer, np.floating))
                and not isinstance(value, bool)
                and (isinstance(value, (int, np.integer)) or bool(np.isfinite(value)))  # an int is finite
                and s["min"] <= value <= s["max"]
            )
        if not ok:
            raise ValueError(
                f"{kind} terrain parameter {name}={shown(value)} is invalid: valid range {_valid_range(s)}"
            )
        values[name] = value
    return values


class _Draw:
    """Parameter values of one kind, drawing the null ones from the seeded generator on first use."""

    def __init__(self, kind: str, values: dict, rng: np.random.Generator):
        self.kind, self.values, self.rng = kind, values, rng
        self.spec = parameter_spec(kind)

    def __call__(self, name: str, fit: float | None = None):
        """Value of `name`, at most `fit` (what the corridor has room for) if given."""
        s, value = self.spec[name], self.values[name]
        hi = s.get("max") if fit is None else min(s["max"], fit)
        if "choices" in s:
            if value == "random":
                value = str(self.rng.choice([c for c in s["choices"] if c != "random"]))
        elif value is None:
            if hi < s["min"]:
                raise ValueError(
                    f"{self.kind} terrain: no room for {name} >= {s['min']} (room for {fit:.3g}); increase length"
                )
            value = (
                int(self.rng.integers(s["min"], int(hi) + 1))
                if _is_int_param(s)
                else float(self.rng.uniform(s["min"], hi))
            )
        elif fit is not None and value > fit + 1e-9:
            raise ValueError(
                f"{self.kind} terrain parameter {name}={value} does not fit the corridor "
                f"(at most {fit:.3g} here); increase length or lower {name}"
            )
        self.values[name] = value
        return value

    def least(self, name: str) -> float:
        """The value `name` will have at least: its set value, else the bottom of its range."""
        value = self.values[name]
        return self.spec[name]["min"] if value is None else value


def _snap(x: float, cell: float) -> float:
    """Nearest vertex x (vertices sit at multiples of cell, the grid starting at -MARGIN)."""
    return -MARGIN + round((x + MARGIN) / cell) * cell


def _whole_cells(length: float, cell: float) -> float:
    return round(length / cell) * cell


def _risers(X, edges, rises, cell):
    """Sum of rises[k] wherever X is past edges[k] (edges on vertices): one-cell-wide step edges."""
    h = np.zeros_like(X)
    for edge, rise in zip(edges, rises):
        h += rise * (X > edge - 0.5 * cell)
    return h


def _slope(draw: _Draw, X, Y, x0, x1, cell):
    room = x1 - x0
    direction = draw("direction")
    angle = np.radians(draw("angle"))
    ramps = {"up": [1.0], "down": [-1.0], "up_down": [1.0, -1.0]}[direction]
    if direction == "up_down":
        run = _whole_cells(draw("run", (room - draw.least("platform")) / 2), cell)
        platform = _whole_cells(draw("platform", room - 2 * run), cell)
    else:
        run, platform = _whole_cells(draw("run", room), cell), 0.0
    rise = np.tan(angle) * run
    start = _snap(x0 + draw.rng.uniform(0, max(room - len(ramps) * run - platform, 0.0)), cell)
    knots_x, knots_h, x, h = [start], [0.0], start, 0.0
    for k, sign in enumerate(ramps):
        if k:
            x += platform
            knots_x.append(x)
            knots_h.append(h)
        x, h = x + run, h + sign * rise
        knots_x.append(x)
        knots_h.append(h)
    return np.interp(X, knots_x, knots_h)


def _stairs(draw: _Draw, X, Y, x0, x1, cell):
    room = x1 - x0
    direction = draw("direction")
    step_height = draw("step_height")
    tread = _whole_cells(draw("tread"), cell)
    flights = {"up": [1.0], "down": [-1.0], "up_down": [1.0, -1.0]}[direction]
    landing = draw.least("landing") if direction == "up_down" else 0.0
    # A flight of n risers spans (n - 1) treads between its first and last riser.
    n = draw("num_steps", (room - landing) / (len(flights) * tread) + 1)
    if direction == "up_down":
        landing = _whole_cells(draw("landing", room - 2 * (n - 1) * tread), cell)
    span = len(flights) * (n - 1) * tread + landing
    first = _snap(x0 + draw.rng.uniform(0, max(room - span, 0.0)), cell)
    edges, rises = [], []
    for k, sign in enumerate(flights):
        start = first + k * ((n - 1) * tread + landing)
        edges += [start + s * tread for s in range(n)]
        rises += [sign * step_height] * n
    return _risers(X, edges, rises, cell)


def _steps(draw: _Draw, X, Y, x0, x1, cell, width):
    room = x1 - x0
    count = draw("num_features", room / 1.0)
    slot = room / count
    h = np.zeros_like(X)
    for k in range(count):
        kind = draw.rng.choice(["step", "platform", "box"])
        lo = x0 + k * slot
        if kind == "step":
            edge = _snap(lo + draw.rng.uniform(0.2, 0.8) * slot, cell)
            h += _risers(X, [edge], [draw.rng.choice([-1.0, 1.0]) * draw("step_height")], cell)
            continue
        if kind == "platform":
            size = draw.rng.uniform([0.5, 1.0], [min(2.0, slot), width])
            rise = draw("step_height")
        else:
            size = draw.rng.uniform([0.3, 0.3], [min(1.2, slot), 1.2])
            rise = draw("box_height")
        cx = lo + draw.rng.uniform(0.5 * size[0], slot - 0.5 * size[0])
        cy = draw.rng.uniform(-0.5 * (width - size[1]), 0.5 * (width - size[1]))
        ax0, ax1 = _snap(cx - 0.5 * size[0], cell), _snap(cx + 0.5 * size[0], cell)
        ay0, ay1 = cy - 0.5 * size[1], cy + 0.5 * size[1]
        half = 0.5 * cell
        inside = (X > ax0 - half) & (X < ax1 - half) & (Y > ay0 - half) & (Y < ay1 - half)
        h += rise * inside
        # A box or platform standing on a step edge of this slot would tilt: none is in the same slot.
    return h


def _rough(draw: _Draw, X, Y, x0, x1, cell):
    amplitude, scale = draw("amplitude"), draw("scale")
    noise = ndimage.gaussian_filter(draw.rng.standard_normal(X.shape), scale / cell, mode="wrap")
    # Fade out over a metre at each end so the surroundings stay flat.
    fade = np.clip(np.minimum(X - x0, x1 - X) / 1.0, 0.0, 1.0)
    bumps = noise * (fade * fade * (3 - 2 * fade))
    return amplitude * bumps / max(np.abs(bumps).max(), 1e-12)


def _section(kind: str, draw: _Draw, X, Y, x0, x1, cell, width):
    """Heights of one section between x0 and x1 relative to the level before it (the level after it holds
    beyond x1)."""
    if kind == "steps":
        return _steps(draw, X, Y, x0, x1, cell, width)
    if kind in SKILL_KINDS:
        return skill_terrains.section(kind, draw, X, x0, x1, cell)
    return {"slope": _slope, "stairs": _stairs, "rough": _rough}[kind](draw, X, Y, x0, x1, cell)


def make_terrain(kind: str, seed: int, **params) -> Heightfield:
    """A seeded terrain of `kind` (one of KINDS) with its start and goal pads set; same seed, same terrain.

    params override configs/terrain/KIND.yaml (ValueError names a bad parameter and its valid range).
    """
    values = resolve_params(kind, params)
    rng = np.random.default_rng(numbers.seed(seed))
    if kind == "field":
        return _field(rng, float(values["size"]), float(values["cell"]), values["features"])
    draw = _Draw(kind, values, rng)
    length, width, cell = (float(values[k]) for k in LAYOUT)
    nx = int(round((length + 2 * MARGIN) / cell)) + 1
    ny = int(round((width + 2 * MARGIN) / cell)) + 1
    origin = np.array([-MARGIN, -0.5 * (ny - 1) * cell])
    X, Y = np.meshgrid(origin[0] + cell * np.arange(nx), origin[1] + cell * np.arange(ny), indexing="ij")
    x0, x1 = PAD + RUN_UP, length - PAD - RUN_UP

    heights = np.zeros((nx, ny))
    if kind == "course":
        count = draw("num_sections", (x1 - x0 + SECTION_GAP) / (MIN_SECTION + SECTION_GAP))
        step = (x1 - x0 + SECTION_GAP) / count
        for k in range(count):
            section = str(rng.choice(SECTION_KINDS))
            sub = _Draw(section, resolve_params(section, {}), rng)
            heights += _section(section, sub, X, Y, x0 + k * step, x0 + (k + 1) * step - SECTION_GAP, cell, width)
    elif kind != "flat":
        heights += _section(kind, draw, X, Y, x0, x1, cell, width)

    goal_y = rng.uniform(-0.5 * width + PAD, 0.5 * width - PAD)
    return Heightfield(heights, cell, origin, start=(0.5 * PAD, 0.0), goal=(length - 0.5 * PAD, goal_y))


def _field(rng, size, cell, features):
    """An open square of side `size` m centred on the origin with `features` scattered on it (terrain/field.py),
    the start pad in its middle and the goal pad near its border in a random direction."""
    n = int(round((size + 2 * MARGIN) / cell)) + 1
    origin = np.full(2, -0.5 * (n - 1) * cell)
    X, Y = np.meshgrid(*(origin[k] + cell * np.arange(n) for k in range(2)), indexing="ij")
    angle = rng.uniform(-np.pi, np.pi)
    way = np.array([np.cos(angle), np.sin(angle)])
    goal = (0.5 * size - PAD) * way / np.abs(way).max()  # on the square of the pads' centres
    heights = scatter(rng, X, Y, cell, size, features, [(np.zeros(2), START_CLEAR), (goal, PAD)])
    return Heightfield(heights, cell, origin, start=(0.0, 0.0), goal=goal)
