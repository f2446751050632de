"""Regression toolkit for growth labels: fits, company-aware splits, metrics with bootstrap CIs.

numpy and scipy only; arrays in, arrays and small dataclasses out. Label
tables are read through `np.asarray(labels[column])`, so a `pyarrow.Table`, a
pandas frame or a dict of arrays all work.

Design choices:
- Ridge standardises the features inside the fit (train mean and standard
  deviation) and centres y, so the penalty is scale-free and the intercept is
  never penalised; coefficients are returned on the original scale. With
  more rows than features it solves the primal normal equations
  (Z'Z + aI) b = Z'y; with fewer (embeddings of a few hundred companies) it
  uses the thin SVD of Z, b = V diag(s / (s^2 + a)) U'y: exact, and it costs
  O(n^2 d) instead of O(d^3). `ridge_cv` reuses one SVD per fold for every alpha.
- Splits never put one company on both sides (`company_kfold`): windows of one
  company share its history, so row-level folds overstate skill.
  `walk_forward` trains on windows that ended by the end of year T and tests on
  windows that start after it, so no test window overlaps training time.
- Bootstrap intervals resample companies when `groups` are given (their
  windows are correlated). Resamples are multinomial weights on rows, so every
  metric is a weighted statistic, computed for a block of resamples at once
  (vectorised); Spearman uses weighted mid-ranks, which equal the ranks of the
  replicated sample. Percentile and BCa (jackknife acceleration over the same
  resampling units) intervals are offered.
- A fitter is any callable `fit(X, y, groups) -> model` whose model has
  `predict(X)`; baselines (training mean, persistence, facts-only ridge) are
  fitters too, so `evaluate` treats every model alike and uses one set of
  bootstrap resamples for all of them (their intervals are comparable).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy import linalg, stats

# -- fits ------------------------------------------------------------------------------


class Model(Protocol):
    def predict(self, X: np.ndarray) -> np.ndarray: ...


Fitter = Callable[[np.ndarray, np.ndarray, np.ndarray], Model]


def _as_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D (rows, features) array, got shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one value per row of X: X has {X.shape[0]} rows, "
                         f"y has shape {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("no rows to fit: X is empty")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"X has {int(np.sum(~np.isfinite(X)))} NaN/inf values; impute them first "
                         f"(wrap the fitter in Imputed(...))")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y has {int(np.sum(~np.isfinite(y)))} NaN/inf values; drop those rows")
    return X, y


@dataclass(frozen=True)
class LinearModel:
    coef: np.ndarray
    intercept: float

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape[1] != self.coef.shape[0]:
            raise ValueError(f"X has {X.shape[1]} features but the model was fitted on {self.coef.shape[0]}")
        return X @ self.coef + self.intercept


@dataclass(frozen=True)
class RidgeModel(LinearModel):
    alpha: float = 0.0
    solver: str = "primal"           # primal or dual (SVD)


def predict(model: Model, X: Any) -> np.ndarray:
    return model.predict(X)


ridge_predict = predict
ols_predict = predict


def ols_fit(X: Any, y: Any) -> LinearModel:
    """Least squares with an intercept (minimum-norm solution when X is rank-deficient)."""
    X, y = _as_xy(X, y)
    A = np.column_stack([np.ones(X.shape[0]), X])
    beta, *_ = np.linalg.lstsq(A, y, rcond=None)
    return LinearModel(beta[1:], float(beta[0]))


@dataclass(frozen=True)
class _Standardised:
    Z: np.ndarray
    y: np.ndarray
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float


def _standardise(X: np.ndarray, y: np.ndarray) -> _Standardised:
    x_mean = X.mean(axis=0)
    x_scale = X.std(axis=0)
    # A constant column centres to zero and gets a zero coefficient; scale 1 avoids 0/0.
    x_scale = np.where(x_scale > 1e-12 * np.maximum(1.0, np.abs(x_mean)), x_scale, 1.0)
    y_mean = float(y.mean())
    return _Standardised((X - x_mean) / x_scale, y - y_mean, x_mean, x_scale, y_mean)


def _unstandardise(s: _Standardised, b: np.ndarray, alpha: float, solver: str) -> RidgeModel:
    coef = b / s.x_scale
    return RidgeModel(coef, float(s.y_mean - s.x_mean @ coef), float(alpha), solver)


def _svd_coef(U: np.ndarray, sv: np.ndarray, Vt: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Ridge coefficients for each alpha from a thin SVD: (d, len(alphas))."""
    Uty = U.T @ y
    s2 = sv ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(s2[:, None] + alphas[None, :] > 0, sv[:, None] / (s2[:, None] + alphas[None, :]), 0.0)
    # alpha = 0: pseudo-inverse; drop numerically null directions
    shrink[sv <= sv.max(initial=0.0) * max(U.shape) * np.finfo(float).eps] = 0.0
    return Vt.T @ (shrink * Uty[:, None])


def ridge_fit(X: Any, y: Any, alpha: float, solver: str = "auto") -> RidgeModel:
    """Ridge regression on standardised X with an unpenalised intercept.

    solver: "primal" (normal equations, d x d), "dual" (thin SVD, exact for
    n < d), or "auto" (dual when rows < features).
    """
    X, y = _as_xy(X, y)
    if not (math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"ridge alpha must be a finite number >= 0, got {alpha!r}")
    n, d = X.shape
    if solver == "auto":
        solver = "dual" if n < d else "primal"
    s = _standardise(X, y)
    if solver == "primal" and alpha == 0:
        b, *_ = np.linalg.lstsq(s.Z, s.y, rcond=None)  # Z'Z may be singular: least squares
    elif solver == "primal":
        b = linalg.solve(s.Z.T @ s.Z + alpha * np.eye(d), s.Z.T @ s.y, assume_a="pos")
    elif solver == "dual":
        U, sv, Vt = linalg.svd(s.Z, full_matrices=False)
        b = _svd_coef(U, sv, Vt, s.y, np.array([float(alpha)]))[:, 0]
    else:
        raise ValueError(f"unknown ridge solver {solver!r}; use 'auto', 'primal' or 'dual'")
    return _unstandardise(s, b, alpha, solver)


@dataclass(frozen=True)
class RidgeCVResult:
    model: RidgeModel                # refitted on all rows with the chosen alpha
    alpha: float
    alphas: np.ndarray
    cv_mse: np.ndarray               # pooled out-of-fold mean squared error per alpha

    def predict(self, X: Any) -> np.ndarray:
        return self.model.predict(X)


def ridge_cv(X: Any, y: Any, alphas: Sequence[float], groups: Any, k: int = 5, seed: int = 0) -> RidgeCVResult:
    """Choose alpha by company (group) k-fold CV on pooled out-of-fold MSE, then refit on all rows.

    Ties go to the larger alpha (the simpler model). Standardisation is redone
    on every training fold, as in the final fit.
    """
    X, y = _as_xy(X, y)
    grid = np.asarray(sorted({float(a) for a in alphas}), dtype=np.float64)
    if grid.size == 0 or np.any(~np.isfinite(grid)) or np.any(grid < 0):
        raise ValueError(f"alphas must be a non-empty list of finite numbers >= 0, got {list(alphas)!r}")
    split = company_kfold(groups, k, seed)
    sse = np.zeros(grid.size)
    for fold in split.folds:
        s = _standardise(X[fold.train], y[fold.train])
        U, sv, Vt = linalg.svd(s.Z, full_matrices=False)
        B = _svd_coef(U, sv, Vt, s.y, grid)                     # (d, alphas)
        Zt = (X[fold.test] - s.x_mean) / s.x_scale
        pred = Zt @ B + s.y_mean                               # (test, alphas)
        sse += ((pred - y[fold.test, None]) ** 2).sum(axis=0)
    mse = sse / len(y)
    best = int(np.flatnonzero(mse <= mse.min() * (1 + 1e-12))[-1])
    return RidgeCVResult(ridge_fit(X, y, grid[best]), float(grid[best]), grid, mse)


# -- splits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    train: np.ndarray                # row indices
    test: np.ndarray


@dataclass(frozen=True)
class Split:
    name: str
    folds: tuple[Fold, ...]


def company_kfold(groups: Any, k: int = 5, seed: int = 0) -> Split:
    """k folds with every company's rows in exactly one test fold; fold sizes balanced greedily."""
    g = np.asarray(groups)
    if g.ndim != 1 or g.size == 0:
        raise ValueError(f"groups must be a non-empty 1-D array (one company id per row), got shape {g.shape}")
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be a whole number >= 2, got {k!r}")
    uniq, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    if uniq.size < k:
        raise ValueError(f"{uniq.size} companies cannot fill {k} company-disjoint folds; use k <= {uniq.size}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(uniq.size)
    order = order[np.argsort(-counts[order], kind="stable")]   # largest first, random among equals
    fold_of = np.empty(uniq.size, dtype=np.int64)
    sizes = np.zeros(k, dtype=np.int64)
    for gi in order:
        f = int(np.argmin(sizes))
        fold_of[gi] = f
        sizes[f] += counts[gi]
    row_fold = fold_of[inverse]
    idx = np.arange(g.size)
    folds = tuple(Fold(idx[row_fold != f], idx[row_fold == f]) for f in range(k))
    return Split(f"company-{k}fold", folds)


def _times(times: Any) -> tuple[np.ndarray, np.ndarray]:
    """(window_start, window_end) as datetime64[D] arrays from a pair, an (n, 2) array or a label table."""
    if isinstance(times, tuple) and len(times) == 2:
        start, end = times
    elif not isinstance(times, (np.ndarray, list)) and hasattr(times, "__getitem__"):
        start, end = times["window_start"], times["window_end"]  # a label table
    else:
        arr = np.asarray(times)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError("times must be (window_start, window_end) arrays, an (n, 2) array of dates, "
                             "or a table with window_start and window_end columns")
        start, end = arr[:, 0], arr[:, 1]
    start = np.asarray(start).astype("datetime64[D]")
    end = np.asarray(end).astype("datetime64[D]")
    if start.shape != end.shape or start.ndim != 1:
        raise ValueError(f"window starts and ends must be 1-D and the same length, got {start.shape} and {end.shape}")
    if np.any(np.isnat(start)) or np.any(np.isnat(end)):
        raise ValueError("times contain missing dates; every window needs a start and an end")
    return start, end


def walk_forward(times: Any, years: Sequence[int]) -> list[Split]:
    """One split per year T: train on windows ending on or before 31 Dec T, test on windows starting after.

    Years whose train or test side would be empty are left out; raises when
    every requested year is.
    """
    start, end = _times(times)
    idx = np.arange(start.size)
    splits = []
    for T in sorted({int(t) for t in years}):
        cut = np.datetime64(f"{T + 1:04d}-01-01", "D")
        train, test = idx[end < cut], idx[start >= cut]
        if train.size and test.size:
            splits.append(Split(f"walk-forward-{T}", (Fold(train, test),)))
    if not splits:
        raise ValueError(f"walk_forward: no year in {sorted(years)} has both windows ending by it and windows "
                         f"starting after it (window ends {end.min()}..{end.max()}, starts "
                         f"{start.min()}..{start.max()}); pick cut years inside that range")
    return splits


# -- metrics ---------------------------------------------------------------------------
# Each metric takes y_true, y_pred (n,) and optional weights (B, n) and returns
# a float (no weights) or one value per weight row.

def _weights_2d(n: int, w: np.ndarray | None) -> np.ndarray:
    return np.ones((1, n)) if w is None else np.atleast_2d(np.asarray(w, dtype=np.float64))


def _finish(v: np.ndarray, w: np.ndarray | None) -> Any:
    return float(v[0]) if w is None else v


_FLAT = 1e-24     # relative variance below which a side counts as constant (float64 rounding is ~1e-32)


def _wpearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    W = w.sum(axis=-1, keepdims=True)
    xc = x - (w * x).sum(axis=-1, keepdims=True) / W
    yc = y - (w * y).sum(axis=-1, keepdims=True) / W
    sxy = (w * xc * yc).sum(axis=-1)
    sxx = (w * xc * xc).sum(axis=-1)
    syy = (w * yc * yc).sum(axis=-1)
    # a constant side (up to rounding of its mean) has no correlation: NaN, not the noise of the rounding
    flat = (sxx <= _FLAT * (w * x * x).sum(axis=-1)) | (syy <= _FLAT * (w * y * y).sum(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, np.nan, sxy / np.sqrt(sxx * syy))


def _wmidranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Ranks of x in the sample that repeats row i w[b, i] times (mid-ranks for ties): (B, n)."""
    uniq, inverse = np.unique(x, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    block_w = np.add.reduceat(w[:, order], starts, axis=1)         # (B, unique values)
    before = np.cumsum(block_w, axis=1) - block_w
    mid = before + (block_w + 1.0) / 2.0
    return mid[:, inverse]


def pearson(y_true: Any, y_pred: Any, w: np.ndarray | None = None) -> Any:
    yt, yp = np.asarray(y_true, float), np.asarray(y_pred, float)
    return _finish(_wpearson(yt[None, :], yp[None, :], _weights_2d(yt.size, w)), w)


def spearman(y_true: Any, y_pred: Any, w: np.ndarray | None = None) -> Any:
    yt, yp = np.asarray(y_true, float), np.asarray(y_pred, float)
    W = _weights_2d(yt.size, w)
    return _finish(_wpearson(_wmidranks(yt, W), _wmidranks(yp, W), W), w)


def r2(y_true: Any, y_pred: Any, w: np.ndarray | None = None) -> Any:
    yt, yp = np.asarray(y_true, float), np.asarray(y_pred, float)
    W = _weights_2d(yt.size, w)
    mean = (W @ yt) / W.sum(axis=1)
    ss_res = W @ (yt - yp) ** 2
    ss_tot = (W * (yt[None, :] - mean[:, None]) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finish(1.0 - ss_res / ss_tot, w)


def mae(y_true: Any, y_pred: Any, w: np.ndarray | None = None) -> Any:
    yt, yp = np.asarray(y_true, float), np.asarray(y_pred, float)
    W = _weights_2d(yt.size, w)
    return _finish((W @ np.abs(yt - yp)) / W.sum(axis=1), w)


MetricFn = Callable[[Any, Any, "np.ndarray | None"], Any]
METRICS: dict[str, MetricFn] = {"pearson": pearson, "spearman": spearman, "r2": r2, "mae": mae}


def within_periods(metric: str | MetricFn, periods: Any) -> MetricFn:
    """`metric` computed inside each period (e.g. the test year of a walk-forward fold) and averaged,
    weighted by each period's (resampled) row count: the cross-sectional "mean IC" of the finance
    literature.

    Why: pooling walk-forward predictions across years mixes in the between-year differences of the
    training means, so a constant-per-year predictor (the training mean) correlates with the labels by
    accident of which years grew faster. Within one period a constant carries no ranking, so its
    correlation is undefined (NaN), as it should be. Periods where the metric is undefined are left out
    of the average; with none left the result is NaN.
    """
    fn = _metric_fn(metric)
    _, period = np.unique(np.asarray(periods), return_inverse=True)
    members = [np.flatnonzero(period == p) for p in range(int(period.max()) + 1)] if period.size else []

    def per_period(y_true: Any, y_pred: Any, w: np.ndarray | None = None) -> Any:
        yt, yp = np.asarray(y_true, float), np.asarray(y_pred, float)
        if yt.shape != period.shape:
            raise ValueError(f"within_periods: {yt.size} rows for {period.size} period labels")
        W = _weights_2d(yt.size, w)
        total = np.zeros(W.shape[0])
        mass = np.zeros(W.shape[0])
        for rows in members:
            Wp = W[:, rows]
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.atleast_1d(np.asarray(fn(yt[rows], yp[rows], Wp), dtype=np.float64))
            n = Wp.sum(axis=1)
            ok = np.isfinite(v) & (n > 0)
            total += np.where(ok, v * n, 0.0)
            mass += np.where(ok, n, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _finish(np.where(mass > 0, total / mass, np.nan), w)

    return per_period


@dataclass(frozen=True)
class Estimate:
    value: float
    lo: float
    hi: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def _metric_fn(metric: str | MetricFn) -> MetricFn:
    if callable(metric):
        return metric
    try:
        return METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; use one of {sorted(METRICS)} or a callable "
                         f"(y_true, y_pred, weights) -> value(s)") from None


def _block_rows(n: int, budget: int = 4_000_000) -> int:
    return max(1, budget // max(n, 1))


def bootstrap_ci(y_true: Any, y_pred: Any, metric: str | MetricFn, n_boot: int = 2000, alpha: float = 0.05,
                 seed: int = 0, groups: Any = None, method: str = "percentile") -> Estimate:
    """Point estimate and (1 - alpha) bootstrap interval of `metric(y_true, y_pred)`.

    With `groups`, whole companies are resampled (cluster bootstrap); without,
    rows. `method` is "percentile" or "bca" (bias-corrected and accelerated,
    acceleration from the jackknife over the same units). Resamples where the
    metric is undefined (e.g. a constant prediction for Pearson) are dropped.
    """
    fn = _metric_fn(metric)
    yt, yp = np.asarray(y_true, float), np.asarray(y_pred, float)
    if yt.ndim != 1 or yt.shape != yp.shape:
        raise ValueError(f"y_true and y_pred must be 1-D and the same length, got {yt.shape} and {yp.shape}")
    if yt.size < 2:
        raise ValueError(f"bootstrap needs at least 2 rows, got {yt.size}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot!r}")
    if method not in ("percentile", "bca"):
        raise ValueError(f"unknown bootstrap method {method!r}; use 'percentile' or 'bca'")
    if groups is None:
        unit = np.arange(yt.size)
    else:
        g = np.asarray(groups)
        if g.shape != yt.shape:
            raise ValueError(f"groups must give one company per row: {g.shape} vs {yt.shape}")
        _, unit = np.unique(g, return_inverse=True)
    n_units = int(unit.max()) + 1
    point = float(fn(yt, yp, None))
    rng = np.random.default_rng(seed)
    reps = []
    step = _block_rows(yt.size)
    for b0 in range(0, n_boot, step):
        counts = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=min(step, n_boot - b0))
        reps.append(np.asarray(fn(yt, yp, counts[:, unit].astype(np.float64)), dtype=np.float64))
    boot = np.concatenate(reps)
    boot = boot[np.isfinite(boot)]
    if boot.size < 10 or not math.isfinite(point):
        return Estimate(point, math.nan, math.nan)
    q = np.array([alpha / 2, 1 - alpha / 2])
    if method == "bca":
        q = _bca_quantiles(fn, yt, yp, unit, n_units, boot, point, q)
    lo, hi = np.quantile(boot, q)
    return Estimate(point, float(lo), float(hi))


def _bca_quantiles(fn: MetricFn, yt: np.ndarray, yp: np.ndarray, unit: np.ndarray, n_units: int,
                   boot: np.ndarray, point: float, q: np.ndarray) -> np.ndarray:
    # bias correction: how far the bootstrap distribution sits from the estimate
    p0 = (np.sum(boot < point) + 0.5 * np.sum(boot == point)) / boot.size
    z0 = stats.norm.ppf(np.clip(p0, 1e-6, 1 - 1e-6))
    # acceleration: skewness of leave-one-unit-out estimates
    jack = []
    step = _block_rows(yt.size)
    for u0 in range(0, n_units, step):
        us = np.arange(u0, min(u0 + step, n_units))
        w = (unit[None, :] != us[:, None]).astype(np.float64)
        jack.append(np.asarray(fn(yt, yp, w), dtype=np.float64))
    theta = np.concatenate(jack)
    theta = theta[np.isfinite(theta)]
    d = theta.mean() - theta
    denom = 6.0 * np.sum(d ** 2) ** 1.5
    a = float(np.sum(d ** 3) / denom) if denom > 0 else 0.0
    z = stats.norm.ppf(q)
    return stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))


# -- baselines -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstantModel:
    value: float

    def predict(self, X: Any) -> np.ndarray:
        return np.full(np.asarray(X).shape[0], self.value)


class MeanFitter:
    """Baseline: predict the training mean."""

    def __call__(self, X: Any, y: Any, groups: Any = None) -> ConstantModel:
        return ConstantModel(float(np.mean(np.asarray(y, float))))


class OlsFitter:
    def __call__(self, X: Any, y: Any, groups: Any = None) -> LinearModel:
        return ols_fit(X, y)


@dataclass(frozen=True)
class RidgeFitter:
    alpha: float

    def __call__(self, X: Any, y: Any, groups: Any = None) -> RidgeModel:
        return ridge_fit(X, y, self.alpha)


DEFAULT_ALPHAS: tuple[float, ...] = tuple(10.0 ** np.arange(-3, 6))


@dataclass(frozen=True)
class RidgeCVFitter:
    """Ridge with alpha chosen by inner company k-fold CV on the training rows."""
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    k: int = 5
    seed: int = 0

    def __call__(self, X: Any, y: Any, groups: Any) -> RidgeCVResult:
        n_groups = np.unique(np.asarray(groups)).size
        return ridge_cv(X, y, self.alphas, groups, k=min(self.k, n_groups), seed=self.seed)


@dataclass(frozen=True)
class PersistenceModel:
    column: int
    fallback: float

    def predict(self, X: Any) -> np.ndarray:
        x = np.asarray(X, float)
        x = x[:, self.column] if x.ndim == 2 else x
        return np.where(np.isfinite(x), x, self.fallback)


@dataclass(frozen=True)
class PersistenceFitter:
    """Baseline: the company's previous-window growth (X[:, column], e.g. from
    `previous_growth`); the training mean where there is none."""
    column: int = 0

    def __call__(self, X: Any, y: Any, groups: Any = None) -> PersistenceModel:
        return PersistenceModel(self.column, float(np.mean(np.asarray(y, float))))


@dataclass(frozen=True)
class ImputedModel:
    means: np.ndarray
    keep: np.ndarray                 # columns with any value in training
    indicators: np.ndarray           # columns that were missing somewhere in training
    inner: Model

    def transform(self, X: Any) -> np.ndarray:
        X = np.asarray(X, float)
        X = X[:, None] if X.ndim == 1 else X
        missing = ~np.isfinite(X)
        filled = np.where(missing, self.means[None, :], X)
        return np.column_stack([filled[:, self.keep], missing[:, self.indicators].astype(float)])

    def predict(self, X: Any) -> np.ndarray:
        return self.inner.predict(self.transform(X))


@dataclass(frozen=True)
class Imputed:
    """Wrap a fitter: NaN features get the training mean plus a 0/1 'was missing' column."""
    inner: Fitter

    def __call__(self, X: Any, y: Any, groups: Any = None) -> ImputedModel:
        X = np.asarray(X, float)
        X = X[:, None] if X.ndim == 1 else X
        missing = ~np.isfinite(X)
        counts = (~missing).sum(axis=0)
        sums = np.where(missing, 0.0, X).sum(axis=0)
        means = np.divide(sums, counts, out=np.zeros(X.shape[1]), where=counts > 0)
        keep = counts > 0
        indicators = missing.any(axis=0) & keep
        shell = ImputedModel(means, keep, indicators, ConstantModel(0.0))
        return ImputedModel(means, keep, indicators, self.inner(shell.transform(X), y, groups))


# -- persistence -----------------------------------------------------------------------


def _label_columns(labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    company = np.asarray(labels["company_id"]).astype(str)
    start, end = _times(labels)
    growth = np.asarray(labels["growth"], dtype=np.float64)
    try:
        method = np.asarray(labels["method"]).astype(str)
    except (KeyError, IndexError):
        method = np.full(company.size, "")
    return company, start, end, growth, method


def previous_growth(labels: Any, max_gap_days: int = 45) -> np.ndarray:
    """For each label, the growth of the same company's previous window of the same length and method.

    Previous: the latest window ending on or before this window's start, at
    most `max_gap_days` before it (so it is the consecutive window, not a stale
    one). NaN where there is none.
    """
    company, start, end, growth, method = _label_columns(labels)
    k = np.rint((end - start).astype(np.int64) / 365.25).astype(np.int64)
    out = np.full(company.size, np.nan)
    keys = np.char.add(np.char.add(np.char.add(company, "\x00"), method), np.char.add("\x00", k.astype(str)))
    order = np.lexsort((start, end, keys))
    sk = keys[order]
    bounds = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        rows = order[a:b]                              # one company/method/length, sorted by end, start
        ends = end[rows]
        pos = np.searchsorted(ends, start[rows], side="right") - 1
        ok = pos >= 0
        prev = rows[np.where(ok, pos, 0)]
        gap = (start[rows] - end[prev]).astype(np.int64)
        ok &= gap <= max_gap_days
        out[rows[ok]] = growth[prev[ok]]
    return out


@dataclass(frozen=True)
class PersistenceResult:
    r: float                         # Pearson r of consecutive windows' growth
    spearman: float
    n_pairs: int
    n_companies: int


def persistence_correlation(labels: Any, max_gap_days: int = 45) -> PersistenceResult:
    """Correlation between a company's growth in one window and in the window right before it."""
    company = np.asarray(labels["company_id"]).astype(str)
    growth = np.asarray(labels["growth"], dtype=np.float64)
    prev = previous_growth(labels, max_gap_days)
    ok = np.isfinite(prev) & np.isfinite(growth)
    n = int(ok.sum())
    if n < 3:
        return PersistenceResult(math.nan, math.nan, n, int(np.unique(company[ok]).size))
    return PersistenceResult(float(pearson(prev[ok], growth[ok])), float(spearman(prev[ok], growth[ok])),
                             n, int(np.unique(company[ok]).size))


# -- evaluation ------------------------------------------------------------------------

METRIC_ORDER: tuple[str, ...] = ("pearson", "spearman", "r2", "mae")


@dataclass(frozen=True)
class ResultRow:
    model: str
    split: str
    n_train: int                     # mean training rows per fold
    n_test: int                      # pooled out-of-fold rows
    metrics: dict[str, Estimate]


@dataclass
class ResultTable:
    rows: list[ResultRow] = field(default_factory=list)
    alpha: float = 0.05

    def to_markdown(self) -> str:
        return format_results(self, "markdown")

    def to_text(self) -> str:
        return format_results(self, "plain")

    def __str__(self) -> str:
        return self.to_text()


def format_results(table: ResultTable, style: str = "markdown") -> str:
    """The rows as a Markdown table or aligned plain text; metrics as `value [lo, hi]`."""
    level = f"{100 * (1 - table.alpha):g}% CI"
    head = ["model", "split", "n_train", "n_test"] + [f"{m} [{level}]" for m in METRIC_ORDER]
    body = [[r.model, r.split, str(r.n_train), str(r.n_test)] + [str(r.metrics[m]) for m in METRIC_ORDER]
            for r in table.rows]
    if style == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    if style == "plain":
        widths = [max(len(x) for x in col) for col in zip(head, *body)]
        return "\n".join("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in [head, *body])
    raise ValueError(f"unknown table style {style!r}; use 'markdown' or 'plain'")


def _features_for(X: Any, name: str) -> np.ndarray:
    if isinstance(X, Mapping):
        if name not in X:
            raise KeyError(f"no features for model {name!r}: X has {sorted(X)}; give X[name] per model")
        return np.asarray(X[name], float)
    return np.asarray(X, float)


def evaluate(models: Mapping[str, Fitter], X: Any, y: Any, groups: Any,
             times: Any = None, split: Split | Sequence[Split] | str = "company_kfold", *,
             k: int = 5, years: Sequence[int] | None = None, n_boot: int = 2000, alpha: float = 0.05,
             seed: int = 0, ci_method: str = "percentile") -> ResultTable:
    """Fit every model on every split's training rows; score pooled test predictions with CIs.

    `X` is one feature matrix for all models or a mapping model name -> matrix
    (embeddings for one model, structured facts for another); `groups` the
    company of each row. `split` is a Split, a list of them, "company_kfold"
    (k folds) or "walk_forward" (needs `times` = window starts and ends, and
    `years`; default: every feasible year). Within a Split the test folds
    must be disjoint; their predictions are pooled before scoring. Intervals
    resample companies, with the same resamples for every model.
    """
    yv = np.asarray(y, float)
    g = np.asarray(groups)
    if yv.ndim != 1 or g.shape != yv.shape:
        raise ValueError(f"y and groups must be 1-D with one entry per row, got {yv.shape} and {g.shape}")
    if not models:
        raise ValueError("evaluate: no models given")
    if isinstance(split, str):
        if split == "company_kfold":
            splits: list[Split] = [company_kfold(g, k, seed)]
        elif split == "walk_forward":
            if times is None:
                raise ValueError("split='walk_forward' needs times=(window_start, window_end)")
            start, end = _times(times)
            if years is None:
                years = range(int(str(end.min())[:4]), int(str(start.max())[:4]))
            splits = walk_forward((start, end), years)
        else:
            raise ValueError(f"unknown split {split!r}; use 'company_kfold', 'walk_forward' or Split objects")
    elif isinstance(split, Split):
        splits = [split]
    else:
        splits = list(split)
    table = ResultTable(alpha=alpha)
    for sp in splits:
        tests = np.concatenate([f.test for f in sp.folds])
        if np.unique(tests).size != tests.size:
            raise ValueError(f"split {sp.name!r}: test folds overlap, so pooled predictions would count rows "
                             f"twice; give each fold as its own Split")
        n_train = int(round(np.mean([f.train.size for f in sp.folds])))
        for name, fitter in models.items():
            Xm = _features_for(X, name)
            if Xm.shape[0] != yv.size:
                raise ValueError(f"model {name!r}: X has {Xm.shape[0]} rows but y has {yv.size}")
            pred = np.empty(tests.size)
            pos = 0
            for f in sp.folds:
                model = fitter(Xm[f.train], yv[f.train], g[f.train])
                p = np.asarray(model.predict(Xm[f.test]), float)
                if p.shape != (f.test.size,) or not np.all(np.isfinite(p)):
                    raise ValueError(f"model {name!r} on split {sp.name!r} returned predictions of shape "
                                     f"{p.shape} with non-finite values; it must return one finite number per row")
                pred[pos:pos + f.test.size] = p
                pos += f.test.size
            metrics = {m: bootstrap_ci(yv[tests], pred, m, n_boot=n_boot, alpha=alpha, seed=seed,
                                       groups=g[tests], method=ci_method) for m in METRIC_ORDER}
            table.rows.append(ResultRow(name, sp.name, n_train, int(tests.size), metrics))
    return table
