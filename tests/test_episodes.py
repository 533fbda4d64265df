"""Dataset building: seeded, parallel, resumable, with feature statistics."""

import numpy as np
import pytest

from motion_model.engine.episodes import data_config, episode_spec
from motion_model.learner.dataset import build_dataset, load_episodes, load_stats

VALUES = {
    "seed": 7,
    "episodes": 3,
    "terrains": {"stairs": 1.0, "rough": 1.0},
    "gaits": {"walk": 1.0, "run": 1.0},
    "run_kinds": ["rough"],
    "waypoint_paths": 0.5,
    "terrain_params": {"stairs": {"length": 8.0}, "rough": {"length": 8.0}},
}
CONFIG = data_config(VALUES)


def test_specs_depend_only_on_seed_and_index():
    assert episode_spec(CONFIG, 2) == episode_spec(data_config(dict(VALUES)), 2)
    assert episode_spec(CONFIG, 1) != episode_spec(CONFIG, 2)
    specs = [episode_spec(CONFIG, i) for i in range(40)]
    assert all(s["gait"] == "walk" for s in specs if s["kind"] == "stairs")  # run only on run_kinds
    assert {s["kind"] for s in specs} == {"stairs", "rough"}


@pytest.mark.slow
def test_build_is_resumable_and_reproducible(tmp_path):
    built, seconds = build_dataset(CONFIG, tmp_path, workers=2)
    assert built == 3 and seconds > 5.0
    files = sorted((tmp_path / "episodes").glob("*.npz"))
    first = files[1].read_bytes()
    files[1].unlink()
    built_again, _ = build_dataset(CONFIG, tmp_path, workers=1)
    assert built_again == 1 and files[1].read_bytes() == first
    episodes = load_episodes(tmp_path)
    assert len(episodes) == 3 and all(e.terrain is not None and e.path is not None for e in episodes)
    stats = load_stats(tmp_path)
    assert np.all(np.isfinite(stats.mean.numpy())) and np.all(stats.std.numpy() > 0)


def test_corner_paths_are_sharp_walkable_and_inside_the_corridor():
    from motion_model.engine.episodes import corner_path
    from terrain.generators import make_terrain
    from terrain.planning import traversable
    from terrain.polyline import Polyline

    terrain = make_terrain("stairs", seed=3)
    lo, hi = terrain.bounds()
    for seed in range(5):
        route = corner_path(terrain, np.random.default_rng(seed))
        assert route is not None and np.allclose(route[0], terrain.start) and 3 <= len(route) <= 5
        legs = np.diff(route, axis=0)
        turns = np.abs(np.angle(np.exp(1j * np.diff(np.arctan2(legs[:, 1], legs[:, 0])))))
        assert np.all(turns >= np.radians(30) - 1e-9)
        samples = Polyline(route).resample(0.1).points
        assert np.all((samples > lo) & (samples < hi)) and traversable(terrain, samples).all()


def test_planned_episodes_end_standing_on_their_route():
    from motion_model.engine.episodes import make_episode
    from motion_model.engine.speed_plan import PlanConfig

    plans = PlanConfig(end_standing=1.0, stops_per_metre=0.0)
    motion = make_episode("flat", "walk", 5, 9, terrain_params={"length": 8.0}, plans=plans, corners=True)
    last = motion.root_pos[-int(motion.fps) :, :2]
    assert np.linalg.norm(np.diff(last, axis=0), axis=-1).max() * motion.fps < 0.05  # standing for its last second
    assert np.linalg.norm(last[-1] - motion.path[-1]) < 0.1 and len(motion.path) >= 3


@pytest.mark.parametrize("kind", ["gaps", "ledges"])
def test_a_data_config_refuses_the_kinds_that_need_a_jump(kind):
    """The engine walks and runs: a dataset of gaps or ledges would fail episode by episode, so it is refused
    up front, naming the kinds it can make."""
    with pytest.raises(ValueError, match=rf"terrains: key must be one of flat, .*field, got '{kind}'"):
        data_config({"episodes": 2, "seed": 0, "terrains": {kind: 1.0}, "gaits": {"walk": 1.0}})
