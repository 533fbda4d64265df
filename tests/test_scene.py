import numpy as np
import pytest

from motion_model.body.clips import clip_motion
from motion_model.body.skeleton import FEET
from sim.bullet import scene as scene_module
from sim.bullet.meshes import MAX_MESH_VERTICES, MAX_RUN, PATH_LIFT, path_ribbon, terrain_colours, terrain_mesh
from sim.bullet.scene import Camera, Scene, p
from terrain.generators import make_terrain
from terrain.heightfield import Heightfield
from terrain.planning import plan_path


@pytest.fixture(scope="module")
def stairs_walk():
    from motion_model.engine.synthesis import synthesize

    terrain = make_terrain("stairs", seed=0)
    return synthesize(terrain, plan_path(terrain), gait="walk", seed=0)


@pytest.fixture(scope="module")
def stairs_scene(stairs_walk):
    with Scene.for_motion(stairs_walk) as scene:
        yield scene


def step_terrain():
    """4 m x 2 m: flat at 0, a 0.3 m step at x = 2 m, and from x = 3 m flat again at the lowest height,
    which is a rounding error below 0 (as the generators leave it): Bullet's own heightfield drawing drops
    that last part."""
    h = np.zeros((41, 21))
    h[20:30] = 0.3
    h[30:] = -5.551115123125783e-17
    return Heightfield(h, 0.1, (0.0, -1.0))


def project(view, projection, points, width, height):
    """Pixel (column, row) of world points (N, 3) in a getCameraImage picture."""
    v = np.array(view).reshape(4, 4).T
    m = np.array(projection).reshape(4, 4).T @ v
    h = np.concatenate([points, np.ones((len(points), 1))], 1) @ m.T
    ndc = h[:, :3] / h[:, 3:]
    return np.stack([(ndc[:, 0] + 1) / 2 * width, (1 - ndc[:, 1]) / 2 * height], 1).astype(int)


def test_terrain_mesh_is_bullets_surface():
    terrain = make_terrain("rough", seed=1)
    pieces = list(terrain_mesh(terrain))
    vertices = np.concatenate([v for v, _, _ in pieces])
    normals = np.concatenate([n for _, n, _ in pieces])
    assert all(len(v) <= MAX_MESH_VERTICES for v, _, _ in pieces)
    # The triangles tile the grid once (level runs merged): their areas seen from above add up to it.
    tri = vertices.reshape(-1, 3, 3)
    edges = tri[:, 1:, :2] - tri[:, :1, :2]
    area = 0.5 * np.abs(edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]).sum()
    assert np.isclose(area, np.prod(np.array(terrain.shape) - 1) * terrain.cell**2)
    flat = make_terrain("flat", seed=0)
    runs = np.ceil((flat.shape[1] - 1) / MAX_RUN)  # level cells merged MAX_RUN at a time
    assert sum(len(v) for v, _, _ in terrain_mesh(flat)) == 6 * (flat.shape[0] - 1) * runs
    # Vertices are grid vertices; triangle centres lie on the Heightfield's triangles (Bullet's diagonal).
    assert np.allclose(terrain.height(vertices[:, :2]), vertices[:, 2], atol=1e-9)
    centres = vertices.reshape(-1, 3, 3).mean(1)
    assert np.allclose(terrain.height(centres[:, :2]), centres[:, 2], atol=1e-9)
    assert np.all(normals[:, 2] > 0)


def test_texture_shows_in_tiny_renderer_and_the_whole_terrain_is_drawn():
    terrain = step_terrain()
    with Scene(terrain) as scene:
        p.resetBasePositionAndOrientation(scene.humanoid, [10, 10, 0], [0, 0, 0, 1], physicsClientId=scene.client)
        width, height = 200, 100
        view = p.computeViewMatrix([2.0, 0.0, 10.0], [2.0, 0.0, 0.0], [0, 1, 0])
        projection = p.computeProjectionMatrixFOV(30, width / height, 1.0, 20.0)
        # Ambient light only: every pixel is its texel times one factor.
        _, _, rgb, _, seg = p.getCameraImage(
            width,
            height,
            view,
            projection,
            renderer=p.ER_TINY_RENDERER,
            lightAmbientCoeff=1.0,
            lightDiffuseCoeff=0.0,
            lightSpecularCoeff=0.0,
            physicsClientId=scene.client,
        )
        rgb = np.reshape(rgb, (height, width, 4))[..., :3].astype(float)
        seg = np.reshape(seg, (height, width))
        colours = terrain_colours(terrain) * 255
        # Cell centres on the low ground, the step's riser, its top, and the ground at the minimum height.
        cells = np.array([[5, 3], [19, 10], [25, 12], [35, 7]])
        xy = terrain.origin + (cells + 0.5) * terrain.cell
        pixels = project(view, projection, np.concatenate([xy, terrain.height(xy)[:, None]], 1), width, height)
        seen = rgb[pixels[:, 1], pixels[:, 0]]
        expected = colours[cells[:, 0], cells[:, 1]]
        factor = seen / expected
        assert np.all(np.abs(factor - factor.mean()) < 0.03), (seen, expected)
        assert np.all(seg[pixels[:, 1], pixels[:, 0]] == scene.terrain_visual)
        # The step edge is darker than either side; the two heights differ in colour.
        assert seen[1].sum() < 0.5 * seen[0].sum() and np.abs(seen[2] - seen[0]).max() > 20
        # No hole: the terrain's whole footprint is terrain.
        corners = project(view, projection, np.array([[0.1, -0.9, 0.0], [3.9, 0.9, 0.0]]), width, height)
        (c0, r1), (c1, r0) = corners
        assert np.all(seg[r0:r1, c0:c1] == scene.terrain_visual)


def test_terrain_colours():
    terrain = step_terrain()
    colours = terrain_colours(terrain)
    assert colours.shape == (40, 20, 3) and colours.min() >= 0 and colours.max() <= 1
    # Grid lines every metre: the cells holding x = 1 m (ix 9) and y = 0 (iy 9) are darker than their neighbours.
    assert colours[9, 3].sum() < colours[8, 3].sum() and colours[5, 9].sum() < colours[5, 8].sum()


def test_pose_matches_forward_kinematics(stairs_walk, stairs_scene):
    motion, scene = stairs_walk, stairs_scene
    link_pos, link_rot = motion.fk()
    for t in range(0, motion.num_frames, 40):
        scene.pose_frame(motion, t)
        states = [
            p.getLinkState(scene.humanoid, i, computeForwardKinematics=True, physicsClientId=scene.client)
            for i in range(len(link_pos[t]))
        ]
        assert np.abs(np.array([s[4] for s in states]) - link_pos[t]).max() < 1e-5
        dots = np.abs((np.array([s[5] for s in states]) * link_rot[t]).sum(-1))
        assert np.all(dots > 1 - 1e-6)


def test_feet_turn_green_in_contact(stairs_walk, stairs_scene):
    motion, scene = stairs_walk, stairs_scene
    colours = {foot: colour for foot, colour in zip(FEET, (scene_module.LEFT_COLOUR, scene_module.RIGHT_COLOUR))}
    swing = int(np.argmin(motion.contacts[:, 0]))
    assert motion.contacts[0, 0] >= 0.5 > motion.contacts[swing, 0]
    for t in (0, swing, 0):
        scene.pose_frame(motion, t)
        shapes = {d[1]: d[7] for d in p.getVisualShapeData(scene.humanoid, physicsClientId=scene.client)}
        for f, foot in enumerate(FEET):
            expected = scene_module.CONTACT_COLOUR if motion.contacts[t, f] >= 0.5 else colours[foot]
            assert np.allclose(shapes[foot], expected, atol=1e-3)


def test_physics_with_a_kinematic_character(stairs_walk, stairs_scene):
    """Dynamic objects land on the terrain; the character sunk into it neither collides nor moves."""
    motion, scene = stairs_walk, stairs_scene
    c = scene.client
    t = 0
    sunk = motion.root_pos[t] - [0.0, 0.0, 0.3]
    scene.pose(sunk, motion.root_quat[t], motion.joint_quat[t])
    box = p.createMultiBody(
        1.0,
        p.createCollisionShape(p.GEOM_BOX, halfExtents=[0.1] * 3, physicsClientId=c),
        basePosition=[2.0, -1.5, 1.0],
        physicsClientId=c,
    )
    try:
        for _ in range(int(scene_module.PHYSICS_HZ)):
            p.stepSimulation(physicsClientId=c)
        ground = float(stairs_walk.terrain.height(np.array([2.0, -1.5])))
        assert p.getBasePositionAndOrientation(box, physicsClientId=c)[0][2] == pytest.approx(ground + 0.1, abs=0.01)
        assert p.getContactPoints(scene.humanoid, scene.terrain_body, physicsClientId=c) == ()
        assert np.allclose(p.getBasePositionAndOrientation(scene.humanoid, physicsClientId=c)[0], sunk, atol=1e-9)
    finally:
        p.removeBody(box, physicsClientId=c)


def test_path_and_goal_are_drawn(stairs_walk, stairs_scene):
    motion, scene = stairs_walk, stairs_scene
    vertices, indices = path_ribbon(motion.terrain, motion.path)
    assert np.allclose(vertices[:, 2] - motion.terrain.height(vertices[:, :2]), PATH_LIFT)
    tri = vertices[indices.reshape(-1, 3)]
    assert np.all(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2] > 0)  # facing up
    assert path_ribbon(motion.terrain, np.zeros((3, 2))) is None
    # Seen from above the goal, path, goal, terrain and character show in a TinyRenderer picture.
    scene.pose_frame(motion, motion.num_frames - 1)
    camera = Camera(distance=4.0, pitch=-60.0)
    target = np.array([*motion.goal, float(motion.terrain.height(motion.goal))])
    _, _, _, _, seg = p.getCameraImage(
        160,
        120,
        camera.view_matrix(target, 4.0),
        camera.projection_matrix(160, 120),
        renderer=p.ER_TINY_RENDERER,
        physicsClientId=scene.client,
    )
    seen = set(np.unique(seg).tolist())
    assert {scene.terrain_visual, scene.humanoid, scene.path_body, scene.goal_body} <= seen
    assert scene.terrain_body not in seen  # the heightfield itself is hidden


def test_camera_track():
    fps = 30.0
    t = np.arange(90) / fps
    root = np.stack([t, np.zeros_like(t), np.full_like(t, 0.9)], 1)  # 1 m/s along +X
    terrain = make_terrain("flat", seed=0)
    targets, distance = Camera().track(root, fps, terrain)
    assert distance == scene_module.FOLLOW_DISTANCE
    assert np.allclose(targets[0], root[0] - [0, 0, scene_module.TARGET_DROP])
    # A causal filter: once settled it lags by about speed x time constant, and it moves smoothly.
    assert targets[-1, 0] == pytest.approx(root[-1, 0] - 0.3, abs=0.03)
    assert np.all(np.diff(targets[:, 0]) > 0) and np.abs(np.diff(targets[:, 0], 2)).max() < 0.01
    static, static_distance = Camera(follow=False).track(root, fps, terrain)
    assert np.allclose(static, [1.5, 0.0, 0.0], atol=0.02) and static_distance > 3.0
    assert Camera(distance=5.0).track(root, fps, terrain)[1] == 5.0
    for bad in (dict(distance=0), dict(fov=0), dict(smoothing=-1)):
        with pytest.raises(ValueError):
            Camera(**bad)


def test_motion_without_terrain():
    with pytest.raises(ValueError, match="no terrain"):
        Scene.for_motion(clip_motion("walk"))
