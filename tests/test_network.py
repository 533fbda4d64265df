from dataclasses import replace

import numpy as np
import pytest
import torch

from motion_model.learner import checkpoint
from motion_model.learner.condition import CONDITIONS, column, keep_mask
from motion_model.learner.ddim import sample
from motion_model.learner.features import NUM_FEATURES, Normalizer
from motion_model.learner.network import autocast
from motion_model.learner.train_config import load_config

TINY = "configs/train/tiny.yaml"


def tiny(frames_per_token=2):
    config = load_config(TINY)
    config = replace(config, model=replace(config.model, frames_per_token=frames_per_token))
    torch.manual_seed(0)
    network, window, schedule = checkpoint.build(config)
    # Non-zero output weights: a fresh model predicts the mean for everything, which would hide masking bugs.
    torch.nn.init.normal_(network.head.weight, std=0.02)
    return config, network.eval(), window, schedule


def make_cond(network, batch, with_prev=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = network.config
    cond = {
        "terrain": torch.randn(batch, 71, 31, generator=g) * 0.2,
        "target": torch.randn(batch, c.target_dim, generator=g),
        "prev_clean": torch.ones(batch, dtype=torch.bool),
        "keep": keep_mask(batch, prev=with_prev),
    }
    if with_prev:
        cond["prev"] = torch.randn(batch, c.n_prev, c.features, generator=g)
    return cond


@pytest.mark.parametrize("frames_per_token", [1, 2])
@torch.no_grad()
def test_shapes_with_and_without_previous_frames(frames_per_token):
    _, network, _, _ = tiny(frames_per_token)
    assert network.num_tokens == 3 + 6 + (10 + 60) // frames_per_token
    x, t = torch.randn(4, 60, NUM_FEATURES), torch.tensor([0, 10, 500, 999])
    assert network(x, t, make_cond(network, 4)).shape == (4, 60, NUM_FEATURES)
    without = make_cond(network, 4, with_prev=False)
    assert network(x, t, without).shape == (4, 60, NUM_FEATURES)
    # No previous frames at all is the same as masked-out ones, whatever their values.
    masked = {**make_cond(network, 4), "keep": without["keep"]}
    assert torch.allclose(network(x, t, without), network(x, t, masked), atol=1e-6)


@pytest.mark.parametrize("with_prev", [True, False])
@torch.no_grad()
def test_a_block_computing_only_the_last_tokens_gives_those_tokens_of_the_full_block(with_prev):
    _, network, _, _ = tiny()
    block, n = network.blocks[0], network.num_tokens
    x = torch.randn(3, n, network.config.d_model, generator=torch.Generator().manual_seed(1))
    attend = None if with_prev else torch.rand(3, 1, 1, n, generator=torch.Generator().manual_seed(2)) > 0.3
    full = block(x, attend)
    last = block(x, attend, outputs=network.n_segment_tokens)
    assert last.shape == (3, network.n_segment_tokens, network.config.d_model)
    assert torch.allclose(last, full[:, -network.n_segment_tokens :], atol=1e-6)
    assert not torch.allclose(last, full[:, : network.n_segment_tokens], atol=1e-3)


@torch.no_grad()
def test_masked_conditions_are_ignored_and_samples_are_independent():
    _, network, _, _ = tiny()
    x, t = torch.randn(3, 60, NUM_FEATURES), torch.full((3,), 400)
    cond = make_cond(network, 3)
    cond["keep"] = torch.cat([keep_mask(1, **{name: False}) for name in ("terrain", "target", "prev")])
    out = network(x, t, cond)
    changed = {
        **cond,
        "terrain": cond["terrain"].clone(),
        "target": cond["target"].clone(),
        "prev": cond["prev"].clone(),
    }
    changed["terrain"][0] += 1.0
    changed["target"][1] += 1.0
    changed["prev"][2] += 1.0
    assert torch.allclose(network(x, t, changed), out, atol=1e-6)
    # Unmasked conditions matter, and only to their own sample.
    changed["terrain"][1] += 1.0
    again = network(x, t, changed)
    assert not torch.allclose(again[1], out[1], atol=1e-4)
    assert torch.allclose(again[[0, 2]], out[[0, 2]], atol=1e-6)
    # The noise indicator matters.
    flipped = {**cond, "prev_clean": torch.tensor([True, False, True])}
    assert not torch.allclose(network(x, t, flipped)[1], out[1], atol=1e-4)


@torch.no_grad()
def test_bf16_autocast_runs_close_to_fp32():
    _, network, _, _ = tiny()
    x, t, cond = torch.randn(2, 60, NUM_FEATURES), torch.full((2,), 300), make_cond(network, 2)
    reference = network(x, t, cond)
    with autocast("bf16"):
        low = network(x, t, cond).float()
    assert (low - reference).abs().max() < 0.05
    with pytest.raises(ValueError):
        autocast("fp16")


def test_checkpoint_round_trip_gives_identical_samples(tmp_path):
    config, network, _, schedule = tiny()
    normalizer = Normalizer(np.arange(NUM_FEATURES) * 0.1, np.linspace(0.5, 1.5, NUM_FEATURES))
    checkpoint.save(tmp_path / "m.pt", checkpoint.payload(config, normalizer, network.state_dict()))
    loaded = checkpoint.load_model(tmp_path / "m.pt")
    assert torch.equal(loaded.normalizer.mean, normalizer.mean) and loaded.config == config
    cond = make_cond(network, 2)
    a = sample(network, cond, schedule, 5, torch.Generator().manual_seed(7))
    b = sample(loaded.network, cond, loaded.schedule, 5, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_the_bf16_sampling_network_is_one_bf16_copy_sampling_close_to_autocast(tmp_path):
    config, network, _, schedule = tiny()
    normalizer = Normalizer(np.zeros(NUM_FEATURES), np.ones(NUM_FEATURES))
    checkpoint.save(tmp_path / "m.pt", checkpoint.payload(config, normalizer, network.state_dict()))
    loaded = checkpoint.load_model(tmp_path / "m.pt")
    assert loaded.sampling_network("fp32") is loaded.network
    low = loaded.sampling_network("bf16")
    assert low is loaded.sampling_network("bf16") and low is not loaded.network
    assert {p.dtype for p in low.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in loaded.network.parameters()} == {torch.float32}  # the model itself is unchanged
    cond, noise = make_cond(network, 2), torch.randn(2, 60, NUM_FEATURES)
    with torch.inference_mode(), autocast("bf16"):
        cast = sample(loaded.network, cond, schedule, 2, noise=noise)
        copied = sample(low, cond, schedule, 2, noise=noise)
    assert copied.dtype == torch.float32 and (copied - cast).abs().max() < 0.05


def test_foreign_files_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    for name in ("other.pt", "text.pt"):
        with pytest.raises(ValueError, match="not a terrain-mdm model checkpoint"):
            checkpoint.load_model(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        checkpoint.load_model("no-such-model")


def test_conditions_have_one_column_each_by_name():
    assert [column(name) for name in CONDITIONS] == list(range(len(CONDITIONS)))
    keep = keep_mask(2, target=torch.tensor([True, False]))
    assert keep[:, column("terrain")].all() and keep[:, column("target")].tolist() == [True, False]
    with pytest.raises(ValueError, match="unknown condition 'speed'"):
        column("speed")
    with pytest.raises(ValueError, match="unknown condition"):
        keep_mask(2, speed=False)
