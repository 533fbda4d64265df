"""Dataset building: seeded, parallel, resumable, with feature statistics."""
import numpy as np

from motion_model.dataset import load_episodes, load_stats
from motion_model.episodes import build_dataset, data_config, episode_spec

VALUES = {"seed": 7, "episodes": 3, "terrains": {"stairs": 1.0, "rough": 1.0}, "gaits": {"walk": 1.0, "run": 1.0},
          "run_kinds": ["rough"], "waypoint_paths": 0.5,
          "terrain_params": {"stairs": {"length": 8.0}, "rough": {"length": 8.0}}}
CONFIG = data_config(VALUES)


def test_specs_depend_only_on_seed_and_index():
    assert episode_spec(CONFIG, 2) == episode_spec(data_config(dict(VALUES)), 2)
    assert episode_spec(CONFIG, 1) != episode_spec(CONFIG, 2)
    specs = [episode_spec(CONFIG, i) for i in range(40)]
    assert all(s["gait"] == "walk" for s in specs if s["kind"] == "stairs")  # run only on run_kinds
    assert {s["kind"] for s in specs} == {"stairs", "rough"}


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
