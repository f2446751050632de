"""Embedder losses: supervised contrastive against a hand computation, view agreement, SIGReg, the sum."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.config import NumberConfig
from models.embedder_config import EmbedderTrainConfig
from models.embedding_losses import (embedder_loss, positive_share, semantic_anchor, sigreg,
                                     supervised_contrastive, view_agreement)
from models.encoder import MLMOutput

X = np.array([[1.0, 0.0, 0.0, 0.0],
              [0.8, 0.6, 0.0, 0.0],
              [0.0, 0.0, 2.0, 0.0],
              [0.0, 1.0, 1.0, 1.0]])


def supcon_by_hand(x: np.ndarray, groups: list[int], t: float) -> float:
    """The supervised-contrastive loss written out anchor by anchor, positive by positive."""
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    total, anchors = 0.0, 0
    for i in range(len(z)):
        positives = [p for p in range(len(z)) if p != i and groups[p] == groups[i]]
        if not positives:
            continue
        den = sum(math.exp(z[i] @ z[a] / t) for a in range(len(z)) if a != i)
        total += -sum(math.log(math.exp(z[i] @ z[p] / t) / den) for p in positives) / len(positives)
        anchors += 1
    return total / anchors


def test_contrastive_loss_equals_the_hand_computed_value_on_4x4():
    groups = [0, 0, 1, 1]
    # the same numbers written out for the first anchor, to pin the formula itself:
    # z0 = (1,0,0,0), z1 = (.8,.6,0,0), z2 = (0,0,1,0), z3 = (0,1,1,1)/sqrt(3); t = 0.5
    # s01 = .8, s02 = 0, s03 = 0  ->  L0 = -log(e^1.6 / (e^1.6 + 1 + 1)) = -log(4.953 / 6.953)
    l0 = -math.log(math.exp(1.6) / (math.exp(1.6) + 2.0))
    assert l0 == pytest.approx(0.3392, abs=1e-4)
    expected = supcon_by_hand(X, groups, 0.5)
    got = supervised_contrastive(torch.tensor(X, dtype=torch.float32), torch.tensor(groups), 0.5)
    assert float(got.loss) == pytest.approx(expected, rel=1e-5)
    assert float(got.positive_share) == 1.0 and got.n_anchors == 4
    # multiple positives per anchor and one anchor without any
    groups3 = [0, 0, 0, 1]
    got3 = supervised_contrastive(torch.tensor(X, dtype=torch.float32), torch.tensor(groups3), 0.1)
    assert float(got3.loss) == pytest.approx(supcon_by_hand(X, groups3, 0.1), rel=1e-5)
    assert float(got3.positive_share) == 0.75


def test_contrastive_loss_prefers_documents_apart_and_has_gradients():
    groups = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[1.0, 0.1], [1.0, -0.1], [-1.0, 0.1], [-1.0, -0.1]])
    bad = good[[0, 2, 1, 3]]  # same vectors, documents mixed up
    assert float(supervised_contrastive(good, groups, 0.1).loss) < float(supervised_contrastive(bad, groups, 0.1).loss)
    x = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    supervised_contrastive(x, groups, 0.5).loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    none = supervised_contrastive(x, torch.tensor([0, 1, 2, 3]), 0.5)  # nobody has a positive
    assert float(none.loss.detach()) == 0.0 and float(none.positive_share) == 0.0


def test_view_agreement_and_positive_share_by_hand():
    z = torch.tensor([[0.0, 2.0], [2.0, 0.0], [5.0, 5.0]])
    # group 0: centre (1, 1): squared distances 2 and 2, / D=2 -> 1 each; group 1 has one view (left out)
    assert float(view_agreement(z, torch.tensor([0, 0, 1]))) == pytest.approx(1.0)
    assert float(positive_share(torch.tensor([0, 0, 1]))) == pytest.approx(2 / 3)


def test_sigreg_is_small_for_gaussian_samples_and_large_for_collapsed_ones():
    g = torch.Generator().manual_seed(0)
    gauss = torch.randn(512, 32, generator=g)
    collapsed = torch.ones(512, 32) * 0.3 + 0.01 * torch.randn(512, 32, generator=g)
    wide = 4.0 * torch.randn(512, 32, generator=g)
    low_rank = torch.randn(512, 2, generator=g) @ torch.randn(2, 32, generator=g)
    s = {name: float(sigreg(x, seed=7, n_projections=128)) for name, x in
         (("gauss", gauss), ("collapsed", collapsed), ("wide", wide), ("low_rank", low_rank))}
    print({k: round(v, 2) for k, v in s.items()})
    assert s["gauss"] < 3.0                    # O(1) under the null, whatever N
    assert s["collapsed"] > 100 * s["gauss"]   # O(N) when every vector is the same
    assert s["wide"] > 10 * s["gauss"] and s["low_rank"] > 5 * s["gauss"]
    assert float(sigreg(gauss, seed=7, n_projections=128)) == s["gauss"]  # the directions come from the seed
    x = collapsed.clone().requires_grad_(True)
    sigreg(x, seed=1).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def fake_decoder_output(n_text: int = 6, n_num: int = 3, vocab: int = 11, bins: int = 16) -> MLMOutput:
    g = torch.Generator().manual_seed(3)
    return MLMOutput(hidden=torch.zeros(1, 1, 4), mlm_logits=torch.randn(n_text, vocab, generator=g),
                     mlm_labels=torch.randint(vocab, (n_text,), generator=g),
                     bin_logits=torch.randn(n_num, bins, generator=g), sign_logits=torch.randn(n_num, generator=g),
                     num_targets=torch.tensor([12.5, -3e6, 0.25])[:n_num])


@pytest.mark.parametrize("objective", ["contrastive", "sigreg"])
def test_embedder_loss_adds_the_configured_term_to_the_reconstruction(objective):
    cfg = EmbedderTrainConfig(max_steps=1, lr=1e-3, number_lr=1e-3, token_budget=64, warmup_steps=0,
                              objective=objective, contrastive_weight=0.5, jepa_weight=2.0, sigreg_lambda=0.1,
                              sigreg_projections=16)
    number = NumberConfig(n_bins=16)
    cls = torch.tensor(X, dtype=torch.float32)
    groups = torch.tensor([0, 0, 1, 1])
    parts = embedder_loss(fake_decoder_output(), cls, groups, cfg, number, sigreg_seed=5)
    if objective == "contrastive":
        term = 0.5 * float(supervised_contrastive(cls, groups, cfg.temperature).loss)
    else:
        term = 2.0 * (0.9 * float(view_agreement(cls, groups)) + 0.1 * float(sigreg(cls, 5, 16)))
    assert float(parts["loss"]) == pytest.approx(float(parts["reconstruction"]) + term, rel=1e-5)
    assert float(parts["reconstruction"]) > 0 and float(parts["positive_share"]) == 1.0


def test_semantic_anchor_cosine_and_relational_by_hand():
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    t = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    # cosine: 1 - cos((1,0),(1,1)/sqrt2) = 1 - 1/sqrt2; 1 - cos((0,1),(0,1)) = 0
    assert float(semantic_anchor(z, t, "cosine")) == pytest.approx((1 - 1 / math.sqrt(2)) / 2, rel=1e-6)
    # relational: student cos(z0, z1) = 0, teacher cos = 1/sqrt2; two off-diagonal entries, same error
    assert float(semantic_anchor(z, t, "relational")) == pytest.approx(0.5, rel=1e-6)
    wide = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])   # the same geometry in 3 dimensions
    assert float(semantic_anchor(z, wide, "relational")) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="relational"):
        semantic_anchor(z, wide, "cosine")


def test_embedder_loss_adds_the_weighted_semantic_anchor():
    cfg = EmbedderTrainConfig(max_steps=1, lr=1e-3, number_lr=1e-3, token_budget=64, warmup_steps=0,
                              semantic_weight=0.7)
    cls = torch.tensor(X, dtype=torch.float32)
    teacher = torch.tensor(X[::-1].copy(), dtype=torch.float32)
    groups = torch.tensor([0, 0, 1, 1])
    parts = embedder_loss(fake_decoder_output(), cls, groups, cfg, NumberConfig(n_bins=16), 5, teacher=teacher)
    contrastive = float(supervised_contrastive(cls, groups, cfg.temperature).loss)
    anchor = float(semantic_anchor(cls, teacher))
    assert anchor > 0.1 and float(parts["semantic"]) == pytest.approx(anchor)
    assert float(parts["loss"]) == pytest.approx(float(parts["reconstruction"]) + contrastive + 0.7 * anchor, rel=1e-5)
    with pytest.raises(ValueError, match="teacher"):
        embedder_loss(fake_decoder_output(), cls, groups, cfg, NumberConfig(n_bins=16), 5)
    with pytest.raises(ValueError, match="semantic_loss"):
        EmbedderTrainConfig(max_steps=1, lr=1e-3, number_lr=1e-3, token_budget=64, warmup_steps=0,
                            semantic_loss="l2")


def test_sentence_views_join_the_anchors_batch():
    cfg = EmbedderTrainConfig(max_steps=1, lr=1e-3, number_lr=1e-3, token_budget=64, warmup_steps=0,
                              semantic_weight=0.5, semantic_loss="relational")
    cls = torch.tensor(X, dtype=torch.float32)
    teacher = torch.tensor(X[::-1].copy(), dtype=torch.float32)
    views, view_teacher = torch.randn(3, cls.shape[1], generator=torch.Generator().manual_seed(1)), teacher[:3]
    groups = torch.tensor([0, 0, 1, 1])
    parts = embedder_loss(fake_decoder_output(), cls, groups, cfg, NumberConfig(n_bins=16), 5, teacher=teacher,
                          view_cls=views, view_teacher=view_teacher)
    joint = float(semantic_anchor(torch.cat([cls, views]), torch.cat([teacher, view_teacher]), "relational"))
    assert float(parts["semantic"]) == pytest.approx(joint)
    assert joint != pytest.approx(float(semantic_anchor(cls, teacher, "relational")))
    with pytest.raises(ValueError, match="view_teacher"):
        embedder_loss(fake_decoder_output(), cls, groups, cfg, NumberConfig(n_bins=16), 5, teacher=teacher,
                      view_cls=views)
    with pytest.raises(ValueError, match="semantic_weight"):
        EmbedderTrainConfig(max_steps=1, lr=1e-3, number_lr=1e-3, token_budget=64, warmup_steps=0,
                            semantic_sentences=8)
