"""PCA whitening of embedding vectors: centre, rotate onto the principal axes, scale each to unit variance.

Used by the embedding benchmarks (geometry after whitening) and by the growth regressions, which fit a
whitening on a store's chunk vectors (no labels) so that a ridge penalises every direction of the
embedding space alike, rather than shrinking most the rare directions a one-sentence cue may live in.
Pure numpy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WHITENING_REL_EPS = 1e-6      # eigenvalues below this share of the largest count as zero (rank)


@dataclass(frozen=True)
class Whitening:
    """PCA whitening: z = (x - mean) @ matrix has identity covariance on the `rank` kept components."""
    mean: np.ndarray
    matrix: np.ndarray      # (d, rank)

    @property
    def rank(self) -> int:
        return int(self.matrix.shape[1])

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.matrix


def fit_whitening(x: np.ndarray, rel_eps: float = WHITENING_REL_EPS) -> Whitening:
    """Whitening fitted on `x`; components with variance below rel_eps x the largest are dropped."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"whitening needs at least 2 vectors as an (n, d) array, got shape {x.shape}")
    mean = x.mean(axis=0)
    _u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    lam = s ** 2 / (x.shape[0] - 1)
    keep = lam > rel_eps * lam[0] if lam[0] > 0 else np.zeros_like(lam, dtype=bool)
    return Whitening(mean, vt[keep].T / np.sqrt(lam[keep]))
