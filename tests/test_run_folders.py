"""Batch runs, reports and other multi-file outputs leave no half-done state (sim/evaluation/: batch.py, report.py,
compare.py; motion_model/engine/episodes.py, sim/cli/commands/demo.py, sim/play/scripted.py), and suites and run
folders are checked before anything runs (sim/evaluation/suite.py): a bad model, speeds out of range, seeds beyond
MAX_SEED, speeds or params of the wrong type and a damaged run.yaml are refused in one line."""

import hashlib
import sys

import pytest
import yaml
from cli_run import assert_one_line_error, run_cli

from configs.typed import to_dict
from motion_model.engine.episodes import data_config
from motion_model.learner import checkpoint
from motion_model.learner.dataset import build_dataset
from sim.evaluation.batch import load_run, run_suite
from sim.evaluation.compare import compare_runs
from sim.evaluation.report import write_report
from sim.evaluation.suite import SuiteError, load_suite, parse_suite
from sim.play.scripted import check_outputs
from terrain.numbers import MAX_SEED

FLAT = {"kind": "flat", "seeds": [0], "goal_distance": 6.5}
TINY_CONTROLLER = {"ddim_steps": 2, "commit_frames": 30, "candidates": 1, "max_retries": 0, "time_limit": 2.0}


def suite_file(folder, **data):
    (folder / "suite.yaml").write_text(yaml.safe_dump({"method": "engine", "episodes": [FLAT], **data}))
    return folder / "suite.yaml"


def digests(folder):
    return {f.name: hashlib.sha1(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir()) if f.is_file()}


@pytest.fixture(scope="module")
def engine_run(tmp_path_factory):
    """A finished run of the engine on two flat episodes, report included."""
    folder = tmp_path_factory.mktemp("engine")
    episodes = [{**FLAT, "seeds": [0, 1]}, {**FLAT, "kind": "steps", "seeds": [2]}]
    run_suite(load_suite(suite_file(folder, episodes=episodes)), folder / "run", workers=1, progress=False)
    write_report(folder / "run")
    return folder / "run"


# --------------------------------------------------------------------------------------------------------
# Refused before anything is made


def test_a_batch_refused_for_its_model_leaves_nothing_and_the_corrected_run_goes_on(model, tmp_path):
    out = tmp_path / "run"
    bad = suite_file(tmp_path, method="model", model=str(tmp_path / "no-such.pt"), controller=TINY_CONTROLLER)
    assert_one_line_error(run_cli("batch", "--suite", bad, "--out", out), "no model checkpoint", "no-such.pt")
    assert not out.exists()
    weights = model.network.state_dict()
    checkpoint.save(tmp_path / "tiny.pt", checkpoint.payload(model.config, model.normalizer, weights))
    for controller, message in (
        ({"commit_frames": 5}, "commit_frames must be between"),
        ({"time_limit": 3600}, "time_limit 3600 s makes up to"),
    ):
        misfit = suite_file(tmp_path, method="model", model=str(tmp_path / "tiny.pt"), controller=controller)
        with pytest.raises(SuiteError, match=f"controller settings do not fit model .*{message}"):
            run_suite(load_suite(misfit), out, progress=False)
        assert not out.exists()
    good = suite_file(tmp_path, method="model", model=str(tmp_path / "tiny.pt"), controller=TINY_CONTROLLER)
    assert run_suite(load_suite(good), out, workers=1, progress=False)["written"] == 1


def test_the_ray_backend_without_ray_is_refused_before_the_folder_is_made(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ImportError, match="the Ray backend needs ray"):
        run_suite(load_suite(suite_file(tmp_path)), tmp_path / "run", backend="ray", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"speeds": {"walk": 50}}, ["speeds.walk is 50 m/s", "0.3..4"]),
        ({"speeds": {"run": 0.1}, "method": "model"}, ["speeds.run is 0.1 m/s"]),
        ({"speeds": [1, 2]}, ["speeds must be a mapping", "got a list"]),
        ({"episodes": [{**FLAT, "params": [1, 2]}]}, ["episodes entry 1: params must be a mapping", "got a list"]),
        ({"episodes": [{**FLAT, "seeds": [MAX_SEED + 1]}]}, ["seeds must lie in 0..4294967295"]),
        ({"episodes": [{**FLAT, "seeds": {"start": MAX_SEED, "count": 2}}]}, ["seeds must lie in 0..4294967295"]),
        ({"episodes": [{"kind": "flat", "seeds": [0], "params": {"length": "long"}}]}, ["params.length must be a"]),
    ],
)
def test_suites_that_would_fail_every_episode_are_refused_before_anything_runs(tmp_path, changes, words):
    with pytest.raises(SuiteError) as error:
        load_suite(suite_file(tmp_path, **changes))
    assert all(word in str(error.value) for word in ["suite.yaml", *words]), str(error.value)


def test_the_command_line_refuses_a_suite_speed_out_of_range_in_one_line(tmp_path):
    result = run_cli("batch", "--suite", suite_file(tmp_path, speeds={"walk": 50}), "--out", tmp_path / "run")
    assert_one_line_error(result, "suite.yaml", "speeds.walk is 50 m/s")
    assert not (tmp_path / "run").exists()


def test_odd_values_anywhere_in_a_suite_are_suite_errors():
    base = {"method": "engine", "episodes": [FLAT]}
    for value in [None, [], [1, 2], {}, {"a": 1}, "x", -1, 1.5, True, 10**30, [[1]], {"start": 0}, {1: 2}]:
        variants = [{**base, key: value} for key in ("name", "model", "controller", "batch_size", "speeds")]
        variants += [{**base, "episodes": [{**FLAT, key: value}]} for key in ("kind", "params", "seeds", "gait")]
        variants += [{**base, "speeds": {"walk": value}}, {**base, "episodes": value}]
        for data in variants:
            try:
                parse_suite(data)
            except SuiteError:
                pass  # anything else (TypeError, AttributeError) fails the test


# --------------------------------------------------------------------------------------------------------
# A damaged run folder


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda text: "[1, 2]\n", ["must be a mapping of exactly name, method"]),
        (lambda text: text.replace("seed: 0", "seed: zero"), ["episode 1's seed is not a whole number"]),
        (lambda text: text.split("episodes:")[0], ["must be a mapping of exactly"]),
        (lambda text: text.replace("ddim_steps: 2", "ddim_steps: -4"), ["ddim_steps must be in"]),
        (lambda text: text.replace("gait: walk", "gait: hop"), ["episode 1 has no gait"]),
    ],
)
def test_a_damaged_run_yaml_is_named_by_batch_and_report(engine_run, tmp_path, damage, words):
    run = tmp_path / "run"
    (run / "episodes").mkdir(parents=True)
    (run / "run.yaml").write_text(damage((engine_run / "run.yaml").read_text()))
    message = f"{run / 'run.yaml'} is damaged: .*{words[0]}.*new --out folder"
    with pytest.raises(SuiteError, match=message):
        write_report(run)
    with pytest.raises(SuiteError, match=message):
        run_suite(load_run(engine_run), run, progress=False)


def test_the_command_line_names_a_damaged_run_yaml_in_one_line(engine_run, tmp_path):
    run = tmp_path / "run"
    (run / "episodes").mkdir(parents=True)
    (run / "run.yaml").write_text("[1, 2]\n")
    suite = suite_file(tmp_path, episodes=[FLAT])
    for result in (run_cli("batch", "--suite", suite, "--out", run), run_cli("report", run)):
        assert_one_line_error(result, str(run / "run.yaml"), "is damaged")


def test_a_missing_or_damaged_motion_leaves_the_old_report_whole(engine_run, tmp_path):
    before = digests(engine_run)
    motion = next((engine_run / "episodes").glob("flat-*.npz"))
    kept = motion.read_bytes()
    try:
        motion.unlink()
        assert_one_line_error(run_cli("report", engine_run), str(motion), "is missing", "nothing was written")
        assert digests(engine_run) == before
        motion.write_bytes(kept[: len(kept) // 3])
        with pytest.raises(ValueError, match=f"{motion} is not a motion file.*delete that record"):
            write_report(engine_run)
        assert digests(engine_run) == before
        with pytest.raises(ValueError, match="nothing was written"):
            compare_runs(engine_run, engine_run, tmp_path / "cmp")
        assert not (tmp_path / "cmp").exists()
    finally:
        motion.write_bytes(kept)
    write_report(engine_run)
    assert sorted(digests(engine_run)) == sorted(before)
    assert not [f for f in engine_run.iterdir() if f.name.startswith(".")]


# --------------------------------------------------------------------------------------------------------
# Other commands that write several files


def test_a_dataset_folder_of_other_settings_is_refused(tmp_path):
    values = {"seed": 7, "episodes": 2, "terrains": {"flat": 1.0}, "gaits": {"walk": 1.0}}
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump(to_dict(data_config({**values, "seed": 8}))))
    with pytest.raises(ValueError, match="holds episodes made with other settings .*differ in seed"):
        build_dataset(data_config(values), tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["dataset.yaml"]


def test_several_characters_names_are_checked_before_a_session(tmp_path):
    near = tmp_path / ("m" * 249 + ".npz")  # 253 bytes: fine alone, OUT_10.npz would be 256
    check_outputs(near, None, characters=1)
    check_outputs(near, None, characters=10)  # OUT_0 .. OUT_9: 255 bytes
    with pytest.raises(ValueError, match="is 256 bytes, more than the 255"):
        check_outputs(near, None, characters=11)


def test_a_demo_refused_for_its_model_leaves_no_folder(tmp_path):
    out = tmp_path / "demo"
    assert_one_line_error(run_cli("demo", "--model", tmp_path / "no-such.pt", "--out", out), "no model checkpoint")
    assert not out.exists()


def test_benchmarks_refuse_their_outputs_before_they_run(tmp_path):
    (tmp_path / "a_file").write_text("")
    result = run_cli("bench-speed", "--out", tmp_path / "a_file" / "speed.json", timeout=60)
    assert_one_line_error(result, "a_file", "is a file")
    result = run_cli("bench-tracking", "--out", tmp_path / "a_file" / "tracking", timeout=60)
    assert_one_line_error(result, "a_file", "is a file")
