"""The terrain-mdm command: every subcommand has help; the main jobs write real files."""
import json

import numpy as np
import pytest
import torch

from motion_model import checkpoint
from motion_model.motion import Motion
from motion_model.train_config import load_config
from sim.cli import build_parser, main
from terrain.heightfield import Heightfield

COMMANDS = ("terrain", "clip", "synth", "dataset", "eval", "preview", "generate", "demo", "view", "render",
            "export", "train", "batch", "report", "compare", "bench-speed")


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
    main(["terrain", "stairs", "step_height=0.2", "--seed", "3", "--out", str(tmp_path / "t.npz"),
          "--png", str(tmp_path / "t.png")])
    terrain = Heightfield.load(tmp_path / "t.npz")
    assert terrain.heights.max() > 0.35 and terrain.start is not None
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_terrain_parameter_names_it_and_its_range(tmp_path):
    with pytest.raises(SystemExit, match="step_height.*0.25"):
        main(["terrain", "stairs", "step_height=0.9", "--out", str(tmp_path / "t.npz")])


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
    from motion_model.features import NUM_FEATURES, Normalizer

    normalizer = Normalizer(np.zeros(NUM_FEATURES), np.ones(NUM_FEATURES))
    model_file = tmp_path / "tiny.pt"
    checkpoint.save(model_file, checkpoint.payload(config, normalizer, network.state_dict()))
    out = tmp_path / "walk.npz"
    main(["generate", "--terrain", "flat", "--seed", "1", "--model", str(model_file), "--time-limit", "2",
          "--out", str(out)])
    motion = Motion.load(out)
    assert motion.duration >= 1.9 and motion.terrain is not None and motion.path is not None
    text = capsys.readouterr().out
    assert "x real time" in text and "stopped: time_limit" in text
    assert torch.load(model_file, weights_only=True)["format"] == checkpoint.FORMAT
