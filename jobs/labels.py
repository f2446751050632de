"""Compute growth labels from a store's inline-XBRL facts and write them to `growth`.

Each label is a company's weighted, clipped, annualised log growth between two
fiscal year ends 1..5 years apart (see `featurestore/growth.py` for the
definition). Writes are upserts keyed on (company_id, window_start,
window_end, method), so re-running is idempotent; labels of another `--clip`
or metric set have another `method` and sit beside these.

Local (no Ray needed: the facts are read and reduced in DuckDB on the driver):
    python -m jobs.labels --store stores/main [--years 1 2 5] [--clip 1.0]

On a cluster (runs in the job's driver; the store must be on storage it can write):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.labels --store /shared/stores/main --years 1 2 3 4 5

Prints a summary: facts used and why others were left out, labels per window
length with their median growth, and how many labels each metric entered.
Exit status 0; 2 when the store does not exist.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from featurestore import GROWTH, Store
from featurestore.growth import (
    DEFAULT_METRICS, LabelConfig, LabelSet, label_set_from_store, select_metrics, window_years,
)
from jobs.cli_types import positive_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m jobs.labels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, type=Path, help="store folder (holds filingstore.duckdb)")
    ap.add_argument("--years", nargs="+", type=positive_int, default=[1, 2, 3, 4, 5],
                    help="window lengths in years (default: 1 2 3 4 5)")
    ap.add_argument("--clip", type=float, default=1.0,
                    help="clip each metric's annual log growth to +-CLIP (default 1.0, about +-172%%/yr)")
    ap.add_argument("--tolerance-days", type=int, default=45,
                    help="how far a window may be from a whole number of years (default 45)")
    ap.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                    help=f"only these metrics (default: all, weighted: {', '.join(m.name for m in DEFAULT_METRICS)})")
    ap.add_argument("--dry-run", action="store_true", help="compute and print, write nothing")
    a = ap.parse_args(argv)
    try:
        a.metrics = select_metrics(a.metrics)
    except ValueError as e:
        ap.error(str(e))
    if not (a.clip > 0 and np.isfinite(a.clip)):
        ap.error(f"--clip {a.clip:g} must be a positive number")
    return a


def summary_lines(ls: LabelSet) -> list[str]:
    s = ls.stats
    lines = [
        f"metric facts      {s['metric_facts']} ({s['dimensional']} with dimensions, {s['not_annual']} not "
        f"annual, {s['undated']} without company or filing date, {s['off_year_end']} off a fiscal year end: "
        f"left out)",
        f"observations      {s['observations']} ({s['nonpositive']} <= 0 skipped for labels, "
        f"{s['restated']} restated later: earliest value kept)",
        f"labels            {s['labels']} ({s['windows_without_metrics']} windows had no metric at both ends; "
        f"{s['clipped']} metric growths clipped)",
    ]
    labels = ls.labels
    if labels.num_rows:
        k = window_years(labels)
        g = np.asarray(labels["growth"], dtype=np.float64)
        companies = np.asarray(labels["company_id"]).astype(str)
        lines.append("window  labels  companies  median growth  (annual log)")
        for yrs in sorted(set(k.tolist())):
            m = k == yrs
            lines.append(f"{yrs:>4}y  {int(m.sum()):>7}  {np.unique(companies[m]).size:>9}  "
                         f"{np.median(g[m]):>13.4f}")
        lines.append(f"{'all':>5}  {labels.num_rows:>7}  {np.unique(companies).size:>9}  {np.median(g):>13.4f}")
    cover = ls.metric_coverage()
    n = max(labels.num_rows, 1)
    lines.append("metric coverage   " + ", ".join(f"{name} {c} ({100 * c / n:.0f}%)" for name, c in cover.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        store = Store(a.store)
    except FileNotFoundError:
        print(f"labels: no store at {a.store} ({a.store / 'filingstore.duckdb'} does not exist); "
              f"build one with: python -m jobs.ingest --input FILINGS --store {a.store}", file=sys.stderr)
        return 2
    config = LabelConfig(metrics=a.metrics, years=tuple(sorted(set(a.years))), clip=a.clip,
                         tolerance_days=a.tolerance_days)
    ls = label_set_from_store(store, config)
    written = 0 if a.dry_run else store.upsert(GROWTH, ls.labels)
    print(f"growth labels {config.method} from {a.store}:")
    for line in summary_lines(ls):
        print("  " + line)
    print(f"  written           {written}" + (" (dry run)" if a.dry_run else f" rows to {GROWTH.name}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
