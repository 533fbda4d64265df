import contextlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pybullet as p
import pytest
import torch

from motion_model.body.skeleton import MOVABLE_LINKS, NUM_LINKS, SCALE, URDF_PATH, Skeleton
from motion_model.engine.synthesis import synthesize
from motion_model.learner.checkpoint import LoadedModel, build
from motion_model.learner.dataset import compute_stats
from motion_model.learner.train_config import load_config
from terrain.generators import make_terrain
from terrain.planning import plan_path


@contextlib.contextmanager
def quiet_stdout():
    """Silence PyBullet's banners, which C code writes straight to file descriptor 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class BulletHumanoid:
    """The humanoid in a p.DIRECT client, posed kinematically from Motion-style arrays (Z-up world)."""

    def __init__(self):
        with quiet_stdout():
            self.client = p.connect(p.DIRECT)
            self.body = p.loadURDF(
                URDF_PATH, globalScaling=SCALE, flags=p.URDF_MAINTAIN_LINK_ORDER, physicsClientId=self.client
            )
        self.skeleton = Skeleton.load()

    def pose(self, root_pos, root_quat, joint_quat):
        """Set one frame: root_pos (3,), root_quat (4,) xyzw, joint_quat (12, 4) xyzw."""
        p.resetBasePositionAndOrientation(self.body, list(root_pos), list(root_quat), physicsClientId=self.client)
        for q, link in zip(joint_quat, MOVABLE_LINKS):
            if self.skeleton.joint_types[link] == "revolute":
                axis = self.skeleton.joint_axes[link]
                target = [2.0 * np.arctan2(q[:3] @ axis, q[3])]
            else:
                target = list(q)
            p.resetJointStateMultiDof(self.body, int(link), target, physicsClientId=self.client)

    def link_states(self):
        """Link frame positions (15, 3) and orientations (15, 4) xyzw, as getLinkState()[4] and [5]."""
        states = [
            p.getLinkState(self.body, i, computeForwardKinematics=True, physicsClientId=self.client)
            for i in range(NUM_LINKS)
        ]
        return np.array([s[4] for s in states]), np.array([s[5] for s in states])

    def aabb_min_z(self, link):
        return p.getAABB(self.body, link, physicsClientId=self.client)[0][2]

    def close(self):
        p.disconnect(self.client)


@pytest.fixture(scope="session")
def bullet():
    humanoid = BulletHumanoid()
    yield humanoid
    humanoid.close()


@pytest.fixture(scope="session")
def episodes():
    """Two synthesised episodes (flat, stairs) over 8 m terrains."""
    out = []
    for seed, kind in enumerate(("flat", "stairs")):
        terrain = make_terrain(kind, seed=seed, length=8.0)
        out.append(synthesize(terrain, plan_path(terrain), seed=seed))
    return out


@pytest.fixture(scope="session")
def model(episodes):
    """A tiny network with random weights and the real feature statistics of synthesised episodes."""
    config = load_config("configs/train/tiny.yaml")
    torch.manual_seed(0)
    network, window, schedule = build(config)
    # The output layer starts at zero (x0 = the mean pose whatever the noise); give it weights so that the
    # samples depend on the noise and the conditions like a trained model's.
    torch.nn.init.normal_(network.head.weight, std=0.05)
    network.eval()
    return LoadedModel(network, compute_stats(episodes, window, windows=200), window, schedule, config)


@pytest.fixture(scope="session")
def display():
    """A virtual X display (Xvfb) for the GUI tests."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed: apt-get install -y xvfb xauth")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    if not number:
        server.kill()
        pytest.fail("Xvfb did not start")
    yield f":{number}"
    server.terminate()
    server.wait()
