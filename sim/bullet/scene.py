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

import imageio.v2 as imageio
import numpy as np

from motion_model.body.skeleton import FEET, LINK_NAMES, MOVABLE_LINKS, NUM_LINKS, SCALE, URDF_PATH, Skeleton
from terrain.bullet import add_heightfield_body, connect_direct, p, quiet_stdout
from terrain.polyline import Polyline

PHYSICS_HZ = 240.0
MOVABLE_JOINT_LIST = MOVABLE_LINKS.tolist()
BALL_GROUP, HUMANOID_GROUP = 1, 2  # collision filter groups (Bullet's default group is 1)
GRAVITY = -9.81  # m/s^2 along Z

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

# Character colours: left limbs blue, right limbs orange, a foot green while labelled in contact.
BODY_COLOUR = (0.85, 0.85, 0.85, 1.0)
LEFT_COLOUR = (0.30, 0.50, 0.85, 1.0)
RIGHT_COLOUR = (0.90, 0.50, 0.25, 1.0)
CONTACT_COLOUR = (0.15, 0.75, 0.30, 1.0)
CONTACT_THRESHOLD = 0.5  # a contact label from 0.5 counts as contact, as in sim.evaluation.metrics

PATH_COLOUR = (0.85, 0.10, 0.35, 1.0)
PATH_WIDTH = 0.04  # m
PATH_LIFT = 0.008  # m above the surface, so that the ribbon does not flicker into it
GOAL_COLOUR = (0.10, 0.70, 0.25, 1.0)
GOAL_RADIUS = 0.25  # m, the disc on the ground
GOAL_POLE = (0.02, 1.2)  # m, radius and height of the pole

# The camera looks at a point this far below the pelvis, so that the feet and the ground stay in view.
TARGET_DROP = 0.3  # m
FOLLOW_DISTANCE = 3.0  # m, default distance of a following camera


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
        """Camera targets (T, 3) for pelvis positions root_pos (T, 3) sampled at `fps`, and the distance (m)."""
        root_pos = np.asarray(root_pos, dtype=np.float64)
        if not self.follow:
            centre = 0.5 * (root_pos.min(0) + root_pos.max(0))
            target = np.array([centre[0], centre[1], float(terrain.height(centre[:2]))])
            # Fit the pelvis track with a body height to spare around it.
            extent = float(np.linalg.norm(np.ptp(root_pos[:, :2], 0))) + 2.0
            fit = 0.6 * extent / math.tan(math.radians(0.5 * self.fov))
            return np.broadcast_to(target, root_pos.shape), self.distance or fit
        goal = root_pos - [0.0, 0.0, TARGET_DROP]
        alpha = 1.0 - math.exp(-1.0 / (fps * self.smoothing)) if self.smoothing > 0 else 1.0
        targets = np.empty_like(goal)
        targets[0] = goal[0]
        for t in range(1, len(goal)):
            targets[t] = targets[t - 1] + alpha * (goal[t] - targets[t - 1])
        return targets, self.distance or FOLLOW_DISTANCE

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
