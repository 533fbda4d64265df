"""Cosine noise schedule with DDIM/DDPM steps for an x0-predicting model, and the guided sampling loop.

The schedule (in the style of diffusers' schedulers) knows nothing of the network and holds no state of a
sampling run, so one schedule serves any number of concurrent runs: `add_noise` makes training inputs,
`timesteps(n)` gives a run's sampling steps and `step` moves x_t from one of them to the next given a
prediction of x0. `sample` runs a network with per-condition classifier-free guidance and holds its timesteps;
given `Known` parts of the segment it imposes them at every step (inpainting, as RePaint).
"""

import math
from dataclasses import dataclass

import torch

from motion_model.learner.condition import CONDITIONS, column


class CosineSchedule:
    """Cosine schedule (Nichol & Dhariwal 2021) over `num_train_timesteps` steps; t = 0 is the least noisy.

    alphas_cumprod[t] is the fraction of signal variance left at step t: x_t = sqrt(a) x0 + sqrt(1 - a) noise.
    """

    def __init__(self, num_train_timesteps=1000, s=0.008, max_beta=0.999):
        self.num_train_timesteps = num_train_timesteps
        f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
        betas = [
            min(1 - f((i + 1) / num_train_timesteps) / f(i / num_train_timesteps), max_beta)
            for i in range(num_train_timesteps)
        ]
        self.alphas_cumprod = torch.cumprod(1 - torch.tensor(betas, dtype=torch.float64), 0)

    def timesteps(self, n):
        """n sampling timesteps (n,), descending; "trailing" spacing so that the first is the noisiest step."""
        if not 1 <= n <= self.num_train_timesteps:
            raise ValueError(f"steps must be in [1, {self.num_train_timesteps}], got {n}")
        step = self.num_train_timesteps / n
        return (torch.arange(self.num_train_timesteps, 0, -step).round() - 1).long()

    def _alpha(self, t, like):
        """alphas_cumprod at integer timesteps t (-1 means clean: 1.0), shaped to broadcast against `like`."""
        t = torch.as_tensor(t).long()
        a = torch.where(t >= 0, self.alphas_cumprod[t.clamp_min(0)], torch.ones((), dtype=torch.float64))
        return a.to(like.dtype).reshape(a.shape + (1,) * (like.dim() - a.dim()))

    def add_noise(self, x0, noise, t):
        """x_t for clean x0 (B, ...), unit Gaussian noise like x0 and timesteps t (B,) or scalar."""
        a = self._alpha(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def step(self, x0_pred, t, t_prev, x_t, eta=0.0, generator=None):
        """DDIM step of x_t from timestep t (int) to the run's next timestep t_prev < t (-1: clean), given the
        model's x0.

        eta = 0 is deterministic DDIM; eta = 1 adds DDPM's posterior noise (needs `generator` for
        reproducibility).
        """
        a, a_prev = self._alpha(t, x_t), self._alpha(t_prev, x_t)
        eps = (x_t - a.sqrt() * x0_pred) / (1 - a).sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).sqrt()
        x = a_prev.sqrt() * x0_pred + (1 - a_prev - sigma**2).clamp_min(0).sqrt() * eps
        if eta > 0:
            x = x + sigma * torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)
        return x

    def ddpm_step(self, x0_pred, t, x_t, generator=None):
        """Ancestral DDPM step from t to t - 1 (the posterior q(x_{t-1} | x_t, x0)), for reference."""
        a, a_prev = self._alpha(t, x_t), self._alpha(t - 1, x_t)
        beta = 1 - a / a_prev
        mean = (a_prev.sqrt() * beta * x0_pred + (1 - beta).sqrt() * (1 - a_prev) * x_t) / (1 - a)
        if t == 0:
            return mean
        variance = beta * (1 - a_prev) / (1 - a)
        return mean + variance.sqrt() * torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)


@dataclass(frozen=True)
class Known:
    """Known parts of the samples, in the sampled (standardised) feature space, both (B, frames, features).

    mask in [0, 1]: 1 where the value is known, 0 where the model decides, between for a soft transition
    (the result is the mask's blend of the two). values: the known values (anything where mask is 0).
    """

    mask: torch.Tensor
    values: torch.Tensor

    def impose(self, x0):
        """x0 with the known values blended in by the mask (exactly the values where it is 1)."""
        return torch.lerp(x0, self.values.to(x0), self.mask.to(x0))


def guided_x0(model, x_t, t, cond, guidance=None):
    """The model's x0 with per-condition classifier-free guidance.

    x0 = x0_full + sum_c (s_c - 1) * (x0_full - x0_without_c), with guidance = {condition: s_c} for c in
    CONDITIONS (missing ones count as 1). Scales of 1 give exactly the conditional prediction, 0 removes a
    condition's effect, > 1 strengthens it. All passes run as one batch; none extra when every scale is 1.
    """
    scales = {c: float(s) for c, s in (guidance or {}).items() if float(s) != 1.0}
    unknown = set(scales) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown guidance conditions {sorted(unknown)}; expected some of {CONDITIONS}")
    if not scales:
        return model(x_t, t, cond)
    batch = x_t.shape[0]
    keep = cond["keep"]
    variants = [keep]
    for c in scales:
        dropped = keep.clone()
        dropped[:, column(c)] = False
        variants.append(dropped)
    n = len(variants)
    stacked = {
        k: (v.repeat((n,) + (1,) * (v.dim() - 1)) if isinstance(v, torch.Tensor) else v) for k, v in cond.items()
    }
    stacked["keep"] = torch.cat(variants)
    full, *dropped = model(x_t.repeat((n,) + (1,) * (x_t.dim() - 1)), t.repeat(n), stacked).split(batch)
    x0 = full.clone()
    for s, without in zip(scales.values(), dropped):
        x0 += (s - 1) * (full - without)
    return x0


@torch.no_grad()
def sample(model, cond, schedule, steps, generator=None, guidance=None, eta=0.0, noise=None, known=None):
    """Sample x0 (B, frames, features) (standardised features) with `steps` DDIM steps.

    cond: the network's condition dict (see network.MDM.forward). If cond["prev_clean"] is False for a
    sample, its previous frames are noised to each step's timestep with one fixed noise draw, as in
    training. generator: a torch.Generator for the initial noise (and eta > 0); same seed, same result.
    known: Known parts, imposed on the model's x0 at every step (RePaint for an x0-predicting model). The DDIM
    update then carries them into x_t at the next step's noise level, so that the network sees them and fits
    the rest of the segment to them; the last step returns the imposed x0, equal to the values where the
    mask is 1. With one step it is a plain replacement. None samples exactly as without the argument.
    """
    batch = cond["keep"].shape[0]
    shape = (batch, model.config.frames, model.config.features)
    # noise: the initial x_T, for callers that draw it per sample (results then do not depend on batching).
    x = torch.randn(shape, generator=generator) if noise is None else noise.reshape(shape).float()
    cond = dict(cond)
    if hasattr(model, "encode_conditions"):
        cond["cond_tokens"] = model.encode_conditions(cond, batch)
    prev = cond.get("prev")
    noisy_prev = prev is not None and not bool(cond["prev_clean"].all())
    if noisy_prev:
        prev_noise = torch.randn(prev.shape, generator=generator)
        clean = cond["prev_clean"].reshape(-1, 1, 1)
    timesteps = schedule.timesteps(steps).tolist()
    for t, t_prev in zip(timesteps, timesteps[1:] + [-1]):
        tt = torch.full((batch,), t, dtype=torch.long)
        if noisy_prev:
            cond["prev"] = torch.where(clean, prev, schedule.add_noise(prev, prev_noise, tt))
        x0 = guided_x0(model, x, tt, cond, guidance).float()
        if known is not None:
            x0 = known.impose(x0)
        x = schedule.step(x0, t, t_prev, x, eta=eta, generator=generator)
    return x
