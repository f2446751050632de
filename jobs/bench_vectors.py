"""Benchmark the vector store at scale: writes, ANN index, search latency and recall, DuckDB exact top-k.

Synthesises clustered vectors (a seeded Gaussian mixture: `--centres` centres
drawn N(0, 1) per dimension, each row a centre plus N(0, `--spread`) noise),
writes them through `featurestore.vectors.EmbeddingWriter` in batches into a
temporary store (Lance upsert + DuckDB mirror; write throughput printed), builds
the ANN index (`ensure_index`, timed), then runs `--queries` queries (mixture
centres plus fresh noise: near the data, never identical to a stored row) and
reports p50/p95 latency of
  lance exact     `similar(..., exact=True)`: Lance flat scan (bypass_vector_index)
  lance <index>   `similar(...)` with `--nprobes` (default `default_nprobes`) and `--refine`
  duckdb exact    `duckdb_topk`: `array_cosine_similarity` over the DuckDB mirror, as a
                  store call (a read-only connection opened per query, ~10+ ms); with
                  --held-connection also on one connection held across queries
with recall@k of the index against Lance exact, and the agreement (mean top-k
overlap) of DuckDB exact with Lance exact. A table is printed; `--out` writes JSON.

Local (the 1M run needs about 2 GB of disk for Lance + DuckDB and several minutes):
    python -m jobs.bench_vectors --n 1000000 --dim 256 --centres 3000 --out bench_vectors.json

On a cluster (runs in the job's driver; `--store` must be on the driver's disk):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.bench_vectors --n 1000000 --dim 256 --centres 3000 --out /shared/bench/vectors.json
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from featurestore import Store
from featurestore import vectors as V
from featurestore.schemas import VECTOR
from jobs.cli_types import positive_int

MODEL_VERSION = "bench-synthetic"


@dataclass(frozen=True)
class Mixture:
    centres: np.ndarray   # (C, D) float32
    spread: float
    seed: int


def make_mixture(n_centres: int, dim: int, spread: float, seed: int) -> Mixture:
    rng = np.random.default_rng(seed)
    return Mixture(rng.normal(size=(n_centres, dim)).astype(np.float32), spread, seed)


def sample(m: Mixture, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` draws from the mixture (uniform over centres)."""
    which = rng.integers(0, len(m.centres), size=n)
    noise = rng.normal(scale=m.spread, size=(n, m.centres.shape[1])).astype(np.float32)
    return m.centres[which] + noise


def batches(m: Mixture, n: int, batch: int) -> Iterator[pa.Table]:
    """Chunk-embedding rows 0..n-1 in batches; each batch seeded by its start, so re-runs match."""
    dim = m.centres.shape[1]
    for start in range(0, n, batch):
        size = min(batch, n - start)
        rng = np.random.default_rng([m.seed, 1, start])
        vec = sample(m, size, rng)
        i = np.arange(start, start + size)
        yield pa.table({
            "chunk_id": [f"s{x:09d}" for x in i],
            "filing_id": [f"f{x // 50:07d}" for x in i],
            "company_id": [f"co{x % 997:03d}" for x in i],
            "form": ["10-Q" if x % 4 == 0 else "10-K" for x in i],
            "filed_at": [dt.date(2015 + x % 10, 1 + x % 12, 1) for x in i],
            "section_id": ["item7"] * size,
            "seq": (i % 50).astype(np.int32),
            "etl_version": ["bench"] * size,
            VECTOR: pa.FixedSizeListArray.from_arrays(pa.array(vec.ravel()), dim),
        })


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    a = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95))}


def timed(fn: Callable[[], pa.Table]) -> tuple[float, pa.Table]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def overlap(a: pa.Table, b: pa.Table, k: int) -> float:
    return len(set(a.column("chunk_id").to_pylist()) & set(b.column("chunk_id").to_pylist())) / k


def run(args: argparse.Namespace) -> dict:
    mixture = make_mixture(args.centres, args.dim, args.spread, args.seed)
    own_store = args.store is None
    path = Path(tempfile.mkdtemp(prefix="bench_vectors_")) if own_store else Path(args.store)
    try:
        store = Store(path, create=True)
        writer = V.EmbeddingWriter(store, "chunk", MODEL_VERSION, args.dim)
        t0 = time.perf_counter()
        for b in batches(mixture, args.n, args.batch):
            writer.write(b)
        write_s = time.perf_counter() - t0
        report = V.ensure_index(store, "chunk", MODEL_VERSION, min_rows=0, kind=args.kind, replace=True)
        n_rows = store.lance.open_table(V.physical_name("chunk", MODEL_VERSION)).count_rows()
        nprobes = args.nprobes or V.default_nprobes(n_rows)

        rng = np.random.default_rng([args.seed, 2])
        queries = sample(mixture, args.queries, rng)
        exact_t, index_t, duck_t, held_t, recall, agree = [], [], [], [], [], []
        # No writer runs from here on, so a read-only connection may be held across queries.
        held = duckdb.connect(str(store.db_path), read_only=True) if args.held_connection else None
        for q in queries:
            te, exact = timed(lambda: V.similar(store, "chunk", MODEL_VERSION, q, args.k,
                                                where=args.where, exact=True))
            ti, approx = timed(lambda: V.similar(store, "chunk", MODEL_VERSION, q, args.k, where=args.where,
                                                 nprobes=nprobes, refine_factor=args.refine))
            td, duck = timed(lambda: V.duckdb_topk(store, "chunk", MODEL_VERSION, q, args.k, where=args.where))
            exact_t.append(te), index_t.append(ti), duck_t.append(td)
            if held is not None:
                held_t.append(timed(lambda: V.duckdb_topk(store, "chunk", MODEL_VERSION, q, args.k,
                                                          where=args.where, con=held))[0])
            recall.append(overlap(approx, exact, args.k))
            agree.append(overlap(duck, exact, args.k))
        if held is not None:
            held.close()
        return {
            "n": args.n, "dim": args.dim, "centres": args.centres, "spread": args.spread,
            "batch": args.batch, "queries": args.queries, "k": args.k, "seed": args.seed, "where": args.where,
            "write": {"seconds": write_s, "rows_per_s": args.n / write_s,
                      "lance_s": writer.timings.lance_s, "duckdb_s": writer.timings.duckdb_s,
                      "batches": writer.timings.batches},
            "index": {"kind": args.kind, "build_s": report.build_s, **asdict(report.params),
                      "nprobes": nprobes, "refine_factor": args.refine},
            "lance_exact": percentiles_ms(exact_t),
            "lance_index": {**percentiles_ms(index_t), "recall_at_k": float(np.mean(recall))},
            "duckdb_exact": {**percentiles_ms(duck_t), "agreement_with_lance_exact": float(np.mean(agree))},
            "duckdb_exact_held_connection": percentiles_ms(held_t) if held_t else None,
        }
    finally:
        if own_store and not args.keep:
            shutil.rmtree(path, ignore_errors=True)


def render(r: dict) -> str:
    w, ix = r["write"], r["index"]
    lines = [
        f"{r['n']:,} rows x {r['dim']}-d, {r['centres']:,} centres (spread {r['spread']:g}), "
        f"{r['queries']} queries, top-{r['k']}",
        f"write   {w['rows_per_s']:,.0f} rows/s ({w['seconds']:.1f} s in {w['batches']} batches: "
        f"Lance {w['lance_s']:.1f} s, DuckDB mirror {w['duckdb_s']:.1f} s)",
        f"index   {ix['kind']}: {ix['num_partitions']} partitions, {ix['num_sub_vectors']} sub-vectors, "
        f"built in {ix['build_s']:.1f} s",
        "",
        f"{'search':<44} {'p50 ms':>8} {'p95 ms':>8}  quality",
        f"{'lance exact (bypass index)':<44} {r['lance_exact']['p50_ms']:>8.2f} "
        f"{r['lance_exact']['p95_ms']:>8.2f}  (reference)",
        f"{'lance ' + ix['kind'] + ' (nprobes ' + str(ix['nprobes']) + ', refine ' + str(ix['refine_factor']) + ')':<44} "
        f"{r['lance_index']['p50_ms']:>8.2f} {r['lance_index']['p95_ms']:>8.2f}  "
        f"recall@{r['k']} {r['lance_index']['recall_at_k']:.3f}",
        f"{'duckdb exact (array_cosine_similarity)':<44} {r['duckdb_exact']['p50_ms']:>8.2f} "
        f"{r['duckdb_exact']['p95_ms']:>8.2f}  agreement {r['duckdb_exact']['agreement_with_lance_exact']:.3f}",
    ]
    if r["duckdb_exact_held_connection"]:
        held = r["duckdb_exact_held_connection"]
        lines.append(f"{'  same, on a held read-only connection':<44} {held['p50_ms']:>8.2f} {held['p95_ms']:>8.2f}")
    if r["where"]:
        lines.insert(1, f"every search filtered by: {r['where']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.bench_vectors", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=positive_int, default=100_000, help="rows to write")
    ap.add_argument("--dim", type=positive_int, default=256)
    ap.add_argument("--centres", type=positive_int, default=3000, help="mixture centres")
    ap.add_argument("--spread", type=float, default=0.5, help="noise std around a centre (centres are N(0,1))")
    ap.add_argument("--batch", type=positive_int, default=50_000, help="rows per EmbeddingWriter.write")
    ap.add_argument("--queries", type=positive_int, default=200)
    ap.add_argument("--k", type=positive_int, default=10)
    ap.add_argument("--kind", choices=("ivf_pq", "hnsw"), default="ivf_pq")
    ap.add_argument("--nprobes", type=positive_int, default=None, help="default: vectors.default_nprobes(n)")
    ap.add_argument("--refine", type=positive_int, default=V.DEFAULT_REFINE_FACTOR)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--where", default=None,
                    help="SQL filter for every search, e.g. \"form = '10-Q'\" (a quarter of the rows)")
    ap.add_argument("--held-connection", action="store_true",
                    help="also time duckdb_topk on one read-only connection held across queries")
    ap.add_argument("--store", default=None, help="store folder (default: a temporary one, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary store")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    result = run(args)
    print(render(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
