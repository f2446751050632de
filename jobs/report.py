"""One self-contained HTML report of a store, its models and their results.

Local (no Ray; the worked example runs the encoder on CPU, a few seconds for 300 numbers):
    python -m jobs.report --store stores/demo --out reports/ --pretrain runs/tiny \\
        --runs runs/embedder runs/aggregator --benchmark runs/embedder/benchmarks.json \\
        --regression results/regression.json
    python -m jobs.report --pipeline out/demo          # the pipeline runner's layout, see below

On a cluster (store, run folders and results on shared storage; the report is written by the driver):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.report --pipeline /shared/pipeline --out /shared/pipeline/results/report.html

`--pipeline OUT` reads OUT/store, OUT/runs/{pretrain,embedder,aggregator} and
OUT/results/{benchmark.json,regression.json} and writes OUT/results/report.html;
explicit flags override any of these. `--out` is a file (…html) or a folder
(report.html inside it). The job prints the path of the written report.

Sections: corpus counts, training curves of each model run, the embedding
benchmark table, the growth-regression table with intervals against the
baselines, predicted-vs-actual scatter per split, a worked example of
masked-number predictions on one whole filing, and the lineage of every number
shown (input files with hashes, ETL versions, model versions, job runs, table
versions). A section whose input is missing says so and names the command
that makes it; the report is still written (it never invents a value).

Design choices:
- Rendering primitives (escaping, tables, figures, page) are in
  `jobs.report_html`; this module gathers data and builds sections. torch and
  the models are imported only by the worked example, lancedb only by the
  lineage of Lance tables, so a report without them stays fast.
- Every section builder is guarded: an unexpected error becomes a red note in
  its own section (and a line on stderr) instead of losing the whole report.
- Inputs written by other jobs are read generically: a run folder's
  metrics.json / metrics.jsonl / metrics.csv is "one record per logged step"
  (step column + numeric columns); the benchmark JSON's `models` mapping is
  flattened into one column per numeric leaf, grouped by its top-level key,
  so a new metric upstream shows up without a change here.
- The worked example picks a filing of a held-out company (the pretrain run's
  data_report.json `eval_companies`) with the most numbers; else the first
  filing that has numbers. Each number is masked alone (the target enters as
  the masked-number bin, every other number stays visible) via
  `models.evaluate.model_predictions`, the first `--max-example-numbers` in
  reading order only, so the section stays cheap on a CPU.
- The report only reads: the store through read-only SQL, the registry only
  when `registry.sqlite` already exists (opening it never creates one).

Regression results JSON (`python -m jobs.regress --out FILE` writes it; this is the contract):

    {
      "rows": [                          # one per (model, features, split)
        {"model": str,                   # e.g. "ridge", or a baseline: "train_mean", "persistence"
         "features": str,                # e.g. "doc_embeddings:minilm-v1/mean", "facts"
         "split": str,                   # e.g. "company_kfold", "walk_forward_2022"
         "n_train": int, "n_test": int,
         "pearson": [est, lo, hi],       # lo/hi: the interval bounds (null if none was computed)
         "spearman": [est, lo, hi],
         "r2": [est, lo, hi],
         "mae": [est, lo, hi],
         "baseline": bool                # optional: true for a baseline row (rendered in italics)
        }, ...],
      "predictions": [                   # out-of-sample predictions, one per test window and model
        {"model": str, "split": str, "company_id": str, "window_start": "YYYY-MM-DD",
         "window_end": "YYYY-MM-DD", "y_true": float, "y_pred": float}, ...],
      "persistence_correlation": {"value": float, "n": int, ...},   # growth of consecutive windows
      "label_method": str,               # growth.method of the labels used
      "interval": str,                   # optional: how lo/hi were made, e.g. "95% BCa bootstrap over companies"
      "notes": [str]
    }

Further keys of a row that hold a number or an [est, lo, hi] list are shown as
extra columns; further keys of `persistence_correlation` are listed with it.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import re
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jobs.report_html import (ARROW, MISSING, Html, Section, Series, bullets, esc, fmt_compact, fmt_interval, fmt_num,
                              fmt_time, join, kv_table, line_chart, note, para, render_page, scatter_chart, table,
                              tag)

DEFAULT_TITLE = "filingstore report"
REPORT_FILE = "report.html"
MAX_EXAMPLE_NUMBERS = 300
PIPELINE_RUNS = ("pretrain", "embedder", "aggregator")
METRICS_FILES = ("metrics.json", "metrics.jsonl", "metrics.csv")
X_COLUMNS = ("step", "global_step", "epoch", "iteration")
# A loss-like metric: plotted as a training curve (lower is better).
LOSS_RE = re.compile(r"(^|_)(loss|mlm|ce|nll|excess|bce|mse)($|_)")
ERROR_CLASSES = ((0.1, "e0", "< 0.1 decade"), (0.5, "e1", "0.1 – 0.5"), (1.0, "e2", "0.5 – 1"),
                 (math.inf, "e3", "≥ 1 decade"))
MAX_BENCH_COLUMNS = 12     # columns per benchmark table before it continues in a second one
MAX_HASH_BYTES = 256 << 20  # input files hashed for the lineage table up to this size (a big store: size + time)
WHOLE_KINDS = ("year", "date")  # number kinds shown as whole numbers (2023, not 2.02k)

# The command that makes each kind of input (shown in "not available" notes).
COMMANDS = {
    "ingest": "python -m jobs.ingest --input FILINGS --store {store}",
    "pretrain": "python -m jobs.pretrain --store {store} --out {path}",
    "embedder": "python -m jobs.train_embedder --store {store} --out {path}",
    "aggregator": "python -m jobs.train_aggregator --store {store} --out {path}",
    "benchmark": "python -m jobs.benchmark --store {store} --out {path}",
    "regression": "python -m jobs.regress --store {store} --out {path}",
    "embed": "python -m jobs.embed --store {store} --model MODEL",
    "labels": "python -m jobs.labels --store {store}",
}


def command(kind: str, store: Path | None = None, path: Path | str | None = None) -> str:
    return COMMANDS[kind].format(store=store or "STORE", path=path or "OUT")


# --- inputs -------------------------------------------------------------------------

@dataclass
class ReportInputs:
    store: Path | None
    runs: list[Path] = field(default_factory=list)
    benchmark: Path | None = None
    regression: Path | None = None
    pretrain: Path | None = None
    title: str = DEFAULT_TITLE
    max_example_numbers: int = MAX_EXAMPLE_NUMBERS
    device: str = "cpu"

    def all_runs(self) -> list[Path]:
        """The pretrain run first (when given), then the other runs, each once."""
        seen: dict[str, Path] = {}
        for p in ([self.pretrain] if self.pretrain else []) + list(self.runs):
            seen.setdefault(str(Path(p).resolve()), Path(p))
        return list(seen.values())


def pipeline_inputs(root: Path) -> ReportInputs:
    """The pipeline runner's layout under `root` (missing parts stay listed, so the report names them)."""
    root = Path(root)
    return ReportInputs(store=root / "store", runs=[root / "runs" / r for r in PIPELINE_RUNS],
                        benchmark=root / "results" / "benchmark.json",
                        regression=root / "results" / "regression.json", pretrain=root / "runs" / "pretrain")


def report_path(out: Path) -> Path:
    """`out` itself when it names an .html/.htm file, else `out/report.html`."""
    out = Path(out)
    return out if out.suffix.lower() in (".html", ".htm") else out / REPORT_FILE


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} {path} is not valid JSON ({e}); re-run the job that wrote it") from e


def file_digest(path: Path, max_bytes: int | None = None) -> str | None:
    """SHA-256 of a file's bytes; None when it is larger than `max_bytes` (not worth reading whole)."""
    if max_bytes is not None and Path(path).stat().st_size > max_bytes:
        return None
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- store access -------------------------------------------------------------------

def open_store(path: Path | None):
    """(Store, None), or (None, why not) when there is no store at `path`."""
    if path is None:
        return None, f"no --store given; ingest filings with `{command('ingest')}` and pass --store"
    from featurestore import Store
    try:
        return Store(path), None
    except FileNotFoundError:
        return None, f"no store at {path}; run `{command('ingest', path)}`"


def relations(store) -> set[str]:
    """Names of the tables and views of the store's DuckDB file."""
    rows = store.sql(
        "SELECT table_name AS name FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND database_name = current_database() UNION ALL "
        "SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal "
        "AND database_name = current_database()")
    return set(rows.column("name").to_pylist())


def rows_of(store, query: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    return store.sql(query, params).to_pylist()


# --- section: corpus ----------------------------------------------------------------

def corpus_section(store, store_path: Path | None, why_missing: str | None) -> Section:
    from featurestore import schemas

    s = Section("Corpus", "What the store holds: rows per table, filings by source and form, numbers by kind, "
                "rejected inputs and labels. Counts are exact (SQL over the store's DuckDB file at report time).")
    if store is None:
        s.available = False
        return s.add(note(why_missing))
    have = relations(store)
    counts = []
    for t in schemas.RELATIONAL_TABLES:
        counts.append([t.name, store.count(t) if t.name in have else None])
    for view in (schemas.CHUNK_EMBEDDINGS_NAME, schemas.DOC_EMBEDDINGS_NAME):
        counts.append([view, store.sql(f'SELECT count(*) AS n FROM "{view}"')["n"][0].as_py()
                       if view in have else None])
    s.add(table(["table", "rows"], counts, caption="Rows per table (– : table not created yet)"))
    n_filings = dict(counts)["filings"] or 0
    if n_filings == 0:
        s.add(note(f"the store at {store_path} holds no filings; run `{command('ingest', store_path)}`"))
        s.available = False
        return s
    by_form = rows_of(store, """
        WITH c AS (SELECT filing_id, count(*) AS n FROM chunks GROUP BY 1),
             n AS (SELECT filing_id, count(*) AS n FROM numbers GROUP BY 1)
        SELECT f.source, f.form, count(*) AS filings, count(DISTINCT f.company_id) AS companies,
               min(f.period_end) AS first_period, max(f.period_end) AS last_period,
               min(f.filed_at) AS first_filed, max(f.filed_at) AS last_filed,
               coalesce(sum(c.n), 0)::BIGINT AS chunks, coalesce(sum(n.n), 0)::BIGINT AS numbers
        FROM filings f LEFT JOIN c USING (filing_id) LEFT JOIN n USING (filing_id)
        GROUP BY 1, 2 ORDER BY 1, 2""")
    s.add(table(["source", "form", "filings", "companies", "first period", "last period", "first filed",
                 "last filed", "chunks", "numbers"],
                [[r["source"], r["form"], r["filings"], r["companies"], fmt_time(r["first_period"]),
                  fmt_time(r["last_period"]), fmt_time(r["first_filed"]), fmt_time(r["last_filed"]), r["chunks"],
                  r["numbers"]] for r in by_form], caption="Filings by source and form"))
    kinds = rows_of(store, """
        SELECT coalesce(kind, 'unknown') AS kind, count(*) AS n, count(DISTINCT filing_id) AS filings,
               count(*) FILTER (WHERE value < 0) AS negative, median(abs(value)) AS median_abs
        FROM numbers GROUP BY 1 ORDER BY n DESC, kind""")
    if kinds:
        s.add(table(["kind", "numbers", "filings", "negative", "median |value|"],
                    [[r["kind"], r["n"], r["filings"], r["negative"], fmt_compact(r["median_abs"])]
                     for r in kinds], caption="Numbers tagged in the text, by kind (values scaled; percentages "
                                              "as fractions)"))
    if "rejects" in have:
        rej = rows_of(store, "SELECT stage, reason, count(*) AS n FROM rejects GROUP BY 1, 2 "
                             "ORDER BY n DESC, stage, reason LIMIT 15")
        if rej:
            s.add(table(["stage", "reason", "rejects"], [[r["stage"], r["reason"], r["n"]] for r in rej],
                        caption="Rejected inputs and facts (top 15 stage/reason pairs)"))
        else:
            s.add(para("No input was rejected."))
    if "growth" in have:
        growth = rows_of(store, """
            SELECT method, count(*) AS n, count(DISTINCT company_id) AS companies, min(window_start) AS first_start,
                   max(window_end) AS last_end, median(growth) AS median_growth FROM growth GROUP BY 1 ORDER BY 1""")
        if growth:
            s.add(table(["label method", "windows", "companies", "first window start", "last window end",
                         "median growth"],
                        [[r["method"], r["n"], r["companies"], fmt_time(r["first_start"]), fmt_time(r["last_end"]),
                          r["median_growth"]] for r in growth], caption="Growth labels"))
        else:
            s.add(note(f"no growth labels yet; run `{command('labels', store_path)}`"))
    emb_rows = []
    for view, has_method in ((schemas.CHUNK_EMBEDDINGS_NAME, False), (schemas.DOC_EMBEDDINGS_NAME, True)):
        if view not in have:
            continue
        method = "method" if has_method else "NULL"
        for r in rows_of(store, f'SELECT model_version, {method} AS method, count(*) AS n, '
                                f'count(DISTINCT filing_id) AS filings FROM "{view}" GROUP BY 1, 2 ORDER BY 1, 2'):
            emb_rows.append([view, r["model_version"], r["method"] or MISSING, r["n"], r["filings"]])
    if emb_rows:
        s.add(table(["view", "model version", "method", "vectors", "filings"], emb_rows,
                    caption="Stored embeddings"))
    else:
        s.add(note(f"no chunk or document embeddings in the store; run `{command('embed', store_path)}`"))
    return s



# --- section: training curves -------------------------------------------------------

def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _records_from(obj: Any) -> list[dict[str, Any]] | None:
    """A list of step records from a parsed metrics file: a list of dicts, or a dict holding one."""
    if isinstance(obj, list) and all(isinstance(r, dict) for r in obj):
        return obj
    if isinstance(obj, dict):
        for key in ("history", "metrics", "records", "steps", "log"):
            if key in obj:
                return _records_from(obj[key])
        lists = [v for v in obj.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v)]
        if len(lists) == 1:
            return lists[0]
    return None


def read_metrics(run_dir: Path) -> tuple[list[dict[str, float]], Path]:
    """Numeric step records of a run folder (first of metrics.json, .jsonl, .csv found) and that file.

    Non-numeric cells are dropped; records keep their order.
    """
    run_dir = Path(run_dir)
    for name in METRICS_FILES:
        path = run_dir / name
        if not path.is_file():
            continue
        if name.endswith(".json"):
            raw = _records_from(_load_json(path, "metrics file"))
            if raw is None:
                raise ValueError(f"{path} holds no list of step records (expected [{{\"step\": 1, ...}}, ...] or "
                                 f"{{\"history\": [...]}}); re-run the training job that wrote it")
        elif name.endswith(".jsonl"):
            raw = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        else:
            with path.open(newline="") as f:
                raw = list(csv.DictReader(f))
        records = []
        for r in raw:
            rec = {k: x for k, v in r.items() if (x := _number(v)) is not None}
            if rec:
                records.append(rec)
        return records, path
    raise FileNotFoundError(f"{run_dir} holds none of {', '.join(METRICS_FILES)}")


def x_column(records: Sequence[Mapping[str, float]]) -> str | None:
    for c in X_COLUMNS:
        if any(c in r for r in records):
            return c
    return None


def loss_columns(records: Sequence[Mapping[str, float]]) -> list[str]:
    """Columns that are losses (train ones first), in first-seen order."""
    seen: dict[str, None] = {}
    for r in records:
        for k in r:
            if LOSS_RE.search(k) and "acc" not in k:
                seen.setdefault(k, None)
    cols = list(seen)
    return sorted(cols, key=lambda c: (c.startswith(("eval", "val", "test")), cols.index(c)))


def metric_summary(records: Sequence[Mapping[str, float]], xcol: str | None) -> list[list[Any]]:
    """[metric, logged points, first, last, best] per numeric column (best: min for losses, max otherwise)."""
    cols: dict[str, None] = {}
    for r in records:
        for k in r:
            if k != xcol:
                cols.setdefault(k, None)
    out = []
    for c in cols:
        vals = [(r.get(xcol, i), r[c]) for i, r in enumerate(records) if c in r and math.isfinite(r[c])]
        if not vals:
            continue
        ys = [v for _x, v in vals]
        lower_better = bool(LOSS_RE.search(c)) or "err" in c or "mae" in c
        best = min(ys) if lower_better else max(ys)
        out.append([c, len(ys), ys[0], ys[-1], best])
    return out


def _run_kind(run_dir: Path) -> str:
    name = run_dir.name.lower()
    for kind in ("embedder", "aggregator", "pretrain"):
        if kind in name:
            return kind
    return "pretrain"


def run_subsection(run_dir: Path, store_path: Path | None) -> tuple[list[Html], bool]:
    """The body for one run folder and whether it had metrics."""
    run_dir = Path(run_dir)
    head = tag("h3", f"{run_dir.name}  ({run_dir})")
    hint = command(_run_kind(run_dir), store_path, run_dir)
    if not run_dir.is_dir():
        return [head, note(f"run folder {run_dir} does not exist; run `{hint}`")], False
    try:
        records, source = read_metrics(run_dir)
    except FileNotFoundError as e:
        return [head, note(f"{e}; run `{hint}` (it writes them at the end of training)")], False
    if not records:
        return [head, note(f"{source} holds no numeric step records; re-run `{hint}`")], False
    body: list[Html] = [head]
    meta = []
    cfg = run_dir / "run_config.json"
    if cfg.is_file():
        enc = _load_json(cfg, "run config").get("encoder", {})
        if isinstance(enc, dict) and enc.get("name"):
            meta.append(f"preset {enc['name']} ({enc.get('family', '?')}, backbone {enc.get('backbone', '?')})")
    data = run_dir / "data_report.json"
    if data.is_file():
        d = _load_json(data, "data report")
        parts = [f"{k.replace('_', ' ')} {fmt_num(d[k])}" for k in ("train_chunks", "eval_chunks", "train_tokens")
                 if isinstance(d.get(k), (int, float))]
        if d.get("eval_companies"):
            parts.append(f"held-out companies {', '.join(map(str, d['eval_companies']))}")
        meta.extend(parts)
    meta.append(f"{len(records)} logged records from {source.name}")
    body.append(para("; ".join(meta), "meta"))
    xcol = x_column(records)
    losses = loss_columns(records)
    if losses:
        series = []
        for c in losses:
            pts = [(r.get(xcol, i) if xcol else i, r[c]) for i, r in enumerate(records) if c in r]
            is_eval = c.startswith(("eval", "val", "test"))
            series.append(Series(c, [p[0] for p in pts], [p[1] for p in pts], dashed=is_eval,
                                 markers=is_eval or len(pts) < 20))
        body.append(line_chart(series, xlabel=xcol or "record", ylabel="loss", alt=f"losses of {run_dir.name}",
                               caption=f"{run_dir.name}: training losses (solid) and held-out losses (dashed)"))
    else:
        body.append(note(f"{source} has no loss columns (names containing loss, mlm, ce, nll, excess); "
                         f"the table below lists what it has", "info"))
    body.append(table(["metric", "points", "first", "last", "best"], metric_summary(records, xcol),
                      caption="Logged metrics (best: lowest for losses and errors, highest otherwise)"))
    return body, True


def training_section(inputs: ReportInputs) -> Section:
    s = Section("Training curves", "Loss per logged step of each model run (pretraining, chunk embedder, "
                "aggregator), read from the run folder's metrics file. Solid lines are training losses "
                "(averaged over the steps since the previous record), dashed lines with dots are held-out "
                "evaluations; a falling dashed line is the sign that the model learns something general.")
    runs = inputs.all_runs()
    if not runs:
        s.available = False
        return s.add(note(f"no run folders given; pass --pretrain RUN_DIR and/or --runs RUN_DIR ... "
                          f"(made by `{command('pretrain', inputs.store)}`)"))
    found = 0
    for run_dir in runs:
        body, ok = run_subsection(run_dir, inputs.store)
        s.add(*body)
        found += ok
    s.available = found > 0
    return s


# --- section: embedding benchmarks --------------------------------------------------

def numeric_leaves(obj: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], float]:
    """Every int/float leaf of nested dicts by its key path (bools, lists and strings are skipped)."""
    out: dict[tuple[str, ...], float] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            out.update(numeric_leaves(v, prefix + (str(k),)))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool) and prefix:
        out[prefix] = float(obj) if isinstance(obj, float) else obj
    return out


def benchmark_tables(models: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(group, column names, rows) per top-level metric group; one row per model, one column per leaf.

    Leaves directly under a model go to the group "overall"; a group wider than
    MAX_BENCH_COLUMNS continues in further tables.
    """
    leaves = {name: numeric_leaves(m) for name, m in models.items() if isinstance(m, Mapping)}
    groups: dict[str, dict[str, None]] = {}
    for lv in leaves.values():
        for path in lv:
            group = "overall" if len(path) == 1 else path[0]
            groups.setdefault(group, {})[".".join(path if len(path) == 1 else path[1:])] = None
    ordered = (["overall"] if "overall" in groups else []) + [g for g in groups if g != "overall"]
    out = []
    for g in ordered:
        cols = list(groups[g])
        for i in range(0, len(cols), MAX_BENCH_COLUMNS):
            part = cols[i:i + MAX_BENCH_COLUMNS]
            rows = []
            for name, lv in leaves.items():
                flat = {".".join(p if len(p) == 1 else p[1:]): v for p, v in lv.items()
                        if ("overall" if len(p) == 1 else p[0]) == g}
                if any(c in flat for c in part):
                    rows.append([name] + [flat.get(c) for c in part])
            out.append((g if i == 0 else f"{g} (continued)", part, rows))
    return out


def benchmark_section(path: Path | None, store_path: Path | None) -> Section:
    s = Section("Embedding benchmarks", "How each embedder does on the frozen benchmark sets: paraphrase "
                "retrieval (recall@1 and MRR, higher is better), numeric ordering of anchor/near/far triplets "
                "(accuracy, higher is better) and the geometry of stored chunk vectors (participation ratio: "
                "how many directions the vectors use; mean cosine near 1 means collapsed). One row per model, "
                "one column per metric of the benchmark file.")
    if path is None:
        s.available = False
        return s.add(note(f"no --benchmark given; run `{command('benchmark', store_path, 'results/benchmark.json')}` "
                          f"and pass --benchmark FILE"))
    if not Path(path).is_file():
        s.available = False
        return s.add(note(f"{path} does not exist; run `{command('benchmark', store_path, path)}`"))
    payload = _load_json(path, "benchmark file")
    models = payload.get("models") if isinstance(payload, Mapping) else None
    if not isinstance(models, Mapping) or not models:
        s.available = False
        return s.add(note(f"{path} has no \"models\" mapping (expected {{\"models\": {{name: {{metric group: "
                          f"{{metric: value}}}}}}}}); re-run `{command('benchmark', store_path, path)}`"))
    ids = []
    for name, m in models.items():
        if isinstance(m, Mapping):
            ids.append([name, m.get("model_version", MISSING), m.get("path") or MISSING])
    if any(r[1] != MISSING or r[2] != MISSING for r in ids):
        s.add(table(["model", "model version", "path"], ids, caption="Models benchmarked"))
    for group, cols, rows in benchmark_tables(models):
        s.add(table(["model"] + cols, rows, caption=group))
    extra = {k: v for k, v in payload.items() if k != "models"}
    pairs = [(k, v) for k, v in extra.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    if pairs:
        s.add(kv_table(pairs, caption="Benchmark settings"))
    for k, v in extra.items():
        if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            s.add(tag("h4", k.replace("_", " ").capitalize()), bullets(v))
        elif isinstance(v, Mapping):
            flat = [(".".join(p), val) for p, val in numeric_leaves(v).items()]
            flat += [(kk, vv) for kk, vv in v.items() if isinstance(vv, str)]
            if flat:
                s.add(kv_table(flat[:40], caption=k.replace("_", " ")))
    return s


# --- section: growth regressions ----------------------------------------------------

REGRESSION_KEYS = ("model", "features", "split", "n_train", "n_test")
REGRESSION_METRICS = ("pearson", "spearman", "r2", "mae")


def _is_interval(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and 1 <= len(v) <= 3 and all(
        x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in v)


def regression_table(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]], list[str | None]]:
    """(headers, cells, row classes): known columns first, then any other numeric or interval columns."""
    extra: dict[str, None] = {}
    for r in rows:
        for k, v in r.items():
            if k in REGRESSION_KEYS or k in REGRESSION_METRICS or k == "baseline":
                continue
            if _is_interval(v) or (isinstance(v, (int, float)) and not isinstance(v, bool)):
                extra.setdefault(k, None)
    metrics = list(REGRESSION_METRICS) + list(extra)
    headers = list(REGRESSION_KEYS) + metrics
    cells, classes = [], []
    for r in rows:
        line = [r.get(k) if k in ("n_train", "n_test") else (r.get(k) or MISSING) for k in REGRESSION_KEYS]
        line += [Html(esc(fmt_interval(r[m]))) if m in r else MISSING for m in metrics]
        cells.append(line)
        classes.append("baseline" if r.get("baseline") else None)
    return headers, cells, classes


def regression_section(path: Path | None, store_path: Path | None) -> Section:
    s = Section("Growth regressions", "Out-of-sample skill at predicting company growth labels, each model "
                "against the baselines on the same splits: estimate with its interval in brackets "
                "[low, high]. Pearson/Spearman correlation and R² (higher is better), MAE (lower is better). "
                "Where two intervals overlap, the data do not separate the two models. Baseline rows are "
                "in italics. Below, predicted against actual growth per split; points on the dotted line "
                "are perfect predictions.")
    if path is None:
        s.available = False
        make = command("regression", store_path, "results/regression.json")
        return s.add(note(f"no --regression given; run `{make}` and pass --regression FILE"))
    if not Path(path).is_file():
        s.available = False
        return s.add(note(f"{path} does not exist; run `{command('regression', store_path, path)}`"))
    payload = _load_json(path, "regression results")
    rows = payload.get("rows") if isinstance(payload, Mapping) else None
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        s.available = False
        return s.add(note(f"{path} has no \"rows\" list (the contract is in jobs/report.py's docstring); "
                          f"re-run `{command('regression', store_path, path)}`"))
    meta = []
    if payload.get("label_method"):
        meta.append(f"labels: growth method {payload['label_method']}")
    if payload.get("interval"):
        meta.append(f"intervals: {payload['interval']}")
    if meta:
        s.add(para("; ".join(meta), "meta"))
    if rows:
        headers, cells, classes = regression_table(rows)
        numeric = [k in ("n_train", "n_test") for k in REGRESSION_KEYS] + [True] * (len(headers) - len(REGRESSION_KEYS))
        s.add(table(headers, cells, caption="Regression results (estimate [low, high])", row_classes=classes,
                    numeric=numeric))
    else:
        s.add(note(f"{path} lists no regression rows; re-run `{command('regression', store_path, path)}`"))
    pc = payload.get("persistence_correlation")
    if isinstance(pc, Mapping) and _number(pc.get("value")) is not None:
        rest = ", ".join(f"{k} {fmt_num(v) if isinstance(v, (int, float)) else v}"
                         for k, v in pc.items() if k not in ("value", "n"))
        s.add(para(f"Persistence: the correlation of a company's growth in one window with its growth in the "
                   f"next is {fmt_interval(pc['value'])}"
                   f"{' (n = ' + fmt_num(pc['n']) + ')' if isinstance(pc.get('n'), int) else ''}"
                   f"{'; ' + rest if rest else ''}. A model should beat what this persistence alone gives."))
    preds = payload.get("predictions")
    if isinstance(preds, list) and preds:
        by_split: dict[str, dict[str, tuple[list[float], list[float]]]] = defaultdict(dict)
        for p in preds:
            if not isinstance(p, Mapping):
                continue
            yt, yp = _number(p.get("y_true")), _number(p.get("y_pred"))
            if yt is None or yp is None:
                continue
            xs, ys = by_split[str(p.get("split", "all"))].setdefault(str(p.get("model", "model")), ([], []))
            xs.append(yt)
            ys.append(yp)
        for split, groups in by_split.items():
            s.add(tag("h3", f"Predicted vs actual: {split}"),
                  scatter_chart(groups, xlabel="actual growth", ylabel="predicted growth",
                                title=f"split {split}", alt=f"predicted against actual growth, split {split}",
                                caption=f"{sum(len(g[0]) for g in groups.values())} test predictions, "
                                        f"one colour per model; dotted: y = x"))
        if not by_split:
            s.add(note(f"{path}: no prediction has numeric y_true and y_pred"))
    else:
        s.add(note(f"{path} holds no \"predictions\"; re-run `{command('regression', store_path, path)}` "
                   f"to get the scatter plots"))
    notes = payload.get("notes")
    if isinstance(notes, list) and notes:
        s.add(tag("h4", "Notes from the regression job"), bullets(str(n) for n in notes))
    return s


# --- section: worked masked-number example ------------------------------------------

@dataclass
class ExampleNumber:
    chunk_id: str
    char_start: int          # inner start of the number's tag in the chunk's tagged text
    raw: str
    value: float
    kind: str
    pred: float | None       # None: not predicted (over the cap, or truncated away)
    log10_err: float | None


def choose_filing(store, eval_companies: Sequence[str]) -> tuple[str | None, str]:
    """(filing_id, why it was chosen): the held-out filing with the most numbers, else the first with numbers."""
    counts = "SELECT filing_id, count(*) AS n FROM numbers WHERE value IS NOT NULL AND isfinite(value) GROUP BY 1"
    if eval_companies:
        marks = ", ".join("?" for _ in eval_companies)
        got = rows_of(store, f"WITH c AS ({counts}) SELECT f.filing_id, c.n FROM filings f JOIN c USING (filing_id) "
                             f"WHERE f.company_id IN ({marks}) ORDER BY c.n DESC, f.filing_id LIMIT 1",
                      list(eval_companies))
        if got:
            return got[0]["filing_id"], (f"the filing with the most numbers ({got[0]['n']}) among the companies the "
                                         f"pretraining held out ({', '.join(eval_companies)}): the model never saw it")
    got = rows_of(store, f"WITH c AS ({counts}) SELECT f.filing_id, c.n FROM filings f JOIN c USING (filing_id) "
                         f"ORDER BY f.filed_at NULLS LAST, f.filing_id LIMIT 1")
    if not got:
        return None, "no filing has numbers"
    why = ("the first filing with numbers (the run records no held-out companies, so the model may have "
           "trained on this filing)")
    return got[0]["filing_id"], why


def error_class(err: float | None) -> str:
    if err is None:
        return "e-skip"
    for limit, cls, _label in ERROR_CLASSES:
        if err < limit:
            return cls
    return ERROR_CLASSES[-1][1]


def _inline(value: float, kind: str) -> str:
    """A value in the flow of text: years and dates as whole numbers, other kinds compact."""
    if kind in WHOLE_KINDS and math.isfinite(value):
        return str(round(value))
    return fmt_compact(value)


def annotate_chunk(text: str, numbers: Mapping[int, ExampleNumber]) -> Html:
    """The chunk's text without tags, each tagged number shown as `true → predicted`, coloured by error."""
    from models.tokenizer import CLOSE_TAG, OPEN_TAG
    pattern = re.compile(re.escape(OPEN_TAG) + r"(.*?)" + re.escape(CLOSE_TAG), re.S)
    out: list[Html] = []
    pos = 0
    for m in pattern.finditer(text):
        out.append(esc(text[pos:m.start()]))
        inner = m.group(1)
        n = numbers.get(m.start(1))
        if n is None:
            out.append(esc(inner))
        elif n.pred is None:
            out.append(tag("span", inner, class_="n e-skip",
                           title=f"{n.raw}: {n.kind}, value {_inline(n.value, n.kind)}; not predicted"))
        else:
            label = f"{_inline(n.value, n.kind)} {ARROW} {_inline(n.pred, n.kind)}"
            title = (f"{n.raw}: {n.kind}, true {n.value:.6g}, predicted {n.pred:.6g}, "
                     f"|log10 error| {n.log10_err:.2f}")
            out.append(tag("span", label, class_=f"n {error_class(n.log10_err)}", title=title))
        pos = m.end()
    out.append(esc(text[pos:]))
    return join(out)


def _error_legend() -> Html:
    return tag("p", join([tag("strong", "|log10 error|: ")] + [tag("span", label, class_=f"n {cls}")
                                                                 for _lim, cls, label in ERROR_CLASSES]
                         + [tag("span", "not predicted", class_="n e-skip")]), class_="legend")


def worked_example_section(store, store_path: Path | None, pretrain: Path | None, max_numbers: int,
                           device: str = "cpu") -> Section:
    s = Section("Worked example: masked numbers in one filing",
                "The pretrained encoder reads one whole filing; each number is hidden in turn (all others stay "
                "visible) and the model's number head predicts it. Every number is shown as "
                f"`true {ARROW} predicted`, coloured by how many orders of magnitude the prediction is off "
                "(hover for the raw text and exact values). Amounts are scaled (thousands and millions applied) "
                "and percentages are fractions (25% is 0.25).")
    if store is None:
        s.available = False
        return s.add(note(f"no store to take a filing from; run `{command('ingest', store_path)}`"))
    if pretrain is None:
        s.available = False
        return s.add(note(f"no --pretrain given; run `{command('pretrain', store_path, 'runs/pretrain')}` and pass "
                          f"--pretrain RUN_DIR"))
    from models.model_files import CONFIG_FILE
    pretrain = Path(pretrain)
    if (pretrain / "model" / CONFIG_FILE).is_file():
        run_dir, model_dir = pretrain, pretrain / "model"
    elif (pretrain / CONFIG_FILE).is_file():
        run_dir, model_dir = pretrain.parent, pretrain
    else:
        s.available = False
        return s.add(note(f"{pretrain} holds no trained encoder (model/{CONFIG_FILE}); run "
                          f"`{command('pretrain', store_path, pretrain)}`"))
    eval_companies: list[str] = []
    data_report = run_dir / "data_report.json"
    if data_report.is_file():
        eval_companies = [str(c) for c in _load_json(data_report, "data report").get("eval_companies", [])]
    filing_id, why = choose_filing(store, eval_companies)
    if filing_id is None:
        s.available = False
        return s.add(note(f"the store at {store_path} has no filing with tagged numbers; "
                          f"run `{command('ingest', store_path)}`"))

    import numpy as np
    import torch

    from models.evaluate import cases_from_chunks, log10_errors, model_predictions, number_metrics
    from models.model_files import load_pretrained

    t0 = time.perf_counter()
    model, tokenizer = load_pretrained(model_dir, map_location=device)
    if device == "cpu":
        torch.set_flush_denormal(True)
    filing = rows_of(store, "SELECT filing_id, company_id, company_name, form, period_end, filed_at "
                            "FROM filings WHERE filing_id = ?", [filing_id])[0]
    chunks = rows_of(store, "SELECT chunk_id, section_id, seq, text FROM chunks WHERE filing_id = ? ORDER BY seq",
                     [filing_id])
    titles = {r["section_id"]: r["title"] for r in rows_of(
        store, "SELECT section_id, title FROM sections WHERE filing_id = ?", [filing_id])}
    nums = rows_of(store, "SELECT chunk_id, char_start, char_end, raw, value, kind FROM numbers "
                          "WHERE filing_id = ? ORDER BY chunk_id, char_start", [filing_id])
    by_chunk: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in nums:
        by_chunk[r["chunk_id"]].append(r)
    cases = cases_from_chunks((c["chunk_id"], filing["company_id"] or "", c["text"],
                               [(r["char_start"], r["char_end"], r["value"], r["kind"] or "unknown")
                                for r in by_chunk.get(c["chunk_id"], [])]) for c in chunks)
    n_all = len(cases)
    cases = cases[:max_numbers]  # reading order: a contiguous, fully predicted beginning of the filing
    preds = model_predictions(model, tokenizer, cases, device=device) if cases else np.zeros(0)
    seconds = time.perf_counter() - t0
    rows_by_key = {(r["chunk_id"], r["char_start"]): r for r in nums}
    shown: dict[str, dict[int, ExampleNumber]] = defaultdict(dict)
    for r in nums:
        if r["value"] is not None and math.isfinite(r["value"]):
            shown[r["chunk_id"]][r["char_start"]] = ExampleNumber(
                r["chunk_id"], r["char_start"], r["raw"], float(r["value"]), r["kind"] or "unknown", None, None)
    ok_true, ok_pred, ok_kind = [], [], []
    for c, p in zip(cases, preds):
        chunk_id, start = c.case_id.rsplit(":", 1)
        row = rows_by_key.get((chunk_id, int(start)))
        if row is None or not math.isfinite(p):
            continue
        err = float(log10_errors(np.array([p]), np.array([c.value]))[0])
        shown[chunk_id][int(start)] = ExampleNumber(chunk_id, int(start), row["raw"], c.value, c.kind, float(p), err)
        ok_true.append(c.value)
        ok_pred.append(float(p))
        ok_kind.append(c.kind)

    s.add(kv_table([("filing", filing_id), ("company", f"{filing['company_name'] or MISSING} "
                                                       f"({filing['company_id'] or MISSING})"),
                    ("form", filing["form"] or MISSING), ("period end", fmt_time(filing["period_end"])),
                    ("filed", fmt_time(filing["filed_at"])), ("why this filing", why),
                    ("model", str(model_dir)),
                    ("numbers", f"{n_all} tagged; {len(cases)} masked one at a time"
                                f"{f' (the first {max_numbers} in reading order)' if n_all > len(cases) else ''}; "
                                f"{len(ok_true)} predicted ({len(cases) - len(ok_true)} lay past the tokenizer's "
                                f"max_length)"),
                    ("time", f"{seconds:.1f} s on {device}")], caption="The filing"))
    if ok_true:
        m = number_metrics(ok_pred, ok_true)
        summary = [["all", m["n"], m["log10_mae"], m["median_log10_err"], m["oom_acc"], m["sign_acc"]]]
        kinds = sorted(set(ok_kind), key=lambda k: (-ok_kind.count(k), k))
        for k in kinds:
            sel = [i for i, kk in enumerate(ok_kind) if kk == k]
            mk = number_metrics([ok_pred[i] for i in sel], [ok_true[i] for i in sel])
            summary.append([k, mk["n"], mk["log10_mae"], mk["median_log10_err"], mk["oom_acc"], mk["sign_acc"]])
        s.add(table(["kind", "numbers", "log10 MAE", "median |log10 err|", "order-of-magnitude acc.",
                     "sign acc."], summary,
                    caption="On this filing: log10 MAE (decades off on average, lower is better), share within "
                            "half a decade, share with the right sign"))
        floor = 1e-3
        groups = {k: ([math.log10(max(abs(ok_true[i]), floor)) for i, kk in enumerate(ok_kind) if kk == k],
                      [math.log10(max(abs(ok_pred[i]), floor)) for i, kk in enumerate(ok_kind) if kk == k])
                  for k in kinds}
        s.add(scatter_chart(groups,
                            xlabel="log10 |true value|", ylabel="log10 |predicted value|",
                            title="this filing", alt="predicted against true magnitudes",
                            caption="Magnitudes of predicted against true values, one colour per number kind "
                                    "(floored at 1e-3); dotted: perfect prediction"))
    else:
        s.add(note("no number of this filing could be predicted (all lay past the tokenizer's max_length)"))
    eval_json = run_dir / "eval_numbers.json"
    if eval_json.is_file():
        ev = _load_json(eval_json, "number evaluation")
        filings = ev.get("results", {}).get("filings") if isinstance(ev, Mapping) else None
        if isinstance(filings, Mapping) and isinstance(filings.get("metrics"), Mapping):
            cols = ["n", "log10_mae", "median_log10_err", "oom_acc", "sign_acc", "median_rel_err"]
            s.add(table(["method"] + cols, [[meth] + [vals.get(c) for c in cols]
                                            for meth, vals in filings["metrics"].items()],
                        caption=f"For context, the run's own evaluation against the baselines "
                                f"({eval_json.name}: {filings.get('name', '')})"))
    s.add(_error_legend())
    parts: list[Html] = []
    section = None
    for c in chunks:
        if c["section_id"] != section:
            section = c["section_id"]
            parts.append(tag("h4", titles.get(section) or section or "(no section)"))
        parts.append(annotate_chunk(c["text"], shown.get(c["chunk_id"], {})))
        parts.append(Html("\n\n"))
    s.add(tag("div", join(parts), class_="filing"))
    return s


# --- section: lineage ---------------------------------------------------------------

def _file_row(what: str, path: Path | None) -> list[Any]:
    if path is None:
        return [what, MISSING, "not given", MISSING, MISSING]
    p = Path(path)
    if not p.is_file():
        return [what, str(p), "missing", MISSING, MISSING]
    st = p.stat()
    digest = file_digest(p, MAX_HASH_BYTES)
    return [what, str(p), digest[:16] if digest else f"not hashed (over {MAX_HASH_BYTES >> 20} MiB)", st.st_size,
            fmt_time(datetime.fromtimestamp(st.st_mtime, tz=timezone.utc))]


def input_rows(inputs: ReportInputs, store) -> list[list[Any]]:
    rows = []
    if inputs.store is not None:
        rows.append(_file_row("store tables (DuckDB)", Path(inputs.store) / "filingstore.duckdb"))
        reg = Path(inputs.store) / "registry.sqlite"
        rows.append(_file_row("registry", reg) if reg.is_file() else ["registry", str(reg), "missing",
                                                                      MISSING, MISSING])
    rows.append(_file_row("benchmark results", inputs.benchmark))
    rows.append(_file_row("regression results", inputs.regression))
    for run_dir in inputs.all_runs():
        metrics = next((Path(run_dir) / n for n in METRICS_FILES if (Path(run_dir) / n).is_file()), None)
        rows.append(_file_row(f"metrics of run {Path(run_dir).name}", metrics or Path(run_dir) / METRICS_FILES[0]))
    return rows


def model_rows(inputs: ReportInputs, registered: Sequence[Any]) -> list[list[Any]]:
    """Each run folder's model/ checkpoint hash and the registered model version with that hash."""
    from featurestore.registry import hash_checkpoint
    by_hash = defaultdict(list)
    for m in registered:
        by_hash[m.checkpoint_sha256].append(m.model_version)
    out = []
    for run_dir in inputs.all_runs():
        model_dir = Path(run_dir) / "model"
        if not model_dir.is_dir():
            continue
        sha = hash_checkpoint(model_dir)
        out.append([str(model_dir), sha[:16], ", ".join(by_hash.get(sha, [])) or "not registered"])
    return out


def _counts_text(counts: Mapping[str, Any] | None) -> str:
    if not counts:
        return MISSING
    return ", ".join(f"{k} {fmt_num(v)}" for k, v in counts.items())


def lance_rows(store) -> tuple[list[list[Any]], list[str]]:
    """[table, current Lance version, rows, mirrored version] per Lance table, and notes."""
    try:
        from featurestore import vectors
    except ImportError as e:
        return [], [f"featurestore.vectors cannot be imported ({e}); Lance table versions are not shown"]
    mirrored = {r["physical_name"]: r["lance_version"] for r in vectors.embedding_tables(store).to_pylist()}
    if not Path(store.lance_path).is_dir():
        return [], [f"the store has no Lance folder ({store.lance_path}); run `{command('embed', store.path)}`"]
    names = sorted(vectors._lance_table_names(store))
    rows = []
    for name in names:
        tbl = store.lance.open_table(name)
        rows.append([name, tbl.version, tbl.count_rows(), mirrored.get(name, MISSING)])
    return rows, []


def lineage_section(inputs: ReportInputs, store) -> Section:
    s = Section("Lineage", "Where every number above comes from: the input files of this report (SHA-256 "
                "prefixes, so a copy can be checked), the ETL versions of the filings, the registered model "
                "versions, the job runs that wrote the store (with their row counts and the Lance table "
                "versions they produced), and the current version of every Lance table.")
    s.add(table(["input", "path", "sha256 (first 16)", "bytes", "modified"], input_rows(inputs, store),
                caption="Inputs of this report"))
    if store is None:
        s.available = False
        return s.add(note(f"no store, so no ETL versions, model versions or runs; "
                          f"run `{command('ingest', inputs.store)}`"))
    etl = rows_of(store, """
        WITH c AS (SELECT filing_id, count(*) AS n FROM chunks GROUP BY 1)
        SELECT f.etl_version, count(*) AS filings, coalesce(sum(c.n), 0)::BIGINT AS chunks,
               min(f.ingested_at) AS first_ingested, max(f.ingested_at) AS last_ingested
        FROM filings f LEFT JOIN c USING (filing_id) GROUP BY 1 ORDER BY 1""")
    registry_file = Path(store.path) / "registry.sqlite"
    registry = None
    if registry_file.is_file():
        from featurestore.registry import Registry
        registry = Registry.for_store(store)
    described = {e.etl_version: e for e in registry.etl_versions()} if registry else {}
    if etl:
        s.add(table(["ETL version", "filings", "chunks", "first ingested", "last ingested", "code", "first seen"],
                    [[r["etl_version"], r["filings"], r["chunks"], fmt_time(r["first_ingested"]),
                      fmt_time(r["last_ingested"]),
                      described[r["etl_version"]].code_description if r["etl_version"] in described else MISSING,
                      fmt_time(described[r["etl_version"]].first_seen) if r["etl_version"] in described
                      else MISSING] for r in etl], caption="ETL versions of the stored filings"))
    else:
        s.add(note(f"no filings in the store; run `{command('ingest', inputs.store)}`"))
    if registry is None:
        s.add(note(f"no registry at {registry_file}: no job has recorded model versions or runs in this store "
                   f"yet (jobs that write the store record themselves there)"))
        registered: list[Any] = []
    else:
        try:
            registered = registry.models()
            runs = registry.runs()
        finally:
            registry.close()
        if registered:
            s.add(table(["model version", "kind", "checkpoint sha256", "trained by run", "ETL version", "created",
                         "checkpoint"],
                        [[m.model_version, m.kind, m.checkpoint_sha256[:16], (m.training_run_id or MISSING)[:8],
                          m.etl_version or MISSING, fmt_time(m.created_at), m.checkpoint_path]
                         for m in registered], caption="Registered model versions"))
        else:
            s.add(note("the registry lists no model versions", "info"))
        if runs:
            cells = []
            for r in runs:
                dur = (r.ended_at - r.started_at).total_seconds() if r.ended_at else None
                tables = ", ".join(f"{t.table} v{t.version}{' (' + t.tag + ')' if t.tag else ''}" for t in r.tables)
                cells.append([r.run_id[:8], r.job, r.status, fmt_time(r.started_at), fmt_time(r.ended_at),
                              round(dur, 1) if dur is not None else None, r.model_version or MISSING,
                              r.etl_version or MISSING, _counts_text(r.row_counts), tables or MISSING])
            s.add(table(["run", "job", "status", "started", "ended", "seconds", "model version", "ETL version",
                         "rows written", "table versions"], cells,
                        caption="Job runs, oldest first (a run still 'running' was never finished: killed or "
                                "still going)"))
        else:
            s.add(note("the registry lists no job runs", "info"))
    models = model_rows(inputs, registered)
    if models:
        s.add(table(["model folder", "checkpoint sha256", "registered as"], models,
                    caption="Models used by this report"))
    lrows, lnotes = lance_rows(store)
    for n in lnotes:
        s.add(note(n))
    if lrows:
        s.add(table(["Lance table", "version", "rows", "version mirrored in DuckDB"], lrows,
                    caption="Lance tables (vectors and full text)"))
    elif not lnotes:
        s.add(note(f"no Lance tables in the store; run `{command('embed', inputs.store)}`"))
    return s


# --- the report ---------------------------------------------------------------------

def _guarded(title: str, build: Callable[[], Section]) -> Section:
    """The section, or one that says why it could not be built (the rest of the report still renders)."""
    try:
        return build()
    except Exception as e:  # noqa: BLE001 - one broken input must not cost the whole report
        print(f"report: section {title!r} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return Section(title, "This section could not be built.",
                       [note(f"{type(e).__name__}: {e}", "error")], available=False)


def build_report(inputs: ReportInputs) -> tuple[str, list[Section]]:
    """The HTML document and its sections."""
    t0 = time.perf_counter()
    store, why = open_store(inputs.store)
    sections = [
        _guarded("Corpus", lambda: corpus_section(store, inputs.store, why)),
        _guarded("Training curves", lambda: training_section(inputs)),
        _guarded("Embedding benchmarks", lambda: benchmark_section(inputs.benchmark, inputs.store)),
        _guarded("Growth regressions", lambda: regression_section(inputs.regression, inputs.store)),
        _guarded("Worked example: masked numbers in one filing",
                 lambda: worked_example_section(store, inputs.store, inputs.pretrain, inputs.max_example_numbers,
                                                inputs.device)),
        _guarded("Lineage", lambda: lineage_section(inputs, store)),
    ]
    meta = [f"Generated {fmt_time(datetime.now(timezone.utc))} on {socket.gethostname()} in "
            f"{time.perf_counter() - t0:.1f} s; store {inputs.store or MISSING}.",
            f"{sum(s.available for s in sections)} of {len(sections)} sections have their inputs; the others say "
            f"which command makes them."]
    return render_page(inputs.title, meta, sections), sections


def write_report(inputs: ReportInputs, out: Path) -> Path:
    path = report_path(out)
    document, _ = build_report(inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(path)  # readers never see half a report
    return path


def parse_args(argv: Sequence[str] | None = None) -> tuple[ReportInputs, Path]:
    ap = argparse.ArgumentParser(prog="python -m jobs.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", type=Path, default=None,
                    help="the pipeline runner's output folder (store/, runs/, results/); flags below override")
    ap.add_argument("--store", type=Path, default=None, help="store folder")
    ap.add_argument("--out", type=Path, default=None,
                    help="report file (.html) or folder (gets report.html); default <pipeline>/results/report.html")
    ap.add_argument("--runs", type=Path, nargs="*", default=None, help="training run folders (metrics files)")
    ap.add_argument("--benchmark", type=Path, default=None, help="JSON written by python -m jobs.benchmark --out")
    ap.add_argument("--regression", type=Path, default=None, help="JSON written by python -m jobs.regress --out")
    ap.add_argument("--pretrain", type=Path, default=None,
                    help="pretrain run folder (its model/ gives the worked example; its curves are shown)")
    ap.add_argument("--title", default=DEFAULT_TITLE)
    ap.add_argument("--max-example-numbers", type=int, default=MAX_EXAMPLE_NUMBERS,
                    help="numbers of the worked example's filing that are masked and predicted")
    ap.add_argument("--device", default="cpu", help="torch device of the worked example")
    a = ap.parse_args(argv)
    if a.pipeline is None and (a.store is None or a.out is None):
        ap.error("give --store and --out, or --pipeline OUT")
    if a.max_example_numbers < 1:
        ap.error(f"--max-example-numbers must be at least 1, got {a.max_example_numbers}")
    inputs = pipeline_inputs(a.pipeline) if a.pipeline is not None else ReportInputs(store=a.store)
    for name in ("store", "benchmark", "regression", "pretrain"):
        if getattr(a, name) is not None:
            setattr(inputs, name, getattr(a, name))
    if a.runs is not None:
        inputs.runs = list(a.runs)
    inputs.title = a.title
    inputs.max_example_numbers = a.max_example_numbers
    inputs.device = a.device
    out = a.out if a.out is not None else Path(a.pipeline) / "results" / REPORT_FILE
    return inputs, out


def main(argv: Sequence[str] | None = None) -> int:
    inputs, out = parse_args(argv)
    path = write_report(inputs, out)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
