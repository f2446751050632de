"""Pretraining losses, apart from the models: the math is in functions that take tensors.

- Numbers: soft cross-entropy of the head's bin logits against a soft target
  over the log-magnitude bins, either two-hot (the two bins around the value,
  weighted by linear interpolation: the same weights the embedding uses) or
  HL-Gauss (a Gaussian of std `sigma` bin widths integrated over each bin,
  Farebrother et al. 2024). Reported with the *excess* loss, CE minus the
  target's own entropy (= KL(target || prediction) >= 0, zero when perfect),
  because a two-hot target between two bins has CE >= ln 2 even when exact.
- Sign: binary cross-entropy of the sign logit, label 1 for negative values.
- Text: MLM cross-entropy over the selected text positions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.config import NumberConfig
from models.number_bins import bin_centers, bin_position, log_magnitude


def two_hot_target(values: torch.Tensor, cfg: NumberConfig) -> torch.Tensor:
    """(N,) values -> (N, K) targets with mass 1-frac on bin lo and frac on bin lo+1."""
    lo, frac = bin_position(values, cfg)
    target = torch.zeros(values.shape[0], cfg.n_bins, dtype=torch.float32, device=values.device)
    target.scatter_(1, lo[:, None], (1 - frac)[:, None])
    target.scatter_add_(1, (lo + 1)[:, None], frac[:, None])
    return target


def hl_gauss_target(values: torch.Tensor, cfg: NumberConfig) -> torch.Tensor:
    """(N,) values -> (N, K): a Normal(log10|v|, sigma * bin width) integrated over each bin.

    Bin edges lie halfway between centres; the outer bins reach to -inf/+inf,
    so each row sums to 1 exactly.
    """
    x = log_magnitude(values, cfg).to(torch.float64)[:, None]
    centers = bin_centers(cfg, values.device).to(torch.float64)
    half = cfg.bin_width / 2
    inf = torch.tensor([float("inf")], dtype=torch.float64, device=values.device)
    edges = torch.cat([-inf, centers[:-1] + half, inf])  # K + 1 edges
    cdf = torch.special.ndtr((edges[None, :] - x) / (cfg.sigma * cfg.bin_width))
    return (cdf[:, 1:] - cdf[:, :-1]).to(torch.float32)


def number_target(values: torch.Tensor, cfg: NumberConfig) -> torch.Tensor:
    return two_hot_target(values, cfg) if cfg.loss == "two_hot" else hl_gauss_target(values, cfg)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-row -sum_k target_k log softmax(logits)_k."""
    return -(target * F.log_softmax(logits.float(), dim=-1)).sum(-1)


def entropy(target: torch.Tensor) -> torch.Tensor:
    """Per-row entropy of a target distribution (0 log 0 = 0)."""
    return -torch.xlogy(target, target).sum(-1)


@dataclass
class NumberLoss:
    ce: torch.Tensor       # mean soft cross-entropy (differentiable)
    excess: torch.Tensor   # mean CE minus target entropy (detached)


def number_bin_loss(bin_logits: torch.Tensor, values: torch.Tensor, cfg: NumberConfig) -> NumberLoss:
    """Soft CE of (N, K) bin logits against the configured target of (N,) values."""
    if values.numel() == 0:
        zero = bin_logits.sum() * 0.0
        return NumberLoss(zero, zero.detach())
    target = number_target(values, cfg)
    ce = soft_cross_entropy(bin_logits, target)
    return NumberLoss(ce.mean(), (ce - entropy(target)).mean().detach())


def sign_loss(sign_logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """BCE of sign logits; the label is 1 where the value is negative (zero counts as non-negative)."""
    if values.numel() == 0:
        return sign_logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(sign_logits.float(), (values < 0).to(torch.float32))


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean CE of (N, V) logits at the selected text positions against (N,) token ids."""
    if labels.numel() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), labels)


def pretrain_loss(out, cfg: NumberConfig, number_weight: float) -> dict[str, torch.Tensor]:
    """The MLM objective for one batch of `NumberAwareEncoder` outputs (an `MLMOutput`).

    Returns `loss` (to backpropagate) and detached parts for logging:
    `mlm`, `number_ce`, `number_excess`, `sign`, and the counts behind them.
    """
    mlm = mlm_loss(out.mlm_logits, out.mlm_labels)
    num = number_bin_loss(out.bin_logits, out.num_targets, cfg)
    sign = sign_loss(out.sign_logits, out.num_targets)
    total = mlm + number_weight * (num.ce + sign)
    return {
        "loss": total,
        "mlm": mlm.detach(),
        "number_ce": num.ce.detach(),
        "number_excess": num.excess,
        "sign": sign.detach(),
        "n_mlm": torch.tensor(out.mlm_labels.numel()),
        "n_numbers": torch.tensor(out.num_targets.numel()),
    }
