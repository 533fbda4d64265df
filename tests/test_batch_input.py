"""Bad suites and run folders refused before any work (sim/evaluation/suite.py, batch.py): NaN and infinities, suites
that expand beyond MAX_EPISODES, unwritable --out folders, stray or damaged files in a run's episodes/; and
result records with non-finite numbers written as valid JSON."""

import json
import math
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cli_run import assert_one_line_error, run_cli

from sim.evaluation.batch import Failure, _finish, run_suite, write_result
from sim.evaluation.report import write_report
from sim.evaluation.suite import MAX_EPISODES, SuiteError, load_suite

TINY = Path("configs/bench/tiny.yaml")
ONE = {"name": "one", "method": "engine", "episodes": [{"kind": "flat", "seeds": [0], "goal_distance": 6.5}]}


def suite_file(folder, data):
    (folder / "suite.yaml").write_text(yaml.safe_dump(data))
    return folder / "suite.yaml"


@pytest.mark.parametrize(
    "text, message",
    [
        ("speeds: {walk: .inf}", "suite.yaml: speeds.walk is inf; give a finite number"),
        ("speeds: {run: -.inf}", "suite.yaml: speeds.run is -inf; give a finite number"),
        ("controller: {goal_radius: .nan}", "suite.yaml: controller.goal_radius is nan; give a finite number"),
        (
            "episodes: [{kind: flat, seeds: [0]}, {kind: stairs, seeds: [1], params: {step_height: .nan}}]",
            "suite.yaml, episodes entry 2: params.step_height is nan; give a finite number",
        ),
        ("episodes: [{kind: flat, seeds: [0], goal_distance: [8, .inf]}]", "episodes entry 1: goal_distance.1 is inf"),
    ],
)
def test_non_finite_numbers_are_refused_when_the_suite_is_loaded(tmp_path, text, message):
    data = {**yaml.safe_load(TINY.read_text()), **yaml.safe_load(text)}
    with pytest.raises(SuiteError) as error:
        load_suite(suite_file(tmp_path, data))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "entries, message",
    [
        ([{"kind": "flat", "seeds": {"start": 0, "count": 100_000_000}}], "seeds count 100000000 is more than"),
        (
            [{"kind": "flat", "seeds": {"start": 0, "count": 60_000}, "gait": ["walk", "run"]}],
            "episodes entry 1: its 120000 episodes",
        ),
    ],
)
def test_a_suite_is_bounded_before_it_is_expanded(tmp_path, entries, message):
    path = suite_file(tmp_path, {"method": "engine", "episodes": entries})
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SuiteError, match=f"{message}.*{MAX_EPISODES}.*split the suite"):
            load_suite(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 5.0 and peak < 20e6


def test_a_record_with_non_finite_numbers_is_written_as_json(tmp_path):
    suite = load_suite(TINY)
    episode = replace(suite.episodes[0], speed=math.inf)
    _, _, record = _finish(suite, 0, episode, Failure("ValueError: speed inf", "Traceback ..."), math.nan)
    record["metrics"] = {"penetration_mean_mm": math.nan, "drift": [1.0, -math.inf]}
    (tmp_path / "episodes").mkdir()
    write_result(tmp_path, episode, None, record)
    written = json.loads((tmp_path / "episodes" / f"{episode.id}.json").read_text())  # strict JSON: no NaN
    assert written["episode"]["speed"] is None and written["metrics"] == {
        "penetration_mean_mm": None,
        "drift": [1.0, None],
    }
    assert written["status"] == "error" and written["error"] == "ValueError: speed inf"


def test_stray_and_damaged_files_in_episodes(tmp_path, capsys):
    suite = load_suite(suite_file(tmp_path, ONE))
    run = tmp_path / "run"
    assert run_suite(suite, run, workers=1, progress=False)["written"] == 1
    (run / "episodes" / "notes.json").write_text("not json")
    (run / "episodes" / "other-episode.json").write_text("{}")
    counts = run_suite(suite, run, workers=1, progress=False)
    assert counts == {"episodes": 1, "done_before": 1, "written": 0, "errors": 0}
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("warning: ignoring 2 file(s)") and "notes.json, other-episode.json" in warning
    assert "\n" not in warning
    write_report(run)

    result = run / "episodes" / f"{suite.episodes[0].id}.json"
    for damage in ('{"id": ', "[1, 2]", json.dumps({**json.loads(result.read_text()), "id": "flat-other"})):
        result.write_text(damage)
        for action in (lambda: run_suite(suite, run, workers=1, progress=False), lambda: write_report(run)):
            with pytest.raises(SuiteError, match=f"{result} is not a result of this run: .*; delete it and rerun"):
                action()


def test_out_must_be_a_writable_folder(tmp_path):
    suite = load_suite(suite_file(tmp_path, ONE))
    a_file = tmp_path / "results.txt"
    a_file.write_text("keep me")
    with pytest.raises(ValueError, match="is a file: give a folder"):
        run_suite(suite, a_file, progress=False)
    assert a_file.read_text() == "keep me"
    with pytest.raises(ValueError, match="cannot be made: .* is a file"):
        run_suite(suite, a_file / "run", progress=False)
    if Path("/sys/kernel").is_dir():  # a read-only file system, even for root
        with pytest.raises(ValueError, match="/sys/kernel.* is not writable"):
            run_suite(suite, "/sys/kernel/run", progress=False)


def test_the_command_line_names_an_out_file(tmp_path):
    a_file = tmp_path / "results.txt"
    a_file.write_text("keep me")
    result = run_cli("batch", "--suite", suite_file(tmp_path, ONE), "--out", a_file, cwd=tmp_path)
    assert_one_line_error(result, str(a_file), "is a file")
    assert a_file.read_text() == "keep me"
