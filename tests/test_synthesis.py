"""The synthesis engine on real procedural terrain, measured with the real metrics."""

import numpy as np
import pytest

from motion_model.engine.gait import gait_cycle, walk_cycles
from motion_model.engine.synthesis import synthesize
from sim.evaluation.metrics import evaluate
from terrain.generators import make_terrain
from terrain.planning import plan_path


@pytest.fixture(scope="module")
def stairs_episode():
    terrain = make_terrain("stairs", seed=2, direction="up_down", step_height=0.18)
    return synthesize(terrain, plan_path(terrain), gait="walk", seed=2)


def test_cycles_start_at_left_touchdown_and_close():
    for cycle in walk_cycles():
        assert cycle.stance[0, 0] == 0.0
        assert 0.4 < cycle.stance[0, 1] < 0.75 and 0.4 < cycle.stance[1, 0] < 0.65
        h, _, rel, joints = cycle.sample(np.array([0.0, 1.0 - 1e-9]))
        assert abs(h[0] - h[1]) < 1e-3
        assert np.abs(np.abs((joints[0] * joints[1]).sum(-1)) - 1).max() < 1e-3
    assert gait_cycle("walker/turn_left0").yaw_per_cycle > 0 > gait_cycle("walker/turn_left0", True).yaw_per_cycle


def test_stairs_episode_meets_the_engine_floors(stairs_episode):
    m = evaluate(stairs_episode)
    assert m["nan_frames"] == 0 and m["quat_norm_error"] < 1e-6
    assert m["penetration_mean_mm"] < 3.0 and m["penetration_frac_10mm"] < 0.01
    assert m["drift_label_mm"] < 0.5  # a stance foot does not move at all
    assert m["drift_auto_mm"] < 3.0 and m["sliding_ratio"] < 0.01
    assert m["goal_dist_root_m"] < 0.3
    assert m["float_mean_mm"] < 3.0


def test_stance_feet_rest_flat_on_treads(stairs_episode):
    from motion_model.body.skeleton import Skeleton

    skeleton = Skeleton.load()
    soles = skeleton.sole_points(*stairs_episode.fk(skeleton))
    terrain = stairs_episode.terrain
    gap = soles[..., 2] - terrain.height(soles[..., :2])  # (T, 2, K)
    stance = stairs_episode.contacts > 0.5
    # Every sole point of a stance foot within 1 cm of the surface: the foot is not across a step edge.
    assert np.abs(gap[stance]).max() < 0.01
    # The episode climbs and descends: stance heights span the stair.
    heights = soles[..., 2].min(-1)[stance]
    assert heights.max() - heights.min() > 0.5


def test_same_seed_same_motion_and_other_seed_differs():
    terrain = make_terrain("slope", seed=1)
    path = plan_path(terrain)
    a = synthesize(terrain, path, gait="mixed", seed=5)
    b = synthesize(terrain, path, gait="mixed", seed=5)
    c = synthesize(terrain, path, gait="mixed", seed=6)
    assert np.array_equal(a.root_pos, b.root_pos) and np.array_equal(a.joint_quat, b.joint_quat)
    assert a.num_frames != c.num_frames or not np.allclose(a.root_pos, c.root_pos)


def test_run_is_faster_than_walk():
    terrain = make_terrain("flat", seed=0, length=14.0)
    path = plan_path(terrain)
    walk = evaluate(synthesize(terrain, path, gait="walk", seed=0))
    run = evaluate(synthesize(terrain, path, gait="run", seed=0))
    assert 0.5 < walk["speed_m_s"] < 1.6 and run["speed_m_s"] > 2.0
    assert run["penetration_mean_mm"] < 1.0
