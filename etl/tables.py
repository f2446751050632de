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
from dataclasses import dataclass
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


@dataclass(slots=True)
class _Placed:
    text: str
    row: int
    col: int
    colspan: int
    rowspan: int

    @property
    def covered_cols(self) -> range:
        return range(self.col, self.col + self.colspan)


def visible(text: str) -> str:
    """Cell text without the inline-XBRL markers (see numbers.strip_markers)."""
    return _MARKER_RE.sub("", text) if ("\x01" in text or "\x03" in text) else text


def _place(rows: list[list[RawCell]]) -> tuple[list[list[_Placed]], int]:
    """The HTML table algorithm: assign each cell its column, honouring rowspans.

    Returns the cells that have text, row by row, and the table's width.
    """
    placed: list[list[_Placed]] = []
    occupied: dict[int, set[int]] = {}
    width = 0
    n_rows = len(rows)
    for r, cells in enumerate(rows):
        taken = occupied.get(r)
        out: list[_Placed] = []
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
                out.append(_Placed(text, r, col, colspan, rowspan))
            col += colspan
        placed.append(out)
        if col > width:
            width = col
    return placed, width


def _merge_symbols(row: list[_Placed]) -> None:
    """Fold `$` into the next value and `)`/`%` into the previous one."""
    for i, cell in enumerate(row):
        if len(cell.text) > 3:
            continue  # only 1-3 character cells are bare symbols
        t = visible(cell.text).strip()
        if not t:
            continue
        if _CURRENCY_ONLY.match(t):
            for nxt in row[i + 1:]:
                nt = visible(nxt.text).strip()
                if nt and not _CURRENCY_ONLY.match(nt):
                    nxt.text = t + nxt.text.strip()
                    cell.text = ""
                    break
        elif _TRAILER_ONLY.match(t):
            for prev in reversed(row[:i]):
                if visible(prev.text).strip():
                    prev.text = prev.text.rstrip() + t.replace(" ", "")
                    cell.text = ""
                    break


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
        return [[" ".join(c.text for c in row)] for row in placed if row]
    for row in placed:
        _merge_symbols(row)

    # Only cells with text matter from here on: spacer cells render as "".
    nonempty = [cell for row in placed for cell in row if cell.text and (
        "\x01" not in cell.text and "\x03" not in cell.text or visible(cell.text).strip())]

    # A column is kept when a one-column cell has text in it; a wider cell whose
    # columns were all dropped keeps its first column so its text survives.
    keep = [False] * width
    for cell in nonempty:
        if cell.colspan == 1:
            keep[cell.col] = True
    for cell in nonempty:
        # (a one-column cell's own column is kept already)
        if cell.colspan != 1 and not any(keep[c] for c in cell.covered_cols if c < width):
            keep[cell.col] = True
    kept_index = {c: i for i, c in enumerate(c for c in range(width) if keep[c])}
    n_kept = len(kept_index)

    # Each cell's text stands in its first kept column, on every row it spans.
    lines: list[list[str] | None] = [None] * len(rows)
    for cell in nonempty:
        if cell.colspan == 1:
            first = kept_index[cell.col]
        else:
            first = next(kept_index[c] for c in cell.covered_cols if c < width and keep[c])
        for r in range(cell.row, cell.row + cell.rowspan):
            line = lines[r]
            if line is None:
                line = lines[r] = [""] * n_kept
            if not line[first]:
                line[first] = cell.text.strip()
    return [line for line in lines if line is not None]


def render_row(cells: list[str]) -> str:
    return " | ".join(cells).strip()
