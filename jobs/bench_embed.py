"""Benchmark chunk embedding: the Ray batch-inference pipeline vs a plain single-process loop.

For each corpus and model, over the same chunks with the same model:
  pipeline  `models.inference` end to end: read the store, tokenise (actor pool), sort by
            length, token-budget batches, embed (actor pool), write to Lance + DuckDB
            (Ray pool start-up included)
  plain     one process, the Hugging Face forward of the same embedder: batches of 32
            chunks in stored order (filing, seq), padded to the longest, tokenisation
            included, no store writes
Both use the same total number of torch threads (the cluster's CPUs; one GPU each with
--gpus 1). Throughput is real (unpadded) model tokens per second; the ratio is
pipeline / plain; the pipeline's time includes starting its actor pools and loading the
model in each (`pipeline_first_vectors_s` in the JSON), which small corpora do not amortise.
Also printed: the padding waste of each batching on these lengths.

Corpora: the generated sample corpus (`etl.sample_corpus`, ingested into a temporary
store), or --store (its filings/chunks/numbers are copied to a temporary store, so the
store itself is not written); and the real 10-Ks in ../shared/data/sec/10-K when present
(--max-filings limits how many filings of each corpus are embedded: CPU time).

Local (a quick check; the full run without the limits takes a while on CPU):
    python -m jobs.bench_embed --companies 2 --years 1 --max-filings 1 --out bench_embed.json
    python -m jobs.bench_embed --models tiny-random minilm --out bench_embed.json

On a cluster (GPU actors; the plain loop on one GPU):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.bench_embed --gpus 1 --out /shared/bench/embed.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from jobs.cli_types import positive_int

REPO = Path(__file__).resolve().parents[1]
PLAIN_BATCH = 32
DEFAULT_MODELS = ("tiny-random", "minilm")


def default_real_dir() -> Path:
    shared = os.environ.get("FILINGSTORE_SHARED_DATA")
    return (Path(shared) if shared else REPO.parent / "shared" / "data") / "sec" / "10-K"


@dataclass
class BenchRow:
    corpus: str
    model: str
    model_version: str
    filings: int
    chunks: int
    tokens: int
    pipeline_s: float
    pipeline_first_vectors_s: float    # Ray pool start-up and model loading, inside pipeline_s
    pipeline_tokens_per_s: float
    plain_s: float
    plain_tokens_per_s: float
    ratio: float                       # pipeline / plain
    plain_padding_waste: float         # batches of 32 in stored order
    budget_padding_waste: float        # token-budget batches over the length-sorted chunks
    max_abs_diff: float                # largest difference between the two paths' vectors


# --- stores ------------------------------------------------------------------------

def ingest(inputs: list[Path], store_dir: Path) -> None:
    from etl.pipeline import IngestConfig, run_ingest
    summary = run_ingest(IngestConfig(inputs=inputs, store=store_dir, progress=False))
    if summary.filings_written == 0:
        raise RuntimeError(f"ingesting {inputs} gave no filings (rejects: {dict(summary.rejects)})")


def copy_relational(src_dir: Path, dst_dir: Path) -> None:
    """filings, chunks, numbers of one store into a new one (vectors are not copied)."""
    from featurestore import CHUNKS, FILINGS, NUMBERS, Store
    src, dst = Store(src_dir), Store(dst_dir, create=True)
    for t in (FILINGS, CHUNKS, NUMBERS):
        rows = src.read(t)
        with dst.transaction() as tx:
            tx.upsert(t, rows)


def pick_filings(store_dir: Path, max_filings: int | None) -> list[str] | None:
    """The first `max_filings` filings (by id) that have chunks, or None for all."""
    if max_filings is None:
        return None
    from featurestore import CHUNKS, Store
    got = Store(store_dir).sql(f"SELECT DISTINCT filing_id FROM {CHUNKS.name} ORDER BY 1 LIMIT ?", [max_filings])
    return got.column("filing_id").to_pylist()


# --- the plain loop ----------------------------------------------------------------

def plain_loop(embedder, store_dir: Path, filing_ids: list[str] | None, device: str
               ) -> tuple[float, int, dict[str, np.ndarray], list[int]]:
    """(seconds, tokens, chunk_id -> vector, lengths): batches of 32 in stored order, padded to the longest."""
    from featurestore import Store
    from models.inference import number_rows, read_pending_chunks

    chunks, _ = read_pending_chunks(Store(store_dir), [], filing_ids)   # ordered by filing, seq
    rows = chunks.select(["chunk_id", "text", "num_starts", "num_ends", "num_values"]).to_pylist()
    embedder.to(device)
    embedder.embed_batch(embedder.pad(embedder.encode([rows[0]["text"]])))  # load and warm up, not timed
    vectors: dict[str, np.ndarray] = {}
    lengths: list[int] = []
    t0 = time.perf_counter()
    for i in range(0, len(rows), PLAIN_BATCH):
        part = rows[i:i + PLAIN_BATCH]
        enc = embedder.encode([r["text"] for r in part],
                              [number_rows(r["num_starts"], r["num_ends"], r["num_values"]) for r in part])
        out = embedder.embed_batch(embedder.pad(enc))
        lengths.extend(len(e) for e in enc)
        vectors.update(zip((r["chunk_id"] for r in part), out))
    return time.perf_counter() - t0, sum(lengths), vectors, lengths


def stored_order_waste(lengths: list[int]) -> float:
    from models.batching import padding_waste
    return padding_waste(lengths, [list(range(i, min(i + PLAIN_BATCH, len(lengths))))
                                   for i in range(0, len(lengths), PLAIN_BATCH)])


def budget_waste(lengths: list[int], budget: int) -> float:
    from models.batching import padding_waste
    from models.inference import plan_batches
    return padding_waste(lengths, plan_batches(lengths, budget))


# --- one corpus x model ------------------------------------------------------------

def bench_one(corpus: str, store_dir: Path, model: str, args: argparse.Namespace) -> BenchRow:
    import torch

    from featurestore import Store
    from models.embedding_models import load_embedder
    from models.inference import EmbedConfig, run_embedding, vectors_of

    import ray
    cpus = int(ray.cluster_resources().get("CPU", 1))
    filing_ids = pick_filings(store_dir, args.max_filings)
    embedder = load_embedder(model, store=Store(store_dir))
    torch.set_num_threads(cpus)  # the plain loop gets every core the pipeline's actors share
    device = "cuda" if args.gpus else "cpu"
    plain_s, plain_tokens, plain_vecs, lengths = plain_loop(embedder, store_dir, filing_ids, device)
    del embedder
    if device == "cuda":
        torch.cuda.empty_cache()

    cfg = EmbedConfig(store=store_dir, model=model, level="chunk", gpus=args.gpus, token_budget=args.token_budget,
                      filing_ids=filing_ids, progress=False, register=False)
    summary = run_embedding(cfg)
    if summary.chunks_skipped:
        raise RuntimeError(f"{store_dir} already held {summary.chunks_skipped} vectors of {summary.model_version}; "
                           f"the benchmark needs a fresh store")
    if summary.tokens != plain_tokens:
        raise RuntimeError(f"the pipeline embedded {summary.tokens} tokens but the plain loop {plain_tokens} "
                           f"over the same chunks; the two paths tokenise differently")
    got = Store(store_dir).sql(
        f"SELECT chunk_id, vector FROM chunk_embeddings WHERE model_version = ?", [summary.model_version])
    stored = vectors_of(got.column("vector"), summary.dim)
    diff = max((float(np.abs(v - plain_vecs[c]).max())
                for c, v in zip(got.column("chunk_id").to_pylist(), stored)), default=0.0)
    n_filings = len(filing_ids) if filing_ids is not None else Store(store_dir).count("filings")
    pipe_tps = summary.tokens_per_s
    plain_tps = plain_tokens / plain_s if plain_s > 0 else 0.0
    return BenchRow(corpus, model, summary.model_version, n_filings, summary.chunks_written, summary.tokens,
                    summary.embed_seconds, summary.first_result_s, pipe_tps, plain_s, plain_tps, pipe_tps / plain_tps if plain_tps else 0.0,
                    stored_order_waste(lengths), budget_waste(sorted(lengths), args.token_budget), diff)


def print_rows(rows: list[BenchRow]) -> None:
    head = (f"{'corpus':8s} {'model':12s} {'filings':>7s} {'chunks':>7s} {'tokens':>9s} "
            f"{'pipeline tok/s':>15s} {'plain tok/s':>12s} {'ratio':>6s} {'pad plain':>9s} {'pad budget':>10s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r.corpus:8s} {r.model:12s} {r.filings:7d} {r.chunks:7d} {r.tokens:9d} "
              f"{r.pipeline_tokens_per_s:15,.0f} {r.plain_tokens_per_s:12,.0f} {r.ratio:6.2f} "
              f"{r.plain_padding_waste:9.1%} {r.budget_padding_waste:10.1%}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m jobs.bench_embed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=None, help="use this store's chunks instead of a generated corpus")
    ap.add_argument("--companies", type=positive_int, default=4, help="generated corpus: companies")
    ap.add_argument("--years", type=positive_int, default=2, help="generated corpus: years per company")
    ap.add_argument("--real", type=Path, default=None, help="folder of real 10-Ks (default ../shared/data/sec/10-K)")
    ap.add_argument("--no-real", action="store_true", help="skip the real 10-Ks")
    ap.add_argument("--max-filings", type=positive_int, default=None, help="embed at most this many filings per corpus")
    ap.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="names or folders (as jobs.embed --model)")
    ap.add_argument("--gpus", type=int, default=0, help="0: CPU; 1: one GPU actor and the plain loop on that GPU")
    ap.add_argument("--token-budget", type=positive_int, default=None,
                    help="padded tokens per forward pass of the pipeline (default as jobs.embed)")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (local runs only)")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--keep", type=Path, default=None, help="keep the temporary stores under this folder")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from jobs.embed import CPU_TOKEN_BUDGET, GPU_TOKEN_BUDGET
    from jobs.ray_session import init_ray, shutdown_ray
    args.token_budget = args.token_budget or (GPU_TOKEN_BUDGET if args.gpus else CPU_TOKEN_BUDGET)

    work = Path(tempfile.mkdtemp(prefix="bench_embed_", dir=args.keep))
    rows: list[BenchRow] = []
    init_ray(args.num_cpus)
    try:
        corpora: list[tuple[str, Path, list[Path] | None]] = []
        if args.store is not None:
            corpora.append(("store", args.store, None))
        else:
            from etl.sample_corpus import write_corpus
            write_corpus(work / "sample_corpus", n_companies=args.companies, n_years=args.years, seed=11)
            corpora.append(("sample", work / "sample_corpus", [work / "sample_corpus"]))
        real = args.real or default_real_dir()
        if not args.no_real and real.is_dir():
            corpora.append(("10-K", real, [real]))
        elif not args.no_real:
            print(f"note: no real 10-Ks at {real} (pass --real DIR); benchmarking the sample corpus only")
        for name, source, inputs in corpora:
            base = work / name
            base.mkdir()
            fresh = base / "ingested"
            if inputs is None:
                copy_relational(source, fresh)
            else:
                ingest(inputs, fresh)
            for model in args.models:
                store_dir = base / model.replace("/", "_")
                shutil.copytree(fresh, store_dir)   # a fresh store per model: nothing is skipped
                print(f"[{name}] {model} ...", flush=True)
                rows.append(bench_one(name, store_dir, model, args))
    finally:
        shutdown_ray()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print_rows(rows)
    for r in rows:
        if r.max_abs_diff > 1e-3:
            print(f"warning: {r.corpus}/{r.model}: pipeline and plain vectors differ by up to {r.max_abs_diff:.2g}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"plain_batch": PLAIN_BATCH, "token_budget": args.token_budget,
                                        "gpus": args.gpus, "rows": [asdict(r) for r in rows]}, indent=1) + "\n")
        print(f"results -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
