"""Filing HTML -> an ordered list of prose and table blocks.

Built on selectolax (Lexbor) so that the heavy lifting (parsing, text
extraction) runs in C; Python only touches the nodes it must change. Steps:
1. mark block boundaries and line breaks in the source string (one regex pass);
2. parse; drop what a reader never sees (head, script, style, `display:none`,
   `ix:header`);
3. in one more tree pass: drop footnote marks in `<sup>`, replace each
   `ix:nonFraction` by marker text carrying the filer's `scale` (numbers.
   strip_markers reads it back), mark page breaks;
4. rebuild each outermost table into a grid (tables.build_grid) and leave a
   placeholder where it stood;
5. take the body text once, split it into blocks, and drop page furniture
   (page numbers, running footers and headers around page breaks).

Every `css()` query is a full traversal in C, so queries are few and combined.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from etl.html_source import NOT_GIVEN, NotGiven, lower_of, strip_controls
from etl.numbers import SCALE_CAPTION_RE
from etl.tables import RawCell, build_grid, visible

BLOCK = "\x05"
PAGE_BREAK = "\x06"
LINE_BREAK = "\x07"  # a <br>; newlines in the source are only whitespace
TABLE_MARK = "\x04"

_BLOCK_TAG_RE = re.compile(
    r"</?(?:p|div|h[1-6]|li|ul|ol|dl|dt|dd|blockquote|section|article|header|footer|center|pre|address"
    r"|figure|figcaption|caption|form|fieldset|nav|aside|main|hr|table)\b",
    re.IGNORECASE,
)
_BR_RE = re.compile(r"<br\b[^>]*>", re.IGNORECASE)
_PAGEBREAK_HR = '<hr style="page-break-after:always">'
# The three source rewrites as one case-sensitive pattern for a lower-cased copy.
# The block names of _BLOCK_TAG_RE, grouped by first letter: `re` tries an
# alternation's branches one by one, and most "<" open a span, td or font,
# which now fail after a test per letter instead of one per name. (At most one
# name can end at a word boundary at a given position, so the order of the
# branches never changes a match.)
_SOURCE_MARKS_LOWER = re.compile(
    r"<(?:(?P<block>/?(?:a(?:rticle|ddress|side)|blockquote|c(?:enter|aption)|d(?:iv|[ltd])"
    r"|f(?:ooter|ig(?:ure|caption)|orm|ieldset)|h(?:[1-6r]|eader)|li|main|nav|ol|p(?:re)?|section|table|ul)\b)"
    r"|(?P<br>br\b[^>]*>)|(?P<pagebreak>!--\s*page\s*break\s*-->))"
)
_HIDDEN_SELECTOR = "head,script,style,noscript,template,ix\\:header,xbrli\\:context,[style*='none' i],[hidden]"
_MARKUP_SELECTOR = "sup,ix\\:nonfraction,[style*='break' i],table"
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_FOOTNOTE_MARK = re.compile(r"^\(?(?:\d{1,2}|[a-z]|[ivx]{1,4}|[*†‡§¶#]{1,3})\)?$", re.IGNORECASE)
_PAGE_BREAK_STYLE = re.compile(r"page-break-(?:before|after)\s*:\s*always|break-(?:before|after)\s*:\s*page", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?(?:\d{1,3}|[ivxlc]{1,6}|[a-z]-\d{1,3}|\d{1,3}\s*of\s*\d{1,3})$", re.IGNORECASE)
_PAGEBREAK_COMMENT = re.compile(r"<!--\s*PAGE\s*BREAK\s*-->", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")


@dataclass
class TextBlock:
    text: str  # whitespace-collapsed; may hold inline-XBRL markers


@dataclass
class TableBlock:
    grid: list[list[str]]  # clean cells; may hold inline-XBRL markers


Block = TextBlock | TableBlock


_CELL_MARKS = (BLOCK, PAGE_BREAK, TABLE_MARK, LINE_BREAK)
# Lexbor's ids of td and th, read from the parser rather than hard-coded.
_CELL_TAG_IDS = frozenset(n.tag_id for n in LexborHTMLParser("<table><tr><td></td><th></th></tr></table>").css("td,th"))


def collapse_ws(text: str) -> str:
    """Collapse whitespace runs (Unicode spaces included) to one space; strip."""
    return " ".join(text.split())


def _hidden(node: LexborNode) -> bool:
    tag = node.tag or ""
    if tag in ("head", "script", "style", "noscript", "template", "ix:header", "xbrli:context"):
        return True
    if "hidden" in node.attributes and tag != "input":
        return True
    style = node.attributes.get("style") or ""
    return bool(_DISPLAY_NONE.search(style))


def remove_outermost(nodes: list[LexborNode]) -> None:
    """Decompose nodes, skipping any whose ancestor is also going (freed memory)."""
    ids = {n.mem_id for n in nodes}
    for n in nodes:
        p = n.parent
        nested = False
        while p is not None:
            if p.mem_id in ids:
                nested = True
                break
            p = p.parent
        if not nested:
            n.decompose()


def _drop_hidden(tree: LexborHTMLParser) -> None:
    remove_outermost([n for n in tree.css(_HIDDEN_SELECTOR) if _hidden(n)])


def _mark_inline(tree: LexborHTMLParser) -> list[LexborNode]:
    """One tree pass: footnote marks go, XBRL facts become markers, page breaks
    get marks. Returns the tables, in document order, for grid extraction.

    Every selector is one traversal of the tree, so they are combined. Nodes are
    only changed after the pass, inner facts before outer ones (a replaced node
    frees its subtree).
    """
    facts, sups, breaks, tables = [], [], [], []
    for n in tree.css(_MARKUP_SELECTOR):
        tag = n.tag
        if tag == "ix:nonfraction":
            facts.append(n)
        elif tag == "sup":
            sups.append(n)
        elif tag == "table":
            tables.append(n)
        if tag != "ix:nonfraction" and _PAGE_BREAK_STYLE.search(n.attributes.get("style") or ""):
            breaks.append(n)
    # Footnote marks go first, so a mark inside a fact ("1,234<sup>(1)</sup>")
    # is not read as part of its value.
    for n in sups:
        if _FOOTNOTE_MARK.match((n.text() or "").strip()):
            n.decompose()
    for n in reversed(facts):
        text = n.text(deep=True) or ""
        if BLOCK in text or _holds_table(n):
            # Invalid inline XBRL (a fact's content is text): a fact wrapped
            # around blocks or a table is left as ordinary content, so its
            # cells and paragraphs stay apart instead of fusing into one value.
            continue
        a = n.attributes
        text = visible(text)  # a nested fact's marker is dropped
        n.replace_with(f"\x01{a.get('scale') or 0}|{a.get('format') or ''}\x02{text}\x03")
    for n in breaks:
        n.insert_after(PAGE_BREAK)
    return tables


def _holds_table(fact: LexborNode) -> bool:
    """Whether a fact element wraps a table (almost every fact is one text node)."""
    child = fact.child
    if child is not None and child.next is None and child.tag == "-text":
        return False
    return fact.css_first("table") is not None


def _mark_blocks_in_source(html: str, low: str | None | NotGiven = NOT_GIVEN) -> str:
    """Put a block marker before every block-level tag, and newlines for <br>.

    Done on the source string (C-level regex scanning) rather than node by node:
    a marker before `<div>` and before `</div>` bounds the block either way.
    Table-structure tags are left alone, so no text lands where the parser
    would move it out of the table.

    Old EDGAR page-break comments become a page-break `<hr>` first. On an
    aligned lower-case copy (html_source.aligned_lower) the three rewrites are
    one case-sensitive scan; otherwise three case-insensitive substitutions.
    Both give the same string: no rewrite creates or hides another's match.
    `low` is `aligned_lower(html)` when the caller has it already.
    """
    low = lower_of(html, low)
    if low is None:
        html = _PAGEBREAK_COMMENT.sub(_PAGEBREAK_HR, html)
        html = _BLOCK_TAG_RE.sub(BLOCK + "\\g<0>", html)
        return _BR_RE.sub(LINE_BREAK, html)
    out: list[str] = []
    pos = 0
    for m in _SOURCE_MARKS_LOWER.finditer(low):
        start = m.start()
        out.append(html[pos:start])
        kind = m.lastgroup
        if kind == "block":
            out.append(BLOCK)
            pos = start  # the tag itself stays
        elif kind == "br":
            out.append(LINE_BREAK)
            pos = m.end()
        else:  # a page-break comment
            out.append(BLOCK + _PAGEBREAK_HR)
            pos = m.end()
    out.append(html[pos:])
    return "".join(out)


def _cell_text(cell: LexborNode) -> str:
    t = cell.text(deep=True, separator="") or ""
    if not t or t.isspace():
        return ""  # spacer cells: most of an EDGAR table
    # This module's marks become spaces and zero-width spaces go. str.translate
    # would do it in one call but has no fast path for non-ASCII text (nbsp is
    # everywhere); `in` and `replace` are memchr-speed.
    for mark in _CELL_MARKS:
        if mark in t:
            t = t.replace(mark, " ")
    if "\u200b" in t:
        t = t.replace("\u200b", "")
    return " ".join(t.split())


def _span(value: str | None) -> int:
    if value is None or value == "1":
        return 1
    try:
        return int(value.strip().rstrip(";"))
    except ValueError:
        return 1


def _table_rows(table: LexborNode, nested: bool | None = None) -> list[list[RawCell]]:
    """Rows of cells of one table. `nested`: whether a table sits inside it (the
    caller may know; else a css query finds out)."""
    rows: list[list[RawCell]] = []
    if nested is None:
        # css() includes the node itself: more than one table means nested ones
        nested = len(table.css("table")) > 1
    for tr in table.css("tr"):
        # Rows of nested tables belong to their own (flattened) cell text.
        if nested:
            owner = _closest_table(tr)
            if owner is None or owner.mem_id != table.mem_id:
                continue
        cells = []
        for child in tr.iter():
            if child.tag_id in _CELL_TAG_IDS:  # an int compare; .tag builds a string
                a = child.attributes
                colspan, rowspan = a.get("colspan"), a.get("rowspan")
                # most cells have no span attribute: skip the parse for them
                cells.append((_cell_text(child),
                              1 if colspan is None else _span(colspan),
                              1 if rowspan is None else _span(rowspan)))
        rows.append(cells)
    return rows


def _closest_table(node: LexborNode) -> LexborNode | None:
    p = node.parent
    while p is not None and p.tag != "table":
        p = p.parent
    return p


def _extract_tables(tables: list[LexborNode]) -> list[list[list[str]]]:
    """`tables`: every table of the tree, in document order."""
    grids: list[list[list[str]]] = []
    outer = []
    # mem_ids of the outer tables that hold a nested one: known from the nested
    # tables' ancestors, which spares a css("table") query per table
    holding: set[int] = set()
    for t in tables:
        owner = _closest_table(t)
        if owner is None:
            outer.append(t)
        else:  # a nested table flattens into its cell: keep its cells apart
            for cell in t.css("td,th"):
                cell.insert_after(" ")
            up = _closest_table(owner)
            while up is not None:
                owner, up = up, _closest_table(up)
            holding.add(owner.mem_id)
    for table in outer:
        grid = build_grid(_table_rows(table, table.mem_id in holding))
        table.replace_with(f"{BLOCK}{TABLE_MARK}{len(grids)}{TABLE_MARK}{BLOCK}")
        grids.append(grid)
    return grids


def _page_furniture(pieces: list[str]) -> set[int]:
    """Indexes of page footers and running headers around page breaks.

    Candidates: the text block right before a break (and the one before that
    when the nearest is a bare page number: "Acme | 2024 Form 10-K" then "21"),
    and the first two text blocks after a break ("Table of Contents" links,
    "Notes to Financial Statements (continued)"). A candidate goes if it is a
    page number, or if its shape (digits masked) recurs at three or more breaks.
    """
    def text_at(j: int) -> bool:
        return 0 <= j < len(pieces) and pieces[j] != PAGE_BREAK and not pieces[j].startswith(TABLE_MARK)

    def step(i: int, d: int) -> int | None:
        j = i + d
        while 0 <= j < len(pieces) and pieces[j] == PAGE_BREAK:
            j += d
        return j if text_at(j) else None

    footers: list[int] = []
    headers: list[int] = []
    drop: set[int] = set()
    for i, piece in enumerate(pieces):
        if piece != PAGE_BREAK:
            continue
        j = step(i, -1)
        if j is not None:
            footers.append(j)
            if _PAGE_NUMBER.match(pieces[j]):
                drop.add(j)
                k = step(j, -1)
                if k is not None:
                    footers.append(k)
        j = step(i, +1)
        if j is not None:
            headers.append(j)
            k = step(j, +1)
            if k is not None:
                headers.append(k)
    for group in (footers, headers):
        # A repeated "(in millions)" is a table caption, not page furniture.
        shape = {j: _DIGITS.sub("#", pieces[j].lower()) for j in group
                 if len(pieces[j]) <= 120 and not SCALE_CAPTION_RE.search(pieces[j])}
        counts = Counter(shape.values())
        drop.update(j for j, sh in shape.items() if counts[sh] >= 3)
    return drop


def html_to_blocks(html: str | bytes, low: str | None | NotGiven = NOT_GIVEN) -> list[Block]:
    """Visible content of a filing as prose and table blocks, in reading order.

    `low`, for a str `html`, is `html_source.aligned_lower(html)` when the
    caller has computed it already (parse_filing shares one copy).
    """
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
        low = NOT_GIVEN
    # The control characters below are this module's in-band markers; a
    # browser never shows them, so stray ones in the input go first.
    clean = strip_controls(html)
    if isinstance(low, str) and len(clean) != len(html):
        # Controls lower-case to themselves, so dropping them from the copy
        # keeps it aligned with the cleaned text (and equal to its
        # aligned_lower in every ASCII position, all the scan looks at).
        low = strip_controls(low)
    html = clean
    tree = LexborHTMLParser(_mark_blocks_in_source(html, low))
    root = tree.body or tree.root
    if root is None:
        return []
    _drop_hidden(tree)
    grids = _extract_tables(_mark_inline(tree))
    root = tree.body or tree.root
    text = root.text(deep=True, separator="") if root is not None else ""

    # Split into pieces: text blocks, table placeholders and page-break marks.
    pieces: list[str] = []
    for part in text.split(BLOCK):
        if PAGE_BREAK in part:
            segs = part.split(PAGE_BREAK)
            for k, seg in enumerate(segs):
                if k:
                    pieces.append(PAGE_BREAK)
                pieces.extend(_text_pieces(seg))
        else:
            pieces.extend(_text_pieces(part))
    furniture = _page_furniture(pieces)

    blocks: list[Block] = []
    for i, piece in enumerate(pieces):
        if piece == PAGE_BREAK or i in furniture:
            continue
        if piece.startswith(TABLE_MARK) and piece.endswith(TABLE_MARK) and piece[1:-1].isdigit():
            grid = grids[int(piece[1:-1])]
            if grid:
                blocks.append(TableBlock(grid))
        else:
            blocks.append(TextBlock(piece))
    return blocks


def _text_pieces(part: str) -> list[str]:
    if not part or part.isspace():
        return []  # most pieces between block marks are bare indentation
    if LINE_BREAK not in part:  # one line: the usual paragraph
        text = collapse_ws(part)
        return [text] if visible(text).strip() else []
    lines = [collapse_ws(line) for line in part.split(LINE_BREAK)]
    text = "\n".join(line for line in lines if visible(line).strip())
    return [text] if text else []
