"""Training of the motion diffusion model; reads top to bottom.

`terrain-mdm train --config configs/train/default.yaml [--data DIR] [--out DIR] [--steps N]
[--resume | --overwrite]`

Every step draws its windows, timesteps, noise and condition drops from generators seeded with (seed, step),
so a run resumed from a checkpoint continues exactly as if it had not stopped. The run directory gets
checkpoint.pt (weights, EMA, optimizer: for --resume), model.pt (EMA weights only: for load_model),
log.csv and loss.png; both checkpoints are replaced atomically every `checkpoint_every` steps.
"""

import argparse
import copy
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from motion_model.body.skeleton import FEET, SOLE_GRID, Skeleton
from motion_model.learner import checkpoint
from motion_model.learner.condition import CONDITIONS, column
from motion_model.learner.dataset import WindowSampler, load_episodes, load_stats, write_stats
from motion_model.learner.ddim import CosineSchedule
from motion_model.learner.features import LAYOUT, Normalizer, features_to_motion
from motion_model.learner.network import autocast
from motion_model.learner.train_config import LOSS_TERMS, OptimConfig, TrainConfig, load_config
from motion_model.learner.train_log import append_log, plot_log, start_log
from motion_model.learner.window import WindowConfig
from motion_model.runtime import threads
from terrain.atomic import stale_temporaries

RUN_FILES = ("checkpoint.pt", "model.pt", "log.csv")  # a folder holding any of them holds a run


# --------------------------------------------------------------------------------------------------------
# Losses, in physical units


def reference_fk(features, skeleton):
    """Link positions (B, T, 15, 3) m and rotations (B, T, 15, 4) of (unstandardised) features, in the
    reference frame (its origin on the ground under the reference root)."""
    b = features.shape[0]
    root_pos, root_quat, joint_quat, _ = features_to_motion(
        features, features.new_zeros(b, 2), features.new_zeros(b), features.new_zeros(b)
    )
    return skeleton.fk(root_pos, root_quat, joint_quat)


def terrain_floor(grid, xy, window):
    """Lowest of the 4 local-grid heights around each point xy (B, ..., 2) in the reference frame, m.

    The minimum, not an interpolation: bilinear interpolation of a 0.1 m grid rounds stair edges into ramps
    that the (correct) data would cut; the minimum never flags a foot resting next to a riser. Points
    outside the grid get -inf (no constraint).
    """
    b, nx, ny = grid.shape
    fx = (xy[..., 0] - window.extent_x[0]) / window.spacing
    fy = (xy[..., 1] - window.extent_y[0]) / window.spacing
    inside = (fx >= 0) & (fx <= nx - 1) & (fy >= 0) & (fy <= ny - 1)
    i = fx.detach().floor().clamp(0, nx - 2).long()
    j = fy.detach().floor().clamp(0, ny - 2).long()
    flat = grid.reshape(b, -1)
    index = (i * ny + j).reshape(b, -1)
    corners = [flat.gather(1, index + k) for k in (0, 1, ny, ny + 1)]
    floor = torch.stack(corners).amin(0).reshape(i.shape)
    return torch.where(inside, floor, torch.full_like(floor, -math.inf))


def collision_points(skeleton):
    """The skeleton with a lighter set of body sample points for the collision loss: every point off the feet,
    and of each sole's 9 x 5 grid only a 5 x 3 one (4.4 cm x 4.5 cm spacing, well under the 0.1 m terrain
    grid), which saves a third of the cost of the loss."""
    grid = np.zeros(SOLE_GRID, bool)
    grid[::2, ::2] = True
    keep = np.ones(skeleton.num_points, bool)
    for foot in FEET:
        first = np.flatnonzero(skeleton.point_link == foot)[0]  # each foot's points begin with its sole grid
        keep[first : first + grid.size] = grid.ravel()
    return replace(skeleton, points_local=skeleton.points_local[keep], point_link=skeleton.point_link[keep])


def losses(pred, batch, normalizer, skeleton, window):
    """Loss terms (dict of scalars) of standardised x0 predictions pred (B, frames, 63) against the batch.

    skeleton: for FK and the collision points (see collision_points).
    """
    p = normalizer.denormalize(pred.float())
    g = normalizer.denormalize(batch["x0"])
    # The reference frame itself (the last previous frame) anchors the velocity of the first segment frame.
    ref = normalizer.denormalize(batch["prev"][:, -1:])
    rotation = slice(LAYOUT["root_rot"].start, LAYOUT["hinge"].stop)
    contacts = g[..., LAYOUT["contacts"]]
    pos_p, rot_p = reference_fk(torch.cat([ref, p], 1), skeleton)
    with torch.no_grad():
        pos_g, _ = reference_fk(torch.cat([ref, g], 1), skeleton)
    vel_p = pos_p.diff(dim=1) * window.fps
    vel_g = pos_g.diff(dim=1) * window.fps
    points = skeleton.body_points(pos_p[:, 1:], rot_p[:, 1:])
    below = (terrain_floor(batch["terrain"], points[..., :2], window) - points[..., 2]).clamp_min(0)
    return {
        "rotation": F.mse_loss(p[..., rotation], g[..., rotation]),
        "root": F.mse_loss(p[..., LAYOUT["root_pos"]], g[..., LAYOUT["root_pos"]]),
        "position": F.mse_loss(pos_p[:, 1:], pos_g[:, 1:]),
        "velocity": F.mse_loss(vel_p, vel_g),
        "foot_contact": (vel_p[:, :, list(FEET)].pow(2).sum(-1) * contacts).mean(),
        "collision": below.pow(2).mean(),
        "contact": F.mse_loss(p[..., LAYOUT["contacts"]], contacts),
    }


# --------------------------------------------------------------------------------------------------------
# Training


def learning_rate(step, optim: OptimConfig):
    """Linear warm-up to optim.lr, then cosine decay to optim.min_lr at the last step."""
    if step < optim.warmup:
        return optim.lr * (step + 1) / optim.warmup
    progress = (step - optim.warmup) / max(1, optim.steps - optim.warmup)
    return optim.min_lr + 0.5 * (optim.lr - optim.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def training_inputs(batch, schedule, config, generator):
    """Noisy segment, timesteps and condition dict for one batch, with the config's condition drop-out."""
    x0, prev = batch["x0"], batch["prev"]
    b = x0.shape[0]
    t = torch.randint(0, schedule.num_train_timesteps, (b,), generator=generator)
    x_t = schedule.add_noise(x0, torch.randn(x0.shape, generator=generator), t)
    drop = torch.tensor([float(config.cond_drop[c]) for c in CONDITIONS])
    keep = torch.rand(b, len(CONDITIONS), generator=generator) >= drop
    keep[:, column("prev")] &= batch["has_prev"]
    prev_clean = torch.rand(b, generator=generator) >= config.prev_noised
    noisy_prev = schedule.add_noise(prev, torch.randn(prev.shape, generator=generator), t)
    cond = {
        "terrain": batch["terrain"],
        "target": batch["target"],
        "keep": keep,
        "prev_clean": prev_clean,
        "prev": torch.where(prev_clean[:, None, None], prev, noisy_prev),
    }
    return x_t, t, cond


@dataclass
class TrainingRun:
    """The live parts of a training run."""

    model: torch.nn.Module
    ema: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: CosineSchedule
    window: WindowConfig
    normalizer: Normalizer
    sampler: WindowSampler
    skeleton: Skeleton
    start: int  # the step it starts at


def train(config: TrainConfig, resume=False, until=None, progress=True, overwrite=False):
    """Train (or, with resume, continue) the run of `config`; stop after optim.steps steps or at step `until`.

    A run folder that already holds a run is refused unless `resume` or `overwrite` is given; the folder is not
    touched before the config and the data have been read. Returns the path of the run's model.pt.
    Leaves torch's thread count, which its numerics follow, to the caller (the command line: config.threads).
    """
    out = Path(config.out)
    state = _previous_run(out, resume, overwrite, config)
    live = _setup(config, state)
    _clear_run_folder(out, overwrite)
    log_path = out / "log.csv"
    columns = ["step", "lr", "loss", *LOSS_TERMS, "ms_per_step"]
    start_log(log_path, columns, live.start)

    def save_checkpoints(step):
        model_payload = checkpoint.payload(config, live.normalizer, live.ema.state_dict())
        checkpoint.save(
            out / "checkpoint.pt",
            {
                **model_payload,
                "train": {
                    "step": step,
                    "weights": {k: v.clone() for k, v in live.model.state_dict().items()},
                    "optimizer": live.optimizer.state_dict(),
                },
            },
        )
        checkpoint.save(out / "model.pt", model_payload)
        plot_log(log_path, out / "loss.png")

    end = min(config.optim.steps, until if until is not None else config.optim.steps)
    sums, count, tick = dict.fromkeys(["loss", *LOSS_TERMS], 0.0), 0, time.perf_counter()
    bar = tqdm(range(live.start, end), initial=live.start, total=end, desc="train", unit="step", disable=not progress)
    for step in bar:
        lr, terms = _step(live, config, step)
        for k, v in terms.items():
            sums[k] += v
        count += 1
        done = step + 1
        if done % config.log_every == 0 or done == end:
            ms = (time.perf_counter() - tick) / count * 1000
            row = {"step": done, "lr": lr, **{k: v / count for k, v in sums.items()}, "ms_per_step": ms}
            append_log(log_path, columns, row)
            bar.set_postfix(loss=f"{row['loss']:.4f}", ms=f"{ms:.0f}")
            sums, count, tick = dict.fromkeys(sums, 0.0), 0, time.perf_counter()
        if done % config.checkpoint_every == 0 or done == end:
            save_checkpoints(done)
    bar.close()
    return out / "model.pt"


def _previous_run(out, resume, overwrite, config):
    """The training checkpoint to continue from, or None to start afresh; refuses to start over a run unasked,
    and to resume where there is nothing to resume."""
    if resume and overwrite:
        raise ValueError("give --resume (continue the run) or --overwrite (start it over), not both")
    held = [name for name in RUN_FILES if (out / name).exists()]
    if resume and "checkpoint.pt" not in held:
        raise ValueError(
            f"--resume: run folder {out} has no checkpoint.pt to continue from"
            + (
                f" (it holds {', '.join(held)}: the run stopped before its first checkpoint); start it over with "
                "--overwrite"
                if held
                else "; leave out --resume to start a run there"
            )
        )
    if resume:
        return checkpoint.read_training(out / "checkpoint.pt", config)
    if held and not overwrite:
        raise ValueError(
            f"run folder {out} already holds a run ({', '.join(held)}): give --resume to continue "
            "it, --overwrite to start it over, or another --out"
        )
    return None


def _setup(config, state):
    """Model, EMA, optimizer and data of a run: fresh, or as the training checkpoint `state` left them."""
    torch.manual_seed(config.seed)
    model, window, schedule = checkpoint.build(config)
    data = Path(config.data)
    initial = _initial_model(config) if state is None and config.init else None
    if state is not None:
        normalizer = Normalizer.from_state_dict(state["normalizer"])
    elif initial is not None:  # its weights read inputs scaled by its own statistics
        normalizer = initial.normalizer
    elif (data / "stats.npz").exists():
        normalizer = load_stats(data)
    else:
        normalizer = write_stats(data, window)
    sampler = WindowSampler(load_episodes(data), window, normalizer)
    skeleton = collision_points(Skeleton.load())

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "position" not in name else no_decay).append(p)
    optim = config.optim
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=optim.lr,
        betas=tuple(optim.betas),
    )
    if initial is not None:
        model.load_state_dict(initial.network.state_dict())
    ema = copy.deepcopy(model).requires_grad_(False)
    start = 0
    if state is not None:
        start = checkpoint.restore_training(state, model, ema, optimizer, Path(config.out) / "checkpoint.pt")
    return TrainingRun(
        model=model,
        ema=ema,
        optimizer=optimizer,
        schedule=schedule,
        window=window,
        normalizer=normalizer,
        sampler=sampler,
        skeleton=skeleton,
        start=start,
    )


def _initial_model(config):
    """The model config.init names (checkpoint.load_model); ValueError unless its network is this run's."""
    initial = checkpoint.load_model(config.init)
    if checkpoint.network_shapes(initial.config) != checkpoint.network_shapes(config):
        raise ValueError(
            f"init: model {config.init} has another network than this run's config (model and window): "
            "give a model trained with the same network settings, or leave out init"
        )
    return initial


def _clear_run_folder(out, overwrite):
    """Create the run folder; with overwrite, remove the files of the run it held (log.csv is rewritten). The
    temporary files of a run killed while writing one are removed either way: they were never a result."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("checkpoint.pt", "model.pt", "loss.png", "log.csv"):
        for stale in stale_temporaries(out / name):
            stale.unlink(missing_ok=True)
    if overwrite:
        for name in ("checkpoint.pt", "model.pt", "loss.png"):
            (out / name).unlink(missing_ok=True)


def _step(live, config, step):
    """One optimisation step, drawn from generators seeded with (seed, step), and the EMA update.

    Returns the learning rate and the loss and its unweighted terms as floats.
    """
    rng = np.random.default_rng([config.seed, step])
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    batch = live.sampler.sample(config.optim.batch_size, rng)
    x_t, t, cond = training_inputs(batch, live.schedule, config, generator)
    lr = learning_rate(step, config.optim)
    for group in live.optimizer.param_groups:
        group["lr"] = lr

    live.model.train()
    with autocast(config.precision):
        pred = live.model(x_t, t, cond)
    parts = losses(pred, batch, live.normalizer, live.skeleton, live.window)
    loss = sum(getattr(config.loss, k) * v for k, v in parts.items())
    live.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(live.model.parameters(), config.optim.grad_clip)
    live.optimizer.step()
    # EMA warm-up: early on the average would be dominated by the random initial weights.
    ema_decay = min(config.optim.ema, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, p in zip(live.ema.parameters(), live.model.parameters()):
            e.lerp_(p, 1 - ema_decay)
    return lr, {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}


# --------------------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser):
    parser.add_argument("--config", default="configs/train/default.yaml", help="training config (YAML)")
    parser.add_argument("--data", help="dataset directory (overrides the config's data)")
    parser.add_argument("--out", help="run directory (overrides the config's out)")
    parser.add_argument("--steps", type=int, help="total training steps, at least 1 (overrides optim.steps)")
    parser.add_argument("--until", type=int, help="stop at this step (resume later with --resume)")
    parser.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint.pt")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in a run directory that already holds a run (its files are replaced)",
    )


def run(args):
    if args.until is not None and args.until < 1:
        raise ValueError(f"--until must be a step >= 1, got {args.until}")
    config = load_config(args.config, data=args.data, out=args.out, steps=args.steps)
    with threads(torch_threads=config.threads):
        path = train(config, resume=args.resume, until=args.until, overwrite=args.overwrite)
    print(f"model written to {path}")


def main(argv=None, parser_class=argparse.ArgumentParser):
    """Train from the command line `argv`; `parser_class` decides how a bad one is refused (terrain-mdm's Parser
    raises one line)."""
    parser = parser_class(prog="terrain-mdm train", description="train the motion diffusion model")
    add_arguments(parser)
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
