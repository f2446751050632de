"""Every store table's schema, declared once.

The pyarrow schemas here are the single source of truth: the DuckDB DDL and
(later) the Lance schemas are derived from them, and other modules refer to
tables and columns through the `Table` objects below instead of retyping names.

Conventions:
- `*_id` columns are strings, deterministic functions of content (re-runs
  produce the same ids).
- Dates a filing carries (`period_end`, `filed_at`) are `date32`; moments the
  system records (`ingested_at`, `at`) are UTC timestamps.
- `key` lists the columns an upsert matches on.
- `partition` names the column whose rows are replaced as a whole when a
  filing is re-processed (a re-chunked filing must not keep stale chunks).
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Table:
    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    partition: str | None = None

    @property
    def columns(self) -> list[str]:
        return self.schema.names


FILINGS = Table(
    "filings",
    pa.schema([
        ("filing_id", pa.string()),
        ("source", pa.string()),          # sec, companies_house, website
        ("form", pa.string()),
        ("company_id", pa.string()),      # CIK or company number
        ("company_name", pa.string()),
        ("ticker", pa.string()),
        ("accession_number", pa.string()),
        ("period_end", pa.date32()),
        ("filed_at", pa.date32()),        # when the public could know it
        ("content_sha256", pa.string()),
        ("path", pa.string()),
        ("n_bytes", pa.int64()),
        ("n_chars", pa.int64()),          # characters of clean document text
        ("etl_version", pa.string()),
        ("ingested_at", UTC_TS),
    ]),
    key=("filing_id",),
)

SECTIONS = Table(
    "sections",
    pa.schema([
        ("filing_id", pa.string()),
        ("section_id", pa.string()),
        ("seq", pa.int32()),
        ("title", pa.string()),
        ("char_start", pa.int64()),       # offsets in the filing's clean text
        ("char_end", pa.int64()),
    ]),
    key=("filing_id", "section_id"),
    partition="filing_id",
)

CHUNKS = Table(
    "chunks",
    pa.schema([
        ("chunk_id", pa.string()),
        ("filing_id", pa.string()),
        ("section_id", pa.string()),
        ("seq", pa.int32()),
        ("text", pa.string()),            # numbers tagged <number>…</number>
        ("n_tokens", pa.int32()),
        ("etl_version", pa.string()),
    ]),
    key=("chunk_id",),
    partition="filing_id",
)

NUMBERS = Table(
    "numbers",
    pa.schema([
        ("chunk_id", pa.string()),
        ("filing_id", pa.string()),
        ("char_start", pa.int32()),       # text[char_start:char_end] == raw,
        ("char_end", pa.int32()),         # offsets in the chunk's tagged text
        ("raw", pa.string()),
        ("value", pa.float64()),          # scaled and signed; 25% -> 0.25
        ("unit", pa.string()),            # USD, GBP, EUR, percent, or null
        ("scale", pa.int32()),            # value = sign * digits * 10**scale
        ("kind", pa.string()),            # amount, percent, per_share, count, year, date
    ]),
    key=("chunk_id", "char_start"),
    partition="filing_id",
)

FACTS = Table(
    "facts",
    pa.schema([
        ("filing_id", pa.string()),
        ("fact_id", pa.string()),
        ("concept", pa.string()),
        ("value", pa.float64()),
        ("text_value", pa.string()),
        ("unit", pa.string()),
        ("decimals", pa.string()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("dimensions", pa.string()),      # JSON object axis -> member
    ]),
    key=("filing_id", "fact_id"),
    partition="filing_id",
)

REJECTS = Table(
    "rejects",
    pa.schema([
        ("path", pa.string()),
        ("content_sha256", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),           # read, decode, metadata, parse, xbrl …
        ("item", pa.string()),            # "" for the whole file; a fact id for one rejected fact
        ("reason", pa.string()),          # short machine-readable reason
        ("detail", pa.string()),          # what went wrong and what to do
        ("etl_version", pa.string()),
        ("at", UTC_TS),
    ]),
    key=("path", "content_sha256", "stage", "item"),
)

WEBSITE_STATS = Table(
    "website_stats",
    pa.schema([
        ("company_id", pa.string()),
        ("site", pa.string()),            # host name, e.g. acme.example
        ("snapshot", pa.date32()),        # the crawl's date (latest fetched_at)
        ("filing_id", pa.string()),       # the site snapshot's row in `filings` (source = website)
        ("pages_seen", pa.int32()),
        ("pages_kept", pa.int32()),
        ("pages_dropped", pa.int32()),
        ("dropped_by_reason", pa.string()),  # JSON object reason -> count
        ("text_html_ratio", pa.float64()),   # kept text bytes / HTML bytes of all pages
        ("median_density", pa.float64()),    # log ratio of zlib density to natural prose
        ("density_iqr", pa.float64()),
        ("text_chars", pa.int64()),          # kept text size
    ]),
    key=("company_id", "site", "snapshot"),
)

GROWTH = Table(
    "growth",
    pa.schema([
        ("company_id", pa.string()),
        ("window_start", pa.date32()),
        ("window_end", pa.date32()),
        ("growth", pa.float64()),
        ("n_metrics", pa.int32()),
        ("method", pa.string()),
        ("known_at", pa.date32()),
    ]),
    key=("company_id", "window_start", "window_end", "method"),
)

# -- embedding tables ----------------------------------------------------------
# One logical table per level (`chunk_embeddings`, `doc_embeddings`); rows of
# every model version share it. The vector width depends on the model, so the
# schema is made per width: `chunk_embeddings(dim)`. The columns before
# `vector` are the filter columns searches use and the lineage of each row
# (the ETL version of the chunk, the model version that embedded it).
CHUNK_EMBEDDINGS_NAME = "chunk_embeddings"
DOC_EMBEDDINGS_NAME = "doc_embeddings"
VECTOR = "vector"


def vector_type(dim: int) -> pa.DataType:
    if not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"embedding width must be a positive int, got {dim!r}")
    return pa.list_(pa.float32(), dim)


def chunk_embeddings(dim: int, name: str = CHUNK_EMBEDDINGS_NAME) -> Table:
    """One vector per chunk and model version."""
    return Table(
        name,
        pa.schema([
            ("chunk_id", pa.string()),
            ("filing_id", pa.string()),
            ("company_id", pa.string()),
            ("form", pa.string()),
            ("filed_at", pa.date32()),
            ("section_id", pa.string()),
            ("seq", pa.int32()),
            ("etl_version", pa.string()),
            ("model_version", pa.string()),
            (VECTOR, vector_type(dim)),
        ]),
        key=("chunk_id", "model_version"),
    )


def doc_embeddings(dim: int, name: str = DOC_EMBEDDINGS_NAME) -> Table:
    """One vector per filing, model version and pooling method (mean, aggregator)."""
    return Table(
        name,
        pa.schema([
            ("filing_id", pa.string()),
            ("company_id", pa.string()),
            ("form", pa.string()),
            ("filed_at", pa.date32()),
            ("n_chunks", pa.int32()),
            ("etl_version", pa.string()),
            ("model_version", pa.string()),
            ("method", pa.string()),
            (VECTOR, vector_type(dim)),
        ]),
        key=("filing_id", "model_version", "method"),
    )


RELATIONAL_TABLES: tuple[Table, ...] = (
    FILINGS, SECTIONS, CHUNKS, NUMBERS, FACTS, REJECTS, WEBSITE_STATS, GROWTH,
)
TABLES_BY_NAME = {t.name: t for t in RELATIONAL_TABLES}


def table(name: str) -> Table:
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown store table {name!r}; known: {sorted(TABLES_BY_NAME)}") from None


_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    UTC_TS: "TIMESTAMPTZ",
}


def duckdb_type(t: pa.DataType) -> str:
    """DuckDB column type of an Arrow type (fixed-size float lists become FLOAT[D])."""
    if pa.types.is_fixed_size_list(t):
        return f"{duckdb_type(t.value_type)}[{t.list_size}]"
    try:
        return _DUCKDB_TYPES[t]
    except KeyError:
        raise TypeError(f"no DuckDB type declared for Arrow type {t}") from None


def duckdb_ddl(t: Table) -> str:
    # No PRIMARY KEY: upserts are delete-then-insert in one transaction, which
    # DuckDB's eager constraint checks can refuse; the store enforces keys.
    cols = ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in t.schema)
    return f'CREATE TABLE IF NOT EXISTS "{t.name}" ({cols})'
