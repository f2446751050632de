"""Query a store: read-only SQL, and similar chunks or filings by vector, full text or both.

Local:
    python -m jobs.query sql --store stores/demo "SELECT form, count(*) FROM filings GROUP BY 1"
    python -m jobs.query sql --store stores/demo "SELECT * FROM chunk_embeddings LIMIT 3" --format json
    python -m jobs.query similar --store stores/demo --model minilm --text "revenue growth in services" -k 5
    python -m jobs.query similar --store stores/demo --model minilm --chunk-id CHUNK --form 10-K --since 2023-01-01
    python -m jobs.query similar --store stores/demo --model minilm --filing-id FILING          # doc vectors
    python -m jobs.query similar --store stores/demo --model minilm --text "share repurchases" --mode hybrid

On a cluster (reads only; no Ray needed):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.query similar --store /shared/stores/main --model minilm --text "supply chain risk"

`sql` runs on a read-only connection: statements that would change the store (DROP,
DELETE, INSERT, UPDATE, CREATE, ATTACH, COPY …) are refused with exit status 2.
Embedding tables appear to SQL as the views `chunk_embeddings` and `doc_embeddings`.

`similar` takes --model as a name or folder (as `jobs.embed` does) or as a model
version already in the store (e.g. minilm-3aaf3259c5e8). Free text (--text) is embedded
with that same model: numbers in it are tagged exactly as the ingest tags chunks.
--mode text (BM25 over chunk text) and hybrid (reciprocal-rank fusion of both) apply to
chunks. Filters (--company, --form, --since, --until, --section) are applied before the
search. Prints score, company, form, filed_at, section and a snippet per hit.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from jobs.cli_types import iso_date, positive_int

FORMATS = ("table", "csv", "json")
# First keywords of statements that only read. Anything else is refused before it reaches DuckDB
# (whose read-only connection is the second guard: COPY ... TO or ATTACH could still write files).
READ_KEYWORDS = ("select", "with", "from", "describe", "show", "summarize", "explain", "values", "table",
                 "pragma")
MAX_CELL = 60
SNIPPET_CHARS = 90


class QueryRefused(ValueError):
    """A statement given to `jobs.query sql` would change the store."""


# --- SQL ---------------------------------------------------------------------------

def _strip_sql_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"--[^\n]*", " ", sql)


def check_read_only(sql: str) -> str:
    """The statement, if it reads only; else QueryRefused saying why and what to do."""
    body = _strip_sql_comments(sql).strip().rstrip(";").strip()
    if not body:
        raise QueryRefused("empty query; give one SELECT statement")
    if ";" in re.sub(r"'(?:[^']|'')*'", "''", body):  # a second statement outside string literals
        raise QueryRefused("several statements in one query; give one SELECT statement at a time")
    first = body.split(None, 1)[0].lower()
    if first == "pragma" and "=" in body:
        raise QueryRefused("PRAGMA that sets a value changes the connection; only reading PRAGMAs are allowed")
    if first not in READ_KEYWORDS:
        raise QueryRefused(f"{first.upper()} would change the store, and `jobs.query sql` is read-only; "
                           f"write through the jobs (jobs.ingest, jobs.embed) or Store.transaction() instead")
    return body


def run_sql(store_path: Path, sql: str) -> pa.Table:
    from featurestore import ReadOnlyQueryError, Store
    body = check_read_only(sql)
    try:
        return Store(store_path).sql(body)
    except ReadOnlyQueryError as e:
        raise QueryRefused(str(e)) from e


# --- output ------------------------------------------------------------------------

def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e6 else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        shown = ", ".join(_cell(x) for x in v[:4])
        return f"[{shown}{', …' if len(v) > 4 else ''}] ({len(v)})"
    s = str(v).replace("\n", " ")
    return s if len(s) <= MAX_CELL else s[:MAX_CELL - 1] + "…"


def format_rows(table: pa.Table, fmt: str) -> str:
    """`table` as an aligned text table, CSV or JSON lines-free array."""
    rows = table.to_pylist()
    cols = table.column_names
    if fmt == "json":
        return json.dumps(rows, default=lambda o: o.isoformat() if isinstance(o, date) else str(o), indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r[c] is None else r[c] for c in cols])
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(r[c]) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


# --- similar -----------------------------------------------------------------------

def _lit(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def build_where(company: str | None = None, form: str | None = None, since: date | None = None,
                until: date | None = None, section: str | None = None) -> str | None:
    """A SQL predicate over the embedding tables' filter columns (None when nothing is filtered)."""
    parts = []
    if company:
        parts.append(f"company_id = {_lit(company)}")
    if form:
        parts.append(f"form = {_lit(form)}")
    if since:
        parts.append(f"filed_at >= DATE '{since.isoformat()}'")
    if until:
        parts.append(f"filed_at <= DATE '{until.isoformat()}'")
    if section:
        parts.append(f"section_id = {_lit(section)}")
    return " AND ".join(parts) or None


def resolve_model_version(store, model: str) -> tuple[str, Any]:
    """(model version, embedder or None): a version already in the store, else load the model."""
    from featurestore.vectors import embedding_tables
    known = set(embedding_tables(store).column("model_version").to_pylist())
    if model in known:
        return model, None
    from models.embedding_models import load_embedder
    emb = load_embedder(model, store=store)
    if emb.model_version not in known:
        raise LookupError(f"{model} is model version {emb.model_version}, which has no embeddings in "
                          f"{store.path} (it has: {sorted(known) or 'none'}); run python -m jobs.embed "
                          f"--store {store.path} --model {model} first")
    return emb.model_version, emb


def embedder_for_text(store, model: str, model_version: str, emb):
    """The embedder of `model_version` for free text: the loaded one, or the registry's checkpoint."""
    if emb is not None:
        return emb
    from featurestore.registry import Registry
    from models.embedding_models import load_embedder
    rec = Registry.for_store(store).model(model_version)
    emb = load_embedder(rec.checkpoint_path, store=store, pooling=rec.config.get("pooling", "mean"))
    if emb.model_version != model_version:
        raise ValueError(f"the registry's checkpoint for {model_version} ({rec.checkpoint_path}) now loads as "
                         f"{emb.model_version}: its files changed; pass --model with the checkpoint instead")
    return emb


def _strip(text: str | None) -> str:
    from models.tokenizer import strip_tags
    return " ".join(strip_tags(text or "").split())


def present(store, hits: pa.Table, level: str) -> pa.Table:
    """score, company, form, filed_at, section, snippet (+ the id) for search hits."""
    from featurestore.schemas import CHUNKS, FILINGS
    rows = hits.to_pylist()
    fids = sorted({r["filing_id"] for r in rows if r.get("filing_id")})
    names: dict[str, str] = {}
    if fids:
        got = store.sql(f"SELECT filing_id, company_name FROM {FILINGS.name} "
                        f"WHERE filing_id IN (SELECT unnest(?::VARCHAR[]))", [fids])
        names = dict(zip(got.column("filing_id").to_pylist(), got.column("company_name").to_pylist()))
    if level == "chunk":
        ids = [r["chunk_id"] for r in rows]
        texts = {}
        if ids:
            got = store.sql(f"SELECT chunk_id, text FROM {CHUNKS.name} "
                            f"WHERE chunk_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
            texts = dict(zip(got.column("chunk_id").to_pylist(), got.column("text").to_pylist()))
        snippet = {i: _strip(texts.get(i)) for i in ids}
    else:
        snippet = {}
        if fids:  # a filing's snippet: the start of its first chunk
            got = store.sql(f"SELECT filing_id, arg_min(text, seq) AS text FROM {CHUNKS.name} "
                            f"WHERE filing_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1", [fids])
            snippet = {f: _strip(t) for f, t in zip(got.column("filing_id").to_pylist(),
                                                    got.column("text").to_pylist())}
    out = []
    for r in rows:
        key = r["chunk_id"] if level == "chunk" else r["filing_id"]
        company = names.get(r.get("filing_id")) or r.get("company_id")
        out.append({"score": float(r["score"]), "company": company, "form": r.get("form"),
                    "filed_at": r.get("filed_at"), "section": r.get("section_id") if level == "chunk" else "",
                    "snippet": snippet.get(key, "")[:SNIPPET_CHARS],
                    ("chunk_id" if level == "chunk" else "filing_id"): key})
    schema = pa.schema([("score", pa.float64()), ("company", pa.string()), ("form", pa.string()),
                        ("filed_at", pa.date32()), ("section", pa.string()), ("snippet", pa.string()),
                        ("chunk_id" if level == "chunk" else "filing_id", pa.string())])
    return pa.Table.from_pylist(out, schema=schema)


def run_similar(a: argparse.Namespace) -> pa.Table:
    from featurestore import Store
    from featurestore import vectors as vs

    store = Store(a.store)
    level = "doc" if a.filing_id else "chunk" if a.chunk_id else a.level
    if a.mode != "vector" and (level != "chunk" or not a.text):
        raise ValueError(f"--mode {a.mode} searches chunk text: use it with --text and --level chunk")
    if level == "doc" and a.section:
        raise ValueError("--section filters chunks; document vectors have no section")
    where = build_where(a.company, a.form, a.since, a.until, a.section)
    if a.mode == "text":
        hits = vs.full_text(store, a.text, k=a.k, where=where)
        return present(store, hits, "chunk")
    model_version, emb = resolve_model_version(store, a.model)
    if a.chunk_id:
        hits = vs.similar_to_chunk(store, model_version, a.chunk_id, k=a.k, where=where)
    elif a.filing_id:
        hits = vs.similar_to_filing(store, model_version, a.filing_id, k=a.k, where=where, method=a.method)
    else:
        vector = embedder_for_text(store, a.model, model_version, emb).embed_texts([a.text])[0]
        if a.mode == "hybrid":
            hits = vs.hybrid(store, model_version, a.text, vector, k=a.k, where=where)
        elif level == "doc":
            hits = vs.similar(store, "doc", model_version, vector, k=a.k, where=where, method=a.method)
        else:
            hits = vs.similar(store, "chunk", model_version, vector, k=a.k, where=where)
    return present(store, hits, level)


# --- command line ------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m jobs.query", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    q = sub.add_parser("sql", help="run one read-only SQL statement")
    q.add_argument("query", help="one SELECT (or WITH/DESCRIBE/SHOW …) statement")
    q.add_argument("--store", required=True, type=Path)
    q.add_argument("--format", default="table", choices=FORMATS)

    s = sub.add_parser("similar", help="chunks or filings similar to a chunk, a filing or free text")
    s.add_argument("--store", required=True, type=Path)
    s.add_argument("--model", default=None, help="name, folder or stored model version (not needed for --mode text)")
    what = s.add_mutually_exclusive_group(required=True)
    what.add_argument("--chunk-id")
    what.add_argument("--filing-id")
    what.add_argument("--text")
    s.add_argument("--level", default="chunk", choices=("chunk", "doc"), help="what --text is compared with")
    s.add_argument("--mode", default="vector", choices=("vector", "text", "hybrid"))
    s.add_argument("--method", default="mean", help="document vectors: mean or aggregator")
    s.add_argument("-k", type=positive_int, default=10)
    s.add_argument("--company", help="company_id (CIK or company number)")
    s.add_argument("--form")
    s.add_argument("--since", type=iso_date)
    s.add_argument("--until", type=iso_date)
    s.add_argument("--section", help="section_id, e.g. 7 for 10-K Item 7")
    s.add_argument("--format", default="table", choices=FORMATS)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    try:
        if a.command == "sql":
            result = run_sql(a.store, a.query)
        else:
            if a.mode != "text" and not a.model:
                ap.error("similar needs --model (a name, folder or stored model version) unless --mode text")
            result = run_similar(a)
    except QueryRefused as e:
        print(f"refused: {e}", file=sys.stderr)
        return 2
    except (LookupError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_rows(result, a.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
