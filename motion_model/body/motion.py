"""`Motion`: a sampled humanoid motion in the Z-up world, and its `.npz` file format (docs/motion_format.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from motion_model.body.skeleton import MOVABLE_JOINTS, Skeleton
from terrain.atomic import atomic_path
from terrain.heightfield import FILE_LIMITS as TERRAIN_FILE_LIMITS
from terrain.heightfield import MAX_COORDINATE, Heightfield
from terrain.npz import read_npz

REQUIRED_KEYS = ("fps", "root_pos", "root_quat", "joint_quat", "contacts", "joint_names")
TERRAIN_PREFIX = "terrain_"
# float32 network outputs normalised in float32 stay well inside this.
UNIT_TOLERANCE = 1e-3
# Largest motion read from a file (docs/motion_format.md, Limits): 20 minutes at 30 fps (eval needs about
# 1.5 GB for it).
MAX_FRAMES = 36_000
MAX_PATH_POINTS = 100_000
# Frame rates and coordinates a file may hold (docs/motion_format.md, Limits): sums, squares and cubes of
# them (jerk is a third difference times fps^3) stay far from float64 overflow.
FPS_RANGE = (1.0, 1000.0)
POSITION_KEYS = ("root_pos", "path", "goal")
FILE_LIMITS = {
    "fps": (),
    "root_pos": (MAX_FRAMES, 3),
    "root_quat": (MAX_FRAMES, 4),
    "joint_quat": (MAX_FRAMES, len(MOVABLE_JOINTS), 4),
    "contacts": (MAX_FRAMES, 2),
    "joint_names": (len(MOVABLE_JOINTS),),
    "path": (MAX_PATH_POINTS, 2),
    "goal": (2,),
    **TERRAIN_FILE_LIMITS,
}


@dataclass(eq=False)
class Motion:
    """T frames sampled at `fps` frames per second; frame t is at time t / fps seconds.

    root_pos (T, 3): base (pelvis) position in m, Z-up world. root_quat (T, 4) xyzw: base orientation,
    Y-to-Z conversion included, as passed to resetBasePositionAndOrientation. joint_quat (T, 12, 4) xyzw:
    local joint rotations in skeleton.MOVABLE_JOINTS order (knees and elbows as rotations about their +Z).
    contacts (T, 2) in [0, 1]: [left foot, right foot] ground contact. Optional: terrain (the Heightfield
    the motion is on), path (P, 2) planned xy path in m, goal (2,) xy in m.
    Arrays are stored as float64; quaternions must be unit length.
    """

    fps: float
    root_pos: np.ndarray
    root_quat: np.ndarray
    joint_quat: np.ndarray
    contacts: np.ndarray
    terrain: object = None
    path: np.ndarray | None = None
    goal: np.ndarray | None = None

    def __post_init__(self):
        self.fps = float(self.fps)
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"Motion.fps must be a positive number, got {self.fps}")
        self.root_pos = _array("root_pos", self.root_pos)
        if self.root_pos.ndim != 2 or self.root_pos.shape[1] != 3 or len(self.root_pos) == 0:
            raise ValueError(f"Motion.root_pos must have shape (T, 3) with T >= 1, got {self.root_pos.shape}")
        t = len(self.root_pos)
        self.root_quat = _array("root_quat", self.root_quat, (t, 4))
        self.joint_quat = _array("joint_quat", self.joint_quat, (t, len(MOVABLE_JOINTS), 4))
        self.contacts = _array("contacts", self.contacts, (t, 2))
        for name in ("root_quat", "joint_quat"):
            norm_error = np.abs(np.linalg.norm(getattr(self, name), axis=-1) - 1).max()
            if norm_error > UNIT_TOLERANCE:
                raise ValueError(f"Motion.{name} must hold unit quaternions; one is off by {norm_error:.3g}")
        if self.contacts.min() < 0 or self.contacts.max() > 1:
            raise ValueError("Motion.contacts must lie in [0, 1]")
        if self.path is not None:
            self.path = _array("path", self.path)
            if self.path.ndim != 2 or self.path.shape[1] != 2 or len(self.path) == 0:
                raise ValueError(f"Motion.path must have shape (P, 2) with P >= 1, got {self.path.shape}")
        if self.goal is not None:
            self.goal = _array("goal", self.goal, (2,))

    @property
    def num_frames(self):
        return len(self.root_pos)

    @property
    def duration(self):
        """Seconds from the first to the last frame, (T - 1) / fps."""
        return (self.num_frames - 1) / self.fps

    def slice(self, start, stop):
        """Frames [start, stop) (Python slice semantics) with the same terrain, path and goal."""
        s = slice(start, stop)
        return replace(
            self,
            root_pos=self.root_pos[s],
            root_quat=self.root_quat[s],
            joint_quat=self.joint_quat[s],
            contacts=self.contacts[s],
        )

    @staticmethod
    def concatenate(motions):
        """Frames of all motions one after another (same fps); terrain, path and goal of the first."""
        first = motions[0]
        if any(m.fps != first.fps for m in motions):
            raise ValueError(f"Motion.concatenate needs one frame rate, got {sorted({m.fps for m in motions})}")
        return replace(
            first,
            **{
                k: np.concatenate([getattr(m, k) for m in motions])
                for k in ("root_pos", "root_quat", "joint_quat", "contacts")
            },
        )

    def fk(self, skeleton=None):
        """Link positions (T, 15, 3) m and world rotations (T, 15, 4) xyzw, see Skeleton.fk."""
        return (skeleton or Skeleton.load()).fk(self.root_pos, self.root_quat, self.joint_quat)

    def save(self, file, terrain=None, path=None, goal=None):
        """Write one .npz (format in docs/motion_format.md); terrain, path, goal default to the Motion's own.

        The file is written to a temporary name in the same folder and renamed, so readers never see a
        partial file. A motion beyond the format's limits (MAX_FRAMES, MAX_PATH_POINTS), which Motion.load and
        `eval` would refuse, is refused before anything is written.
        """
        terrain = self.terrain if terrain is None else terrain
        path = self.path if path is None else path
        goal = self.goal if goal is None else goal
        if self.num_frames > MAX_FRAMES or (path is not None and len(path) > MAX_PATH_POINTS):
            raise ValueError(
                f"{file}: a motion file holds at most {MAX_FRAMES} frames and {MAX_PATH_POINTS} path points "
                f"(docs/motion_format.md); this motion has {self.num_frames} and {0 if path is None else len(path)}"
            )
        arrays = {
            "fps": np.float64(self.fps),
            "root_pos": self.root_pos,
            "root_quat": self.root_quat,
            "joint_quat": self.joint_quat,
            "contacts": self.contacts,
            "joint_names": np.array(MOVABLE_JOINTS),
        }
        if terrain is not None:
            terrain_arrays = terrain.arrays()
            if not all(k.startswith(TERRAIN_PREFIX) for k in terrain_arrays):
                raise ValueError(f"terrain.arrays() keys must start with {TERRAIN_PREFIX!r}: {sorted(terrain_arrays)}")
            arrays.update(terrain_arrays)
        if path is not None:
            arrays["path"] = np.asarray(path, dtype=np.float64)
        if goal is not None:
            arrays["goal"] = np.asarray(goal, dtype=np.float64)
        with atomic_path(file) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, file):
        """Read a file written by save(); ValueError naming the problem if it is not a motion file."""
        arrays = read_npz(file, FILE_LIMITS, "motion file")
        _check_arrays(file, arrays)
        try:
            terrain = None
            terrain_arrays = {k: v for k, v in arrays.items() if k.startswith(TERRAIN_PREFIX)}
            if terrain_arrays:
                terrain = Heightfield.from_arrays(terrain_arrays, source=str(file))
            return cls(
                float(arrays["fps"]),
                arrays["root_pos"],
                arrays["root_quat"],
                arrays["joint_quat"],
                arrays["contacts"],
                terrain,
                arrays.get("path"),
                arrays.get("goal"),
            )
        except (ValueError, TypeError) as error:  # TypeError: a terrain array of the wrong shape
            message = str(error)
            named = message.startswith(f"{file}:")
            raise ValueError(message if named else f"{file} is not a valid motion file: {message}") from error


def _check_arrays(file, arrays):
    """ValueError naming `file` and the first array that is missing or not what a motion file holds (the
    shapes and values are checked when the Motion is built)."""
    for key in REQUIRED_KEYS:
        if key not in arrays:
            raise ValueError(f"{file} is not a motion file: no '{key}' array (it has {sorted(arrays)})")
    for key, array in arrays.items():
        if key != "joint_names" and array.dtype.kind not in "biuf":
            raise ValueError(f"{file} is not a motion file: '{key}' holds {array.dtype} values, not numbers")
    check_file_numbers(file, arrays)
    names = arrays["joint_names"]
    if names.ndim != 1 or names.dtype.kind != "U":
        raise ValueError(f"{file} is not a motion file: 'joint_names' must be a list of names")
    names = tuple(str(n) for n in names)
    if names != MOVABLE_JOINTS:
        raise ValueError(f"{file}: joint_names {names} differ from this skeleton's {MOVABLE_JOINTS}")


def check_file_numbers(file, arrays):
    """ValueError naming `file` and the key if its fps (one number) lies outside FPS_RANGE or a finite
    position is beyond MAX_COORDINATE metres (NaN is left to the caller: `eval` reports diverged motions)."""
    fps = np.asarray(arrays["fps"])
    if fps.shape != ():
        raise ValueError(f"{file} is not a motion file: 'fps' must be one number, got shape {fps.shape}")
    fps, (lo, hi) = float(fps), FPS_RANGE
    if not lo <= fps <= hi:
        raise ValueError(f"{file}: 'fps' is {fps:g}; a motion file's frame rate must lie in [{lo:g}, {hi:g}]")
    for key in POSITION_KEYS:
        values = np.asarray(arrays.get(key, ()), dtype=np.float64)
        if np.any(np.abs(values[np.isfinite(values)]) > MAX_COORDINATE):
            raise ValueError(
                f"{file}: '{key}' holds a position beyond {MAX_COORDINATE:g} m; positions must lie within it"
            )


def _array(name, value, shape=None):
    array = np.asarray(value, dtype=np.float64)
    if shape is not None and array.shape != shape:
        raise ValueError(f"Motion.{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"Motion.{name} has non-finite values")
    return array
