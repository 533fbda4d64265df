"""The training config: a typed record of configs/train/*.yaml, one small dataclass per section.

Built by `configs.typed.build`, so an unknown key (`log_evry:`), a wrong type (`lr: fast`) or a value out of
its range is a one-line ValueError naming the key. A checkpoint stores the config as plain data
(`configs.typed.to_dict`) and `train_config` reads that back too, so checkpoints load with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from typing import Literal

import configs
from configs.typed import bounded, build
from motion_model.learner.condition import CONDITIONS
from motion_model.learner.network import ModelConfig
from motion_model.learner.window import WindowConfig
from terrain.numbers import MAX_SEED


@dataclass(frozen=True)
class DiffusionConfig:
    train_timesteps: int = bounded(1000, 1, 100_000)
    sample_steps: int = bounded(8, 1, 100_000)  # DDIM steps at sampling (the controller may choose others)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (train.losses), every term in physical units."""

    rotation: float = bounded(1.0, 0.0, None)
    root: float = bounded(1.0, 0.0, None)
    position: float = bounded(2.0, 0.0, None)
    velocity: float = bounded(0.05, 0.0, None)
    foot_contact: float = bounded(0.1, 0.0, None)
    collision: float = bounded(10.0, 0.0, None)
    contact: float = bounded(0.1, 0.0, None)


LOSS_TERMS = tuple(f.name for f in dataclasses.fields(LossWeights))


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up and cosine decay to min_lr at the last step; EMA of the weights."""

    batch_size: int = bounded(64, 1, 100_000)
    steps: int = bounded(15000, 1, None)
    lr: float = bounded(2e-4, 0.0, None)
    warmup: int = bounded(500, 0, None)
    min_lr: float = bounded(2e-5, 0.0, None)
    weight_decay: float = bounded(0.01, 0.0, None)
    betas: tuple[float, float] = bounded((0.9, 0.99), 0.0, 1.0)
    grad_clip: float = bounded(1.0, 0.0, None)
    ema: float = bounded(0.999, 0.0, 1.0)


@dataclass(frozen=True)
class TrainConfig:
    """A training run: where its data and run folder are, the model, and how it is trained."""

    seed: int = bounded(0, 0, MAX_SEED)
    data: str | None = None  # dataset folder: episodes/*.npz and stats.npz
    out: str | None = None  # run folder: checkpoint.pt, model.pt, log.csv, loss.png
    init: str | None = None  # a model (name or model.pt) whose EMA weights and normalizer a new run starts from
    window: WindowConfig = field(default_factory=WindowConfig)
    model: ModelConfig = field(default_factory=ModelConfig)  # n_prev, frames and target_dim come from window
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    # Classifier-free guidance: each condition is dropped on its own with this probability.
    cond_drop: dict[str, float] = bounded(dict.fromkeys(CONDITIONS, 0.1), 0.0, 1.0)
    prev_noised: float = bounded(0.1, 0.0, 1.0)  # share of examples whose previous frames are noised
    loss: LossWeights = field(default_factory=LossWeights)
    optim: OptimConfig = field(default_factory=OptimConfig)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    threads: int = bounded(2, 1, 1024)
    log_every: int = bounded(10, 1, None)
    checkpoint_every: int = bounded(250, 1, None)

    def __post_init__(self):
        if set(self.cond_drop) != set(CONDITIONS):
            raise ValueError(
                f"cond_drop must give a probability for each of {', '.join(CONDITIONS)}, "
                f"got {', '.join(map(str, self.cond_drop)) or 'none'}"
            )
        for name in ("n_prev", "frames", "target_dim"):
            if getattr(self.model, name) != getattr(self.window, name):
                raise ValueError(
                    f"model: {name} ({getattr(self.model, name)}) differs from window: {name} "
                    f"({getattr(self.window, name)}); set it under window only (target_dim follows "
                    "from window: command_frames)"
                )


def train_config(values, where="training config") -> TrainConfig:
    """The TrainConfig of plain data (a YAML file's mapping, or the config a checkpoint stores).

    The model section takes n_prev, frames and target_dim (the command's length) from the window section unless
    it sets them itself.
    """
    if isinstance(values, dict) and isinstance(values.get("model") or {}, dict):
        window = build(WindowConfig, values.get("window"), f"{where}: window")
        model = {
            "n_prev": window.n_prev,
            "frames": window.frames,
            "target_dim": window.target_dim,
            **(values.get("model") or {}),
        }
        values = {**values, "window": window, "model": model}
    return build(TrainConfig, values, where)


def load_config(path, data=None, out=None, steps=None) -> TrainConfig:
    """The training config of a YAML file, with the command line's --data, --out and --steps applied."""
    config = train_config(configs.read_yaml(path, "training config"), f"training config {path}")
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"--steps must be a whole number >= 1, got {steps!r}")
        config = replace(config, optim=replace(config.optim, steps=steps))
    config = replace(config, data=data or config.data, out=out or config.out)
    for key, flag in (("data", "--data DIR"), ("out", "--out DIR")):
        if not getattr(config, key):
            raise ValueError(f"training config {path} names no {key} folder: give {flag} or set {key}: in the file")
    return config
