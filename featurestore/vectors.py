"""The vector side of the store: embedding tables in LanceDB, mirrored into DuckDB, and search.

featurestore knows no model: it stores and searches vectors it is given.

Design choices:
- One physical table per (level, model_version). A fixed-size vector column
  has one width and models differ (tiny encoder 128-d, MiniLM 384-d), so
  `chunk_embeddings__<slug>` / `doc_embeddings__<slug>` exist in Lance AND in
  DuckDB (there the vector is `FLOAT[D]`). `slug` is the model version in
  lowercase alphanumerics and `_`, plus an 8-hex hash whenever that changed it
  (so "v1.0" and "v1_0" never share a table).
- DuckDB views `chunk_embeddings` / `doc_embeddings` are re-created in every
  mirror commit as `UNION ALL` over the level's physical tables, so a plain
  DuckDB client sees one table. Their `vector` is `FLOAT[D]` when all member
  tables share a width (`array_cosine_similarity` works directly), else
  `FLOAT[]` (use `list_cosine_similarity` and filter on `model_version`).
- The catalogue `embedding_tables(level, model_version, physical_name, dim,
  lance_version, updated_at)` is a DuckDB table (created on first write) that
  maps a model version to its table. `lance_version` is the Lance version the
  DuckDB mirror reflects.
- Lance is the authority. `EmbeddingWriter.write` upserts into Lance
  (`merge_insert` on the key without `model_version`, which is fixed per
  table), then mirrors the same rows and the catalogue row into DuckDB in one
  short transaction. If the process dies between the two commits, the
  catalogue's `lance_version` (or the row count) no longer matches Lance;
  `sync_mirror`, called when a writer starts, then rebuilds the DuckDB table
  from Lance into a staging table in short transactions and swaps it in with
  one more, so readers are never locked out for long and never see half a table.
- Searches use cosine distance; `score` is cosine similarity (1 - distance),
  best first. `where` is a SQL predicate over the filter columns, applied
  before the vector search (Lance prefilter). Searches always ask Lance for a
  refine step: with an index that re-ranks candidates on the full vectors, so
  `score` is exact rather than the quantised estimate (HNSW-SQ otherwise
  reports squared L2 of the quantised vectors).
- ANN indexes are built only from `min_rows` on: below it an exact scan is
  fast and has recall 1. Parameters scale with the table (`index_params`).
- Full text: chunk embeddings stay lean (no text). The Lance table
  `chunk_text` holds each chunk's text with filter columns and an FTS index;
  `sync_chunk_text` fills it from DuckDB `chunks` joined to `filings`,
  incrementally by `chunk_id`. Its text has the `<number>` tags removed so the
  tag word is not indexed. `hybrid` fuses vector and FTS rankings by weighted
  reciprocal-rank fusion (`rrf_fuse`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import re
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestore import schemas
from featurestore.schemas import CHUNKS, FILINGS, UTC_TS, VECTOR, Table
from featurestore.store import check_unique_keys, conform

if TYPE_CHECKING:
    from featurestore.store import Store, StoreWriter

Level = Literal["chunk", "doc"]
IndexKind = Literal["ivf_pq", "hnsw"]

_LEVEL_TABLES = {"chunk": schemas.chunk_embeddings, "doc": schemas.doc_embeddings}
_VIEW_NAMES = {"chunk": schemas.CHUNK_EMBEDDINGS_NAME, "doc": schemas.DOC_EMBEDDINGS_NAME}

MODEL_VERSION = "model_version"
METHOD = "method"
CHUNK_ID = "chunk_id"
FILING_ID = "filing_id"
# Columns a `where` predicate may use (those the level's table has; docs have no section_id).
FILTER_COLUMNS = ("filing_id", "company_id", "form", "filed_at", "section_id")


def _check_column_names() -> None:
    """Fail at import if schemas.py renamed a column this module relies on."""
    chunk, doc = schemas.chunk_embeddings(1).columns, schemas.doc_embeddings(1).columns
    need = {"chunk": (chunk, (MODEL_VERSION, VECTOR, CHUNK_ID, *FILTER_COLUMNS)),
            "doc": (doc, (MODEL_VERSION, VECTOR, METHOD, *FILTER_COLUMNS[:-1]))}
    for level, (have, names) in need.items():
        missing = [n for n in names if n not in have]
        if missing:
            raise ImportError(f"featurestore.vectors expects {level} embedding columns {missing}, "
                              f"which schemas.py no longer declares; update vectors.py")


_check_column_names()

EMBEDDING_TABLES = Table(
    "embedding_tables",
    pa.schema([
        ("level", pa.string()),            # chunk, doc
        (MODEL_VERSION, pa.string()),
        ("physical_name", pa.string()),    # the same name in Lance and DuckDB
        ("dim", pa.int32()),
        ("lance_version", pa.int64()),     # the Lance version the DuckDB mirror reflects
        ("updated_at", UTC_TS),
    ]),
    key=("level", MODEL_VERSION),
)

CHUNK_TEXT = Table(
    "chunk_text",
    pa.schema([
        CHUNKS.schema.field(CHUNK_ID),
        CHUNKS.schema.field(FILING_ID),
        FILINGS.schema.field("company_id"),
        FILINGS.schema.field("form"),
        FILINGS.schema.field("filed_at"),
        CHUNKS.schema.field("section_id"),
        CHUNKS.schema.field("text"),       # number tags removed
    ]),
    key=(CHUNK_ID,),
)
TEXT = "text"
NUMBER_TAG_PATTERN = "</?number>"  # the tags `chunks.text` wraps numbers in (schemas.CHUNKS)

SLUG_MAX = 48
DEFAULT_MIN_INDEX_ROWS = 100_000
DEFAULT_REFINE_FACTOR = 30  # 1M x 256 IVF-PQ: recall@10 0.80 at 10, 0.997 at 30, +1.6 ms p50
MIN_NPROBES = 20
RRF_K = 60
_DISTANCE, _SCORE = "_distance", "_score"  # the columns Lance adds to vector / full-text results
_MIRROR_BATCH_ROWS = 50_000
_DELETE_BATCH = 1_000


# -- names -----------------------------------------------------------------------

def model_slug(model_version: str) -> str:
    """A safe, deterministic identifier for `model_version` (lowercase alnum, single `_`).

    When the version had to be changed (case, other characters, length), a short
    hash of the original is appended so different versions never collide.
    """
    if not isinstance(model_version, str) or not model_version.strip():
        raise ValueError(f"model_version must be a non-empty string, got {model_version!r}; "
                         f"pass the version the embedding model was saved under")
    # Runs of `_` collapse, so a slug never holds "__", the separator of table names.
    slug = re.sub(r"[^a-z0-9]+", "_", model_version.lower()).strip("_")
    if slug != model_version or len(slug) > SLUG_MAX:
        digest = hashlib.sha1(model_version.encode()).hexdigest()[:8]
        slug = f"{slug[:SLUG_MAX - 9]}_{digest}".lstrip("_")
    return slug


def _check_level(level: str) -> Level:
    if level not in _LEVEL_TABLES:
        raise ValueError(f"level must be one of {sorted(_LEVEL_TABLES)}, got {level!r}")
    return level  # type: ignore[return-value]


def physical_name(level: Level, model_version: str) -> str:
    """Name of the (level, model_version) table, the same in Lance and DuckDB."""
    return f"{_VIEW_NAMES[_check_level(level)]}__{model_slug(model_version)}"


def embedding_table(level: Level, model_version: str, dim: int) -> Table:
    """The physical table's `Table` (schema with `FLOAT[dim]` vectors, keys for the DuckDB upsert)."""
    return _LEVEL_TABLES[_check_level(level)](dim, name=physical_name(level, model_version))


def lance_keys(level: Level) -> tuple[str, ...]:
    """Columns Lance merges on: the level's key without `model_version` (fixed per table)."""
    return tuple(k for k in _LEVEL_TABLES[_check_level(level)](1).key if k != MODEL_VERSION)


def _sql_str(value: str) -> str:
    """A SQL string literal (Lance filters and DuckDB share the quote doubling)."""
    return "'" + str(value).replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _and(*predicates: str | None) -> str | None:
    parts = [f"({p})" for p in predicates if p]
    return " AND ".join(parts) if parts else None


# -- lance helpers ---------------------------------------------------------------

def _open_lance(store: Store, name: str):
    """The Lance table `name`, or None when it does not exist yet."""
    if name not in _lance_table_names(store):
        return None
    return store.lance.open_table(name)


def _lance_table_names(store: Store) -> set[str]:
    names: set[str] = set()
    token = None
    while True:  # list_tables pages its answer
        resp = store.lance.list_tables(page_token=token)
        names.update(resp.tables)
        token = resp.page_token
        if not token:
            return names


def _vector_dim(schema: pa.Schema) -> int:
    return schema.field(VECTOR).type.list_size


def _available(store: Store, level: Level) -> list[str]:
    cat = embedding_tables(store)
    return sorted(r[MODEL_VERSION] for r in cat.to_pylist() if r["level"] == level)


def _open_embeddings(store: Store, level: Level, model_version: str):
    tbl = _open_lance(store, physical_name(level, model_version))
    if tbl is None:
        raise LookupError(
            f"no {level} embeddings for model_version {model_version!r} in {store.path} "
            f"(Lance table {physical_name(level, model_version)} is missing); "
            f"model versions with {level} embeddings: {_available(store, level)}. "
            f"Write them with EmbeddingWriter first")
    return tbl


# -- the DuckDB mirror -----------------------------------------------------------

def _duck_tables(con) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main'").fetchall()}


def _record(tx: StoreWriter, level: Level, model_version: str, dim: int, lance_version: int) -> None:
    """Upsert the catalogue row and re-create the level's view, inside `tx`."""
    row = pa.table({
        "level": [level], MODEL_VERSION: [model_version],
        "physical_name": [physical_name(level, model_version)], "dim": [dim],
        "lance_version": [lance_version], "updated_at": [dt.datetime.now(dt.timezone.utc)],
    }, schema=EMBEDDING_TABLES.schema)
    tx.upsert(EMBEDDING_TABLES, row)
    _refresh_view(tx, level)


def _refresh_view(tx: StoreWriter, level: Level) -> None:
    con = tx._connection()  # raw SQL inside the store's open transaction
    view = _VIEW_NAMES[level]
    if view in _duck_tables(con):
        raise ValueError(
            f"the DuckDB store has a base table named {view!r}, so the {view} view over the "
            f"per-model tables cannot be made; it was written outside EmbeddingWriter: "
            f"move its rows into EmbeddingWriter(store, {level!r}, model_version, dim) and drop it")
    members = con.execute(
        f"SELECT physical_name, dim FROM {_q(EMBEDDING_TABLES.name)} WHERE level = ? "
        f"ORDER BY {_q(MODEL_VERSION)}", [level]).fetchall()
    if not members:
        con.execute(f"DROP VIEW IF EXISTS {_q(view)}")
        return
    cols = _LEVEL_TABLES[level](1).columns
    same_width = len({d for _, d in members}) == 1
    # One width: keep FLOAT[D] so array_* functions work; mixed: FLOAT[] lists.
    select = ", ".join(
        _q(c) if c != VECTOR or same_width else f"CAST({_q(c)} AS FLOAT[]) AS {_q(c)}" for c in cols)
    union = " UNION ALL ".join(f"SELECT {select} FROM {_q(name)}" for name, _ in members)
    con.execute(f"CREATE OR REPLACE VIEW {_q(view)} AS {union}")


@dataclass(frozen=True)
class MirrorState:
    lance_rows: int
    lance_version: int
    duck_rows: int | None           # None: the DuckDB table does not exist
    recorded_version: int | None    # the catalogue's lance_version, None when not recorded

    @property
    def in_sync(self) -> bool:
        return self.duck_rows == self.lance_rows and self.recorded_version == self.lance_version


def mirror_state(store: Store, level: Level, model_version: str) -> MirrorState | None:
    """Row counts and versions of both sides; None when there is no Lance table."""
    name = physical_name(level, model_version)
    tbl = _open_lance(store, name)
    if tbl is None:
        return None
    with store._reading() as con:  # one read-only connection for the three reads
        tables = _duck_tables(con)
        duck_rows = con.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0] if name in tables else None
        recorded = None
        if EMBEDDING_TABLES.name in tables:
            got = con.execute(f"SELECT lance_version FROM {_q(EMBEDDING_TABLES.name)} "
                              f"WHERE level = ? AND {_q(MODEL_VERSION)} = ?", [level, model_version]).fetchone()
            recorded = got[0] if got else None
    return MirrorState(tbl.count_rows(), tbl.version, duck_rows, recorded)


def sync_mirror(store: Store, level: Level, model_version: str,
                batch_rows: int = _MIRROR_BATCH_ROWS) -> int:
    """Make the DuckDB table of (level, model_version) equal Lance; return rows rewritten (0: in sync).

    Out of sync means the row counts differ or the catalogue records another
    Lance version than the current one (a write whose DuckDB half never
    committed). The rebuild reads one Lance version, fills a staging table in
    short transactions and swaps it in with one more.
    """
    _check_level(level)
    state = mirror_state(store, level, model_version)
    if state is None or state.in_sync:
        return 0
    name = physical_name(level, model_version)
    ds = store.lance.open_table(name).to_lance()  # one pinned version for the whole copy
    dim = _vector_dim(ds.schema)
    t = embedding_table(level, model_version, dim)
    staging = Table(f"{name}__staging", t.schema, t.key)
    with store.transaction() as tx:
        con = tx._connection()
        con.execute(f"DROP TABLE IF EXISTS {_q(staging.name)}")
        con.execute(schemas.duckdb_ddl(staging))
    cols = ", ".join(_q(c) for c in t.columns)
    n = 0
    for batch in ds.to_batches(columns=t.columns, batch_size=batch_rows):
        rows = conform(t, pa.Table.from_batches([batch]))
        with store.transaction() as tx:
            con = tx._connection()
            con.register("__filingstore_mirror", rows)
            con.execute(f"INSERT INTO {_q(staging.name)} ({cols}) SELECT {cols} FROM __filingstore_mirror")
            con.unregister("__filingstore_mirror")
        n += rows.num_rows
    with store.transaction() as tx:
        con = tx._connection()
        con.execute(f"DROP TABLE IF EXISTS {_q(name)}")
        con.execute(f"ALTER TABLE {_q(staging.name)} RENAME TO {_q(name)}")
        _record(tx, level, model_version, dim, ds.version)
    return n


def embedding_tables(store: Store) -> pa.Table:
    """The catalogue: one row per (level, model_version) with its physical table and width."""
    with store._reading() as con:
        if EMBEDDING_TABLES.name not in _duck_tables(con):
            return EMBEDDING_TABLES.schema.empty_table()
        got = con.execute(f"SELECT {', '.join(_q(c) for c in EMBEDDING_TABLES.columns)} "
                          f"FROM {_q(EMBEDDING_TABLES.name)} ORDER BY level, {_q(MODEL_VERSION)}").to_arrow_table()
    return got.cast(EMBEDDING_TABLES.schema)


# -- writing ---------------------------------------------------------------------

def _check_vectors(name: str, vectors: pa.ChunkedArray | pa.Array, dim: int) -> None:
    """Raise on null vectors or values, NaN/inf, and all-zero vectors (no cosine direction)."""
    arr = vectors.combine_chunks() if isinstance(vectors, pa.ChunkedArray) else vectors
    if arr.null_count:
        raise ValueError(f"{name}: {arr.null_count} row(s) have a null {VECTOR}; "
                         f"every row needs a vector (drop rows the model could not embed)")
    flat = arr.flatten()
    if flat.null_count:
        raise ValueError(f"{name}: vectors hold {flat.null_count} null value(s); fill or drop those rows")
    mat = flat.to_numpy(zero_copy_only=False).reshape(-1, dim)
    finite = np.isfinite(mat).all(axis=1)
    if not finite.all():
        raise ValueError(f"{name}: {int((~finite).sum())} vector(s) contain NaN or inf "
                         f"(first at row {int(np.argmin(finite))}); check the model's output")
    zero = ~np.any(mat != 0, axis=1)
    if zero.any():
        raise ValueError(f"{name}: {int(zero.sum())} vector(s) are all zeros (first at row "
                         f"{int(np.argmax(zero))}); cosine similarity is undefined for them")


def _incoming_width(col: pa.ChunkedArray) -> int | None:
    t = col.type
    if pa.types.is_fixed_size_list(t):
        return t.list_size
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        lengths = pc.unique(pc.drop_null(pc.list_value_length(col)))
        return lengths[0].as_py() if len(lengths) == 1 else None
    return None


@dataclass
class WriteTimings:
    """Seconds spent per side across a writer's `write` calls (the benchmark prints them)."""
    lance_s: float = 0.0
    duckdb_s: float = 0.0
    rows: int = 0
    batches: int = 0


class EmbeddingWriter:
    """Upserts vectors of one (level, model_version) into Lance and mirrors them into DuckDB.

    `EmbeddingWriter(store, "chunk", "minilm-v1", 384).write(rows)`; rows have the
    columns of `schemas.chunk_embeddings(dim)` (or `doc_embeddings`), where
    `model_version` may be left out (it is filled in) but must match if given.
    Opening a writer first heals a DuckDB mirror left behind by a crash.
    """

    def __init__(self, store: Store, level: Level, model_version: str, dim: int):
        self.store = store
        self.level = _check_level(level)
        self.model_version = model_version
        self.name = physical_name(level, model_version)  # validates model_version
        self.table = embedding_table(level, model_version, dim)  # validates dim
        self.dim = dim
        self.keys = lance_keys(level)
        self.timings = WriteTimings()
        self._lance_key_table = Table(self.name, self.table.schema, self.keys)
        self._tbl = _open_lance(store, self.name)
        if self._tbl is not None:
            have = _vector_dim(self._tbl.schema)
            if have != dim:
                raise ValueError(
                    f"{level} embeddings of model_version {model_version!r} are stored {have}-d "
                    f"(table {self.name}) but this writer was opened with dim={dim}; a model version "
                    f"has one width: open the writer with dim={have}, or use a new model_version")
        cat = embedding_tables(store)
        for r in cat.to_pylist():
            if r["level"] == level and r[MODEL_VERSION] == model_version and r["dim"] != dim:
                raise ValueError(
                    f"the catalogue records {level} embeddings of {model_version!r} as {r['dim']}-d, "
                    f"this writer has dim={dim}; use dim={r['dim']} or a new model_version")
        self.healed_rows = sync_mirror(store, level, model_version)

    def lance_version(self) -> int:
        """Current version of the Lance table (0 before the first write)."""
        return 0 if self._tbl is None else self._tbl.version

    def existing_keys(self) -> set[tuple]:
        """Keys already stored, as tuples of `lance_keys(level)` (e.g. `("c1",)`), read from Lance."""
        if self._tbl is None:
            return set()
        got = self._tbl.to_lance().to_table(columns=list(self.keys))
        return set(zip(*(got.column(k).to_pylist() for k in self.keys)))

    def _prepare(self, rows: pa.Table | pa.RecordBatch) -> pa.Table:
        if isinstance(rows, pa.RecordBatch):
            rows = pa.Table.from_batches([rows])
        if not isinstance(rows, pa.Table):
            raise TypeError(f"{self.name}: rows must be a pyarrow.Table, got {type(rows).__name__}")
        if MODEL_VERSION not in rows.column_names:
            rows = rows.append_column(MODEL_VERSION, pa.array([self.model_version] * rows.num_rows, pa.string()))
        else:
            other = pc.unique(pc.drop_null(rows[MODEL_VERSION])).to_pylist()
            if rows[MODEL_VERSION].null_count or other not in ([], [self.model_version]):
                raise ValueError(f"{self.name}: rows carry model_version {other} (nulls: "
                                 f"{rows[MODEL_VERSION].null_count}) but this writer writes "
                                 f"{self.model_version!r}; open one writer per model version")
        if VECTOR in rows.column_names:
            width = _incoming_width(rows[VECTOR])
            if width is not None and width != self.dim:
                raise ValueError(f"{self.name}: rows have {width}-d vectors but this writer is "
                                 f"{self.dim}-d; a model version has one width")
        rows = conform(self.table, rows)
        check_unique_keys(self._lance_key_table, rows)
        _check_vectors(self.name, rows[VECTOR], self.dim)
        return rows

    def write(self, rows: pa.Table | pa.RecordBatch) -> int:
        """Upsert `rows` (by key) into Lance, then mirror them into DuckDB; return rows written."""
        rows = self._prepare(rows)
        if rows.num_rows == 0:
            return 0
        t0 = time.perf_counter()
        if self._tbl is None:
            # exist_ok: another writer may have created it since __init__.
            self._tbl = self.store.lance.create_table(self.name, schema=self.table.schema, exist_ok=True)
        (self._tbl.merge_insert(list(self.keys))
         .when_matched_update_all().when_not_matched_insert_all().execute(rows))
        version = self._tbl.version
        t1 = time.perf_counter()
        with self.store.transaction() as tx:
            tx.upsert(self.table, rows)
            _record(tx, self.level, self.model_version, self.dim, version)
        t2 = time.perf_counter()
        self.timings.lance_s += t1 - t0
        self.timings.duckdb_s += t2 - t1
        self.timings.rows += rows.num_rows
        self.timings.batches += 1
        return rows.num_rows


# -- vector search ---------------------------------------------------------------

def _query_array(query_vector: Any, dim: int) -> np.ndarray:
    q = np.asarray(query_vector, dtype=np.float32)
    if q.ndim != 1 or q.shape[0] != dim:
        raise ValueError(f"query_vector must be one {dim}-d vector (this table's width), got shape "
                         f"{q.shape}; embed the query with the same model version")
    if not np.isfinite(q).all() or not np.any(q != 0):
        raise ValueError("query_vector must be finite and not all zeros (cosine needs a direction)")
    return q


def _result_columns(tbl, with_vector: bool) -> list[str]:
    return [c for c in tbl.schema.names if with_vector or c != VECTOR]


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")


def _method_filter(level: Level, method: str | None) -> str | None:
    if method is None:
        return None
    if level != "doc":
        raise ValueError(f"method={method!r} only applies to doc embeddings, not {level}")
    return f"{METHOD} = {_sql_str(method)}"


def default_nprobes(num_rows: int) -> int:
    """IVF partitions to probe: 5% of the partitions `index_params` gives `num_rows`, at least 20."""
    return max(MIN_NPROBES, math.ceil(_num_partitions(num_rows) * 0.05))


def _run_lance(builder, where: str | None, what: str) -> pa.Table:
    if where:
        builder = builder.where(where, prefilter=True)
    try:
        return builder.to_arrow()
    except (ValueError, RuntimeError) as e:
        msg = str(e).lower()
        if where and any(w in msg for w in ("filter", "parse", "sql", "schema error", "no field")):
            raise ValueError(f"{what}: the where predicate {where!r} was refused: {e}. Use SQL over "
                             f"the filter columns {FILTER_COLUMNS}, e.g. \"form = '10-K' AND "
                             f"filed_at >= DATE '2024-01-01'\"") from e
        raise


def _scored(res: pa.Table, columns: list[str]) -> pa.Table:
    dist = res.column(_DISTANCE)
    score = pc.subtract(pa.scalar(1.0, pa.float32()), pc.cast(dist, pa.float32()))
    out = res.select(columns).append_column("score", score)
    return out.sort_by([("score", "descending")])


def similar(store: Store, level: Level, model_version: str, query_vector: Any, k: int = 10,
            where: str | None = None, *, method: str | None = None, exact: bool = False,
            nprobes: int | None = None, refine_factor: int | None = DEFAULT_REFINE_FACTOR,
            ef: int | None = None, with_vector: bool = False) -> pa.Table:
    """The `k` rows most cosine-similar to `query_vector`, best first, with a `score` column.

    `where` (SQL over the filter columns) is applied before the search. For doc
    embeddings pass `method` ("mean", "aggregator") so vectors of one pooling
    are compared. `exact=True` scans every row (no ANN index). `nprobes`
    defaults to `default_nprobes(rows)`; `refine_factor` re-ranks
    `k * refine_factor` index candidates on full vectors (exact scores).
    """
    _check_k(k)
    tbl = _open_embeddings(store, _check_level(level), model_version)
    q = _query_array(query_vector, _vector_dim(tbl.schema))
    b = tbl.search(q, vector_column_name=VECTOR).distance_type("cosine")
    if exact:
        b = b.bypass_vector_index()
    else:
        b = b.nprobes(nprobes if nprobes is not None else default_nprobes(tbl.count_rows()))
        if refine_factor:
            b = b.refine_factor(refine_factor)
        if ef:
            b = b.ef(ef)
    cols = _result_columns(tbl, with_vector)
    b = b.select(cols + [_DISTANCE]).limit(k)  # naming the score column keeps Lance from warning
    res = _run_lance(b, _and(where, _method_filter(level, method)), f"similar({level}, {model_version!r})")
    return _scored(res, cols)


def _lookup_vector(store: Store, level: Level, model_version: str, predicate: str, what: str) -> np.ndarray:
    tbl = _open_embeddings(store, level, model_version)
    got = tbl.search().where(predicate).select([VECTOR]).limit(2).to_arrow()
    if got.num_rows == 0:
        raise LookupError(f"{what} has no {level} embedding for model_version {model_version!r}; "
                          f"embed it first, or check the id")
    if got.num_rows > 1:
        raise ValueError(f"{what} has several {level} embeddings for {model_version!r}; "
                         f"narrow it down (e.g. pass method=)")
    return np.asarray(got.column(VECTOR)[0].as_py(), dtype=np.float32)


def similar_to_chunk(store: Store, model_version: str, chunk_id: str, k: int = 10,
                     where: str | None = None, **options: Any) -> pa.Table:
    """Chunks most similar to stored chunk `chunk_id` (itself excluded)."""
    v = _lookup_vector(store, "chunk", model_version, f"{CHUNK_ID} = {_sql_str(chunk_id)}",
                       f"chunk {chunk_id!r}")
    return similar(store, "chunk", model_version, v, k=k,
                   where=_and(where, f"{CHUNK_ID} != {_sql_str(chunk_id)}"), **options)


def similar_to_filing(store: Store, model_version: str, filing_id: str, k: int = 10,
                      where: str | None = None, method: str = "mean", **options: Any) -> pa.Table:
    """Filings most similar to stored filing `filing_id` by doc embedding `method` (itself excluded)."""
    v = _lookup_vector(store, "doc", model_version,
                       _and(f"{FILING_ID} = {_sql_str(filing_id)}", f"{METHOD} = {_sql_str(method)}"),
                       f"filing {filing_id!r} (method {method!r})")
    return similar(store, "doc", model_version, v, k=k, method=method,
                   where=_and(where, f"{FILING_ID} != {_sql_str(filing_id)}"), **options)


def duckdb_topk(store: Store, level: Level, model_version: str, query_vector: Any, k: int = 10,
                where: str | None = None, *, method: str | None = None,
                con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Exact top-`k` by cosine in DuckDB (`array_cosine_similarity` on the mirror), best first.

    Opens one read-only connection for the call, or uses `con` (a connection to
    the store's DuckDB file the caller holds, e.g. for many queries in a row).
    """
    _check_k(k)
    _check_level(level)
    with (contextlib.nullcontext(con) if con is not None else store._reading()) as c:
        got = None
        if EMBEDDING_TABLES.name in _duck_tables(c):
            got = c.execute(f"SELECT dim FROM {_q(EMBEDDING_TABLES.name)} WHERE level = ? "
                            f"AND {_q(MODEL_VERSION)} = ?", [level, model_version]).fetchone()
        if got is None:
            raise LookupError(f"no {level} embeddings for model_version {model_version!r} in the "
                              f"DuckDB catalogue of {store.path}; known: {_available(store, level)}")
        dim = got[0]
        q = _query_array(query_vector, dim)
        t = embedding_table(level, model_version, dim)
        cols = [col for col in t.columns if col != VECTOR]
        pred = _and(where, _method_filter(level, method))
        query = (f"SELECT {', '.join(_q(col) for col in cols)}, "
                 f"array_cosine_similarity({_q(VECTOR)}, ?::FLOAT[{dim}]) AS score "
                 f"FROM {_q(t.name)}" + (f" WHERE {pred}" if pred else "") +
                 f" ORDER BY score DESC, {', '.join(_q(col) for col in t.key)} LIMIT {k}")
        return c.execute(query, [q.tolist()]).to_arrow_table()


# -- ANN index -------------------------------------------------------------------

def _num_partitions(num_rows: int) -> int:
    # sqrt(n), but Lance trains at most n / 256 partitions (its k-means sample rate).
    return max(1, min(round(math.sqrt(max(num_rows, 1))), num_rows // 256))


@dataclass(frozen=True)
class IndexParams:
    num_partitions: int
    num_sub_vectors: int


def index_params(num_rows: int, dim: int) -> IndexParams:
    """IVF partitions ~ sqrt(rows) (at least 256 rows each); PQ sub-vectors of 8 values when D allows.

    Sub-vectors of 8 (or 16) values use Lance's SIMD path; other widths fall back to
    the divisor of D closest to 8 values per sub-vector.
    """
    parts = _num_partitions(num_rows)
    if dim % 8 == 0:
        sub = dim // 8
    else:
        divisors = [s for s in range(1, dim + 1) if dim % s == 0]
        sub = min(divisors, key=lambda s: (abs(dim / s - 8), s))
    return IndexParams(parts, sub)


@dataclass(frozen=True)
class IndexReport:
    kind: str                    # Lance's index type, e.g. "IvfPq", "IvfHnswSq"
    num_rows: int
    params: IndexParams | None   # what a new index was built with; None when an existing one was kept
    build_s: float               # seconds to build (or to fold new rows into the kept index)
    built: bool                  # False: an index existed and was only brought up to date


def _vector_index(tbl):
    for ix in tbl.list_indices():
        if VECTOR in ix.columns and ix.index_type != "FTS":
            return ix
    return None


def ensure_index(store: Store, level: Level, model_version: str, *,
                 min_rows: int = DEFAULT_MIN_INDEX_ROWS, kind: IndexKind = "ivf_pq",
                 replace: bool = False) -> IndexReport | None:
    """Build a cosine ANN index once the table has `min_rows` rows; None below that.

    An existing index is kept (rows added since are folded in by `optimize`)
    unless `replace`. The catalogue's Lance version is updated afterwards, so
    the new Lance version does not look like an unmirrored write.
    """
    from lancedb.index import HnswSq, IvfPq

    if kind not in ("ivf_pq", "hnsw"):
        raise ValueError(f"kind must be 'ivf_pq' or 'hnsw', got {kind!r}")
    tbl = _open_embeddings(store, _check_level(level), model_version)
    n = tbl.count_rows()
    if n < min_rows:
        return None
    dim = _vector_dim(tbl.schema)
    params = index_params(n, dim)
    was_in_sync = (mirror_state(store, level, model_version) or MirrorState(0, 0, None, None)).in_sync
    t0 = time.perf_counter()
    existing = _vector_index(tbl)
    if existing is not None and not replace:
        if existing.num_unindexed_rows:
            tbl.optimize()
        built = False
    else:
        if kind == "ivf_pq":
            config = IvfPq(distance_type="cosine", num_partitions=params.num_partitions,
                           num_sub_vectors=params.num_sub_vectors)
        else:
            # HNSW wants few, large partitions (one graph each): ~1M rows per graph;
            # it scalar-quantises, so there are no PQ sub-vectors (0).
            params = IndexParams(max(1, math.ceil(n / 1_000_000)), 0)
            config = HnswSq(distance_type="cosine", num_partitions=params.num_partitions)
        tbl.create_index(VECTOR, config=config, replace=True)
        built = True
    build_s = time.perf_counter() - t0
    if was_in_sync:  # only vouch for the mirror if it matched before the index commit
        with store.transaction() as tx:
            _record(tx, level, model_version, dim, tbl.version)
    return IndexReport(_vector_index(tbl).index_type, n, params if built else None, build_s, built)


def index_recall(store: Store, level: Level, model_version: str, n_queries: int = 100, k: int = 10,
                 *, queries: np.ndarray | None = None, nprobes: int | None = None,
                 refine_factor: int | None = DEFAULT_REFINE_FACTOR, seed: int = 0) -> float:
    """Mean recall@k of indexed search against exact search (`bypass_vector_index`).

    Without `queries`, stored vectors are sampled and jittered (so a query is
    never identical to a stored row).
    """
    tbl = _open_embeddings(store, _check_level(level), model_version)
    if queries is None:
        queries = _sample_queries(tbl, n_queries, seed)
    if len(queries) == 0:
        raise ValueError("index_recall needs at least one query")
    hits = 0
    for q in queries:
        approx = similar(store, level, model_version, q, k, nprobes=nprobes, refine_factor=refine_factor)
        truth = similar(store, level, model_version, q, k, exact=True)
        key = list(lance_keys(level))
        a = set(zip(*(approx.column(c).to_pylist() for c in key)))
        t = set(zip(*(truth.column(c).to_pylist() for c in key)))
        hits += len(a & t) / max(1, len(t))
    return hits / len(queries)


def _sample_queries(tbl, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    total = tbl.count_rows()
    if total == 0:
        raise ValueError("the table is empty; nothing to sample queries from")
    idx = np.sort(rng.choice(total, size=min(n, total), replace=False))
    got = tbl.to_lance().take(idx.tolist(), columns=[VECTOR]).column(VECTOR).combine_chunks()
    mat = got.flatten().to_numpy(zero_copy_only=False).reshape(len(idx), -1).astype(np.float32)
    scale = np.linalg.norm(mat, axis=1, keepdims=True) / math.sqrt(mat.shape[1])
    return mat + rng.normal(scale=0.1, size=mat.shape).astype(np.float32) * scale


# -- full text and hybrid --------------------------------------------------------

def _chunk_text_query(con, want: str | None) -> pa.Table:
    c, f = _q(CHUNKS.name), _q(FILINGS.name)
    sel = ", ".join(
        f"regexp_replace(c.{_q(TEXT)}, '{NUMBER_TAG_PATTERN}', '', 'g') AS {_q(TEXT)}" if col == TEXT
        else (f"c.{_q(col)}" if col in CHUNKS.columns else f"f.{_q(col)}")
        for col in CHUNK_TEXT.columns)
    semi = f" WHERE c.{_q(CHUNK_ID)} IN (SELECT {_q(CHUNK_ID)} FROM {_q(want)})" if want else ""
    return con.execute(f"SELECT {sel} FROM {c} AS c LEFT JOIN {f} AS f "
                       f"ON c.{_q(FILING_ID)} = f.{_q(FILING_ID)}{semi}").to_arrow_table()


def sync_chunk_text(store: Store, batch_rows: int = 20_000) -> tuple[int, int]:
    """Bring the Lance `chunk_text` table (and its FTS index) up to DuckDB `chunks`; return (added, removed).

    Incremental by `chunk_id` (ids are content-derived, so an id's text never
    changes): new chunks are added, chunks gone from DuckDB are deleted.
    """
    from lancedb.index import FTS

    duck_ids = store.sql(f"SELECT {_q(CHUNK_ID)} FROM {_q(CHUNKS.name)}").column(CHUNK_ID)
    tbl = _open_lance(store, CHUNK_TEXT.name)
    lance_ids = (tbl.to_lance().to_table(columns=[CHUNK_ID]).column(CHUNK_ID)
                 if tbl is not None else pa.chunked_array([], pa.string()))
    new = duck_ids.filter(pc.invert(pc.is_in(duck_ids, value_set=lance_ids.combine_chunks())))
    gone = lance_ids.filter(pc.invert(pc.is_in(lance_ids, value_set=duck_ids.combine_chunks())))
    added = 0
    for start in range(0, len(new), batch_rows):
        with store._reading() as con:
            con.register("__filingstore_want", pa.table({CHUNK_ID: new.slice(start, batch_rows)}))
            rows = conform(CHUNK_TEXT, _chunk_text_query(con, "__filingstore_want"))
        if tbl is None:
            tbl = store.lance.create_table(CHUNK_TEXT.name, schema=CHUNK_TEXT.schema, exist_ok=True)
        tbl.add(rows)
        added += rows.num_rows
    gone_list = gone.to_pylist()
    for start in range(0, len(gone_list), _DELETE_BATCH):
        part = gone_list[start:start + _DELETE_BATCH]
        tbl.delete(f"{CHUNK_ID} IN ({', '.join(_sql_str(x) for x in part)})")
    if tbl is not None and (added or gone_list):
        if not any(ix.index_type == "FTS" for ix in tbl.list_indices()):
            tbl.create_index(TEXT, config=FTS())
        else:
            tbl.optimize()  # folds new rows into the FTS index
    return added, len(gone_list)


def _open_chunk_text(store: Store):
    tbl = _open_lance(store, CHUNK_TEXT.name)
    if tbl is None:
        raise LookupError(f"no {CHUNK_TEXT.name} table in {store.path}; run "
                          f"featurestore.vectors.sync_chunk_text(store) after ingesting chunks")
    return tbl


def full_text(store: Store, query: str, k: int = 10, where: str | None = None) -> pa.Table:
    """BM25 full-text search over chunk text; `score` is the BM25 score, best first."""
    _check_k(k)
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"full-text query must be a non-empty string, got {query!r}")
    tbl = _open_chunk_text(store)
    b = tbl.search(query, query_type="fts").select(CHUNK_TEXT.columns + [_SCORE]).limit(k)
    res = _run_lance(b, where, f"full_text({query!r})")
    out = res.select(CHUNK_TEXT.columns).append_column("score", res.column(_SCORE))
    return out.sort_by([("score", "descending")])


def rrf_fuse(rankings: Sequence[Sequence[Hashable]], weights: Sequence[float] | None = None,
             k: int = RRF_K) -> list[tuple[Hashable, float]]:
    """Weighted reciprocal-rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1.

    Returns (item, score) best first; ties go to the item with the better best
    rank, then to the order of first appearance (deterministic).
    """
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"rrf_fuse: {len(rankings)} rankings but {len(weights)} weights")
    scores: dict[Hashable, float] = {}
    best: dict[Hashable, int] = {}
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
            best[item] = min(best.get(item, rank), rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], order[kv[0]]))


def hybrid(store: Store, model_version: str, query_text: str, query_vector: Any, k: int = 10,
           where: str | None = None, alpha: float = 0.5, *, candidates: int | None = None,
           rrf_k: int = RRF_K) -> pa.Table:
    """Chunks ranked by fusing vector and full-text search (`rrf_fuse`, weights alpha / 1 - alpha).

    Each side returns `candidates` rows (default max(5k, 50)) under the same
    `where`. Result: chunk_text columns, `score` (fused), `vector_score`
    (cosine) and `text_score` (BM25), null where a side did not return the chunk.
    """
    _check_k(k)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha is the vector side's weight in [0, 1], got {alpha!r}")
    n = candidates or max(5 * k, 50)
    vec = similar(store, "chunk", model_version, query_vector, k=n, where=where)
    txt = full_text(store, query_text, k=n, where=where)
    vec_ids, txt_ids = vec.column(CHUNK_ID).to_pylist(), txt.column(CHUNK_ID).to_pylist()
    fused = rrf_fuse([vec_ids, txt_ids], [alpha, 1.0 - alpha], k=rrf_k)[:k]
    ids = [i for i, _ in fused]
    vs = dict(zip(vec_ids, vec.column("score").to_pylist()))
    ts = dict(zip(txt_ids, txt.column("score").to_pylist()))
    rows = {r[CHUNK_ID]: r for r in txt.select(CHUNK_TEXT.columns).to_pylist()}
    missing = [i for i in ids if i not in rows]
    if missing:  # vector-only hits: fetch their text
        tbl = _open_chunk_text(store)
        got = (tbl.search().where(f"{CHUNK_ID} IN ({', '.join(_sql_str(i) for i in missing)})")
               .select(CHUNK_TEXT.columns).limit(len(missing)).to_arrow())
        rows.update({r[CHUNK_ID]: r for r in got.to_pylist()})
    out = []
    for i, score in fused:
        r = dict(rows.get(i) or {CHUNK_ID: i})
        out.append({**{c: r.get(c) for c in CHUNK_TEXT.columns},
                    "score": score, "vector_score": vs.get(i), "text_score": ts.get(i)})
    schema = CHUNK_TEXT.schema.append(pa.field("score", pa.float64())) \
        .append(pa.field("vector_score", pa.float32())).append(pa.field("text_score", pa.float32()))
    return pa.Table.from_pylist(out, schema=schema)
