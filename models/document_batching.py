"""Batches of chunks grouped by document, and per-example mask rates for the decoder.

`document_batches` gives every batch at least `min_per_doc` chunks of each of
at least `min_docs` documents (so every anchor of the contrastive loss has a
positive and many negatives) while keeping batches near a token budget with
little padding:
1. Per document, its chunks are ordered by length bucket (`bucket` tokens;
   random order inside a bucket, so pairings change every epoch) and cut into
   consecutive groups of `min_per_doc`..`max_per_doc` chunks. Chunks of
   similar length land in one group. A document with fewer than
   `min_per_doc` chunks cannot give a positive: it is left out (counted).
2. Groups are ordered by their longest chunk's length bucket and, inside a
   bucket, round-robin over documents in random order (so a batch fills
   with distinct documents quickly), then packed greedily: a batch closes when the next group would push
   `chunks x longest chunk` over the budget, but only once it holds
   `min_docs` documents: the document guarantee wins over the budget (the
   report counts batches over budget). A short last batch joins the one
   before it.
3. Batch order is shuffled.
Everything is a function of the `rng` passed in (a batch plan is reproducible).

`VariableRateCollator` is `models.collator.MLMCollator` with a mask rate drawn
per example from U(rate_min, rate_max) (the 80/10/10 split of selected
positions, for text and numbers alike, is the parent's).

Pure numpy/torch: no I/O, no Ray.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from models.batching import padding_waste
from models.collator import MLMCollator


def document_codes(doc_ids: Sequence[str]) -> np.ndarray:
    """Document ids (any hashable) -> int64 codes in order of first appearance."""
    codes: dict = {}
    return np.fromiter((codes.setdefault(d, len(codes)) for d in doc_ids), dtype=np.int64, count=len(doc_ids))


def group_sizes(n: int, min_size: int, max_size: int) -> list[int]:
    """Split n items into groups as equal as possible, each of min_size..max_size.

    When no split fits both bounds (e.g. n=5, 3..4) the lower bound wins:
    fewer, larger groups. n < min_size gives no group.
    """
    if n < min_size:
        return []
    k = math.ceil(n / max_size)
    if n // k < min_size:
        k = n // min_size
    base, extra = divmod(n, k)
    return [base + 1] * extra + [base] * (k - extra)


def _doc_groups(docs: np.ndarray, lengths: np.ndarray, min_per_doc: int, max_per_doc: int, bucket: int,
                rng: np.random.Generator) -> list[np.ndarray]:
    groups: list[np.ndarray] = []
    order = np.argsort(docs, kind="stable")
    bounds = np.flatnonzero(np.diff(docs[order])) + 1
    for idx in np.split(order, bounds):
        if len(idx) < min_per_doc:
            continue
        key = np.lexsort((rng.random(len(idx)), lengths[idx] // bucket))
        idx = idx[key]
        pos = 0
        for size in group_sizes(len(idx), min_per_doc, max_per_doc):
            groups.append(idx[pos:pos + size])
            pos += size
    return groups


def _interleaved_order(length_key: np.ndarray, group_doc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Groups by length bucket; inside a bucket round-robin over documents (one group of each document,
    then the second of each ...), so neighbours come from different documents."""
    shuffled = rng.permutation(len(length_key))
    rank = np.empty(len(length_key), dtype=np.int64)
    seen: dict[tuple[int, int], int] = {}
    for i in shuffled:
        k = (int(length_key[i]), int(group_doc[i]))
        rank[i] = seen.get(k, 0)
        seen[k] = rank[i] + 1
    tiebreak = np.empty(len(length_key))
    tiebreak[shuffled] = np.arange(len(length_key))
    return np.lexsort((tiebreak, rank, length_key))


def document_batches(docs: Sequence[int], lengths: Sequence[int], budget: int, min_per_doc: int = 2,
                     max_per_doc: int = 4, min_docs: int = 4, rng: np.random.Generator | None = None,
                     bucket: int = 32, shuffle: bool = True) -> list[list[int]]:
    """Index batches with >= `min_per_doc` chunks from each of >= `min_docs` documents (see module docstring)."""
    docs = np.asarray(docs, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if docs.shape != lengths.shape:
        raise ValueError(f"{len(docs)} document codes but {len(lengths)} lengths: give one of each per chunk")
    rng = rng if rng is not None else np.random.default_rng(0)
    groups = _doc_groups(docs, lengths, min_per_doc, max_per_doc, max(1, bucket), rng)
    n_docs = len({int(docs[g[0]]) for g in groups})
    if n_docs < min_docs:
        raise ValueError(f"only {n_docs} documents have >= {min_per_doc} chunks, but every batch needs "
                         f"{min_docs} documents: lower min_docs_per_batch / min_chunks_per_doc or add documents")
    longest = np.array([lengths[g].max() for g in groups])
    order = _interleaved_order(longest // max(1, bucket), np.array([docs[g[0]] for g in groups]), rng)
    batches: list[list[int]] = []
    cur: list[int] = []
    cur_docs: set[int] = set()
    cur_max = 0
    for gi in order:
        g = groups[gi]
        new_max = max(cur_max, int(longest[gi]))
        if cur and len(cur_docs) >= min_docs and (len(cur) + len(g)) * new_max > budget:
            batches.append(cur)
            cur, cur_docs, new_max = [], set(), int(longest[gi])
        cur.extend(int(i) for i in g)
        cur_docs.add(int(docs[g[0]]))
        cur_max = new_max
    if cur:
        if len(cur_docs) < min_docs and batches:
            batches[-1].extend(cur)  # too few documents on its own: join the previous batch
        else:
            batches.append(cur)
    if shuffle:
        rng.shuffle(batches)
    return batches


def spread_sample(docs: Sequence[int], max_chunks: int, min_per_doc: int = 2) -> list[int]:
    """Up to `max_chunks` chunk indices spread over as many documents as fit (>= `min_per_doc` each),
    evenly spaced inside each document, documents in order of first appearance: an evaluation subset
    where same-document retrieval and "another document's chunk" mean something."""
    docs = np.asarray(docs, dtype=np.int64)
    order = list(dict.fromkeys(docs.tolist()))
    n_docs = max(1, min(len(order), max_chunks // max(1, min_per_doc)))
    per_doc = max(min_per_doc, max_chunks // n_docs)
    keep: list[int] = []
    for d in order[:n_docs]:
        idx = np.flatnonzero(docs == d)
        if len(idx) > per_doc:
            idx = idx[np.unique(np.round(np.linspace(0, len(idx) - 1, per_doc)).astype(np.int64))]
        keep.extend(idx.tolist())
    return keep[:max_chunks]


def batch_report(docs: Sequence[int], lengths: Sequence[int], batches: Sequence[Sequence[int]],
                 budget: int) -> dict[str, float]:
    """What a batch plan achieves: positives, documents and chunks per batch, padding, budget."""
    docs = np.asarray(docs, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    anchors = with_pos = 0
    docs_per_batch: list[int] = []
    min_chunks_per_doc = math.inf
    over = 0
    for b in batches:
        b = np.asarray(b, dtype=np.int64)
        _, counts = np.unique(docs[b], return_counts=True)
        anchors += len(b)
        with_pos += int(counts[counts >= 2].sum())
        docs_per_batch.append(len(counts))
        min_chunks_per_doc = min(min_chunks_per_doc, int(counts.min()))
        over += int(len(b) * lengths[b].max() > budget)
    used = sum(len(b) for b in batches)
    return {
        "batches": len(batches),
        "chunks_used": used,
        "chunks_total": len(docs),
        "positive_share": with_pos / anchors if anchors else 0.0,
        "padding_waste": padding_waste(lengths, batches),
        "mean_docs_per_batch": float(np.mean(docs_per_batch)) if docs_per_batch else 0.0,
        "min_docs_per_batch": min(docs_per_batch) if docs_per_batch else 0,
        "min_chunks_per_doc": 0 if min_chunks_per_doc is math.inf else min_chunks_per_doc,
        "mean_chunks_per_batch": used / len(batches) if batches else 0.0,
        "over_budget_batches": over,
    }


class VariableRateCollator(MLMCollator):
    """MLM masking with each example's rate drawn from U(rate_min, rate_max) (rate_min == rate_max: fixed)."""

    def __init__(self, *args, rate_min: float, rate_max: float, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0 < rate_min <= rate_max < 1:
            raise ValueError(f"mask rates {rate_min}..{rate_max} must satisfy 0 < min <= max < 1")
        self.rate_min, self.rate_max = rate_min, rate_max

    @classmethod
    def for_tokenizer(cls, tokenizer, number, rate_min: float, rate_max: float, mask_ratio: float = 0.8,
                      random_ratio: float = 0.1) -> VariableRateCollator:
        return cls(tokenizer.pad_token_id, tokenizer.mask_token_id, len(tokenizer), tokenizer.never_mask_ids,
                   number, 0.5, mask_ratio, random_ratio, unk_token_id=tokenizer.hf.unk_token_id,
                   rate_min=rate_min, rate_max=rate_max)

    def selection_rate(self, numbers: bool) -> torch.Tensor:
        # this batch's per-row rates in place of one probability, for text and numbers alike
        return self._rates

    def mask(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
        n = batch["input_ids"].shape[0]
        # (n, 1): one rate per example, shared by its text tokens and its numbers
        self._rates = self.rate_min + (self.rate_max - self.rate_min) * torch.rand(n, 1, generator=generator)
        return super().mask(batch, generator)
