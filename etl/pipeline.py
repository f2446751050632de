"""The ingest pipeline on Ray Data: file paths -> parsed filings -> the store.

    paths ─from_items─▶ ParseFilings (actor pool: read, hash, skip known, parse
    under a time limit) ─iter_batches─▶ driver: one short store transaction per
    batch (filings upsert; sections, chunks, numbers replaced per filing; rejects)

The driver is the only writer, so workers never contend for the DuckDB file.
Re-running over the same inputs writes nothing: files whose content hash was
already ingested (or rejected at that path) by this ETL version are skipped
before parsing.
"""
from __future__ import annotations

import ctypes
import pickle
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import ray
from tqdm import tqdm

from etl import ETL_VERSION
from etl.documents import FILING_SUFFIXES, FilingRejected, parse_filing
from etl.metadata import sidecar_path
from etl.records import filing_tables, reject_row, reject_table
from featurestore import CHUNKS, FACTS, FILINGS, NUMBERS, REJECTS, SECTIONS, Store

DEFAULT_FILE_TIMEOUT_S = 120.0


@dataclass
class IngestConfig:
    inputs: list[Path]
    store: Path
    source: str = "sec"
    max_tokens: int = 512
    file_timeout_s: float = DEFAULT_FILE_TIMEOUT_S
    workers: int | None = None        # parse actors; default: the cluster's CPUs (at most 8 per node)
    cpus_per_worker: float = 1.0
    files_per_batch: int = 4
    commit_every: int = 32            # filings per store transaction
    progress: bool = True


@dataclass
class IngestSummary:
    files_seen: int = 0
    skipped_known: int = 0
    duplicates: int = 0
    filings_written: int = 0
    rejects: Counter = field(default_factory=Counter)
    chunks: int = 0
    numbers: int = 0
    facts: int = 0
    fact_rejects: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rej = ", ".join(f"{k}: {v}" for k, v in sorted(self.rejects.items())) or "none"
        return [
            f"files seen        {self.files_seen}",
            f"already in store  {self.skipped_known}",
            f"duplicate content {self.duplicates}",
            f"filings written   {self.filings_written}",
            f"rejects           {sum(self.rejects.values())} ({rej})",
            f"chunks written    {self.chunks}",
            f"numbers written   {self.numbers}",
            f"facts written     {self.facts} ({sum(self.fact_rejects.values())} rejected: "
            f"{', '.join(f'{k}: {v}' for k, v in sorted(self.fact_rejects.items())) or 'none'})",
            f"seconds           {self.seconds:.1f}",
        ]


def discover_inputs(inputs: list[Path]) -> list[Path]:
    """Filing files under the given paths: directories are walked for HTML files
    and EDGAR full-submission `.txt` files.

    A file named explicitly is taken whatever its suffix (a bad one ends in
    `rejects`); a path that does not exist is an error, not a silent skip.
    """
    found: list[Path] = []
    for p in inputs:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(
                f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(FILING_SUFFIXES)
            ))
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"input {p} does not exist; pass filing files or folders of them")
    seen: set[Path] = set()
    unique = []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique


class _TimedOut(BaseException):
    """Raised asynchronously in a thread whose time limit ran out.

    A BaseException, so that no `except Exception` inside the parser swallows it.
    """


def _raise_in_thread(thread_id: int, exc: type[BaseException] | None) -> None:
    """Schedule `exc` in the thread (None: cancel a scheduled one that has not fired yet)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exc) if exc is not None else None)


@contextmanager
def time_limit(seconds: float):
    """Raise FilingRejected("parse", "timeout") if the body runs longer than `seconds`.

    Works in any thread. Ray Data runs an actor's `__call__` in a worker
    thread, not the main one, where SIGALRM cannot be used; so a watchdog
    timer raises an exception asynchronously in the calling thread instead.
    Like a signal handler, it interrupts Python code between bytecodes only: a
    single C call (the HTML parser) finishes first, which is bounded by the
    input size cap.
    """
    if seconds <= 0:
        yield
        return
    thread_id = threading.get_ident()
    lock = threading.Lock()
    state = {"running": True, "fired": False}

    def fire() -> None:
        with lock:
            if state["running"]:
                state["fired"] = True
                _raise_in_thread(thread_id, _TimedOut)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    try:
        timer.start()
        try:
            yield
        finally:
            with lock:  # after this the timer can no longer fire
                state["running"] = False
            timer.cancel()
            if state["fired"]:  # fired but not delivered yet (the body had just ended)
                _raise_in_thread(thread_id, None)
    except _TimedOut:  # delivered in the body or, at the latest, in the finally above
        raise FilingRejected("parse", "timeout", f"parsing took longer than {seconds:g} s; the file is "
                             "pathological or huge: inspect it, or raise --file-timeout") from None


def process_file(path: str, known_sha: frozenset, known_rejects: frozenset, source: str,
                 max_tokens: int, timeout_s: float) -> dict:
    """Read, hash and parse one file; the outcome as a row for the driver."""
    import hashlib
    p = Path(path)
    try:
        raw = p.read_bytes()
        side = sidecar_path(p)
        sidecar = side.read_bytes() if side.is_file() else None
    except OSError as e:
        err = FilingRejected("read", "unreadable", f"cannot read the file: {e}")
        return {"path": path, "status": "rejected", "filing_id": "",
                "payload": pickle.dumps(reject_row(path, None, source, err))}
    sha = hashlib.sha256(raw).hexdigest()
    if sha in known_sha or (path, sha) in known_rejects:
        return {"path": path, "status": "known", "filing_id": "", "payload": b""}
    try:
        with time_limit(timeout_s):
            parsed = parse_filing(raw, p, sidecar, max_tokens=max_tokens)
            tables = filing_tables(parsed, path, len(raw))
        return {"path": path, "status": "ok", "filing_id": parsed.filing_id, "payload": pickle.dumps(tables)}
    except FilingRejected as err:
        return {"path": path, "status": "rejected", "filing_id": "",
                "payload": pickle.dumps(reject_row(path, sha, source, err))}
    except Exception as e:  # a bug must not stop the batch: record it and go on
        err = FilingRejected("parse", "internal_error", f"{type(e).__name__}: {e} (please report this file)")
        return {"path": path, "status": "rejected", "filing_id": "",
                "payload": pickle.dumps(reject_row(path, sha, source, err))}


class ParseFilings:
    """Ray Data callable: a batch of paths -> one outcome row per path."""

    def __init__(self, known_sha: frozenset, known_rejects: frozenset, source: str,
                 max_tokens: int, timeout_s: float):
        self.known_sha = known_sha
        self.known_rejects = known_rejects
        self.source = source
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s

    def __call__(self, batch: dict) -> dict:
        rows = [process_file(str(p), self.known_sha, self.known_rejects, self.source,
                             self.max_tokens, self.timeout_s) for p in batch["path"]]
        return {k: [r[k] for r in rows] for k in ("path", "status", "filing_id", "payload")}


class _StoreWriter:
    """Buffers parsed filings on the driver and commits them in short transactions."""

    def __init__(self, store: Store, summary: IngestSummary, commit_every: int):
        self.store = store
        self.summary = summary
        self.commit_every = commit_every
        self.filings: dict[str, dict[str, pa.Table]] = {}
        self.rejects: list[dict] = []
        self.written_ids: set[str] = set()

    def add(self, row: dict) -> None:
        status = row["status"]
        if status == "known":
            self.summary.skipped_known += 1
        elif status == "rejected":
            rej = pickle.loads(row["payload"])
            self.rejects.append(rej)
            self.summary.rejects[f"{rej['stage']}/{rej['reason']}"] += 1
        else:
            fid = row["filing_id"]
            if fid in self.filings or fid in self.written_ids:
                self.summary.duplicates += 1
            else:
                self.filings[fid] = pickle.loads(row["payload"])
        if len(self.filings) + len(self.rejects) >= self.commit_every:
            self.flush()

    def flush(self) -> None:
        if not self.filings and not self.rejects:
            return
        ids = list(self.filings)
        with self.store.transaction() as tx:
            if ids:
                def cat(name: str) -> pa.Table:
                    return pa.concat_tables([t[name] for t in self.filings.values()])
                tx.upsert(FILINGS.name, cat(FILINGS.name))
                for t in (SECTIONS, CHUNKS, NUMBERS, FACTS):
                    tx.replace_partitions(t.name, ids, cat(t.name))
                for t in self.filings.values():
                    self.summary.chunks += t[CHUNKS.name].num_rows
                    self.summary.numbers += t[NUMBERS.name].num_rows
                    self.summary.facts += t[FACTS.name].num_rows
                    for r in t[REJECTS.name].to_pylist():  # rejected facts of a good filing
                        self.rejects.append(r)
                        self.summary.fact_rejects[r["reason"]] += 1
            if self.rejects:
                # one row per (path, content, stage): keep the last if a batch repeats it
                dedup = {(r["path"], r["content_sha256"], r["stage"], r["item"]): r for r in self.rejects}
                tx.upsert(REJECTS.name, reject_table(list(dedup.values())))
        self.summary.filings_written += len(ids)
        self.written_ids.update(ids)
        self.filings.clear()
        self.rejects.clear()


# Rejects that say nothing about the file itself are retried on the next run.
RETRIED_REASONS = ("timeout", "internal_error")


def _known(store: Store) -> tuple[frozenset, frozenset]:
    shas = store.keys(FILINGS.name, ["content_sha256"], where="etl_version = ?", params=[ETL_VERSION])
    rej = store.keys(REJECTS.name, ["path", "content_sha256"],
                     where=f"etl_version = ? AND reason NOT IN ({', '.join('?' * len(RETRIED_REASONS))})",
                     params=[ETL_VERSION, *RETRIED_REASONS])
    return frozenset(s for (s,) in shas), frozenset(rej)


def _default_workers() -> int:
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(cpus, 64))


def run_ingest(config: IngestConfig) -> IngestSummary:
    """Ingest the configured inputs into the store; Ray must be initialised."""
    t0 = time.perf_counter()
    store = Store(config.store, create=True)
    paths = discover_inputs(config.inputs)
    summary = IngestSummary(files_seen=len(paths))
    if not paths:
        summary.seconds = time.perf_counter() - t0
        return summary
    known_sha, known_rejects = _known(store)
    workers = config.workers or _default_workers()
    workers = max(1, min(workers, len(paths)))
    ds = ray.data.from_items([{"path": str(p)} for p in paths], override_num_blocks=min(len(paths), workers * 4))
    ds = ds.map_batches(
        ParseFilings,
        fn_constructor_kwargs=dict(known_sha=known_sha, known_rejects=known_rejects, source=config.source,
                                   max_tokens=config.max_tokens, timeout_s=config.file_timeout_s),
        batch_size=config.files_per_batch,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=config.cpus_per_worker,
    )
    writer = _StoreWriter(store, summary, config.commit_every)
    with tqdm(total=len(paths), desc="ingest", unit="file", disable=not config.progress) as bar:
        for batch in ds.iter_batches(batch_size=config.files_per_batch, batch_format="pyarrow"):
            for row in batch.to_pylist():
                writer.add(row)
                bar.update(1)
    writer.flush()
    summary.seconds = time.perf_counter() - t0
    return summary
