"""`terrain-mdm bench-tracking --quick`: one route with the shipped model and the engine, its files."""

import json

from cli_run import run_cli


def test_quick_tracking_benchmark_runs_and_writes_its_files(tmp_path):
    result = run_cli("bench-tracking", "--quick", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "tracking.json").read_text())
    runs = {r["method"]: r for r in data["runs"]}
    assert set(runs) == {"model", "engine"} and data["settings"]["routes"] == ["corner90"]
    engine, model = runs["engine"], runs["model"]
    # Both walk the route and come to rest on its goal: the engine by its speed plan, the model by its command.
    assert engine["path_max_m"] < 0.1 and engine["goal_m"] < 0.1 and engine["last_speed"] < 0.05
    assert engine["length_m"] == 13.0 and abs(engine["nominal_s"] - 13.0 / 1.2) < 1e-9
    assert model["status"] == "goal" and model["goal_m"] < 0.3 and model["last_speed"] < 0.05
    assert 0 <= model["path_mean_m"] <= model["path_max_m"] and set(model["quality"]) == set(engine["quality"])
    # the dynamic metrics beside the kinematic ones: a walk needs little unsupported force and keeps a foot down
    for run in (engine, model):
        assert 0 < run["quality"]["residual_force_mean_bw"] < 0.05
        assert run["quality"]["no_foot_walk_frac"] <= 0.01
    table = (tmp_path / "tracking.md").read_text()
    assert table.count("| corner90 | flat | walk |") == 2 and "| corner90 | flat | walk |" in result.stdout
    assert (tmp_path / "tracking.png").read_bytes()[:4] == b"\x89PNG"
