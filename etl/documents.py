"""One filing file (bytes) -> a `ParsedFiling`: clean text, numbers, sections, chunks.

Pure: it takes bytes and returns data; the pipeline does the reading and
writing. Every way a file can be unusable raises `FilingRejected` with the
stage and a short reason, which the pipeline turns into a `rejects` row.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import re
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from etl import ETL_VERSION
from etl.chunking import DEFAULT_MAX_TOKENS, Chunk, Span, TokenCounter, approx_tokens, chunk_document
from etl.items import WHOLE_DOCUMENT_SECTION, find_items, section_tuples  # noqa: F401 (re-exported)
from etl.cover import cover_metadata
from etl.html_source import aligned_lower
from etl.layout import blocks_if_positioned
from etl.xbrl import Fact, FactReject, XbrlResult, dei_metadata, extract_facts, is_inline_xbrl
from etl.edgar_submission import SubmissionError, looks_like_submission, read_submission
from etl.metadata import FilingMeta, MetadataError, filing_meta
from etl.numbers import (
    CellRole, Number, TableContext, find_numbers, label_role, strip_markers, table_context,
)
from etl.sanitize import Block, TableBlock, TextBlock, html_to_blocks
from etl.tables import visible

HTML_SUFFIXES = (".htm", ".html", ".xhtml", ".htm.gz", ".html.gz", ".xhtml.gz")
FILING_SUFFIXES = HTML_SUFFIXES + (".txt", ".txt.gz")  # .txt: EDGAR full submissions
MAX_INPUT_BYTES = 256 * 1024 * 1024

_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
_TAG_RE = re.compile(rb"<\s*[A-Za-z!?/]")
# WHATWG Encoding Standard: these labels mean windows-1252, and EDGAR filings
# labelled iso-8859-1 routinely hold cp1252 curly quotes, dashes and euro signs.
_CP1252_LABELS = frozenset({
    "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819", "ibm819",
    "us-ascii", "ascii", "ansi_x3.4-1968", "iso-ir-100", "csisolatin1", "windows-1252", "x-cp1252",
})
_NUMBER_CELL_RE = re.compile(r"^[\s$£€(\-−–—]*(?:US)?[$£€]?[\s(\-−–]*[\d.,]+\s*%?\)?\s*%?$|^[—–―-]+$")
_HAS_DIGIT_OR_DASH = re.compile(r"[\d—–―-]")
_HAS_DIGIT = re.compile(r"\d")
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32)])  # b < 9 or 13 < b < 32
_CAPTION_CHARS = 400
_GROUP_LABEL_CHARS = 40
_SCALE_CARRY_CHARS = 2500


class FilingRejected(Exception):
    """A file that cannot become a filing; stage and reason go to `rejects`."""

    def __init__(self, stage: str, reason: str, detail: str):
        super().__init__(f"{stage}/{reason}: {detail}")
        self.stage = stage
        self.reason = reason
        self.detail = detail


@dataclass
class ParsedFiling:
    filing_id: str
    content_sha256: str
    meta: FilingMeta
    encoding: str
    text: str
    numbers: list[Number]
    blocks: list[Span]
    sections: list[tuple[str, str, Span]]  # (section_id, title, span)
    chunks: list[Chunk] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    fact_rejects: list[FactReject] = field(default_factory=list)
    etl_version: str = ETL_VERSION


def filing_id_for(sha256: str) -> str:
    """Deterministic id: the same bytes always make the same filing."""
    return sha256[:24]


def decompress(raw: bytes, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
            out = f.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as e:  # zlib.error: corrupt deflate data mid-stream
        raise FilingRejected("read", "bad_gzip", f"gzip stream is corrupt or truncated ({e}); re-download the file") from None
    if len(out) > max_bytes:
        raise FilingRejected("read", "too_large", f"decompresses to more than {max_bytes} bytes")
    return out


def decode_html(raw: bytes) -> tuple[str, str]:
    """Text and encoding of an HTML file; binary files are refused, not guessed at."""
    if not raw.strip():
        raise FilingRejected("read", "empty_file", "the file is empty or only whitespace")
    head = raw[:8192]
    if head.startswith(b"%PDF"):
        raise FilingRejected("decode", "not_html", "this is a PDF, not HTML; convert it or drop it")
    if head.startswith((b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        raise FilingRejected("decode", "not_html", "this is a binary file (archive or image), not HTML")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise FilingRejected("decode", "bad_encoding", "UTF-16 byte-order mark but undecodable content") from None
        if not _TAG_RE.search(text[:65536].encode("utf-8", "replace")):
            raise FilingRejected("decode", "not_html", "UTF-16 text with no HTML tags in the first 64 Ki characters")
        return text, "utf-16"
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))  # a C count, not a loop over bytes
    if controls > len(head) * 0.01:
        raise FilingRejected("decode", "not_html", f"{controls} control bytes in the first {len(head)}: binary content")
    if not _TAG_RE.search(raw[:65536]):
        raise FilingRejected("decode", "not_html", "no HTML tags in the first 64 KiB")
    return _decode_text(raw)


def _decode_text(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    m = _CHARSET_RE.search(raw[:4096])
    if m:
        enc = m.group(1).decode("ascii", "replace").lower()
        if enc in _CP1252_LABELS:
            enc = "cp1252"
        # a UTF-16/32 label on 8-bit bytes is wrong by construction (HTML says: ignore it)
        if not enc.startswith(("utf-16", "utf16", "utf-32", "utf32")):
            try:
                return raw.decode(enc), enc
            except (LookupError, UnicodeDecodeError):
                pass
    # cp1252 is what EDGAR's pre-2010 filers mostly wrote; bytes it lacks map
    # to U+FFFD instead of failing the file.
    return raw.decode("cp1252", errors="replace"), "cp1252"


def _is_heading_row(row: list[str]) -> bool:
    """A label with nothing beside it: it titles the rows below."""
    first = row[0] if row else ""
    return bool(first) and not any(row[1:]) and not _NUMBER_CELL_RE.match(visible(first))


def _row_label(row: list[str]) -> str:
    for cell in row:
        v = visible(cell).strip()
        if v and not _NUMBER_CELL_RE.match(v):
            return v
    return ""


def _cell_currency(grid: list[list[str]]) -> str | None:
    blob = "".join(["".join(row) for row in grid])  # one C scan rules out most tables
    if "$" not in blob and "£" not in blob and "€" not in blob:
        return None
    for row in grid:
        for cell in row:
            if "$" in cell:
                return "USD"
            if "£" in cell:
                return "GBP"
            if "€" in cell:
                return "EUR"
    return None


def _column_scales(grid: list[list[str]], header_rows: int = 4) -> dict[int, int] | None:
    """Scales of single columns when a scale phrase heads only some value columns, else None.

    wmt's share-repurchase table heads its columns "Total Number of Shares
    Repurchased | Average Price Paid per Share | Total Investment (in billions)":
    the phrase scales its own column only. It scales the whole table when it sits
    in the label column, heads every value column, or stands in a header cell
    whose neighbours are empty (a colspan's text stands in its first column only).
    """
    for r, row in enumerate(grid[:header_rows]):
        texts = [visible(c).strip() for c in row]
        if not any(("illion" in t or "housand" in t) for t in texts):
            continue
        scales = [table_context("", t).scale if t else 0 for t in texts]
        if not any(scales):
            continue
        if scales[0]:
            return None
        value_cols = {j for below in grid[r + 1:] for j, c in enumerate(below[1:], 1)
                      if j < len(row) and _HAS_DIGIT.search(c)}
        if not value_cols or any(not texts[j] for j in value_cols) or all(scales[j] for j in value_cols):
            return None
        return {j: scales[j] for j in value_cols}
    return None


class _DocWriter:
    """Accumulates blocks into the document text and number list."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.numbers: list[Number] = []
        self.blocks: list[Span] = []
        self.recent_prose: list[str] = []  # for table captions
        self.last_caption = ""
        self.last_scale: tuple[int, TableContext] | None = None  # (end offset, context) of the last scaled table

    def _shift(self, nums: list[Number], offset: int) -> None:
        for n in nums:  # fresh objects from find_numbers: move them in place
            n.start += offset
            n.end += offset
        self.numbers.extend(nums)

    def _open_block(self) -> int:
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        return self.length

    def add_prose(self, marked: str) -> None:
        text, hints = strip_markers(marked)
        start = self._open_block()
        self._shift(find_numbers(text, hints), start)
        self.parts.append(text)
        self.length += len(text)
        self.blocks.append(Span(start, self.length))
        self.recent_prose = (self.recent_prose + [text])[-3:]

    def add_table(self, grid: list[list[str]]) -> None:
        header_text = " ".join(visible(c) for row in grid[:4] for c in row)
        # "The following tables ... (in millions):" captions every table that
        # follows it directly, not only the first.
        caption = " ".join(self.recent_prose)[-_CAPTION_CHARS:] if self.recent_prose else self.last_caption
        self.last_caption = caption
        ctx = table_context(caption, header_text, _cell_currency(grid))
        start = self._open_block()
        if ctx.scale == 0 and self.last_scale is not None and start - self.last_scale[0] <= _SCALE_CARRY_CHARS:
            # A note's later tables often rely on the "(in millions)" said once above.
            ctx = replace(ctx, scale=self.last_scale[1].scale, share_scale=self.last_scale[1].share_scale)
        # A scale said only in some columns' own headers (not in the caption) is theirs alone.
        # (the header scan is cheap and usually empty; the caption is parsed again only when it is not)
        column_scales = _column_scales(grid) if ctx.scale else None
        if column_scales is not None and table_context(caption, "").scale:
            column_scales = None
        column_ctx = ({j: replace(ctx, scale=sc) for j, sc in column_scales.items()}
                      if column_scales is not None else None)
        lines: list[str] = []
        line_start = start
        group_role = None  # set by a heading row ("Earnings per share:") for the rows below it
        roles: dict[tuple[bool, bool], tuple[CellRole, CellRole]] = {}
        ctx_unscaled = replace(ctx, scale=0)  # a column beside the scaled ones, under no phrase of its own
        for row in grid:
            label = _row_label(row)
            role_name = label_role(label)
            if _is_heading_row(row):
                group_role = role_name
            elif role_name is None and len(label) <= _GROUP_LABEL_CHARS:
                role_name = group_role  # "Basic", "Diluted" under their heading
            key = (role_name == "per_share", role_name == "shares")
            roles_of_row = roles.get(key)
            if roles_of_row is None:  # 4 kinds of row at most: build each pair once per table
                roles_of_row = roles[key] = (CellRole(ctx, *key, whole_cell=True), CellRole(ctx, *key, whole_cell=False))
            value_role, text_role = roles_of_row
            cells, cell_nums, pos = [], [], 0
            for i, marked in enumerate(row):
                if i:
                    pos += 3  # " | "
                if not marked:  # the empty cells of a sparse row: nothing to read
                    cells.append(marked)
                    continue
                if "\x01" in marked or "\x03" in marked:
                    text, hints = strip_markers(marked)
                else:
                    text, hints = marked, None
                if hints or _HAS_DIGIT_OR_DASH.search(text):
                    role = value_role if _NUMBER_CELL_RE.match(text) else text_role
                    if column_ctx is not None:
                        role = replace(role, table=column_ctx.get(i, ctx_unscaled))
                    cell_nums.append((pos, find_numbers(text, hints, role)))
                cells.append(text)
                pos += len(text)
            joined = " | ".join(cells)
            lead = len(joined) - len(joined.lstrip())
            line = joined.strip()
            if not line:
                continue
            if lines:
                line_start += 1  # "\n"
            for off, nums in cell_nums:
                self._shift(nums, line_start + off - lead)
            lines.append(line)
            line_start += len(line)
        text = "\n".join(lines)
        self.parts.append(text)
        self.length += len(text)
        self.blocks.append(Span(start, self.length))
        self.recent_prose = []
        if ctx.scale and column_ctx is None:
            self.last_scale = (self.length, ctx)

    def text(self) -> str:
        return "".join(self.parts)


def document_text(blocks: list[Block]) -> tuple[str, list[Number], list[Span]]:
    """Join blocks into the document text (see the contract in etl/__init__.py)."""
    w = _DocWriter()
    for b in blocks:
        if isinstance(b, TableBlock):
            w.add_table(b.grid)
        elif isinstance(b, TextBlock):
            w.add_prose(b.text)
    return w.text(), w.numbers, w.blocks


def parse_filing(
    raw: bytes,
    path: Path,
    sidecar: bytes | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    count_tokens: TokenCounter = approx_tokens,
    max_bytes: int = MAX_INPUT_BYTES,
) -> ParsedFiling:
    """Parse one filing's bytes; raises FilingRejected for unusable input."""
    if len(raw) > max_bytes:
        raise FilingRejected("read", "too_large", f"{len(raw)} bytes is over the {max_bytes}-byte limit")
    sha = hashlib.sha256(raw).hexdigest()
    try:
        filing_meta(path, sidecar)  # a broken sidecar is refused before any parsing
    except MetadataError as e:
        raise FilingRejected("metadata", "bad_sidecar", str(e)) from None
    content = decompress(raw, max_bytes)
    document_meta: dict = {}
    if looks_like_submission(content):
        try:
            submission = read_submission(content)
        except SubmissionError as e:
            raise FilingRejected("parse", e.reason, e.detail) from None
        content, document_meta = submission.document, submission.meta
    html, encoding = decode_html(content)
    # One lower-case copy serves every case-blind scan of the source below.
    low = aligned_lower(html)
    xbrl = extract_facts(html) if is_inline_xbrl(html, low) else XbrlResult([], [], {})
    try:
        # Accounts software that positions every word absolutely has no usable
        # DOM order: rebuild reading order from the CSS positions instead.
        blocks = blocks_if_positioned(html, low)
        if blocks is None:
            blocks = html_to_blocks(html, low)
    except RecursionError:
        raise FilingRejected("parse", "too_deep", "the HTML nests too deeply to parse") from None
    text, numbers, spans = document_text(blocks)
    if not text.strip():
        raise FilingRejected("parse", "no_visible_text", "the HTML has no visible text after removing hidden content")
    # name < cover-page words < the filing's XBRL cover facts (DEI) < the EDGAR envelope < the sidecar
    meta = filing_meta(path, sidecar, {**cover_metadata(text), **dei_metadata(xbrl.dei), **document_meta})
    fid = filing_id_for(sha)
    sections = section_tuples(find_items(text, spans, meta.form))
    parsed = ParsedFiling(fid, sha, meta, encoding, text, numbers, spans, sections,
                          facts=xbrl.facts, fact_rejects=xbrl.rejects)
    parsed.chunks = chunk_document(
        fid, text, numbers, spans, [(sid, span) for sid, _, span in sections], max_tokens, count_tokens
    )
    return parsed
