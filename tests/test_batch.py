"""Batch runs of a suite (sim/evaluation/: suite.py, batch.py, report.py) with the tiny suite and the tiny test model
(conftest.py) saved as a checkpoint: worker-count independence, resume after SIGKILL, error recording, shards,
reports, comparison, the Ray backend, and clear errors for bad input."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from motion_model.learner import checkpoint
from sim.cli import main
from sim.evaluation.batch import run_suite
from sim.evaluation.dynamics import KEYS
from sim.evaluation.suite import load_suite

TINY = Path("configs/bench/tiny.yaml")
FAILING = "stairs-walk-6.5m-s4-9460fe"  # 12 risers of 0.5 m do not fit its corridor (see tiny.yaml)


@pytest.fixture(scope="module")
def suite_file(model, tmp_path_factory):
    """configs/bench/tiny.yaml with the tiny test model."""
    folder = tmp_path_factory.mktemp("suite")
    checkpoint.save(folder / "tiny.pt", checkpoint.payload(model.config, model.normalizer, model.network.state_dict()))
    data = yaml.safe_load(TINY.read_text())
    data["model"] = str(folder / "tiny.pt")
    (folder / "tiny.yaml").write_text(yaml.safe_dump(data))
    return folder / "tiny.yaml"


@pytest.fixture(scope="module")
def reference(suite_file, tmp_path_factory):
    """An uninterrupted run on one worker, through the command line (report included)."""
    out = tmp_path_factory.mktemp("runs") / "reference"
    assert main(["batch", "--suite", str(suite_file), "--out", str(out), "--workers", "1"]) == 0
    return out


def results(run):
    """{episode id: (record without timings, motion arrays)} of a run folder."""
    out = {}
    for file in sorted((Path(run) / "episodes").glob("[!.]*.json")):
        record = json.loads(file.read_text())
        record.pop("timings", None)
        motion = file.with_suffix(".npz")
        arrays = dict(np.load(motion)) if motion.exists() else None
        out[file.stem] = (record, arrays)
    return out


def assert_same_results(a, b):
    ra, rb = results(a), results(b)
    assert sorted(ra) == sorted(rb) and len(ra) == len(load_suite(TINY).episodes)
    for key, (record, arrays) in ra.items():
        assert rb[key][0] == record, key
        assert (arrays is None) == (rb[key][1] is None), key
        for name, value in (arrays or {}).items():
            assert np.array_equal(value, rb[key][1][name]), (key, name)


@pytest.mark.slow
def test_two_workers_give_the_results_of_one(reference, suite_file, tmp_path):
    run_suite(load_suite(suite_file), tmp_path / "two", workers=2, progress=False)
    assert_same_results(reference, tmp_path / "two")


def test_a_failing_episode_is_recorded_and_the_others_complete(reference):
    records = {k: r for k, (r, _) in results(reference).items()}
    failed = records.pop(FAILING)
    assert failed["status"] == "error" and not failed["success"]
    assert "num_steps" in failed["error"] and "Traceback" in failed["traceback"]
    assert not (reference / "episodes" / f"{FAILING}.npz").exists()
    # Every other episode, its batch-mate included, has a motion and metrics.
    assert all(r["status"] in ("goal", "time_limit", "stalled") for r in records.values())
    assert all((reference / "episodes" / f"{k}.npz").exists() for k in records)
    assert records["rough-walk-6.5m-s5"]["group"] == failed["group"]


def test_report_has_a_table_per_kind_csv_and_plots(reference):
    text = (reference / "report.md").read_text()
    for row in ("| flat |", "| stairs |", "| steps |", "| rough |", "| all |"):
        assert row in text
    assert "penetration mm" in text and "x real time" in text and FAILING in text
    lines = (reference / "summary.csv").read_text().splitlines()
    assert len(lines) == 1 + 6 and lines[0].startswith("id,kind,gait")
    for picture in ("metrics.png", "paths.png", "worst_1.png"):
        assert (reference / picture).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_results(reference, suite_file, tmp_path):
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "sim.cli",
        "batch",
        "--suite",
        str(suite_file),
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300  # generous: a busy machine can be slow to start the workers
        while not list((out / "episodes").glob("[!.]*.json")) and time.monotonic() < deadline:
            assert process.poll() is None, "the batch command ended before writing any episode"
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        done = len(list((out / "episodes").glob("[!.]*.json")))
        assert 0 < done < 6, f"{done} episodes done when killed"
        # Its worker goes down with it.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("a worker outlived the killed batch command")
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    counts = run_suite(load_suite(suite_file), out, workers=2, progress=False)
    assert counts["done_before"] == done and counts["written"] == 6 - done
    assert_same_results(reference, out)


@pytest.mark.slow
def test_shards_copied_together_equal_the_full_run(reference, suite_file, tmp_path):
    suite = load_suite(suite_file)
    merged = tmp_path / "merged"
    for i in range(2):
        run_suite(suite, tmp_path / f"shard{i}", workers=1, shard=(i, 2), progress=False)
        assert 0 < len(list((tmp_path / f"shard{i}" / "episodes").glob("*.json"))) < 6
        shutil.copytree(tmp_path / f"shard{i}", merged, dirs_exist_ok=True)
    assert_same_results(reference, merged)
    assert run_suite(suite, merged, progress=False)["written"] == 0  # nothing left to do


@pytest.mark.slow
def test_compare_puts_the_model_beside_the_engine(reference, suite_file, tmp_path):
    run_suite(load_suite(suite_file, method="engine"), tmp_path / "engine", workers=1, progress=False)
    engine = {k: r for k, (r, _) in results(tmp_path / "engine").items()}
    assert engine[FAILING]["status"] == "error"
    assert all(r["status"] == "goal" for k, r in engine.items() if k != FAILING)
    assert main(["compare", str(reference), str(tmp_path / "engine"), "--out", str(tmp_path / "cmp")]) == 0
    text = (tmp_path / "cmp" / "compare.md").read_text()
    assert "reference (model)" in text and "engine (engine)" in text and "| stairs | engine (engine) |" in text
    assert "## Dynamics" in text and "| stairs: engine (engine) |" in text and "| all: reference (model) |" in text
    assert (tmp_path / "cmp" / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "cmp" / "paths.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.ray
def test_ray_backend_gives_the_results_of_processes(reference, suite_file, tmp_path):
    pytest.importorskip("ray", reason="the Ray backend is optional: pip install 'terrain-mdm[ray]'")
    run_suite(load_suite(suite_file), tmp_path / "ray", workers=2, backend="ray", progress=False)
    assert_same_results(reference, tmp_path / "ray")


def test_ray_backend_without_ray_says_how_to_install_it(suite_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'terrain-mdm\[ray\]'"):
        run_suite(load_suite(suite_file), tmp_path / "run", backend="ray", progress=False)


def _suite(tmp_path, **changes):
    data = {**yaml.safe_load(TINY.read_text()), **changes}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(data))
    return str(tmp_path / "suite.yaml")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"batchsize": 4}, "unknown key 'batchsize'; suite keys are"),
        ({"method": "magic"}, "unknown method 'magic'; choose one of model, engine, blind"),
        ({"episodes": [{"kind": "lava", "seeds": [0]}]}, "episodes entry 1: unknown terrain kind 'lava'; kinds are"),
        ({"episodes": [{"kind": "flat", "seed": [0]}]}, "unknown key 'seed'; entry keys are"),
        ({"episodes": [{"kind": "flat", "seeds": [0], "goal_distance": 30}]}, r"goal_distance 30 .* \[6.5, 18.5\]"),
        ({"episodes": [{"kind": "stairs", "seeds": [0], "params": {"step_height": 0.9}}]}, "step_height.*0.25"),
        (
            {"episodes": [{"kind": "flat", "seeds": [0]}, {"kind": "flat", "seeds": [0, 1]}]},
            "flat-walk-10.5m-s0 is listed by entries 1 and 2",
        ),
        ({"controller": {"ddim_step": 3}}, "bad controller settings: .*unknown key ddim_step"),
    ],
)
def test_bad_suites_name_the_problem(tmp_path, changes, message, capsys):
    assert main(["batch", "--suite", _suite(tmp_path, **changes), "--out", str(tmp_path / "run")]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "run" / "episodes").exists() or not list((tmp_path / "run" / "episodes").iterdir())


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--suite", "configs/bench/nope.yaml"], "suite file configs/bench/nope.yaml does not exist"),
        (["--suite", str(TINY), "--shard", "2/2"], r"bad shard '2/2': expected i/n with 0 <= i < n"),
        (["--suite", str(TINY), "--shard", "first"], "bad shard 'first'"),
        (["--suite", str(TINY), "--address", "auto"], "add --backend ray"),
    ],
)
def test_bad_options_name_the_problem(tmp_path, arguments, message, capsys):
    assert main(["batch", "--out", str(tmp_path / "run")] + arguments) == 2
    assert re.search(message, capsys.readouterr().err)


def test_resuming_with_other_settings_is_refused(reference, tmp_path, capsys):
    data = yaml.safe_load((reference / "run.yaml").read_text())
    other = _suite(tmp_path, model=data["model"], batch_size=3)
    assert main(["batch", "--suite", other, "--out", str(reference)]) == 2
    assert re.search("differ in batch_size.*new --out folder", capsys.readouterr().err)
    assert main(["report", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_records_csv_and_report_carry_the_dynamic_metrics(reference):
    records = {k: r for k, (r, _) in results(reference).items() if r["status"] != "error"}
    always = ("residual_force_mean_bw", "residual_force_frac_0p1", "residual_moment_mean", "flight_count")
    for key, record in records.items():
        metrics = record["metrics"]
        assert set(KEYS) <= set(metrics), key
        assert all(np.isfinite(metrics[k]) for k in always), key
        assert all(metrics[k] is None or np.isfinite(metrics[k]) for k in KEYS), key
        if record["episode"]["kind"] == "flat":  # the ZMP is measured on flat ground
            assert np.isfinite(metrics["zmp_outside_mean_m"]) and metrics["zmp_outside_max_m"] >= 0, key
    rows = list(csv.DictReader((reference / "summary.csv").open()))
    assert set(KEYS) <= set(rows[0])
    for row in (r for r in rows if r["id"] in records):
        assert all(np.isfinite(float(row[k])) for k in always), row["id"]
    text = (reference / "report.md").read_text()
    dynamics = text[text.index("## Dynamics") :].split("\n## ")[0]
    for row in ("| flat |", "| stairs |", "| rough |", "| walk |", "| run |", "| all |"):
        assert row in dynamics
    assert "residual force bw" in dynamics and "flight accel error g" in dynamics
