"""EDGAR full-submission `.txt` files: the SGML envelope around a filing's documents.

    <SEC-DOCUMENT>0000320193-24-000123.txt : 20241101
    <SEC-HEADER>…ACCESSION NUMBER: … CONFORMED SUBMISSION TYPE: 10-K …</SEC-HEADER>
    <DOCUMENT><TYPE>10-K<SEQUENCE>1<FILENAME>aapl-20240928.htm<TEXT>…</TEXT></DOCUMENT>
    <DOCUMENT><TYPE>EX-21.1 …</DOCUMENT>

`read_submission` returns the primary document (the one whose TYPE is the
submission's form) and the header's metadata. Filings from before ~2001 have
plain-text primary documents; `plain_text_to_html` turns those into HTML the
sanitiser reads (paragraphs at blank lines, line breaks kept).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date

from etl.xbrl import normalize_cik

_HEADER_RE = re.compile(rb"<(?:SEC|IMS)-HEADER>(.*?)</(?:SEC|IMS)-HEADER>", re.DOTALL | re.IGNORECASE)
_DOCUMENT_RE = re.compile(rb"<DOCUMENT>(.*?)(?:</DOCUMENT>|\Z)", re.DOTALL | re.IGNORECASE)
_FIELD_RE = re.compile(rb"<(TYPE|SEQUENCE|FILENAME|DESCRIPTION)>([^\r\n<]*)", re.IGNORECASE)
_TEXT_RE = re.compile(rb"<TEXT>(.*?)(?:</TEXT>|\Z)", re.DOTALL | re.IGNORECASE)
_HEADER_FIELDS = {
    b"ACCESSION NUMBER": "accession_number",
    b"CONFORMED SUBMISSION TYPE": "form",
    b"CONFORMED PERIOD OF REPORT": "period_end",
    b"FILED AS OF DATE": "filed_at",
    b"COMPANY CONFORMED NAME": "company_name",
    b"CENTRAL INDEX KEY": "company_id",
}
_HEADER_LINE_RE = re.compile(rb"^\s*([A-Z][A-Z \-/]+?):\s*(.*?)\s*$", re.MULTILINE)
_HTML_HINT = re.compile(rb"<\s*(?:html|body|div|p|table|font)\b", re.IGNORECASE)


class SubmissionError(ValueError):
    """An envelope that cannot give a filing (no primary document, no documents)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Submission:
    meta: dict            # FilingMeta fields read from the header
    document: bytes       # the primary document, HTML (plain text already wrapped)
    file_name: str | None
    is_plain_text: bool


def looks_like_submission(raw: bytes) -> bool:
    head = raw[:2048].lstrip().upper()
    return head.startswith((b"<SEC-DOCUMENT>", b"<SEC-HEADER>", b"<IMS-DOCUMENT>", b"<IMS-HEADER>", b"<DOCUMENT>"))


def _date(v: bytes) -> date | None:
    s = v.decode("ascii", "replace").strip()
    if re.fullmatch(r"\d{8}", s):
        try:
            return date(int(s[:4]), int(s[4:6]), int(s[6:]))
        except ValueError:
            return None
    return None


def parse_header(header: bytes) -> dict:
    """The metadata fields of an SEC header (first filer only)."""
    meta: dict = {}
    for m in _HEADER_LINE_RE.finditer(header):
        key = _HEADER_FIELDS.get(m.group(1).strip().upper())
        if key is None or key in meta or not m.group(2):
            continue
        value = m.group(2)
        if key in ("period_end", "filed_at"):
            d = _date(value)
            if d is not None:
                meta[key] = d
        elif key == "company_id":
            cik = normalize_cik(value.decode("ascii", "replace"))
            if cik:
                meta[key] = cik
        else:
            meta[key] = value.decode("latin-1").strip()
    return meta


def plain_text_to_html(text: bytes) -> bytes:
    """Plain-text filings: paragraphs at blank lines, each line kept as a line."""
    s = text.decode("latin-1") if b"\x00" not in text else text.decode("latin-1").replace("\x00", "")
    s = re.sub(r"</?PAGE>", "\n\n", s, flags=re.IGNORECASE)
    paras = re.split(r"\n[ \t]*\n", s.replace("\r\n", "\n"))
    body = "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n") if line.strip()) + "</p>"
        for p in paras if p.strip()
    )
    return f"<html><body>{body}</body></html>".encode("utf-8")


def read_submission(raw: bytes) -> Submission:
    header_m = _HEADER_RE.search(raw)
    meta = parse_header(header_m.group(1)) if header_m else {}
    form = (meta.get("form") or "").upper()
    documents = []
    for dm in _DOCUMENT_RE.finditer(raw):
        body = dm.group(1)
        fields = {k.upper().decode(): v.strip().decode("latin-1") for k, v in _FIELD_RE.findall(body[:2048])}
        tm = _TEXT_RE.search(body)
        documents.append((fields, tm.group(1) if tm else b""))
    if not documents:
        raise SubmissionError("no_documents", "the envelope holds no <DOCUMENT>; is this an EDGAR full submission?")
    primary = None
    for fields, text in documents:
        doc_type = fields.get("TYPE", "").upper()
        if doc_type == form or (not form and doc_type in ("10-K", "10-Q", "10-K/A", "10-Q/A", "20-F", "10-K405")):
            primary = (fields, text)
            break
    if primary is None:
        types = ", ".join(sorted({f.get("TYPE", "?") for f, _ in documents}))
        raise SubmissionError(
            "no_primary_document",
            f"no document of the submission's type {form or '(unknown)'} among: {types}",
        )
    fields, text = primary
    if not form:
        meta["form"] = fields.get("TYPE")
    # Inline XBRL and HTML documents sometimes sit inside <XBRL> / <XML> wrappers.
    text = re.sub(rb"^\s*<(?:XBRL|XML)>\s*|\s*</(?:XBRL|XML)>\s*$", b"", text, flags=re.IGNORECASE)
    plain = _HTML_HINT.search(text[:65536]) is None
    return Submission(meta, plain_text_to_html(text) if plain else text, fields.get("FILENAME"), plain)
