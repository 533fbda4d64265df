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

    def apply(self, root_pos, root_quat, joint_quat, contacts):
        """Joint rotations (T, 12, 4) with stance feet pinned, for committed frames in the world frame."""
        skeleton = Skeleton.load()
        link_pos, link_rot = skeleton.fk(root_pos, root_quat, joint_quat)
        feet = list(FOOT_LINKS)
        rots = link_rot[:, feet].copy()
        soles = link_pos[:, feet] + quat.rotate(rots, np.broadcast_to(sole_offset(), rots.shape[:-1] + (3,)))
        model_soles, model_rots = soles.copy(), rots.copy()
        contact = contacts > 0.5
        T = len(root_pos)
        for f in range(2):
            for t in range(T):
                if contact[t, f]:
                    if self.holds[f] is None:
                        self.holds[f] = self._foothold(model_soles[t, f], model_rots[t, f])
                    soles[t, f], rots[t, f] = self.holds[f]
                    self.release[f] = None
                    continue
                if self.holds[f] is not None:  # liftoff: remember the correction, then fade it out
                    held_sole, held_rot = self.holds[f]
                    self.release[f] = [held_sole - model_soles[max(t - 1, 0), f], held_rot, 0]
                    self.holds[f] = None
                if self.release[f] is not None:
                    offset, held_rot, age = self.release[f]
                    age += 1
                    w = max(0.0, 1.0 - age / (self.blend + 1))
                    soles[t, f] = model_soles[t, f] + w * offset
                    rots[t, f] = quat.slerp(model_rots[t, f], held_rot, w)
                    self.release[f] = None if w == 0.0 else [offset, held_rot, age]
            self._fade_into_contact(soles[:, f], rots[:, f], model_soles[:, f], model_rots[:, f], contact[:, f])
        self._keep_above_surface(soles, rots)
        return leg_ik(skeleton, root_pos, root_quat, joint_quat, ankle_targets(soles, rots), rots)

    def _foothold(self, sole, rot):
        yaw = float(quat.heading(rot))
        centre, tilt = place_foothold(self.terrain, sole[:2], yaw, self.max_shift, self.flat_tolerance)
        return centre, quat.multiply(tilt, quat.multiply(quat.about_z(np.asarray(yaw)), Q_Y2Z))

    def _fade_into_contact(self, soles, rots, model_soles, model_rots, contact):
        """Before each touchdown inside the chunk, ease the swing foot towards its foothold."""
        starts = np.flatnonzero(contact[1:] & ~contact[:-1]) + 1
        for s in starts:
            offset = soles[s] - model_soles[s]
            for k in range(1, self.blend + 1):
                t = s - k
                if t < 0 or contact[t]:
                    break
                w = 1.0 - k / (self.blend + 1)
                soles[t] = soles[t] + w * offset
                rots[t] = quat.slerp(rots[t], rots[s], w)

    def _keep_above_surface(self, soles, rots):
        """Raise any foot whose sole corners would be below the surface (a swing foot grazing a step)."""
        corners = np.array([[x, y, 0.0] for x in (-0.0885, 0.0885) for y in (-0.045, 0.045)])
        frame = quat.multiply(rots, quat.conjugate(Q_Y2Z))
        points = soles[..., None, :] + quat.rotate(frame[..., None, :], np.broadcast_to(corners, frame.shape[:-1] + (4, 3)))
        below = (self.terrain.height(points[..., :2]) - points[..., 2]).max(-1)
        soles[..., 2] += np.maximum(below, 0.0)
