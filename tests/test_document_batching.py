"""Document batches: the positive/document guarantees on random document mixes, budget, padding; mask rates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.batching import fixed_size_batches, padding_waste
from models.config import NumberConfig
from models.document_batching import (VariableRateCollator, batch_report, document_batches, document_codes,
                                      group_sizes, spread_sample)
from models.tokenizer import Encoding


def random_mix(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Documents of 1-60 chunks (some single-chunk ones), mostly long chunks with a short tail, shuffled."""
    rng = np.random.default_rng(seed)
    n_docs = int(rng.integers(6, 40))
    sizes = rng.integers(1, 60, n_docs)
    docs = np.repeat(np.arange(n_docs), sizes)
    lengths = np.where(rng.random(len(docs)) < 0.7, 512, rng.integers(8, 512, len(docs)))
    perm = rng.permutation(len(docs))
    return docs[perm], lengths[perm]


def test_group_sizes_respect_both_bounds_when_possible():
    assert group_sizes(1, 2, 4) == []
    assert group_sizes(5, 2, 4) == [3, 2]
    assert group_sizes(8, 2, 4) == [4, 4]
    assert group_sizes(9, 2, 4) == [3, 3, 3]
    assert group_sizes(5, 3, 4) == [5]  # no split fits 3..4: the lower bound wins
    for n in range(2, 80):
        g = group_sizes(n, 2, 4)
        assert sum(g) == n and min(g) >= 2 and max(g) <= 4


@pytest.mark.parametrize("p_min,p_max,d_min", [(2, 4, 4), (2, 2, 2), (3, 4, 6)])
def test_every_batch_meets_the_document_guarantees_on_random_mixes(p_min, p_max, d_min):
    budget = 16384
    ratios = []
    for seed in range(25):
        docs, lengths = random_mix(seed)
        counts = np.bincount(docs)
        eligible = np.flatnonzero(counts >= p_min)
        if len(eligible) < d_min:
            with pytest.raises(ValueError, match="documents have"):
                document_batches(docs, lengths, budget, p_min, p_max, d_min, np.random.default_rng(seed))
            continue
        batches = document_batches(docs, lengths, budget, p_min, p_max, d_min, np.random.default_rng(seed))
        used = np.concatenate(batches)
        # every chunk of an eligible document exactly once; documents too short for a positive left out
        assert sorted(used.tolist()) == sorted(np.flatnonzero(np.isin(docs, eligible)).tolist()), seed
        for b in batches:
            per_doc = np.bincount(docs[b])
            per_doc = per_doc[per_doc > 0]
            assert len(per_doc) >= d_min, (seed, b)
            assert per_doc.min() >= p_min, (seed, b)
        rep = batch_report(docs, lengths, batches, budget)
        assert rep["positive_share"] == 1.0 and rep["min_docs_per_batch"] >= d_min
        if len(eligible) >= 3 * d_min:
            # near the budget: the guarantee may push a batch over by the few groups it needed (with
            # barely d_min documents every batch needs all of them and must grow instead)
            padded = [len(b) * lengths[b].max() for b in batches]
            assert max(padded) <= budget + d_min * (p_max + p_min) * 512, seed
            assert rep["over_budget_batches"] <= max(1, len(batches) // 5), (seed, rep)
        # little padding: below random batches of the same mean size (the two-chunks-of-one-document
        # constraint pairs a document's short chunks with each other, whatever their lengths)
        fixed = fixed_size_batches(len(used), max(1, round(len(used) / len(batches))), np.random.default_rng(0))
        ratios.append(rep["padding_waste"] / padding_waste(lengths[used], fixed))
        assert ratios[-1] < 0.95, (seed, rep)
    assert np.mean(ratios) < 0.6, ratios


def test_batches_are_a_function_of_the_seed_and_change_between_epochs():
    docs, lengths = random_mix(3)
    a = document_batches(docs, lengths, 8192, rng=np.random.default_rng(1))
    b = document_batches(docs, lengths, 8192, rng=np.random.default_rng(1))
    c = document_batches(docs, lengths, 8192, rng=np.random.default_rng(2))
    assert a == b and a != c


def test_document_codes_and_input_errors():
    assert document_codes(["b", "a", "b", "c"]).tolist() == [0, 1, 0, 2]
    with pytest.raises(ValueError, match="lengths"):
        document_batches([0, 0, 1], [5, 5], 100)
    with pytest.raises(ValueError, match="min_docs_per_batch"):
        document_batches([0, 0, 1, 1], [5, 5, 5, 5], 100, min_docs=3)


def test_evaluation_sample_spreads_over_documents():
    docs = np.repeat([0, 1, 2, 3], [200, 50, 3, 1])
    keep = spread_sample(docs, 40, min_per_doc=2)
    assert len(keep) <= 40 and sorted(set(docs[keep].tolist())) == [0, 1, 2, 3]
    first = [i for i in keep if docs[i] == 0]
    assert len(first) == 10 and first[0] == 0 and first[-1] == 199  # evenly over the whole document
    many = spread_sample(np.repeat(np.arange(100), 5), 40, min_per_doc=2)
    assert len(many) == 40 and len(set(np.repeat(np.arange(100), 5)[many].tolist())) == 20


def collator(rate_min: float, rate_max: float) -> VariableRateCollator:
    # ids: 0 pad, 1 cls, 2 sep, 3 mask, 4 [NUM]; 5.. ordinary tokens
    return VariableRateCollator(0, 3, 50, [0, 1, 2, 3, 4], NumberConfig(), 0.5, 0.8, 0.1,
                                rate_min=rate_min, rate_max=rate_max)


def long_encodings(n: int, length: int = 400) -> list[Encoding]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        ids = [1] + rng.integers(5, 50, length).tolist() + [2]
        vals = [float("nan")] * len(ids)
        for j in range(10, length, 10):  # every tenth token is a number
            ids[j], vals[j] = 4, float(rng.integers(1, 10_000))
        out.append(Encoding(ids, vals))
    return out


def test_mask_rate_is_drawn_per_example_with_80_10_10():
    enc = long_encodings(64)
    b = collator(0.15, 0.85)(enc, torch.Generator().manual_seed(0))
    text = b["mlm_labels"] != -100
    cand = (b["attention_mask"].bool() & ~b["num_mask"]).sum(1) - 2
    per_row = text.sum(1) / cand
    assert 0.12 < float(per_row.min()) and float(per_row.max()) < 0.88
    assert float(per_row.std()) > 0.12  # U(.15, .85) has std .2: rates differ between examples
    nums = torch.isfinite(b["num_targets"])
    per_row_num = nums.sum(1) / b["num_mask"].sum(1)
    assert float(torch.corrcoef(torch.stack([per_row, per_row_num]))[0, 1]) > 0.7  # one rate per example
    # 80/10/10 of the selected text positions
    orig = torch.nn.utils.rnn.pad_sequence([torch.tensor(e.input_ids) for e in enc], batch_first=True)
    masked = (b["input_ids"] == 3) & text
    kept = (b["input_ids"] == orig) & text
    assert abs(float(masked.sum() / text.sum()) - 0.8) < 0.02
    assert abs(float(kept.sum() / text.sum()) - 0.1) < 0.02 + 1 / 45  # random ids may hit the original
    hidden = b["num_hidden"].sum() / nums.sum()
    assert abs(float(hidden) - 0.8) < 0.03
    fixed = collator(0.5, 0.5)(enc, torch.Generator().manual_seed(1))
    fixed_rows = (fixed["mlm_labels"] != -100).sum(1) / cand
    assert abs(float(fixed_rows.mean()) - 0.5) < 0.02 and float(fixed_rows.std()) < 0.05
