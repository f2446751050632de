"""Ingest filings into a store: clean, number-tag and chunk them on Ray Data.

Local (starts a private Ray cluster):
    python -m jobs.ingest --input ../shared/data/sec/10-K --store stores/demo

On a cluster (the store folder must be on storage the driver can write):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.ingest --input /shared/filings --store /shared/stores/main

Re-running is safe: files already ingested by this ETL version are skipped,
and every input ends either in the store or in `rejects` with a reason.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from etl.pipeline import DEFAULT_FILE_TIMEOUT_S, IngestConfig, run_ingest
from jobs.ray_session import init_ray, shutdown_ray


def parse_args(argv: list[str] | None = None) -> IngestConfig:
    ap = argparse.ArgumentParser(prog="python -m jobs.ingest", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", nargs="+", required=True, type=Path,
                    help="filing files (.htm/.html/.xhtml, optionally .gz) or folders of them")
    ap.add_argument("--store", required=True, type=Path, help="store folder (created if missing)")
    ap.add_argument("--source", default="sec", choices=["sec", "companies_house", "website"])
    ap.add_argument("--max-tokens", type=int, default=512, help="chunk token budget (default 512)")
    ap.add_argument("--file-timeout", type=float, default=DEFAULT_FILE_TIMEOUT_S,
                    help="seconds one file may take before it is rejected (default %(default)s)")
    ap.add_argument("--workers", type=int, default=None, help="parse actors (default: cluster CPUs)")
    ap.add_argument("--cpus-per-worker", type=float, default=1.0)
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (local runs only)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    cfg = IngestConfig(
        inputs=a.input, store=a.store, source=a.source, max_tokens=a.max_tokens,
        file_timeout_s=a.file_timeout, workers=a.workers, cpus_per_worker=a.cpus_per_worker,
        progress=not a.no_progress,
    )
    cfg.num_cpus = a.num_cpus  # type: ignore[attr-defined]
    return cfg


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    init_ray(getattr(cfg, "num_cpus", None))
    try:
        summary = run_ingest(cfg)
    finally:
        shutdown_ray()
    print(f"ingest into {cfg.store}:")
    for line in summary.lines():
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
