"""The DeepMimic humanoid: kinematic tree, forward kinematics and collision sample points.

Everything is parsed from `pybullet_data/humanoid/humanoid.urdf` scaled by 0.25 (metres), the way the
scene loads it (`globalScaling=0.25`, `URDF_MAINTAIN_LINK_ORDER`). Link `i` here is PyBullet link `i`:
0 root (pelvis), 1 chest, 2 neck, 3-8 right hip, knee, ankle (= foot), shoulder, elbow, wrist (= hand),
9-14 the same on the left. The URDF's massless `base` link sits on `root` (fixed joint, zero offset), so it
is not a separate link: the base pose is the root link's pose.

A link's frame is its parent joint's frame; link-local coordinates are the URDF's (Y up, X forward, Z to
the character's right at rest). World coordinates are Z-up, see docs/architecture.md.
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pybullet_data
import torch

from motion_model.body import quaternion as quat

URDF_PATH = os.path.join(pybullet_data.getDataPath(), "humanoid", "humanoid.urdf")
SCALE = 0.25

LINK_NAMES = (
    "root",
    "chest",
    "neck",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
)
LINK_INDEX = {name: i for i, name in enumerate(LINK_NAMES)}
NUM_LINKS = len(LINK_NAMES)
# The order of Motion.joint_quat[:, j]: the URDF's non-fixed joints in file order.
MOVABLE_JOINTS = (
    "chest",
    "neck",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_shoulder",
    "right_elbow",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_shoulder",
    "left_elbow",
)
JOINT_INDEX = {name: j for j, name in enumerate(MOVABLE_JOINTS)}
MOVABLE_LINKS = np.array([LINK_INDEX[name] for name in MOVABLE_JOINTS])
LEFT_FOOT, RIGHT_FOOT = LINK_INDEX["left_ankle"], LINK_INDEX["right_ankle"]
# Same order as Motion.contacts: [left, right].
FEET = (LEFT_FOOT, RIGHT_FOOT)

# Sampling density of the collision surfaces (see Skeleton.body_points). The feet carry the contacts: the
# sole grid spaces points 2.2 cm along and 2.25 cm across the foot, so a step edge can overlap the sole by
# at most that much unseen. Elsewhere a plane can cut at most about half a shape's radius (2-5 cm) into a
# shape before it reaches a sample point, which is enough to catch a stumble or a fall.
SOLE_GRID = (9, 5)
CAPSULE_RING_SPACING = 0.2  # m, largest distance between the point rings along a capsule's cylinder
CAPSULE_RING_POINTS = 3


@dataclass(frozen=True)
class Shape:
    """One collision shape of a link, in the link frame.

    kind: "sphere" (size = (radius,)), "capsule" (size = (radius, cylinder length), axis = the shape
    frame's Z as in URDF) or "box" (size = full extents along the shape frame's X, Y, Z). pos (3,) and
    quat (4,) xyzw place the shape frame in the link frame. Metres.
    """

    kind: str
    size: tuple
    pos: np.ndarray
    quat: np.ndarray

    def support(self, direction):
        """Support function max over the shape of <direction, x> for unit directions (..., 3) in the link frame."""
        d = quat.rotate(quat.conjugate(self.quat), direction)
        centre = direction @ self.pos
        if self.kind == "sphere":
            return centre + self.size[0]
        if self.kind == "capsule":
            return centre + self.size[0] + 0.5 * self.size[1] * np.abs(d[..., 2])
        return centre + 0.5 * np.abs(d) @ np.asarray(self.size)

    def distance_to_surface(self, x):
        """Unsigned distance (m) of link-frame points x (..., 3) to the shape's surface."""
        local = quat.rotate(quat.conjugate(self.quat), x - self.pos)
        if self.kind == "sphere":
            return np.abs(np.linalg.norm(local, axis=-1) - self.size[0])
        if self.kind == "capsule":
            half = 0.5 * self.size[1]
            axis_point = np.zeros_like(local)
            axis_point[..., 2] = np.clip(local[..., 2], -half, half)
            return np.abs(np.linalg.norm(local - axis_point, axis=-1) - self.size[0])
        q = np.abs(local) - 0.5 * np.asarray(self.size)
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
        return np.abs(outside + np.minimum(q.max(-1), 0.0))


def _rpy_to_quat(rpy):
    # URDF rpy: fixed-axis roll about X, then pitch about Y, then yaw about Z.
    qx, qy, qz = (quat.from_axis_angle(np.eye(3)[i], np.asarray(rpy[i])) for i in range(3))
    return quat.multiply(qz, quat.multiply(qy, qx))


def _floats(text):
    return np.array([float(v) for v in text.split()])


def _parse_shape(collision, scale):
    origin = collision.find("origin")
    pos = _floats(origin.get("xyz", "0 0 0")) * scale if origin is not None else np.zeros(3)
    rpy = _floats(origin.get("rpy", "0 0 0")) if origin is not None else np.zeros(3)
    geometry = collision.find("geometry")
    for child in geometry:
        if child.tag == "sphere":
            size = (float(child.get("radius")) * scale,)
        elif child.tag == "capsule":
            size = (float(child.get("radius")) * scale, float(child.get("length")) * scale)
        elif child.tag == "box":
            size = tuple(_floats(child.get("size")) * scale)
        else:
            raise ValueError(f"unsupported collision geometry <{child.tag}>")
        return Shape(child.tag, size, pos, _rpy_to_quat(rpy))
    raise ValueError("empty <geometry> in a <collision>")


def _shape_points(shape):
    """Sample points on a shape's surface, in the link frame."""
    if shape.kind == "sphere":
        # The octahedron's vertices: the best 6-point cover, and one point points straight down at rest.
        local = shape.size[0] * np.concatenate([np.eye(3), -np.eye(3)])
    elif shape.kind == "capsule":
        radius, length = shape.size
        rings = max(2, int(np.ceil(length / CAPSULE_RING_SPACING)) + 1)
        z = np.linspace(-0.5 * length, 0.5 * length, rings)
        # Each ring is turned by half a point step against the previous one to halve the gaps between rings.
        steps = np.arange(CAPSULE_RING_POINTS)[None, :] + 0.5 * np.arange(rings)[:, None]
        phi = 2 * np.pi * steps / CAPSULE_RING_POINTS
        ring = np.stack([radius * np.cos(phi), radius * np.sin(phi), np.broadcast_to(z[:, None], phi.shape)], -1)
        poles = np.array([[0.0, 0.0, -0.5 * length - radius], [0.0, 0.0, 0.5 * length + radius]])
        local = np.concatenate([ring.reshape(-1, 3), poles])
    else:
        local = _foot_points(np.asarray(shape.size))
    return shape.pos + quat.rotate(np.broadcast_to(shape.quat, local.shape[:-1] + (4,)), local)


def _sole_grid(size):
    sx, sy, sz = 0.5 * size
    x, z = np.meshgrid(np.linspace(-sx, sx, SOLE_GRID[0]), np.linspace(-sz, sz, SOLE_GRID[1]), indexing="ij")
    return np.stack([x, np.full_like(x, -sy), z], -1).reshape(-1, 3)


def _foot_points(size):
    # The only boxes in the URDF are the feet, Y up: a grid on the sole (-Y face), which carries the weight,
    # and the four top corners, so that every corner of the box is sampled (a plane then cannot cut the box
    # without reaching a sample point).
    sx, sy, sz = 0.5 * size
    top = np.array([[x, sy, z] for x in (-sx, sx) for z in (-sz, sz)])
    return np.concatenate([_sole_grid(size), top])


class Links(NamedTuple):
    """The links' world poses of some frames, as Skeleton.fk returns them (numpy or torch)."""

    pos: np.ndarray  # (..., 15, 3) m, the link frame origins (= joint positions)
    rot: np.ndarray  # (..., 15, 4) xyzw, the link frames' world orientations


@dataclass(frozen=True)
class Skeleton:
    """Kinematic tree of the humanoid (see the module docstring for the link order).

    parents (L,): parent link index, -1 for the root (attached to the base pose). offsets (L, 3): joint
    origin in the parent link frame (m). joint_types: "fixed", "spherical" or "revolute"; joint_axes (L, 3)
    in the joint frame (revolute joints). shapes: collision shapes per link. points_local (N, 3) and
    point_link (N,): body surface sample points in their link frame. sole_local (K, 3): sole points in the
    ankle frame (the same for both feet).
    """

    link_names: tuple
    parents: np.ndarray
    offsets: np.ndarray
    joint_types: tuple
    joint_axes: np.ndarray
    shapes: tuple
    points_local: np.ndarray
    point_link: np.ndarray
    sole_local: np.ndarray

    @classmethod
    @functools.cache
    def load(cls):
        """The skeleton of the shipped URDF (parsed once per process)."""
        return cls.from_urdf(URDF_PATH, SCALE)

    @classmethod
    def from_urdf(cls, path, scale=SCALE):
        with open(path, "rb") as f:
            # The shipped file ends with a NUL byte, which XML parsers reject.
            text = f.read().rstrip(b"\x00\r\n")
        robot = ET.fromstring(text)
        links = {link.get("name"): link for link in robot.findall("link")}
        joints = robot.findall("joint")
        names = tuple(j.find("child").get("link") for j in joints)
        if names != LINK_NAMES:
            raise ValueError(f"{path}: links {names} differ from the expected {LINK_NAMES}")
        parents, offsets, types, axes, shapes = [], [], [], [], []
        for joint in joints:
            parent = joint.find("parent").get("link")
            parents.append(LINK_INDEX.get(parent, -1))
            if parents[-1] >= len(parents) - 1:
                raise ValueError(f"{path}: joint {joint.get('name')} comes before its parent {parent}")
            origin = joint.find("origin")
            if np.any(_floats(origin.get("rpy", "0 0 0")) != 0):
                raise ValueError(f"{path}: joint {joint.get('name')} has a rotated origin, which fk() does not model")
            offsets.append(_floats(origin.get("xyz")) * scale)
            types.append(joint.get("type"))
            axis = joint.find("axis")
            axes.append(_floats(axis.get("xyz")) if axis is not None else np.zeros(3))
            link = links[joint.find("child").get("link")]
            shapes.append(tuple(_parse_shape(c, scale) for c in link.findall("collision")))
        movable = tuple(n for n, t in zip(names, types) if t != "fixed")
        if movable != MOVABLE_JOINTS:
            raise ValueError(f"{path}: movable joints {movable} differ from the expected {MOVABLE_JOINTS}")
        points, point_link = [], []
        for i, link_shapes in enumerate(shapes):
            for shape in link_shapes:
                p = _shape_points(shape)
                points.append(p)
                point_link.append(np.full(len(p), i))
        (foot_box,) = shapes[LEFT_FOOT]
        sole = foot_box.pos + quat.rotate(
            np.broadcast_to(foot_box.quat, (np.prod(SOLE_GRID), 4)), _sole_grid(np.asarray(foot_box.size))
        )
        return cls(
            names,
            np.array(parents),
            np.array(offsets),
            tuple(types),
            np.array(axes),
            tuple(shapes),
            np.concatenate(points),
            np.concatenate(point_link),
            sole,
        )

    @property
    def num_points(self):
        return len(self.points_local)

    def fk(self, root_pos, root_quat, joint_quat):
        """Forward kinematics in the Z-up world, numpy or torch (differentiable), batched over leading dims.

        root_pos (..., 3) m and root_quat (..., 4) xyzw: the base pose as given to
        resetBasePositionAndOrientation. joint_quat (..., 12, 4) xyzw: local joint rotations in
        MOVABLE_JOINTS order (hinges as rotations about their +Z). Returns Links: pos (..., 15, 3), the link
        frame origins (= joint positions, PyBullet's getLinkState()[4]), and rot (..., 15, 4) xyzw,
        the link frames' world orientations (getLinkState()[5]).
        """
        xp = np if isinstance(root_pos, np.ndarray) else torch
        offsets = _like(self.offsets, root_pos)
        pos, rot = [], []
        j = 0
        for i, parent in enumerate(self.parents):
            parent_pos = root_pos if parent < 0 else pos[parent]
            parent_rot = root_quat if parent < 0 else rot[parent]
            pos.append(parent_pos + quat.rotate(parent_rot, xp.broadcast_to(offsets[i], parent_pos.shape)))
            if self.joint_types[i] == "fixed":
                rot.append(parent_rot)
            else:
                rot.append(quat.multiply(parent_rot, joint_quat[..., j, :]))
                j += 1
        return Links(pos=xp.stack(pos, -2), rot=xp.stack(rot, -2))

    def body_points(self, link_pos, link_rot, exclude=()):
        """World positions (..., N, 3) of the body surface sample points, from fk() output (numpy or torch).

        N = 204 points on the collision shapes: per foot a 9 x 5 grid on the sole plus the 4 top corners (no
        point of the sole is more than 1.6 cm from a sample, and all 8 box corners are sampled); per capsule
        rings of 3 points at most 0.2 m apart plus both poles; 6 (octahedron) points per sphere. A plane can
        cut at most 0.55 of a sphere's or capsule's radius (2-5 cm) into it before reaching a point.
        point_link says which link each point belongs to. exclude: links whose points are left out.
        """
        keep = ~np.isin(self.point_link, exclude)
        return self._to_world(link_pos, link_rot, self.point_link[keep], self.points_local[keep])

    def sole_points(self, link_pos, link_rot):
        """World positions (..., 2, K, 3) of the sole sample points of [left, right] foot, from fk() output.

        The points form a SOLE_GRID on the bottom face of the foot box (0.05 m below the ankle), corners
        and edges included.
        """
        feet = np.array(FEET)
        k = len(self.sole_local)
        local = np.broadcast_to(self.sole_local, (2, k, 3)).reshape(2 * k, 3)
        points = self._to_world(link_pos, link_rot, np.repeat(feet, k), local)
        return points.reshape(points.shape[:-2] + (2, k, 3))

    def lowest_sole(self, link_pos, link_rot):
        """Height (m, world z) of the lowest sole point of [left, right] foot, (..., 2)."""
        z = self.sole_points(link_pos, link_rot)[..., 2]
        return z.min(-1) if isinstance(z, np.ndarray) else z.amin(-1)

    @staticmethod
    def _to_world(link_pos, link_rot, link_index, local):
        xp = np if isinstance(link_pos, np.ndarray) else torch
        origin = link_pos[..., _like(link_index, link_pos, integer=True), :]
        rot = link_rot[..., _like(link_index, link_pos, integer=True), :]
        return origin + quat.rotate(rot, xp.broadcast_to(_like(local, link_pos), origin.shape))


def _like(array, reference, integer=False):
    """A constant numpy array as the reference's type (torch dtype and device; int64 if integer)."""
    if isinstance(reference, torch.Tensor):
        dtype = torch.int64 if integer else reference.dtype
        return torch.as_tensor(array, dtype=dtype, device=reference.device)
    return array
