"""The growth-regression dataset and job on real stores (DuckDB file + LanceDB), and the torch heads.

- A hand-written store (filings, XBRL revenue facts, chunk and document vectors) with a
  look-ahead trap: the 10-K describing the year that ends on the window start is filed
  after it, so neither its vector nor its facts nor the growth it reveals may be used.
- A planted-signal store: 80 companies whose cue filing's Item 7 chunk vector carries the
  growth that follows; ridge on the embeddings must recover it, the facts-only baseline
  must not; `python -m jobs.regress` (with a small saved aggregator) must write JSON that
  follows the contract in jobs/report.py's docstring.
- The MLP head and the fine-tuned aggregator train on synthetic data.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from featurestore import FACTS, FILINGS, Store, schemas
from featurestore.growth import LabelConfig
from featurestore.growth_dataset import (
    CHUNKS, FACTS as FACTS_SET, SECTION_FIRST, SECTION_MEAN, FeatureSpec, available_feature_specs, build_growth_dataset,
    check_no_look_ahead, sample_chunk_vectors, whiten_features,
)
from featurestore.point_in_time import TrainingSet
from featurestore.whitening import fit_whitening
from featurestore.vectors import EmbeddingWriter
from jobs import labels as labels_job
from jobs import regress
from models.growth_heads import (AggregatorFinetuneFitter, FinetuneConfig, HeadConfig, MLPHeadFitter,
                                 inner_company_split, pearson_r)

D = date
DIM = 24
MODEL = "toy-v1"


# -- store builders --------------------------------------------------------------------------

def _filing(fid: str, company: str, period: date, filed: date) -> dict:
    return {"filing_id": fid, "source": "sec", "form": "10-K", "company_id": company, "company_name": company,
            "ticker": None, "accession_number": None, "period_end": period, "filed_at": filed,
            "content_sha256": fid, "path": f"{fid}.htm", "n_bytes": 1, "n_chars": 1, "etl_version": "etl-t",
            "ingested_at": datetime(2025, 1, 1, tzinfo=timezone.utc)}


def _revenue(fid: str, year: int, value: float) -> dict:
    return {"filing_id": fid, "fact_id": f"{fid}-rev{year}", "concept": "us-gaap:Revenues", "value": float(value),
            "text_value": None, "unit": "USD", "decimals": "-3", "period_start": D(year, 1, 1),
            "period_end": D(year, 12, 31), "dimensions": None}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def write_store(path: Path, filings: list[dict], facts: list[dict],
                chunks: dict[str, list[tuple[str, np.ndarray]]], docs: dict[str, np.ndarray] | None = None) -> Store:
    """filings + facts in DuckDB; per filing, (section_id, vector) chunks and its mean doc vector via
    EmbeddingWriter (Lance + DuckDB mirror). `docs` overrides a filing's document vector."""
    store = Store(path, create=True)
    store.upsert(FILINGS, pa.Table.from_pylist(filings, schema=FILINGS.schema))
    store.upsert(FACTS, pa.Table.from_pylist(facts, schema=FACTS.schema))
    meta = {f["filing_id"]: f for f in filings}
    chunk_rows, doc_rows = [], []
    for fid, parts in chunks.items():
        f = meta[fid]
        for seq, (section, vec) in enumerate(parts):
            chunk_rows.append({"chunk_id": f"{fid}-c{seq}", "filing_id": fid, "company_id": f["company_id"],
                               "form": "10-K", "filed_at": f["filed_at"], "section_id": section, "seq": seq,
                               "etl_version": "etl-t", "vector": vec.astype(np.float32).tolist()})
        doc = (docs or {}).get(fid)
        if doc is None:
            doc = _unit(np.mean([v for _, v in parts], axis=0))
        doc_rows.append({"filing_id": fid, "company_id": f["company_id"], "form": "10-K", "filed_at": f["filed_at"],
                         "n_chunks": len(parts), "etl_version": "etl-t", "method": "mean",
                         "vector": np.asarray(doc, np.float32).tolist()})
    for level, rows, table in (("chunk", chunk_rows, schemas.chunk_embeddings(DIM)),
                               ("doc", doc_rows, schemas.doc_embeddings(DIM))):
        schema = table.schema.remove(table.schema.get_field_index("model_version"))  # the writer fills it in
        EmbeddingWriter(store, level, MODEL, DIM).write(pa.Table.from_pylist(rows, schema=schema))
    return store


# -- the look-ahead trap ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trap_store(tmp_path_factory) -> tuple[Store, dict[str, list[tuple[str, np.ndarray]]]]:
    rng = np.random.default_rng(1)
    vec = lambda: _unit(rng.normal(size=DIM))  # noqa: E731
    filings = [
        # A: the FY2021 10-K (period end = the 2021-12-31 window start) is filed after the window starts
        _filing("fA20", "A", D(2020, 12, 31), D(2021, 3, 1)),
        _filing("fA21", "A", D(2021, 12, 31), D(2022, 3, 1)),
        _filing("fA22", "A", D(2022, 12, 31), D(2023, 3, 1)),
        # B: nothing is filed before any of its windows starts
        _filing("fB21", "B", D(2021, 12, 31), D(2022, 3, 1)),
        _filing("fB22", "B", D(2022, 12, 31), D(2023, 3, 1)),
        # C: its 2019-12-31 window would use a 10-K filed 670 days earlier: stale
        _filing("fC17", "C", D(2017, 12, 31), D(2018, 3, 1)),
        _filing("fC20", "C", D(2020, 12, 31), D(2021, 3, 1)),
        # D: facts but no vectors at all
        _filing("fD20", "D", D(2020, 12, 31), D(2021, 3, 1)),
    ]
    revenue = {"fA20": {2019: 90, 2020: 100}, "fA21": {2020: 100, 2021: 120}, "fA22": {2021: 120, 2022: 150},
               "fB21": {2020: 50, 2021: 55}, "fB22": {2021: 55, 2022: 60},
               "fC17": {2016: 10, 2017: 11}, "fC20": {2019: 12, 2020: 13}, "fD20": {2019: 7, 2020: 8}}
    facts = [_revenue(fid, y, v) for fid, per in revenue.items() for y, v in per.items()]
    chunks = {fid: [("1", vec()), ("7", vec()), ("7", vec()), ("8", vec())]
              for fid in ("fA20", "fA21", "fA22", "fB21", "fB22", "fC17", "fC20")}
    store = write_store(tmp_path_factory.mktemp("trap") / "store", filings, facts, chunks)
    assert labels_job.main(["--store", str(store.path), "--years", "1"]) == 0
    return store, chunks


def test_dataset_takes_only_what_was_filed_before_the_window_started(trap_store):
    store, chunks = trap_store
    mean = FeatureSpec(MODEL, "mean")
    sect = FeatureSpec(MODEL, SECTION_MEAN, ("7", "1A"))
    first = FeatureSpec(MODEL, SECTION_FIRST, ("7",))
    seqs = FeatureSpec(MODEL, CHUNKS)
    ds = build_growth_dataset(store, [mean, sect, first, seqs], config=LabelConfig(years=(1,)), years=(1,))

    assert ds.report.label_source == "growth table"
    # only A's window starting 2021-12-31 has a feature filed before it: the FY2020 10-K, not the FY2021 one
    assert ds.n == 1 and ds.groups.tolist() == ["A"]
    assert ds.window_start.tolist() == [D(2021, 12, 31)] and ds.window_end.tolist() == [D(2022, 12, 31)]
    assert {name: ids.tolist() for name, ids in ds.filing_ids.items()} == {
        mean.name: ["fA20"], sect.name: ["fA20"], first.name: ["fA20"], seqs.name: ["fA20"]}
    np.testing.assert_allclose(ds.y, [math.log(150 / 120) * 365.25 / 365], rtol=1e-9)

    a20 = [v for _, v in chunks["fA20"]]
    np.testing.assert_allclose(ds.matrices[mean.name][0], _unit(np.mean(a20, axis=0)), rtol=1e-5)
    # section-mean: Item 7's two chunks averaged and normalised, Item 1A absent (zeros), then present flags
    X = ds.matrices[sect.name][0]
    np.testing.assert_allclose(X[:DIM], _unit((a20[1] + a20[2]) / 2), rtol=1e-5)
    assert not X[DIM:2 * DIM].any() and X[2 * DIM:].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(ds.matrices[first.name][0], [*a20[1], 1.0], rtol=1e-5)   # Item 7's first chunk
    assert len(ds.sequences[seqs.name]) == 1
    np.testing.assert_allclose(ds.sequences[seqs.name][0], np.asarray(a20, np.float32), rtol=1e-6)

    # facts: FY2020 revenue (filed 2021-03-01) is the latest known, not FY2021's 120
    names = list(ds.facts_names)
    assert ds.matrices[FACTS_SET][0, names.index("log_revenue")] == pytest.approx(math.log(100))
    assert ds.matrices[FACTS_SET][0, names.index("revenue_growth")] == pytest.approx(math.log(100 / 90) * 365.25 / 366)
    # persistence: the 2020->2021 growth ends on the window start but is public only on 2022-03-01
    assert ds.previous_growth.tolist() == [pytest.approx(math.log(100 / 90) * 365.25 / 366)]

    counts = {c.name: c for c in ds.report.features}
    c = counts[mean.name]
    # events: A 3, B 2, C 2, D 1 (one-year windows)
    assert ds.report.events == 8
    assert (c.joined, c.none_filed_yet, c.expired_ttl, c.no_feature_rows) == (1, 5, 1, 1)
    assert ds.report.look_ahead_checked == 4 and ds.report.dropped_not_all_matched == 7
    assert any("expired" in line for line in ds.report.lines())


def test_whitened_features_use_a_label_free_sample_of_the_stores_chunk_vectors(trap_store):
    store, chunks = trap_store
    every = np.asarray([v for per in chunks.values() for _, v in per], np.float64)
    sample = sample_chunk_vectors(store, MODEL)
    assert sample.shape == every.shape
    np.testing.assert_allclose(np.sort(sample, axis=0), np.sort(every, axis=0), rtol=1e-6)
    assert sample_chunk_vectors(store, MODEL, limit=5).shape == (5, DIM)
    np.testing.assert_array_equal(sample_chunk_vectors(store, MODEL, limit=5), sample_chunk_vectors(store, MODEL, 5))
    with pytest.raises(ValueError, match="no rows for model_version='nope'"):
        sample_chunk_vectors(store, "nope")

    w = fit_whitening(sample)
    sect = FeatureSpec(MODEL, SECTION_MEAN, ("7", "1A"))
    rng = np.random.default_rng(0)
    X = np.hstack([rng.normal(size=(6, 2 * DIM)), rng.integers(0, 2, size=(6, 2)).astype(float)])
    Z = whiten_features(X, sect, w)
    assert Z.shape == (6, 2 * w.rank + 2)
    np.testing.assert_allclose(Z[:, :w.rank], w.apply(X[:, :DIM]))
    np.testing.assert_allclose(Z[:, w.rank:2 * w.rank], w.apply(X[:, DIM:2 * DIM]))
    np.testing.assert_array_equal(Z[:, -2:], X[:, -2:])                    # present flags untouched
    assert whiten_features(X[:, :DIM], FeatureSpec(MODEL, "mean"), w).shape == (6, w.rank)
    with pytest.raises(ValueError, match="do not hold 2 vector"):
        whiten_features(X[:, :DIM], sect, w)


def test_without_a_ttl_the_stale_filing_is_used_and_a_broken_join_is_caught(trap_store):
    store, _ = trap_store
    ds = build_growth_dataset(store, [FeatureSpec(MODEL, "mean")], ttl=None)
    assert sorted(zip(ds.groups.tolist(), ds.filing_ids[f"doc_embeddings:{MODEL}/mean"].tolist())) == [
        ("A", "fA20"), ("C", "fC17")]

    bad = pa.table({"company_id": ["A"], "as_of": pa.array([D(2021, 12, 31)], pa.date32()),
                    "filing_id": ["fA21"], "filed_at": pa.array([D(2022, 3, 1)], pa.date32())})
    with pytest.raises(AssertionError, match="look-ahead in x: 1 events matched a filing filed after"):
        check_no_look_ahead(TrainingSet(bad, bad.slice(0, 0), None, 0), "x")


def test_bad_requests_are_refused_with_what_the_store_holds(trap_store):
    store, _ = trap_store
    with pytest.raises(ValueError, match=r"no embeddings of model_version 'nope'.*\['toy-v1'\]"):
        available_feature_specs(store, ["nope"])
    with pytest.raises(ValueError, match="has no method 'aggregator'"):
        available_feature_specs(store, [MODEL], ["aggregator"])
    assert [s.name for s in available_feature_specs(store)] == [
        "doc_embeddings:toy-v1/mean", "chunk_embeddings:toy-v1/section-mean[7]",
        "chunk_embeddings:toy-v1/section-first[7]"]
    with pytest.raises(ValueError, match="window lengths \\[3\\] are not in"):
        build_growth_dataset(store, [], config=LabelConfig(years=(1,)), years=(3,))
    with pytest.raises(ValueError, match="tuple of section ids"):
        FeatureSpec(MODEL, SECTION_MEAN)


# -- planted signal ---------------------------------------------------------------------------------

N_COMPANIES = 80


@pytest.fixture(scope="module")
def signal_store(tmp_path_factory) -> Store:
    """Company i: a cue 10-K for FY T (T in 2017..2020) whose first Item 7 chunk points along the outlook z;
    revenue grows from FY T+1 to T+2 by 0.15 z + noise (the label); every earlier growth is noise."""
    rng = np.random.default_rng(7)
    filings, facts, chunks = [], [], {}
    for i in range(N_COMPANIES):
        co = f"{i:010d}"
        t = 2017 + i % 4
        z = rng.normal()
        growth = {y: rng.normal(0.04, 0.12) for y in range(t - 1, t + 2)}
        growth[t + 2] = 0.04 + 0.15 * z + 0.04 * rng.normal()
        rev = {t - 2: float(rng.uniform(50, 500))}
        for y in range(t - 1, t + 3):
            rev[y] = rev[y - 1] * math.exp(growth[y])
        cue, label = f"c{i}", f"l{i}"
        filings += [_filing(cue, co, D(t, 12, 31), D(t + 1, 2, 15)),
                    _filing(label, co, D(t + 2, 12, 31), D(t + 3, 2, 15))]
        facts += [_revenue(cue, y, rev[y]) for y in (t - 2, t - 1, t)]
        facts += [_revenue(label, y, rev[y]) for y in (t, t + 1, t + 2)]
        noise = lambda: rng.normal(size=DIM)  # noqa: E731
        cue_vec = noise() * 0.3
        cue_vec[0] += z
        chunks[cue] = [("1", _unit(noise())), ("7", _unit(cue_vec)), ("7", _unit(noise())), ("8", _unit(noise()))]
        # the label filing spells out the growth: filed after the window ends, it must never be a feature
        leak = noise() * 0.1
        leak[1] += growth[t + 2] * 10
        chunks[label] = [("1", _unit(noise())), ("7", _unit(leak)), ("8", _unit(noise()))]
    return write_store(tmp_path_factory.mktemp("signal") / "store", filings, facts, chunks)


def _row(payload: dict, model: str, features: str, split: str) -> dict:
    hits = [r for r in payload["rows"] if (r["model"], r["features"], r["split"]) == (model, features, split)]
    assert len(hits) == 1, (model, features, split, [(r["model"], r["features"], r["split"]) for r in payload["rows"]])
    return hits[0]


def _save_tiny_aggregator(folder: Path) -> Path:
    from models.aggregator import DocumentAggregator, save_aggregator
    from models.embedder_config import AggregatorConfig

    torch.manual_seed(0)
    cfg = AggregatorConfig(name="toyagg", num_layers=1, hidden_size=32, num_heads=2, intermediate_size=64,
                           max_chunks=16)
    return save_aggregator(DocumentAggregator(cfg, DIM), folder, MODEL)


def test_regress_job_recovers_a_planted_signal_and_writes_the_report_contract(signal_store, tmp_path, capsys):
    agg = _save_tiny_aggregator(tmp_path / "agg" / "model")
    out = tmp_path / "results" / "regression.json"
    rc = regress.main(["--store", str(signal_store.path), "--n-boot", "200", "--aggregator", str(agg.parent),
                       "--finetune-epochs", "2", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "persistence correlation of consecutive windows" in printed and "the design found 0.0047" in printed
    assert "kept epoch" in printed

    payload = json.loads(out.read_text())
    # the contract of jobs/report.py
    assert set(payload) >= {"rows", "predictions", "persistence_correlation", "label_method", "notes"}
    for r in payload["rows"]:
        assert {"model", "features", "split", "n_train", "n_test", "pearson", "spearman", "r2", "mae"} <= set(r)
        assert all(len(r[m]) == 3 for m in ("pearson", "spearman", "r2", "mae"))
        assert isinstance(r["n_train"], int) and isinstance(r["n_test"], int)
    p = payload["predictions"][0]
    assert set(p) >= {"model", "split", "company_id", "window_start", "window_end", "y_true", "y_pred"}
    assert len(p["window_start"]) == 10 and isinstance(p["y_pred"], float)
    assert isinstance(payload["persistence_correlation"]["value"], float)
    assert payload["persistence_correlation"]["n"] > 0
    assert payload["label_method"] == "wlog-v1-clip1.0"
    assert all(isinstance(n, str) for n in payload["notes"])

    # one matched window per company (the cue filing's); the label filing's leak is never used
    assert payload["dataset"]["rows"] == N_COMPANIES
    kfold = "company-5fold-stratified"
    mean = _row(payload, "ridge", f"doc_embeddings:{MODEL}/mean", kfold)
    sect = _row(payload, "ridge", f"chunk_embeddings:{MODEL}/section-mean[7]", kfold)
    facts = _row(payload, "ridge", "facts", kfold)
    first = _row(payload, "ridge", f"chunk_embeddings:{MODEL}/section-first[7]", kfold)
    assert sect["spearman"][0] > 0.6 and sect["spearman"][1] > 0.35, sect
    assert first["spearman"][0] > sect["spearman"][0], (first, sect)      # the cue chunk opens Item 7
    assert mean["spearman"][1] > 0.2, mean
    assert facts["spearman"][1] < 0 < facts["spearman"][2], facts      # facts alone: interval holds 0
    assert sect["spearman"][1] > facts["spearman"][2]
    assert _row(payload, "persistence", "previous_growth", kfold)["baseline"] is True
    assert _row(payload, "train_mean", "none", kfold)["n_test"] == N_COMPANIES
    # OLS runs where the training folds are wide enough and is skipped (with a reason) where not
    _row(payload, "ols", f"doc_embeddings:{MODEL}/mean", kfold)
    skipped = {(s["model"], s["split"]) for s in payload["skipped"]}
    assert ("ols", "walk-forward") in skipped
    # the same ridge on whitened chunk-space features runs beside the plain one
    white = _row(payload, "ridge_whitened", f"chunk_embeddings:{MODEL}/section-first[7]", kfold)
    assert white["spearman"][0] > 0.3 and white["n_test"] == N_COMPANIES
    assert not [r for r in payload["rows"] if r["model"] == "ridge_whitened" and r["features"].startswith("aggreg")]
    wf = _row(payload, "ridge", f"chunk_embeddings:{MODEL}/section-mean[7]", "walk-forward")
    assert 0 < wf["n_test"] < N_COMPANIES
    # walk-forward correlations are per start year: the training mean, constant in each year, has none
    wf_mean = _row(payload, "train_mean", "none", "walk-forward")
    assert wf_mean["spearman"] == [None, None, None] and wf_mean["mae"][0] is not None
    # the aggregator rows, and its fine-tuning curve per fold and epoch
    agg_rows = [r for r in payload["rows"] if r["features"].startswith("aggregator:")]
    assert {r["model"] for r in agg_rows} == {"ridge", "mlp_head"}
    assert any(r["model"] == "aggregator_finetuned" for r in payload["rows"])
    curves = payload["finetune_curves"]
    assert {c["fold"] for c in curves} >= {f"{kfold}/fold{i}" for i in range(5)}
    assert all(c["epoch"] in (1, 2) and c["test_pearson"] is not None for c in curves)

    # predictions pool each split's test folds: one per company and model on the k-fold split
    ridge_preds = [q for q in payload["predictions"]
                   if q["split"] == kfold and q["features"] == f"chunk_embeddings:{MODEL}/section-mean[7]"
                   and q["model"].startswith("ridge [")]
    assert len({q["company_id"] for q in ridge_preds}) == len(ridge_preds) == N_COMPANIES
    assert pearson_r([q["y_pred"] for q in ridge_preds], [q["y_true"] for q in ridge_preds]) == pytest.approx(
        sect["pearson"][0], abs=1e-9)


def test_stratified_company_folds_keep_the_mean_baseline_uncorrelated():
    from featurestore.regression import MeanFitter, company_kfold, spearman

    rng = np.random.default_rng(5)
    groups = np.repeat([f"c{i:03d}" for i in range(120)], 2)
    y = rng.normal(size=groups.size)
    strat = regress.stratified_company_kfold(groups, y, 5, seed=0)
    tests = np.concatenate([f.test for f in strat.folds])
    assert sorted(tests.tolist()) == list(range(groups.size))
    for f in strat.folds:
        assert not set(groups[f.train]) & set(groups[f.test])
    fold_means = [y[f.test].mean() for f in strat.folds]
    assert max(fold_means) - min(fold_means) < 0.1
    t, p = regress.cross_predict(MeanFitter(), np.zeros((y.size, 1)), y, groups, strat)
    t0, p0 = regress.cross_predict(MeanFitter(), np.zeros((y.size, 1)), y, groups, company_kfold(groups, 5, 0))
    # plain folds: a fold of high labels is predicted by the lower mean of the others
    assert spearman(y[t0], p0) < -0.1 and abs(spearman(y[t], p)) < 0.05
    with pytest.raises(ValueError, match="cannot fill 5 company-disjoint folds"):
        regress.stratified_company_kfold(groups[:8], y[:8], 5, 0)


def test_regress_job_reports_a_store_without_labels_or_vectors(tmp_path, capsys):
    assert regress.main(["--store", str(tmp_path / "missing"), "--out", str(tmp_path / "r.json")]) == 2
    assert "no store at" in capsys.readouterr().err
    Store(tmp_path / "empty", create=True)
    assert regress.main(["--store", str(tmp_path / "empty"), "--out", str(tmp_path / "r.json")]) == 2
    assert "holds no embeddings" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


# -- torch heads -------------------------------------------------------------------------------------

def test_mlp_head_learns_a_nonlinear_signal_and_stops_early():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = np.tanh(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.1 * rng.normal(size=400)
    groups = np.repeat(np.arange(200), 2)
    model = MLPHeadFitter(HeadConfig(max_epochs=200, patience=15, seed=0))(X[:300], y[:300], groups[:300])
    pred = model.predict(X[300:])
    assert pred.shape == (100,) and pearson_r(pred, y[300:]) > 0.8
    assert 1 <= model.best_epoch <= model.epochs_run <= 200
    again = MLPHeadFitter(HeadConfig(max_epochs=200, patience=15, seed=0))(X[:300], y[:300], groups[:300])
    np.testing.assert_allclose(again.predict(X[300:]), pred)          # deterministic for a seed

    tr, va = inner_company_split(groups, 0.2, 0)
    assert not set(groups[tr]) & set(groups[va]) and len(set(groups[va])) == 40


def test_finetuned_aggregator_trains_and_records_its_curve():
    from models.aggregator import DocumentAggregator
    from models.embedder_config import AggregatorConfig

    rng = np.random.default_rng(3)
    dim, n = 8, 48
    docs = [rng.normal(size=(int(rng.integers(2, 6)), dim)).astype(np.float32) for _ in range(n)]
    y = np.array([d[:, 0].mean() for d in docs])
    groups = np.arange(n) // 2
    cfg = AggregatorConfig(name="t", num_layers=1, hidden_size=32, num_heads=2, intermediate_size=64, max_chunks=8)

    def fresh() -> DocumentAggregator:
        torch.manual_seed(0)
        return DocumentAggregator(cfg, dim)

    fitter = AggregatorFinetuneFitter(fresh, dim, docs, FinetuneConfig(epochs=6, patience=6, lr=3e-3, head_lr=1e-2,
                                                                       docs_per_batch=8))
    idx = np.arange(n, dtype=float)[:, None]
    model = fitter.fit_monitored(idx[:36], y[:36], groups[:36], idx[36:], y[36:], label="fold0")
    pred = model.predict(idx[36:])
    assert pred.shape == (12,) and np.isfinite(pred).all()
    label, curve, best = fitter.curves[0]
    assert label == "fold0" and [r.epoch for r in curve] == list(range(1, 7)) and 1 <= best <= 6
    assert curve[-1].train_loss < curve[0].train_loss
    assert curve[-1].train_pearson > 0.5 and all(r.test_pearson is not None for r in curve)
    with pytest.raises(ValueError, match="row indices into its 48 documents"):
        model.predict(np.array([[48.0]]))


# -- the signal check's verdict ----------------------------------------------------------------------

def _result_row(model: str, features: str, spearman: list, baseline: bool = False,
                split: str = "company-5fold-stratified") -> dict:
    return {"model": model, "features": features, "split": split, "n_train": 240, "n_test": 300,
            "pearson": spearman, "spearman": spearman, "r2": [0.0, None, None], "mae": [0.1, None, None],
            "baseline": baseline}


def test_signal_check_verdict_needs_recovery_a_null_facts_baseline_and_a_null_permuted_run():
    from jobs.signal_check import generic_features, side_by_side, side_by_side_text, verdict_lines, verdicts

    assert generic_features("doc_embeddings:minilm-abc123/mean") == "doc_embeddings:<model>/mean"
    assert generic_features("chunk_embeddings:tiny-random-9f/section-mean[7]") == \
        "chunk_embeddings:<model>/section-mean[7]"
    signal = [_result_row("ridge", "facts", [0.02, -0.1, 0.13], baseline=True),
              _result_row("ridge", "doc_embeddings:v-signal/mean", [0.31, 0.2, 0.42]),
              _result_row("ridge", "chunk_embeddings:v-signal/section-first[7]", [0.55, 0.46, 0.63]),
              _result_row("ridge", "chunk_embeddings:v-signal/section-first[7]", [0.4, 0.1, 0.6], split="walk-forward")]
    shuffled = [_result_row("ridge", "facts", [0.0, -0.1, 0.1], baseline=True),
                _result_row("ridge", "doc_embeddings:v-other/mean", [0.01, -0.1, 0.12]),
                _result_row("ridge", "chunk_embeddings:v-other/section-first[7]", [0.03, -0.08, 0.14]),
                _result_row("ridge", "chunk_embeddings:v-other/section-first[7]", [0.0, -0.3, 0.3],
                            split="walk-forward")]
    records = side_by_side(signal, shuffled)
    assert records[2]["shuffled_spearman"] == [0.03, -0.08, 0.14]       # matched across model versions
    v = verdicts(records)
    assert v["passed"] and v["passing"] == ["ridge [chunk_embeddings:<model>/section-first[7]]"]
    assert [p["recovers_signal"] for p in v["feature_sets"]] == [False, True]   # k-fold rows only
    assert "ACCEPTANCE PASSED" in verdict_lines(v)[-1] and "section-first" in side_by_side_text(records)

    leaky_facts = [_result_row("ridge", "facts", [0.2, 0.1, 0.3], baseline=True)] + signal[1:]
    assert not verdicts(side_by_side(leaky_facts, shuffled))["passed"]
    null_fails = shuffled[:2] + [_result_row("ridge", "chunk_embeddings:v/section-first[7]", [0.3, 0.2, 0.4])]
    v = verdicts(side_by_side(signal, null_fails))
    assert not v["passed"] and "ACCEPTANCE FAILED" in verdict_lines(v)[-1]
