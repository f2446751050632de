"""Batch inference on Ray Data: the store's chunks -> chunk and document vectors in the store.

    driver: chunks of filings (+ numbers, + filing metadata) not yet embedded by this
            model version, sorted by stored n_tokens, cut into blocks
      ─from_arrow─▶ TokenizeChunks (actor pool, CPU: the embedder's tokenizer only)
      ─▶ EmbedChunks (actor pool: the model loaded once per actor; one GPU each with
         --gpus N, else fractional CPUs with torch threads split so the actors' threads
         add up to the cores; each block cut into token-budget batches, padded to the longest)
      ─iter_batches─▶ driver: EmbeddingWriter.write every `write_every` rows (Lance upsert
         + DuckDB mirror, one short commit each), progress bar
    then documents: each filing whose chunks are all embedded -> the mean of its chunk
    vectors (method "mean"), and with an aggregator checkpoint also method "aggregator".

Design choices:
- Where sorting happens: the whole pending set is sorted by the stored `n_tokens`
  on the driver before the dataset exists, so every block holds chunks of similar
  length whatever order the actor pools finish in; inside a block the exact model
  token counts cut token-budget batches (`plan_batches`). The stored count is the
  ETL's estimate, not the model's, but it orders chunks nearly the same way and
  saves tokenising twice. Longest first: a batch that does not fit a GPU fails at
  the start, not after an hour.
- Incremental and restartable: chunk ids already embedded by this model version
  (`EmbeddingWriter.existing_keys()`) are skipped before anything runs, and rows
  are committed in small writes, so a killed run loses at most one write's rows
  and a re-run (or new filings) embeds only what is missing.
- Document vectors: the plain mean of a filing's unit chunk vectors, L2-normalised
  again (not weighted by n_tokens: a long boilerplate chunk should not dominate;
  the trained aggregator is where weighting belongs). A filing is pooled only
  once every one of its chunks has a vector, so a killed run never leaves a
  document vector made of part of a filing.
- The driver is the single writer (as in the ingest), so workers never contend
  for the DuckDB file or the Lance table.
- Pure pieces (batch planning, pooling, row building) are plain functions; the
  callable classes work on a `pyarrow.Table` batch and can be called directly.

The aggregator (`models.aggregator.load_aggregator(path)`, another module) must
return an object with `aggregate(vectors_per_filing: list[np.ndarray]) -> np.ndarray`
((n_filings, dim) float32; each input is one filing's (n_chunks, dim) unit chunk
vectors in `seq` order) and a `model_version` string. Its vectors go to
`doc_embeddings` under the chunk model's version with method "aggregator".
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestore import schemas
from featurestore.schemas import CHUNKS, FILINGS, NUMBERS
from models.batching import token_budget_batches
from models.tokenizer import Encoding

CHUNK, DOC, BOTH = "chunk", "doc", "both"
LEVELS = (CHUNK, DOC, BOTH)
MEAN, AGGREGATOR = "mean", "aggregator"
CHUNK_META_COLUMNS = ("chunk_id", "filing_id", "company_id", "form", "filed_at", "section_id", "seq",
                      "etl_version")
WORK_COLUMNS = ("chunk_id", "text", "num_starts", "num_ends", "num_values")


# --- pure pieces ----------------------------------------------------------------------

def plan_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Index batches of similar length whose padded size (rows x longest) is at most `budget`.

    Every index appears exactly once; a sequence longer than the budget is a batch of its own.
    """
    if budget < 1:
        raise ValueError(f"token budget must be >= 1 padded tokens, got {budget}")
    return token_budget_batches(lengths, budget, rng=None, shuffle=False)


def sort_by_length(table: pa.Table, column: str = "n_tokens", descending: bool = True) -> pa.Table:
    """Rows ordered by `column` (longest first by default), ties by chunk_id for a stable order."""
    order = "descending" if descending else "ascending"
    keys = [(column, order)] + ([("chunk_id", "ascending")] if "chunk_id" in table.column_names else [])
    return table.take(pc.sort_indices(table, sort_keys=keys))


def split_blocks(table: pa.Table, rows_per_block: int) -> list[pa.Table]:
    """Consecutive slices of at most `rows_per_block` rows (the order is kept)."""
    if rows_per_block < 1:
        raise ValueError(f"rows_per_block must be >= 1, got {rows_per_block}")
    return [table.slice(i, rows_per_block) for i in range(0, table.num_rows, rows_per_block)]


def number_rows(starts: Sequence[int] | None, ends: Sequence[int] | None,
                values: Sequence[float] | None) -> list[tuple[int, int, float]]:
    """A chunk's (char_start, char_end, value) rows from its three list columns (None: no numbers)."""
    if not starts:
        return []
    return [(int(s), int(e), float(v)) for s, e, v in zip(starts, ends, values) if v is not None]


def vector_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """(n, dim) floats -> Arrow `list<float32>[dim]` (the store's vector type)."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"vectors must be a 2-D (rows, dim) array, got shape {v.shape}")
    return pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1])


def vectors_of(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    """A vector column (fixed-size list, list, or Ray's tensor type) -> (n, dim) float32."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if isinstance(column.type, pa.ExtensionType):  # Ray's ArrowTensorType(V2)
        return np.asarray(column.to_numpy_ndarray() if hasattr(column, "to_numpy_ndarray")
                          else column.to_numpy(), dtype=np.float32).reshape(len(column), dim)
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)
    if flat.size != len(column) * dim:
        raise ValueError(f"vector column holds {flat.size} floats for {len(column)} rows; expected {dim} per row")
    return flat.astype(np.float32, copy=False).reshape(len(column), dim)


def build_chunk_rows(meta: pa.Table, meta_index: dict[str, int], chunk_ids: Sequence[str],
                     vectors: np.ndarray, model_version: str, dim: int) -> pa.Table:
    """`chunk_embeddings(dim)` rows: each chunk's filter columns from `meta`, its vector, the version.

    `meta` holds CHUNK_META_COLUMNS; `meta_index` maps chunk_id -> row of `meta`.
    """
    if vectors.shape != (len(chunk_ids), dim):
        raise ValueError(f"{len(chunk_ids)} chunk ids but vectors of shape {vectors.shape}; expected "
                         f"({len(chunk_ids)}, {dim})")
    try:
        rows = meta.take(pa.array([meta_index[c] for c in chunk_ids], type=pa.int64()))
    except KeyError as e:
        raise KeyError(f"chunk {e.args[0]!r} came back from the workers but was not in the pending set; "
                       f"this is a bug in the batch inference") from None
    t = schemas.chunk_embeddings(dim)
    cols = {name: rows.column(name) for name in CHUNK_META_COLUMNS}
    cols["model_version"] = pa.array([model_version] * len(chunk_ids), pa.string())
    cols[schemas.VECTOR] = vector_array(vectors)
    return pa.table([cols[f.name] for f in t.schema], schema=t.schema)


@dataclass
class PooledFilings:
    filing_ids: list[str]
    vectors: np.ndarray          # (n_filings, dim) float32, unit length
    n_chunks: list[int]


def pool_mean(filing_ids: Sequence[str], seqs: Sequence[int], vectors: np.ndarray) -> PooledFilings:
    """Per filing, the mean of its chunk vectors, L2-normalised; filings in first-seen order."""
    groups = group_by_filing(filing_ids, seqs, vectors)
    ids = list(groups)
    out = np.zeros((len(ids), vectors.shape[1]), dtype=np.float32)
    for i, fid in enumerate(ids):
        out[i] = unit(groups[fid].mean(axis=0))
    return PooledFilings(ids, out, [len(groups[f]) for f in ids])


def group_by_filing(filing_ids: Sequence[str], seqs: Sequence[int], vectors: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """filing_id -> (n_chunks, dim) vectors in `seq` order."""
    if not (len(filing_ids) == len(seqs) == len(vectors)):
        raise ValueError(f"{len(filing_ids)} filing ids, {len(seqs)} seqs and {len(vectors)} vectors: "
                         f"give one of each per chunk")
    rows: dict[str, list[tuple[int, int]]] = {}
    for i, (fid, seq) in enumerate(zip(filing_ids, seqs)):
        rows.setdefault(fid, []).append((int(seq), i))
    return {fid: vectors[[i for _s, i in sorted(r)]] for fid, r in rows.items()}


def unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v).astype(np.float32)


def build_doc_rows(filings_meta: pa.Table, pooled: PooledFilings, model_version: str, method: str,
                   dim: int) -> pa.Table:
    """`doc_embeddings(dim)` rows for pooled filings.

    `filings_meta` has filing_id, company_id, form, filed_at, etl_version (one row per filing).
    """
    t = schemas.doc_embeddings(dim)
    index = {f: i for i, f in enumerate(filings_meta.column("filing_id").to_pylist())}
    missing = [f for f in pooled.filing_ids if f not in index]
    if missing:
        raise KeyError(f"filings {missing[:3]} have chunk vectors but no row in {FILINGS.name}; "
                       f"re-ingest them or delete their embeddings")
    meta = filings_meta.take(pa.array([index[f] for f in pooled.filing_ids], type=pa.int64()))
    n = len(pooled.filing_ids)
    cols = {
        "filing_id": meta.column("filing_id"), "company_id": meta.column("company_id"),
        "form": meta.column("form"), "filed_at": meta.column("filed_at"),
        "n_chunks": pa.array(pooled.n_chunks, pa.int32()),
        "etl_version": meta.column("etl_version"),
        "model_version": pa.array([model_version] * n, pa.string()),
        "method": pa.array([method] * n, pa.string()),
        schemas.VECTOR: vector_array(pooled.vectors.reshape(n, dim)),
    }
    return pa.table([cols[f.name] for f in t.schema], schema=t.schema)


def encodings_of(batch: pa.Table) -> list[Encoding]:
    """The tokenise stage's rows back as Encodings."""
    ids = batch.column("input_ids").to_pylist()
    vals = batch.column("num_values").to_pylist()
    return [Encoding(i, [math.nan if x is None else x for x in v]) for i, v in zip(ids, vals)]


# --- Ray Data callables (plain classes; Ray is not imported here) ----------------------

class TokenizeChunks:
    """Tagged chunk text + number rows -> token ids, number values and the model's token count.

    Builds the embedder from its reference without loading weights (tokenizer only).
    """

    def __init__(self, model_ref: str, pooling: str = "mean", model_version: str | None = None):
        from models.embedding_models import load_embedder
        self.embedder = load_embedder(model_ref, pooling=pooling)
        _check_version(self.embedder.model_version, model_version, model_ref)

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch.column("text").to_pylist()
        numbers = [number_rows(s, e, v) for s, e, v in zip(batch.column("num_starts").to_pylist(),
                                                          batch.column("num_ends").to_pylist(),
                                                          batch.column("num_values").to_pylist())]
        enc = self.embedder.encode(texts, numbers)
        return pa.table({
            "chunk_id": batch.column("chunk_id"),
            "input_ids": pa.array([e.input_ids for e in enc], pa.list_(pa.int32())),
            "num_values": pa.array([[None if math.isnan(x) else x for x in e.num_values] for e in enc],
                                   pa.list_(pa.float32())),
            "n_tokens": pa.array([len(e) for e in enc], pa.int32()),
        })


class EmbedChunks:
    """Token ids -> unit vectors: the model is loaded once per actor, batches cut by token budget."""

    def __init__(self, model_ref: str, pooling: str, model_version: str | None, device: str,
                 torch_threads: int, token_budget: int):
        import torch
        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        from models.embedding_models import load_embedder
        self.embedder = load_embedder(model_ref, pooling=pooling)
        _check_version(self.embedder.model_version, model_version, model_ref)
        self.embedder.to(device)
        self.token_budget = token_budget

    def __call__(self, batch: pa.Table) -> pa.Table:
        enc = encodings_of(batch)
        out = np.zeros((len(enc), self.embedder.dim), dtype=np.float32)
        for idx in plan_batches([len(e) for e in enc], self.token_budget):
            out[idx] = self.embedder.embed_batch(self.embedder.pad([enc[i] for i in idx]))
        return pa.table({"chunk_id": batch.column("chunk_id"), "n_tokens": batch.column("n_tokens"),
                         schemas.VECTOR: vector_array(out)})


def _check_version(found: str, expected: str | None, ref: str) -> None:
    if expected is not None and found != expected:
        raise RuntimeError(f"the model at {ref} is {found} on this worker but {expected} on the driver: "
                           f"its files changed during the run (or differ between nodes); make the folder "
                           f"read-only while embedding, then run again")


# --- reading the store ----------------------------------------------------------------

def read_pending_chunks(store, done_chunk_ids: Iterable[str], filing_ids: Sequence[str] | None = None,
                        sections: Sequence[str] | None = None) -> tuple[pa.Table, int]:
    """(chunks not in `done_chunk_ids`, how many were skipped): meta + work columns + stored n_tokens.
    Only chunks of `filing_ids` and of the `sections` (item ids such as "7") when given."""
    conds, params = [], []
    if filing_ids is not None:
        conds.append("c.filing_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(filing_ids))
    if sections is not None:
        conds.append("c.section_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(sections))
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    query = f"""
        SELECT c.chunk_id, c.filing_id, f.company_id, f.form, f.filed_at, c.section_id, c.seq,
               c.etl_version, c.n_tokens, c.text,
               n.num_starts, n.num_ends, n.num_values
        FROM {CHUNKS.name} c
        LEFT JOIN {FILINGS.name} f USING (filing_id)
        LEFT JOIN (SELECT chunk_id,
                          list(char_start ORDER BY char_start) AS num_starts,
                          list(char_end ORDER BY char_start) AS num_ends,
                          list(value ORDER BY char_start) AS num_values
                   FROM {NUMBERS.name} WHERE value IS NOT NULL GROUP BY chunk_id) n USING (chunk_id)
        {where}
        ORDER BY c.filing_id, c.seq"""
    table = store.sql(query, params or None)
    done = pa.array(list(set(done_chunk_ids)), pa.string())
    if len(done) == 0:
        return table, 0
    keep = pc.invert(pc.is_in(table.column("chunk_id"), value_set=done))
    pending = table.filter(keep)
    return pending, table.num_rows - pending.num_rows


def read_filings_meta(store, filing_ids: Sequence[str]) -> pa.Table:
    """filing_id, company_id, form, filed_at, etl_version of the given filings."""
    return store.sql(f"SELECT filing_id, company_id, form, filed_at, etl_version FROM {FILINGS.name} "
                     f"WHERE filing_id IN (SELECT unnest(?::VARCHAR[]))", [list(filing_ids)])


# --- the job --------------------------------------------------------------------------

@dataclass
class EmbedConfig:
    store: Path
    model: str                          # a name (minilm, tiny-random) or a folder (see load_embedder)
    level: str = BOTH                   # chunk | doc | both
    gpus: int = 0                       # embed actors with one GPU each; 0: CPU actors
    workers: int | None = None          # CPU embed actors (default: one per 4 CPUs, at least 1)
    tokenize_workers: int | None = None
    token_budget: int = 16_384          # padded tokens per forward pass
    rows_per_block: int = 256           # chunks per Ray block (one embed call)
    write_every: int = 2048             # rows per store commit
    pooling: str = "mean"
    aggregator: Path | None = None
    filing_ids: list[str] | None = None  # embed only these filings (trials, benchmarks)
    sections: list[str] | None = None   # embed only chunks of these items (e.g. ["7"], MD&A); chunk level only
    progress: bool = True
    register: bool = True               # record the model and the run in the registry

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level {self.level!r}: choose one of {LEVELS}")
        if self.gpus < 0:
            raise ValueError(f"gpus={self.gpus}: give 0 (CPU) or a number of GPUs")
        for name in ("token_budget", "rows_per_block", "write_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if self.sections is not None:
            if not self.sections:
                raise ValueError("sections=[]: give at least one item id (e.g. ['7']) or None for every chunk")
            if self.level != CHUNK:
                raise ValueError(f"sections={self.sections} embeds part of each filing, and a document vector "
                                 f"pools every chunk of it: use level={CHUNK!r} with sections")


@dataclass
class EmbedSummary:
    model_version: str
    dim: int
    chunks_total: int = 0            # chunks of the selected filings in the store
    chunks_skipped: int = 0          # already embedded by this model version
    chunks_written: int = 0
    tokens: int = 0                  # model tokens of the chunks written
    embed_seconds: float = 0.0       # chunk phase wall time (Ray start-up of the pools included)
    first_result_s: float = 0.0      # from the start of the chunk phase to the first vectors (start-up)
    docs_written: dict[str, int] = field(default_factory=dict)
    docs_skipped: int = 0            # filings whose document vector existed
    docs_incomplete: int = 0         # filings with chunks still missing a vector (not pooled)
    lance_versions: dict[str, int] = field(default_factory=dict)
    run_id: str | None = None
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def lines(self) -> list[str]:
        docs = ", ".join(f"{m}: {n}" for m, n in sorted(self.docs_written.items())) or "none"
        return [
            f"model version     {self.model_version} (dim {self.dim})",
            f"chunks            {self.chunks_total} in scope, {self.chunks_skipped} already embedded, "
            f"{self.chunks_written} written",
            f"tokens            {self.tokens} in {self.embed_seconds:.1f} s = {self.tokens_per_s:,.0f} tokens/s "
            f"(first vectors after {self.first_result_s:.1f} s)",
            f"documents         written {docs}; {self.docs_skipped} already done, "
            f"{self.docs_incomplete} waiting for chunk vectors",
            f"lance versions    {self.lance_versions or 'none'}",
            f"registry run      {self.run_id or 'not recorded'}",
            f"seconds           {self.seconds:.1f}",
        ]


def actor_layout(cpus: float, gpus: int, workers: int | None, tokenize_workers: int | None
                 ) -> dict[str, Any]:
    """How many actors of each pool, the resources each asks for, and torch threads per embed actor.

    CPU: the embed actors' torch threads add up to the cluster's CPUs; Ray's CPU
    requests are fractional and leave room for the tokenise pool (whole-CPU
    requests on a small machine can starve one pool and hang the pipeline).
    """
    cpus = max(1.0, float(cpus))
    n_tok = tokenize_workers or (max(1, min(int(cpus) - gpus, 2 * gpus)) if gpus else max(1, int(cpus) // 8))
    tok_cpus = 0.25 if cpus < 8 else 1.0
    if gpus:
        return {"tokenize_workers": n_tok, "tokenize_cpus": tok_cpus, "embed_workers": gpus,
                "embed_cpus": 1.0 if cpus - n_tok * tok_cpus >= gpus else 0.1, "embed_gpus": 1,
                "torch_threads": 0, "device": "cuda"}
    n_embed = workers or max(1, int(cpus) // 4)
    free = max(0.1 * n_embed, cpus - n_tok * tok_cpus - 0.05)
    return {"tokenize_workers": n_tok, "tokenize_cpus": tok_cpus, "embed_workers": n_embed,
            "embed_cpus": round(min(free / n_embed, cpus), 3), "embed_gpus": 0,
            "torch_threads": max(1, int(cpus) // n_embed), "device": "cpu"}


def _progress(total: int, enabled: bool, desc: str):
    import sys
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="chunk", disable=not enabled, file=sys.stdout, mininterval=2)


def embed_chunks(config: EmbedConfig, embedder, writer, summary: EmbedSummary) -> None:
    """The chunk phase on Ray Data (Ray must be initialised); writes through `writer` on the driver."""
    import ray

    store = writer.store
    done = {key[0] for key in writer.existing_keys()}  # keys are (chunk_id,) tuples
    pending, skipped = read_pending_chunks(store, done, config.filing_ids, config.sections)
    summary.chunks_total = pending.num_rows + skipped
    summary.chunks_skipped = skipped
    if pending.num_rows == 0:
        return
    t0 = time.perf_counter()
    pending = sort_by_length(pending)
    meta = pending.select(list(CHUNK_META_COLUMNS))
    meta_index = {c: i for i, c in enumerate(meta.column("chunk_id").to_pylist())}
    blocks = split_blocks(pending.select(list(WORK_COLUMNS)), config.rows_per_block)
    layout = actor_layout(ray.cluster_resources().get("CPU", 1), config.gpus, config.workers,
                          config.tokenize_workers)
    n_blocks = len(blocks)
    ref = embedder.path
    ds = ray.data.from_arrow(blocks)
    ds = ds.map_batches(
        TokenizeChunks, batch_size=None, batch_format="pyarrow",
        fn_constructor_kwargs=dict(model_ref=ref, pooling=config.pooling, model_version=embedder.model_version),
        compute=ray.data.ActorPoolStrategy(size=min(layout["tokenize_workers"], n_blocks)),
        num_cpus=layout["tokenize_cpus"])
    embed_kwargs: dict[str, Any] = dict(num_cpus=layout["embed_cpus"])
    if layout["embed_gpus"]:
        embed_kwargs["num_gpus"] = layout["embed_gpus"]
    ds = ds.map_batches(
        EmbedChunks, batch_size=None, batch_format="pyarrow",
        fn_constructor_kwargs=dict(model_ref=ref, pooling=config.pooling, model_version=embedder.model_version,
                                   device=layout["device"], torch_threads=layout["torch_threads"],
                                   token_budget=config.token_budget),
        compute=ray.data.ActorPoolStrategy(size=min(layout["embed_workers"], n_blocks)), **embed_kwargs)
    dim = embedder.dim
    with _progress(pending.num_rows, config.progress, f"embed {embedder.model_version}") as bar:
        for batch in ds.iter_batches(batch_size=config.write_every, batch_format="pyarrow"):
            if not summary.first_result_s:
                summary.first_result_s = time.perf_counter() - t0
            ids = batch.column("chunk_id").to_pylist()
            rows = build_chunk_rows(meta, meta_index, ids, vectors_of(batch.column(schemas.VECTOR), dim),
                                    embedder.model_version, dim)
            writer.write(rows)
            summary.chunks_written += len(ids)
            summary.tokens += int(pc.sum(batch.column("n_tokens")).as_py() or 0)
            bar.update(len(ids))
    summary.embed_seconds = time.perf_counter() - t0


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def filings_to_pool(store, chunk_table: str, methods: Sequence[str], done: set[tuple],
                    filing_ids: Sequence[str] | None = None) -> tuple[list[str], int, int]:
    """(filings whose every chunk has a vector and that lack a document vector of some method,
    filings already done for every method, filings with chunks still missing a vector)."""
    where, params = "", []
    if filing_ids is not None:
        where, params = "WHERE c.filing_id IN (SELECT unnest(?::VARCHAR[]))", [list(filing_ids)]
    status = store.sql(
        f"SELECT c.filing_id, count(*) AS total, count(e.chunk_id) AS embedded "
        f"FROM {CHUNKS.name} c LEFT JOIN {_quote(chunk_table)} e ON e.chunk_id = c.chunk_id "
        f"{where} GROUP BY c.filing_id ORDER BY c.filing_id", params or None).to_pylist()
    todo, already, incomplete = [], 0, 0
    for r in status:
        if r["embedded"] < r["total"]:
            incomplete += 1
        elif all((r["filing_id"], m) in done for m in methods):
            already += 1
        else:
            todo.append(r["filing_id"])
    return todo, already, incomplete


def read_chunk_vectors(store, chunk_table: str, filing_ids: Sequence[str], dim: int
                       ) -> tuple[list[str], list[int], np.ndarray]:
    """(filing_id, seq, vector) of every embedded chunk of the given filings, from the DuckDB mirror."""
    got = store.sql(
        f"SELECT c.filing_id, c.seq, e.vector FROM {CHUNKS.name} c "
        f"JOIN {_quote(chunk_table)} e ON e.chunk_id = c.chunk_id "
        f"WHERE c.filing_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY c.filing_id, c.seq", [list(filing_ids)])
    return (got.column("filing_id").to_pylist(), got.column("seq").to_pylist(),
            vectors_of(got.column(schemas.VECTOR), dim))


def load_aggregator(path: Path):
    """`models.aggregator.load_aggregator(path)`, with a clear error while that module does not exist."""
    try:
        from models import aggregator as aggregator_module
    except ImportError as e:
        raise ImportError(f"--aggregator {path}: models.aggregator cannot be imported ({e}); the document "
                          f"aggregator is not part of this code base yet. Leave --aggregator out to write "
                          f"mean-pooled document vectors only") from e
    agg = aggregator_module.load_aggregator(path)
    if not hasattr(agg, "aggregate"):
        raise TypeError(f"models.aggregator.load_aggregator({path}) returned {type(agg).__name__} without "
                        f"aggregate(vectors_per_filing); see models.inference's docstring for the contract")
    return agg


def aggregate(agg, groups: dict[str, np.ndarray], dim: int) -> PooledFilings:
    """The aggregator's document vectors (L2-normalised), checked for shape and finiteness."""
    ids = list(groups)
    out = np.asarray(agg.aggregate([groups[f] for f in ids]), dtype=np.float32)
    if out.shape != (len(ids), dim):
        raise ValueError(f"the aggregator returned shape {out.shape} for {len(ids)} filings; document "
                         f"vectors of this model version must be ({len(ids)}, {dim}) (the chunk vectors' width)")
    if not np.isfinite(out).all():
        raise ValueError("the aggregator returned NaN or infinite values; check its checkpoint")
    return PooledFilings(ids, np.stack([unit(v) for v in out]) if ids else out, [len(groups[f]) for f in ids])


def embed_docs(config: EmbedConfig, embedder, chunk_writer, doc_writer, summary: EmbedSummary,
               aggregator=None, filings_per_write: int = 256) -> None:
    """Document vectors of every filing whose chunks are all embedded and whose vectors are missing."""
    store = doc_writer.store
    if chunk_writer.lance_version() == 0:   # no chunk vectors of this model version at all
        summary.docs_incomplete = len(store.keys(CHUNKS.name, ["filing_id"]))
        return
    methods = [MEAN] + ([AGGREGATOR] if aggregator is not None else [])
    done = doc_writer.existing_keys()
    todo, summary.docs_skipped, summary.docs_incomplete = filings_to_pool(
        store, chunk_writer.name, methods, done, config.filing_ids)
    dim = embedder.dim
    for start in range(0, len(todo), filings_per_write):
        part = todo[start:start + filings_per_write]
        fids, seqs, vectors = read_chunk_vectors(store, chunk_writer.name, part, dim)
        meta = read_filings_meta(store, part)
        tables = []
        if any((f, MEAN) not in done for f in part):
            pooled = pool_mean(fids, seqs, vectors)
            tables.append((MEAN, build_doc_rows(meta, pooled, embedder.model_version, MEAN, dim)))
        if aggregator is not None:
            pooled = aggregate(aggregator, group_by_filing(fids, seqs, vectors), dim)
            tables.append((AGGREGATOR, build_doc_rows(meta, pooled, embedder.model_version, AGGREGATOR, dim)))
        for method, rows in tables:
            keep = [(f, method) not in done for f in rows.column("filing_id").to_pylist()]
            rows = rows.filter(pa.array(keep))
            n = doc_writer.write(rows)
            summary.docs_written[method] = summary.docs_written.get(method, 0) + n


def describe_model(embedder) -> tuple[dict[str, Any], str | None]:
    """(config, tokenizer description) recorded with the model version in the registry."""
    describe = getattr(embedder, "describe", None)
    info = dict(describe()) if callable(describe) else {}
    return ({"dim": embedder.dim, "kind": embedder.kind, **info}, info.get("tokenizer"))


def run_embedding(config: EmbedConfig) -> EmbedSummary:
    """Embed the store's chunks (and documents) with one model; Ray must be initialised for chunks."""
    from featurestore import Store
    from featurestore.registry import Registry
    from featurestore.vectors import EmbeddingWriter
    from models.embedding_models import load_embedder

    t0 = time.perf_counter()
    store = Store(config.store)
    model_ref = config.model
    if Path(str(model_ref)).exists():
        model_ref = str(Path(model_ref).resolve())   # workers may run in another directory
    embedder = load_embedder(model_ref, store=store, pooling=config.pooling)
    aggregator = load_aggregator(config.aggregator) if config.aggregator else None
    summary = EmbedSummary(embedder.model_version, embedder.dim)
    chunk_writer = EmbeddingWriter(store, CHUNK, embedder.model_version, embedder.dim)
    doc_writer = EmbeddingWriter(store, DOC, embedder.model_version, embedder.dim)

    registry = Registry.for_store(store) if config.register else None
    if registry is not None:
        model_config, tokenizer = describe_model(embedder)
        registry.register_model(embedder.model_version, embedder.kind, embedder.path, config=model_config,
                                tokenizer=tokenizer)
        if aggregator is not None and getattr(aggregator, "model_version", None):
            registry.register_model(aggregator.model_version, "aggregator", str(config.aggregator),
                                    config={"chunk_model_version": embedder.model_version})
    params = {"level": config.level, "gpus": config.gpus, "workers": config.workers,
              "token_budget": config.token_budget, "rows_per_block": config.rows_per_block,
              "write_every": config.write_every, "pooling": config.pooling,
              "aggregator": str(config.aggregator) if config.aggregator else None,
              "filing_ids": config.filing_ids}
    run_ctx = (registry.run("embed", inputs={"store": str(store.path), "model": str(config.model)},
                            params=params, model_version=embedder.model_version)
               if registry is not None else nullcontext())
    try:
        with run_ctx as handle:   # the run ends succeeded, failed or killed with what was written
            try:
                if config.level in (CHUNK, BOTH):
                    embed_chunks(config, embedder, chunk_writer, summary)
                if config.level in (DOC, BOTH):
                    embed_docs(config, embedder, chunk_writer, doc_writer, summary, aggregator)
            finally:
                # the Lance versions this run produced (tables it wrote to)
                if summary.chunks_written:
                    summary.lance_versions[chunk_writer.name] = chunk_writer.lance_version()
                if sum(summary.docs_written.values()):
                    summary.lance_versions[doc_writer.name] = doc_writer.lance_version()
                if handle is not None:
                    handle.row_counts[chunk_writer.name] = summary.chunks_written
                    for method, n in summary.docs_written.items():
                        handle.row_counts[f"{doc_writer.name}:{method}"] = n
                    for name, version in summary.lance_versions.items():
                        handle.record_table_version(name, version)
                    summary.run_id = handle.run_id
    finally:
        if registry is not None:
            registry.close()
    summary.seconds = time.perf_counter() - t0
    return summary
