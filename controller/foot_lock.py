"""Foot locking: a stance foot stays where it landed, flat on the terrain, across segments.

The network's stance feet drift by a few millimetres a frame and rest a little above or below the
surface. For each foot the model labels in contact, the first contact frame fixes a foothold (placed flat on
one plane of the terrain, nudged off a step edge if need be); until the label ends, two-bone IK holds the
foot there. Leaving and reaching a foothold, the correction fades over `blend` frames so that nothing
jumps. The root and upper body are untouched.
"""

from dataclasses import dataclass, field

import numpy as np

from controller.grouping import groups
from motion_model.body import quaternion as quat
from motion_model.body.clips import Q_Y2Z
from motion_model.body.legs import FOOT_LINKS, ankle_targets, leg_ik, place_foothold, sole_offset
from motion_model.body.skeleton import Skeleton
from terrain.stack import TerrainStack


@dataclass
class FootLock:
    """State across segments: the current foothold (sole centre, foot rotation) of each foot, or None."""

    terrain: object
    blend: int = 5  # frames over which a correction fades in and out
    max_shift: float = 0.08  # m a foothold may move along the foot to rest on one plane
    flat_tolerance: float = 0.006  # m
    holds: list = field(default_factory=lambda: [None, None])
    release: list = field(default_factory=lambda: [None, None])  # [offset, rotation, frames since] a liftoff

    def apply(self, root_pos, root_quat, joint_quat, contacts, links=None):
        """Joint rotations (T, 12, 4) with stance feet pinned, for committed frames in the world frame.

        links: the Links of these frames if the caller has them (Skeleton.fk).
        """
        ankles, rots = self.targets(root_pos, root_quat, joint_quat, contacts, links)
        return leg_ik(Skeleton.load(), root_pos, root_quat, joint_quat, ankles, rots)

    def targets(self, root_pos, root_quat, joint_quat, contacts, links=None):
        """Ankle positions (T, 2, 3) and foot rotations (T, 2, 4) for legs.leg_ik that pin the stance feet of
        the next committed frames; advances the state. (apply() in one go; lock_targets for many characters.)"""
        links = Skeleton.load().fk(root_pos, root_quat, joint_quat) if links is None else links
        return lock_targets([self], [contacts], [links])[0]

    def touchdowns(self, contact):
        """(frame, foot) of every touchdown in these frames (contact (T, 2) bool) that needs a new foothold."""
        return [
            (start, f)
            for f in range(2)
            for start, _ in _runs(contact[:, f])
            if contact[start, f] and (start > 0 or self.holds[f] is None)
        ]

    def pin(self, soles, rots, model_soles, model_rots, contact, footholds):
        """Move soles (T, 2, 3) and rots (T, 2, 4) (the model's: model_soles, model_rots) onto the footholds
        ({(frame, foot): (centre, rotation)} of touchdowns()) while in contact, fading in and out; advances the
        state."""
        for f in range(2):
            for start, end in _runs(contact[:, f]):
                if contact[start, f]:
                    if self.holds[f] is None:
                        self.holds[f] = footholds[start, f]
                    soles[start:end, f], rots[start:end, f] = self.holds[f]
                    self.release[f] = None
                    if start == 0 and (0, f) in footholds:  # a touchdown on the first frame: ease in after it
                        self._fade_after_touchdown(
                            soles[:end, f], rots[:end, f], model_soles[:end, f], model_rots[:end, f]
                        )
                    continue
                if self.holds[f] is not None:  # liftoff: remember the correction, then fade it out
                    held_sole, held_rot = self.holds[f]
                    self.release[f] = [held_sole - model_soles[max(start - 1, 0), f], held_rot, 0]
                    self.holds[f] = None
                if self.release[f] is not None:
                    offset, held_rot, age = self.release[f]
                    ages = age + np.arange(1, end - start + 1)
                    w = np.maximum(0.0, 1.0 - ages / (self.blend + 1))
                    fading = slice(start, start + int((w > 0).sum()))
                    w = w[w > 0]
                    soles[fading, f] = model_soles[fading, f] + w[:, None] * offset
                    rots[fading, f] = quat.slerp(model_rots[fading, f], held_rot, w)
                    self.release[f] = None if len(w) < end - start else [offset, held_rot, int(ages[-1])]
            self._fade_into_contact(soles[:, f], rots[:, f], model_soles[:, f], contact[:, f])

    def _fade_into_contact(self, soles, rots, model_soles, contact):
        """Before each touchdown inside the chunk, ease the swing foot towards its foothold."""
        for s in np.flatnonzero(contact[1:] & ~contact[:-1]) + 1:
            frames = s - np.arange(1, self.blend + 1)  # back from the touchdown, to the last contact or frame 0
            frames = frames[: np.argmin(np.append((frames >= 0) & ~contact[np.maximum(frames, 0)], False))]
            w = 1.0 - (s - frames) / (self.blend + 1)
            soles[frames] += w[:, None] * (soles[s] - model_soles[s])
            rots[frames] = quat.slerp(rots[frames], rots[s], w)

    def _fade_after_touchdown(self, soles, rots, model_soles, model_rots):
        """Ease from the model's foot to the foothold over the first frames of a contact: the frames before the
        touchdown belong to a segment already committed, so the foot would otherwise jump at the seam."""
        k = min(self.blend, len(soles))
        w = np.arange(1, k + 1) / (self.blend + 1)
        soles[:k] = model_soles[:k] + w[:, None] * (soles[:k] - model_soles[:k])
        rots[:k] = quat.slerp(model_rots[:k], rots[:k], w)


def lock_targets(locks, contacts, links):
    """Ankle targets (T_i, 2, 3) and foot rotations (T_i, 2, 4) for legs.leg_ik that pin the stance feet of each
    character's next committed frames (FootLock.targets for many at once); advances each lock's state.

    locks: FootLocks; contacts: (T_i, 2) labels of each one's frames; links: each one's Links
    of those frames (Skeleton.fk). The arithmetic runs on all characters' frames at once and the terrain
    queries of all characters at once (TerrainStack); only the contact runs go one by one.
    """
    lengths = [len(c) for c in contacts]
    feet = list(FOOT_LINKS)
    rots = np.concatenate([link.rot[:, feet] for link in links])
    soles = np.concatenate([link.pos[:, feet] for link in links]) + quat.rotate(
        rots, np.broadcast_to(sole_offset(), rots.shape[:-1] + (3,))
    )
    model_soles, model_rots = soles.copy(), rots.copy()
    cuts = np.cumsum(lengths)[:-1]
    parts = [np.split(a, cuts) for a in (soles, rots, model_soles, model_rots)]
    contact = [c > 0.5 for c in contacts]
    touchdowns = [lock.touchdowns(c) for lock, c in zip(locks, contact)]
    footholds = _footholds(locks, touchdowns, parts[2], parts[3])
    for i, lock in enumerate(locks):
        lock.pin(*(p[i] for p in parts), contact[i], footholds[i])
    owner = np.repeat(np.arange(len(locks)), lengths)  # each frame's character
    soles = _keep_above_surface(TerrainStack.of([lock.terrain for lock in locks]).rows(owner), soles, rots)
    return list(zip(np.split(ankle_targets(soles, rots), cuts), np.split(rots, cuts)))


def _footholds(locks, touchdowns, model_soles, model_rots):
    """Each lock's {(frame, foot): (centre (3,), foot rotation (4,))} of its touchdowns: one place_foothold query
    for all characters with the same settings (each touchdown on its character's terrain: TerrainStack) for the
    model's soles and foot rotations there."""
    out = [{} for _ in locks]
    for lock, rows in groups(locks, key=lambda lock: (lock.max_shift, lock.flat_tolerance)):
        keys = [(i, key) for i in rows for key in touchdowns[i]]
        if not keys:
            continue
        soles = np.stack([model_soles[i][key] for i, key in keys])
        rots = np.stack([model_rots[i][key] for i, key in keys])
        yaw = quat.heading(rots)
        terrains = TerrainStack.of([locks[i].terrain for i, _ in keys])
        centres, tilts = place_foothold(terrains, soles[:, :2], yaw, lock.max_shift, lock.flat_tolerance)
        foot_rots = quat.multiply(tilts, quat.multiply(quat.about_z(yaw), Q_Y2Z))
        for (i, key), centre, rot in zip(keys, centres, foot_rots):
            out[i][key] = (centre, rot)
    return out


def _keep_above_surface(terrain, soles, rots):
    """Soles (..., 3) raised where a foot's sole corners would be below the surface of `terrain` (a Heightfield,
    or a TerrainStack of the frames' terrains): a swing foot grazing a step."""
    corners = np.array([[x, y, 0.0] for x in (-0.0885, 0.0885) for y in (-0.045, 0.045)])
    frame = quat.multiply(rots, quat.conjugate(Q_Y2Z))
    corners = np.broadcast_to(corners, frame.shape[:-1] + (4, 3))
    points = soles[..., None, :] + quat.rotate(frame[..., None, :], corners)
    below = (terrain.height(points[..., :2]) - points[..., 2]).max(-1)
    soles = soles.copy()
    soles[..., 2] += np.maximum(below, 0.0)
    return soles


def _runs(flags):
    """(start, end) of each run of equal values in a 1-D boolean array."""
    edges = np.flatnonzero(flags[1:] != flags[:-1]) + 1
    bounds = np.concatenate([[0], edges, [len(flags)]])
    return zip(bounds[:-1], bounds[1:])
