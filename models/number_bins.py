"""Where a number sits on the log-magnitude bins: the math the embedding, the losses and decoding share.

Pure tensor functions, no parameters. Bin k (0 <= k < K) has centre
`log10_min + k * width`, `width = (log10_max - log10_min) / (K - 1)`. A value's
position is `p = (clamp(log10|v|) - log10_min) / width` in [0, K-1]; it lies
between bins `lo = floor(p)` (at most K-2) and `lo + 1`, with weight
`frac = p - lo` on the upper one. Zero and magnitudes below the window sit on
bin 0, magnitudes above it on bin K-1.

Decoding (`decode_log_magnitude`) takes the median of the predicted
distribution, refined by the mean over the bins within `decode_window` of the
median bin: the median minimises the expected |log10 error|, and the local
mean makes value -> two-hot target -> decode an exact round trip.
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


def median_bin(probs: torch.Tensor) -> torch.Tensor:
    """(..., K) probabilities -> (...,) the first bin where the cumulative mass reaches one half."""
    cdf = probs.cumsum(-1)
    half = 0.5 * cdf[..., -1:]  # normalised against the row's own total (float rounding)
    return (cdf < half).sum(-1).clamp(max=probs.shape[-1] - 1)


def decode_log_magnitude(bin_logits: torch.Tensor, cfg: NumberConfig) -> torch.Tensor:
    """Log10 magnitude from bin logits: the median bin, refined by the mean over its neighbours.

    Why the median: the evaluation (and any use that cares about being a few
    decades off) scores |log10 error|, whose minimiser is the median of the
    predicted distribution. Decoding around the argmax picked spikes instead:
    every zero ("—") and every year sits on one exact bin, so an uncertain
    prediction whose single tallest bin was "zero" (bin 0) or "2024" decoded
    to 1e-3 or 2024 even with most of its mass on millions.
    Why the local mean: it makes decoding exact for a two-hot target (the two
    bins around a value both lie within `decode_window` of its median bin) and
    sub-bin accurate for HL-Gauss, instead of snapping to a bin centre.
    """
    k = bin_logits.shape[-1]
    centers = bin_centers(cfg, bin_logits.device).to(torch.float64)
    probs = torch.softmax(bin_logits.to(torch.float64), dim=-1)
    mid = median_bin(probs)[..., None]
    offsets = torch.arange(-cfg.decode_window, cfg.decode_window + 1, device=bin_logits.device)
    idx = mid + offsets  # (N, 2w+1)
    valid = (idx >= 0) & (idx < k)
    idx_c = idx.clamp(0, k - 1)
    weights = probs.gather(-1, idx_c) * valid
    return (weights * centers[idx_c]).sum(-1) / weights.sum(-1).clamp_min(1e-300)  # float64


def decode_values(bin_logits: torch.Tensor, sign_logits: torch.Tensor, cfg: NumberConfig) -> torch.Tensor:
    """Signed values (float64) from head outputs: 10**(decoded log-magnitude), negative where the sign logit > 0."""
    mag = torch.pow(10.0, decode_log_magnitude(bin_logits, cfg))
    return torch.where(sign_logits > 0, -mag, mag)
