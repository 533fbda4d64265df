"""The speed benchmark with the tiny test model (conftest.py) and small matrix products: every figure is there,
consistent, and written as JSON."""

import json

from motion_model.learner import checkpoint
from motion_model.learner.network import bf16_supported
from sim.cli import main


def test_bench_speed_prints_the_table_and_writes_json(model, tmp_path, capsys):
    model_file = tmp_path / "tiny.pt"
    checkpoint.save(model_file, checkpoint.payload(model.config, model.normalizer, model.network.state_dict()))
    out = tmp_path / "speed.json"
    assert (
        main(
            [
                "bench-speed",
                "--model",
                str(model_file),
                "--batches",
                "1",
                "2",
                "--steps",
                "2",
                "--threads",
                "1",
                "--matmul-fp32",
                "128",
                "--matmul-bf16",
                "64",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    precision = "bf16" if bf16_supported() else "fp32"  # the default controller's precision "auto"
    text = capsys.readouterr().out
    assert "ms/denoise step" in text and "matmul peaks (fp32" in text and f"network: ran in {precision}" in text
    report = json.loads(out.read_text())
    assert report["network"]["precision"] == precision and report["network"]["flops_per_row"] > 1e6
    assert report["machine"]["torch_threads"] == 1
    assert [r["batch"] for r in report["batches"]] == [1, 2]
    for row in report["batches"]:
        assert row["segments"] == 2 * row["batch"]
        assert row["rows_per_denoising_step"] >= row["batch"] * report["controller"]["candidates"]
        assert 0 < row["ms_per_denoising_step"] < row["ms_per_controller_step"]
        assert row["share_of_fp32_peak"] > 0 and row["share_of_bf16_peak"] > 0
        assert abs(row["realtime_x"] * row["ms_per_motion_second"] - 1000) < 1e-6
        assert row["engine_realtime_x"] > 1.0 and row["engine_realtime_x"] == report["batches"][0]["engine_realtime_x"]
    # the batch of 2 also ran dealt into worker processes (one character each on a 2-core machine)
    assert report["batches"][0]["processes_realtime_x"] is None and report["batches"][1]["processes_realtime_x"] > 0
    assert "x engine" in text and "synthesis engine's, measured in the same run" in text
