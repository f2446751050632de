"""Filing metadata the document itself may not carry: sidecar JSON or file name.

Unknown fields stay None: nothing is invented. Sidecar (`<file>.json` beside
the filing) wins over the file name.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path

# EDGAR fixture style: aapl-10-k-2024-11-01.html, brk-a-10-q-2023-05-01.htm
_TICKER_FORM_DATE = re.compile(
    r"^(?P<ticker>[a-z][a-z0-9.]*(?:-[a-z])?)-(?P<form>10-k|10-q|20-f|40-f|8-k|10-k405|10-ksb)(?P<amend>-a)?"
    r"-(?P<date>\d{4}-\d{2}-\d{2})$",
    re.IGNORECASE,
)
# Accession number: 0000950153-99-001234 (filer id, year, sequence)
_ACCESSION = re.compile(r"^(?P<acc>\d{10}-\d{2}-\d{6})$")
_SUFFIXES = (".gz", ".html", ".htm", ".xhtml", ".txt")


class MetadataError(ValueError):
    """A sidecar that cannot be read or holds malformed values."""


@dataclass(frozen=True)
class FilingMeta:
    source: str = "sec"
    form: str | None = None
    company_id: str | None = None
    company_name: str | None = None
    ticker: str | None = None
    accession_number: str | None = None
    period_end: date | None = None
    filed_at: date | None = None


def _stem(name: str) -> str:
    stem = name
    changed = True
    while changed:
        changed = False
        for suf in _SUFFIXES:
            if stem.lower().endswith(suf):
                stem = stem[: -len(suf)]
                changed = True
    return stem


def from_file_name(name: str) -> FilingMeta:
    stem = _stem(Path(name).name)
    m = _TICKER_FORM_DATE.match(stem)
    if m:
        form = m.group("form").upper() + ("/A" if m.group("amend") else "")
        return FilingMeta(
            form=form,
            ticker=m.group("ticker").upper(),
            filed_at=date.fromisoformat(m.group("date")),
        )
    m = _ACCESSION.match(stem)
    if m:
        return FilingMeta(accession_number=m.group("acc"))
    return FilingMeta()


def _parse_date(key: str, value) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise MetadataError(f"sidecar field {key!r} is {value!r}, not a YYYY-MM-DD date") from None


def from_sidecar(data: dict) -> dict:
    """The sidecar's known fields, typed; unknown keys are ignored."""
    if not isinstance(data, dict):
        raise MetadataError(f"sidecar must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(FilingMeta)}
    out = {}
    for k, v in data.items():
        if k not in known or v in (None, ""):
            continue
        out[k] = _parse_date(k, v) if k in ("period_end", "filed_at") else str(v)
    return out


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def filing_meta(path: Path, sidecar_bytes: bytes | None, from_document: dict | None = None) -> FilingMeta:
    """Metadata in layers: the file name, then what the document says (EDGAR
    envelope header, XBRL cover facts), then the sidecar, which has the last word."""
    meta = from_file_name(path.name)
    if from_document:
        meta = replace(meta, **{k: v for k, v in from_document.items() if v not in (None, "")})
    if sidecar_bytes is not None:
        try:
            data = json.loads(sidecar_bytes)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise MetadataError(f"sidecar {sidecar_path(path).name} is not valid JSON: {e}") from None
        meta = replace(meta, **from_sidecar(data))
    return meta
