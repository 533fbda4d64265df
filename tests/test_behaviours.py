"""The planned synthesis engine's behaviours (standing, starting and stopping, corners, turning on the spot,
speed changes), on real terrain, measured with the real metrics against the engine's floors."""

import numpy as np
import pytest

from motion_model.body import quaternion as quat
from motion_model.body.skeleton import Skeleton
from motion_model.engine.route import PathCurve, Stairs
from motion_model.engine.speed_plan import Cruise, PlanConfig, SpeedPlan, Stop, random_plan
from motion_model.engine.synthesis import synthesize
from sim.evaluation.metrics import evaluate
from terrain.generators import make_terrain
from terrain.planning import plan_path

FPS = 30


@pytest.fixture(scope="module")
def flat():
    return make_terrain("flat", seed=0, length=12.0, width=8.0)


def route(terrain, *points):
    return np.asarray(terrain.start) + np.array(points, dtype=float)


def meets_floors(motion):
    """The engine's floors; returns the metrics."""
    m = evaluate(motion)
    assert m["nan_frames"] == 0 and m["quat_norm_error"] < 1e-6
    assert m["penetration_mean_mm"] < 3.0 and m["penetration_frac_10mm"] < 0.01
    assert m["float_mean_mm"] < 3.0
    assert m["drift_label_mm"] < 2.0 and m["drift_auto_mm"] < 3.0 and m["sliding_ratio"] < 0.01
    assert m["skate_ratio"] < 0.395 + 0.05  # the looped walk clip's, plus 0.05
    return m


def root_speed(motion):
    return np.linalg.norm(np.diff(motion.root_pos[:, :2], axis=0), axis=-1) * motion.fps


def soles(motion):
    skeleton = Skeleton.load()
    return skeleton.sole_points(*motion.fk(skeleton))  # (T, 2, K, 3)


def assert_standing(motion, frames):
    """Over `frames`: the root still, both feet labelled in contact and not moving, flat on the ground, the
    pelvis upright at standing height above the feet."""
    assert root_speed(motion)[frames[:-1]].max() < 0.05
    assert (motion.contacts[frames] > 0.5).all()
    points = soles(motion)[frames]
    assert np.abs(points - points[:1]).max() < 1e-6
    gap = points[..., 2] - motion.terrain.height(points[..., :2])
    assert np.abs(gap).max() < 0.01
    up = quat.rotate(motion.root_quat[frames], np.broadcast_to([0.0, 1.0, 0.0], (len(frames), 3)))  # URDF Y-up
    assert up[:, 2].min() > 0.97
    height = motion.root_pos[frames, 2] - points[..., 2].mean((1, 2))
    assert 0.84 < height.min() and height.max() < 0.89


def path_distance(xy, path):
    a, b = path[:-1], path[1:]
    t = np.clip(((xy[:, None] - a) * (b - a)).sum(-1) / ((b - a) ** 2).sum(-1), 0.0, 1.0)
    return np.linalg.norm(xy[:, None] - (a + t[..., None] * (b - a)), axis=-1).min(1)


def feet_gap(motion):
    """Per frame, how far the left sole centre is to the left of the right one across the body's heading."""
    yaw = quat.heading(motion.root_quat)
    left = np.stack([-np.sin(yaw), np.cos(yaw)], -1)
    centre = soles(motion)[..., :2].mean(-2)
    return ((centre[:, 0] - centre[:, 1]) * left).sum(-1)


def test_start_from_standing_walk_and_stop(flat):
    path = route(flat, (0, 0), (4, 0))
    motion = synthesize(flat, path, plan=SpeedPlan.constant(1.2, start_standing=1.0, end_standing=1.5))
    meets_floors(motion)
    assert_standing(motion, np.arange(0, FPS))
    assert_standing(motion, np.arange(motion.num_frames - FPS - 1, motion.num_frames))
    assert np.linalg.norm(motion.root_pos[-1, :2] - path[-1]) < 0.05
    # Setting off: up to speed within about a second, from a standstill.
    speed = root_speed(motion)
    off = np.flatnonzero(speed > 0.05)[0]
    assert FPS - 5 <= off <= FPS + 10
    travelled = motion.root_pos[off + FPS, 0] - motion.root_pos[off, 0]
    assert 0.4 < travelled < 1.0
    assert (motion.root_pos[off + 2 * FPS, 0] - motion.root_pos[off + FPS, 0]) > 0.9 * 1.2


@pytest.mark.parametrize(
    "corner", [((0, 0), (3, 0), (3, 3)), ((0, 0), (3, 0), (3, 1), (0, 1))], ids=["corner90", "uturn"]
)
def test_corners_slow_down_and_keep_to_the_path(flat, corner):
    path = route(flat, *corner)
    motion = synthesize(flat, path, plan=SpeedPlan.constant(1.3, end_standing=1.0))
    meets_floors(motion)
    distance = path_distance(motion.root_pos[:, :2], path)
    assert distance.mean() < 0.03 and distance.max() < 0.1  # measured 0.014-0.016 and 0.065-0.067 m
    speed = root_speed(motion)
    near = np.linalg.norm(motion.root_pos[1:, None, :2] - path[1:-1], axis=-1).min(1) < 0.3
    away = path_distance(motion.root_pos[1:, :2], path[:2]) < 0.01
    away &= motion.root_pos[1:, 0] - path[0, 0] > 1.0
    assert speed[near].mean() < 0.7 * speed[away].mean()
    assert feet_gap(motion).min() > 0.0  # the feet never cross
    assert_standing(motion, np.arange(motion.num_frames - FPS - 1, motion.num_frames))


def test_turning_on_the_spot_for_a_goal_behind(flat):
    path = route(flat, (0, 0), (3, 0))
    plan = SpeedPlan.constant(1.2, start_standing=0.5, end_standing=1.0, start_heading=np.pi)
    motion = synthesize(flat, path, plan=plan)
    meets_floors(motion)
    yaw = np.unwrap(quat.heading(motion.root_quat))
    turned = np.flatnonzero(np.abs(np.cos(yaw) - 1.0) < 0.02)[0]  # facing along the path within 11 degrees
    on_spot = np.arange(turned)
    assert np.abs(np.cos(yaw[0]) + 1) < 1e-6 and turned < 4 * FPS
    assert np.linalg.norm(motion.root_pos[on_spot, :2] - path[0], axis=-1).max() < 0.05
    lifts = (np.diff(motion.contacts[on_spot].astype(int), axis=0) < 0).sum()
    assert lifts >= 3  # it steps round, it does not spin on planted feet
    assert feet_gap(motion).min() > 0.0
    assert_standing(motion, np.arange(motion.num_frames - FPS - 1, motion.num_frames))


def test_stops_on_stairs_stand_flat_on_treads():
    terrain = make_terrain("stairs", seed=5, direction="up_down", step_height=0.18, tread=0.28, num_steps=6)
    path = plan_path(terrain)
    curve = PathCurve.from_points(path, 0.3)
    stairs = Stairs.along(terrain, curve)
    risers = stairs.s[np.abs(np.diff(terrain.height(curve.position(stairs.s)), append=0.0)) > 0.03]
    up, down = (risers[2] + risers[3]) / 2, (risers[-3] + risers[-2]) / 2  # mid-flight, both ways
    plan = SpeedPlan((Cruise(0.0, 1.1), Stop(up, 1.5), Stop(down, 1.5)), start_standing=0.5, end_standing=1.0)
    motion = synthesize(terrain, path, plan=plan)
    metrics = meets_floors(motion)
    assert metrics["penetration_max_mm"] < 10.0
    still = np.flatnonzero((root_speed(motion) < 0.03) & (motion.contacts[1:] > 0.5).all(1))
    stands = np.split(still, np.flatnonzero(np.diff(still) > 1) + 1)
    middle = [s for s in stands if len(s) > FPS and 0 < s[0] and s[-1] < motion.num_frames - 2]
    assert len(middle) == 2
    for frames in middle:
        assert_standing(motion, frames[FPS // 3 : -FPS // 3])  # the body settles in and gathers to step off
        ground = soles(motion)[frames[-1], ..., 2].mean(-1)
        assert ground.min() > 0.15  # on the stairs, not at their foot


def test_speed_changes_and_a_stop_along_the_path(flat):
    path = route(flat, (0, 0), (10, 0))
    plan = SpeedPlan((Cruise(0.0, 0.7), Cruise(3.0, 1.5), Stop(6.5, 1.5), Cruise(7.5, 0.9)), end_standing=1.0)
    motion = synthesize(flat, path, plan=plan)
    meets_floors(motion)
    x = motion.root_pos[:, 0] - path[0, 0]

    def mean_speed(a, b):
        inside = np.flatnonzero((x >= a) & (x <= b))
        return (x[inside[-1]] - x[inside[0]]) * FPS / (inside[-1] - inside[0])

    assert abs(mean_speed(0.5, 2.5) - 0.7) < 0.07
    assert abs(mean_speed(4.0, 5.5) - 1.5) < 0.15
    stand = np.flatnonzero((np.abs(x - 6.5) < 0.3) & (np.r_[root_speed(motion), 0.0] < 0.03))
    assert len(stand) >= 1.2 * FPS
    assert_standing(motion, stand[FPS // 3 : -FPS // 3])


def test_run_from_standing_to_standing(flat):
    path = route(flat, (0, 0), (10, 0))
    motion = synthesize(flat, path, plan=SpeedPlan.constant(3.2, start_standing=0.5, end_standing=1.0))
    meets_floors(motion)
    x = motion.root_pos[:, 0]
    assert (x[FPS:] - x[:-FPS]).max() > 2.8  # it runs
    assert_standing(motion, np.arange(motion.num_frames - FPS - 1, motion.num_frames))


def test_random_plans_are_seeded_and_follow_their_config():
    config = PlanConfig(start_standing=1.0, end_standing=1.0, turn_round=0.0, stops_per_metre=0.3)
    a = random_plan(12.0, "mixed", np.random.default_rng(3), config)
    assert a == random_plan(12.0, "mixed", np.random.default_rng(3), config)
    assert a != random_plan(12.0, "mixed", np.random.default_rng(4), config)
    assert a.start_standing >= 0.5 and a.end_standing >= 1.0 and a.start_heading is None
    stops = a.stops()
    assert stops and all(1.0 <= s.at <= 11.0 and 0.5 <= s.seconds <= 3.0 for s in stops)
    assert any(isinstance(r, Cruise) and r.speed >= 2.5 for r in a.steps)  # the mixed gait's run
    walk = random_plan(12.0, "walk", np.random.default_rng(3), PlanConfig(turn_round=1.0))
    assert all(0.6 <= r.speed <= 1.5 for r in walk.steps if isinstance(r, Cruise))
    assert walk.start_heading is not None


@pytest.mark.parametrize("kind", ["slope", "steps", "rough", "course"])
def test_random_plans_on_every_terrain_meet_the_floors(kind):
    terrain = make_terrain(kind, seed=11)
    path = plan_path(terrain)
    length = float(np.linalg.norm(np.diff(path, axis=0), axis=-1).sum())
    config = PlanConfig(start_standing=1.0, end_standing=1.0, stops_per_metre=0.15, turn_round=1.0)
    gait = "walk" if kind == "steps" else "mixed"
    motion = synthesize(terrain, path, plan=random_plan(length, gait, np.random.default_rng(11), config))
    metrics = meets_floors(motion)
    assert metrics["goal_dist_root_m"] < 0.3
    assert_standing(motion, np.arange(motion.num_frames - FPS - 1, motion.num_frames))


@pytest.mark.parametrize(
    "plan, words",
    [
        (lambda: SpeedPlan((Cruise(1.0, 1.0),)), "Cruise at arc length 0"),
        (lambda: SpeedPlan((Cruise(0.0, 1.0), (3.0, 1.0))), "holds Cruise and Stop records"),
        (lambda: SpeedPlan((Cruise(0.0, 9.0),)), "speed must be in"),
        (lambda: SpeedPlan((Cruise(0.0, 1.0), Stop(2.0, -1.0))), "seconds must be in"),
        (lambda: SpeedPlan.constant(1.0, end_standing=float("nan")), "end_standing"),
        (lambda: random_plan(10.0, "crawl", np.random.default_rng(0)), "gait must be walk, run or mixed"),
        (lambda: PlanConfig(stand_seconds=(3.0, 1.0)), "low <= high"),
    ],
)
def test_bad_plans_are_refused_in_one_line(plan, words):
    with pytest.raises(ValueError, match=words):
        plan()


def test_speed_and_plan_together_are_refused(flat):
    with pytest.raises(ValueError, match="either speed or plan"):
        synthesize(flat, route(flat, (0, 0), (3, 0)), speed=1.0, plan=SpeedPlan.constant(1.0))
