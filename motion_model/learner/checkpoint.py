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
from motion_model.learner.ddim import CosineSchedule
from motion_model.learner.features import Normalizer
from motion_model.learner.network import MDM, uses_bf16
from motion_model.learner.train_config import TrainConfig, train_config
from motion_model.learner.window import WindowConfig
from terrain.atomic import atomic_path, open_regular

FORMAT = "terrain-mdm motion diffusion model"
VERSION = 1
CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"


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
    if not Path(path).exists():
        raise FileNotFoundError(f"no model checkpoint at {path}")
    with open_regular(path, "model checkpoint") as file:
        try:
            data = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for foreign or corrupt files
            # torch's own words are no help here ("101", or advice to load the file unsafely)
            raise ValueError(
                f"{path} is not a terrain-mdm model checkpoint: torch cannot read it as tensors and plain data; "
                "give a checkpoint that terrain-mdm train wrote, or a shipped model name such as default"
            ) from error
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
    config = checked_config(path, data)
    check_weights(path, data, config)
    network, window, schedule = build(config)
    network.load_state_dict(data["model"])
    network.eval()
    return LoadedModel(network, Normalizer.from_state_dict(data["normalizer"]), window, schedule, config)


def read_training(path, config):
    """The training checkpoint at `path` (read's dict) to resume a run of `config` from; ValueError naming
    `path` if it is damaged, holds no training state or was made for another network."""
    data = read(path)
    check_weights(path, data, config)
    state = data.get("train")
    step = state.get("step") if isinstance(state, dict) else None
    if not (isinstance(step, int) and step >= 0 and isinstance(state.get("optimizer"), dict)):
        raise ValueError(
            f"{path} holds no training state to resume from (its 'train' entry with step, weights and optimizer "
            "is missing or damaged): start the run over with --overwrite"
        )
    check_state(path, "train.weights", state.get("weights"), network_shapes(config))
    return data


def restore_training(state, model, ema, optimizer, source):
    """Load a training checkpoint's weights (read_training checked them) and optimizer state into a run's model,
    EMA and optimizer; returns its step. ValueError naming `source` if the optimizer state does not fit."""
    model.load_state_dict(state["train"]["weights"])
    ema.load_state_dict(state["model"])
    try:
        optimizer.load_state_dict(state["train"]["optimizer"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{source}: its optimizer state does not fit this run's model ({error})") from error
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for key, value in optimizer.state.get(parameter, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() and value.shape != parameter.shape:
                    raise ValueError(
                        f"{source}: its optimizer state '{key}' has shape {tuple(value.shape)} where the weight "
                        f"has {tuple(parameter.shape)}: the checkpoint is damaged, start over with --overwrite"
                    )
                if isinstance(value, torch.Tensor) and not torch.isfinite(value).all():
                    raise ValueError(f"{source}: its optimizer state '{key}' holds NaN or infinite values")
    return state["train"]["step"]


def checked_config(path, data):
    """The TrainConfig a checkpoint dict stores; ValueError naming `path` if it has none or a bad one."""
    if not isinstance(data.get("config"), dict):
        raise ValueError(f"{path} is a damaged model checkpoint: it has no training config ('config')")
    return train_config(data["config"], f"the training config in {path}")


def check_weights(path, data, config):
    """ValueError naming `path` unless the checkpoint dict holds the normalizer and the weights of the network
    of `config`, every one in its shape and finite; checked before anything is built or sampled."""
    features = (config.model.features,)
    normalizer = data.get("normalizer")
    for key in ("mean", "std"):
        value = normalizer.get(key) if isinstance(normalizer, dict) else None
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != features:
            raise ValueError(
                f"{path} is a damaged model checkpoint: its normalizer has no {key} of shape {features} "
                "(it holds the feature statistics the network needs)"
            )
        if not torch.isfinite(value).all() or (key == "std" and not (value > 0).all()):
            raise ValueError(
                f"{path} is a damaged model checkpoint: its normalizer's {key} holds NaN, infinite or zero values"
            )
    check_state(path, "model", data.get("model"), network_shapes(config))


def network_shapes(config):
    """{name: shape} of the state dict of the network of `config`, without allocating its weights."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in MDM(config.model).state_dict().items()}


def check_state(path, entry, state, shapes):
    """ValueError naming `path` and the weight unless `state` holds exactly the weights `shapes` names, in
    those shapes, with finite values."""
    if not isinstance(state, dict):
        raise ValueError(f"{path} is a damaged model checkpoint: it has no weights ('{entry}')")
    missing, extra = sorted(set(shapes) - set(state)), sorted(set(state) - set(shapes))
    if missing or extra:
        problem = f"lacks {missing[0]}" if missing else f"has {extra[0]}, which the network has not"
        raise ValueError(
            f"{path}: its '{entry}' weights do not fit the network of its config ({len(missing)} missing, "
            f"{len(extra)} unknown: it {problem})"
        )
    for name, shape in shapes.items():
        value = state[name]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"{path}: weight '{entry}.{name}' has shape {got} where the network of its config has {shape}"
            )
        if (value.is_floating_point() or value.is_complex()) and not torch.isfinite(value).all():
            raise ValueError(
                f"{path}: weight '{entry}.{name}' holds NaN or infinite values (a diverged training run): "
                "use an earlier checkpoint"
            )
