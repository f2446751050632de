"""NumberEmbedding: a value -> one hidden-size vector added to its [NUM] token.

Design choices:
- Magnitude as log10|v| on K learned bin embeddings (`models.number_bins`),
  linearly interpolated between the two nearest bins, so nearby magnitudes
  get nearby vectors and the map is continuous; values outside the window
  clamp to the end bins.
- Sign as its own learned embedding added to the magnitude's (two rows:
  positive, negative), so "-5" and "5" share their magnitude.
- Zero as one dedicated embedding: log10|0| is undefined and zero means
  something of its own in filings ("—" in a table).
- Masked number: a reserved bin (row K of the bin table) replaces the whole
  embedding; it carries neither magnitude nor sign.
- Additive, after the backbone's embedding LayerNorm (the encoder adds it
  there): a LayerNorm would erase a multiplicative signal and dilute an
  additive one before it.
- Smooth init: bin rows start as sinusoids of the bin index (random
  frequencies and phases), so neighbouring bins start similar and far ones
  decorrelated; per-coordinate scale `init_scale` against the unit-scale
  LayerNorm output.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from models.config import NumberConfig
from models.number_bins import bin_position


def smooth_bin_init(n_bins: int, dim: int, scale: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n_bins, dim) rows that vary smoothly with the bin index; each coordinate has std ~ `scale`."""
    pos = torch.arange(n_bins, dtype=torch.float32)[:, None]
    # frequencies from "changes over the whole window" to "changes every ~2 bins"
    lo, hi = math.log(2 * math.pi / n_bins), math.log(math.pi / 2)
    freq = torch.exp(lo + (hi - lo) * torch.rand(dim, generator=generator))
    phase = 2 * math.pi * torch.rand(dim, generator=generator)
    return scale * math.sqrt(2.0) * torch.sin(pos * freq + phase)


class NumberEmbedding(nn.Module):
    def __init__(self, hidden_size: int, cfg: NumberConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.n_bins
        self.bins = nn.Parameter(torch.empty(k + 1, hidden_size))  # row k: the masked-number bin
        self.sign = nn.Parameter(torch.empty(2, hidden_size))       # 0: positive, 1: negative
        self.zero = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()

    @property
    def masked_bin(self) -> int:
        return self.cfg.n_bins

    def reset_parameters(self) -> None:
        s = self.cfg.init_scale
        with torch.no_grad():
            self.bins[: self.cfg.n_bins].copy_(smooth_bin_init(self.cfg.n_bins, self.bins.shape[1], s))
            self.bins[self.cfg.n_bins].normal_(0, s)
            self.sign.normal_(0, s)
            self.zero.normal_(0, s)

    def forward(self, values: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """Embed a flat vector of values (N,) -> (N, H); `hidden` (N,) bool marks masked numbers."""
        if hidden is None:
            hidden = torch.zeros_like(values, dtype=torch.bool)
        usable = torch.isfinite(values) & ~hidden
        v = torch.where(usable, values, torch.ones_like(values))  # NaN-free inputs keep gradients finite
        lo, frac = bin_position(v, self.cfg)
        frac = frac.to(self.bins.dtype)[:, None]
        magnitude = (1 - frac) * self.bins[lo] + frac * self.bins[lo + 1]
        emb = magnitude + self.sign[(v < 0).long()]
        emb = torch.where((v == 0)[:, None], self.zero.expand_as(emb), emb)
        return torch.where(hidden[:, None], self.bins[self.masked_bin].expand_as(emb), emb)
