"""The `field` terrain's features: slopes, stairs, steps, boxes and rough patches scattered on an open square.

`scatter(rng, X, Y, cell, size, count, keep_clear)` returns the heights (m) of `count` features on the grid of
vertex coordinates X, Y (m), inside the square of side `size` centred on the origin, none touching the circles
`keep_clear` ((centre xy, radius m) pairs: the start and goal pads) or each other. Each is a shape a walker meets
from every side, built like the corridor kinds' features (generators.py): heights on vertices, treads and tops
exactly flat, every step edge one cell wide.
  slope   a mound: planar ramps up on all four sides to a flat top (2-15 degrees)
  stairs  a stepped pyramid: flights of up to 5 steps up on all four sides to a flat top (0.05-0.2 m risers)
  step    a raised platform a walker steps onto (0.05-0.25 m)
  box     a block, an obstacle to walk round where it is taller than a step (0.1-0.6 m)
  rough   a patch of smooth random bumps (up to 0.1 m), fading out at its rim
A feature that finds no room shrinks and tries again; ValueError when the square cannot hold them all.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

FEATURES = ("slope", "stairs", "step", "box", "rough")
GAP = 0.6  # m of flat ground between two features, and between a feature and a kept-clear circle
TRIES = 60  # random places tried for a feature at one size
SHRINK = 0.8  # a feature without room is this much smaller at its next tries
SMALLEST = 0.3  # m: the least half-size a shrinking feature keeps before the field counts as full
HALF_SIZE = {"slope": 2.5, "stairs": 2.0, "step": 1.5, "box": 0.6, "rough": 2.5}  # m, the largest of each kind
CROWD = 0.2  # of the free ground the features' circles may cover before they are made smaller up front


def scatter(rng, X, Y, cell, size, count, keep_clear):
    """Heights (nx, ny) of `count` random features (see the module docstring)."""
    heights = np.zeros_like(X)
    placed = list(keep_clear)
    # Many features on a small square are smaller ones, or they would not fit.
    free = size**2 - sum(np.pi * r**2 for _, r in keep_clear)
    typical = np.pi * (0.8 * np.mean(list(HALF_SIZE.values())) * np.sqrt(2.0) + 0.5 * GAP) ** 2
    scale = min(1.0, np.sqrt(CROWD * free / max(count * typical, 1e-9)))
    for k in range(count):
        kind = str(rng.choice(FEATURES))
        half = HALF_SIZE[kind] * rng.uniform(0.6, 1.0) * scale
        centre = None
        while centre is None:
            centre = _place(rng, half, size, placed)
            if centre is None:
                half *= SHRINK
                if half < SMALLEST:
                    raise ValueError(
                        f"field terrain: no room for feature {k + 1} of {count} on a {size:g} m square; "
                        "lower features or raise size"
                    )
        placed.append((centre, half * np.sqrt(2.0)))
        # Features sit on vertices: their centre on the nearest one, their half-size in whole cells; each is
        # computed on its own window of the grid.
        n = max(int(round(half / cell)), 2)
        centre_ij = np.rint((centre - np.array([X[0, 0], Y[0, 0]])) / cell).astype(int)
        lo = np.maximum(centre_ij - n - 1, 0)
        hi = np.minimum(centre_ij + n + 2, X.shape)
        di = np.abs(np.arange(lo[0], hi[0]) - centre_ij[0])[:, None]
        dj = np.abs(np.arange(lo[1], hi[1]) - centre_ij[1])[None, :]
        heights[lo[0] : hi[0], lo[1] : hi[1]] += _shape(kind, rng, di, dj, n, cell)
    return heights


def _place(rng, half, size, placed):
    """A centre (2,) for a feature of half-size `half` m (its circle of radius half * sqrt 2 clear of every
    placed circle by GAP and inside the square), or None after TRIES random tries."""
    radius = half * np.sqrt(2.0)
    room = 0.5 * size - half - GAP
    if room <= 0:
        return None
    for _ in range(TRIES):
        centre = rng.uniform(-room, room, 2)
        if all(np.linalg.norm(centre - c) >= radius + r + GAP for c, r in placed):
            return centre
    return None


def _shape(kind, rng, di, dj, n, cell):
    """Heights of one feature of half-size n cells on a window of vertices at index distances di (nx, 1) and
    dj (1, ny) from its centre."""
    ring = np.maximum(di, dj)  # square rings of vertices around the centre (nx, ny)
    inside = ring <= n
    if kind == "slope":
        run = rng.integers(max(n // 3, 1), max(2 * n // 3, 2) + 1)  # cells of ramp; the rest is the top
        rise = np.tan(np.radians(rng.uniform(2.0, 15.0))) * cell
        return rise * np.clip(n - ring, 0, run)
    if kind == "stairs":
        tread = max(int(round(rng.uniform(0.25, 0.5) / cell)), 1)
        levels = max(min(int(rng.integers(2, 6)), n // tread), 1)
        risers = np.clip((n - ring) // tread + 1, 0, levels) * inside
        return rng.uniform(0.05, 0.2) * risers
    if kind in ("step", "box"):
        # A rectangle: half-sizes n and a random fraction of n cells along the two axes.
        m = max(int(n * rng.uniform(0.4, 1.0)), 1)
        lo, hi = (0.05, 0.25) if kind == "step" else (0.1, 0.6)
        across = (di <= n) & (dj <= m) if rng.random() < 0.5 else (di <= m) & (dj <= n)
        return rng.uniform(lo, hi) * across
    noise = ndimage.gaussian_filter(rng.standard_normal(ring.shape), rng.uniform(0.3, 1.0) / cell, mode="wrap")
    distance = np.hypot(di, dj) / n
    fade = np.clip((1.0 - distance) / 0.3, 0.0, 1.0)
    bumps = noise * fade * fade * (3 - 2 * fade)
    return rng.uniform(0.02, 0.1) * bumps / max(np.abs(bumps).max(), 1e-12)
