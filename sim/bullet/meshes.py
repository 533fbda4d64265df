"""The drawn terrain surface and the path ribbon as triangle meshes, in world coordinates (Z up, metres),
for sim/bullet/scene.py to upload as visual shapes. The surface is drawn as a mesh of the heightfield's own
triangles, textured by height with step edges darkened and a 1 m grid (Bullet's drawing of a heightfield
drops flat triangles at its lowest or highest height, and it maps textures implicitly).
"""

from __future__ import annotations

import numpy as np

from terrain.polyline import Polyline

# Terrain texture: heights run from LOW_COLOUR to HIGH_COLOUR; cells whose rise across the cell exceeds
# EDGE_SLOPE (tan) are step edges, darkened by up to EDGE_DARKEN; grid lines every GRID_SPACING metres.
LOW_COLOUR = np.array([0.86, 0.80, 0.66])
HIGH_COLOUR = np.array([0.52, 0.66, 0.80])
EDGE_SLOPE = 1.0
EDGE_DARKEN = 0.55
GRID_SPACING = 1.0  # m
GRID_DARKEN = 0.15
# Vertices per piece of the terrain mesh. PyBullet refuses meshes of more than 131072 vertices, and its GUI
# client crashes on a shape upload over 8 MB (a vertex with normal and uv takes 68 bytes).
MAX_MESH_VERTICES = 65536
# Most cells merged into one quad: TinyRenderer scans the screen box of every triangle, so long thin ones
# seen at an angle cost far more than the cells they replace.
MAX_RUN = 4

PATH_WIDTH = 0.04  # m
PATH_LIFT = 0.008  # m above the surface, so that the ribbon does not flicker into it


def terrain_colours(terrain) -> np.ndarray:
    """RGB in [0, 1] per cell, (nx - 1, ny - 1, 3): height colour, step edges darkened, a 1 m grid."""
    h = terrain.heights
    corners = np.stack([h[:-1, :-1], h[1:, :-1], h[:-1, 1:], h[1:, 1:]])
    span = float(np.ptp(h))
    level = (corners.mean(0) - h.min()) / span if span > 0 else np.zeros(corners.shape[1:])
    colour = LOW_COLOUR + level[..., None] * (HIGH_COLOUR - LOW_COLOUR)
    slope = np.ptp(corners, axis=0) / terrain.cell
    colour *= 1.0 - EDGE_DARKEN * np.clip(slope / EDGE_SLOPE, 0.0, 1.0)[..., None]
    # A cell is on a grid line when a multiple of GRID_SPACING falls inside it.
    lines = []
    for axis in range(2):
        start = terrain.origin[axis] + terrain.cell * np.arange(h.shape[axis] - 1)
        lines.append(np.floor((start + terrain.cell) / GRID_SPACING) > np.floor(start / GRID_SPACING))
    colour[lines[0][:, None] | lines[1][None, :]] *= 1.0 - GRID_DARKEN
    return colour


def terrain_mesh(terrain):
    """Pieces of the terrain surface as flat-shaded triangles, each piece under MAX_MESH_VERTICES.

    Triangles are Bullet's (terrain/heightfield.py): per cell (ix, iy) the lower (ix, iy), (ix + 1, iy),
    (ix, iy + 1) and the upper (ix + 1, iy + 1), (ix, iy + 1), (ix + 1, iy), counter-clockwise seen from above.
    A run of up to MAX_RUN level cells along y at one height is one such quad (a 40 m field has 0.7 M cells,
    mostly level: merged, its scene builds in 4 s instead of 15 and TinyRenderer draws it twice as fast).
    Vertices are not shared, so that step edges stay sharp. Yields (vertices (N, 3) world m, normals (N, 3),
    uvs (N, 2)); the uvs put cell (ix, iy) on texel (row iy, column ix) of the texture (nx - 1 columns).
    """
    nx, ny = terrain.shape
    h = terrain.heights
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    grid = np.stack([terrain.origin[0] + ix * terrain.cell, terrain.origin[1] + iy * terrain.cell, h], -1)
    # Image rows run from v = 1 down in both of PyBullet's renderers.
    uv = np.stack([ix / (nx - 1), 1.0 - iy / (ny - 1)], -1)
    level = (h[:-1, :-1] == h[1:, :-1]) & (h[:-1, :-1] == h[:-1, 1:]) & (h[:-1, :-1] == h[1:, 1:])
    joins = level[:, 1:] & level[:, :-1] & (h[:-1, 1:-1] == h[:-1, :-2])  # cell iy continues the run of iy - 1
    joins[:, MAX_RUN - 1 :: MAX_RUN] = False
    first = np.flatnonzero(~np.concatenate([np.zeros((nx - 1, 1), bool), joins], 1))  # runs, row by row
    row, y0 = np.divmod(first, ny - 1)
    y1 = np.minimum(np.append(first[1:], row[-1:] * (ny - 1) + ny - 1), (row + 1) * (ny - 1)) - row * (ny - 1)
    # Per run the quad's corners a, b, c, d: (ix, y0), (ix + 1, y0), (ix, y1), (ix + 1, y1).
    corners = [(row, y0), (row + 1, y0), (row, y1), (row + 1, y1)]
    order = (0, 1, 2, 3, 2, 1)
    runs = max(1, MAX_MESH_VERTICES // 6)
    for r0 in range(0, len(row), runs):
        parts = []
        for values in (grid, uv):
            quad = [values[x[r0 : r0 + runs], y[r0 : r0 + runs]] for x, y in corners]
            parts.append(np.stack([quad[k] for k in order], 1).reshape(-1, values.shape[-1]))
        vertices, uvs = parts
        tri = vertices.reshape(-1, 3, 3)
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        yield vertices, np.repeat(normal, 3, 0), uvs


def path_ribbon(terrain, path):
    """Vertices (N, 3) and triangle indices of a PATH_WIDTH ribbon draped PATH_LIFT over the surface along
    `path` (P, 2) world xy, resampled every half cell so that it follows step edges; None for a path with
    fewer than two distinct points."""
    line = Polyline(path).without_repeats(1e-9)
    if len(line.points) < 2:
        return None
    centre = line.point_at(np.linspace(0.0, line.length, int(np.ceil(line.length / (0.5 * terrain.cell))) + 1))
    tangent = Polyline(centre).tangents()
    left = 0.5 * PATH_WIDTH * np.stack([-tangent[:, 1], tangent[:, 0]], -1)
    xy = np.stack([centre - left, centre + left], 1).reshape(-1, 2)
    vertices = np.concatenate([xy, terrain.height(xy)[:, None] + PATH_LIFT], -1)
    # Vertex 2k is right of the path, 2k + 1 left: these windings face up.
    k = 2 * np.arange(len(centre) - 1)[:, None]
    return vertices, (k + np.array([0, 2, 1, 1, 2, 3])).ravel()
