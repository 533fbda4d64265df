import numpy as np
import pybullet as p
import pytest
import torch

from motion_model.body import quaternion as quat
from motion_model.body.clips import load_clip
from motion_model.body.skeleton import (
    FEET,
    LEFT_FOOT,
    LINK_NAMES,
    MOVABLE_JOINTS,
    MOVABLE_LINKS,
    NUM_LINKS,
    RIGHT_FOOT,
    SOLE_GRID,
    Skeleton,
)

FK_CLIPS = ("walk", "run", "walker/turn_left0", "cartwheel")


@pytest.fixture(scope="module")
def skeleton():
    return Skeleton.load()


def rotation_angle(a, b):
    """Angle (rad) of the rotation between quaternions a and b; atan2 stays accurate near zero."""
    relative = quat.multiply(quat.conjugate(b), a)
    return 2 * np.arctan2(np.linalg.norm(relative[..., :3], axis=-1), np.abs(relative[..., 3]))


def test_tree_matches_pybullet(skeleton, bullet):
    assert Skeleton.load() is skeleton
    assert skeleton.link_names == LINK_NAMES and NUM_LINKS == 15
    assert (LEFT_FOOT, RIGHT_FOOT) == FEET == (11, 5)
    bullet_types = {p.JOINT_FIXED: "fixed", p.JOINT_SPHERICAL: "spherical", p.JOINT_REVOLUTE: "revolute"}
    for i in range(NUM_LINKS):
        info = p.getJointInfo(bullet.body, i, physicsClientId=bullet.client)
        assert info[12].decode() == LINK_NAMES[i]
        assert bullet_types[info[2]] == skeleton.joint_types[i]
        assert info[16] == skeleton.parents[i]
    assert [LINK_NAMES[i] for i in MOVABLE_LINKS] == list(MOVABLE_JOINTS)
    assert np.allclose(skeleton.joint_axes[[4, 7, 10, 13]], [0, 0, 1])


def test_offsets_and_shapes_are_scaled(skeleton):
    lengths = np.linalg.norm(skeleton.offsets, axis=-1)
    assert lengths[LINK_NAMES.index("chest")] == pytest.approx(0.2362, abs=1e-4)
    assert lengths[LINK_NAMES.index("left_knee")] == pytest.approx(0.4215, abs=1e-4)
    assert lengths[LINK_NAMES.index("left_ankle")] == pytest.approx(0.4099, abs=1e-4)
    (foot,) = skeleton.shapes[LEFT_FOOT]
    assert foot.kind == "box"
    assert np.allclose(foot.size, [0.177, 0.055, 0.09]) and np.allclose(foot.pos, [0.045, -0.0225, 0])
    kinds = [s.kind for shapes in skeleton.shapes for s in shapes]
    assert kinds.count("sphere") == 5 and kinds.count("capsule") == 8 and kinds.count("box") == 2


@pytest.mark.parametrize("name", FK_CLIPS)
def test_fk_matches_pybullet(skeleton, bullet, name):
    motion = load_clip(name)
    frames = np.linspace(0, motion.num_frames - 1, 6).astype(int)
    pos, rot = skeleton.fk(motion.root_pos[frames], motion.root_quat[frames], motion.joint_quat[frames])
    torch_pos, torch_rot = skeleton.fk(
        *(torch.tensor(a[frames]) for a in (motion.root_pos, motion.root_quat, motion.joint_quat))
    )
    for k, t in enumerate(frames):
        bullet.pose(motion.root_pos[t], motion.root_quat[t], motion.joint_quat[t])
        bullet_pos, bullet_rot = bullet.link_states()
        assert np.abs(pos[k] - bullet_pos).max() < 1e-4
        assert rotation_angle(rot[k], bullet_rot).max() < 1e-4
        assert np.abs(torch_pos[k].numpy() - bullet_pos).max() < 1e-4
        assert rotation_angle(torch_rot[k].numpy(), bullet_rot).max() < 1e-4


def test_fk_batches_and_torch_is_differentiable(skeleton):
    motion = load_clip("walk")
    shape = (2, 5)
    arrays = [a[:10].reshape(shape + a.shape[1:]) for a in (motion.root_pos, motion.root_quat, motion.joint_quat)]
    pos, rot = skeleton.fk(*arrays)
    assert pos.shape == shape + (NUM_LINKS, 3) and rot.shape == shape + (NUM_LINKS, 4)
    flat_pos, _ = skeleton.fk(motion.root_pos[:10], motion.root_quat[:10], motion.joint_quat[:10])
    assert np.allclose(pos.reshape(10, NUM_LINKS, 3), flat_pos)

    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    torch_pos, torch_rot = skeleton.fk(*tensors)
    assert np.allclose(torch_pos.detach().numpy(), pos, atol=1e-12)
    assert np.allclose(torch_rot.detach().numpy(), rot, atol=1e-12)
    (torch_pos[..., FEET, 2].sum() + skeleton.body_points(torch_pos, torch_rot).sum()).backward()
    for tensor in tensors:
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()
    assert tensors[2].grad.abs().sum() > 0

    single = skeleton.fk(*(torch.tensor(a, dtype=torch.float32) for a in arrays))
    assert single[0].dtype == torch.float32
    assert np.abs(single[0].numpy() - pos).max() < 1e-5


def test_body_points_lie_on_collision_shapes(skeleton):
    assert 150 <= skeleton.num_points <= 220
    for i, shapes in enumerate(skeleton.shapes):
        points = skeleton.points_local[skeleton.point_link == i]
        assert len(points) > 0
        distance = np.min([s.distance_to_surface(points) for s in shapes], axis=0)
        assert distance.max() < 1e-9


def test_sampling_gaps(skeleton):
    """How far a plane can cut into a shape unseen, and how densely the sole is covered."""
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(4000, 3))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    for i, shapes in enumerate(skeleton.shapes):
        (shape,) = shapes
        points = skeleton.points_local[skeleton.point_link == i]
        plane_gap = (shape.support(directions) - (directions @ points.T).max(-1)).max()
        if shape.kind == "box":
            assert plane_gap < 1e-9  # all eight corners are sampled
        else:
            assert plane_gap < 0.6 * shape.size[0]
    (foot,) = skeleton.shapes[LEFT_FOOT]
    half = np.asarray(foot.size) / 2
    sole = foot.pos + np.stack(
        [rng.uniform(-half[0], half[0], 5000), np.full(5000, -half[1]), rng.uniform(-half[2], half[2], 5000)], -1
    )
    foot_points = skeleton.points_local[skeleton.point_link == LEFT_FOOT]
    cover = np.linalg.norm(sole[:, None] - foot_points[None], axis=-1).min(-1).max()
    assert cover < 0.016


def test_sole_points_cover_the_bottom_face(skeleton):
    (foot,) = skeleton.shapes[LEFT_FOOT]
    assert skeleton.sole_local.shape == (np.prod(SOLE_GRID), 3)
    assert np.allclose(skeleton.sole_local[:, 1], -0.05)
    corners = np.array([[x, -0.05, z] for x in (-0.0435, 0.1335) for z in (-0.045, 0.045)])
    for corner in corners:
        assert np.linalg.norm(skeleton.sole_local - corner, axis=-1).min() < 1e-9
        foot_points = skeleton.points_local[skeleton.point_link == LEFT_FOOT]
        assert np.linalg.norm(foot_points - corner, axis=-1).min() < 1e-9

    motion = load_clip("walk")
    pos, rot = motion.fk()
    soles = skeleton.sole_points(pos, rot)
    assert soles.shape == (motion.num_frames, 2, len(skeleton.sole_local), 3)
    body = skeleton.body_points(pos, rot)
    for f, link in enumerate(FEET):
        on_foot = body[:, skeleton.point_link == link]
        assert np.abs(on_foot[:, : len(skeleton.sole_local)] - soles[:, f]).max() < 1e-12
    assert np.allclose(skeleton.lowest_sole(pos, rot), soles[..., 2].min(-1))
    torch_low = skeleton.lowest_sole(*(torch.tensor(a) for a in (pos, rot)))
    assert np.allclose(torch_low.numpy(), soles[..., 2].min(-1))


def test_rejects_unexpected_urdf(tmp_path):
    from motion_model.body.skeleton import URDF_PATH

    text = open(URDF_PATH, "rb").read().replace(b'"neck"', b'"head"')
    bad = tmp_path / "humanoid.urdf"
    bad.write_bytes(text)
    with pytest.raises(ValueError, match="differ from the expected"):
        Skeleton.from_urdf(str(bad))
