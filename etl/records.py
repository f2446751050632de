"""A parsed filing (or a rejected file) as Arrow rows of the store's tables.

Pure: builds `pyarrow.Table`s against the schemas declared in
`featurestore.schemas`, so column names are never retyped here.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa

from featurestore.schemas import CHUNKS, FACTS, FILINGS, NUMBERS, REJECTS, SECTIONS
from etl import ETL_VERSION
from etl.documents import FilingRejected, ParsedFiling
from etl.xbrl import STAGE as XBRL_STAGE
from etl.xbrl import facts_table


def _table(schema: pa.Schema, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def filing_tables(parsed: ParsedFiling, path: str, n_bytes: int, now: datetime | None = None) -> dict[str, pa.Table]:
    """Rows of filings, sections, chunks and numbers for one parsed filing."""
    now = now or datetime.now(timezone.utc)
    m = parsed.meta
    fid = parsed.filing_id
    filing = {
        "filing_id": fid, "source": m.source, "form": m.form, "company_id": m.company_id,
        "company_name": m.company_name, "ticker": m.ticker, "accession_number": m.accession_number,
        "period_end": m.period_end, "filed_at": m.filed_at, "content_sha256": parsed.content_sha256,
        "path": path, "n_bytes": n_bytes, "n_chars": len(parsed.text),
        "etl_version": parsed.etl_version, "ingested_at": now,
    }
    sections = [
        {"filing_id": fid, "section_id": sid, "seq": i, "title": title, "char_start": span.start, "char_end": span.end}
        for i, (sid, title, span) in enumerate(parsed.sections)
    ]
    chunks, numbers = [], []
    for c in parsed.chunks:
        chunks.append({
            "chunk_id": c.chunk_id, "filing_id": fid, "section_id": c.section_id, "seq": c.seq,
            "text": c.text, "n_tokens": c.n_tokens, "etl_version": parsed.etl_version,
        })
        for n, start, end in c.numbers:
            numbers.append({
                "chunk_id": c.chunk_id, "filing_id": fid, "char_start": start, "char_end": end,
                "raw": n.raw, "value": n.value, "unit": n.unit, "scale": n.scale, "kind": n.kind,
            })
    fact_rejects = [
        reject_row(path, parsed.content_sha256, m.source,
                   FilingRejected(XBRL_STAGE, r.reason, r.detail), now, item=fact_reject_item(r, i))
        for i, r in enumerate(parsed.fact_rejects)
    ]
    return {
        FILINGS.name: _table(FILINGS.schema, [filing]),
        SECTIONS.name: _table(SECTIONS.schema, sections),
        CHUNKS.name: _table(CHUNKS.schema, chunks),
        NUMBERS.name: _table(NUMBERS.schema, numbers),
        FACTS.name: facts_table(parsed.facts, fid),
        REJECTS.name: _table(REJECTS.schema, fact_rejects),
    }


def fact_reject_item(r, index: int) -> str:
    """A rejected fact's `item`: its element id (the detail starts "ix:nonFraction f-12: …")."""
    head = r.detail.split(":", 2)
    return head[1].strip() if len(head) > 2 and head[1].strip() else f"{r.concept}#{index}"


def reject_row(path: str, sha256: str | None, source: str, err: FilingRejected,
               now: datetime | None = None, item: str = "") -> dict:
    return {
        "path": path, "content_sha256": sha256 or "", "source": source, "stage": err.stage, "item": item,
        "reason": err.reason, "detail": err.detail, "etl_version": ETL_VERSION,
        "at": now or datetime.now(timezone.utc),
    }


def reject_table(rows: list[dict]) -> pa.Table:
    return _table(REJECTS.schema, rows)
