"""One input file -> outcome rows for the store's writer (no Ray here).

An input is a filing file (HTML, EDGAR `.txt`, optionally gzip'd, with an
optional sidecar JSON) or a Companies House bulk zip, which gives one outcome
per member. Each outcome row is `{"path", "status", "filing_id", "payload"}`:
status "ok" (payload: the filing's Arrow tables, pickled), "rejected"
(payload: a `rejects` row) or "known" (already in the store, skipped before
parsing). Parsing runs under a per-file time limit.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import pickle
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pyarrow as pa

from etl.companies_house import (
    ArchiveEntry, ArchiveError, group_parts, identity_from_facts, identity_from_name, is_archive,
    iter_archive, reconcile_identity, sidecar as ch_sidecar,
)
from etl.documents import FilingRejected, ParsedFiling, parse_filing
from etl.metadata import sidecar_path
from etl.records import filing_tables, reject_row, reject_table
from etl.websites import SiteRejected, clean_site, read_site, site_document_html, site_sidecar, stats_row
from featurestore import REJECTS, WEBSITE_STATS

DEFAULT_FILE_TIMEOUT_S = 120.0
COMPANIES_HOUSE = "companies_house"
WEBSITE = "website"


def is_site(path: Path) -> bool:
    """A crawled site: a folder with a manifest.json or WARC files, or one WARC file."""
    if path.is_dir():
        return (path / "manifest.json").is_file() or any(path.glob("*.warc")) or any(path.glob("*.warc.gz"))
    return path.name.endswith((".warc", ".warc.gz"))


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
    except _TimedOut:  # delivered in the body or in the finally above
        raise timeout_rejection(seconds) from None


def timeout_rejection(seconds: float) -> FilingRejected:
    """The reject of a file whose parse ran out of time.

    Callers of `time_limit` catch `_TimedOut` too: when the timer fires just as the body ends, the
    exception can arrive in contextlib's `__exit__`, before the generator above can catch it.
    """
    return FilingRejected("parse", "timeout", f"parsing took longer than {seconds:g} s; the file is "
                          "pathological or huge: inspect it, or raise --file-timeout")


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
    except (FilingRejected, _TimedOut) as e:
        err = e if isinstance(e, FilingRejected) else timeout_rejection(timeout_s)
        return {"path": path, "status": "rejected", "filing_id": "",
                "payload": pickle.dumps(reject_row(path, sha, source, err))}
    except Exception as e:  # a bug must not stop the batch: record it and go on
        err = FilingRejected("parse", "internal_error", f"{type(e).__name__}: {e} (please report this file)")
        return {"path": path, "status": "rejected", "filing_id": "",
                "payload": pickle.dumps(reject_row(path, sha, source, err))}


def _row(path: str, status: str, filing_id: str = "", payload: object = None) -> dict:
    return {"path": path, "status": status, "filing_id": filing_id,
            "payload": pickle.dumps(payload) if payload is not None else b""}


def _companies_house_identity(parsed: ParsedFiling, path: str) -> list[str]:
    """Check the file name's company number and period against the XBRL facts;
    the facts fill what the name lacks (the company name). Returns conflicts."""
    merged, conflicts = reconcile_identity(identity_from_name(path), identity_from_facts(parsed.facts))
    known = {k: v for k, v in merged.items() if v not in (None, "")}
    parsed.meta = replace(parsed.meta, source=COMPANIES_HOUSE,
                          **{k: v for k, v in known.items() if getattr(parsed.meta, k, None) in (None, "")})
    return conflicts


def parse_one(path: str, raw: bytes, name: Path, sidecar: bytes | None, source: str,
              known_sha: frozenset, known_rejects: frozenset, max_tokens: int, timeout_s: float) -> dict:
    """Hash and parse one filing's bytes; `path` is what the store records."""
    sha = hashlib.sha256(raw).hexdigest()
    if sha in known_sha or (path, sha) in known_rejects:
        return _row(path, "known")
    try:
        with time_limit(timeout_s):
            parsed = parse_filing(raw, name, sidecar, max_tokens=max_tokens)
            conflicts = []
            if source == COMPANIES_HOUSE or identity_from_name(path):
                conflicts = _companies_house_identity(parsed, path)
            tables = filing_tables(parsed, path, len(raw))
        if conflicts:  # the filing is kept; each disagreement is recorded
            extra = [reject_row(path, sha, parsed.meta.source,
                                FilingRejected("identity", "identity_conflict", c), item=f"identity#{i}")
                     for i, c in enumerate(conflicts)]
            tables[REJECTS.name] = pa.concat_tables([tables[REJECTS.name], reject_table(extra)])
        return _row(path, "ok", parsed.filing_id, tables)
    except (FilingRejected, _TimedOut) as e:
        err = e if isinstance(e, FilingRejected) else timeout_rejection(timeout_s)
        return _row(path, "rejected", payload=reject_row(path, sha, source, err))
    except Exception as e:  # a bug must not stop the batch: record it and go on
        err = FilingRejected("parse", "internal_error", f"{type(e).__name__}: {e} (please report this file)")
        return _row(path, "rejected", payload=reject_row(path, sha, source, err))


def process_file(path: str, known_sha: frozenset, known_rejects: frozenset, source: str,
                 max_tokens: int, timeout_s: float) -> dict:
    """Read and parse one filing file (and its sidecar, if any)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        side = sidecar_path(p)
        sidecar = side.read_bytes() if side.is_file() else None
    except OSError as e:
        return _row(path, "rejected", payload=reject_row(
            path, None, source, FilingRejected("read", "unreadable", f"cannot read the file: {e}")))
    return parse_one(path, raw, p, sidecar, source, known_sha, known_rejects, max_tokens, timeout_s)


def process_archive(path: str, known_sha: frozenset, known_rejects: frozenset,
                    max_tokens: int, timeout_s: float) -> list[dict]:
    """Every member of a Companies House bulk zip: a filing or a reject each."""
    rows: list[dict] = []
    try:
        for item in group_parts(iter_archive(Path(path))):
            if isinstance(item, ArchiveEntry):  # refused member: zip slip, bomb, corrupt, not a filing
                err = FilingRejected("archive", item.reason or "bad_member", item.detail or "")
                rows.append(_row(item.virtual_path, "rejected",
                                 payload=reject_row(item.virtual_path, None, COMPANIES_HOUSE, err)))
            else:
                rows.append(parse_one(item.virtual_path, item.data, Path(item.name), ch_sidecar(item.meta),
                                      COMPANIES_HOUSE, known_sha, known_rejects, max_tokens, timeout_s))
    except ArchiveError as e:
        rows.append(_row(path, "rejected", payload=reject_row(
            path, None, COMPANIES_HOUSE, FilingRejected("archive", e.reason, e.detail))))
    return rows


def process_site(path: str, known_sha: frozenset, known_rejects: frozenset,
                 max_tokens: int, timeout_s: float) -> dict:
    """A crawled site -> one filing (its kept pages) plus its `website_stats` row."""
    try:
        with time_limit(timeout_s):
            result = clean_site(read_site(Path(path)))
    except SiteRejected as e:
        return _row(path, "rejected", payload=reject_row(path, None, WEBSITE, FilingRejected(e.stage, e.reason, e.detail)))
    except (FilingRejected, _TimedOut) as e:
        err = e if isinstance(e, FilingRejected) else timeout_rejection(timeout_s)
        return _row(path, "rejected", payload=reject_row(path, None, WEBSITE, err))
    doc = site_document_html(result).encode("utf-8")
    sidecar = json.dumps(site_sidecar(result), sort_keys=True).encode()
    row = parse_one(path, doc, Path(result.site + ".html"), sidecar, WEBSITE, known_sha, known_rejects,
                    max_tokens, timeout_s)
    if row["status"] == "ok":
        tables = pickle.loads(row["payload"])
        tables[WEBSITE_STATS.name] = pa.Table.from_pylist([stats_row(result, row["filing_id"])],
                                                          schema=WEBSITE_STATS.schema)
        row["payload"] = pickle.dumps(tables)
    return row


def process_input(path: str, known_sha: frozenset, known_rejects: frozenset, source: str,
                  max_tokens: int, timeout_s: float) -> list[dict]:
    if source == WEBSITE:
        return [process_site(path, known_sha, known_rejects, max_tokens, timeout_s)]
    if is_archive(Path(path)):
        return process_archive(path, known_sha, known_rejects, max_tokens, timeout_s)
    return [process_file(path, known_sha, known_rejects, source, max_tokens, timeout_s)]
