"""Speed of the motion diffusion model on this machine: one denoising pass and one 2-s segment, at batch 1 and
32, in fp32 and bf16 autocast; optionally one training step at the config's batch size.

    python -m sim.benchmarks.bench_model [--config configs/train/default.yaml] [--model PATH] [--steps 10] [--train]

Random weights unless --model is given (speed does not depend on the weights).
"""

import argparse
import time

import numpy as np
import torch

from motion_model.body.skeleton import Skeleton
from motion_model.learner import checkpoint
from motion_model.learner.condition import grid_shape, keep_mask
from motion_model.learner.ddim import sample
from motion_model.learner.features import NUM_FEATURES, Normalizer
from motion_model.learner.network import autocast, bf16_supported
from motion_model.learner.train import collision_points, losses, training_inputs
from motion_model.learner.train_config import load_config


def timed(fn, repeats, warmup=2):
    """Best-of-3 mean wall time of fn() in ms (the best run filters out other processes on shared cores)."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        runs.append((time.perf_counter() - start) / repeats * 1000)
    return min(runs)


def condition(network, window, batch):
    c = network.config
    return {
        "terrain": torch.randn(batch, *grid_shape(window)) * 0.2,
        "target": torch.randn(batch, c.target_dim),
        "prev": torch.randn(batch, c.n_prev, c.features),
        "prev_clean": torch.ones(batch, dtype=torch.bool),
        "keep": keep_mask(batch),
    }


def bench_sampling(network, window, schedule, steps, precision):
    segment_s = window.frames / window.fps
    for batch in (1, 32):
        cond = condition(network, window, batch)
        x, t = torch.randn(batch, window.frames, NUM_FEATURES), torch.full((batch,), 500)
        with torch.inference_mode(), autocast(precision):
            step_ms = timed(lambda x=x, t=t, cond=cond: network(x, t, cond), 20 if batch == 1 else 3)
            seeded = torch.Generator().manual_seed(0)
            segment_ms = timed(
                lambda c=cond, g=seeded: sample(network, c, schedule, steps, g), 3 if batch == 1 else 1, warmup=1
            )
        print(
            f"{precision:>4}  batch {batch:2d}: {step_ms:7.1f} ms/denoising step, {segment_ms:7.1f} ms per "
            f"{segment_s:g}-s segment ({steps} steps) = {batch * segment_s / segment_ms * 1000:6.1f} s of motion "
            f"per second"
        )


def bench_training(config, network, window, schedule, precision):
    batch_size = config.optim.batch_size
    normalizer = Normalizer(np.zeros(NUM_FEATURES), np.ones(NUM_FEATURES))
    skeleton = collision_points(Skeleton.load())
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-5)
    generator = torch.Generator().manual_seed(0)
    batch = {
        **{k: v for k, v in condition(network, window, batch_size).items() if k in ("terrain", "target")},
        "x0": torch.randn(batch_size, window.frames, NUM_FEATURES) * 0.1,
        "prev": torch.randn(batch_size, window.n_prev, NUM_FEATURES) * 0.1,
        "has_prev": torch.ones(batch_size, dtype=torch.bool),
    }
    network.train()

    def step():
        x_t, t, cond = training_inputs(batch, schedule, config, generator)
        with autocast(precision):
            pred = network(x_t, t, cond)
        loss = sum(getattr(config.loss, k) * v for k, v in losses(pred, batch, normalizer, skeleton, window).items())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    print(f"{precision:>4}  training step at batch {batch_size}: {timed(step, 2, warmup=1):.0f} ms")
    network.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/train/default.yaml")
    parser.add_argument("--model", help="a model checkpoint instead of random weights of --config")
    parser.add_argument("--steps", type=int, help="DDIM steps per segment (default: the config's sample_steps)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train", action="store_true", help="also time a training step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        loaded = checkpoint.load_model(args.model)
        network, window, schedule, config = loaded.network, loaded.window, loaded.schedule, loaded.config
    else:
        config = load_config(args.config)
        torch.manual_seed(0)
        network, window, schedule = checkpoint.build(config)
    network.eval()
    steps = args.steps or config.diffusion.sample_steps
    c = network.config
    print(
        f"d_model {c.d_model}, {c.n_layers} layers, {c.n_heads} heads, ff {c.d_ff}: "
        f"{sum(p.numel() for p in network.parameters()) / 1e6:.2f} M parameters, {network.num_tokens} tokens; "
        f"{args.threads} threads; native bf16: {bf16_supported()}"
    )
    for precision in ("fp32", "bf16"):
        bench_sampling(network, window, schedule, steps, precision)
        if args.train:
            bench_training(config, network, window, schedule, precision)


if __name__ == "__main__":
    main()
