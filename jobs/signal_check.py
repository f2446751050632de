"""Planted-signal check: can the whole pipeline find a growth signal hidden in one sentence of a 10-K?

For signal in (True, False) it writes the signal corpus (`etl.signal_corpus`: two 10-Ks per company,
an outlook sentence in Item 7 of the first one; with False the sentences are permuted over companies),
ingests it (`jobs.ingest`), embeds chunks and documents (`jobs.embed --level both`), computes growth
labels (`jobs.labels --metrics revenue`: the generator plants revenue growth) and runs the growth
regression (`jobs.regress`: company k-fold and walk-forward, ridge/OLS per feature set against the
baselines). It prints both results side by side with the truth
Spearman of the planted cue, and the verdict:
- with the signal, some embedding feature set reaches a held-out (company k-fold) Spearman >= 0.5,
  while the facts-only baseline's interval contains 0;
- with the cues permuted, that feature set's interval contains 0 as well.

Local (starts a private Ray cluster for the ingest and for the embedding; the lead's full runs use
--companies 300 and MiniLM):
    python -m jobs.signal_check --out runs/signal_check --companies 300 --model minilm
    python -m jobs.signal_check --out /tmp/signal_small --companies 40 --model tiny-random --n-boot 200

On a cluster (--out on storage the driver can write):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.signal_check --out /shared/signal_check --companies 300 --model minilm --gpus 1

Feature sets: `mean` averages all ~28 chunk vectors of a filing, which may bury the one cue sentence;
`section-mean` averages the chunks of each --sections item (default Item 7, MD&A, where management
discusses its outlook), `section-first` takes each item's opening chunk; neither needs to know where the
cue is. The truth files are read only to print the planted Spearman; no model input comes from them.

Writes, under --out: signal/ and shuffled/ (each: corpus/, store/, regression.json) and
signal_check.json (side-by-side rows, truth, verdicts). Exit status 0 (1 with --strict when the
acceptance fails).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featurestore.growth import LabelConfig, select_metrics
from featurestore.growth_dataset import DEFAULT_SECTIONS
from jobs.cli_types import positive_int
from jobs.regress import RegressConfig, RegressionRun, report_lines, run_regression, write_json

VARIANTS = (("signal", True), ("shuffled", False))
# The generator plants revenue growth; the store's other metrics (assets, equity...) grow independently of
# the cue, so the default weighted label would dilute what was planted (0.58 instead of 0.63 at 300 companies).
PLANTED_METRICS: tuple[str, ...] = ("revenue",)
MIN_SPEARMAN = 0.5
KFOLD_PREFIX = "company-"
_MODEL_IN_FEATURES = re.compile(r"^(doc_embeddings|chunk_embeddings):[^/]+/")


@dataclass
class CheckConfig:
    out: Path
    companies: int = 300
    model: str = "minilm"
    seed: int = 0
    sections: tuple[str, ...] = DEFAULT_SECTIONS
    n_boot: int = 2000
    aggregator: Path | None = None
    gpus: int = 0
    num_cpus: int | None = None
    strict: bool = False
    metrics: tuple[str, ...] = PLANTED_METRICS
    embed_sections_only: bool = False      # embed only the --sections chunks (no document vectors)


# -- pure pieces ---------------------------------------------------------------------------------

def generic_features(features: str) -> str:
    """The feature-set name without its model version (tiny-random gets another version per store)."""
    return _MODEL_IN_FEATURES.sub(r"\1:<model>/", features)


def contains_zero(interval: Sequence[float | None]) -> bool | None:
    lo, hi = interval[1], interval[2]
    if lo is None or hi is None:
        return None
    return lo <= 0.0 <= hi


def _fmt(iv: Sequence[float | None] | None) -> str:
    if not iv or iv[0] is None:
        return "n/a"
    if iv[1] is None or iv[2] is None:
        return f"{iv[0]:.3f}"
    return f"{iv[0]:.3f} [{iv[1]:.3f}, {iv[2]:.3f}]"


def side_by_side(signal_rows: Sequence[dict], shuffled_rows: Sequence[dict]) -> list[dict[str, Any]]:
    """One record per (model, feature set, split) with both runs' Pearson and Spearman."""
    def key(r: dict) -> tuple[str, str, str]:
        return r["model"], generic_features(r["features"]), r["split"]

    other = {key(r): r for r in shuffled_rows}
    out = []
    for r in signal_rows:
        s = other.get(key(r), {})
        out.append({"model": r["model"], "features": key(r)[1], "split": r["split"],
                    "baseline": bool(r.get("baseline")), "n_test": r["n_test"],
                    "signal_spearman": r["spearman"], "shuffled_spearman": s.get("spearman"),
                    "signal_pearson": r["pearson"], "shuffled_pearson": s.get("pearson")})
    return out


def side_by_side_text(records: Sequence[dict]) -> str:
    head = ["model", "features", "split", "n_test", "spearman: signal [95% CI]", "spearman: cues permuted",
            "pearson: signal", "pearson: cues permuted"]
    body = [[r["model"] + (" (baseline)" if r["baseline"] else ""), r["features"], r["split"], str(r["n_test"]),
             _fmt(r["signal_spearman"]), _fmt(r["shuffled_spearman"]), _fmt(r["signal_pearson"]),
             _fmt(r["shuffled_pearson"])] for r in records]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in [head, *body])


def verdicts(records: Sequence[dict], min_spearman: float = MIN_SPEARMAN) -> dict[str, Any]:
    """The acceptance on the company k-fold rows: per embedding model/feature set, whether it recovers
    the signal and stays null without it; the facts baseline must stay null; pass when both hold for one."""
    kfold = [r for r in records if r["split"].startswith(KFOLD_PREFIX)]
    facts = [r for r in kfold if r["baseline"] and r["features"] == "facts"]
    facts_null = contains_zero(facts[0]["signal_spearman"]) if facts else None
    per_set = []
    for r in kfold:
        if r["baseline"]:
            continue
        est = r["signal_spearman"][0]
        recovered = est is not None and est >= min_spearman
        null = contains_zero(r["shuffled_spearman"]) if r["shuffled_spearman"] else None
        per_set.append({"model": r["model"], "features": r["features"], "split": r["split"],
                        "signal_spearman": r["signal_spearman"], "shuffled_spearman": r["shuffled_spearman"],
                        "recovers_signal": recovered, "null_without_signal": null,
                        "passes": bool(recovered and null)})
    passing = [p for p in per_set if p["passes"]]
    return {"min_spearman": min_spearman, "facts_baseline_contains_zero": facts_null,
            "facts_spearman": facts[0]["signal_spearman"] if facts else None,
            "feature_sets": per_set, "passing": [f"{p['model']} [{p['features']}]" for p in passing],
            "passed": bool(passing) and bool(facts_null)}


def verdict_lines(v: dict[str, Any]) -> list[str]:
    yes = lambda b: "n/a" if b is None else ("yes" if b else "NO")  # noqa: E731
    lines = [f"facts-only baseline (signal run): spearman {_fmt(v['facts_spearman'])}; interval contains 0: "
             f"{yes(v['facts_baseline_contains_zero'])}"]
    for p in v["feature_sets"]:
        lines.append(f"{p['model']} [{p['features']}] ({p['split']}): signal {_fmt(p['signal_spearman'])} "
                     f"(>= {v['min_spearman']}: {yes(p['recovers_signal'])}); cues permuted "
                     f"{_fmt(p['shuffled_spearman'])} (contains 0: {yes(p['null_without_signal'])})")
    lines.append("ACCEPTANCE " + ("PASSED by " + ", ".join(v["passing"]) if v["passed"] else "FAILED")
                 + ("" if v["passed"] else ": no embedding feature set recovers the signal with a null facts "
                                            "baseline and a null permuted run"))
    return lines


def truth_summary(corpus_dir: Path, run: RegressionRun) -> dict[str, Any]:
    """The planted Spearman from the generator's truth files (printed only; never a model input): by
    construction, in this sample, and against the store's labels on the rows regressed (the ceiling a
    model that reads the cue perfectly would reach)."""
    import numpy as np
    import pyarrow.parquet as pq
    from scipy.stats import spearmanr

    from etl.signal_corpus import TRUTH_COMPANIES, TRUTH_JSON

    truth = json.loads((corpus_dir / TRUTH_JSON).read_text(encoding="utf-8"))
    cues = pq.read_table(corpus_dir / TRUTH_COMPANIES, columns=["company_id", "window_start", "cue_level"])
    level = {(c, str(w)): lv for c, w, lv in zip(cues["company_id"].to_pylist(), cues["window_start"].to_pylist(),
                                                 cues["cue_level"].to_pylist())}
    ds = run.dataset
    pairs = [(level[k], y) for k, y in zip(zip(ds.groups.tolist(), ds.window_start.astype(str).tolist()), ds.y)
             if k in level]
    on_labels = float(spearmanr(*np.array(pairs).T)[0]) if len(pairs) > 2 else math.nan
    return {"target_spearman": truth["params"]["target_spearman"], "realised_spearman": truth["realised_spearman"],
            "cue_vs_store_labels": on_labels, "rows_with_cue": len(pairs),
            "n_companies": truth["n_companies"], "signal": truth["signal"]}


# -- the pipeline ------------------------------------------------------------------------------

def _step(name: str, rc: int) -> None:
    if rc != 0:
        raise RuntimeError(f"signal check: step {name} exited with status {rc}; its output above says why")


def run_variant(cfg: CheckConfig, name: str, signal: bool) -> tuple[RegressionRun, dict[str, Any]]:
    """Corpus -> ingest -> embed -> labels -> regression for one variant; returns the regression and truth."""
    from etl.signal_corpus import write_signal_corpus
    from jobs import embed as embed_job
    from jobs import ingest as ingest_job
    from jobs import labels as labels_job

    root = cfg.out / name
    corpus, store = root / "corpus", root / "store"
    t0 = time.perf_counter()
    write_signal_corpus(corpus, n_companies=cfg.companies, signal=signal, seed=cfg.seed)
    print(f"[{name}] corpus of {2 * cfg.companies} filings written in {time.perf_counter() - t0:.0f} s: {corpus}",
          flush=True)
    cpus = [] if cfg.num_cpus is None else ["--num-cpus", str(cfg.num_cpus)]
    _step("ingest", ingest_job.main(["--input", str(corpus), "--store", str(store), "--no-progress", *cpus]))
    level = ["--level", "chunk", "--sections", *cfg.sections] if cfg.embed_sections_only else ["--level", "both"]
    embed_args = ["--store", str(store), "--model", cfg.model, *level, "--no-progress",
                  "--no-text-sync", "--gpus", str(cfg.gpus), *cpus]
    if cfg.aggregator is not None:
        embed_args += ["--aggregator", str(cfg.aggregator)]
    _step("embed", embed_job.main(embed_args))
    _step("labels", labels_job.main(["--store", str(store), "--years", "1", "--metrics", *cfg.metrics]))
    methods = ([] if cfg.embed_sections_only else ["mean"]) + ["section-mean", "section-first"] + (
        ["aggregator"] if cfg.aggregator is not None else [])
    rcfg = RegressConfig(store=store, out=root / "regression.json", methods=methods, sections=cfg.sections,
                         years=(1,), splits=("company_kfold", "walk_forward"), n_boot=cfg.n_boot, seed=cfg.seed,
                         aggregator=cfg.aggregator,
                         label_config=LabelConfig(metrics=select_metrics(cfg.metrics), years=(1,)))
    run = run_regression(rcfg, log=lambda s: print(f"[{name}] {s}", flush=True))
    write_json(run.payload, rcfg.out)
    print(f"[{name}] regression ({time.perf_counter() - t0:.0f} s since the corpus), {rcfg.out}:")
    for line in report_lines(run):
        print(f"[{name}] {line}")
    return run, truth_summary(corpus, run)


def run_check(cfg: CheckConfig) -> dict[str, Any]:
    runs, truths = {}, {}
    for name, signal in VARIANTS:
        runs[name], truths[name] = run_variant(cfg, name, signal)
    records = side_by_side(runs["signal"].rows(), runs["shuffled"].rows())
    v = verdicts(records)
    result = {"config": {"companies": cfg.companies, "model": cfg.model, "seed": cfg.seed,
                         "metrics": list(cfg.metrics), "embed_sections_only": cfg.embed_sections_only,
                         "sections": list(cfg.sections), "n_boot": cfg.n_boot,
                         "aggregator": None if cfg.aggregator is None else str(cfg.aggregator)},
              "truth": truths, "rows": records, "verdict": v,
              "datasets": {n: r.payload["dataset"] for n, r in runs.items()}}
    t = truths["signal"]
    print()
    print(f"planted cue: population Spearman(cue level, label growth) = {t['target_spearman']:.3f} by construction; "
          f"in these {t['n_companies']} companies {t['realised_spearman']:.3f} (signal) and "
          f"{truths['shuffled']['realised_spearman']:.3f} (cues permuted); against the store's XBRL growth "
          f"labels ({'+'.join(cfg.metrics)}: {runs['signal'].payload['label_method']}) on the "
          f"{t['rows_with_cue']} windows regressed: "
          f"{t['cue_vs_store_labels']:.3f} (signal) and {truths['shuffled']['cue_vs_store_labels']:.3f} "
          f"(permuted), the ceiling for a model that reads the cue perfectly.")
    print(side_by_side_text(records))
    print()
    for line in verdict_lines(v):
        print(line)
    out = cfg.out / "signal_check.json"
    write_json(result, out)
    print(f"wrote {out}")
    return result


def parse_args(argv: list[str] | None = None) -> CheckConfig:
    ap = argparse.ArgumentParser(prog="python -m jobs.signal_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="work folder (corpora, stores, results)")
    ap.add_argument("--companies", type=positive_int, default=300)
    ap.add_argument("--model", default="minilm", help="minilm | tiny-random | a model folder (as jobs.embed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sections", nargs="+", default=list(DEFAULT_SECTIONS),
                    help="items of the section-mean and section-first features (default: 7)")
    ap.add_argument("--n-boot", type=positive_int, default=2000)
    ap.add_argument("--aggregator", type=Path, default=None, help="aggregator checkpoint (embed and regress use it)")
    ap.add_argument("--gpus", type=int, default=0, help="embed actors with one GPU each (0: CPU)")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (local runs only)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the acceptance fails")
    ap.add_argument("--embed-sections-only", action="store_true",
                    help="embed only the chunks of --sections (2 of ~28 per filing here, so ~14x less "
                         "embedding for runs with many companies); the document-mean row is then absent")
    ap.add_argument("--metrics", nargs="+", default=list(PLANTED_METRICS), metavar="NAME",
                    help="growth metrics of the label (default: revenue, the planted one; as jobs.labels --metrics)")
    a = ap.parse_args(argv)
    if a.n_boot < 10:
        ap.error("--n-boot must be at least 10")
    if a.embed_sections_only and a.aggregator is not None:
        ap.error("--aggregator pools whole documents; it cannot run with --embed-sections-only")
    try:
        select_metrics(a.metrics)
    except ValueError as e:
        ap.error(str(e))
    if a.companies < 10:
        ap.error("--companies must be at least 10 (5 company folds need companies to fill them)")
    return CheckConfig(out=a.out, companies=a.companies, model=a.model, seed=a.seed, sections=tuple(a.sections),
                       n_boot=a.n_boot, aggregator=a.aggregator, gpus=a.gpus, num_cpus=a.num_cpus, strict=a.strict,
                       metrics=tuple(a.metrics), embed_sections_only=a.embed_sections_only)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    result = run_check(cfg)
    return 1 if cfg.strict and not result["verdict"]["passed"] else 0


if __name__ == "__main__":
    sys.exit(main())
