"""One HTML table -> a clean grid of cell strings.

EDGAR filers lay a value out over three cells (`$` | `1,234` | `)`), use
colspan for year headers, spacer rows and columns for layout, and rowspan for
labels. `build_grid` undoes all of that so that every kept row reads as
`label | value | value`. The rules are listed in `etl/__init__.py`.

This module knows nothing about HTML parsing: callers hand it rows of
`RawCell(text, colspan, rowspan)` (or plain 3-tuples) in document order.
Only cells with text are materialised: in EDGAR tables two thirds of the
cells are empty spacers, which matter only for the columns they occupy.
"""
from __future__ import annotations

import re
from typing import NamedTuple

# HTML caps colspan at 1000 and rowspan at 65534; a hostile table with
# colspan=10000 must not allocate a huge matrix, so widths are clamped harder.
MAX_COLSPAN = 1000
MAX_GRID_CELLS = 2_000_000

_MARKER_RE = re.compile(r"\x01[^\x02]*\x02|\x03")
_CURRENCY_ONLY = re.compile(r"^(?:US\$|C\$|A\$|\$|£|€|¥|USD|GBP|EUR)$")
_TRAILER_ONLY = re.compile(r"^(?:\)|%|\)%|%\)|\)\s*%)$")


class RawCell(NamedTuple):
    text: str
    colspan: int = 1
    rowspan: int = 1


# A placed cell is a plain list [text, row, col, colspan, rowspan]: tables
# have tens of thousands of cells, and a list is the cheapest mutable record
# (the symbol merge rewrites texts in place).
_TEXT, _ROW, _COL, _COLSPAN, _ROWSPAN = range(5)


def visible(text: str) -> str:
    """Cell text without the inline-XBRL markers (see numbers.strip_markers)."""
    return _MARKER_RE.sub("", text) if ("\x01" in text or "\x03" in text) else text


def _place(rows: list[list[RawCell]]) -> tuple[list[list[list]], int]:
    """The HTML table algorithm: assign each cell its column, honouring rowspans.

    Returns the cells that have text, row by row, as [text, row, col, colspan,
    rowspan] lists, and the table's width.
    """
    placed: list[list[list]] = []
    occupied: dict[int, set[int]] = {}
    width = 0
    n_rows = len(rows)
    for r, cells in enumerate(rows):
        taken = occupied.get(r)
        out: list[list] = []
        col = 0
        for text, colspan, rowspan in cells:
            if taken:
                while col in taken:
                    col += 1
            if colspan != 1:
                colspan = max(1, min(colspan, MAX_COLSPAN))
            if rowspan != 1:
                # rowspan=0 means "to the end of the table"; clamp to the table.
                rowspan = max(1, min(rowspan if rowspan > 0 else n_rows - r, n_rows - r))
                for rr in range(r + 1, r + rowspan):
                    occupied.setdefault(rr, set()).update(range(col, col + colspan))
            if text:
                out.append([text, r, col, colspan, rowspan])
            col += colspan
        placed.append(out)
        if col > width:
            width = col
    return placed, width


def _merge_symbols(row: list[list]) -> None:
    """Fold `$` into the next value and `)`/`%` into the previous one."""
    for i, cell in enumerate(row):
        if len(cell[_TEXT]) > 3:
            continue  # only 1-3 character cells are bare symbols
        t = visible(cell[_TEXT]).strip()
        if not t:
            continue
        if _CURRENCY_ONLY.match(t):
            for nxt in row[i + 1:]:
                nt = visible(nxt[_TEXT]).strip()
                if nt and not _CURRENCY_ONLY.match(nt):
                    nxt[_TEXT] = t + nxt[_TEXT].strip()
                    cell[_TEXT] = ""
                    break
        elif _TRAILER_ONLY.match(t):
            for prev in reversed(row[:i]):
                if visible(prev[_TEXT]).strip():
                    prev[_TEXT] = prev[_TEXT].rstrip() + t.replace(" ", "")
                    cell[_TEXT] = ""
                    break


def _has_visible_text(text: str) -> bool:
    return bool(text) and ("\x01" not in text and "\x03" not in text or bool(visible(text).strip()))


def build_grid(rows: list[list[RawCell]]) -> list[list[str]]:
    """Clean grid of a table: spans expanded, symbols merged, empty rows/cols dropped.

    Cell texts must already be whitespace-collapsed. Returns a list of rows,
    all of the same width; inline-XBRL markers in the texts are kept.
    """
    rows = [r for r in rows if r]
    if not rows:
        return []
    placed, width = _place(rows)
    if width * len(rows) > MAX_GRID_CELLS:
        # A pathological table: keep its text, one line per row, no grid.
        return [[" ".join(c[_TEXT] for c in row)] for row in placed if row]
    for row in placed:
        if len(row) > 1:  # a lone cell has nothing to merge with
            _merge_symbols(row)

    # Only cells with text matter from here on: spacer cells render as "".
    nonempty = [cell for row in placed for cell in row if _has_visible_text(cell[_TEXT])]

    # A column is kept when a one-column cell has text in it; a wider cell whose
    # columns were all dropped keeps its first column so its text survives.
    keep = [False] * width
    wide = []
    for cell in nonempty:
        if cell[_COLSPAN] == 1:
            keep[cell[_COL]] = True
        else:
            wide.append(cell)
    for cell in wide:
        col = cell[_COL]
        if not any(keep[col:col + cell[_COLSPAN]]):  # slicing clips at the width
            keep[col] = True
    kept_index = [-1] * width
    n_kept = 0
    for c in range(width):
        if keep[c]:
            kept_index[c] = n_kept
            n_kept += 1
    # next_kept[c]: the kept index of the first kept column at or after c. Every
    # cell's span holds a kept column (see above), so for a cell at `col` this is
    # the first kept column of its span: one lookup instead of a scan per wide cell.
    next_kept = [-1] * width
    following = -1
    for c in range(width - 1, -1, -1):
        if keep[c]:
            following = kept_index[c]
        next_kept[c] = following

    # Each cell's text stands in its first kept column, on every row it spans.
    lines: list[list[str] | None] = [None] * len(rows)
    for text, row, col, colspan, rowspan in nonempty:
        first = next_kept[col]
        for r in range(row, row + rowspan):
            line = lines[r]
            if line is None:
                line = lines[r] = [""] * n_kept
            if not line[first]:
                line[first] = text.strip()
    return [line for line in lines if line is not None]


def render_row(cells: list[str]) -> str:
    return " | ".join(cells).strip()
