import csv
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from cli_run import assert_one_line_error, run_cli
from test_features import synthetic_episodes, write_synthetic_dataset

from motion_model.body.skeleton import Skeleton
from motion_model.learner import checkpoint
from motion_model.learner.dataset import WindowSampler, load_episodes
from motion_model.learner.train import learning_rate, load_config, losses, main, terrain_floor, train, training_inputs
from motion_model.learner.train_config import OptimConfig
from motion_model.learner.window import WindowConfig

TINY = "configs/train/tiny.yaml"
STEPS = 100


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data"))


def fixed_loss(model_path, config, dataset):
    """Weighted loss of a model on fixed windows, timesteps and noise (all conditions kept)."""
    loaded = checkpoint.load_model(model_path)
    sampler = WindowSampler(load_episodes(dataset), loaded.window, loaded.normalizer)
    batch = sampler.sample(64, np.random.default_rng(123))
    all_kept = replace(config, prev_noised=0.0, cond_drop=dict.fromkeys(config.cond_drop, 0.0))
    x_t, t, cond = training_inputs(batch, loaded.schedule, all_kept, torch.Generator().manual_seed(0))
    with torch.no_grad():
        parts = losses(loaded.network(x_t, t, cond), batch, loaded.normalizer, Skeleton.load(), loaded.window)
    return sum(getattr(config.loss, k) * v for k, v in parts.items()).item()


@pytest.mark.slow
def test_tiny_model_overfits_a_few_windows(tmp_path):
    dataset = tmp_path / "data"
    (dataset / "episodes").mkdir(parents=True)
    synthetic_episodes()[1].slice(0, 66).save(dataset / "episodes" / "ep.npz")  # 6 windows on the slope
    config = load_config(TINY, data=str(dataset), out=str(tmp_path / "run"), steps=1)
    config = replace(config, cond_drop=dict.fromkeys(config.cond_drop, 0.0), prev_noised=0.0)
    train(config, progress=False)
    before = fixed_loss(tmp_path / "run" / "model.pt", config, dataset)
    train(replace(config, optim=replace(config.optim, steps=STEPS)), progress=False, overwrite=True)
    after = fixed_loss(tmp_path / "run" / "model.pt", config, dataset)
    assert after < before / 10, (before, after)


def test_resume_after_interruption_equals_an_uninterrupted_run(dataset, tmp_path):
    config = replace(load_config(TINY, data=str(dataset), steps=12), checkpoint_every=4)
    train(replace(config, out=str(tmp_path / "whole")), progress=False)
    config = replace(config, out=str(tmp_path / "parts"))
    train(config, until=8, progress=False)  # stops right after the step-8 checkpoint, as a cut-off run would
    train(config, resume=True, progress=False)
    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    parts = torch.load(tmp_path / "parts" / "checkpoint.pt", weights_only=True)
    assert parts["train"]["step"] == whole["train"]["step"] == 12
    for key in ("model",):
        for name, value in whole[key].items():
            assert torch.equal(value, parts[key][name]), name
    for name, value in whole["train"]["weights"].items():
        assert torch.equal(value, parts["train"]["weights"][name]), name
    with open(tmp_path / "parts" / "log.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [8, 10, 12]  # 8: where the first part stopped


def test_command_line_writes_the_run_files(dataset, tmp_path):
    out = tmp_path / "cli"
    assert main(["--config", TINY, "--data", str(dataset), "--out", str(out), "--steps", "3"]) == 0
    for name in ("checkpoint.pt", "model.pt", "log.csv", "loss.png"):
        assert (out / name).exists(), name
    loaded = checkpoint.load_model(out / "model.pt")
    assert loaded.config.optim.steps == 3 and not loaded.network.training


def test_terrain_floor_is_the_lowest_surrounding_grid_height():
    window = WindowConfig(extent_x=(0.0, 1.0), extent_y=(0.0, 1.0), spacing=0.5)  # 3 x 3 grid
    grid = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.3, 0.3, 0.3]]])  # a 0.3 m step at x = 1
    xy = torch.tensor([[[0.2, 0.2], [0.75, 0.5], [1.0, 1.0], [1.5, 0.5]]])
    floor = terrain_floor(grid, xy, window)
    # Next to the riser the floor is the lower tread: a foot resting there is not flagged.
    assert floor[0, :3].tolist() == [0.0, 0.0, 0.0]
    assert floor[0, 3] == -math.inf  # outside the grid: no constraint


def test_learning_rate_warms_up_then_decays_to_the_minimum():
    optim = OptimConfig(lr=1e-3, min_lr=1e-4, warmup=10, steps=110)
    rates = [learning_rate(s, optim) for s in range(110)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:])) and rates[-1] == pytest.approx(1e-4, rel=1e-2)


def test_fewer_than_one_step_is_refused_before_anything_is_written(dataset, tmp_path):
    out = tmp_path / "run"
    for steps in ("0", "-5"):
        with pytest.raises(ValueError, match="--steps.*>= 1"):
            main(["--config", TINY, "--data", str(dataset), "--out", str(out), "--steps", steps])
    with pytest.raises(ValueError, match="--until.*>= 1"):
        main(["--config", TINY, "--data", str(dataset), "--out", str(out), "--until", "0"])
    assert not out.exists()


def test_a_folder_holding_a_run_is_kept_unless_resume_or_overwrite(dataset, tmp_path):
    out = tmp_path / "run"
    args = ["--config", TINY, "--data", str(dataset), "--out", str(out), "--steps", "2"]
    assert main(args) == 0
    files = {name: (out / name).read_bytes() for name in ("checkpoint.pt", "model.pt", "log.csv")}
    with pytest.raises(ValueError, match="already holds a run.*--resume.*--overwrite"):
        main(args)
    # --overwrite with data that cannot be read: refused before the old run is touched.
    with pytest.raises(OSError, match="no episodes"):
        main([*args, "--overwrite", "--data", str(tmp_path / "no-data")])
    with pytest.raises(ValueError, match="not both"):
        main([*args, "--overwrite", "--resume"])
    assert {name: (out / name).read_bytes() for name in files} == files
    assert main([*args, "--overwrite", "--steps", "1"]) == 0
    assert checkpoint.read(out / "checkpoint.pt")["train"]["step"] == 1
    with open(out / "log.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1]


def test_the_command_refuses_zero_steps_in_one_line(dataset, tmp_path):
    result = run_cli("train", "--config", TINY, "--data", dataset, "--out", tmp_path / "run", "--steps", "0")
    assert_one_line_error(result, "--steps")
    assert not (tmp_path / "run").exists()
