"""Where a number sits on the log-magnitude bins: the math the embedding, the losses and decoding share.

Pure tensor functions, no parameters. Bin k (0 <= k < K) has centre
`log10_min + k * width`, `width = (log10_max - log10_min) / (K - 1)`. A value's
position is `p = (clamp(log10|v|) - log10_min) / width` in [0, K-1]; it lies
between bins `lo = floor(p)` (at most K-2) and `lo + 1`, with weight
`frac = p - lo` on the upper one. Zero and magnitudes below the window sit on
bin 0, magnitudes above it on bin K-1.
"""
from __future__ import annotations

import torch

from models.config import NumberConfig


def bin_centers(cfg: NumberConfig, device: torch.device | None = None) -> torch.Tensor:
    """The K bin centres in log10 units."""
    return torch.linspace(cfg.log10_min, cfg.log10_max, cfg.n_bins, dtype=torch.float32, device=device)


def log_magnitude(values: torch.Tensor, cfg: NumberConfig) -> torch.Tensor:
    """log10|v| clamped to the window (zero clamps to the bottom); computed in float64 for exact bins."""
    mag = values.detach().abs().to(torch.float64)
    x = torch.log10(mag.clamp_min(10.0 ** (cfg.log10_min - 1)))
    return x.clamp(cfg.log10_min, cfg.log10_max)


def bin_position(values: torch.Tensor, cfg: NumberConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(lo, frac): the lower neighbouring bin (long) and the weight on bin lo+1 (float32)."""
    p = (log_magnitude(values, cfg) - cfg.log10_min) / cfg.bin_width
    p = p.clamp(0, cfg.n_bins - 1)
    lo = p.floor().clamp(max=cfg.n_bins - 2)
    frac = (p - lo).to(torch.float32)
    return lo.long(), frac


def decode_log_magnitude(bin_logits: torch.Tensor, cfg: NumberConfig) -> torch.Tensor:
    """Expected log10 magnitude over the bins within `decode_window` of the argmax.

    Averaging near the mode (not over all bins) keeps a bimodal prediction
    from decoding to a magnitude between its two modes.
    """
    k = bin_logits.shape[-1]
    centers = bin_centers(cfg, bin_logits.device)
    top = bin_logits.argmax(dim=-1, keepdim=True)
    offsets = torch.arange(-cfg.decode_window, cfg.decode_window + 1, device=bin_logits.device)
    idx = top + offsets  # (N, 2w+1)
    valid = (idx >= 0) & (idx < k)
    idx_c = idx.clamp(0, k - 1)
    logits = bin_logits.float().gather(-1, idx_c).masked_fill(~valid, float("-inf"))
    weights = torch.softmax(logits, dim=-1)
    return (weights * centers[idx_c]).sum(-1)


def decode_values(bin_logits: torch.Tensor, sign_logits: torch.Tensor, cfg: NumberConfig) -> torch.Tensor:
    """Signed values from head outputs: 10**(expected log-magnitude), negative where the sign logit > 0."""
    mag = torch.pow(10.0, decode_log_magnitude(bin_logits, cfg).double())
    return torch.where(sign_logits > 0, -mag, mag)
