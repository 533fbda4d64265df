import functools

import numpy as np
import pytest
import torch

from motion_model.body import quaternion as quat
from motion_model.body.clips import clip_motion
from motion_model.body.motion import Motion
from motion_model.learner.condition import grid_shape, make_condition, reference_frame
from motion_model.learner.dataset import WindowSampler, load_episodes, load_stats, write_stats
from motion_model.learner.features import (
    HINGES,
    LAYOUT,
    NUM_FEATURES,
    Normalizer,
    features_to_motion,
    motion_to_features,
)
from motion_model.learner.window import WindowConfig
from terrain.heightfield import Heightfield

SLOPE = 0.15


@functools.cache
def synthetic_episodes():
    """Shipped walk and run clips laid on a flat and a sloped Heightfield, one turned by 90 degrees.

    The slope is faked by lifting the root with the ground (the legs are not refitted): good enough for the
    sampler's geometry and for a model to overfit.
    """
    walk, run = clip_motion("walk", cycles=3), clip_motion("run", cycles=3)
    x = np.arange(-4.0, 14.0, 0.1)
    y = np.arange(-6.0, 6.0, 0.1)
    flat = Heightfield(np.zeros((len(x), len(y))), 0.1, (x[0], y[0]))
    slope = Heightfield(np.broadcast_to(SLOPE * x[:, None], (len(x), len(y))), 0.1, (x[0], y[0]))
    episodes = []
    for motion, terrain, yaw in ((walk, flat, 0.0), (walk, slope, 0.0), (run, flat, 0.0), (walk, flat, np.pi / 2)):
        turn = quat.about_z(np.full(motion.num_frames, yaw))
        root_pos = quat.rotate(turn, motion.root_pos)
        root_pos[:, 2] += terrain.height(root_pos[:, :2])
        episodes.append(
            Motion(
                motion.fps,
                root_pos,
                quat.multiply(turn, motion.root_quat),
                motion.joint_quat,
                motion.contacts,
                terrain,
                root_pos[::5, :2].copy(),
                root_pos[-1, :2].copy(),
            )
        )
    return episodes


def write_synthetic_dataset(directory):
    (directory / "episodes").mkdir(parents=True)
    for i, episode in enumerate(synthetic_episodes()):
        episode.save(directory / "episodes" / f"ep_{i:06d}.npz")
    write_stats(directory, windows=400)
    return directory


def random_motion(rng, shape):
    root_pos = rng.normal(size=shape + (3,))
    root_quat = quat.normalize(rng.normal(size=shape + (4,)))
    joint_quat = quat.normalize(rng.normal(size=shape + (12, 4)))
    angle = rng.uniform(-3.1, 3.1, size=shape + (4,))
    sign = np.where(rng.random(shape + (4, 1)) < 0.5, -1.0, 1.0)  # both signs of the same hinge rotation
    joint_quat[..., list(HINGES), :] = quat.about_z(angle) * sign
    return root_pos, root_quat, joint_quat, rng.uniform(size=shape + (2,))


def same_rotation(a, b):
    return np.abs(np.abs((a * b).sum(-1)) - 1)


def test_layout_is_contiguous_and_complete():
    covered = sorted(i for s in LAYOUT.values() for i in range(s.start, s.stop))
    assert covered == list(range(NUM_FEATURES))


def test_features_round_trip_numpy_and_torch():
    rng = np.random.default_rng(0)
    motion = random_motion(rng, (3, 7))
    ref = rng.normal(size=(3, 2)), rng.uniform(-np.pi, np.pi, 3), rng.normal(size=3)
    f = motion_to_features(*motion, *ref)
    assert f.shape == (3, 7, NUM_FEATURES)
    root_pos, root_quat, joint_quat, contacts = features_to_motion(f, *ref)
    assert np.abs(root_pos - motion[0]).max() < 1e-12
    assert same_rotation(root_quat, motion[1]).max() < 1e-12
    assert same_rotation(joint_quat, motion[2]).max() < 1e-12
    assert np.abs(contacts - motion[3]).max() == 0
    f_torch = motion_to_features(*(torch.from_numpy(a) for a in motion), *(torch.from_numpy(a) for a in ref))
    assert torch.allclose(f_torch, torch.from_numpy(f), atol=1e-12)
    back = features_to_motion(f_torch.float(), *(torch.from_numpy(a).float() for a in ref))
    assert np.abs(back[0].numpy() - motion[0]).max() < 1e-5
    assert same_rotation(back[2].double().numpy(), motion[2]).max() < 1e-6


def test_features_do_not_depend_on_the_world_pose():
    rng = np.random.default_rng(1)
    root_pos, root_quat, joint_quat, contacts = random_motion(rng, (5,))
    ref_xy, ref_yaw, ref_z = np.array([0.3, -0.2]), 0.4, 0.1
    f = motion_to_features(root_pos, root_quat, joint_quat, contacts, ref_xy, ref_yaw, ref_z)
    turn, shift = quat.about_z(np.array(1.3)), np.array([2.0, -1.0, 0.5])
    moved = motion_to_features(
        quat.rotate(np.broadcast_to(turn, (5, 4)), root_pos) + shift,
        quat.multiply(np.broadcast_to(turn, (5, 4)), root_quat),
        joint_quat,
        contacts,
        quat.rotate(turn, np.array([*ref_xy, 0.0]))[:2] + shift[:2],
        ref_yaw + 1.3,
        ref_z + shift[2],
    )
    assert np.abs(moved - f).max() < 1e-12


def test_normalizer_round_trip_and_floor():
    normalizer = Normalizer(np.arange(3.0), np.array([1.0, 0.0, 2.0]), std_floor=0.1)
    assert normalizer.std.tolist() == pytest.approx([1.0, 0.1, 2.0])
    x = np.array([[1.0, 2.0, 3.0]])
    assert np.allclose(normalizer.denormalize(normalizer.normalize(x)), x)
    assert torch.allclose(
        normalizer.normalize(torch.tensor(x, dtype=torch.float32)),
        torch.tensor(normalizer.normalize(x), dtype=torch.float32),
    )
    restored = Normalizer.from_state_dict(normalizer.state_dict())
    assert torch.equal(restored.std, normalizer.std)


def test_window_sampler_geometry():
    config = WindowConfig()
    episodes = synthetic_episodes()
    sampler = WindowSampler(episodes, config)
    refs = sampler.refs[::7]
    batch = sampler.windows(refs)
    b = len(refs)
    assert batch["x0"].shape == (b, config.frames, NUM_FEATURES)
    assert batch["prev"].shape == (b, config.n_prev, NUM_FEATURES)
    assert batch["terrain"].shape == (b,) + grid_shape(config)
    assert all(v.dtype in (torch.float32, torch.bool) for v in batch.values())
    # The reference frame is the last previous frame: at the origin's xy, heading +X.
    last = batch["prev"][:, -1]
    assert last[:, :2].abs().max() < 1e-5
    assert last[:, 4].abs().max() < 1e-5 and (last[:, 3] > 0).all()  # the body's +X axis has no y part
    # The character walks forward and its command points forward too (straight paths), facing ahead.
    assert (batch["x0"][:, -1, 0] > 0.5).all()
    command = batch["target"].numpy()
    k = len(config.command_frames)
    assert command.shape == (b, 4 * k + 1)
    assert (np.diff(command[:, 0 : 2 * k : 2], axis=1) > 0).all() and (command[:, 2 * k : 4 * k : 2] > 0.9).all()
    # Speeds: walk about 1 m/s, run about 3.5 m/s.
    episode = sampler.episode_of[refs]
    speed = command[:, -1]
    assert (np.abs(speed[episode == 0] - 1.0) < 0.3).all() and (speed[episode == 2] > 3.0).all()
    # On the slope the heightfield rises SLOPE per metre ahead and is zero under the reference root.
    xs = np.linspace(config.extent_x[0], config.extent_x[1], grid_shape(config)[0])
    on_slope = batch["terrain"][episode == 1].numpy()
    heading = np.array([quat.heading(episodes[1].root_quat[r - sampler.start[1]]) for r in refs[episode == 1]])
    expected = SLOPE * xs[None, :] * np.cos(heading)[:, None]
    assert np.abs(on_slope[:, :, 15] - expected).max() < 0.02
    assert batch["terrain"][torch.from_numpy(episode != 1)].abs().max() == 0


def test_condition_helpers_match_the_sampler():
    config = WindowConfig()
    episode = synthetic_episodes()[1]
    sampler = WindowSampler([episode], config)
    r = 40
    batch = sampler.windows(np.array([r]))
    ref_xy, ref_yaw, ref_z = reference_frame(episode.root_pos[r], episode.root_quat[r], episode.terrain)
    command = sampler.command(np.array([r]), batch["target"][:, -1].numpy())
    cond = make_condition(
        episode.terrain, command, ref_xy[None], np.array([ref_yaw]), np.array([ref_z]), config, prev=batch["prev"]
    )
    assert torch.allclose(cond["terrain"], batch["terrain"], atol=1e-6)
    assert torch.allclose(cond["target"], batch["target"], atol=1e-6)
    assert cond["keep"].all() and cond["prev_clean"].all()


def test_stats_file_round_trip(tmp_path):
    write_synthetic_dataset(tmp_path)
    normalizer = load_stats(tmp_path)
    assert len(load_episodes(tmp_path)) == len(synthetic_episodes())
    assert normalizer.mean.shape == (NUM_FEATURES,) and (normalizer.std > 0).all()
    sampler = WindowSampler(load_episodes(tmp_path), WindowConfig(), normalizer)
    x0 = sampler.sample(64, np.random.default_rng(0))["x0"]
    assert x0.mean().abs() < 0.5 and 0.3 < x0.std() < 2.0
