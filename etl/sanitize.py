"""Filing HTML -> an ordered list of prose and table blocks.

Built on selectolax (Lexbor) so that the heavy lifting (parsing, text
extraction) runs in C; Python only touches the nodes it must change. Steps:
1. drop what a reader never sees (head, script, style, `display:none`,
   `ix:header`, footnote markers in `<sup>`);
2. replace each `ix:nonFraction` by marker text carrying the filer's `scale`
   (numbers.strip_markers reads it back), so table and prose numbers can use it;
3. mark block boundaries, line breaks and page breaks with control characters;
4. rebuild each outermost table into a grid (tables.build_grid) and leave a
   placeholder where it stood;
5. take the body text once, split it into blocks, and drop page footers
   (page numbers and running footers that stand right before page breaks).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from etl.tables import RawCell, build_grid, visible

BLOCK = "\x05"
PAGE_BREAK = "\x06"
TABLE_MARK = "\x04"

_BLOCK_TAGS = (
    "p,div,h1,h2,h3,h4,h5,h6,li,ul,ol,dl,dt,dd,blockquote,section,article,header,footer,"
    "center,pre,address,figure,figcaption,caption,form,fieldset,nav,aside,main,hr,title"
)
_HIDDEN_SELECTOR = (
    "head,script,style,noscript,template,ix\\:header,xbrli\\:context,[style*='none'],[style*='NONE'],"
    "[style*='None'],[hidden]"
)
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_FOOTNOTE_MARK = re.compile(r"^\(?(?:\d{1,2}|[a-z]|[ivx]{1,4}|[*†‡§¶#]{1,3})\)?$", re.IGNORECASE)
_PAGE_BREAK_STYLE = re.compile(r"page-break-(?:before|after)\s*:\s*always|break-(?:before|after)\s*:\s*page", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?(?:\d{1,3}|[ivxlc]{1,6}|[a-z]-\d{1,3}|\d{1,3}\s*of\s*\d{1,3})$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_MARKERS_RE = re.compile(r"[\x01\x02\x03]")


@dataclass
class TextBlock:
    text: str  # whitespace-collapsed; may hold inline-XBRL markers


@dataclass
class TableBlock:
    grid: list[list[str]]  # clean cells; may hold inline-XBRL markers


Block = TextBlock | TableBlock


_CONTROL_TO_SPACE = str.maketrans({BLOCK: " ", PAGE_BREAK: " ", TABLE_MARK: " ", "\n": " ", "\u200b": ""})


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


def _remove_outermost(nodes: list[LexborNode]) -> None:
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
    _remove_outermost([n for n in tree.css(_HIDDEN_SELECTOR) if _hidden(n)])
    _remove_outermost([n for n in tree.css("sup") if _FOOTNOTE_MARK.match((n.text() or "").strip())])


def _mark_inline_xbrl(tree: LexborHTMLParser) -> None:
    for n in tree.css("ix\\:nonfraction"):
        a = n.attributes
        text = _MARKERS_RE.sub("", n.text(deep=True) or "")
        n.replace_with(f"\x01{a.get('scale') or 0}|{a.get('format') or ''}\x02{text}\x03")


def _mark_structure(tree: LexborHTMLParser) -> None:
    for n in tree.css("br"):
        n.replace_with("\n")
    for n in tree.css("[style*='break']"):
        if _PAGE_BREAK_STYLE.search(n.attributes.get("style") or ""):
            n.insert_after(PAGE_BREAK)
    for n in tree.css(_BLOCK_TAGS):
        n.insert_before(BLOCK)
        n.insert_after(BLOCK)


def _cell_text(cell: LexborNode) -> str:
    t = cell.text(deep=True, separator="") or ""
    return " ".join(t.translate(_CONTROL_TO_SPACE).split())


def _span(value: str | None) -> int:
    try:
        return int(str(value).strip().rstrip(";")) if value is not None else 1
    except ValueError:
        return 1


def _table_rows(table: LexborNode) -> list[list[RawCell]]:
    rows: list[list[RawCell]] = []
    for tr in table.css("tr"):
        # Rows of nested tables belong to their own (flattened) cell text.
        owner = _closest_table(tr)
        if owner is None or owner.mem_id != table.mem_id:
            continue
        cells = []
        child = tr.child
        while child is not None:
            if child.tag in ("td", "th"):
                a = child.attributes
                cells.append(RawCell(_cell_text(child), _span(a.get("colspan")), _span(a.get("rowspan"))))
            child = child.next
        rows.append(cells)
    return rows


def _closest_table(node: LexborNode) -> LexborNode | None:
    p = node.parent
    while p is not None and p.tag != "table":
        p = p.parent
    return p


def _extract_tables(tree: LexborHTMLParser) -> list[list[list[str]]]:
    grids: list[list[list[str]]] = []
    outer = [t for t in tree.css("table") if _closest_table(t) is None]
    for table in outer:
        grid = build_grid(_table_rows(table))
        table.replace_with(f"{BLOCK}{TABLE_MARK}{len(grids)}{TABLE_MARK}{BLOCK}")
        grids.append(grid)
    return grids


def _footer_blocks(pieces: list[str]) -> set[int]:
    """Indexes of blocks that are page footers: short lines standing before page breaks."""
    before_break: list[int] = []
    for i, piece in enumerate(pieces):
        if piece == PAGE_BREAK:
            # the last one or two text blocks before the break
            j, seen = i - 1, 0
            while j >= 0 and seen < 2:
                if pieces[j] not in (PAGE_BREAK,) and not pieces[j].startswith(TABLE_MARK):
                    before_break.append(j)
                    seen += 1
                elif pieces[j].startswith(TABLE_MARK):
                    break
                j -= 1
    drop: set[int] = set()
    shapes = Counter()
    for j in before_break:
        if len(pieces[j]) <= 120:
            shapes[_DIGITS.sub("#", pieces[j].lower())] += 1
    for j in before_break:
        text = pieces[j]
        if _PAGE_NUMBER.match(text):
            drop.add(j)
        elif len(text) <= 120 and shapes[_DIGITS.sub("#", text.lower())] >= 3:
            drop.add(j)  # a running footer repeated on many pages
    return drop


def html_to_blocks(html: str | bytes) -> list[Block]:
    """Visible content of a filing as prose and table blocks, in reading order."""
    tree = LexborHTMLParser(html)
    root = tree.body or tree.root
    if root is None:
        return []
    _drop_hidden(tree)
    _mark_inline_xbrl(tree)
    _mark_structure(tree)
    grids = _extract_tables(tree)
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
    footers = _footer_blocks(pieces)

    blocks: list[Block] = []
    for i, piece in enumerate(pieces):
        if piece == PAGE_BREAK or i in footers:
            continue
        if piece.startswith(TABLE_MARK) and piece.endswith(TABLE_MARK) and piece[1:-1].isdigit():
            grid = grids[int(piece[1:-1])]
            if grid:
                blocks.append(TableBlock(grid))
        else:
            blocks.append(TextBlock(piece))
    return blocks


def _text_pieces(part: str) -> list[str]:
    lines = [collapse_ws(line) for line in part.split("\n")]
    text = "\n".join(line for line in lines if visible(line).strip())
    return [text] if text else []
