"""The lineage registry: which model, code and job produced which store rows.

Four plain tables that any SQL client can read (`model_versions`,
`etl_versions`, `job_runs`, `run_tables`), written through SQLAlchemy 2.0 Core.

Design choices:
- Any SQLAlchemy URL works; the default is a SQLite file `registry.sqlite` in
  the store folder (`Registry.for_store`). A team can point every job at one
  PostgreSQL URL instead. Column types are the portable ones (String, Text,
  Integer, JSON, DateTime without zone), so the same DDL runs on both.
- Times are stored as naive UTC and come back as aware UTC datetimes: SQLite
  has no zone type, and "naive means UTC" is the one convention that reads the
  same on every backend.
- SQLite with several processes (a Ray driver and a CLI at once): WAL mode so
  readers never wait for a writer, a busy timeout so a writer waits for the
  lock instead of failing, and `BEGIN IMMEDIATE` for write transactions so
  two writers serialise at the start instead of one failing mid-transaction
  when it tries to upgrade a read lock (SQLite answers that case with an
  immediate "database is locked" that no busy timeout can cure). WAL needs a
  local disk; do not put a SQLite registry on NFS.
- Models are immutable: a version id names one checkpoint hash forever.
  Registering the same id and hash again is a no-op (jobs can be re-run);
  another hash under the same id is an error, because rows embedded by the
  first checkpoint would silently be attributed to the second.
- A run's `status` is `running` until `finish_run`; a process killed hard
  (SIGKILL, node loss) leaves it `running`, which is the honest answer.
- The registry holds no connection between calls and pickles as its URL, so a
  Ray task can receive it and reconnect on the other side.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import traceback
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:  # only for the annotation: the registry needs no DuckDB
    from featurestore.store import Store

REGISTRY_FILE = "registry.sqlite"
BUSY_TIMEOUT_S = 30.0

MODEL_KINDS = ("encoder", "chunk_embedder", "aggregator", "baseline")
RUN_RUNNING = "running"
FINAL_STATUSES = ("succeeded", "failed", "killed")

_WRITE = "filingstore_registry_write"  # execution option marking write transactions


class ModelVersionConflict(ValueError):
    """A model version id was registered again with a different checkpoint hash."""


class RunStateError(ValueError):
    """A run was finished twice, or an operation named a run that does not exist."""


# -- hashing ------------------------------------------------------------------

def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hash_checkpoint(path: str | Path) -> str:
    """SHA-256 of a checkpoint: a single file's bytes, or every file of a folder.

    A folder hashes the lines `relative/posix/path NUL sha256(file)` in sorted
    path order, so the hash changes when any file's content or name changes
    and does not depend on the order the file system lists them in. A single
    file hashes to the same value as `sha256sum FILE`.
    """
    p = Path(path)
    if p.is_file():
        return _file_sha256(p)
    if not p.is_dir():
        raise FileNotFoundError(f"checkpoint {p} does not exist (neither a file nor a folder); "
                                f"pass the folder the model was saved to")
    files: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(p):
        dirs.sort()
        for name in names:
            full = Path(root) / name
            files.append((full.relative_to(p).as_posix(), full))
    if not files:
        raise ValueError(f"checkpoint folder {p} holds no files; was the model saved there?")
    h = hashlib.sha256()
    for rel, full in sorted(files):
        h.update(f"{rel}\0{_file_sha256(full)}\n".encode())
    return h.hexdigest()


# -- tables -------------------------------------------------------------------

class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (portable)."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"registry times must be timezone-aware, got naive {value!r}; "
                             f"use datetime.now(timezone.utc)")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


metadata = sa.MetaData()

MODEL_VERSIONS = sa.Table(
    "model_versions", metadata,
    sa.Column("model_version", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("checkpoint_path", sa.Text, nullable=False),
    sa.Column("checkpoint_sha256", sa.String(64), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("tokenizer", sa.Text),            # e.g. "minilm wordpiece + [NUM]" or a path
    sa.Column("training_run_id", sa.String(64)),  # a job_runs.run_id, or an external run id
    sa.Column("training_run_path", sa.Text),
    sa.Column("etl_version", sa.String(100)),   # the ETL output it was trained on
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in MODEL_KINDS) + ")",
                       name="model_versions_kind"),
)

ETL_VERSIONS = sa.Table(
    "etl_versions", metadata,
    sa.Column("etl_version", sa.String(100), primary_key=True),
    sa.Column("code_description", sa.Text, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
)

JOB_RUNS = sa.Table(
    "job_runs", metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("job", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    # Lineage links kept as columns (not only inside params) so plain SQL can join on them.
    sa.Column("model_version", sa.String(200)),
    sa.Column("etl_version", sa.String(100)),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("row_counts", sa.JSON),
    sa.Column("error", sa.Text),
    sa.CheckConstraint("status IN ('running', " + ", ".join(f"'{s}'" for s in FINAL_STATUSES) + ")",
                       name="job_runs_status"),
)
sa.Index("job_runs_job", JOB_RUNS.c.job, JOB_RUNS.c.started_at)
sa.Index("job_runs_model", JOB_RUNS.c.model_version)

RUN_TABLES = sa.Table(
    "run_tables", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), sa.ForeignKey("job_runs.run_id"), nullable=False),
    sa.Column("table_name", sa.String(200), nullable=False),  # "table" is a reserved word
    sa.Column("version", sa.BigInteger, nullable=False),      # the Lance table version
    sa.Column("tag", sa.String(200)),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
)
sa.Index("run_tables_run", RUN_TABLES.c.run_id)


# -- records ------------------------------------------------------------------

@dataclass(frozen=True)
class ModelVersion:
    model_version: str
    kind: str
    checkpoint_path: str
    checkpoint_sha256: str
    config: dict[str, Any]
    tokenizer: str | None
    training_run_id: str | None
    training_run_path: str | None
    etl_version: str | None
    created_at: datetime


@dataclass(frozen=True)
class EtlVersion:
    etl_version: str
    code_description: str
    first_seen: datetime


@dataclass(frozen=True)
class TableVersion:
    run_id: str
    table: str
    version: int
    tag: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class JobRun:
    run_id: str
    job: str
    status: str
    inputs: Any
    params: dict[str, Any]
    model_version: str | None
    etl_version: str | None
    host: str
    pid: int
    started_at: datetime
    ended_at: datetime | None
    row_counts: dict[str, int] | None
    error: str | None
    tables: tuple[TableVersion, ...] = ()


@dataclass(frozen=True)
class ModelLineage:
    """Where a model came from and what it produced."""
    model: ModelVersion
    training_run: JobRun | None       # None when the run is external or not recorded
    etl_version: EtlVersion | None    # the data the model was trained on, if recorded
    runs: tuple[JobRun, ...]          # runs that used the model (model_version column), oldest first

    @property
    def tables(self) -> tuple[TableVersion, ...]:
        """Every table version written by a run that used the model."""
        return tuple(t for r in self.runs for t in r.tables)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _model(row: sa.Row[Any]) -> ModelVersion:
    m = row._mapping
    return ModelVersion(**{c.name: m[c.name] for c in MODEL_VERSIONS.columns})


def _table_version(row: sa.Row[Any]) -> TableVersion:
    m = row._mapping
    return TableVersion(run_id=m["run_id"], table=m["table_name"], version=int(m["version"]),
                        tag=m["tag"], recorded_at=m["recorded_at"])


# -- the registry -------------------------------------------------------------

class Registry:
    """Model versions, ETL versions, job runs and the table versions each run wrote.

    `Registry(url)` takes any SQLAlchemy URL; `Registry.for_store(store)` uses
    `<store>/registry.sqlite`. Tables are created on first use.
    """

    def __init__(self, url: str | sa.URL, *, busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.url = sa.make_url(url)
        self.busy_timeout_s = busy_timeout_s
        self._engine = self._make_engine()
        self._writer = self._engine.execution_options(**{_WRITE: True})
        self._create_tables()

    @classmethod
    def for_store(cls, store: Store | str | Path, **kwargs: Any) -> Registry:
        """The registry beside a store's tables: `<store folder>/registry.sqlite`."""
        folder = Path(store.path if hasattr(store, "path") else store)
        if not folder.is_dir():
            raise FileNotFoundError(f"store folder {folder} does not exist; create the store first "
                                    f"(Store(path, create=True))")
        return cls(sa.URL.create("sqlite", database=str(folder / REGISTRY_FILE)), **kwargs)

    def __repr__(self) -> str:
        return f"Registry({self.url.render_as_string(hide_password=True)!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "busy_timeout_s": self.busy_timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], busy_timeout_s=state["busy_timeout_s"])  # type: ignore[misc]

    def close(self) -> None:
        """Close pooled connections (the registry reconnects if used again)."""
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- engine ----------------------------------------------------------------

    def _make_engine(self) -> Engine:
        if self.url.get_backend_name() != "sqlite":
            return sa.create_engine(self.url, pool_pre_ping=True)
        db = self.url.database
        if not db or db == ":memory:":
            raise ValueError(f"{self.url}: an in-memory SQLite registry is private to one connection "
                             f"and lost on exit; give a file, e.g. sqlite:///path/registry.sqlite")
        if not Path(db).parent.is_dir():
            raise FileNotFoundError(f"registry {db}: folder {Path(db).parent} does not exist; "
                                    f"create it first or use Registry.for_store(store)")
        engine = sa.create_engine(self.url, connect_args={"timeout": self.busy_timeout_s})
        timeout_ms = int(self.busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_con: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN (the driver's implicit
            # deferred BEGIN cannot be made IMMEDIATE).
            dbapi_con.isolation_level = None
            cur = dbapi_con.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout = {timeout_ms}")
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA foreign_keys = ON")
            finally:
                cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _create_tables(self) -> None:
        try:
            with self._writer.begin() as conn:
                metadata.create_all(conn)
        except sa.exc.OperationalError:
            # Another process created them between our check and our CREATE
            # (possible on PostgreSQL); the second pass finds them.
            with self._writer.begin() as conn:
                metadata.create_all(conn)
        found = sa.inspect(self._engine)
        for t in metadata.sorted_tables:
            cols = {c["name"] for c in found.get_columns(t.name)}
            missing = [c.name for c in t.columns if c.name not in cols]
            if missing:
                raise ValueError(f"registry {self!r}: table {t.name} lacks columns {missing}; it was "
                                 f"made by another version of featurestore: migrate it or use a new file")

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            yield conn

    # -- model versions --------------------------------------------------------

    def register_model(self, model_version: str, kind: str, checkpoint_path: str | Path, *,
                       config: Mapping[str, Any], tokenizer: str | None = None,
                       checkpoint_sha256: str | None = None, training_run_id: str | None = None,
                       training_run_path: str | Path | None = None,
                       etl_version: str | None = None) -> ModelVersion:
        """Record a model version; return the stored record.

        `checkpoint_sha256` defaults to `hash_checkpoint(checkpoint_path)`; pass
        it for a checkpoint that is not on this machine (e.g. on S3). The same
        version with the same hash is a no-op that returns the first record;
        another hash raises ModelVersionConflict.
        """
        if not model_version or not isinstance(model_version, str):
            raise ValueError(f"model_version must be a non-empty string, got {model_version!r}")
        if kind not in MODEL_KINDS:
            raise ValueError(f"model {model_version}: kind {kind!r} is not one of {MODEL_KINDS}")
        sha = checkpoint_sha256 or hash_checkpoint(checkpoint_path)
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"model {model_version}: checkpoint_sha256 must be 64 lowercase hex "
                             f"digits (hash_checkpoint's output), got {sha!r}")
        row = {
            "model_version": model_version, "kind": kind, "checkpoint_path": str(checkpoint_path),
            "checkpoint_sha256": sha, "config": dict(config), "tokenizer": tokenizer,
            "training_run_id": training_run_id,
            "training_run_path": None if training_run_path is None else str(training_run_path),
            "etl_version": etl_version, "created_at": _now(),
        }
        with self._write() as conn:  # BEGIN IMMEDIATE: check and insert cannot interleave
            existing = conn.execute(sa.select(MODEL_VERSIONS).where(
                MODEL_VERSIONS.c.model_version == model_version)).first()
            if existing is None:
                conn.execute(MODEL_VERSIONS.insert().values(**row))
                return ModelVersion(**row)
        found = _model(existing)
        if found.checkpoint_sha256 != sha:
            raise ModelVersionConflict(
                f"model version {model_version!r} is already registered with checkpoint sha256 "
                f"{found.checkpoint_sha256} ({found.checkpoint_path}, {found.created_at:%Y-%m-%d %H:%M} UTC); "
                f"{checkpoint_path} hashes to {sha}. A version names one checkpoint forever: "
                f"give the new checkpoint a new model_version")
        return found

    def model(self, model_version: str) -> ModelVersion:
        """The record of one model version; KeyError if it was never registered."""
        with self._read() as conn:
            row = conn.execute(sa.select(MODEL_VERSIONS).where(
                MODEL_VERSIONS.c.model_version == model_version)).first()
            if row is None:
                known = conn.execute(sa.select(MODEL_VERSIONS.c.model_version)
                                     .order_by(MODEL_VERSIONS.c.created_at)).scalars().all()
        if row is None:
            raise KeyError(f"model version {model_version!r} is not registered in {self!r}; "
                           f"registered: {list(known)[-20:]}")
        return _model(row)

    def models(self, kind: str | None = None) -> list[ModelVersion]:
        """All model versions (of one kind), oldest first."""
        q = sa.select(MODEL_VERSIONS).order_by(MODEL_VERSIONS.c.created_at, MODEL_VERSIONS.c.model_version)
        if kind is not None:
            q = q.where(MODEL_VERSIONS.c.kind == kind)
        with self._read() as conn:
            return [_model(r) for r in conn.execute(q)]

    # -- ETL versions ----------------------------------------------------------

    def register_etl_version(self, etl_version: str, code_description: str) -> EtlVersion:
        """Record an ETL version the first time it is seen; later calls return that first record.

        The description (e.g. a commit id) is kept from the first sighting:
        `first_seen` is the moment that version's rows started to appear.
        """
        if not etl_version:
            raise ValueError("etl_version must be a non-empty string")
        with self._write() as conn:
            row = conn.execute(sa.select(ETL_VERSIONS).where(
                ETL_VERSIONS.c.etl_version == etl_version)).first()
            if row is None:
                rec = EtlVersion(etl_version, code_description, _now())
                conn.execute(ETL_VERSIONS.insert().values(
                    etl_version=rec.etl_version, code_description=rec.code_description,
                    first_seen=rec.first_seen))
                return rec
        return EtlVersion(**row._mapping)

    def etl_versions(self) -> list[EtlVersion]:
        with self._read() as conn:
            return [EtlVersion(**r._mapping) for r in conn.execute(
                sa.select(ETL_VERSIONS).order_by(ETL_VERSIONS.c.first_seen))]

    # -- job runs --------------------------------------------------------------

    def start_run(self, job: str, inputs: Mapping[str, Any] | Sequence[Any],
                  params: Mapping[str, Any], *, model_version: str | None = None,
                  etl_version: str | None = None) -> str:
        """Record a job run as `running`; return its id (a uuid4 string).

        `inputs` and `params` must be JSON-serialisable (paths as strings).
        `model_version` / `etl_version` link the run to what it used, for lineage.
        """
        if not job:
            raise ValueError("job must be a non-empty name, e.g. 'embed'")
        if isinstance(inputs, (str, bytes)):
            raise TypeError(f"run {job}: inputs must be a dict or a list, not a single string "
                            f"{inputs!r}; wrap it in a list")
        run_id = str(uuid.uuid4())
        with self._write() as conn:
            conn.execute(JOB_RUNS.insert().values(
                run_id=run_id, job=job, status=RUN_RUNNING,
                inputs=inputs if isinstance(inputs, Mapping) else list(inputs),
                params=dict(params), model_version=model_version, etl_version=etl_version,
                host=socket.gethostname(), pid=os.getpid(), started_at=_now()))
        return run_id

    def finish_run(self, run_id: str, status: str, row_counts: Mapping[str, int] | None = None,
                   error: str | None = None) -> None:
        """Mark a running run succeeded, failed or killed, with its row counts and error text."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"run {run_id}: status {status!r} is not one of {FINAL_STATUSES}")
        counts = dict(row_counts or {})
        bad = {k: v for k, v in counts.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0}
        if bad:
            raise ValueError(f"run {run_id}: row_counts must map table names to counts >= 0, got {bad}")
        with self._write() as conn:
            done = conn.execute(
                JOB_RUNS.update()
                .where(JOB_RUNS.c.run_id == run_id, JOB_RUNS.c.status == RUN_RUNNING)
                .values(status=status, ended_at=_now(), row_counts=counts, error=error))
            if done.rowcount == 1:
                return
            row = conn.execute(sa.select(JOB_RUNS.c.status, JOB_RUNS.c.ended_at)
                               .where(JOB_RUNS.c.run_id == run_id)).first()
        if row is None:
            raise RunStateError(f"no run {run_id!r} in {self!r}; start it with start_run() first")
        raise RunStateError(f"run {run_id} already finished as {row.status} at {row.ended_at}; "
                            f"a run is finished once (start a new run for a retry)")

    def record_table_version(self, run_id: str, table: str, version: int,
                             tag: str | None = None) -> None:
        """Record that `run_id` produced `version` (and `tag`) of a Lance table; repeats are no-ops."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(f"run {run_id}: {table} version must be an int >= 0 (the Lance "
                             f"table version), got {version!r}")
        with self._write() as conn:
            if conn.execute(sa.select(JOB_RUNS.c.run_id).where(JOB_RUNS.c.run_id == run_id)).first() is None:
                raise RunStateError(f"no run {run_id!r} in {self!r}; record table versions "
                                    f"for a run made by start_run()")
            same = conn.execute(sa.select(RUN_TABLES.c.id).where(
                RUN_TABLES.c.run_id == run_id, RUN_TABLES.c.table_name == table,
                RUN_TABLES.c.version == version,
                RUN_TABLES.c.tag.is_(None) if tag is None else RUN_TABLES.c.tag == tag)).first()
            if same is None:
                conn.execute(RUN_TABLES.insert().values(run_id=run_id, table_name=table,
                                                        version=version, tag=tag, recorded_at=_now()))

    @contextlib.contextmanager
    def run(self, job: str, inputs: Mapping[str, Any] | Sequence[Any], params: Mapping[str, Any],
            *, model_version: str | None = None, etl_version: str | None = None) -> Iterator[RunHandle]:
        """`with registry.run("embed", inputs=..., params=...) as run:` records one job run.

        Ends `succeeded` when the block finishes, `failed` with the error text when
        it raises an Exception, `killed` on KeyboardInterrupt/SystemExit. The
        exception always propagates. Fill `run.row_counts` inside the block.
        """
        handle = RunHandle(self, self.start_run(job, inputs, params, model_version=model_version,
                                                etl_version=etl_version))
        try:
            yield handle
        except BaseException as e:
            status = "failed" if isinstance(e, Exception) else "killed"
            text = "".join(traceback.format_exception_only(type(e), e)).strip()
            try:
                self.finish_run(handle.run_id, status, handle.row_counts, error=text)
            except Exception as finish_error:  # never hide the job's own error
                e.add_note(f"(also: could not mark run {handle.run_id} {status}: {finish_error})")
            raise
        self.finish_run(handle.run_id, "succeeded", handle.row_counts)

    def get_run(self, run_id: str) -> JobRun:
        runs = self._runs(JOB_RUNS.c.run_id == run_id)
        if not runs:
            raise KeyError(f"no run {run_id!r} in {self!r}")
        return runs[0]

    def runs(self, job: str | None = None, status: str | None = None) -> list[JobRun]:
        """Runs (of one job, with one status), oldest first, each with its table versions."""
        conds = []
        if job is not None:
            conds.append(JOB_RUNS.c.job == job)
        if status is not None:
            conds.append(JOB_RUNS.c.status == status)
        return self._runs(*conds)

    def _runs(self, *conds: sa.ColumnElement[bool]) -> list[JobRun]:
        q = sa.select(JOB_RUNS).where(*conds).order_by(JOB_RUNS.c.started_at, JOB_RUNS.c.run_id)
        with self._read() as conn:
            rows = conn.execute(q).all()
            ids = [r.run_id for r in rows]
            tables: dict[str, list[TableVersion]] = {}
            for i in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
                for t in conn.execute(sa.select(RUN_TABLES)
                                      .where(RUN_TABLES.c.run_id.in_(ids[i:i + 500]))
                                      .order_by(RUN_TABLES.c.id)):
                    tables.setdefault(t.run_id, []).append(_table_version(t))
        return [JobRun(**{c.name: r._mapping[c.name] for c in JOB_RUNS.columns},
                       tables=tuple(tables.get(r.run_id, ()))) for r in rows]

    # -- lineage ---------------------------------------------------------------

    def lineage_of_model(self, model_version: str) -> ModelLineage:
        """The model, the run that trained it, its training data's ETL version, and the runs that used it."""
        model = self.model(model_version)
        training = None
        if model.training_run_id is not None:
            found = self._runs(JOB_RUNS.c.run_id == model.training_run_id)
            training = found[0] if found else None
        etl_id = model.etl_version or (training.etl_version if training else None)
        etl = None
        if etl_id is not None:
            with self._read() as conn:
                row = conn.execute(sa.select(ETL_VERSIONS).where(
                    ETL_VERSIONS.c.etl_version == etl_id)).first()
            etl = EtlVersion(**row._mapping) if row is not None else None
        return ModelLineage(model=model, training_run=training, etl_version=etl,
                            runs=tuple(self._runs(JOB_RUNS.c.model_version == model_version)))


@dataclass
class RunHandle:
    """What `Registry.run` yields: the run id, its row counts, and table-version recording."""
    registry: Registry
    run_id: str
    row_counts: dict[str, int] = field(default_factory=dict)

    def record_table_version(self, table: str, version: int, tag: str | None = None) -> None:
        self.registry.record_table_version(self.run_id, table, version, tag)
