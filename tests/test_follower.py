"""The path follower (controller/follower.py) and hand-drawn routes (controller/waypoints.py), followed by an
ideal character that is always where the plan put it."""

import math
from dataclasses import replace

import numpy as np
import pytest
from cli_run import assert_one_line_error, run_cli

from controller.config import ControllerConfig
from controller.follower import FollowerConfig, PathFollower
from controller.waypoints import parse_waypoints
from motion_model.engine import Stop, speed_limit
from motion_model.learner.window import WindowConfig
from terrain.generators import make_terrain

FRAMES = (10, 20, 30, 40, 50, 60)
WINDOW = WindowConfig(fps=30.0, command_frames=FRAMES)  # the follower's: the model's window


@pytest.fixture(scope="module")
def flat():
    return make_terrain("flat", seed=0, length=20.0, width=10.0)


def follow(follower, steps, commit=30, xy=None, yaw=None):
    """Commands and plan states (s, speed) of `steps` steps of a character that moves exactly as planned."""
    xy = follower.line.points[0] if xy is None else np.asarray(xy, float)
    yaw = follower.state.yaw if yaw is None else yaw
    commands, states = [], []
    for _ in range(steps):
        commands.append(follower.command(xy, yaw))
        states += follower.plan[:commit]
        follower.advance(commit)
        xy, yaw = follower.line.point_at(follower.state.s), follower.state.yaw
    return commands, states


@pytest.mark.parametrize("cruise", [1.2, 3.0])
def test_the_command_slows_before_a_corner_and_comes_to_rest_on_the_goal(flat, cruise):
    path = [(1.0, 0.0), (9.0, 0.0), (9.0, 4.0)]
    follower = PathFollower(path, cruise, flat, FollowerConfig.of(ControllerConfig(speed=cruise), WINDOW))
    commands, states = follow(follower, 20)
    s = np.array([st.s for st in states])
    speed = np.array([st.speed for st in states])
    assert speed.max() == pytest.approx(cruise)
    at_corner = speed[np.abs(s - 8.0) < 0.05].max()
    assert at_corner < 0.75 * cruise
    # Slowing in time: at decel from the cruise speed, not at the corner itself.
    brake = (cruise**2 - at_corner**2) / (2 * ControllerConfig().decel)
    before = speed[(s > 8.0 - brake - 0.3) & (s < 8.0 - 0.1)]
    assert (np.diff(before) <= 1e-9).all() and before[0] > before[-1] + 0.2
    assert np.array([c.speed for c in commands[:3]]).min() > 0  # moving off
    # At the goal: speed 0 and a trajectory that stays on the goal, where the character is.
    last = commands[-1]
    assert last.speed == 0 and np.abs(last.positions).max() < 1e-6
    assert follower.goal_time is not None and s.max() == pytest.approx(12.0, abs=0.03)


def test_a_stop_commands_standing_then_going_on(flat):
    follower = PathFollower(
        [(1.0, 0.0), (15.0, 0.0)],
        1.2,
        flat,
        FollowerConfig.of(ControllerConfig(), WINDOW),
        stops=[Stop(at=6.0, seconds=4.0)],
    )
    commands, states = follow(follower, 30, commit=15)
    standing = [c for c in commands if c.speed == 0]
    assert standing, "no standing command"
    for command in standing[:-1]:  # the last may hold the goal
        assert np.abs(command.positions).max() < 1e-6 and np.allclose(command.facings, [1.0, 0.0])
    held = np.array([st.speed == 0 and abs(st.s - 6.0) < 0.03 for st in states])
    assert held.sum() / 30 == pytest.approx(4.0, abs=0.1)
    moving_after = [st.speed for st in states if st.s > 6.5]
    assert max(moving_after) > 1.0


def test_a_path_behind_is_first_turned_to_on_the_spot(flat):
    follower = PathFollower(
        [(10.0, 0.0), (4.0, 0.0)], 1.2, flat, FollowerConfig.of(ControllerConfig(), WINDOW), heading=0.0
    )
    first = follower.command(np.array([10.0, 0.0]), 0.0)
    assert np.abs(first.positions).max() < 1e-9 and first.speed == 0
    turned = np.unwrap(np.arctan2(first.facings[:, 1], first.facings[:, 0]))
    assert (np.abs(np.diff(turned)) > 0.1).all() and abs(turned[-1]) > 2.0  # turning round, 1.7 rad/s at most
    commands, states = follow(follower, 6, xy=(10.0, 0.0), yaw=0.0)
    assert max(st.speed for st in states) > 1.0 and states[-1].s > 1.0
    turning = next(i for i, st in enumerate(states) if st.speed > 0)
    assert abs(math.cos(states[turning].yaw) + 1) < 0.02  # facing the path before setting off


def test_a_sharp_corner_is_a_halt_and_a_turn_on_the_spot(flat):
    corner = [(1.0, -3.0), (10.0, -3.0), (10.0 - 5 * math.cos(math.pi / 4), -3.0 + 5 * math.sin(math.pi / 4))]
    follower = PathFollower(corner, 1.2, flat, FollowerConfig.of(ControllerConfig(), WINDOW))
    assert [round(h.at, 1) for h in follower.halts[:-1]] == [9.0]
    _, states = follow(follower, 20)
    at_corner = [st for st in states if st.s == follower.halts[0].at]
    yaws = np.unwrap([st.yaw for st in at_corner])
    assert all(st.speed == 0 for st in at_corner) and yaws.max() - yaws.min() > math.radians(120)


def test_the_projection_keeps_to_its_own_leg_of_a_u_turn(flat):
    follower = PathFollower(
        [(1.0, -0.5), (9.0, -0.5), (9.0, 0.5), (1.0, 0.5)], 1.2, flat, FollowerConfig.of(ControllerConfig(), WINDOW)
    )
    follow(follower, 4)  # about 4 m along the first leg
    s = follower.state.s
    follower.command(np.array([follower.line.point_at(s)[0], 0.05]), 0.0)  # drifted to nearer the other leg
    assert abs(follower.plan[0].s - s) < 0.6


def test_speed_limit_caps_corners_and_brakes_for_a_halt():
    s = np.linspace(0.0, 10.0, 201)
    cruise = np.full_like(s, 3.0)
    cruise[-1] = 0.0
    curvature = np.where(np.abs(s - 5.0) < 0.2, 3.0, 0.0)
    limit = speed_limit(s, cruise, curvature, 3.0, 1.5)
    assert limit[np.abs(s - 5.0) < 0.2].max() == pytest.approx(1.0)
    assert limit[-1] == 0 and limit[0] == 3.0
    assert np.all(limit[:-1] ** 2 <= limit[1:] ** 2 + 2 * 1.5 * np.diff(s) + 1e-9)


def test_bad_stops_are_refused(flat):
    for stop in (Stop(-1.0, 1.0), Stop(30.0, 1.0), Stop(3.0, math.inf)):
        with pytest.raises(ValueError, match="a stop must lie on the path"):
            PathFollower(
                [(1.0, 0.0), (9.0, 0.0)], 1.2, flat, FollowerConfig.of(ControllerConfig(), WINDOW), stops=[stop]
            )


def test_waypoints_are_parsed_and_bad_ones_refused():
    assert parse_waypoints(" 1,0  10,0\t10,-4.5 ").tolist() == [[1.0, 0.0], [10.0, 0.0], [10.0, -4.5]]
    for text, words in (
        ("1,0 x", "waypoint 2 'x'"),
        ("1,0 2;3", "waypoint 2"),
        ("1,0,2 3,4", "waypoint 1"),
        ("1,0 nan,3", "waypoint 2"),
        ("1,0", "at least two points"),
        ("", "got 0"),
        ("1,0 1,0 3,0", "repeats"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_waypoints(text)


def test_generate_refuses_waypoints_off_the_terrain_or_through_a_wall(tmp_path):
    result = run_cli("generate", "--terrain", "flat", "--waypoints", "1,0 30,0", "--out", tmp_path / "m.npz")
    assert_one_line_error(result, "leaves the terrain", "30.00")
    result = run_cli("generate", "--terrain", "flat", "--waypoints", "1,0", "--out", tmp_path / "m.npz")
    assert_one_line_error(result, "at least two points")
    # A 0.4 m box across the straight line (steps, seed 2).
    result = run_cli(
        "generate",
        "--terrain",
        "steps",
        "box_height=0.4",
        "num_features=8",
        "--seed",
        "2",
        "--waypoints",
        "0.75,0 11,0",
        "--out",
        tmp_path / "m.npz",
    )
    assert_one_line_error(result, "route is blocked at (2.00, 0.00)")
    assert not (tmp_path / "m.npz").exists()


def test_a_controller_walks_the_waypoints_from_the_given_heading(model, flat):
    from controller.path_controller import PathController

    config = replace(ControllerConfig(), ddim_steps=1, time_limit=1.0)
    points = parse_waypoints("1,0 6,0 6,3")
    controller = PathController(model, flat, path=points, goal=points[-1], config=config, heading=math.pi / 2)
    assert controller.start_yaw == math.pi / 2 and np.array_equal(controller.path, points)
    motion = controller.run().motion
    assert np.array_equal(motion.path, points) and np.array_equal(motion.goal, [6.0, 3.0])
    assert PathController(model, flat, path=points, goal=points[-1], config=config).start_yaw == 0.0
    with pytest.raises(ValueError, match="heading must be a finite angle"):
        PathController(model, flat, path=points, goal=points[-1], config=config, heading=math.nan)


def standing_frames(xy, n, drift=0.0):
    """n frames of a root at xy (moving `drift` m/s along +X) with the joints at rest."""
    from controller.frames import Frames

    root = np.zeros((n, 3))
    root[:, :2] = xy
    root[:, 0] += drift * np.arange(n) / 30
    root[:, 2] = 0.9
    rest = np.zeros((n, 12, 4))
    rest[..., 3] = 1.0
    return Frames(root, np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)), rest, np.ones((n, 2)))


def test_the_episode_ends_after_a_second_standing_on_the_goal(model, flat):
    from controller.path_controller import PathController

    points = np.array([[1.0, 0.0], [3.0, 0.0]])
    make = lambda: PathController(
        model,
        flat,
        path=points,
        goal=points[-1],  # noqa: E731
        config=replace(ControllerConfig(), stall_time=3.0),
    )
    controller = make()
    controller.condition()  # plans the command, as every step does before it commits
    controller.commit(standing_frames(points[-1], 45), {"seconds": 0.0})
    assert controller.status is None  # the plan has not brought it there yet
    controller = make()
    follow(controller.follower, 6)  # the plan rests on the goal
    controller.condition()  # plans the command, as every step does before it commits
    controller.commit(standing_frames(points[-1], 45), {"seconds": 0.0})
    assert controller.status == "goal" and controller.num_frames == 31  # the last 30 steps: one second still
    controller = make()
    follow(controller.follower, 3)
    arrived = controller.follower.goal_time
    statuses = []
    while controller.status is None:  # creeping at 0.1 m/s near the goal: never at rest
        controller.condition()
        controller.commit(standing_frames(points[-1] - [0.3, 0.0], 30, drift=0.1), {"seconds": 0.0})
        statuses.append(controller.status)
    assert statuses[-1] == "unsettled" and controller.follower.state.t - arrived == pytest.approx(3.0, abs=1.0)


def test_the_plans_interpolation_is_numpys_to_the_bit():
    """follower._interp stands in for np.interp on one float (for speed): the same value to the bit, repeated
    arc lengths, the ends and beyond them included."""
    from controller.follower import _interp

    rng = np.random.default_rng(0)
    for _ in range(20):
        xp = np.concatenate([[0.0], np.cumsum(rng.uniform(0.0, 0.06, 300))])
        xp[5:8] = xp[5]
        fp = rng.normal(size=len(xp)) * 10
        queries = np.concatenate([rng.uniform(-0.5, xp[-1] + 0.5, 500), xp[:20], xp[-1:]])
        for values in (fp, 2 * fp):
            got = np.array([_interp(x, xp.tolist(), values.tolist()) for x in queries.tolist()])
            assert np.array_equal(got, np.interp(queries, xp, values))
