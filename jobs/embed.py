"""Embed a store's chunks and filings with one model (Ray batch inference), then index them.

Local (starts a private Ray cluster; CPU actors, torch threads split over the cores):
    python -m jobs.embed --store stores/demo --model tiny-random
    python -m jobs.embed --store stores/demo --model minilm --level both
    python -m jobs.embed --store stores/demo --model runs/tiny           # a pretrain run folder

On a cluster (one GPU per embed actor; the store on storage the driver can write):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.embed --store /shared/stores/main --model /shared/runs/base --gpus 4

--model: `minilm` (all-MiniLM-L6-v2, offline), `tiny-random` (a seeded tiny encoder built
for the store, saved under <store>/models/tiny-random/), a pretrain run folder (its model/
or latest checkpoint), a saved encoder folder, or a chunk embedder checkpoint.

Only chunks not yet embedded by this model version are embedded, so re-running writes
nothing and new filings are embedded on the next run; a killed run resumes where its last
write ended. Document vectors (mean of the chunk vectors; with --aggregator also the
trained aggregator's) are written for every filing whose chunks are all embedded. Then an
ANN index is built once a table has --index-min-rows rows (recall@10 against exact search
is printed), and the full-text table of chunk text is brought up to date. The model
version and the run (row counts, Lance versions) are recorded in <store>/registry.sqlite.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jobs.cli_types import positive_int
from models.inference import BOTH, CHUNK, DOC, LEVELS, EmbedConfig, EmbedSummary, run_embedding

DEFAULT_INDEX_MIN_ROWS = 100_000
CPU_TOKEN_BUDGET = 16_384
# Measured on an H200 (bf16, a MiniLM-sized encoder): 16k-token batches 3.7M tokens/s,
# 64k 4.9M, 256k 5.1M; batches of 32 in stored order 1.1M.
GPU_TOKEN_BUDGET = 65_536


def parse_args(argv: list[str] | None = None) -> tuple[EmbedConfig, argparse.Namespace]:
    ap = argparse.ArgumentParser(prog="python -m jobs.embed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, type=Path, help="store folder with ingested chunks")
    ap.add_argument("--model", required=True, help="minilm | tiny-random | a run, encoder or embedder folder")
    ap.add_argument("--level", default=BOTH, choices=LEVELS, help="chunk vectors, document vectors, or both")
    ap.add_argument("--gpus", type=int, default=0, help="embed actors with one GPU each (0: CPU actors)")
    ap.add_argument("--workers", type=positive_int, default=None,
                    help="CPU embed actors (default: one per 4 CPUs); torch threads are split among them")
    ap.add_argument("--aggregator", type=Path, default=None,
                    help="an aggregator checkpoint: also write method='aggregator' document vectors")
    ap.add_argument("--token-budget", type=positive_int, default=None,
                    help=f"padded tokens per forward pass (default {CPU_TOKEN_BUDGET} on CPU, {GPU_TOKEN_BUDGET} "
                         f"per GPU)")
    ap.add_argument("--rows-per-block", type=positive_int, default=None,
                    help="chunks per Ray block, i.e. per embed call (default 256 on CPU, 1024 on GPU)")
    ap.add_argument("--write-every", type=positive_int, default=2048, help="rows per store commit")
    ap.add_argument("--pooling", default="mean", choices=("mean", "cls"),
                    help="how a number-aware encoder's token states become one vector")
    ap.add_argument("--filing-id", action="append", default=None, dest="filing_ids",
                    help="embed only this filing (repeatable)")
    ap.add_argument("--sections", nargs="+", default=None, metavar="ITEM",
                    help="embed only chunks of these 10-K items (e.g. 7 for MD&A; cheap studies of one "
                         "section); needs --level chunk, as document vectors pool every chunk")
    ap.add_argument("--index-min-rows", type=int, default=DEFAULT_INDEX_MIN_ROWS,
                    help="build an ANN index once a table has this many rows (below: exact scans)")
    ap.add_argument("--no-text-sync", action="store_true", help="skip updating the full-text table")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (local runs only)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    if a.gpus < 0:
        ap.error(f"--gpus {a.gpus}: give 0 for CPU or a number of GPUs")
    if a.sections is not None and a.level != CHUNK:
        ap.error(f"--sections embeds part of each filing and a document vector pools every chunk of it: "
                 f"add --level {CHUNK}")
    cfg = EmbedConfig(store=a.store, model=a.model, level=a.level, gpus=a.gpus, workers=a.workers,
                      token_budget=a.token_budget or (GPU_TOKEN_BUDGET if a.gpus else CPU_TOKEN_BUDGET),
                      rows_per_block=a.rows_per_block or (1024 if a.gpus else 256), write_every=a.write_every,
                      pooling=a.pooling, aggregator=a.aggregator, filing_ids=a.filing_ids, sections=a.sections,
                      progress=not a.no_progress)
    return cfg, a


def index_and_sync(cfg: EmbedConfig, summary: EmbedSummary, index_min_rows: int, text_sync: bool) -> list[str]:
    """ANN indexes (with recall@10 when one was built) and the full-text table; lines to print."""
    from featurestore import Store
    from featurestore.vectors import ensure_index, index_recall, sync_chunk_text

    store = Store(cfg.store)
    lines = []
    levels = [lvl for lvl in (CHUNK, DOC) if cfg.level in (lvl, BOTH)]
    for level in levels:
        try:
            report = ensure_index(store, level, summary.model_version, min_rows=index_min_rows)
        except LookupError:
            continue  # nothing of this level was ever written for the model
        if report is None:
            lines.append(f"index {level:5s}       none (fewer than {index_min_rows} rows: exact scans)")
            continue
        line = (f"index {level:5s}       {report.kind} over {report.num_rows} rows "
                f"({'built' if report.built else 'updated'} in {report.build_s:.1f} s)")
        if report.built:
            line += f", recall@10 {index_recall(store, level, summary.model_version, n_queries=50):.3f}"
        lines.append(line)
    if text_sync:
        added, removed = sync_chunk_text(store)
        lines.append(f"full-text table   {added} chunks added, {removed} removed")
    return lines


def main(argv: list[str] | None = None) -> int:
    cfg, a = parse_args(argv)
    from jobs.ray_session import init_ray, shutdown_ray

    needs_ray = cfg.level in (CHUNK, BOTH)
    if needs_ray:
        init_ray(a.num_cpus)
    try:
        summary = run_embedding(cfg)
    finally:
        if needs_ray:
            shutdown_ray()
    extra = index_and_sync(cfg, summary, a.index_min_rows, not a.no_text_sync)
    print(f"embed {cfg.model} -> {cfg.store}")
    for line in summary.lines() + extra:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
