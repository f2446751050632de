"""Predict company growth from filing embeddings, against baselines, with company-aware splits and CIs.

Local (no Ray needed: the dataset is read from the store and the fits run on the driver):
    python -m jobs.regress --store stores/main --out results/regression.json
    python -m jobs.regress --store stores/main --model-version minilm-1a2b3c4d5e6f --methods mean section-mean \\
        --sections 7 1A --years 1 --splits company_kfold walk_forward --n-boot 2000 \\
        --aggregator runs/aggregator --out results/regression.json

On a cluster (runs in the job's driver; the store and --out on storage it can reach):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.regress --store /shared/stores/main --all-models --out /shared/results/regression.json

What runs, on the same rows (labels matched by every feature set, see featurestore/growth_dataset.py):
- per embedding feature set (`doc_embeddings` methods such as mean/aggregator; `section-mean`: the mean
  chunk vector of each --sections item, concatenated; `section-first`: each item's first chunk): ridge (alpha by company-grouped CV inside each
  training fold) and OLS (only where every training fold has more rows than features + 1; otherwise the
  row is skipped and the reason listed); for section and document-mean features also `ridge_whitened`,
  the same ridge on features whitened by a PCA whitening of the store's chunk vectors (no labels; off
  with --no-whiten);
- baselines: the training mean, persistence (the latest growth public at the window start), ridge on
  structured XBRL facts alone;
- with --aggregator RUN_DIR (a trained `models.aggregator` checkpoint): ridge and a one-hidden-layer MLP
  head on the frozen aggregator's document vectors, and the aggregator fine-tuned end to end on the
  labels (train/validation/test correlation per epoch are printed and kept in the JSON).
Splits: `company_kfold` (every company's windows in one test fold; folds balanced in their label means,
see `stratified_company_kfold` for why), `company_kfold_plain` (`regression.company_kfold`), `walk_forward` (test windows starting
in year Y predicted by a model trained on windows that ended before Y; correlations within each year,
averaged, R² and MAE pooled over Y),
`walk_forward_by_year` (one row per cut year, as `regression.walk_forward`).

Prints the results table, the dataset counts, the persistence correlation of consecutive windows (the
design's key finding was 0.0047), and writes the JSON whose contract is in jobs/report.py's docstring.
Exit status 0; 2 when the store does not exist or holds nothing to regress.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from featurestore import Store
from featurestore.growth import LabelConfig, select_metrics
from featurestore.growth_dataset import (
    CHUNKS, DEFAULT_SECTIONS, DEFAULT_TTL, FACTS, PREVIOUS_GROWTH, FeatureSpec, GrowthDataset,
    SECTION_METHODS, available_feature_specs, build_growth_dataset, sample_chunk_vectors, whiten_features,
)
from featurestore.regression import (
    METRIC_ORDER, Estimate, Fold, Imputed, MeanFitter, OlsFitter, PersistenceFitter, ResultRow, ResultTable,
    RidgeCVFitter, Split, bootstrap_ci, company_kfold, format_results, persistence_correlation, walk_forward,
    within_periods,
)
from featurestore.whitening import fit_whitening
from jobs.cli_types import positive_int

SPLITS = ("company_kfold", "company_kfold_plain", "walk_forward", "walk_forward_by_year")
DESIGN_PERSISTENCE = 0.0047          # the design's persistence correlation of consecutive windows
RIDGE_ALPHAS: tuple[float, ...] = tuple(float(a) for a in 10.0 ** np.arange(-2, 7))
WHITENABLE = (*SECTION_METHODS, "mean")   # feature sets in the chunk embedding space
WALK_FORWARD = "walk-forward"        # the pooled split: one fold per start year
MIN_TRAIN_ROWS = 10                  # walk-forward years with less training data are left out
MIN_TRAIN_COMPANIES = 3
NO_FEATURES = "none"


@dataclass
class RegressConfig:
    store: Path
    out: Path | None = None
    model_versions: list[str] | None = None          # None: every model version in the store
    methods: list[str] | None = None                 # None: every stored method, plus section-mean/-first
    sections: tuple[str, ...] = DEFAULT_SECTIONS
    years: tuple[int, ...] = (1,)
    splits: tuple[str, ...] = ("company_kfold", "walk_forward")
    k: int = 5
    n_boot: int = 2000
    alpha: float = 0.05
    seed: int = 0
    ttl_days: float | None = DEFAULT_TTL / timedelta(days=1)
    aggregator: Path | None = None
    finetune: bool = True
    finetune_epochs: int = 30
    head_epochs: int = 300
    label_config: LabelConfig | None = None          # default: the standard definition for `years`
    whiten: bool = True                              # also ridge on whitened chunk-space features


# -- splits ---------------------------------------------------------------------------------

def walk_forward_pooled(start: np.ndarray, end: np.ndarray, groups: np.ndarray,
                        min_train_rows: int = MIN_TRAIN_ROWS,
                        min_train_companies: int = MIN_TRAIN_COMPANIES) -> Split:
    """One fold per calendar year Y of window starts: test = windows starting in Y, train = windows that
    ended before 1 January Y. Test folds are disjoint, so their predictions pool into one score.
    Years whose training side is too small are left out."""
    years = np.asarray(start).astype("datetime64[Y]").astype(int) + 1970
    idx = np.arange(start.size)
    folds = []
    for y in np.unique(years):
        cut = np.datetime64(f"{y:04d}-01-01", "D")
        train, test = idx[end < cut], idx[years == y]
        if train.size >= min_train_rows and np.unique(groups[train]).size >= min_train_companies and test.size:
            folds.append(Fold(train, test))
    if not folds:
        raise ValueError(f"walk_forward: no start year has at least {min_train_rows} earlier windows from "
                         f"{min_train_companies} companies to train on (window starts {start.min()}..{start.max()}, "
                         f"ends {end.min()}..{end.max()}); use company_kfold, or more years of filings")
    return Split(WALK_FORWARD, tuple(folds))


def stratified_company_kfold(groups: np.ndarray, y: np.ndarray, k: int, seed: int) -> Split:
    """Company-disjoint folds whose label means are balanced: companies sorted by their mean label, each
    consecutive block of k companies dealt over the k folds in random order.

    Why: pooled out-of-fold predictions of a model that is mostly its training mean (the mean baseline,
    or ridge on features without signal) anti-correlate with the labels under plain company folds: a fold
    of high-growth companies is predicted by the lower mean of the others. Measured on pure-noise features
    with 300 companies, the 95% interval of ridge's Spearman excluded 0 in 4 of 20 draws with plain folds
    and in 3 of 40 with these. Labels only place companies in folds; no test label enters a fit.
    """
    g = np.asarray(groups)
    uniq, inverse = np.unique(g, return_inverse=True)
    if not isinstance(k, (int, np.integer)) or k < 2 or uniq.size < k:
        raise ValueError(f"{uniq.size} companies cannot fill {k} company-disjoint folds; use 2 <= k <= {uniq.size}")
    rng = np.random.default_rng(seed)
    means = np.bincount(inverse, weights=np.asarray(y, np.float64)) / np.bincount(inverse)
    order = np.lexsort((rng.random(uniq.size), means))          # by mean label, random among ties
    fold_of = np.empty(uniq.size, dtype=np.int64)
    for b in range(0, uniq.size, k):
        block = order[b:b + k]
        fold_of[block] = rng.permutation(k)[:block.size]
    row_fold = fold_of[inverse]
    idx = np.arange(g.size)
    return Split(f"company-{k}fold-stratified", tuple(Fold(idx[row_fold != f], idx[row_fold == f]) for f in range(k)))


def make_splits(ds: GrowthDataset, names: Sequence[str], k: int, seed: int) -> tuple[list[Split], list[str]]:
    """The requested splits, and notes on any that could not be made."""
    splits, notes = [], []
    k = min(k, np.unique(ds.groups).size)
    for name in names:
        try:
            if name == "company_kfold":
                splits.append(stratified_company_kfold(ds.groups, ds.y, k, seed))
            elif name == "company_kfold_plain":
                splits.append(company_kfold(ds.groups, k, seed))
            elif name == "walk_forward":
                splits.append(walk_forward_pooled(ds.window_start, ds.window_end, ds.groups))
            elif name == "walk_forward_by_year":
                start, end = ds.times
                years = range(int(str(end.min())[:4]), int(str(start.max())[:4]) + 1)
                splits.extend(walk_forward(ds.times, years))
            else:
                raise ValueError(f"unknown split {name!r}; use {', '.join(SPLITS)}")
        except ValueError as e:
            if name not in SPLITS:
                raise
            notes.append(f"split {name} left out: {e}")
    return splits, notes


# -- candidates and scoring -------------------------------------------------------------------

@dataclass
class Candidate:
    model: str
    features: str
    fitter: Callable
    X: np.ndarray
    baseline: bool = False
    needs_more_rows_than_features: bool = False      # OLS

    @property
    def label(self) -> str:
        return f"{self.model} [{self.features}]"


def cross_predict(fitter: Callable, X: np.ndarray, y: np.ndarray, groups: np.ndarray, split: Split
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(test rows, out-of-fold predictions) pooled over the split's folds, in fold order.

    A fitter with `fit_monitored` also gets the test fold to record a per-epoch diagnostic.
    """
    tests = np.concatenate([f.test for f in split.folds])
    pred = np.empty(tests.size)
    pos = 0
    for i, f in enumerate(split.folds):
        if hasattr(fitter, "fit_monitored"):
            model = fitter.fit_monitored(X[f.train], y[f.train], groups[f.train], X[f.test], y[f.test],
                                         label=f"{split.name}/fold{i}")
        else:
            model = fitter(X[f.train], y[f.train], groups[f.train])
        p = np.asarray(model.predict(X[f.test]), np.float64)
        if p.shape != (f.test.size,) or not np.all(np.isfinite(p)):
            raise ValueError(f"a model on split {split.name!r} returned predictions of shape {p.shape} with "
                             f"non-finite values; it must return one finite number per row")
        pred[pos:pos + f.test.size] = p
        pos += f.test.size
    return tests, pred


CORRELATIONS = ("pearson", "spearman")


def fold_of_tests(split: Split) -> np.ndarray:
    """The fold index of each pooled test row, in `cross_predict`'s order."""
    return np.concatenate([np.full(f.test.size, i) for i, f in enumerate(split.folds)])


def score(y: np.ndarray, pred: np.ndarray, groups: np.ndarray, n_boot: int, alpha: float, seed: int,
          periods: np.ndarray | None = None) -> dict[str, Estimate]:
    """Every metric with a company-cluster bootstrap interval (same seed: same resamples for every model).

    With `periods` (walk-forward: the test year of each row), correlations are computed within each
    period and averaged (`within_periods`); R² and MAE stay pooled, as levels are comparable across years.
    """
    def metric(m: str) -> Any:
        return within_periods(m, periods) if periods is not None and m in CORRELATIONS else m
    return {m: bootstrap_ci(y, pred, metric(m), n_boot=n_boot, alpha=alpha, seed=seed, groups=groups)
            for m in METRIC_ORDER}


def _finite(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def _interval(e: Estimate) -> list[float | None]:
    return [_finite(e.value), _finite(e.lo), _finite(e.hi)]


@dataclass
class RegressionRun:
    table: ResultTable
    payload: dict[str, Any]
    dataset: GrowthDataset
    skipped: list[dict[str, str]] = field(default_factory=list)
    finetune_lines: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return self.payload["rows"]


def _aggregator_candidates(cfg: RegressConfig, ds: GrowthDataset, agg_spec: FeatureSpec | None
                           ) -> tuple[list[Candidate], Any, list[str]]:
    """Frozen-vector ridge and MLP head, and the fine-tuned aggregator (when asked); plus notes."""
    from models.aggregator import load_aggregator, load_aggregator_model, read_aggregator_meta
    from models.growth_heads import AggregatorFinetuneFitter, FinetuneConfig, HeadConfig, MLPHeadFitter

    folder = cfg.aggregator if (cfg.aggregator / "aggregator_config.json").is_file() else cfg.aggregator / "model"
    loaded = load_aggregator(folder, device="cpu")
    docs = ds.sequences[agg_spec.name]
    frozen = loaded.aggregate(docs).astype(np.float64)
    name = f"aggregator:{loaded.model_version}/frozen"
    cands = [Candidate("ridge", name, RidgeCVFitter(RIDGE_ALPHAS, 5, cfg.seed), frozen),
             Candidate("mlp_head", name, MLPHeadFitter(HeadConfig(max_epochs=cfg.head_epochs, seed=cfg.seed)),
                       frozen)]
    notes = [f"{name}: the aggregator {loaded.model_version} (frozen) pools each filing's "
             f"{loaded.chunk_model_version} chunk vectors; mlp_head = one hidden layer (64, GELU, dropout 0.2), "
             f"AdamW, early stopping on an inner 20% company split of each training fold"]
    fitter = None
    if cfg.finetune:
        meta = read_aggregator_meta(folder)
        fitter = AggregatorFinetuneFitter(lambda: load_aggregator_model(folder, "cpu"), int(meta["chunk_dim"]), docs,
                                          FinetuneConfig(epochs=cfg.finetune_epochs, seed=cfg.seed))
        cands.append(Candidate("aggregator_finetuned", f"{agg_spec.name} -> {loaded.model_version}", fitter,
                               np.arange(ds.n, dtype=np.float64)[:, None]))
        notes.append(f"aggregator_finetuned: every weight of {loaded.model_version} plus a linear head trained on "
                     f"the labels (MSE, AdamW lr 1e-4 / head 1e-3, up to {cfg.finetune_epochs} epochs, the "
                     f"epoch chosen on an inner company split); test correlation per epoch is a diagnostic only")
    return cands, fitter, notes


def _finetune_summary(curves: Sequence[tuple[str, Sequence[Any], int]]) -> list[str]:
    """One line per fold: the kept epoch, and train / validation / test correlation per epoch."""
    lines = []
    for label, records, best in curves:
        fmt = lambda v: "  nan" if v is None or not math.isfinite(v) else f"{v:+.2f}"  # noqa: E731
        per_epoch = " ".join(f"{r.epoch}:{fmt(r.train_pearson)}/{fmt(r.val_pearson)}/{fmt(r.test_pearson)}"
                             for r in records)
        lines.append(f"{label} kept epoch {best}; epoch:train/val/test r  {per_epoch}")
    return lines


def run_regression(cfg: RegressConfig, log: Callable[[str], None] = print) -> RegressionRun:
    """Build the dataset, fit every candidate on every split, score and assemble the JSON payload."""
    t0 = time.perf_counter()
    store = Store(cfg.store)
    label_config = cfg.label_config or LabelConfig(years=tuple(sorted(set(cfg.years))))
    specs = available_feature_specs(store, cfg.model_versions, cfg.methods, cfg.sections)
    agg_spec = None
    agg_meta = None
    if cfg.aggregator is not None:
        from models.aggregator import read_aggregator_meta
        folder = cfg.aggregator if (cfg.aggregator / "aggregator_config.json").is_file() else cfg.aggregator / "model"
        agg_meta = read_aggregator_meta(folder)
        agg_spec = FeatureSpec(agg_meta["chunk_model_version"], CHUNKS)
        if agg_spec not in specs:
            specs = specs + [agg_spec]
    ttl = None if cfg.ttl_days is None else timedelta(days=cfg.ttl_days)
    ds = build_growth_dataset(store, specs, config=label_config, years=cfg.years, ttl=ttl)
    log(f"dataset built in {time.perf_counter() - t0:.1f} s: {ds.n} rows")

    splits, notes = make_splits(ds, cfg.splits, cfg.k, cfg.seed)
    if not splits:
        raise ValueError("no split could be made: " + "; ".join(notes))
    cands: list[Candidate] = [
        Candidate("train_mean", NO_FEATURES, MeanFitter(), np.zeros((ds.n, 1)), baseline=True),
        Candidate("persistence", PREVIOUS_GROWTH, PersistenceFitter(0), ds.previous_growth[:, None], baseline=True),
        Candidate("ridge", FACTS, Imputed(RidgeCVFitter(RIDGE_ALPHAS, 5, cfg.seed)), ds.matrices[FACTS],
                  baseline=True),
    ]
    whitenings: dict[str, Any] = {}
    for spec in specs:
        if spec.is_sequence:
            continue
        X = ds.matrices[spec.name]
        cands.append(Candidate("ridge", spec.name, RidgeCVFitter(RIDGE_ALPHAS, 5, cfg.seed), X))
        cands.append(Candidate("ols", spec.name, OlsFitter(), X, needs_more_rows_than_features=True))
        if cfg.whiten and spec.method in WHITENABLE:
            if spec.model_version not in whitenings:
                whitenings[spec.model_version] = fit_whitening(sample_chunk_vectors(store, spec.model_version))
            cands.append(Candidate("ridge_whitened", spec.name, RidgeCVFitter(RIDGE_ALPHAS, 5, cfg.seed),
                                   whiten_features(X, spec, whitenings[spec.model_version])))
    finetuner = None
    if agg_spec is not None:
        more, finetuner, agg_notes = _aggregator_candidates(cfg, ds, agg_spec)
        cands += more
        notes += agg_notes

    table = ResultTable(alpha=cfg.alpha)
    rows: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    starts = ds.window_start.astype(str)
    ends = ds.window_end.astype(str)
    for sp in splits:
        n_train = int(round(np.mean([f.train.size for f in sp.folds])))
        min_train = min(f.train.size for f in sp.folds)
        for c in cands:
            if c.needs_more_rows_than_features and min_train <= c.X.shape[1] + 1:
                reason = (f"a training fold has {min_train} rows for {c.X.shape[1]} features (+ intercept): "
                          f"OLS would interpolate the training labels")
                skipped.append({"model": c.model, "features": c.features, "split": sp.name, "reason": reason})
                continue
            t1 = time.perf_counter()
            tests, pred = cross_predict(c.fitter, c.X, ds.y, ds.groups, sp)
            periods = fold_of_tests(sp) if sp.name == WALK_FORWARD else None
            metrics = score(ds.y[tests], pred, ds.groups[tests], cfg.n_boot, cfg.alpha, cfg.seed, periods)
            table.rows.append(ResultRow(c.label, sp.name, n_train, int(tests.size), metrics))
            rows.append({"model": c.model, "features": c.features, "split": sp.name, "n_train": n_train,
                         "n_test": int(tests.size), **{m: _interval(metrics[m]) for m in METRIC_ORDER},
                         "baseline": c.baseline})
            predictions += [{"model": c.label, "features": c.features, "split": sp.name,
                             "company_id": str(ds.groups[i]), "window_start": starts[i], "window_end": ends[i],
                             "y_true": float(ds.y[i]), "y_pred": float(p)} for i, p in zip(tests, pred)]
            log(f"  {sp.name:<16} {c.label:<60} spearman {metrics['spearman']}  ({time.perf_counter() - t1:.1f} s)")

    pers = persistence_correlation(ds.labels)
    notes = [
        f"every model is scored on the same {ds.n} windows of {ds.report.companies} companies: labels of "
        f"{'/'.join(map(str, ds.report.years))}-year windows matched, at their window start, by every feature set "
        f"({ds.report.dropped_not_all_matched} of {ds.report.events} label events dropped; counts in 'dataset')",
        f"ridge: features standardised in each fit, alpha chosen from {RIDGE_ALPHAS[0]:g}..{RIDGE_ALPHAS[-1]:g} by "
        f"company-grouped 5-fold CV inside each training fold",
        "persistence: the company's latest growth of the same window length whose label was public at the window "
        "start (the training mean where there is none); facts: growth.facts_features known at the window start",
        "section-mean / section-first features: per listed 10-K item, the L2-normalised mean of its chunk vectors "
        "/ its first chunk vector, concatenated, plus a 0/1 present column per item; doc_embeddings/mean averages "
        "every chunk of the filing",
        "company k-fold: company-disjoint folds balanced in their label means (plain folds make a mean-like "
        "predictor anti-correlate with the labels)",
        "walk-forward: windows starting in year Y are predicted by a model trained on windows that ended before "
        "1 January Y; Pearson and Spearman are computed within each start year and averaged weighted by its "
        "rows (pooling years would let between-year shifts of the training mean correlate with the labels, "
        "so the constant train_mean has none: n/a); R² and MAE pool all years",
    ] + notes + [f"skipped {s['model']} [{s['features']}] on {s['split']}: {s['reason']}" for s in skipped]
    finetune_lines: list[str] = []
    payload: dict[str, Any] = {
        "rows": rows,
        "predictions": predictions,
        "persistence_correlation": {"value": _finite(pers.r), "n": pers.n_pairs, "spearman": _finite(pers.spearman),
                                    "n_companies": pers.n_companies, "design_value": DESIGN_PERSISTENCE},
        "label_method": ds.label_method,
        "interval": f"{100 * (1 - cfg.alpha):g}% percentile bootstrap over companies ({cfg.n_boot} resamples)",
        "notes": notes,
        "dataset": ds.report.to_dict(),
        "skipped": skipped,
        "feature_sets": {name: int(X.shape[1]) for name, X in ds.matrices.items()},
        "config": {"store": str(cfg.store), "years": list(cfg.years), "splits": list(cfg.splits), "k": cfg.k,
                   "n_boot": cfg.n_boot, "alpha": cfg.alpha, "seed": cfg.seed, "ttl_days": cfg.ttl_days,
                   "sections": list(cfg.sections),
                   "aggregator": None if cfg.aggregator is None else str(cfg.aggregator)},
    }
    if finetuner is not None:
        from models.growth_heads import curve_dicts
        payload["finetune_curves"] = curve_dicts(finetuner.curves)
        finetune_lines = _finetune_summary(finetuner.curves)
    return RegressionRun(table, payload, ds, skipped, finetune_lines)


def write_json(payload: dict[str, Any], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def report_lines(run: RegressionRun) -> list[str]:
    pc = run.payload["persistence_correlation"]
    value = "n/a" if pc["value"] is None else f"{pc['value']:.4f}"
    lines = ["dataset:"] + ["  " + x for x in run.dataset.report.lines()]
    lines += ["", format_results(run.table, "plain"), "",
              f"persistence correlation of consecutive windows: r = {value} over {pc['n']} pairs of "
              f"{pc['n_companies']} companies (the design found {DESIGN_PERSISTENCE})"]
    if run.finetune_lines:
        lines += ["", "aggregator fine-tuning per fold (correlation after each epoch):"]
        lines += ["  " + x for x in run.finetune_lines]
    if run.skipped:
        lines += [""] + [f"skipped: {s['model']} [{s['features']}] on {s['split']}: {s['reason']}"
                         for s in run.skipped]
    return lines


# -- command line ------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> RegressConfig:
    ap = argparse.ArgumentParser(prog="python -m jobs.regress", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, type=Path, help="store folder (holds filingstore.duckdb)")
    ap.add_argument("--out", type=Path, default=Path("results/regression.json"), help="results JSON")
    who = ap.add_mutually_exclusive_group()
    who.add_argument("--model-version", nargs="+", default=None, dest="model_versions",
                     help="embedding model versions to use (default: all)")
    who.add_argument("--all-models", action="store_true", help="every model version in the store (the default)")
    ap.add_argument("--methods", nargs="+", default=None,
                    help="doc_embeddings methods (mean, aggregator) and/or section-mean, section-first "
                         "(default: every stored method plus section-mean and section-first)")
    ap.add_argument("--sections", nargs="+", default=list(DEFAULT_SECTIONS),
                    help="items of the section-mean / section-first features (default: 7)")
    ap.add_argument("--years", nargs="+", type=positive_int, default=[1], help="window lengths (default: 1)")
    ap.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                    help="label on these growth metrics only, as written by python -m jobs.labels --metrics "
                         "(default: the weighted mix of all)")
    ap.add_argument("--splits", nargs="+", default=["company_kfold", "walk_forward"], choices=SPLITS)
    ap.add_argument("--k", type=positive_int, default=5, help="company folds (default 5)")
    ap.add_argument("--n-boot", type=positive_int, default=2000, help="bootstrap resamples (default 2000)")
    ap.add_argument("--alpha", type=float, default=0.05, help="1 - interval level (default 0.05)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ttl-days", type=float, default=DEFAULT_TTL / timedelta(days=1),
                    help="a filing older than this at the window start is stale (0: no limit; default 550)")
    ap.add_argument("--aggregator", type=Path, default=None,
                    help="aggregator run folder (or its model/): adds the MLP head and the fine-tuned aggregator")
    ap.add_argument("--no-whiten", action="store_true", help="skip the ridge on whitened features")
    ap.add_argument("--no-finetune", action="store_true", help="with --aggregator: skip the fine-tuned variant")
    ap.add_argument("--finetune-epochs", type=positive_int, default=30)
    a = ap.parse_args(argv)
    if a.k < 2:
        ap.error("--k must be at least 2")
    if a.n_boot < 10:
        ap.error("--n-boot must be at least 10")
    if not 0 < a.alpha < 1:
        ap.error(f"--alpha {a.alpha} must be in (0, 1)")
    if a.ttl_days < 0:
        ap.error("--ttl-days must be >= 0 (0: no limit)")
    if a.aggregator is not None and not a.aggregator.is_dir():
        ap.error(f"--aggregator {a.aggregator} is not a folder; pass a python -m jobs.train_aggregator --out folder")
    years = tuple(sorted(set(a.years)))
    try:
        label_config = LabelConfig(metrics=select_metrics(a.metrics), years=years)
    except ValueError as e:
        ap.error(str(e))
    return RegressConfig(store=a.store, out=a.out, model_versions=a.model_versions, methods=a.methods,
                         sections=tuple(a.sections), years=years, splits=tuple(a.splits), label_config=label_config,
                         k=a.k, n_boot=a.n_boot, alpha=a.alpha, seed=a.seed,
                         ttl_days=None if a.ttl_days == 0 else a.ttl_days, aggregator=a.aggregator,
                         finetune=not a.no_finetune, whiten=not a.no_whiten, finetune_epochs=a.finetune_epochs)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    if not (cfg.store / "filingstore.duckdb").is_file():
        print(f"regress: no store at {cfg.store} ({cfg.store / 'filingstore.duckdb'} does not exist); build one "
              f"with python -m jobs.ingest, then jobs.embed and jobs.labels", file=sys.stderr)
        return 2
    try:
        run = run_regression(cfg)
    except ValueError as e:
        print(f"regress: {e}", file=sys.stderr)
        return 2
    for line in report_lines(run):
        print(line)
    if cfg.out is not None:
        print(f"wrote {write_json(run.payload, cfg.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
