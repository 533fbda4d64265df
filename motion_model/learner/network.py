"""The motion diffusion model (MDM): a transformer encoder that predicts the clean motion segment x0.

One token sequence per sample, in this order:
  [timestep] [terrain x hf_tokens] [target] [noise indicator] [previous frames x n_prev] [segment x frames]
The timestep token is a sinusoidal embedding through an MLP; the terrain tokens are a small CNN's feature map
of the local heightfield, pooled to a fixed grid; the target token embeds the command (command.py: future
root positions and facings in the reference frame, desired speed m/s); the noise indicator says whether the
previous frames are clean or noised to the current timestep. Frame tokens get sinusoidal positions. A dropped
condition (classifier-free guidance, or no previous frames at all) is masked out of attention. The output is
x0 for the segment frames, in standardised feature units (features.py).
"""

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from configs.typed import bounded
from motion_model.learner.condition import CONDITIONS, column, keep_mask
from motion_model.learner.features import NUM_FEATURES

MAX_PARAMETERS = 10**9  # of a model: 4 GB of float32 weights, 16 GB with the optimizer's moments and gradients


@dataclass
class ModelConfig:
    features: int = NUM_FEATURES
    n_prev: int = 10
    frames: int = 60
    d_model: int = bounded(256, 1, 16384)
    n_layers: int = bounded(4, 1, 1000)
    n_heads: int = bounded(4, 1, 1024)
    d_ff: int = bounded(1024, 1, 65536)
    dropout: float = bounded(0.0, 0.0, 1.0)
    hf_channels: tuple[int, ...] = bounded((32, 64), 1, 4096)  # CNN widths before the last conv (outputs d_model)
    hf_tokens: tuple[int, int] = bounded((7, 3), 1, 64)  # terrain tokens along (forward, left): pooled grid
    hf_clip: float = bounded(3.0, 0.1, 100.0)  # m; heights beyond +-this relative to the reference ground are clipped
    target_dim: int = 25  # the command's length (command.target_dim; train_config sets it from the window)
    frames_per_token: int = bounded(1, 1, 100)  # consecutive frames sharing a token: 2 halves the frame tokens

    def __post_init__(self):
        if self.n_prev % self.frames_per_token or self.frames % self.frames_per_token:
            raise ValueError(
                f"n_prev ({self.n_prev}) and frames ({self.frames}) must be multiples of "
                f"frames_per_token ({self.frames_per_token})"
            )
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        # Each block: qkv and output projections (4 d^2) and the feed-forward pair (2 d d_ff). Refused before
        # anything is allocated: the fields' own ranges allow a model of terabytes.
        parameters = self.n_layers * (4 * self.d_model**2 + 2 * self.d_model * self.d_ff)
        if parameters > MAX_PARAMETERS:
            raise ValueError(
                f"a model of d_model {self.d_model}, d_ff {self.d_ff} and {self.n_layers} layers has about "
                f"{parameters:.3g} parameters, more than {MAX_PARAMETERS:.0e}: make it smaller"
            )


def sinusoidal(positions, dim):
    """Transformer sinusoidal embedding (..., dim) of (possibly fractional) positions (...,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = positions.float()[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], -1)


class Block(nn.Module):
    """Pre-norm transformer encoder layer."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.n_heads = c.n_heads
        self.norm1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.fc1 = nn.Linear(c.d_model, c.d_ff)
        self.fc2 = nn.Linear(c.d_ff, c.d_model)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x, attend, outputs=None):
        """x (B, N, d); attend (B, 1, 1, N) bool, False for masked-out keys, or None for none.

        outputs: compute only the last `outputs` tokens (every token is still attended to); None for all.
        """
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if outputs is not None:
            q, x, n = q[:, :, -outputs:], x[:, -outputs:], outputs
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
        x = x + self.dropout(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.dropout(self.fc2(F.gelu(self.fc1(self.norm2(x)))))


class TerrainEncoder(nn.Module):
    """Local heightfield (B, nx, ny) m -> hf_tokens[0] * hf_tokens[1] tokens (B, T, d)."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        widths = (1,) + tuple(c.hf_channels) + (c.d_model,)
        layers = []
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Conv2d(w_in, w_out, 3, stride=2, padding=1))
            if i < len(widths) - 2:
                layers.append(nn.SiLU())
        self.conv = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(tuple(c.hf_tokens)))
        self.clip = c.hf_clip
        self.position = nn.Parameter(torch.zeros(c.hf_tokens[0] * c.hf_tokens[1], c.d_model))

    def forward(self, heights):
        features = self.conv(heights.clamp(-self.clip, self.clip)[:, None])
        return features.flatten(2).transpose(1, 2) + self.position


class MDM(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c = self.config = config
        d = c.d_model
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.terrain = TerrainEncoder(c)
        self.target = nn.Sequential(nn.Linear(c.target_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.indicator = nn.Embedding(2, d)  # 0: previous frames noised, 1: clean
        k = c.frames_per_token
        self.frame_in = nn.Linear(c.features * k, d)
        # Positions in frames (a token's middle frame), so the encoding means the same for any frames_per_token.
        middle = torch.arange(0, c.n_prev + c.frames, k) + (k - 1) / 2
        self.register_buffer("frame_pos", sinusoidal(middle, d), persistent=False)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, c.features * k)
        self.n_terrain = c.hf_tokens[0] * c.hf_tokens[1]
        self.n_prev_tokens, self.n_segment_tokens = c.n_prev // k, c.frames // k
        self.apply(self._init)
        # Start by predicting the mean motion: the first updates then shape, rather than undo, the output.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def num_tokens(self):
        return 3 + self.n_terrain + self.n_prev_tokens + self.n_segment_tokens

    def encode_conditions(self, cond, batch):
        """Terrain and target tokens (batch, n_terrain + 1, d_model) of a condition dict (see forward).

        They depend on neither x_t nor t, so a sampler computes them once per segment and passes them to
        every denoising step as cond["cond_tokens"].
        """
        c = self.config
        terrain, target = cond.get("terrain"), cond.get("target")
        zeros = self.indicator.weight.new_zeros
        terrain_tokens = self.terrain(terrain) if terrain is not None else zeros(batch, self.n_terrain, c.d_model)
        target = target if target is not None else zeros(batch, c.target_dim)
        return torch.cat([terrain_tokens, self.target(target)[:, None]], 1)

    def forward(self, x_t, t, cond):
        """x0 prediction (B, frames, features) for the noisy segment x_t (B, frames, features) at timesteps t (B,).

        cond (dict of tensors; a missing entry counts as dropped):
          terrain (B, nx, ny) local heightfield in the reference frame, m above the reference ground
          target (B, target_dim) the command's vector (command.py), in the reference frame
          prev (B, n_prev, features) standardised previous frames, the last one being the reference frame
          prev_clean (B,) bool: previous frames clean (True) or noised to timestep t (False)
          keep (B, 3) bool: use each condition (columns by name: condition.column; False drops it)
          cond_tokens (B, n_terrain + 1, d_model): encode_conditions(cond), if already computed
        """
        c = self.config
        b = x_t.shape[0]
        prev = cond.get("prev")
        keep = cond.get("keep", keep_mask(b)) & torch.tensor([cond.get(name) is not None for name in CONDITIONS])
        time = self.time_mlp(sinusoidal(t, c.d_model))[:, None]
        cond_tokens = cond.get("cond_tokens")
        if cond_tokens is None:
            cond_tokens = self.encode_conditions(cond, b)
        prev = prev if prev is not None else x_t.new_zeros(b, c.n_prev, c.features)
        prev_clean = cond.get("prev_clean", torch.ones(b, dtype=torch.bool))
        frames = torch.cat([prev, x_t], 1).reshape(b, -1, c.features * c.frames_per_token)
        frames = self.frame_in(frames) + self.frame_pos
        x = torch.cat([time, cond_tokens, self.indicator(prev_clean.long())[:, None], frames], 1)
        ones = torch.ones(b, 1, dtype=torch.bool)
        kept = {name: keep[:, column(name), None] for name in CONDITIONS}  # (b, 1) each
        attend = torch.cat(
            [
                ones,
                kept["terrain"].expand(b, self.n_terrain),
                kept["target"],
                ones,
                kept["prev"].expand(b, self.n_prev_tokens),
                ones.expand(b, self.n_segment_tokens),
            ],
            1,
        )
        # No mask when every token is attended to (the controller's usual case): SDPA's unmasked path is faster.
        attend = None if bool(attend.all()) else attend[:, None, None, :]
        for block in self.blocks[:-1]:
            x = block(x, attend)
        # Only the segment's tokens are read out: the last block computes no other (a third less of its work).
        x = self.blocks[-1](x, attend, outputs=self.n_segment_tokens)
        return self.head(self.norm(x)).reshape(b, c.frames, c.features)


@functools.cache
def bf16_supported():
    """True if the CPU has native bf16 arithmetic (AVX-512 BF16 or AMX); otherwise bf16 is emulated and slow.
    Read once: the controller asks at every step."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def uses_bf16(precision):
    """Whether "fp32", "bf16" or "auto" (bf16 only where the CPU computes it natively) computes in bf16."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    return precision == "bf16" or (precision == "auto" and bf16_supported())


def autocast(precision):
    """Autocast context for "fp32", "bf16" or "auto" (bf16 only where the CPU computes it natively)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=uses_bf16(precision))
