"""Mass model of the humanoid's 15 links, as PyBullet builds it from the URDF (`globalScaling=0.25`).

What PyBullet does, and so this module (checked against getDynamicsInfo in tests/test_dynamics.py):
- masses are the URDF's `<mass>` values, unscaled (global scaling scales lengths only): 45 kg in all; the
  massless `base` link (0.0001 kg) is left out;
- the centre of mass is the URDF's `<inertial><origin>` scaled by 0.25, in the link frame, with no rotation;
- the URDF's `<inertia>` values (0.1 everywhere) are placeholders that PyBullet ignores without
  URDF_USE_INERTIA_FROM_FILE: the inertia comes from the link's one collision shape with the link's mass.
  A sphere is solid (2/5 m r^2), the foot box is solid, and a capsule is Bullet's approximation, the solid
  box bounding it grown by the 1 mm collision margin, turned into the link frame by the shape's rotation.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from motion_model.body import quaternion as quat
from motion_model.body.skeleton import LINK_NAMES, SCALE, URDF_PATH, Skeleton

# gUrdfDefaultCollisionMargin in PyBullet's URDF importer: a capsule's inertia box grows by it.
CAPSULE_MARGIN = 0.001  # m


@dataclass(frozen=True)
class LinkInertia:
    """Per link (skeleton order): mass (L,) kg, com_local (L, 3) m in the link frame, inertia_local (L, 3, 3)
    kg m^2 about the link's centre of mass, in the link frame."""

    mass: np.ndarray
    com_local: np.ndarray
    inertia_local: np.ndarray

    @classmethod
    @functools.cache
    def load(cls):
        """The model of the shipped URDF (parsed once per process)."""
        return cls.from_urdf(URDF_PATH, Skeleton.load(), SCALE)

    @classmethod
    def from_urdf(cls, path, skeleton, scale=SCALE):
        with open(path, "rb") as f:
            robot = ET.fromstring(f.read().rstrip(b"\x00\r\n"))
        links = {link.get("name"): link for link in robot.findall("link")}
        mass, com, inertia = [], [], []
        for name, shapes in zip(LINK_NAMES, skeleton.shapes):
            inertial = links[name].find("inertial")
            m = float(inertial.find("mass").get("value"))
            origin = inertial.find("origin")
            xyz = origin.get("xyz", "0 0 0") if origin is not None else "0 0 0"
            mass.append(m)
            com.append(np.array([float(v) for v in xyz.split()]) * scale)
            (shape,) = shapes
            inertia.append(shape_inertia(shape, m))
        return cls(np.array(mass), np.array(com), np.array(inertia))

    @property
    def total_mass(self):
        return float(self.mass.sum())

    def world_com(self, links):
        """World centres of mass (..., L, 3) of the links of fk() output `links` (numpy)."""
        rot = links.rot
        return links.pos + quat.rotate(rot, np.broadcast_to(self.com_local, links.pos.shape))

    def world_inertia(self, links):
        """World inertia tensors (..., L, 3, 3) about each link's centre of mass."""
        r = quat.to_matrix(links.rot)
        return r @ self.inertia_local @ np.swapaxes(r, -1, -2)


def shape_inertia(shape, mass):
    """Inertia tensor (3, 3) in the link frame of a skeleton.Shape of `mass` kg, about the shape's centre."""
    if shape.kind == "sphere":
        local = np.full(3, 0.4 * mass * shape.size[0] ** 2)
    else:
        if shape.kind == "capsule":
            radius, length = shape.size
            half = np.array([radius, radius, radius + 0.5 * length]) + CAPSULE_MARGIN
        else:
            half = 0.5 * np.asarray(shape.size)
        sq = (2 * half) ** 2
        local = mass / 12.0 * np.array([sq[1] + sq[2], sq[0] + sq[2], sq[0] + sq[1]])
    r = quat.to_matrix(shape.quat)
    return r @ np.diag(local) @ r.T
