"""The store: one folder holding `filingstore.duckdb` and a LanceDB database.

DuckDB is the authority for the relational tables of `schemas`; LanceDB (at
`<path>/lance`) for vectors. This module owns the DuckDB side.

Why it is shaped this way:
- DuckDB lets one process hold a file read-write, and then no other process can
  open it at all, not even read-only. So the Store never keeps a connection:
  every write opens a read-write connection, commits one transaction and
  closes it; every read opens a read-only one. Between writes any DuckDB
  client (another job, a notebook, the `duckdb` CLI) can open the file.
- Writes are upserts keyed on `Table.key` (delete the matching keys, insert,
  in one transaction) or whole-partition replacements, so every job can be
  re-run. Keys are enforced here, not by PRIMARY KEY (see `schemas.duckdb_ddl`).
- Arrow in, Arrow out, always in the declared schema: `read` casts DuckDB's
  result back to it (DuckDB names the zone `Etc/UTC`; the schema says `UTC`).
"""
from __future__ import annotations

import contextlib
import itertools
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from featurestore import schemas
from featurestore.schemas import Table

DB_FILE = "filingstore.duckdb"
LANCE_DIR = "lance"
DEFAULT_LOCK_TIMEOUT_S = 30.0

_registration_ids = itertools.count()


class StoreLockedError(TimeoutError):
    """Another process (or a leaked connection in this one) kept the DuckDB file locked."""


class ReadOnlyQueryError(PermissionError):
    """A query given to `Store.sql` tried to change the store."""


def _q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def _resolve(t: str | Table) -> Table:
    return t if isinstance(t, Table) else schemas.table(t)


def conform(t: Table, rows: pa.Table | pa.RecordBatch) -> pa.Table:
    """Return `rows` with exactly `t`'s columns, in order, cast to `t`'s types.

    Raises ValueError naming the table and the columns that are missing, extra
    or not castable, so a caller can fix its batch instead of guessing.
    """
    if isinstance(rows, pa.RecordBatch):
        rows = pa.Table.from_batches([rows])
    if not isinstance(rows, pa.Table):
        raise TypeError(f"{t.name}: rows must be a pyarrow.Table, got {type(rows).__name__}; "
                        f"build one with pa.table({{...}}, schema=schemas.{t.name.upper()}.schema)")
    names = rows.column_names
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{t.name}: rows have duplicate column names {dup}; give each column once")
    missing = [c for c in t.columns if c not in names]
    if missing:
        raise ValueError(f"{t.name}: rows lack columns {missing}; the table needs {t.columns} "
                         f"(pass nulls for values you do not know)")
    extra = [c for c in names if c not in t.columns]
    if extra:
        raise ValueError(f"{t.name}: rows have columns {extra} that the table does not have; "
                         f"drop them (the table's columns are {t.columns})")
    arrays = []
    for field in t.schema:
        col = rows.column(field.name)
        if col.type == field.type:
            arrays.append(col)
            continue
        try:
            arrays.append(col.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise ValueError(f"{t.name}.{field.name}: cannot cast {col.type} to {field.type}: {e}; "
                             f"convert the column to {field.type} before writing") from e
    return pa.Table.from_arrays(arrays, schema=t.schema)


def check_unique_keys(t: Table, rows: pa.Table) -> None:
    """Raise ValueError if two rows of `rows` share a key (an upsert could not say which wins)."""
    if rows.num_rows < 2:
        return
    counts = rows.select(list(t.key)).group_by(list(t.key)).aggregate([([], "count_all")])
    dups = counts.filter(pc.greater(counts["count_all"], 1))
    if dups.num_rows:
        example = tuple(dups.column(k)[0].as_py() for k in t.key)
        raise ValueError(f"{t.name}: {dups.num_rows} key(s) {t.key} occur more than once in the rows, "
                         f"e.g. {example!r} ({dups['count_all'][0].as_py()} times); "
                         f"deduplicate the batch so each key appears once")


class StoreWriter:
    """Writes inside one open transaction (from `Store.transaction()`); unusable after it ends."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con: duckdb.DuckDBPyConnection | None = con

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("this writer's transaction has ended; "
                               "write inside the `with store.transaction() as tx:` block")
        return self._con

    @contextlib.contextmanager
    def _registered(self, tbl: pa.Table) -> Iterator[str]:
        con = self._connection()
        name = f"__filingstore_incoming_{next(_registration_ids)}"
        con.register(name, tbl)
        try:
            yield name
        finally:
            con.unregister(name)

    def _ensure_table(self, t: Table) -> None:
        # Tables declared outside RELATIONAL_TABLES (e.g. embedding mirrors whose
        # vector width depends on the model) are created on first write.
        if schemas.TABLES_BY_NAME.get(t.name) is not t:
            self._connection().execute(schemas.duckdb_ddl(t))

    def _delete_keys_and_insert(self, t: Table, rows: pa.Table) -> int:
        con = self._connection()
        cols = ", ".join(_q(c) for c in t.columns)
        with self._registered(rows) as inc:
            # IS NOT DISTINCT FROM: a null key part (e.g. a reject with no
            # content hash) still matches itself; DuckDB plans this as a semi hash join.
            match = " AND ".join(f"{_q(t.name)}.{_q(k)} IS NOT DISTINCT FROM i.{_q(k)}" for k in t.key)
            con.execute(f"DELETE FROM {_q(t.name)} WHERE EXISTS "
                        f"(SELECT 1 FROM {_q(inc)} AS i WHERE {match})")
            con.execute(f"INSERT INTO {_q(t.name)} ({cols}) SELECT {cols} FROM {_q(inc)}")
        return rows.num_rows

    def upsert(self, table: str | Table, rows: pa.Table) -> int:
        """Insert `rows`, replacing stored rows with the same key; return rows written.

        `rows` must have exactly the table's columns (any order; castable types)
        and each key at most once.
        """
        t = _resolve(table)
        rows = conform(t, rows)
        check_unique_keys(t, rows)
        self._connection()
        if rows.num_rows == 0:
            return 0
        self._ensure_table(t)
        return self._delete_keys_and_insert(t, rows)

    def delete_where(self, table: str | Table, where: str, params: Sequence[Any] = ()) -> int:
        """Delete the rows matching a SQL condition (with `?` parameters); return how many went."""
        t = _resolve(table)
        self._ensure_table(t)
        return int(self._connection().execute(f"DELETE FROM {_q(t.name)} WHERE {where}", list(params)).fetchone()[0])

    def replace_partitions(self, table: str | Table, partition_values: Sequence[str],
                           rows: pa.Table) -> int:
        """Delete every row whose partition column is in `partition_values`, then insert `rows`.

        This is how a re-processed filing drops its stale sections/chunks/numbers:
        an empty `rows` still deletes. Every row must belong to one of the listed
        partitions. Keys stay unique store-wide: a row whose key exists in another
        partition replaces that row (upsert semantics).
        """
        t = _resolve(table)
        if t.partition is None:
            raise ValueError(f"{t.name} has no partition column; use upsert() "
                             f"(partitioned tables: {[x.name for x in schemas.RELATIONAL_TABLES if x.partition]})")
        if isinstance(partition_values, (str, bytes)):
            raise TypeError(f"{t.name}: partition_values must be a list of {t.partition} values, "
                            f"not a single string {partition_values!r}; wrap it in a list")
        values = list(dict.fromkeys(partition_values))
        rows = conform(t, rows)
        check_unique_keys(t, rows)
        part_type = t.schema.field(t.partition).type
        try:
            parts = pa.table({"v": pa.array(values, type=part_type)})
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise ValueError(f"{t.name}: partition_values must be {part_type} values of "
                             f"{t.partition}: {e}") from e
        if rows.num_rows:
            outside = pc.invert(pc.is_in(rows[t.partition], value_set=parts["v"]))
            outside = pc.fill_null(outside, True)  # a null partition value is never listed
            if pc.any(outside).as_py():
                bad = rows.filter(outside)[t.partition][0].as_py()
                raise ValueError(f"{t.name}: rows have {t.partition}={bad!r}, which is not in "
                                 f"partition_values; list every partition the rows belong to")
        con = self._connection()
        self._ensure_table(t)
        if values:
            with self._registered(parts) as p:
                con.execute(f"DELETE FROM {_q(t.name)} WHERE {_q(t.partition)} IN (SELECT v FROM {_q(p)})")
        if rows.num_rows == 0:
            return 0
        return self._delete_keys_and_insert(t, rows)


class Store:
    """A store folder: `filingstore.duckdb` (relational tables) and `lance/` (vectors).

    Holds no connection between calls, so it is cheap to create, safe to pickle
    to Ray workers, and never locks other readers out for longer than a commit.
    """

    def __init__(self, path: str | Path, create: bool = False,
                 lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S):
        self.path = Path(path)
        self.db_path = self.path / DB_FILE
        self.lance_path = self.path / LANCE_DIR
        self.lock_timeout_s = lock_timeout_s
        self._lance = None
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
            self.lance_path.mkdir(exist_ok=True)
            self._create_tables()
        elif not self.db_path.is_file():
            raise FileNotFoundError(
                f"no store at {self.path}: {self.db_path} does not exist; "
                f"create one with Store({str(self.path)!r}, create=True)")

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lance"] = None  # reconnect lazily on the other side
        return state

    # -- connections -------------------------------------------------------

    def _connect(self, read_only: bool, may_create: bool = False) -> duckdb.DuckDBPyConnection:
        """Open a short-lived connection, retrying while another process holds the file."""
        if not may_create and not self.db_path.is_file():
            # Checked first: a read-write connect would silently create an empty file.
            raise FileNotFoundError(f"{self.db_path} is gone; was the store folder moved or deleted? "
                                    f"Recreate it with Store({str(self.path)!r}, create=True)")
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.01
        while True:
            try:
                con = duckdb.connect(str(self.db_path), read_only=read_only)
            except (duckdb.IOException, duckdb.ConnectionException) as e:
                msg = str(e)
                # "Could not set lock" (another process) or "different
                # configuration" (this process holds it with other read_only flag).
                if "lock" not in msg and "different configuration" not in msg:
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    mode = "read-only" if read_only else "read-write"
                    raise StoreLockedError(
                        f"could not open {self.db_path} {mode} within {self.lock_timeout_s:g} s: {msg}. "
                        f"Store writers hold the file only for short commits, so something is keeping "
                        f"a connection open (a long-running client, or a duckdb.connect() left open "
                        f"in this process); close it, or pass a larger lock_timeout_s") from e
                time.sleep(min(left, delay * random.uniform(0.5, 1.0)))
                delay = min(delay * 2, 0.5)
            else:
                con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ in and out as UTC
                return con

    @contextlib.contextmanager
    def _reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._connect(read_only=True)
        try:
            yield con
        finally:
            con.close()

    def transaction(self) -> contextlib.AbstractContextManager[StoreWriter]:
        """Commit several writes atomically: `with store.transaction() as tx: tx.upsert(...)`.

        Opens a read-write connection for the block only; commits when the block
        ends, rolls everything back if it raises. Keep the block short (no
        parsing or model calls inside): readers in other processes wait for it.
        """
        return self._transaction(may_create=False)

    @contextlib.contextmanager
    def _transaction(self, may_create: bool) -> Iterator[StoreWriter]:
        con = self._connect(read_only=False, may_create=may_create)
        writer = StoreWriter(con)
        try:
            con.execute("BEGIN TRANSACTION")
            yield writer
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        finally:
            writer._con = None
            con.close()

    def _create_tables(self) -> None:
        """Create missing tables; refuse a store whose existing tables differ from `schemas`."""
        expected_con = duckdb.connect()  # the types DuckDB gives the declared DDL
        try:
            for t in schemas.RELATIONAL_TABLES:
                expected_con.execute(schemas.duckdb_ddl(t))
            expected = _column_types(expected_con)
        finally:
            expected_con.close()
        with self._transaction(may_create=True) as tx:  # a mismatch below rolls back
            con = tx._connection()
            for t in schemas.RELATIONAL_TABLES:
                con.execute(schemas.duckdb_ddl(t))
            found = _column_types(con)
            for t in schemas.RELATIONAL_TABLES:
                if found.get(t.name) != expected[t.name]:
                    raise ValueError(
                        f"{self.db_path}: table {t.name} has columns {found.get(t.name)} but "
                        f"schemas.py declares {expected[t.name]}; the store was made by another "
                        f"version of featurestore: migrate it, or use a new store folder")


    # -- lance -------------------------------------------------------------

    @property
    def lance(self):
        """The LanceDB connection for `<path>/lance`, made on first use (lancedb is slow to import)."""
        if self._lance is None:
            import lancedb
            self._lance = lancedb.connect(str(self.lance_path))
        return self._lance

    # -- vectors (featurestore.vectors; imported lazily: it pulls in lancedb) --

    def similar(self, level: str, model_version: str, query_vector: Any, k: int = 10,
                where: str | None = None, **options: Any) -> pa.Table:
        """The `k` most cosine-similar stored vectors, best first (see `vectors.similar`)."""
        from featurestore import vectors
        return vectors.similar(self, level, model_version, query_vector, k=k, where=where, **options)

    def embedding_tables(self) -> pa.Table:
        """Which (level, model_version) embeddings exist, their tables and widths."""
        from featurestore import vectors
        return vectors.embedding_tables(self)

    # -- writes ------------------------------------------------------------

    def upsert(self, table: str | Table, rows: pa.Table) -> int:
        """One-shot `StoreWriter.upsert` in its own transaction."""
        t = _resolve(table)
        rows = conform(t, rows)  # fail on bad input before taking the write lock
        if rows.num_rows == 0:
            return 0
        with self.transaction() as tx:
            return tx.upsert(t, rows)

    def replace_partitions(self, table: str | Table, partition_values: Sequence[str],
                           rows: pa.Table) -> int:
        """One-shot `StoreWriter.replace_partitions` in its own transaction."""
        with self.transaction() as tx:
            return tx.replace_partitions(table, partition_values, rows)

    # -- reads -------------------------------------------------------------

    def read(self, table: str | Table, columns: Sequence[str] | None = None,
             where: str | None = None, params: Sequence[Any] | None = None) -> pa.Table:
        """Rows of a table in its declared Arrow types; `where` is a SQL predicate with `?` params."""
        t = _resolve(table)
        cols = list(columns) if columns is not None else t.columns
        unknown = [c for c in cols if c not in t.columns]
        if unknown:
            raise ValueError(f"{t.name} has no columns {unknown}; its columns are {t.columns}")
        query = f"SELECT {', '.join(_q(c) for c in cols)} FROM {_q(t.name)}"
        if where:
            query += f" WHERE {where}"
        with self._reading() as con:
            result = con.execute(query, params).to_arrow_table()
        return result.cast(pa.schema([t.schema.field(c) for c in cols]))

    def count(self, table: str | Table) -> int:
        t = _resolve(table)
        with self._reading() as con:
            return con.execute(f"SELECT count(*) FROM {_q(t.name)}").fetchone()[0]

    def keys(self, table: str | Table, columns: Sequence[str], where: str | None = None,
             params: Sequence[Any] | None = None) -> set[tuple]:
        """Distinct value tuples of `columns`, e.g. which (content_sha256, etl_version) exist."""
        t = _resolve(table)
        unknown = [c for c in columns if c not in t.columns]
        if unknown or not columns:
            raise ValueError(f"keys(): {t.name} has no columns {unknown or columns}; "
                             f"its columns are {t.columns}")
        query = f"SELECT DISTINCT {', '.join(_q(c) for c in columns)} FROM {_q(t.name)}"
        if where:
            query += f" WHERE {where}"
        with self._reading() as con:
            return set(con.execute(query, params).fetchall())

    def sql(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a read-only SQL query on the store and return an Arrow table.

        The connection is read-only, so analysts cannot damage the store by
        accident; anything that writes raises ReadOnlyQueryError.
        """
        with self._reading() as con:
            try:
                cur = con.execute(query, params)
                if cur.description is None:
                    return pa.table({})
                return cur.to_arrow_table()
            except duckdb.Error as e:
                if "read-only mode" in str(e):
                    raise ReadOnlyQueryError(
                        f"the store's SQL is read-only: this query tried to change {self.db_path} "
                        f"({e}); write through Store.upsert / replace_partitions / transaction") from e
                raise


def _column_types(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database() "
        "ORDER BY table_name, ordinal_position").fetchall()
    for table_name, column_name, data_type in rows:
        out.setdefault(table_name, []).append((column_name, data_type))
    return out
