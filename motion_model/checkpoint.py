"""Model checkpoints: the training config, the feature statistics and the (EMA) weights, as plain data.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts, so it loads with
`torch.load(weights_only=True)`: {"format", "version", "config", "normalizer": {"mean", "std"}, "model":
state dict}. A training checkpoint adds "train" (step, raw weights, optimizer state) for resuming.
"""

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from configs.typed import to_dict
from motion_model.dataset import WindowConfig
from motion_model.ddim import CosineSchedule
from motion_model.features import Normalizer
from motion_model.network import MDM, uses_bf16
from motion_model.train_config import TrainConfig, train_config
from terrain.atomic import atomic_path

FORMAT = "terrain-mdm motion diffusion model"
VERSION = 1
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


def build(config: TrainConfig):
    """The network (random weights), window config and noise schedule described by a training config."""
    return MDM(config.model), config.window, CosineSchedule(config.diffusion.train_timesteps)


def save(path, payload):
    """Write a checkpoint dict atomically: a reader sees the old file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def payload(config: TrainConfig, normalizer, state_dict):
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": to_dict(config),
        "normalizer": normalizer.state_dict(),
        "model": {k: v.detach().clone() for k, v in state_dict.items()},
    }


def read(path):
    """The checkpoint dict at `path`; ValueError if the file is not one of ours."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no model checkpoint at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for foreign or corrupt files
        raise ValueError(f"{path} is not a terrain-mdm model checkpoint: {error}") from error
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a terrain-mdm model checkpoint (no '{FORMAT}' format tag)")
    if data.get("version") != VERSION:
        raise ValueError(f"{path} is checkpoint version {data.get('version')}; this code reads version {VERSION}")
    return data


@dataclass
class LoadedModel:
    """A trained model ready for sampling: network (eval mode), feature normalizer, configs and schedule."""

    network: MDM
    normalizer: Normalizer
    window: WindowConfig
    schedule: CosineSchedule
    config: TrainConfig

    def sampling_network(self, precision):
        """The network to sample with under network.autocast(precision). In bf16 it is a copy with bf16 weights,
        made once: autocast would otherwise cast every weight again for every segment, a tenth of a one-character
        controller step. (The copy does not follow later changes to `network`'s weights.)"""
        return self._bf16_network if uses_bf16(precision) else self.network

    @functools.cached_property
    def _bf16_network(self):
        return copy.deepcopy(self.network).to(torch.bfloat16).requires_grad_(False)


def load_model(name_or_path="default"):
    """Load a model checkpoint: a name of a shipped one (motion_model/checkpoints/NAME.pt) or a file path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = CHECKPOINT_DIR / f"{name_or_path}.pt"
    data = read(path)
    config = train_config(data["config"], f"the training config in {path}")
    network, window, schedule = build(config)
    network.load_state_dict(data["model"])
    network.eval()
    return LoadedModel(network, Normalizer.from_state_dict(data["normalizer"]), window, schedule, config)
