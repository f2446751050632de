"""Batches by token budget: similar lengths together, so little of each batch is padding.

`token_budget_batches` sorts sequences by length (ties in random order),
fills each batch greedily while `batch size x longest sequence` stays within
the budget, then shuffles the order of the batches. Padding waste is the share
of padded positions that hold no token; `padding_report` compares it with
random fixed-size batches of the same mean size.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def token_budget_batches(lengths: Sequence[int], budget: int, rng: np.random.Generator | None = None,
                         shuffle: bool = True) -> list[list[int]]:
    """Index batches whose padded size (count x max length) is at most `budget` tokens.

    A sequence longer than the budget forms a batch of its own.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) == 0:
        return []
    tiebreak = rng.random(len(lengths)) if rng is not None else np.arange(len(lengths))
    order = np.lexsort((tiebreak, lengths))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = int(lengths[i])  # ascending order: the newest is the longest
        if cur and longest * (len(cur) + 1) > budget:
            batches.append(cur)
            cur = []
        cur.append(int(i))
    if cur:
        batches.append(cur)
    if shuffle:
        (rng or np.random.default_rng(0)).shuffle(batches)
    return batches


def fixed_size_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Random batches of `batch_size` (the usual DataLoader with shuffle=True)."""
    perm = rng.permutation(n)
    return [perm[i:i + batch_size].tolist() for i in range(0, n, batch_size)]


def padding_waste(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of padded positions that are padding, over all batches."""
    lengths = np.asarray(lengths, dtype=np.int64)
    real = sum(int(lengths[b].sum()) for b in batches)
    padded = sum(len(b) * int(lengths[b].max()) for b in batches if len(b))
    return 1.0 - real / padded if padded else 0.0


def shard_batches(batches: Sequence[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This worker's batches; every worker gets the same count (the remainder is dropped)."""
    usable = (len(batches) // world_size) * world_size
    return list(batches[:usable][rank::world_size])


def padding_report(lengths: Sequence[int], budget: int, seed: int = 0) -> dict[str, float]:
    """Padding waste of token-budget batches vs random fixed-size batches of the same mean size."""
    rng = np.random.default_rng(seed)
    budget_batches = token_budget_batches(lengths, budget, rng)
    mean_size = max(1, round(len(lengths) / max(1, len(budget_batches))))
    fixed = fixed_size_batches(len(lengths), mean_size, np.random.default_rng(seed))
    return {
        "sequences": len(lengths),
        "token_budget": budget,
        "budget_batches": len(budget_batches),
        "mean_batch_size": len(lengths) / max(1, len(budget_batches)),
        "budget_padding_waste": padding_waste(lengths, budget_batches),
        "fixed_batch_size": mean_size,
        "fixed_padding_waste": padding_waste(lengths, fixed),
    }
