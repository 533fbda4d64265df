"""Foot locking: a stance foot stays where it landed, flat on the terrain, across segments.

The network's stance feet drift by a few millimetres a frame and rest a little above or below the
surface. For each foot the model labels in contact, the first contact frame fixes a foothold (placed flat on
one plane of the terrain, nudged off a step edge if need be); until the label ends, two-bone IK holds the
foot there. Leaving and reaching a foothold, the correction fades over `blend` frames so that nothing
jumps. The root and upper body are untouched.
"""

from dataclasses import dataclass, field

import numpy as np

from motion_model import quaternion as quat
from motion_model.clips import Q_Y2Z
from motion_model.legs import FOOT_LINKS, ankle_targets, leg_ik, place_foothold, sole_offset
from motion_model.skeleton import Skeleton


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

        links: (link_pos, link_rot) of these frames if the caller has them (Skeleton.fk).
        """
        ankles, rots = self.targets(root_pos, root_quat, joint_quat, contacts, links)
        return leg_ik(Skeleton.load(), root_pos, root_quat, joint_quat, ankles, rots)

    def targets(self, root_pos, root_quat, joint_quat, contacts, links=None):
        """Ankle positions (T, 2, 3) and foot rotations (T, 2, 4) for legs.leg_ik that pin the stance feet of
        the next committed frames; advances the state. (apply() in one go; the controller batches leg_ik.)"""
        link_pos, link_rot = Skeleton.load().fk(root_pos, root_quat, joint_quat) if links is None else links
        feet = list(FOOT_LINKS)
        rots = link_rot[:, feet].copy()
        soles = link_pos[:, feet] + quat.rotate(rots, np.broadcast_to(sole_offset(), rots.shape[:-1] + (3,)))
        model_soles, model_rots = soles.copy(), rots.copy()
        contact = contacts > 0.5
        runs = [list(_runs(contact[:, f])) for f in range(2)]
        # Every touchdown in these frames gets a foothold; all of them in one terrain query.
        touchdowns = [
            (start, f)
            for f in range(2)
            for start, _ in runs[f]
            if contact[start, f] and (start > 0 or self.holds[f] is None)
        ]
        footholds = {}
        if touchdowns:
            frame, foot = np.array(touchdowns).T
            centres, foot_rots = self._footholds(model_soles[frame, foot], model_rots[frame, foot])
            footholds = {key: (c, r) for key, c, r in zip(touchdowns, centres, foot_rots)}
        for f in range(2):
            for start, end in runs[f]:
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
        self._keep_above_surface(soles, rots)
        return ankle_targets(soles, rots), rots

    def _footholds(self, soles, rots):
        """Footholds (centres (n, 3), foot rotations (n, 4)) for model soles (n, 3) with rotations (n, 4)."""
        yaw = quat.heading(rots)
        centre, tilt = place_foothold(self.terrain, soles[:, :2], yaw, self.max_shift, self.flat_tolerance)
        return centre, quat.multiply(tilt, quat.multiply(quat.about_z(yaw), Q_Y2Z))

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

    def _keep_above_surface(self, soles, rots):
        """Raise any foot whose sole corners would be below the surface (a swing foot grazing a step)."""
        corners = np.array([[x, y, 0.0] for x in (-0.0885, 0.0885) for y in (-0.045, 0.045)])
        frame = quat.multiply(rots, quat.conjugate(Q_Y2Z))
        corners = np.broadcast_to(corners, frame.shape[:-1] + (4, 3))
        points = soles[..., None, :] + quat.rotate(frame[..., None, :], corners)
        below = (self.terrain.height(points[..., :2]) - points[..., 2]).max(-1)
        soles[..., 2] += np.maximum(below, 0.0)


def _runs(flags):
    """(start, end) of each run of equal values in a 1-D boolean array."""
    edges = np.flatnonzero(flags[1:] != flags[:-1]) + 1
    bounds = np.concatenate([[0], edges, [len(flags)]])
    return zip(bounds[:-1], bounds[1:])
