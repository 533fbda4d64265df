"""Heightfield terrain: exactly the surface PyBullet builds for GEOM_HEIGHTFIELD, with vectorised queries.

Frame and units: world coordinates in metres, Z up. `heights[ix, iy]` is the height of vertex (ix, iy), which
sits at world xy `(origin[0] + ix * cell, origin[1] + iy * cell)`. Every cell is split into two triangles
along the diagonal from vertex (ix + 1, iy) to vertex (ix, iy + 1), as Bullet does: the "lower" triangle
(ix, iy), (ix + 1, iy), (ix, iy + 1) and the "upper" triangle (ix + 1, iy + 1), (ix + 1, iy), (ix, iy + 1).
Interpolating on that triangle (not bilinearly) matches Bullet's ray hits; bilinear interpolation differs
by decimetres on rough ground.

Queries outside the grid clamp xy to the border first: height and normal there are those of the nearest
border point. The triangles and the interpolation on them are terrain.surface's; the signed distance to this
surface and a point's penetration depth are terrain.sdf's.

Queries take numpy arrays or torch tensors and return the same kind; the torch results are differentiable
with respect to the query points (index look-ups run in numpy, the arithmetic that carries gradients in torch).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from terrain.atomic import atomic_path
from terrain.npz import Limit, read_npz
from terrain.surface import Surface, interpolate, locate

# Default local terrain grid seen by a character: metres in its heading frame.
LOCAL_EXTENT_X = (-1.0, 2.0)
LOCAL_EXTENT_Y = (-1.0, 1.0)
LOCAL_SPACING = 0.1

TERRAIN_KEYS = ("terrain_heights", "terrain_cell", "terrain_origin")
OPTIONAL_KEYS = ("terrain_start", "terrain_goal")
# Largest terrain read from a file (docs/motion_format.md, Limits): 4096 vertices a side, 2048 x 2048 in all
# (100 m x 100 m at 0.05 m; the sdf tables of that take about 2 GB).
FILE_LIMITS = {
    "terrain_heights": Limit((4096, 4096), 2048 * 2048),
    "terrain_cell": (),
    "terrain_origin": (2,),
    "terrain_start": (2,),
    "terrain_goal": (2,),
}

# Values a terrain file may hold (docs/motion_format.md, Limits): far from float64 overflow in the surface's
# arithmetic (squares of heights and cell sizes), and wider than any terrain this project makes.
MAX_COORDINATE = 1e6  # m, of any height or world xy
CELL_RANGE = (1e-4, 100.0)  # m


def is_torch(x) -> bool:
    """Whether x is a torch tensor (without importing torch when nobody has)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _as_xy(value, name: str) -> np.ndarray:
    xy = np.asarray(value, dtype=np.float64)
    if xy.shape != (2,) or not np.all(np.isfinite(xy)):
        raise ValueError(f"{name} must be a finite world xy pair of shape (2,), got {value!r}")
    return xy


def local_grid_xy(extent_x=LOCAL_EXTENT_X, extent_y=LOCAL_EXTENT_Y, spacing=LOCAL_SPACING) -> np.ndarray:
    """Local xy (nx, ny, 2) of a character-frame grid: x forward, y left, metres; both extents inclusive."""
    if spacing <= 0:
        raise ValueError(f"spacing must be > 0, got {spacing}")
    axes = []
    for name, (lo, hi) in (("extent_x", extent_x), ("extent_y", extent_y)):
        if hi < lo:
            raise ValueError(f"{name} must be (low, high) with low <= high, got {(lo, hi)}")
        n = int(round((hi - lo) / spacing)) + 1
        axes.append(lo + spacing * np.arange(n))
    gx, gy = np.meshgrid(*axes, indexing="ij")
    return np.stack([gx, gy], -1)


@dataclass(frozen=True, eq=False, repr=False)
class Heightfield:
    """Terrain heights on a regular grid; see the module docstring for the frame and the triangulation.

    heights: (nx, ny) metres, x index first; cell: vertex spacing in metres; origin: world xy of vertex (0, 0);
    start, goal: optional world xy of the start and goal pads.
    """

    heights: np.ndarray
    cell: float
    origin: np.ndarray
    start: np.ndarray | None = None
    goal: np.ndarray | None = None

    def __post_init__(self):
        heights = np.array(self.heights, dtype=np.float64)
        if heights.ndim != 2:
            raise ValueError(f"heights must be a 2-D array heights[ix, iy], got shape {heights.shape}")
        if min(heights.shape) < 2:
            raise ValueError(f"heights needs at least 2 x 2 vertices, got shape {heights.shape}")
        if not np.all(np.isfinite(heights)):
            raise ValueError("heights contain NaN or infinite values")
        cell = float(self.cell)
        if not (np.isfinite(cell) and cell > 0):
            raise ValueError(f"cell must be a finite length > 0 m, got {self.cell!r}")
        heights.flags.writeable = False
        object.__setattr__(self, "heights", heights)
        object.__setattr__(self, "cell", cell)
        object.__setattr__(self, "origin", _as_xy(self.origin, "origin"))
        for name in ("start", "goal"):
            value = getattr(self, name)
            if value is not None:
                xy = _as_xy(value, name)
                if not self.contains(xy):
                    raise ValueError(f"{name} {xy.tolist()} lies outside the terrain bounds {self.bounds()}")
                object.__setattr__(self, name, xy)

    def __repr__(self):
        lo, hi = self.bounds()
        return (
            f"Heightfield({self.shape[0]} x {self.shape[1]} vertices, cell {self.cell} m, "
            f"x {lo[0]:.2f}..{hi[0]:.2f}, y {lo[1]:.2f}..{hi[1]:.2f}, "
            f"heights {self.heights.min():.3f}..{self.heights.max():.3f} m)"
        )

    # ----------------------------------------------------------------------------------------------------
    # Geometry of the grid

    @property
    def shape(self) -> tuple[int, int]:
        return self.heights.shape

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """World xy of the first and the last vertex: (xy_min, xy_max), metres."""
        return self.origin.copy(), self.origin + self.cell * (np.array(self.shape) - 1)

    def contains(self, xy, margin: float = 0.0):
        """True where world xy (..., 2) lies inside the bounds shrunk by `margin` metres (edges included).

        Bullet's rays miss exactly on the border vertices: use a small margin for points meant for Bullet.
        """
        lo, hi = self.bounds()
        xy = np.asarray(xy, dtype=np.float64)
        return np.all((xy >= lo + margin) & (xy <= hi - margin), axis=-1)

    def clamp(self, xy):
        """World xy (..., 2) moved to the nearest point of the bounds; numpy or torch like `xy`."""
        lo, hi = self.bounds()
        if is_torch(xy):
            return xy.clamp(min=xy.new_tensor(lo), max=xy.new_tensor(hi))
        return np.clip(xy, lo, hi)

    def _locate(self, xy: np.ndarray):
        """terrain.surface.locate on this grid: cell (i, j), offsets (u, v) and upper flag under world xy (..., 2)."""
        return locate(xy, self.origin[0], self.origin[1], self.cell, *self.shape)

    def corners(self, i, j, like=None):
        """Heights h00, h10, h01, h11 of the corners of cells (i, j) (integer numpy arrays): numpy, or torch of
        the dtype and device of the tensor `like`."""
        ny = self.shape[1]
        base = i * ny + j
        if like is None:
            flat = self.heights.reshape(-1)
        else:  # a copy per call, a fraction of a millisecond: a Heightfield holds no caches
            flat = _torch().tensor(np.array(self.heights), dtype=like.dtype, device=like.device).reshape(-1)
            base = _torch().as_tensor(base, device=like.device)
        return flat[base], flat[base + ny], flat[base + 1], flat[base + ny + 1]

    def surface(self, xy: np.ndarray) -> Surface:
        """The triangle under world xy (..., 2) (numpy), clamped to the grid."""
        i, j, u, v, upper = self._locate(xy)
        h, sx, sy = interpolate(*self.corners(i, j), u, v, upper, np.where)
        return Surface(i, j, u, v, upper, h, sx, sy)

    # ----------------------------------------------------------------------------------------------------
    # Height and normal

    def height(self, xy):
        """Surface height (metres) at world xy (..., 2); numpy in, numpy out; torch in, torch out."""
        if is_torch(xy):
            return self._height_torch(xy)
        return self.surface(np.asarray(xy, dtype=np.float64)).height

    def normal(self, xy):
        """Unit upward normal (..., 3) of the triangle under world xy (..., 2); numpy or torch like `xy`.

        The normal is constant on each triangle, so the torch result carries no gradient w.r.t. xy.
        """
        if is_torch(xy):
            n = self.normal(xy.detach().cpu().numpy())
            return _torch().as_tensor(n, dtype=xy.dtype, device=xy.device)
        under = self.surface(np.asarray(xy, dtype=np.float64))
        sx, sy = under.sx, under.sy
        n = np.stack([-sx / self.cell, -sy / self.cell, np.ones_like(sx)], -1)
        return n / np.linalg.norm(n, axis=-1, keepdims=True)

    def _height_torch(self, xy):
        torch = _torch()
        xy = self.clamp(xy)
        i, j, _, _, upper = self._locate(xy.detach().cpu().numpy().astype(np.float64))
        u = (xy[..., 0] - self.origin[0]) / self.cell - torch.as_tensor(i, dtype=xy.dtype, device=xy.device)
        v = (xy[..., 1] - self.origin[1]) / self.cell - torch.as_tensor(j, dtype=xy.dtype, device=xy.device)
        corners = self.corners(i, j, like=xy)
        return interpolate(*corners, u, v, torch.as_tensor(upper, device=xy.device), torch.where)[0]

    # ----------------------------------------------------------------------------------------------------
    # Local grids in a character's frame

    def local_grid(
        self, position, heading, relative_to, extent_x=LOCAL_EXTENT_X, extent_y=LOCAL_EXTENT_Y, spacing=LOCAL_SPACING
    ):
        """Terrain heights (B, nx, ny) on a grid in each character's heading frame, minus `relative_to`.

        position: (B, 2) or (B, 3) world metres (z is ignored); heading: (B,) yaw in radians about +Z (0 faces
        +X); relative_to: (B,) metres subtracted from each character's grid. Grid x (first index) runs
        forward, y to the character's left, at the local xy given by `local_grid_xy(extent_x, extent_y,
        spacing)`. numpy or torch like `position`; the torch result is differentiable w.r.t. position and
        heading.
        """
        local = local_grid_xy(extent_x, extent_y, spacing)
        if is_torch(position):
            import torch

            local, heading, relative_to = (
                torch.as_tensor(a, dtype=position.dtype, device=position.device) for a in (local, heading, relative_to)
            )
            xp = torch
        else:
            position = np.asarray(position, dtype=np.float64)
            heading = np.asarray(heading, dtype=np.float64)
            relative_to = np.asarray(relative_to, dtype=np.float64)
            xp = np
        if position.ndim != 2 or position.shape[1] not in (2, 3):
            raise ValueError(f"position must be (B, 2) or (B, 3), got shape {tuple(position.shape)}")
        batch = position.shape[0]
        for name, value in (("heading", heading), ("relative_to", relative_to)):
            if tuple(value.shape) != (batch,):
                raise ValueError(f"{name} must have shape ({batch},), got {tuple(value.shape)}")
        c = xp.cos(heading)[:, None, None]
        s = xp.sin(heading)[:, None, None]
        lx, ly = local[..., 0], local[..., 1]
        wx = position[:, 0, None, None] + c * lx - s * ly
        wy = position[:, 1, None, None] + s * lx + c * ly
        return self.height(xp.stack([wx, wy], -1)) - relative_to[:, None, None]

    # ----------------------------------------------------------------------------------------------------
    # Files

    def arrays(self) -> dict:
        """The terrain as arrays under the `terrain_*` keys (for .npz files, also embedded in Motion files)."""
        out = {
            "terrain_heights": np.array(self.heights),
            "terrain_cell": np.array(self.cell),
            "terrain_origin": self.origin.copy(),
        }
        if self.start is not None:
            out["terrain_start"] = self.start.copy()
        if self.goal is not None:
            out["terrain_goal"] = self.goal.copy()
        return out

    @classmethod
    def from_arrays(cls, arrays, source: str = "arrays") -> Heightfield:
        """Inverse of `arrays()`; `arrays` is any mapping (dict, NpzFile). Extra keys are ignored."""
        for key in TERRAIN_KEYS:
            if key not in arrays:
                raise ValueError(f"{source}: missing key '{key}': not a terrain file")
        optional = {key[len("terrain_") :]: np.asarray(arrays[key]) for key in OPTIONAL_KEYS if key in arrays}
        _check_file_numbers(arrays, source)
        return cls(
            np.asarray(arrays["terrain_heights"]),
            float(np.asarray(arrays["terrain_cell"])),
            np.asarray(arrays["terrain_origin"]),
            **optional,
        )

    def save(self, path) -> Path:
        """Write the terrain as .npz (keys of `arrays()`), atomically: a temporary file, then os.replace."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **self.arrays())
        return path

    @classmethod
    def load(cls, path) -> Heightfield:
        """Read a terrain (or a motion file's terrain); ValueError beyond the size limits of FILE_LIMITS."""
        return cls.from_arrays(read_npz(path, FILE_LIMITS, "terrain file"), source=str(path))


def _check_file_numbers(arrays, source):
    """ValueError naming the key of a terrain array whose numbers lie beyond CELL_RANGE or MAX_COORDINATE."""
    cell = np.asarray(arrays["terrain_cell"], dtype=np.float64)
    lo, hi = CELL_RANGE
    if cell.shape != () or not lo <= float(cell) <= hi:
        shown = f"{float(cell):g} m" if cell.shape == () else f"of shape {cell.shape}"
        raise ValueError(f"{source}: 'terrain_cell' is {shown}; a cell must be one length in [{lo:g}, {hi:g}] m")
    for key in ("terrain_heights", "terrain_origin", *OPTIONAL_KEYS):
        values = np.asarray(arrays.get(key, ()), dtype=np.float64)
        if np.any(np.abs(values[np.isfinite(values)]) > MAX_COORDINATE):
            raise ValueError(f"{source}: '{key}' holds a value beyond {MAX_COORDINATE:g} m; it must lie within it")


def _torch():
    import torch

    return torch
