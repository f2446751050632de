"""Regression toolkit: closed forms against their definitions, splits, bootstrap coverage, evaluation."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from scipy import stats

from featurestore.regression import (
    Imputed, MeanFitter, OlsFitter, PersistenceFitter, RidgeCVFitter, Split, bootstrap_ci, company_kfold,
    evaluate, mae, ols_fit, pearson, persistence_correlation, previous_growth, r2, ridge_cv, ridge_fit,
    spearman, walk_forward, within_periods,
)


def normal_equation_ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge by its definition: standardise X, then minimise |y - b0 - Zb|^2 + alpha |b|^2 (b0 free)."""
    mu, sd = X.mean(0), X.std(0)
    Z1 = np.column_stack([np.ones(len(y)), (X - mu) / sd])
    P = alpha * np.eye(Z1.shape[1])
    P[0, 0] = 0.0                                           # the intercept is not penalised
    b = np.linalg.solve(Z1.T @ Z1 + P, Z1.T @ y)
    coef = b[1:] / sd
    return coef, float(b[0] - mu @ coef)


@pytest.mark.parametrize("n,d,solver", [(60, 5, "primal"), (25, 80, "dual")])
def test_ridge_equals_the_normal_equation_solution(n, d, solver):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d) + rng.normal(size=d) * 5
    y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=n) + 7.0
    for alpha in (0.1, 3.0, 100.0):
        m = ridge_fit(X, y, alpha)
        assert m.solver == solver
        coef, intercept = normal_equation_ridge(X, y, alpha)
        np.testing.assert_allclose(m.coef, coef, rtol=1e-7, atol=1e-10)
        assert m.intercept == pytest.approx(intercept, rel=1e-8, abs=1e-8)
        other = ridge_fit(X, y, alpha, solver="dual" if solver == "primal" else "primal")
        np.testing.assert_allclose(other.predict(X), m.predict(X), rtol=1e-7, atol=1e-8)


def test_ridge_intercept_is_not_penalised():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 4))
    y = X @ np.array([1.0, 2.0, 0.0, -1.0]) + 50.0
    huge = ridge_fit(X, y, 1e12)
    np.testing.assert_allclose(huge.coef, 0.0, atol=1e-8)
    assert huge.intercept == pytest.approx(y.mean())      # shrunk to the mean, not to zero
    a, b = ridge_fit(X, y, 5.0), ridge_fit(X, y + 1000.0, 5.0)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-10)
    assert b.intercept - a.intercept == pytest.approx(1000.0)


def test_ols_equals_lstsq():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    y = rng.normal(size=30)
    m = ols_fit(X, y)
    beta, *_ = np.linalg.lstsq(np.column_stack([np.ones(30), X]), y, rcond=None)
    np.testing.assert_allclose(m.coef, beta[1:], atol=1e-12)
    assert m.intercept == pytest.approx(beta[0])
    lr = stats.linregress(X[:, 0], y)
    one = ols_fit(X[:, 0], y)
    assert one.coef[0] == pytest.approx(lr.slope) and one.intercept == pytest.approx(lr.intercept)
    # ridge with alpha 0 is OLS, on both paths
    np.testing.assert_allclose(ridge_fit(X, y, 0.0).predict(X), m.predict(X), atol=1e-10)
    wide = rng.normal(size=(10, 30))
    np.testing.assert_allclose(ridge_fit(wide, y[:10], 0.0).predict(wide), y[:10], atol=1e-8)  # interpolates


def test_fit_errors_name_the_problem():
    with pytest.raises(ValueError, match="NaN"):
        ridge_fit(np.array([[1.0], [np.nan]]), np.array([1.0, 2.0]), 1.0)
    with pytest.raises(ValueError, match="one value per row"):
        ols_fit(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="alpha"):
        ridge_fit(np.ones((3, 2)), np.ones(3), -1.0)


def test_ridge_cv_picks_a_sensible_alpha():
    rng = np.random.default_rng(4)
    alphas = 10.0 ** np.arange(-3, 5)
    groups = np.repeat(np.arange(60), 5)
    X = rng.normal(size=(300, 10))
    clean = X @ rng.normal(size=10) + 0.05 * rng.normal(size=300)
    strong = ridge_cv(X, clean, alphas, groups, k=5)
    assert strong.alpha <= 1.0                                # signal: little shrinkage
    assert strong.cv_mse.argmin() == np.flatnonzero(alphas == strong.alpha)[0]
    noise = ridge_cv(rng.normal(size=(300, 60)), rng.normal(size=300), alphas, groups, k=5)
    assert noise.alpha >= 1e3                                 # no signal: shrink everything
    assert strong.model.alpha == strong.alpha
    np.testing.assert_allclose(strong.predict(X), ridge_fit(X, clean, strong.alpha).predict(X))
    wide = rng.normal(size=(40, 300))                         # n < d, few companies: still picks
    y = wide[:, :5].sum(1) + 0.1 * rng.normal(size=40)
    res = ridge_cv(wide, y, alphas, np.repeat(np.arange(20), 2), k=4)
    assert res.alpha in alphas and np.isfinite(res.cv_mse).all()


def test_company_kfold_keeps_each_company_in_one_fold():
    rng = np.random.default_rng(5)
    groups = rng.choice([f"c{i}" for i in range(37)], size=400)
    split = company_kfold(groups, k=5, seed=7)
    assert len(split.folds) == 5
    tests = np.concatenate([f.test for f in split.folds])
    assert np.array_equal(np.sort(tests), np.arange(400))     # every row tested once
    seen: dict[str, int] = {}
    for i, f in enumerate(split.folds):
        assert not set(groups[f.train]) & set(groups[f.test])
        assert np.array_equal(np.sort(np.r_[f.train, f.test]), np.arange(400))
        for c in set(groups[f.test]):
            assert seen.setdefault(c, i) == i
    sizes = [f.test.size for f in split.folds]
    assert max(sizes) - min(sizes) <= np.unique(groups, return_counts=True)[1].max()
    again = company_kfold(groups, k=5, seed=7)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(split.folds, again.folds))
    with pytest.raises(ValueError, match="cannot fill"):
        company_kfold(["a", "b"], k=3)


def test_walk_forward_tests_only_windows_starting_after_the_cut():
    rng = np.random.default_rng(6)
    start = np.datetime64("2012-12-31") + rng.integers(0, 10 * 365, size=200).astype("timedelta64[D]")
    end = start + (365 * rng.integers(1, 4, size=200)).astype("timedelta64[D]")
    splits = walk_forward((start, end), years=range(2010, 2030))
    assert splits and all(len(s.folds) == 1 for s in splits)
    for s in splits:
        T = int(s.name.rsplit("-", 1)[1])
        f = s.folds[0]
        assert end[f.train].max() <= np.datetime64(f"{T}-12-31")
        assert start[f.test].min() >= np.datetime64(f"{T + 1}-01-01")
        assert end[f.train].max() < start[f.test].min()
    with pytest.raises(ValueError, match="no year"):
        walk_forward((start, end), years=[1990])


def test_metrics_match_scipy_and_weights_mean_repetition():
    rng = np.random.default_rng(8)
    y = np.round(rng.normal(size=50), 1)                      # rounded: ties for the ranks
    p = np.round(y + rng.normal(size=50), 1)
    assert pearson(y, p) == pytest.approx(stats.pearsonr(y, p)[0])
    assert spearman(y, p) == pytest.approx(stats.spearmanr(y, p)[0])
    assert r2(y, p) == pytest.approx(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))
    assert mae(y, p) == pytest.approx(np.mean(np.abs(y - p)))
    w = rng.integers(0, 4, size=(3, 50)).astype(float)
    for fn, ref in ((pearson, lambda a, b: stats.pearsonr(a, b)[0]),
                    (spearman, lambda a, b: stats.spearmanr(a, b)[0]),
                    (r2, lambda a, b: 1 - np.sum((a - b) ** 2) / np.sum((a - a.mean()) ** 2)),
                    (mae, lambda a, b: np.mean(np.abs(a - b)))):
        got = fn(y, p, w)
        for b in range(3):
            rep = np.repeat(np.arange(50), w[b].astype(int))
            assert got[b] == pytest.approx(ref(y[rep], p[rep]), rel=1e-10), fn.__name__


def test_within_periods_averages_per_period_correlations_and_ignores_between_period_shifts():
    rng = np.random.default_rng(3)
    period = np.repeat([2019, 2020, 2021], [30, 50, 20])
    y = rng.normal(size=100) + np.where(period == 2020, 1.0, 0.0)
    p = 0.5 * y + rng.normal(size=100)
    got = within_periods("spearman", period)(y, p)
    parts = [(stats.spearmanr(y[period == t], p[period == t])[0], np.sum(period == t)) for t in (2019, 2020, 2021)]
    assert got == pytest.approx(sum(r * n for r, n in parts) / 100)
    # a prediction constant within each year but shifted between years: pooled it "correlates", within it cannot
    shift = np.where(period == 2020, 1.0, 0.0)
    assert pearson(y, shift) > 0.3
    assert np.isnan(within_periods("pearson", period)(y, shift))
    # a constant that only differs by the rounding of a mean is still a constant
    const = np.full(100, np.mean(rng.normal(size=7)))
    const[::3] += np.spacing(const[0])
    assert np.isnan(pearson(y, const)) and np.isnan(pearson(y, const, np.ones((2, 100)))).all()
    assert pearson(y, 5.0 + 1e-9 * y) == pytest.approx(1.0)
    # bootstrap weights: each weight row is the weighted per-period average; empty periods drop out
    w = rng.integers(0, 3, size=(4, 100)).astype(float)
    w[0, period == 2021] = 0.0
    vals = within_periods("pearson", period)(y, p, w)
    for b in range(4):
        num = den = 0.0
        for t in (2019, 2020, 2021):
            m = period == t
            if w[b, m].sum() > 0:
                num += pearson(y[m], p[m], w[b, m][None, :])[0] * w[b, m].sum()
                den += w[b, m].sum()
        assert vals[b] == pytest.approx(num / den)
    with pytest.raises(ValueError, match="period labels"):
        within_periods("pearson", period[:10])(y, p)


def _coverage(rho: float, n: int, sims: int, method: str, seed: int) -> float:
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, rho], [rho, 1.0]])
    hits = 0
    for s in range(sims):
        xy = rng.multivariate_normal([0, 0], cov, size=n)
        est = bootstrap_ci(xy[:, 0], xy[:, 1], "pearson", n_boot=400, seed=s, method=method)
        hits += est.lo <= rho <= est.hi
    return hits / sims


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_interval_covers_the_true_correlation_at_the_nominal_rate(method):
    coverage = _coverage(rho=0.5, n=80, sims=200, method=method, seed=11)
    assert 0.90 <= coverage <= 0.99, coverage


def test_bootstrap_agrees_with_scipy():
    rng = np.random.default_rng(12)
    xy = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=120)
    x, y = xy[:, 0], xy[:, 1]
    for method, scipy_method in (("percentile", "percentile"), ("bca", "BCa")):
        ours = bootstrap_ci(x, y, "pearson", n_boot=4000, seed=1, method=method)
        ref = stats.bootstrap((x, y), lambda a, b, axis=-1: stats.pearsonr(a, b, axis=axis)[0], paired=True,
                              vectorized=True, n_resamples=4000, method=scipy_method, rng=2).confidence_interval
        assert ours.value == pytest.approx(stats.pearsonr(x, y)[0])
        assert ours.lo == pytest.approx(ref.low, abs=0.03) and ours.hi == pytest.approx(ref.high, abs=0.03)


def test_company_bootstrap_accounts_for_correlated_windows():
    """Rows share a company effect: row resampling is overconfident, company resampling is not."""
    rng = np.random.default_rng(13)
    n_co, per, rho = 30, 10, 0.5                               # population r = var(a) / (var(a) + var(e))
    hits = {"rows": 0, "companies": 0}
    widths = {"rows": [], "companies": []}
    sims = 120
    groups = np.repeat(np.arange(n_co), per)
    for s in range(sims):
        a = rng.normal(size=n_co)[groups]
        x, y = a + rng.normal(size=groups.size), a + rng.normal(size=groups.size)
        for name, g in (("rows", None), ("companies", groups)):
            est = bootstrap_ci(x, y, "pearson", n_boot=300, seed=s, groups=g)
            hits[name] += est.lo <= rho <= est.hi
            widths[name].append(est.hi - est.lo)
    assert np.mean(widths["companies"]) > 1.5 * np.mean(widths["rows"])
    assert hits["companies"] / sims >= 0.85                # 30 clusters: close to nominal
    assert hits["rows"] / sims < 0.80


def _labels(rows: list[tuple[str, str, str, float]]) -> dict[str, np.ndarray]:
    return {
        "company_id": np.array([r[0] for r in rows]),
        "window_start": np.array([r[1] for r in rows], dtype="datetime64[D]"),
        "window_end": np.array([r[2] for r in rows], dtype="datetime64[D]"),
        "growth": np.array([r[3] for r in rows]),
    }


def test_persistence_correlation_on_a_hand_case():
    labels = _labels([
        ("A", "2019-12-31", "2020-12-31", 0.1), ("A", "2020-12-31", "2021-12-31", 0.2),
        ("A", "2021-12-31", "2022-12-31", 0.3),
        ("A", "2019-12-31", "2021-12-31", 5.0),                # 2-year window: not paired with 1-year ones
        ("B", "2019-06-30", "2020-06-30", 0.0), ("B", "2020-06-30", "2021-06-30", -0.1),
        ("B", "2021-06-30", "2022-06-30", -0.2),
        ("B", "2023-06-30", "2024-06-30", 9.0),                # a year's gap: no previous window
        ("C", "2020-12-31", "2021-12-31", 1.0),
    ])
    prev = previous_growth(labels)
    np.testing.assert_allclose(prev, [np.nan, 0.1, 0.2, np.nan, np.nan, 0.0, -0.1, np.nan, np.nan])
    res = persistence_correlation(labels)
    x, y = np.array([0.1, 0.2, 0.0, -0.1]), np.array([0.2, 0.3, -0.1, -0.2])
    assert res.n_pairs == 4 and res.n_companies == 2
    assert res.r == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert res.spearman == pytest.approx(stats.spearmanr(x, y)[0])
    # with a 2-year gap allowed, B's last window pairs with the window ending a year before it started
    assert previous_growth(labels, max_gap_days=400)[7] == pytest.approx(-0.2)


def _simulated_panel(seed: int = 14):
    rng = np.random.default_rng(seed)
    n_co, per = 40, 5
    groups = np.repeat([f"c{i:02d}" for i in range(n_co)], per)
    X = rng.normal(size=(groups.size, 6))
    y = X @ np.array([0.3, -0.2, 0.1, 0.0, 0.0, 0.0]) + 0.1 * rng.normal(size=groups.size)
    start = np.datetime64("2015-12-31") + (365 * np.tile(np.arange(per), n_co)).astype("timedelta64[D]")
    return X, y, groups, (start, start + np.timedelta64(365, "D"))


def test_evaluate_scores_models_and_baselines_with_intervals():
    X, y, groups, times = _simulated_panel()
    prev = np.r_[np.nan, y[:-1]]
    prev[::5] = np.nan                                         # each company's first window has none
    Xs = {"mean": X, "ols": X, "ridge_cv": X, "persistence": prev[:, None],
          "facts_only": np.where(np.random.default_rng(0).random(X.shape) < 0.2, np.nan, X)}
    models = {"mean": MeanFitter(), "ols": OlsFitter(), "ridge_cv": RidgeCVFitter(k=4),
              "persistence": PersistenceFitter(), "facts_only": Imputed(RidgeCVFitter(k=4))}
    table = evaluate(models, Xs, y, groups, split="company_kfold", k=5, n_boot=300)
    rows = {r.model: r for r in table.rows}
    assert list(rows) == list(models)
    for r in table.rows:
        assert r.split == "company-5fold" and r.n_test == y.size and r.n_train == 160
        for est in r.metrics.values():
            assert est.lo <= est.value <= est.hi or not np.isfinite(est.value)
    assert rows["ridge_cv"].metrics["pearson"].lo > 0.9
    assert rows["ols"].metrics["r2"].value > 0.9
    assert rows["mean"].metrics["r2"].value <= 0.0
    assert rows["facts_only"].metrics["r2"].value > rows["mean"].metrics["r2"].value
    assert rows["persistence"].metrics["r2"].value < 0.3      # simulated growth does not persist
    md = table.to_markdown()
    assert md.startswith("| model | split | n_train | n_test | pearson [95% CI]")
    assert md.count("\n") == 1 + len(models) and "| ridge_cv | company-5fold | 160 | 200 |" in md
    assert "ridge_cv" in table.to_text()


def test_evaluate_walk_forward_and_split_checks():
    X, y, groups, times = _simulated_panel()
    table = evaluate({"ridge": RidgeCVFitter(k=3)}, X, y, groups, times=times, split="walk_forward",
                     n_boot=200)
    # windows start on 30/31 Dec of 2015..2019 and last 365 days: the window starting
    # 30 Dec T is neither trained on (it ends in T+1) nor tested (it starts before T+1)
    assert [r.split for r in table.rows] == [f"walk-forward-{T}" for T in (2016, 2017, 2018)]
    assert [r.n_train for r in table.rows] == [40, 80, 120]
    assert [r.n_test for r in table.rows] == [120, 80, 40]
    overlapping = Split("bad", tuple(company_kfold(groups, 2).folds) * 2)
    with pytest.raises(ValueError, match="overlap"):
        evaluate({"m": MeanFitter()}, X, y, groups, split=overlapping, n_boot=50)
