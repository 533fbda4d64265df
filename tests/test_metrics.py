import json
import math
from dataclasses import replace

import numpy as np
import pytest

from motion_model.body import clips
from motion_model.body.motion import Motion
from sim.evaluation import metrics
from terrain.heightfield import Heightfield

NUMERIC = [k for k in metrics.METRIC_KEYS if not k.startswith("goal_")]


def flat(height=0.0):
    """Flat ground covering the looped walk (x 0..4.9 m, y 0..0.9 m) with a wide margin."""
    return Heightfield(np.full((101, 61), height), 0.1, (-2.0, -3.0))


def shifted(motion, dx=0.0, dz=0.0):
    return replace(motion, root_pos=motion.root_pos + np.array([dx, 0.0, dz]))


@pytest.fixture(scope="module")
def walk():
    return clips.loop(clips.load_clip("walk"), 4)


@pytest.fixture(scope="module")
def walk_metrics(walk):
    return metrics.evaluate(walk, terrain=flat())


def test_walk_on_flat_ground(walk, walk_metrics):
    r = walk_metrics
    assert r["frames"] == walk.num_frames and r["nan_frames"] == 0 and r["quat_norm_error"] < 1e-9
    assert r["duration_s"] == pytest.approx((walk.num_frames - 1) / 30.0)
    # The clip's soles touch z = 0 to within millimetres.
    assert r["penetration_max_mm"] < 20.0 and r["penetration_frac_30mm"] == 0.0
    assert 0.0 <= r["float_mean_mm"] < 20.0
    # About 1 mm/frame within a cycle; loop()'s seam blend slides the stance foot, which raises the mean.
    assert 0.5 < r["drift_label_mm"] < 4.0
    assert 0.5 < r["drift_auto_mm"] < 4.5
    assert r["sliding_ratio"] < 0.05
    # Late-swing feet pass low and fast, so even clean mocap scores about 0.3-0.4 (GMD's definition).
    assert 0.3 <= r["skate_ratio"] <= 0.42
    assert 0.3 <= r["skate_ratio_avg5"] <= r["skate_ratio"]
    assert 0.4 < r["contact_frac_label"] < 0.7
    assert r["distance_m"] == pytest.approx(4.97, abs=0.1) and r["speed_m_s"] == pytest.approx(0.98, abs=0.05)
    assert 50.0 < r["jerk_m_s3"] < 500.0
    assert r["off_terrain_frac"] == 0.0
    assert math.isnan(r["goal_dist_root_m"]) and math.isnan(r["goal_dist_foot_m"])


def test_sunk_motion_penetrates(walk, walk_metrics):
    r = metrics.evaluate(shifted(walk, dz=-0.05), terrain=flat())
    assert r["penetration_mean_mm"] == pytest.approx(50.0 - 7.5, abs=6.0)  # the lowest point sits ~7 mm up
    assert r["penetration_max_mm"] == pytest.approx(walk_metrics["penetration_max_mm"] + 50.0, abs=1.0)
    assert r["penetration_frac_10mm"] == 1.0 and r["penetration_frac_30mm"] > 0.97
    assert r["float_mean_mm"] < walk_metrics["float_mean_mm"]


def test_raised_motion_floats(walk, walk_metrics):
    r = metrics.evaluate(shifted(walk, dz=0.05), terrain=flat())
    assert r["float_mean_mm"] - walk_metrics["float_mean_mm"] == pytest.approx(50.0, abs=2.0)
    assert r["penetration_max_mm"] == 0.0
    # Nothing is within 5 cm any more in most frames, so neither contacts nor skating are found.
    assert r["skate_ratio"] < walk_metrics["skate_ratio"]


def test_measured_against_the_surface_not_z0(walk, walk_metrics):
    for dz in (0.0, -0.05):
        base = metrics.evaluate(shifted(walk, dz=dz), terrain=flat())
        raised = metrics.evaluate(shifted(walk, dz=dz + 0.5), terrain=flat(0.5))
        for key in NUMERIC:
            assert raised[key] == pytest.approx(base[key], abs=1e-6), key


def stretched(walk, factor):
    """The walk with its root x displacement scaled: stance feet are dragged at (factor - 1) x ~1 m/s."""
    root_pos = walk.root_pos.copy()
    root_pos[:, 0] = root_pos[0, 0] + factor * (root_pos[:, 0] - root_pos[0, 0])
    return replace(walk, root_pos=root_pos)


def test_dragged_feet_slide(walk, walk_metrics):
    slow = metrics.evaluate(stretched(walk, 1.3), terrain=flat())  # feet slide at ~0.3 m/s
    assert slow["drift_label_mm"] > walk_metrics["drift_label_mm"] + 3.0
    assert slow["drift_auto_mm"] > walk_metrics["drift_auto_mm"] + 3.0
    assert slow["sliding_ratio"] > walk_metrics["sliding_ratio"]
    assert slow["skate_ratio"] > walk_metrics["skate_ratio"] + 0.05
    assert slow["distance_m"] == pytest.approx(1.3 * walk_metrics["distance_m"], rel=0.02)
    fast = metrics.evaluate(stretched(walk, 1.6), terrain=flat())  # ~0.6 m/s, above the 0.5 m/s threshold
    assert fast["sliding_ratio"] > 0.5
    assert fast["drift_label_mm"] > slow["drift_label_mm"] and fast["drift_auto_mm"] > slow["drift_auto_mm"]
    assert fast["skate_ratio"] > 0.8


def test_constant_velocity_has_no_jerk(walk):
    t = np.arange(40)
    motion = Motion(
        30.0,
        walk.root_pos[0] + np.outer(t / 30.0, [1.2, 0.3, 0.0]),
        np.repeat(walk.root_quat[:1], 40, 0),
        np.repeat(walk.joint_quat[:1], 40, 0),
        np.ones((40, 2)),
    )
    r = metrics.evaluate(motion, terrain=flat())
    assert r["jerk_m_s3"] < 1e-6
    assert r["distance_m"] == pytest.approx(np.hypot(1.2, 0.3) * 39 / 30.0)
    # A pose carried along at 1.24 m/s with both feet labelled down slides all the time.
    assert r["sliding_ratio"] == 1.0


def test_goal_distances(walk):
    goal = walk.root_pos[-1, :2] + [1.0, 0.0]
    r = metrics.evaluate(walk, terrain=flat(), goal=goal)
    assert r["goal_dist_root_m"] == pytest.approx(1.0)
    assert 0.5 < r["goal_dist_foot_m"] < 1.3
    own = metrics.evaluate(replace(walk, goal=goal), terrain=flat())
    assert own["goal_dist_root_m"] == pytest.approx(1.0)


def test_terrain_is_required_unless_flat_ground(walk, walk_metrics):
    with pytest.raises(ValueError, match="flat_ground"):
        metrics.evaluate(walk)
    r = metrics.evaluate(walk, flat_ground=True)
    assert r["terrain"] == "flat z=0"
    for key in NUMERIC:
        assert r[key] == pytest.approx(walk_metrics[key], abs=1e-6), key
    own = metrics.evaluate(replace(walk, terrain=flat()))
    assert own["terrain"] == "motion" and own["penetration_mean_mm"] == walk_metrics["penetration_mean_mm"]


def nan_motion(walk):
    motion = replace(walk)
    motion.root_pos = walk.root_pos.copy()
    motion.root_pos[10, 2] = np.nan  # after construction: Motion itself rejects NaN
    return motion


def test_nan_is_reported(walk):
    r = metrics.evaluate(nan_motion(walk), terrain=flat())
    assert r["nan_frames"] == 1 and r["frames"] == walk.num_frames
    assert all(math.isnan(r[key]) for key in metrics.METRIC_KEYS)
    assert "-" in metrics.format_table([r])


def test_files_match_evaluate_and_cli(walk, tmp_path, capsys):
    run = clips.loop(clips.load_clip("run"), 2)
    run = replace(run, root_pos=run.root_pos + [0.0, 0.0, 0.3], terrain=flat(0.3), goal=np.array([3.0, 0.0]))
    paths = [tmp_path / "walk.npz", tmp_path / "run.npz", tmp_path / "nan.npz"]
    motions = [replace(walk, terrain=flat()), run, nan_motion(replace(walk, terrain=flat()))]
    for motion, path in zip(motions, paths):
        motion.save(path)
    results = metrics.evaluate_files(paths)
    for motion, path, result in zip(motions, paths, results):
        assert result.pop("file") == str(path)
        expected = metrics.evaluate(motion)
        assert result.keys() == expected.keys()
        for key, value in expected.items():
            assert result[key] == pytest.approx(value, nan_ok=True), key
    assert results[2]["nan_frames"] == 1

    assert metrics.main_eval([str(p) for p in paths], as_json=True) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(p) for p in paths]
    assert lines[2]["penetration_mean_mm"] is None and lines[1]["goal_dist_root_m"] > 0

    assert metrics.main_eval([str(p) for p in paths]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 + 3 + 1 and table[-1].startswith("mean") and "drift lbl" in table[0]

    bad = tmp_path / "bad.npz"
    bad.write_text("not a motion")
    with pytest.raises(ValueError, match="bad.npz is not a motion file"):
        metrics.main_eval([str(bad)])
