"""The command (motion_model/learner/command.py): cut from training windows, made by hand, and read by old models."""

import numpy as np
import pytest
import yaml

from motion_model.body import quaternion as quat
from motion_model.learner import checkpoint
from motion_model.learner.command import Command
from motion_model.learner.dataset import WindowSampler
from motion_model.learner.train_config import train_config
from motion_model.learner.window import WindowConfig

TIMES = np.arange(1, 7) / 3.0


def to_reference(xy, ref_xy, ref_yaw):
    d = xy - ref_xy
    c, s = np.cos(ref_yaw), np.sin(ref_yaw)
    return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)


def test_a_windows_command_is_the_episodes_own_future(episodes):
    config = WindowConfig()
    sampler = WindowSampler(episodes, config)
    refs = sampler.refs[::11]
    speed = np.linspace(0.5, 1.5, len(refs))
    command = sampler.command(refs, speed)
    assert command.positions.shape == (len(refs), 6, 2) and np.array_equal(command.speed, speed)
    for row, r in enumerate(refs):
        ep = sampler.episode_of[r]
        local = r - sampler.start[ep]
        motion = episodes[ep]
        ref_yaw = quat.heading(motion.root_quat[local])
        future = local + np.array(config.command_frames)
        expected = to_reference(motion.root_pos[future, :2], motion.root_pos[local, :2], ref_yaw)
        assert np.allclose(command.positions[row], expected, atol=1e-9)
        # The facing is the heading averaged over the gait cycle: within the pelvis's swing of the raw one.
        yaw = np.arctan2(command.facings[row, :, 1], command.facings[row, :, 0])
        raw = quat.heading(motion.root_quat[future]) - ref_yaw
        assert np.abs(np.angle(np.exp(1j * (yaw - raw)))).max() < np.radians(8)
    # Past the episode's end the last frame holds: the command of its last frame stands there.
    last = sampler.start[0] + episodes[0].num_frames - 1
    held = sampler.command(np.array([last - 15]), np.zeros(1))
    end = to_reference(
        episodes[0].root_pos[-1, :2], episodes[0].root_pos[-16, :2], quat.heading(episodes[0].root_quat[-16])
    )
    assert np.allclose(held.positions[0, 2:], end) and not np.allclose(held.positions[0, 0], end)


def test_straight_commands_and_standing():
    go = Command.straight(np.pi / 2, 1.2, TIMES)
    assert np.allclose(go.positions, np.stack([np.zeros(6), 1.2 * TIMES], -1))
    assert np.allclose(go.facings, [[0.0, 1.0]] * 6) and go.speed == 1.2
    stand = Command.straight(0.0, 0.0, TIMES)
    assert np.array_equal(stand.positions, np.zeros((6, 2))) and stand.speed == 0.0
    assert np.allclose(stand.facings, [[1.0, 0.0]] * 6)
    assert stand.target().shape == (25,)
    both = Command.stack([go, stand])
    assert both.target().shape == (2, 25) and np.allclose(both.target()[1], stand.target())
    with pytest.raises(ValueError, match="speed must be >= 0"):
        Command(np.zeros((6, 2)), np.ones((6, 2)), -1.0)
    with pytest.raises(ValueError, match="one shape"):
        Command(np.zeros((6, 2)), np.ones((5, 2)), 1.0)


def test_the_window_config_sets_the_commands_times_and_the_models_target():
    with open("configs/train/tiny.yaml") as f:
        values = yaml.safe_load(f)
    values["window"]["command_frames"] = [15, 30, 45, 60]
    network, window, _ = checkpoint.build(train_config(values))
    assert window.target_dim == 17 and network.target[0].in_features == 17
    values["model"]["target_dim"] = 25
    with pytest.raises(ValueError, match="target_dim follows from window: command_frames"):
        train_config(values)
    for bad in ([0, 30], [30, 20], [10, 70], [10.5, 20]):
        with pytest.raises(ValueError, match="command_frames must be increasing whole frames from 1 to"):
            WindowConfig(command_frames=bad)
