"""NumberHead: a hidden state -> K log-magnitude bin logits and a sign logit.

Design choices:
- A GLU MLP (as in ModernBERT's own layers) over the final hidden state:
  `Wo(gelu(a) * g)` with `[a, g] = Wi(h)`, one output per bin plus one for the
  sign. Separate from the text MLM head: numbers are predicted as a
  distribution over magnitudes, not as tokens.
- Classification over bins (trained with a two-hot or HL-Gauss soft target,
  see `models.losses`) instead of regression: it represents uncertainty
  over orders of magnitude and its loss does not explode on large values.
- Decoding takes the median log-magnitude of the predicted distribution,
  refined by the mean of the bins around it (`models.number_bins.decode_values`:
  the median minimises |log10 error|; an argmax would pick the spikes that
  zeros and years make), and the sign from the sign logit.
  Zero decodes to the bottom of the window (10**log10_min).
"""
from __future__ import annotations

import torch
from torch import nn

from models.config import NumberConfig
from models.number_bins import decode_values


class NumberHead(nn.Module):
    def __init__(self, hidden_size: int, cfg: NumberConfig):
        super().__init__()
        self.cfg = cfg
        inner = max(1, round(hidden_size * cfg.head_hidden_mult))
        self.wi = nn.Linear(hidden_size, 2 * inner)
        self.act = nn.GELU()
        self.wo = nn.Linear(inner, cfg.n_bins + 1)
        nn.init.normal_(self.wi.weight, std=hidden_size ** -0.5)
        nn.init.zeros_(self.wi.bias)
        nn.init.normal_(self.wo.weight, std=0.02)
        nn.init.zeros_(self.wo.bias)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., H) -> bin logits (..., K) and sign logits (...,); a positive sign logit means negative."""
        a, g = self.wi(hidden).chunk(2, dim=-1)
        out = self.wo(self.act(a) * g)
        return out[..., : self.cfg.n_bins], out[..., self.cfg.n_bins]

    def decode(self, bin_logits: torch.Tensor, sign_logits: torch.Tensor) -> torch.Tensor:
        return decode_values(bin_logits, sign_logits, self.cfg)
