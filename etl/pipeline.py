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

import pickle
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import ray
from tqdm import tqdm

from etl import ETL_VERSION
from etl.companies_house import is_archive
from etl.documents import FILING_SUFFIXES
from etl.file_ingest import (  # noqa: F401 (process_file, time_limit re-exported)
    DEFAULT_FILE_TIMEOUT_S, WEBSITE, is_site, process_file, process_input, time_limit,
)
from etl.records import reject_table
from featurestore import CHUNKS, FACTS, FILINGS, NUMBERS, REJECTS, SECTIONS, WEBSITE_STATS, Store



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
    files_seen: int = 0   # filing files, archive members included
    skipped_known: int = 0
    duplicates: int = 0
    filings_written: int = 0
    rejects: Counter = field(default_factory=Counter)
    chunks: int = 0
    numbers: int = 0
    facts: int = 0
    item_rejects: Counter = field(default_factory=Counter)  # facts and identity conflicts of kept filings
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
            f"facts written     {self.facts}",
            f"item rejects      {sum(self.item_rejects.values())} "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(self.item_rejects.items())) or 'none'})",
            f"seconds           {self.seconds:.1f}",
        ]


def discover_sites(inputs: list[Path]) -> list[Path]:
    """Crawled sites under the given paths: a site itself, or a folder of sites."""
    found: list[Path] = []
    for p in map(Path, inputs):
        if not p.exists():
            raise FileNotFoundError(f"input {p} does not exist; pass site folders (manifest.json or WARC) or folders of them")
        if is_site(p):
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(c for c in p.iterdir() if is_site(c)))
    return found


def discover_inputs(inputs: list[Path]) -> list[Path]:
    """Filing files under the given paths: directories are walked for HTML files,
    EDGAR full-submission `.txt` files and Companies House bulk `.zip` archives.

    A file named explicitly is taken whatever its suffix (a bad one ends in
    `rejects`); a path that does not exist is an error, not a silent skip.
    """
    found: list[Path] = []
    for p in inputs:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(
                f for f in p.rglob("*") if f.is_file() and (f.name.lower().endswith(FILING_SUFFIXES) or is_archive(f))
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


class ParseFilings:
    """Ray Data callable: a batch of paths -> one outcome row per filing (an
    archive gives one per member)."""

    def __init__(self, known_sha: frozenset, known_rejects: frozenset, source: str,
                 max_tokens: int, timeout_s: float):
        self.known_sha = known_sha
        self.known_rejects = known_rejects
        self.source = source
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s

    def __call__(self, batch: dict) -> dict:
        rows = [row for p in batch["path"]
                for row in process_input(str(p), self.known_sha, self.known_rejects, self.source,
                                         self.max_tokens, self.timeout_s)]
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
        self.summary.files_seen += 1
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
                written = cat(FILINGS.name)
                tx.upsert(FILINGS.name, written)
                # A file that timed out before and parsed now leaves rejects: it ends in one place only.
                tx.delete_where(REJECTS.name, f"item = '' AND reason IN ({', '.join('?' * len(RETRIED_REASONS))}) "
                                "AND list_contains(?, content_sha256)",
                                [*RETRIED_REASONS, written.column("content_sha256").to_pylist()])
                for t in (SECTIONS, CHUNKS, NUMBERS, FACTS):
                    tx.replace_partitions(t.name, ids, cat(t.name))
                stats = [t[WEBSITE_STATS.name] for t in self.filings.values() if WEBSITE_STATS.name in t]
                if stats:
                    tx.upsert(WEBSITE_STATS.name, pa.concat_tables(stats))
                for t in self.filings.values():
                    self.summary.chunks += t[CHUNKS.name].num_rows
                    self.summary.numbers += t[NUMBERS.name].num_rows
                    self.summary.facts += t[FACTS.name].num_rows
                    for r in t[REJECTS.name].to_pylist():  # rejected facts, identity conflicts
                        self.rejects.append(r)
                        self.summary.item_rejects[f"{r['stage']}/{r['reason']}"] += 1
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
    paths = discover_sites(config.inputs) if config.source == WEBSITE else discover_inputs(config.inputs)
    summary = IngestSummary()
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
    # Archives expand into many filings, so their total is unknown up front.
    total = None if any(is_archive(p) for p in paths) else len(paths)
    with tqdm(total=total, desc="ingest", unit="file", disable=not config.progress) as bar:
        for batch in ds.iter_batches(batch_size=config.files_per_batch, batch_format="pyarrow"):
            for row in batch.to_pylist():
                writer.add(row)
                bar.update(1)
    writer.flush()
    summary.seconds = time.perf_counter() - t0
    return summary
