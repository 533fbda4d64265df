"""Checkpoints are checked whole when loaded (motion_model/learner/checkpoint.py): a file with our format tag but
wrong shapes, missing entries or NaN weights is one ValueError naming it, before anything is built or sampled;
and training resumes only from a real training checkpoint (motion_model/learner/train.py): --resume where there is
nothing to resume, a damaged checkpoint and the temporary file of a run killed mid-write are all handled."""

import copy
import subprocess
import sys

import pytest
import torch
from cli_run import ROOT, assert_one_line_error, run_cli
from test_features import write_synthetic_dataset

from motion_model.learner import checkpoint
from motion_model.learner.train import main as train_main

TINY = "configs/train/tiny.yaml"


@pytest.fixture(scope="module")
def tiny(model):
    """The tiny test model (conftest.py) as a checkpoint dict."""
    return checkpoint.payload(model.config, model.normalizer, model.network.state_dict())


def first_weight(data):
    return next(iter(data["model"]))


def cut_first_weight(data):
    name = first_weight(data)
    data["model"][name] = data["model"][name][:-1]


def poison(data):
    data["model"][first_weight(data)].view(-1)[0] = float("nan")


def zero_std(data):
    data["normalizer"]["std"][5] = 0.0


@pytest.mark.parametrize(
    "damage, message",
    [
        (cut_first_weight, r"weight 'model\.\S+' has shape \(\d+, \d+\) where the network of its config has"),
        (lambda d: d.pop("normalizer"), "damaged model checkpoint: its normalizer has no mean of shape"),
        (lambda d: d["normalizer"].pop("std"), "its normalizer has no std of shape"),
        (zero_std, "normalizer's std holds NaN, infinite or zero values"),
        (poison, r"weight 'model\.\S+' holds NaN or infinite values"),
        (lambda d: d["model"].pop(first_weight(d)), r"do not fit the network of its config \(1 missing, 0 unknown"),
        (lambda d: d["model"].update(extra=torch.zeros(2)), r"\(0 missing, 1 unknown: it has extra"),
        (lambda d: d.pop("config"), "damaged model checkpoint: it has no training config"),
        (lambda d: d.update(model=[1, 2]), r"damaged model checkpoint: it has no weights \('model'\)"),
        (lambda d: d["config"]["model"].update(d_model=8), "where the network of its config has"),
    ],
)
def test_a_damaged_checkpoint_is_refused_naming_it(tiny, tmp_path, damage, message):
    data = copy.deepcopy(tiny)
    damage(data)
    path = tmp_path / "damaged.pt"
    checkpoint.save(path, data)
    with pytest.raises(ValueError, match=message) as error:
        checkpoint.load_model(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_the_intact_checkpoint_loads(tiny, tmp_path):
    checkpoint.save(tmp_path / "tiny.pt", tiny)
    assert checkpoint.load_model(tmp_path / "tiny.pt").config == checkpoint.checked_config("tiny.pt", tiny)


def test_generate_with_nan_weights_fails_before_generating_naming_the_checkpoint(tiny, tmp_path):
    data = copy.deepcopy(tiny)
    poison(data)
    checkpoint.save(tmp_path / "nan.pt", data)
    out = tmp_path / "walk.npz"
    result = run_cli("generate", "--terrain", "flat", "--model", tmp_path / "nan.pt", "--out", out, timeout=120)
    assert_one_line_error(result, str(tmp_path / "nan.pt"), "NaN")
    assert not out.exists()


# --------------------------------------------------------------------------------------------------------
# Resuming a training run


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data"))


def arguments(dataset, out, *more):
    return ["--config", TINY, "--data", str(dataset), "--out", str(out), "--steps", "2", *more]


# Training in a child process that dies (as under kill -9) while it writes its first checkpoint: half a file
# under the temporary name, and no Python clean-up after it.
DIES_WRITING = """
import os, sys, torch
from motion_model.learner import train

def dying_save(payload, file, *args, **kwargs):
    with open(file, "wb") as f:
        f.write(b"PK half a checkpoint")
    os._exit(137)

torch.save = dying_save
train.main(sys.argv[1:])
"""


def test_a_run_killed_in_its_first_checkpoint_write_is_not_resumed_and_leaves_no_temporary(dataset, tmp_path):
    out = tmp_path / "run"
    child = subprocess.run(
        [sys.executable, "-c", DIES_WRITING, *arguments(dataset, out)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=300,
    )
    assert child.returncode == 137, child.stderr[-2000:]
    names = sorted(f.name for f in out.iterdir())
    assert "checkpoint.pt" not in names and any(n.startswith(".checkpoint.pt.") for n in names), names
    with pytest.raises(ValueError, match="--resume: run folder .* has no checkpoint.pt .*holds log.csv.*--overwrite"):
        train_main(arguments(dataset, out, "--resume"))
    assert sorted(f.name for f in out.iterdir()) == names  # the refusal changes nothing
    assert train_main(arguments(dataset, out, "--overwrite")) == 0
    assert sorted(f.name for f in out.iterdir()) == ["checkpoint.pt", "log.csv", "loss.png", "model.pt"]


def test_resume_without_a_run_is_refused_in_one_line(dataset, tmp_path):
    result = run_cli("train", *arguments(dataset, tmp_path / "none", "--resume"))
    assert_one_line_error(result, "--resume", "no checkpoint.pt", "leave out --resume")
    assert not (tmp_path / "none").exists()


def test_a_damaged_training_checkpoint_is_named_on_resume(dataset, tmp_path):
    out = tmp_path / "run"
    assert train_main(arguments(dataset, out)) == 0
    good = checkpoint.read(out / "checkpoint.pt")
    cases = {
        "truncated": lambda: (out / "checkpoint.pt").write_bytes(bytes(100)),
        "weights only": lambda: checkpoint.save(out / "checkpoint.pt", {k: v for k, v in good.items() if k != "train"}),
        "optimizer": lambda: checkpoint.save(out / "checkpoint.pt", broken_optimizer(good)),
    }
    messages = {
        "truncated": "is not a terrain-mdm model checkpoint",
        "weights only": "holds no training state to resume from",
        "optimizer": "its optimizer state 'exp_avg' has shape",
    }
    for name, write in cases.items():
        write()
        with pytest.raises(ValueError, match=messages[name]) as error:
            train_main(arguments(dataset, out, "--resume", "--steps", "3"))
        assert str(out / "checkpoint.pt") in str(error.value), name
    checkpoint.save(out / "checkpoint.pt", good)
    other = tmp_path / "other.yaml"  # the same run resumed with another network is refused, naming the file
    other.write_text((ROOT / TINY).read_text().replace("d_model: 64", "d_model: 8"))
    with pytest.raises(ValueError, match=f"{out / 'checkpoint.pt'}: weight .* where the network of its config has"):
        train_main(["--config", str(other), *arguments(dataset, out, "--resume", "--steps", "3")[2:]])


def broken_optimizer(good):
    data = copy.deepcopy(good)
    state = data["train"]["optimizer"]["state"]
    first = next(iter(state))
    state[first]["exp_avg"] = state[first]["exp_avg"].reshape(-1)[:-1].clone()
    return data
