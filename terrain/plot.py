"""Top-down pictures of a terrain and a path (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LightSource, Normalize
from matplotlib.figure import Figure

from terrain.atomic import atomic_path
from terrain.heightfield import Heightfield

EDGE_SLOPE = 1.0  # triangles steeper than this (tan, 45 degrees) are drawn as step edges


def draw_terrain(ax, terrain: Heightfield, path=None, legend=True, marker_scale=1.0) -> ScalarMappable:
    """Draw `terrain` top-down into matplotlib axes `ax`: heights as hill-shaded colours, step edges in black,
    the path (P, 2) world xy in white, start (circle) and goal (star); axes in metres, equal aspect.
    Returns the height colour mapping (for a colour bar)."""
    h = terrain.heights
    lo, hi = terrain.bounds()
    half = 0.5 * terrain.cell
    extent = [lo[0] - half, hi[0] + half, lo[1] - half, hi[1] + half]
    span = max(float(np.ptp(h)), 1e-3)
    colours = ScalarMappable(Normalize(h.min() - 0.05 * span, h.max() + 0.05 * span), "viridis")
    shaded = LightSource(azdeg=315, altdeg=45).shade(
        h.T, cmap=colours.cmap, norm=colours.norm, blend_mode="soft", vert_exag=2.0, dx=terrain.cell, dy=terrain.cell
    )
    ax.imshow(shaded, origin="lower", extent=extent, interpolation="nearest")
    gx, gy = np.gradient(h, terrain.cell)
    edges = np.ma.masked_where(np.hypot(gx, gy) <= EDGE_SLOPE, np.ones_like(h))
    ax.imshow(edges.T, origin="lower", extent=extent, cmap="gray_r", vmin=0, vmax=1, alpha=0.7, interpolation="nearest")
    if path is not None:
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], color="black", lw=3.5 * marker_scale)
        ax.plot(path[:, 0], path[:, 1], color="white", lw=1.8 * marker_scale, label="path")
    if terrain.start is not None:
        ax.plot(*terrain.start, "o", ms=10 * marker_scale, mfc="limegreen", mec="black", label="start")
    if terrain.goal is not None:
        ax.plot(*terrain.goal, "*", ms=16 * marker_scale, mfc="red", mec="black", label="goal")
    if legend and (path is not None or terrain.start is not None or terrain.goal is not None):
        ax.legend(loc="upper left", fontsize=8, framealpha=0.8)
    ax.set_xlim(extent[:2])
    ax.set_ylim(extent[2:])
    ax.set_aspect("equal")
    return colours


def plot_terrain(terrain: Heightfield, path=None, out_png="terrain.png", title=None) -> Path:
    """Write a top-down PNG of `terrain` (see draw_terrain) with a colour bar of the heights. Written
    atomically; returns the path of the PNG."""
    lo, hi = terrain.bounds()
    size = hi - lo + 2 * terrain.cell
    fig_width = 14.0
    fig = Figure(figsize=(fig_width, 1.5 + 0.8 * fig_width * size[1] / size[0]), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colours = draw_terrain(ax, terrain, path)
    fig.colorbar(colours, ax=ax, label="height (m)", shrink=0.8)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    if title:
        ax.set_title(title)
    fig.tight_layout()

    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
    return out_png
