"""Chunk-embedder losses, apart from the models: the math is in functions that take tensors.

- `supervised_contrastive`: the supervised-contrastive form (Khosla et al.
  2020) on L2-normalised vectors: for anchor i with positives P(i) (other
  chunks of its document in the batch) and every other chunk of the batch
  as candidate a != i,
      L_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip / t) / sum_{a != i} exp(s_ia / t) ),
  averaged over anchors that have at least one positive. Several positives per
  anchor enter as one average, not as one softmax per pair with the other
  positives as negatives. The share of anchors with a positive is returned
  with it (the batcher's guarantee makes it 1).
- `view_agreement`: JEPA-style agreement between the views of one document
  (its chunks in the batch): mean squared distance of each view's vector
  from its document's mean vector (LeJEPA's prediction term with the view
  mean as target), over documents with >= 2 views.
- `sigreg`: sketched isotropic Gaussian regularisation (Balestriero & LeCun
  2025): project the vectors on random unit directions and compare each
  projection's empirical characteristic function with the standard normal's,
  Epps-Pulley style: N * integral |phi_N(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt
  (trapezoid rule on [-t_max, t_max]), averaged over directions. Under the
  null it is O(1) whatever N; collapsed vectors give O(N). The directions come
  from a seed, so every DDP rank and a resumed run draw the same ones.
- `semantic_anchor`: distance of the chunk vectors from a frozen sentence
  embedder's vectors of the same chunks (precomputed): `cosine` is the mean
  of 1 - cos(z_i, t_i) (needs equal widths); `relational` is the mean squared
  difference of the two batch cosine-similarity matrices off the diagonal
  (any widths; only the geometry is kept, not the coordinates).
- `embedder_loss`: the decoder's reconstruction (the MLM objective of
  `models.losses.pretrain_loss`) plus the configured embedding term, plus the
  semantic anchor when its weight is positive.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.config import NumberConfig
from models.losses import pretrain_loss


@dataclass
class ContrastiveLoss:
    loss: torch.Tensor            # mean over anchors with a positive (0 with grad if none)
    positive_share: torch.Tensor  # share of anchors with >= 1 positive (detached)
    n_anchors: int


def supervised_contrastive(embeddings: torch.Tensor, groups: torch.Tensor, temperature: float) -> ContrastiveLoss:
    """Supervised-contrastive loss of (N, D) vectors whose positives share a `groups` (N,) id."""
    n = embeddings.shape[0]
    z = F.normalize(embeddings.float(), dim=-1)
    logits = z @ z.T / temperature
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))  # the anchor itself is never a candidate
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (groups[:, None] == groups[None, :]) & ~eye
    n_pos = pos.sum(1)
    has_pos = n_pos > 0
    share = has_pos.float().mean().detach() if n else torch.tensor(0.0)
    if not bool(has_pos.any()):
        return ContrastiveLoss(embeddings.sum() * 0.0, share, n)
    per_anchor = -(log_prob.masked_fill(~pos, 0.0).sum(1)[has_pos] / n_pos[has_pos])
    return ContrastiveLoss(per_anchor.mean(), share, n)


def positive_share(groups: torch.Tensor) -> torch.Tensor:
    """Share of items whose group holds another item of the batch."""
    if groups.numel() == 0:
        return torch.tensor(0.0)
    _, inverse, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    return (counts[inverse] >= 2).float().mean()


def view_agreement(embeddings: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Mean over views of ||z - mean of its group||^2 / D, for groups with >= 2 views (0 if none)."""
    z = embeddings.float()
    _, inverse, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    sums = torch.zeros(len(counts), z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, inverse, z)
    centres = sums / counts[:, None].to(z.dtype)
    keep = counts[inverse] >= 2
    if not bool(keep.any()):
        return embeddings.sum() * 0.0
    return ((z - centres[inverse]) ** 2).mean(-1)[keep].mean()


def random_directions(dim: int, n: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(dim, n) unit columns drawn from a seed (on the CPU, so every device draws the same)."""
    g = torch.Generator().manual_seed(int(seed))
    a = torch.randn(dim, n, generator=g)
    return (a / a.norm(dim=0, keepdim=True)).to(device)


def sigreg(embeddings: torch.Tensor, seed: int, n_projections: int = 256, n_knots: int = 17,
           t_max: float = 5.0) -> torch.Tensor:
    """Sliced Epps-Pulley statistic of (N, D) vectors against N(0, I) (see module docstring)."""
    n, d = embeddings.shape
    x = embeddings.float() @ random_directions(d, n_projections, seed, embeddings.device)  # (N, M)
    t = torch.linspace(-t_max, t_max, n_knots, device=x.device)
    target = torch.exp(-0.5 * t ** 2)                                   # the N(0, 1) characteristic function
    xt = x[:, :, None] * t                                              # (N, M, T)
    re, im = torch.cos(xt).mean(0), torch.sin(xt).mean(0)              # empirical CF, (M, T)
    err = ((re - target) ** 2 + im ** 2) * target                       # weighted by the N(0, 1) density shape
    return torch.trapezoid(err, t, dim=-1).mean() * n


def semantic_anchor(embeddings: torch.Tensor, teacher: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """How far (N, D) vectors are from the teacher's (N, D') vectors of the same items (see module docstring)."""
    z = F.normalize(embeddings.float(), dim=-1)
    t = F.normalize(teacher.float(), dim=-1)
    if kind == "cosine":
        if z.shape != t.shape:
            raise ValueError(f"semantic_loss='cosine' compares vectors coordinate-wise, but the embedder's are "
                             f"{tuple(z.shape)} and the teacher's {tuple(t.shape)}; use semantic_loss='relational'")
        return (1 - (z * t).sum(-1)).mean()
    if kind == "relational":
        n = z.shape[0]
        if n < 2:
            return embeddings.sum() * 0.0
        off = ~torch.eye(n, dtype=torch.bool, device=z.device)
        return ((z @ z.T - t @ t.T)[off] ** 2).mean()
    raise ValueError(f"unknown semantic loss {kind!r}; choose cosine or relational")


def embedder_loss(recon, cls: torch.Tensor, groups: torch.Tensor, cfg, number: NumberConfig,
                  sigreg_seed: int, teacher: torch.Tensor | None = None, view_cls: torch.Tensor | None = None,
                  view_teacher: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Reconstruction (an `MLMOutput` of the decoder) plus the embedding term of `cfg.objective`, plus
    `cfg.semantic_weight` times the semantic anchor to `teacher` (the teacher's vectors of these chunks).
    Sentence views (`view_cls`, with their teacher vectors `view_teacher`) join the anchor's batch:
    one anchor over chunks and views together, so a relational anchor also relates views to chunks.

    `cfg` is an `EmbedderTrainConfig`; returns `loss` and detached parts for logging.
    """
    parts = pretrain_loss(recon, number, cfg.number_loss_weight)
    total = parts["loss"]
    if cfg.objective == "contrastive":
        c = supervised_contrastive(cls, groups, cfg.temperature)
        total = total + cfg.contrastive_weight * c.loss
        parts["contrastive"] = c.loss.detach()
        parts["positive_share"] = c.positive_share
    else:
        agree = view_agreement(cls, groups)
        reg = sigreg(cls, sigreg_seed, cfg.sigreg_projections, cfg.sigreg_knots, cfg.sigreg_t_max)
        total = total + cfg.jepa_weight * ((1 - cfg.sigreg_lambda) * agree + cfg.sigreg_lambda * reg)
        parts["agreement"] = agree.detach()
        parts["sigreg"] = reg.detach()
        parts["positive_share"] = positive_share(groups)
    weight = cfg.semantic_weight
    if weight > 0:
        if teacher is None:
            raise ValueError("semantic_weight > 0 needs the teacher's vectors of the batch's chunks")
        if view_cls is not None and view_cls.shape[0]:
            if view_teacher is None:
                raise ValueError("sentence views need the teacher's vectors of the views (view_teacher)")
            anchor = semantic_anchor(torch.cat([cls, view_cls]), torch.cat([teacher, view_teacher]),
                                     cfg.semantic_loss)
        else:
            anchor = semantic_anchor(cls, teacher, cfg.semantic_loss)
        total = total + weight * anchor
        parts["semantic"] = anchor.detach()
    parts["reconstruction"] = parts["loss"].detach()
    parts["loss"] = total
    return parts
