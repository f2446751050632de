"""MLM masking rates and token-budget batching."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.batching import (fixed_size_batches, padding_report, padding_waste, shard_batches,
                             token_budget_batches)
from models.collator import MLMCollator
from models.config import NumberConfig, TrainConfig
from models.tokenizer import Encoding, pad_encodings

PAD, UNK, CLS, SEP, MASK, NUM = range(6)
VOCAB = 50


def synthetic(n: int, length: int, rng: np.random.Generator) -> list[Encoding]:
    """Sequences of ordinary tokens with every 4th position a number."""
    out = []
    for _ in range(n):
        ids = [CLS] + rng.integers(6, VOCAB, length - 2).tolist() + [SEP]
        vals = [math.nan] * length
        for i in range(2, length - 1, 4):
            ids[i] = NUM
            vals[i] = float(rng.choice([-1, 1]) * 10 ** rng.uniform(-2, 9))
        out.append(Encoding(ids, vals))
    return out


@pytest.fixture(scope="module")
def drawn():
    rng = np.random.default_rng(0)
    enc = synthetic(64, 101, rng) + synthetic(64, 57, rng)
    col = MLMCollator(PAD, MASK, VOCAB, [PAD, CLS, SEP, MASK, NUM], NumberConfig(), unk_token_id=UNK)
    g = torch.Generator().manual_seed(1)
    batches = [col(enc[i:i + 32], g) for i in range(0, 128, 32) for _ in range(10)]
    raw = [col.mask(pad_encodings(enc[i:i + 32], PAD), torch.Generator().manual_seed(0)) for i in range(0, 128, 32)]
    return enc, batches, raw


def test_text_masking_rates(drawn):
    enc, batches, _ = drawn
    sel = masked = randomised = kept = cand = 0
    for i, b in enumerate(batches):
        orig = torch.nn.utils.rnn.pad_sequence(
            [torch.tensor(e.input_ids) for e in enc[(i // 10) * 32:(i // 10) * 32 + 32]], batch_first=True,
            padding_value=PAD)
        is_cand = (b["attention_mask"].bool()) & ~torch.isin(orig, torch.tensor([PAD, CLS, SEP, MASK, NUM]))
        s = b["mlm_labels"] != -100
        assert not (s & ~is_cand).any()                      # only ordinary tokens are selected
        assert torch.equal(b["mlm_labels"][s], orig[s])      # labels are the original ids
        cand += int(is_cand.sum())
        sel += int(s.sum())
        masked += int((b["input_ids"][s] == MASK).sum())
        kept += int((b["input_ids"][s] == orig[s]).sum())
        randomised += int(((b["input_ids"][s] != MASK) & (b["input_ids"][s] != orig[s])).sum())
        assert not torch.isin(b["input_ids"][s], torch.tensor([PAD, UNK, CLS, SEP, NUM])).any()
    assert sel / cand == pytest.approx(0.15, abs=0.01)
    assert masked / sel == pytest.approx(0.8, abs=0.02)
    # a random token equal to the original counts as kept: 10% + 10%/44 vs 10% - 10%/44
    assert kept / sel == pytest.approx(0.1 + 0.1 / 44, abs=0.015)
    assert randomised / sel == pytest.approx(0.1 - 0.1 / 44, abs=0.015)


def test_number_masking_rates(drawn):
    enc, batches, _ = drawn
    sel = hidden = changed = kept = cand = 0
    for i, b in enumerate(batches):
        orig = torch.nn.utils.rnn.pad_sequence(
            [torch.tensor(e.num_values) for e in enc[(i // 10) * 32:(i // 10) * 32 + 32]], batch_first=True,
            padding_value=math.nan)
        s = torch.isfinite(b["num_targets"])
        assert not (s & ~b["num_mask"]).any()
        assert torch.equal(b["num_targets"][s], orig[s])
        assert (b["mlm_labels"][b["num_mask"]] == -100).all()  # numbers are never text targets
        assert (b["input_ids"][b["num_mask"]] == NUM).all()
        cand += int(b["num_mask"].sum())
        sel += int(s.sum())
        hidden += int(b["num_hidden"].sum())
        diff = s & ~b["num_hidden"] & (b["num_values"] != orig)
        changed += int(diff.sum())
        kept += int((s & ~b["num_hidden"] & (b["num_values"] == orig)).sum())
        assert torch.equal(torch.sign(b["num_values"][diff]), torch.sign(orig[diff]))  # sign kept
        assert not (b["num_hidden"] & ~s).any()
    assert sel / cand == pytest.approx(0.15, abs=0.015)
    assert hidden / sel == pytest.approx(0.8, abs=0.03)
    assert changed / sel == pytest.approx(0.1, abs=0.02)
    assert kept / sel == pytest.approx(0.1, abs=0.02)


def test_numbers_can_have_their_own_selection_rate(drawn):
    enc = drawn[0]
    col = MLMCollator(PAD, MASK, VOCAB, [PAD, CLS, SEP, MASK, NUM], NumberConfig(), number_probability=0.5)
    g = torch.Generator().manual_seed(3)
    n_sel = n_cand = t_sel = t_cand = 0
    for i in range(0, 128, 32):
        for _ in range(5):
            b = col(enc[i:i + 32], g)
            n_sel += int(torch.isfinite(b["num_targets"]).sum())
            n_cand += int(b["num_mask"].sum())
            t_sel += int((b["mlm_labels"] != -100).sum())
            t_cand += int((b["attention_mask"].bool() & ~b["num_mask"]).sum()) - 2 * 32  # minus [CLS]/[SEP]
    assert n_sel / n_cand == pytest.approx(0.5, abs=0.03)
    assert t_sel / t_cand == pytest.approx(0.15, abs=0.01)  # text keeps its own rate
    with pytest.raises(ValueError, match="number_mlm_probability"):
        TrainConfig(max_steps=1, lr=1e-3, number_lr=1e-3, token_budget=64, warmup_steps=0,
                    number_mlm_probability=1.5)
    assert TrainConfig(max_steps=1, lr=1e-3, number_lr=1e-3, token_budget=64, warmup_steps=0).number_probability == 0.15


def test_masking_is_a_function_of_the_seed(drawn):
    enc, _, raw = drawn
    col = MLMCollator(PAD, MASK, VOCAB, [PAD, CLS, SEP, MASK, NUM], NumberConfig())
    a = col(enc[:32], torch.Generator().manual_seed(0))
    assert all(torch.equal(a[k], raw[0][k]) or (a[k].isnan() == raw[0][k].isnan()).all() for k in a)
    b = col(enc[:32], torch.Generator().manual_seed(5))
    assert not torch.equal(a["mlm_labels"], b["mlm_labels"])


def test_token_budget_batches_fit_the_budget_and_waste_less():
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 512, 1000)
    batches = token_budget_batches(lengths, 4096, np.random.default_rng(1))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert all(len(b) * lengths[b].max() <= 4096 for b in batches)
    rep = padding_report(lengths, 4096, seed=1)
    assert rep["budget_padding_waste"] < 0.05 < 0.3 < rep["fixed_padding_waste"]
    # a sequence over the budget gets a batch of its own
    assert token_budget_batches([10, 5000, 10], 100, shuffle=False) == [[0, 2], [1]]
    assert padding_waste([2, 4], [[0, 1]]) == pytest.approx(0.25)
    assert len(fixed_size_batches(10, 4, rng)) == 3


def test_shards_are_equal_and_disjoint():
    batches = [[i] for i in range(11)]
    shards = [shard_batches(batches, r, 3) for r in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert len({b[0] for s in shards for b in s}) == 9
