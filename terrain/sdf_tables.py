"""The look-up tables of terrain.sdf.SignedDistance: bounds, per cell and per window of cells, that let its search
prove that no geometry is near a point, and the blocks its best-first search visits.

Built once per terrain (tens of ms for a course). World metres, Z up; cells (i, j) of the Heightfield's vertex grid
are numbered i * (ny - 1) + j.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from terrain.heightfield import Heightfield

# The signed distance is exact (to sdf.SDF_TOLERANCE) within this distance of the surface: the tables bound the
# geometry this far around every cell; beyond it, it may return an upper bound (the vertical gap), which is still
# larger than this.
SDF_EXACT_RANGE = 0.5


@dataclass(frozen=True)
class SdfTables:
    """Bounds that let the search prove no geometry is near a point. Cells (i, j) are numbered i * (ny - 1) + j;
    window k of a cell covers cells (i - k .. i + k, j - k .. j + k)."""

    levels: np.ndarray  # (L,) the window sizes k that the bounds below are kept for
    hmax: np.ndarray  # (L, cells) max vertex height over each window
    hmin: np.ndarray  # (L, cells) min vertex height over each window
    slope: np.ndarray  # (L, cells) max slope (tan) over each window
    planar_radius: np.ndarray  # (cells,) the largest k whose window is one plane; -1 for a bent cell
    cell_range: np.ndarray  # (cells, 2) min and max height of each cell
    cell_planes: np.ndarray  # (cells, 2, 4) unit normal n and offset w of its two triangles (distance n.p + w)
    block: int  # blocks of block x block cells for the best-first search
    blocks: tuple  # (nbx, nby) blocks along x and y
    block_range: np.ndarray  # (blocks, 2) height range of each block's bent cells
    block_cells: np.ndarray  # (blocks, M) ids of each block's bent (not level) cells, -1 padded

    @classmethod
    def build(cls, terrain: Heightfield) -> SdfTables:
        h, cell = terrain.heights, terrain.cell
        h00, h10, h01, h11 = h[:-1, :-1], h[1:, :-1], h[:-1, 1:], h[1:, 1:]
        cmax = np.maximum(np.maximum(h00, h10), np.maximum(h01, h11))
        cmin = np.minimum(np.minimum(h00, h10), np.minimum(h01, h11))
        slope = np.sqrt(np.maximum((h10 - h00) ** 2 + (h01 - h00) ** 2, (h11 - h01) ** 2 + (h11 - h10) ** 2)) / cell
        kmax = int(np.ceil(SDF_EXACT_RANGE / cell - 1e-9))
        levels = sorted({k for k in (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64) if k < kmax} | {kmax})

        def windows(a, op):
            return np.stack([(op(a, 2 * k + 1, mode="nearest") if k else a).ravel() for k in levels])

        return cls(
            levels=np.array(levels),
            hmax=windows(cmax, ndimage.maximum_filter),
            hmin=windows(cmin, ndimage.minimum_filter),
            slope=windows(slope, ndimage.maximum_filter),
            planar_radius=_planar_radius(h00, h10, h01, h11, kmax).ravel(),
            cell_range=np.stack([cmin.ravel(), cmax.ravel()], -1),
            cell_planes=_cell_planes(terrain, h00, h10, h01, h11),
            **_blocks(cmin, cmax, cell),
        )


def _planar_radius(h00, h10, h01, h11, kmax):
    """Per cell, the largest k <= kmax whose window is one plane; -1 for a bent cell."""
    # A cell is one plane when its diagonals agree; it shares its neighbours' plane when they are planar
    # too with the same slopes (neighbours share a vertex). Window k is one plane when window k - 1 of the
    # cell and of all its neighbours is.
    eps = 1e-9
    sx, sy = h10 - h00, h01 - h00
    planar = np.abs(h00 + h11 - h10 - h01) <= eps

    def spread(a):
        return ndimage.maximum_filter(a, 3, mode="nearest") - ndimage.minimum_filter(a, 3, mode="nearest")

    same = planar & ndimage.minimum_filter(planar, 3, mode="nearest") & (spread(sx) <= eps) & (spread(sy) <= eps)
    planar_radius = np.where(planar, 0, -1)
    window_planar = planar
    for k in range(1, kmax + 1):
        window_planar = same & ndimage.minimum_filter(window_planar, 3, mode="nearest")
        if not window_planar.any():
            break
        planar_radius[window_planar] = k
    return planar_radius


def _blocks(cmin, cmax, cell) -> dict:
    """The SdfTables fields of the blocks: about 0.2 m each, listing their bent (not level) cells first; their
    bounds cover the bent cells only (a block with none is never visited)."""
    block = max(2, int(round(0.2 / cell)))
    nbx, nby = -(-cmax.shape[0] // block), -(-cmax.shape[1] // block)
    pad = ((0, nbx * block - cmax.shape[0]), (0, nby * block - cmax.shape[1]))
    bent = np.pad(cmax > cmin, pad)

    def per_block(a):
        return a.reshape(nbx, block, nby, block).transpose(0, 2, 1, 3).reshape(nbx * nby, block * block)

    bent_b = per_block(bent)
    bmax = np.where(bent_b, per_block(np.pad(cmax, pad)), -np.inf).max(1)
    bmin = np.where(bent_b, per_block(np.pad(cmin, pad)), np.inf).min(1)
    ids = per_block(np.pad(np.arange(cmax.size).reshape(cmax.shape), pad, constant_values=-1))
    ids = np.where(bent_b, ids, -1)
    ids = np.take_along_axis(ids, np.argsort(~bent_b, axis=1, kind="stable"), 1)
    return {
        "block": block,
        "blocks": (nbx, nby),
        "block_range": np.stack([bmin, bmax], -1),
        "block_cells": ids[:, : max(int(bent_b.sum(1).max()), 1)],
    }


def _cell_planes(terrain, h00, h10, h01, h11):
    """Unit normal n and offset w (cells, 2, 4) of both triangles of each cell: the triangle distance is at
    least the plane distance |n.p + w|, a tighter bound than the box for steep cells."""
    cell = terrain.cell
    ii, jj = np.meshgrid(np.arange(h00.shape[0]), np.arange(h00.shape[1]), indexing="ij")
    x0, y0 = terrain.origin[0] + ii * cell, terrain.origin[1] + jj * cell
    planes = []
    for gx, gy, corner in (
        ((h10 - h00) / cell, (h01 - h00) / cell, (x0, y0, h00)),
        ((h11 - h01) / cell, (h11 - h10) / cell, (x0 + cell, y0 + cell, h11)),
    ):
        norm = np.sqrt(1.0 + gx * gx + gy * gy)
        n = (-gx / norm, -gy / norm, 1.0 / norm)
        planes.append(np.stack([*n, -(n[0] * corner[0] + n[1] * corner[1] + n[2] * corner[2])], -1))
    return np.stack(planes, -2).reshape(-1, 2, 4)
