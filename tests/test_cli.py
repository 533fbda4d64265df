"""The terrain-mdm command: every subcommand has help; the main jobs write real files."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_model.body.motion import Motion
from motion_model.learner import checkpoint
from motion_model.learner.train_config import load_config
from sim.cli import build_parser, main
from sim.cli.commands.terrain import terrain_spec
from terrain.heightfield import Heightfield

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    "terrain",
    "clip",
    "synth",
    "dataset",
    "eval",
    "preview",
    "generate",
    "demo",
    "simulate",
    "play",
    "view",
    "render",
    "export",
    "train",
    "batch",
    "report",
    "compare",
    "bench-speed",
    "bench-tracking",
    "bench-reaction",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_help_lists_every_subcommand():
    text = build_parser().format_help()
    assert all(command in text for command in COMMANDS)


def test_terrain_writes_the_terrain_and_its_picture(tmp_path):
    main(
        [
            "terrain",
            "stairs",
            "step_height=0.2",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "t.npz"),
            "--png",
            str(tmp_path / "t.png"),
        ]
    )
    terrain = Heightfield.load(tmp_path / "t.npz")
    assert terrain.heights.max() > 0.35 and terrain.start is not None
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_terrain_parameter_names_it_and_its_range(tmp_path, capsys):
    assert main(["terrain", "stairs", "step_height=0.9", "--out", str(tmp_path / "t.npz")]) == 2
    assert re.fullmatch(r"error: .*step_height.*0\.25.*\n", capsys.readouterr().err)
    assert not list(tmp_path.iterdir())


def test_synth_then_eval_as_json(tmp_path, capsys):
    out = tmp_path / "ep.npz"
    main(["synth", "--terrain", "steps", "--seed", "2", "--out", str(out)])
    capsys.readouterr()
    assert main(["eval", str(out), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["penetration_mean_mm"] < 3.0 and metrics["goal_dist_root_m"] < 0.3


def test_generate_with_a_checkpoint_file(tmp_path, capsys):
    config = load_config("configs/train/tiny.yaml")
    network, _, _ = checkpoint.build(config)
    from motion_model.learner.features import NUM_FEATURES, Normalizer

    normalizer = Normalizer(np.zeros(NUM_FEATURES), np.ones(NUM_FEATURES))
    model_file = tmp_path / "tiny.pt"
    checkpoint.save(model_file, checkpoint.payload(config, normalizer, network.state_dict()))
    out = tmp_path / "walk.npz"
    main(
        [
            "generate",
            "--terrain",
            "flat",
            "--seed",
            "1",
            "--model",
            str(model_file),
            "--time-limit",
            "2",
            "--out",
            str(out),
        ]
    )
    motion = Motion.load(out)
    assert motion.duration >= 1.9 and motion.terrain is not None and motion.path is not None
    text = capsys.readouterr().out
    assert "x real time" in text and "stopped: time_limit" in text
    assert torch.load(model_file, weights_only=True)["format"] == checkpoint.FORMAT


def test_the_seed_of_a_terrain_file_is_used_unless_seed_is_given(tmp_path, capsys):
    spec_file = tmp_path / "t.yaml"
    spec_file.write_text("kind: stairs\nseed: 7\nstep_height: 0.2\n")

    def heights(*args):
        assert main(["terrain", *map(str, args), "--out", str(tmp_path / "t.npz")]) == 0
        return Heightfield.load(tmp_path / "t.npz").heights

    from_file = heights(spec_file)
    assert np.array_equal(from_file, heights("stairs", "step_height=0.2", "--seed", 7))
    assert not np.array_equal(from_file, heights("stairs", "step_height=0.2"))
    assert np.array_equal(heights(spec_file, "--seed", 0), heights("stairs", "step_height=0.2", "--seed", 0))
    # generate and synth sample with the same seed as the terrain's
    assert terrain_spec(str(spec_file), ["step_height=0.25"]) == ("stairs", 7, {"step_height": 0.25})


def test_help_imports_none_of_the_heavy_libraries():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sim.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()}
    assert "usage: terrain-mdm" in result.stdout and "sim" in imported
    assert not imported & {"torch", "numpy", "pybullet", "matplotlib", "yaml"}
