"""A PyBullet scene of a terrain and the humanoid, posed kinematically from motion frames.

World frame: Z up, metres (docs/architecture.md). The terrain is a GEOM_HEIGHTFIELD body whose collision
surface is exactly the `Heightfield`'s (terrain/bullet.py). It is drawn by a separate visual-only mesh of the
same triangles, textured by height with step edges darkened and a 1 m grid: Bullet's own drawing of a
heightfield drops flat triangles lying exactly at its lowest or highest height (float rounding against its
bounding box; the ground after a flight of stairs down vanished), and it maps textures implicitly.

The humanoid is loaded as the motion format prescribes (globalScaling 0.25, URDF_MAINTAIN_LINK_ORDER) with
a fixed base and is only ever posed with reset calls, and its collisions with the terrain are off: a loop
may step physics at PHYSICS_HZ for dynamic objects while posing the character once per motion frame, and
neither gravity nor the ground moves it. Path and goal are visual-only bodies, so that they show in
TinyRenderer images too, where debug lines do not.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from typing import NamedTuple

import imageio.v2 as imageio
import numpy as np

from motion_model.body.skeleton import FEET, LINK_NAMES, MOVABLE_LINKS, NUM_LINKS, SCALE, URDF_PATH, Skeleton
from sim.bullet.meshes import path_ribbon, terrain_colours, terrain_mesh
from terrain.bullet import add_heightfield_body, connect_direct, p, quiet_stdout

PHYSICS_HZ = 240.0
MOVABLE_JOINT_LIST = MOVABLE_LINKS.tolist()
BALL_GROUP, HUMANOID_GROUP = 1, 2  # collision filter groups (Bullet's default group is 1)
GRAVITY = -9.81  # m/s^2 along Z

# Character colours: left limbs blue, right limbs orange, a foot green while labelled in contact.
BODY_COLOUR = (0.85, 0.85, 0.85, 1.0)
LEFT_COLOUR = (0.30, 0.50, 0.85, 1.0)
RIGHT_COLOUR = (0.90, 0.50, 0.25, 1.0)
CONTACT_COLOUR = (0.15, 0.75, 0.30, 1.0)
CONTACT_THRESHOLD = 0.5  # a contact label from 0.5 counts as contact, as in sim.evaluation.metrics

PATH_COLOUR = (0.85, 0.10, 0.35, 1.0)
GOAL_COLOUR = (0.10, 0.70, 0.25, 1.0)
GOAL_RADIUS = 0.25  # m, the disc on the ground
GOAL_POLE = (0.02, 1.2)  # m, radius and height of the pole

# The camera looks at a point this far below the pelvis, so that the feet and the ground stay in view.
TARGET_DROP = 0.3  # m
FOLLOW_DISTANCE = 3.0  # m, default distance of a following camera


class Track(NamedTuple):
    """Where a camera looks over some frames: its targets (T, 3) m and its distance (m) from them."""

    targets: np.ndarray
    distance: float


class Aim(NamedTuple):
    """Where a camera looks at one frame: its target (3,) m and its distance (m) from it."""

    target: np.ndarray
    distance: float


@dataclass
class Camera:
    """Camera placement in PyBullet's convention (computeViewMatrixFromYawPitchRoll, Z up): `distance` m
    from the target point (None: FOLLOW_DISTANCE when following, else the whole motion in view), `yaw` and
    `pitch` degrees (yaw 0 looks along +Y, the default -40 from behind the character's right when it walks
    along +X; pitch < 0 looks down), vertical field of view `fov` degrees.

    follow: the target tracks the pelvis TARGET_DROP m lower through an exponential filter with time
    constant `smoothing` s (causal, so it lags slightly); otherwise it stays on the middle of the motion.
    """

    distance: float | None = None
    yaw: float = -40.0
    pitch: float = -20.0
    follow: bool = True
    fov: float = 50.0
    smoothing: float = 0.3

    def __post_init__(self):
        if self.distance is not None and not 0 < self.distance < math.inf:
            raise ValueError(f"camera distance must be a finite number > 0 m, got {self.distance}")
        if not (0 < self.fov < 180 and self.smoothing >= 0):
            raise ValueError(f"camera needs 0 < fov < 180 degrees and smoothing >= 0 s, got {self}")
        if not (math.isfinite(self.yaw) and -90 < self.pitch < 90):  # NaN fails both: the view would be NaN
            raise ValueError(
                f"camera yaw must be finite and pitch within (-90, 90) degrees, got {self.yaw}, {self.pitch}"
            )

    def track(self, root_pos, fps, terrain):
        """The Track of pelvis positions root_pos (T, 3) m sampled at `fps`."""
        root_pos = np.asarray(root_pos, dtype=np.float64)
        if not self.follow:
            centre = 0.5 * (root_pos.min(0) + root_pos.max(0))
            target = np.array([centre[0], centre[1], float(terrain.height(centre[:2]))])
            # Fit the pelvis track with a body height to spare around it.
            extent = float(np.linalg.norm(np.ptp(root_pos[:, :2], 0))) + 2.0
            fit = 0.6 * extent / math.tan(math.radians(0.5 * self.fov))
            return Track(targets=np.broadcast_to(target, root_pos.shape), distance=self.distance or fit)
        goal = root_pos - [0.0, 0.0, TARGET_DROP]
        alpha = 1.0 - math.exp(-1.0 / (fps * self.smoothing)) if self.smoothing > 0 else 1.0
        targets = np.empty_like(goal)
        targets[0] = goal[0]
        for t in range(1, len(goal)):
            targets[t] = targets[t - 1] + alpha * (goal[t] - targets[t - 1])
        return Track(targets=targets, distance=self.distance or FOLLOW_DISTANCE)

    def step(self, previous, root_pos, fps, terrain):
        """The Aim at the pelvis at root_pos (3,) m one frame (1 / fps s) after the camera aimed at target
        `previous` (None at the first frame): track's filter one step on, for a camera following a live motion."""
        root_pos = np.asarray(root_pos, dtype=np.float64)
        if previous is None or not self.follow:
            history = root_pos[None]
        else:  # previous stands for the last pelvis position, whose filtered target it is
            history = np.stack([previous + [0.0, 0.0, TARGET_DROP], root_pos])
        targets, distance = self.track(history, fps, terrain)
        return Aim(target=np.array(targets[-1]), distance=distance)

    def view_matrix(self, target, distance):
        return p.computeViewMatrixFromYawPitchRoll(list(target), distance, self.yaw, self.pitch, 0.0, 2)

    def projection_matrix(self, width, height):
        return p.computeProjectionMatrixFOV(self.fov, width / height, 0.05, 200.0)


def _release_motors(body, client):
    """Switch off the joint motors URDF loading gives every joint: the loop re-poses the humanoid after every
    physics step anyway, and their constraints took most of a step's time (16 humanoids: 6-12 ms of a 240 Hz
    step with them and with collisions between humanoids, 0.4 ms without either)."""
    for joint in MOVABLE_LINKS.tolist():
        if p.getJointInfo(body, joint, physicsClientId=client)[2] == p.JOINT_SPHERICAL:
            p.setJointMotorControlMultiDof(
                body, joint, p.POSITION_CONTROL, targetPosition=[0, 0, 0, 1], force=[0, 0, 0], physicsClientId=client
            )
        else:
            p.setJointMotorControl2(body, joint, p.VELOCITY_CONTROL, force=0, physicsClientId=client)


class DisplayError(OSError):
    """No window can be opened (no X display, or PyBullet's one GUI is taken): a problem of the environment,
    reported like a file that cannot be opened."""


class Scene:
    """A PyBullet client holding the terrain, the humanoid, and path and goal markers.

    terrain: a Heightfield; path (P, 2) and goal (2,): world xy in metres, optional. gui: open a PyBullet
    window (p.GUI) instead of a headless p.DIRECT client. characters: how many humanoids (a crowd; pose()
    takes which). Use as a context manager, or call close().
    Body ids: terrain_body (the heightfield: collisions, invisible), terrain_visual (the drawn surface),
    humanoids (humanoid: the first), path_body and goal_body (None when not drawn).
    """

    def __init__(self, terrain, path=None, goal=None, gui=False, characters=1):
        if characters < 1:
            raise ValueError(f"a scene needs at least 1 character, got {characters}")
        self.terrain = terrain
        self.characters = int(characters)
        self.skeleton = Skeleton.load()
        with quiet_stdout():
            self.client = p.connect(p.GUI) if gui else connect_direct()
        if self.client < 0:
            if gui:
                raise DisplayError("could not open a PyBullet window (PyBullet allows one per process)")
            raise RuntimeError("could not connect to PyBullet")
        try:
            if gui:
                # No side panels (they would cover the scene) and no built-in keys (the viewer's own keys
                # would toggle wireframe or write profiles); no drawing while the scene is being built.
                for option, value in (
                    (p.COV_ENABLE_GUI, 0),
                    (p.COV_ENABLE_KEYBOARD_SHORTCUTS, 0),
                    (p.COV_ENABLE_RENDERING, 0),
                ):
                    p.configureDebugVisualizer(option, value, physicsClientId=self.client)
            self._build(path, goal)
            if gui:
                p.configureDebugVisualizer(p.COV_ENABLE_RENDERING, 1, physicsClientId=self.client)
        except BaseException:
            self.close()
            raise

    @classmethod
    def for_motion(cls, motion, gui=False):
        """The scene of a Motion: its terrain, path and goal; ValueError if it carries no terrain."""
        if motion.terrain is None:
            raise ValueError(
                "the motion has no terrain to show; motion files from `terrain-mdm clip` and "
                "`terrain-mdm synth` carry theirs"
            )
        return cls(motion.terrain, motion.path, motion.goal, gui=gui)

    def _build(self, path, goal):
        c = self.client
        p.setGravity(0, 0, GRAVITY, physicsClientId=c)
        p.setTimeStep(1.0 / PHYSICS_HZ, physicsClientId=c)
        self.terrain_body = add_heightfield_body(c, self.terrain)
        p.changeVisualShape(self.terrain_body, -1, rgbaColor=[1, 1, 1, 0], physicsClientId=c)
        self.terrain_visual = self._add_terrain_visual()
        self._link_colours = [
            LEFT_COLOUR if name.startswith("left_") else RIGHT_COLOUR if name.startswith("right_") else BODY_COLOUR
            for name in LINK_NAMES
        ]
        self.humanoids = [self._add_humanoid() for _ in range(self.characters)]
        self.humanoid = self.humanoids[0]
        self._foot_contact = [[False, False] for _ in self.humanoids]
        self._hinge_axes = [
            self.skeleton.joint_axes[link] if self.skeleton.joint_types[link] == "revolute" else None
            for link in MOVABLE_LINKS
        ]
        self.path_body = self._add_path(path) if path is not None else None
        self.goal_body = self._add_goal(goal) if goal is not None else None

    def _add_humanoid(self):
        c = self.client
        with quiet_stdout():
            body = p.loadURDF(
                URDF_PATH, globalScaling=SCALE, flags=p.URDF_MAINTAIN_LINK_ORDER, useFixedBase=True, physicsClientId=c
            )
        for link in range(-1, NUM_LINKS):
            p.setCollisionFilterPair(body, self.terrain_body, link, -1, 0, physicsClientId=c)
            # Humanoids (group 2) collide with the balls (group 1) but not with each other.
            p.setCollisionFilterGroupMask(body, link, HUMANOID_GROUP, BALL_GROUP, physicsClientId=c)
        _release_motors(body, c)
        for link, colour in enumerate(self._link_colours):
            p.changeVisualShape(body, link, rgbaColor=colour, physicsClientId=c)
        return body

    def add_route(self, path, goal):
        """Draw another character's path (P, 2) and goal (2,) (a crowd's; the constructor draws the first)."""
        self._add_path(path)
        self._add_goal(goal)

    def _visual_body(self, shapes, positions):
        """One massless body without collision shapes, made of visual `shapes` placed at world `positions`."""
        base, *links = shapes
        origin, *offsets = (np.asarray(x, dtype=np.float64) for x in positions)
        n = len(links)
        return p.createMultiBody(
            0,
            -1,
            base,
            basePosition=origin.tolist(),
            linkMasses=[0] * n,
            linkCollisionShapeIndices=[-1] * n,
            linkVisualShapeIndices=links,
            linkPositions=[(x - origin).tolist() for x in offsets],
            linkOrientations=[[0, 0, 0, 1]] * n,
            linkInertialFramePositions=[[0, 0, 0]] * n,
            linkInertialFrameOrientations=[[0, 0, 0, 1]] * n,
            linkParentIndices=[0] * n,
            linkJointTypes=[p.JOINT_FIXED] * n,
            linkJointAxis=[[0, 0, 1]] * n,
            physicsClientId=self.client,
        )

    def _add_terrain_visual(self):
        c = self.client
        shapes = [
            p.createVisualShape(
                p.GEOM_MESH,
                vertices=v.tolist(),
                indices=list(range(len(v))),
                normals=n.tolist(),
                uvs=uv.tolist(),
                physicsClientId=c,
            )
            for v, n, uv in terrain_mesh(self.terrain)
        ]
        body = self._visual_body(shapes, [[0, 0, 0]] * len(shapes))
        image = np.round(255 * terrain_colours(self.terrain).transpose(1, 0, 2)).astype(np.uint8)
        with tempfile.TemporaryDirectory() as folder, quiet_stdout():
            texture_file = os.path.join(folder, "terrain.png")
            imageio.imwrite(texture_file, image)
            texture = p.loadTexture(texture_file, physicsClientId=c)
        for link in range(-1, len(shapes) - 1):
            p.changeVisualShape(body, link, textureUniqueId=texture, rgbaColor=[1, 1, 1, 1], physicsClientId=c)
        return body

    def _add_path(self, path):
        ribbon = path_ribbon(self.terrain, path)
        if ribbon is None:
            return None
        vertices, indices = ribbon
        shape = p.createVisualShape(
            p.GEOM_MESH,
            vertices=vertices.tolist(),
            indices=indices.tolist(),
            rgbaColor=PATH_COLOUR,
            physicsClientId=self.client,
        )
        return self._visual_body([shape], [[0, 0, 0]])

    def _add_goal(self, goal):
        x, y = np.asarray(goal, dtype=np.float64)
        ground = float(self.terrain.height(np.array([x, y])))
        radius, height = GOAL_POLE
        disc = p.createVisualShape(
            p.GEOM_CYLINDER, radius=GOAL_RADIUS, length=0.01, rgbaColor=GOAL_COLOUR, physicsClientId=self.client
        )
        pole = p.createVisualShape(
            p.GEOM_CYLINDER, radius=radius, length=height, rgbaColor=GOAL_COLOUR, physicsClientId=self.client
        )
        return self._visual_body([disc, pole], [[x, y, ground + 0.005], [x, y, ground + 0.5 * height]])

    def pose(self, root_pos, root_quat, joint_quat, contacts=None, character=0):
        """Pose a humanoid (`character`: which), velocities zero: root_pos (3,) m and root_quat (4,) xyzw as in a
        Motion frame, joint_quat (12, 4) xyzw in MOVABLE_JOINTS order (a hinge takes the angle
        2 atan2(q . axis, w)). contacts (2,) [left, right] labels in [0, 1] colour the feet."""
        self.apply_pose(self.pose_targets(root_pos, root_quat, joint_quat), character)
        if contacts is not None:
            self.show_contacts(contacts, character)

    def show_contacts(self, contacts, character=0):
        """Colour a humanoid's feet by its contact labels (2,) [left, right] in [0, 1]."""
        c, body = self.client, self.humanoids[character]
        shown = self._foot_contact[character]
        for f, foot in enumerate(FEET):
            touching = bool(contacts[f] >= CONTACT_THRESHOLD)
            if touching != shown[f]:
                colour = CONTACT_COLOUR if touching else self._link_colours[foot]
                p.changeVisualShape(body, int(foot), rgbaColor=colour, physicsClientId=c)
                shown[f] = touching

    def pose_targets(self, root_pos, root_quat, joint_quat):
        """A pose as apply_pose takes it (pybullet's arguments, worked out once for a pose applied many times)."""
        targets = [
            list(q) if axis is None else [2.0 * math.atan2(float(q[:3] @ axis), float(q[3]))]
            for q, axis in zip(np.asarray(joint_quat, dtype=np.float64), self._hinge_axes)
        ]
        return list(root_pos), list(root_quat), targets

    def apply_pose(self, targets, character=0):
        """Pose a humanoid with pose_targets' result, velocities zero."""
        c, body = self.client, self.humanoids[character]
        root_pos, root_quat, joints = targets
        p.resetBasePositionAndOrientation(body, root_pos, root_quat, physicsClientId=c)
        p.resetJointStatesMultiDof(body, MOVABLE_JOINT_LIST, joints, physicsClientId=c)

    def pose_frame(self, motion, t: int):
        """Pose the humanoid as frame t of `motion`, feet coloured by its contact labels."""
        self.pose(motion.root_pos[t], motion.root_quat[t], motion.joint_quat[t], motion.contacts[t])

    def close(self):
        # A closed window has disconnected already.
        if self.client is not None and p.isConnected(physicsClientId=self.client):
            p.disconnect(physicsClientId=self.client)
        self.client = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
