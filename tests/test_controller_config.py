"""Controller settings are checked when a config is built: types, ranges and choices, each refusal naming its
key; from YAML files (shipped ones found from any folder), from code, and through the CLI."""

import math
from dataclasses import replace

import numpy as np
import pytest
from cli_run import assert_one_line_error, run_cli

from controller.config import ControllerConfig
from controller.path_controller import PathController
from controller.seam import blend_seam
from motion_model.learner.ddim import CosineSchedule
from terrain.generators import make_terrain

BAD = [
    ({"speed": 100}, "speed"),  # a 9 m jump in a 2-s segment
    ({"speed": math.nan}, "speed"),
    ({"speed": 0.0}, "speed"),
    ({"foot_lock": "no"}, "foot_lock"),
    ({"goal_radius": -1}, "goal_radius"),
    ({"candidates": 0}, "candidates"),
    ({"ddim_steps": 0}, "ddim_steps"),
    ({"ddim_steps": 2.5}, "ddim_steps"),
    ({"max_retries": -1}, "max_retries"),
    ({"time_limit": 0}, "time_limit"),
    ({"stall_time": 0}, "stall_time"),
    ({"stall_distance": -0.5}, "stall_distance"),
    ({"seam_frames": -1}, "seam_frames"),
    ({"commit_frames": 0}, "commit_frames"),
    ({"precision": "fp16"}, "precision"),
    ({"guidance": {"speed": 2.0}}, "guidance"),
    ({"guidance": {"terrain": math.inf}}, "terrain"),
    ({"guidance": [1.5]}, "guidance"),
    ({"check": {"frame_stride": 0}}, "frame_stride"),
    ({"check": {"max_depth": -0.01}}, "max_depth"),
    ({"check": {"max_dept": 0.01}}, "max_dept"),
    ({"ddim_step": 3}, "ddim_step"),
]


@pytest.mark.parametrize("values, key", BAD, ids=[str(v) for v, _ in BAD])
def test_each_bad_setting_is_refused_naming_its_key(values, key):
    with pytest.raises(ValueError, match=key) as error:
        ControllerConfig.from_dict(values)
    assert "\n" not in str(error.value)
    # A config made in code is checked the same way before anything runs.
    if key in ControllerConfig.__dataclass_fields__:
        with pytest.raises(ValueError, match=key):
            replace(ControllerConfig(), **values).checked()


def test_documented_walk_and_run_speeds_and_guidance_are_accepted():
    for speed in (0.6, 1.5, 2.5, 3.8):
        assert ControllerConfig.from_dict({"speed": speed}).speed == speed
    config = ControllerConfig.from_dict(
        {"guidance": {"terrain": 1.5, "prev": 0}, "foot_lock": False, "check": {"max_depth": 0.01}}
    )
    assert config.guidance == {"terrain": 1.5, "prev": 0.0} and config.check.max_depth == 0.01
    assert ControllerConfig.from_dict(config.to_dict()) == config


def test_shipped_files_load_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ControllerConfig.load("configs/controller/default.yaml") == ControllerConfig()
    assert ControllerConfig.load("configs/controller/quality.yaml").candidates == 4


def test_a_bad_file_is_refused_naming_the_file_and_the_key(tmp_path):
    (tmp_path / "bad.yaml").write_text('speed: 1.2\nfoot_lock: "no"\n')
    with pytest.raises(ValueError, match=r"bad\.yaml.*foot_lock must be true or false"):
        ControllerConfig.load(tmp_path / "bad.yaml")
    (tmp_path / "broken.yaml").write_text("speed: [1.2\n")
    with pytest.raises(ValueError, match=r"broken\.yaml.*not valid YAML"):
        ControllerConfig.load(tmp_path / "broken.yaml")
    with pytest.raises(ValueError, match="does not exist"):
        ControllerConfig.load(tmp_path / "missing.yaml")


def test_the_controller_refuses_settings_out_of_range_or_beyond_its_model(model):
    flat = make_terrain("flat", seed=0)
    with pytest.raises(ValueError, match="speed"):
        PathController(model, flat, config=replace(ControllerConfig(), speed=100.0))
    short = replace(model, schedule=CosineSchedule(100))
    with pytest.raises(ValueError, match="ddim_steps must be at most the model's 100"):
        PathController(short, flat, config=replace(ControllerConfig(), ddim_steps=200))


def test_no_seam_frames_means_no_seam_blending(episodes):
    e = episodes[0]
    last = (e.root_pos[98:100], e.root_quat[98:100], e.joint_quat[98:100])
    cand = (e.root_pos[None, 130:160] + [0.0, 0.2, 0.0], e.root_quat[None, 130:160], e.joint_quat[None, 130:160])
    blended = blend_seam(*last, *cand, frames=0)
    assert all(np.array_equal(b, c) for b, c in zip(blended, cand))


def test_cli_refuses_a_bad_speed_and_a_bad_config_file(tmp_path):
    # Until the CLI's single error path lands, `generate` reports these through its own SystemExit.
    out = tmp_path / "walk.npz"
    result = run_cli("generate", "--terrain", "flat", "--speed", "100", "--out", out, cwd=tmp_path)
    assert_one_line_error(result, "--speed", "0.3..4")
    (tmp_path / "bad.yaml").write_text('foot_lock: "no"\n')
    result = run_cli("generate", "--terrain", "flat", "--config", "bad.yaml", "--out", out, cwd=tmp_path)
    assert_one_line_error(result, "bad.yaml", "foot_lock")
    assert not out.exists()
