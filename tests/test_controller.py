"""The path controller with a real (tiny, untrained) model on real terrain: mechanics, determinism,
batching, streaming, the collision check and foot locking. The `model` and `episodes` fixtures are in
conftest.py."""

from dataclasses import replace

import numpy as np
import pytest

from controller.collision import CheckConfig, score_candidates
from controller.foot_lock import FootLock
from controller.path_controller import ControllerConfig, PathController, lane_threads, run_batch
from controller.step import advance
from controller.stream import BufferedStream
from motion_model.body.skeleton import Skeleton
from terrain.generators import make_terrain
from terrain.heightfield import Heightfield
from terrain.polyline import Polyline

FAST = ControllerConfig(ddim_steps=2, commit_frames=30, candidates=2, max_retries=1, time_limit=3.0)


@pytest.fixture(scope="module")
def stairs():
    return make_terrain("stairs", seed=4)


def test_same_seed_same_motion_other_seed_differs(model, stairs):
    a = PathController(model, stairs, config=FAST, seed=1).run().motion
    b = PathController(model, stairs, config=FAST, seed=1).run().motion
    c = PathController(model, stairs, config=FAST, seed=2).run().motion
    assert np.array_equal(a.root_pos, b.root_pos) and np.array_equal(a.joint_quat, b.joint_quat)
    assert not np.allclose(a.root_pos[:30], c.root_pos[:30])


def test_runs_to_the_time_limit_and_reports_segments(model, stairs):
    result = PathController(model, stairs, config=FAST, seed=0).run()
    assert result.status == "time_limit"
    assert result.motion.duration >= FAST.time_limit - 1.0 / 30
    assert len(result.segments) == int(np.ceil(FAST.time_limit * 30 / FAST.commit_frames))
    for segment in result.segments:
        assert 1 <= segment["attempts"] <= FAST.max_retries + 1
        assert segment["seconds"] > 0 and segment["passed"] != segment["fallback"]
    assert result.motion.terrain is stairs and result.motion.goal is not None
    assert np.isfinite(result.motion.root_pos).all()


def test_batched_characters_match_their_single_runs(model, stairs):
    flat = make_terrain("flat", seed=0)
    single = [PathController(model, t, config=FAST, seed=s).run().motion for t, s in ((stairs, 3), (flat, 4))]
    batch = run_batch([PathController(model, t, config=FAST, seed=s) for t, s in ((stairs, 3), (flat, 4))])
    for one, together in zip(single, batch):
        assert np.allclose(one.root_pos, together.motion.root_pos, atol=1e-4)


def test_run_batch_refills_slots_and_lanes_match_one_lane(model, stairs):
    flat = make_terrain("flat", seed=0)
    config = replace(FAST, time_limit=2.0)
    terrains = [stairs, flat, stairs, flat, stairs]
    make = lambda: [PathController(model, t, config=config, seed=s) for s, t in enumerate(terrains)]  # noqa: E731
    one = run_batch(make(), batch=2, lanes=1)  # five characters through two slots
    with lane_threads(2):
        two = run_batch(make(), batch=4, lanes=2)
    for a, b in zip(one, two):
        assert a.status == b.status == "time_limit"
        assert np.allclose(a.motion.root_pos, b.motion.root_pos, atol=1e-4)


def test_a_batch_refuses_characters_that_differ_in_a_shared_setting(model, stairs):
    other = replace(FAST, candidates=1, ddim_steps=3, speed=1.5)
    controllers = [PathController(model, stairs, config=FAST, seed=0), PathController(model, stairs, config=other)]
    with pytest.raises(ValueError, match=r"share the controller settings ddim_steps, candidates \("):
        run_batch(controllers)
    with pytest.raises(ValueError, match="ddim_steps, candidates"):
        advance(controllers)
    assert not any(c.chunks for c in controllers)  # refused before anything ran
    copy = replace(model)  # an equal model, but another object: its network is not the one called
    with pytest.raises(ValueError, match="share one model"):
        run_batch([PathController(model, stairs, config=FAST), PathController(copy, stairs, config=FAST)])


def test_per_character_settings_mix_in_one_batch(model, stairs):
    flat = make_terrain("flat", seed=0)
    configs = [FAST, replace(FAST, speed=2.0, foot_lock=False, goal_radius=0.3, time_limit=2.0)]
    single = [
        PathController(model, t, config=c, seed=s).run() for t, c, s in ((stairs, configs[0], 3), (flat, configs[1], 4))
    ]
    batch = run_batch(
        [PathController(model, t, config=c, seed=s) for t, c, s in ((stairs, configs[0], 3), (flat, configs[1], 4))]
    )
    for one, together in zip(single, batch):
        assert one.motion.num_frames == together.motion.num_frames
        assert np.allclose(one.motion.joint_quat, together.motion.joint_quat, atol=1e-4)
    assert batch[1].motion.duration < batch[0].motion.duration


@pytest.fixture(scope="module")
def wall():
    """12 m x 6 m of flat ground with a 2 m wall across x = 4 m, open for y < -1.5 m."""
    heights = np.zeros((241, 121))
    heights[100:106, 30:] = 2.0
    return Heightfield(heights, 0.05, (-1.0, -3.0), start=(0.0, 0.0), goal=(8.0, 0.0))


def test_a_given_path_through_a_wall_is_refused_naming_where(model, wall):
    straight = np.stack([np.linspace(0.0, 8.0, 81), np.zeros(81)], -1)
    with pytest.raises(ValueError, match=r"route is blocked at \((3\.[5-9]|4\.[0-3])\d, 0\.00\)") as error:
        PathController(model, wall, path=straight)
    assert "plan around it" in str(error.value)
    # The last leg, from the path's end to the goal, counts as well.
    with pytest.raises(ValueError, match="route is blocked"):
        PathController(model, wall, path=straight[:30])
    with pytest.raises(ValueError, match="leaves the terrain"):
        PathController(model, wall, path=[[0.0, 0.0], [4.0, -4.0], [8.0, 0.0]])
    with pytest.raises(ValueError, match="two or more"):
        PathController(model, wall, path=[[0.0, 0.0]])
    # Around the wall: the planner's route, and the same route given by hand.
    planned = PathController(model, wall).path
    assert planned[:, 1].min() < -1.5
    assert np.array_equal(PathController(model, wall, path=planned).path, planned)


def test_stream_yields_what_run_commits(model, stairs):
    streamed = list(PathController(model, stairs, config=FAST, seed=5).stream())
    whole = PathController(model, stairs, config=FAST, seed=5).run().motion
    assert sum(s.num_frames for s in streamed) == whole.num_frames
    assert np.array_equal(np.concatenate([s.root_pos for s in streamed]), whole.root_pos)


def test_buffered_stream_delivers_every_frame_in_order(model, stairs):
    whole = PathController(model, stairs, config=FAST, seed=6).run().motion
    with BufferedStream(PathController(model, stairs, config=FAST, seed=6), buffer_seconds=1.0) as stream:
        frames = list(stream)
    assert len(frames) == whole.num_frames
    assert np.array_equal(np.stack([f.root_pos for f in frames]), whole.root_pos)
    assert stream.underruns >= 0 and stream.next_frame() is None


def test_commit_frames_must_cover_the_previous_frames(model, stairs):
    with pytest.raises(ValueError, match="commit_frames"):
        PathController(model, stairs, config=replace(FAST, commit_frames=5))


def test_default_yaml_matches_the_dataclass():
    assert ControllerConfig.load("configs/controller/default.yaml") == ControllerConfig()
    with pytest.raises(ValueError, match="unknown key ddim_step"):
        ControllerConfig.from_dict({"ddim_step": 3})


def test_collision_check_prefers_the_candidate_on_the_surface(episodes):
    episode = episodes[1]
    frames = slice(100, 130)
    good = (episode.root_pos[frames], episode.root_quat[frames], episode.joint_quat[frames], episode.contacts[frames])
    sunk = (good[0] - [0.0, 0.0, 0.08],) + good[1:]
    stacked = [np.stack([g, s])[None] for g, s in zip(good, sunk)]  # one character, two candidates
    scores = score_candidates([episode.terrain], [Polyline(episode.path).arc_length], *stacked, [None], CheckConfig())
    assert scores.passed[0, 0] and not scores.passed[0, 1]
    assert scores.foot_error[0, 1] > 0.07 and scores.cost[0, 1] > scores.cost[0, 0]
    assert scores.progress[0, 0] > 0.3  # 1 s of walking along the path
    # Sunk far enough for the shins to go in: the body check (feet excepted) sees it.
    deep = [stacked[0][:, :1] - [0.0, 0.0, 0.25]] + [x[:, :1] for x in stacked[1:]]
    scores = score_candidates([episode.terrain], [Polyline(episode.path).arc_length], *deep, [None], CheckConfig())
    assert scores.depth_max[0, 0] > 0.1 and not scores.passed[0, 0]


def test_foot_lock_holds_a_sliding_stance_foot_still(episodes):
    episode = episodes[0]
    frames = slice(60, 120)
    root_pos = episode.root_pos[frames].copy()
    root_pos[:, 0] += np.linspace(0.0, 0.1, len(root_pos))  # the whole body slides 1.7 mm a frame
    lock = FootLock(episode.terrain)
    joints = lock.apply(root_pos, episode.root_quat[frames], episode.joint_quat[frames], episode.contacts[frames])
    skeleton = Skeleton.load()
    soles = skeleton.sole_points(*skeleton.fk(root_pos, episode.root_quat[frames], joints)).mean(-2)
    stance = (episode.contacts[frames][1:] > 0.5) & (episode.contacts[frames][:-1] > 0.5)
    step = np.linalg.norm(np.diff(soles[..., :2], axis=0), axis=-1)
    # A foot already down on the first frame eases onto its foothold first, without a jump.
    assert step[: lock.blend][stance[: lock.blend]].max() < 0.01
    stance[: lock.blend] = False
    assert stance.sum() > 20 and step[stance].max() < 1e-3


def test_seam_blend_continues_the_committed_motion_and_fades_out(episodes):
    from controller.seam import blend_seam

    e = episodes[0]
    last = (e.root_pos[98:100], e.root_quat[98:100], e.joint_quat[98:100])
    # A candidate that starts 20 cm off and with other joint angles: a later stretch of the same walk.
    cand = (e.root_pos[None, 130:160] + [0.0, 0.2, 0.0], e.root_quat[None, 130:160], e.joint_quat[None, 130:160])
    root_pos, root_quat, joint_quat = blend_seam(*last, *cand, frames=8)
    assert np.allclose(root_pos[0, 0], 2 * last[0][1] - last[0][0])
    assert np.allclose(np.abs((joint_quat[0, 0] * last[2][1]).sum(-1)), 1.0, atol=1e-9)
    assert np.allclose(root_pos[0, 8:], cand[0][0, 8:]) and np.allclose(joint_quat[0, 8:], cand[2][0, 8:])
