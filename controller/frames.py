"""`Frames`: a run of motion frames in the world frame, as the controller keeps and passes them; `Frame`: one of
them, as a stream hands it out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motion_model.body.motion import Motion


@dataclass(frozen=True, eq=False)
class Frames:
    """root_pos (..., T, 3) m, root_quat (..., T, 4) xyzw, joint_quat (..., T, 12, 4), contacts (..., T, 2):
    one character's frames, or with the same leading dims, several characters' or candidates'.

    Indexing applies to every array alike: frames[:n] are the first n frames of one character, candidates[b, k]
    character b's candidate k.
    """

    root_pos: np.ndarray
    root_quat: np.ndarray
    joint_quat: np.ndarray
    contacts: np.ndarray

    def arrays(self):
        return self.root_pos, self.root_quat, self.joint_quat, self.contacts

    def __len__(self):
        return len(self.root_pos)

    def __getitem__(self, index):
        return Frames(*(a[index] for a in self.arrays()))

    @staticmethod
    def concatenate(runs):
        """The frames of `runs` one after another."""
        return Frames(*(np.concatenate(a) for a in zip(*(r.arrays() for r in runs))))

    @staticmethod
    def stack(runs):
        """Runs of equal length stacked along a new first axis."""
        return Frames(*(np.stack(a) for a in zip(*(r.arrays() for r in runs))))

    def motion(self, fps, **extra):
        """These frames as a Motion (extra: terrain, path, goal)."""
        return Motion(fps, *self.arrays(), **extra)


@dataclass
class Frame:
    """One pose in the world frame: what Scene.pose takes."""

    root_pos: np.ndarray  # (3,) m
    root_quat: np.ndarray  # (4,) xyzw
    joint_quat: np.ndarray  # (12, 4) xyzw
    contacts: np.ndarray  # (2,) [left, right]
