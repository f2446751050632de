"""Deterministic generator of realistic 10-K-style HTML with exact ground truth.

Each `SampleFiling` holds one filing's HTML and, built by the same calls that
emit the HTML, what the ETL must read from it under the document text contract
in `etl/__init__.py`: the clean blocks, every visible number, every table grid
and the item headings. Nothing is parsed back: a paragraph or a table cell is
declared once as text parts (plain strings and numbers) and rendered twice,
as HTML and as expected text.

The HTML uses the idioms EDGAR filers really write, in four house styles
(cycled over companies): Workiva-like `<div><span style=...>` with Apple-style
tables (width row, colspan labels, `$`/value/`)` cells), `<p><font>` with named
entities, old uppercase-tag HTML with hard-wrapped source lines, and
`<div><font>` with raw UTF-8 and `<p>` inside table cells. Every filing has an
`ix:header` in a `display:none` div, another hidden div, a `<script>`, a
`<style>`, page footers (a centred div holding only the page number, right
before an `<hr>` with a page-break style), inline-XBRL `ix:nonFraction` facts,
colspan headers, a rowspan label and `<sup>` footnote markers.

Text parts guard the truth: a plain string part may hold no digit (the form
name "10-K" aside), so every number in the visible text is a declared number.
What is deliberately not written, because the contract reads it ambiguously:
commission file numbers, phone numbers, "15(d)", "(2013)", dates without a
year, negative prose amounts, "—" with a "$" or in a percent column, `<br>`
in table cells, numbers inside rowspan cells, and share-count table rows.
"""
from __future__ import annotations

import calendar
import html as htmlmod
import json
import math
import random
import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Callable, Mapping

FORM = "10-K"
LAST_FISCAL_YEAR = 2024


# --- public types -------------------------------------------------------------

@dataclass
class ExpectedNumber:
    raw: str
    value: float
    kind: str
    unit: str | None
    scale: int


@dataclass
class ExpectedTable:
    rows: list[list[str]]  # the clean grid, cells as the ETL must print them

    @property
    def text(self) -> str:
        """The table's block: one line per row, cells joined by " | "."""
        return "\n".join(" | ".join(row).strip() for row in self.rows)


@dataclass
class SampleFiling:
    file_name: str
    html: str
    sidecar: dict
    company_id: str
    company_name: str
    ticker: str
    fiscal_year: int
    period_end: date
    filed_at: date
    items: list[tuple[str, str]]
    numbers: list[ExpectedNumber]
    tables: list[ExpectedTable]
    blocks: list[str]

    @property
    def text(self) -> str:
        """The exact expected document text."""
        return "\n\n".join(self.blocks)

    def truth(self) -> dict:
        """The ground truth as JSON-ready data (no HTML)."""
        d = asdict(self)
        d.pop("html")
        for k in ("period_end", "filed_at"):
            d[k] = d[k].isoformat()
        d["items"] = [list(i) for i in self.items]
        return d


# --- numbers --------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """A piece of visible text: plain text, or one number (html set when it is
    not just the escaped text, e.g. wrapped in ix:nonFraction)."""
    text: str
    number: ExpectedNumber | None = None
    html: str | None = None


def _num(raw: str, digits: str, kind: str, *, scale: int = 0, unit: str | None = None,
         negative: bool = False) -> ExpectedNumber:
    value = Decimal(digits.replace(",", "")) * (Decimal(10) ** scale)
    return ExpectedNumber(raw, float(-value if negative else value), kind, unit, scale)


def count(n: int, grouped: bool = True) -> Part:
    """A plain count, written with thousands separators (so 1,950 is no year)
    unless `grouped` is False (a postal code, a rule number)."""
    raw = f"{n:,}" if grouped else str(n)
    assert grouped or not 1900 <= n <= 2100, "an ungrouped integer in 1900-2100 reads as a year"
    return Part(raw, _num(raw, raw, "count"))


def scaled_count(digits: str, word: str) -> Part:
    """'1.2 million' (square feet, shares): a count with a scale word."""
    scale = {"thousand": 3, "million": 6, "billion": 9, "trillion": 12}[word]
    raw = f"{digits} {word}"
    return Part(raw, _num(raw, digits, "count", scale=scale))


def year(y: int) -> Part:
    assert 1900 <= y <= 2100, y
    return Part(str(y), _num(str(y), str(y), "year"))


def fmt_date(d: date) -> str:
    return f"{calendar.month_name[d.month]} {d.day}, {d.year}"


def date_value(d: date) -> float:
    days = 366 if calendar.isleap(d.year) else 365
    return d.year + (d.timetuple().tm_yday - 1) / days


def date_part(d: date) -> Part:
    raw = fmt_date(d)
    return Part(raw, ExpectedNumber(raw, date_value(d), "date", None, 0))


def money(usd: int) -> Part:
    """A prose dollar amount: '$2.3 billion', '$45.1 million' or '$850,000'."""
    a = abs(usd)
    if a >= 10**9:
        digits, word, scale = f"{a / 10**9:,.1f}", " billion", 9
    elif a >= 10**6:
        digits, word, scale = f"{a / 10**6:,.1f}", " million", 6
    else:
        digits, word, scale = f"{a:,}", "", 0
    raw = f"${digits}{word}"
    return Part(raw, _num(raw, digits, "amount", scale=scale, unit="USD"))


def pct(x, places: int = 0) -> Part:
    """A prose percentage of a non-negative quantity: '12%', '46.2%'."""
    digits = f"{abs(Decimal(str(x))):.{places}f}"
    raw = f"{digits}%"
    return Part(raw, _num(raw, digits, "percent", scale=-2, unit="percent"))


def per_share(x: Decimal) -> Part:
    """'$0.96' (the text goes on with 'per share')."""
    digits = f"{abs(x):.2f}"
    raw = f"${digits}"
    return Part(raw, _num(raw, digits, "per_share", unit="USD"))


def _q(x: float | Decimal, places: str = "0.01") -> Decimal:
    return Decimal(str(x)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


# --- house styles -------------------------------------------------------------

_NUMERIC_ENTITIES = {"\xa0": "&#160;", "’": "&#8217;", "‘": "&#8216;", "“": "&#8220;", "”": "&#8221;",
                     "—": "&#8212;", "–": "&#8211;", "☒": "&#9746;", "☐": "&#9744;"}
_NAMED_ENTITIES = {"\xa0": "&nbsp;", "’": "&rsquo;", "‘": "&lsquo;", "“": "&ldquo;", "”": "&rdquo;",
                   "—": "&mdash;", "–": "&ndash;", "☒": "&#9746;", "☐": "&#9744;"}
_FONT_A = "color:#000000;font-family:'Helvetica',sans-serif;font-size:9pt;line-height:120%"
_UPPER_TAGS = re.compile(r"<(/?)(html|head|title|style|body|div|p|span|font|table|tr|td|b|i|sup|hr|br|a)(?=[\s>/])")


class Style:
    """How one house writes HTML. Subclasses override the few templates that differ."""
    name = "base"
    entities: dict[str, str] = _NUMERIC_ENTITIES
    ascii_quotes = False     # old filings: ' and " instead of curly quotes
    upper_tags = False       # old filings: <P><FONT SIZE="2">
    wrap_source = False      # old filings: source lines hard-wrapped
    nbsp_in_dates = False
    # table layout
    label_span = 1           # grid columns under a one-column label
    gap_span = 1             # spacer columns before a value group
    gap_before_first = True
    width_row = False        # a first row of empty cells fixing column widths
    merged_dollar = False    # value cell spans the "$" column on rows without "$"
    pct_paren_in_value = False  # "(8)" + "%" rather than "(8" + ")%"
    value_nbsp = False       # "1,234&#160;" in value cells
    caption_in_table = "never"  # never | always | random

    # text
    def escape(self, text: str) -> str:
        s = htmlmod.escape(text, quote=False)
        return "".join(self.entities.get(ch, ch) for ch in s)

    def fix_quotes(self, text: str) -> str:
        if not self.ascii_quotes:
            return text
        return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')

    def literal_html(self, text: str) -> str:
        if self.wrap_source and len(text) > 60:
            text = _hard_wrap(text)
        return self.escape(text)

    def part_html(self, part: Part) -> str:
        if part.html is not None:
            return part.html
        text = part.text
        if part.number is not None and part.number.kind == "date" and self.nbsp_in_dates:
            text = text.replace(" ", "\xa0", 1)
        return self.escape(text) if part.number is not None else self.literal_html(text)

    # blocks
    def run(self, emph: str, inner: str) -> str:
        return f"<{emph}>{inner}</{emph}>" if emph else inner

    def block(self, inner: str, align: str) -> str:
        raise NotImplementedError

    def empty_block(self) -> str:
        return '<div><br/></div>'

    def sup(self, marker: str) -> str:
        return f'<sup style="font-size:6pt;vertical-align:top">{marker}</sup>'

    def footer(self, page: int) -> str:
        return f'<div style="text-align:center">{page}</div><hr style="page-break-after:always"/>'

    def page_break(self) -> str:
        return '<hr style="page-break-after:always"/>'

    # tables
    def table(self, rows_html: str) -> str:
        return f'<table style="width:100%;border-collapse:collapse">{rows_html}</table>'

    def td(self, cell: Cell) -> str:
        attrs = _span_attrs(cell)
        if not cell.html:
            return f"<td{attrs}></td>"
        return f'<td{attrs} style="text-align:{cell.align};vertical-align:bottom">{cell.html}</td>'

    def tr(self, cells: str, spacer: bool) -> str:
        return f"<tr>{cells}</tr>"

    def head(self, title: str, ns: str) -> str:
        return f'<html xmlns="http://www.w3.org/1999/xhtml" {ns}><head><title>{title}</title></head><body>'


class WorkivaStyle(Style):
    """Modern inline XBRL: every run a styled span, Apple-like tables."""
    name = "workiva"
    nbsp_in_dates = True
    label_span = 3
    gap_span = 3
    gap_before_first = False
    width_row = True
    merged_dollar = True
    pct_paren_in_value = True
    value_nbsp = True

    def run(self, emph, inner):
        weight = "700" if emph == "b" else "400"
        italic = "font-style:italic;" if emph == "i" else ""
        return f'<span style="{_FONT_A};{italic}font-weight:{weight}">{inner}</span>'

    def block(self, inner, align):
        return f'<div style="margin-top:9pt;text-align:{align}">{inner}</div>'

    def empty_block(self):
        return '<div style="text-align:justify"><span><br/></span></div>'

    def footer(self, page):
        return (f'<div style="text-align:center"><span style="{_FONT_A};font-weight:400">{page}</span></div>'
                '<hr style="page-break-after:always"/>')

    def table(self, rows_html):
        return ('<div style="text-align:center"><table style="border-collapse:collapse;display:inline-table;'
                f'margin-bottom:5pt;vertical-align:text-bottom;width:100.000%">{rows_html}</table></div>')

    def td(self, cell):
        attrs = _span_attrs(cell)
        if cell.width is not None:
            return f'<td style="width:{cell.width}%"/>'
        if not cell.html:
            return f'<td{attrs} style="padding:0 1pt"/>'
        return (f'<td{attrs} style="padding:2px 1pt;text-align:{cell.align};vertical-align:bottom">'
                f'<span style="{_FONT_A};font-weight:{700 if cell.bold else 400}">{cell.html}</span></td>')

    def tr(self, cells, spacer):
        return f'<tr style="height:6pt">{cells}</tr>' if spacer else f"<tr>{cells}</tr>"

    def head(self, title, ns):
        return ("<?xml version='1.0' encoding='ASCII'?>\n<!--XBRL Document Created with a sample generator-->\n"
                f'<html xmlns="http://www.w3.org/1999/xhtml" {ns} xml:lang="en-US"><head>'
                f'<meta http-equiv="Content-Type" content="text/html"/>\n<title>{title}</title>'
                '<style type="text/css">td { font-size: 9pt }</style></head><body>')


class DonnelleyStyle(Style):
    """<p><font> paragraphs, named entities, spacer columns before every group."""
    name = "donnelley"
    entities = _NAMED_ENTITIES
    caption_in_table = "random"

    def block(self, inner, align):
        return (f'<p style="margin:0pt 0pt 8pt;text-align:{align}">'
                f"<font style=\"font-family:'Times New Roman',serif;font-size:10pt\">{inner}</font></p>")

    def empty_block(self):
        return '<p style="margin:0pt">&nbsp;</p>'

    def footer(self, page):
        return (f'<div style="text-align:center;font-size:10pt"><font size="2">{page}</font></div>'
                '<hr style="page-break-after:always" />')

    def table(self, rows_html):
        return ('<table cellpadding="0" cellspacing="0" style="width:100%;border-collapse:collapse;'
                f"font-family:'Times New Roman',serif;font-size:10pt\">{rows_html}</table>")

    def head(self, title, ns):
        return (f'<!DOCTYPE html>\n<html {ns}>\n<head>\n<meta charset="utf-8"/>\n<title>{title}</title>\n</head>\n'
                '<body style="font-family:\'Times New Roman\'">\n<style>p { margin: 0 }</style>\n')


class LegacyStyle(Style):
    """Old uppercase-tag HTML: <P ALIGN><FONT SIZE>, &nbsp; spacer cells, wrapped source."""
    name = "legacy"
    entities = {**_NAMED_ENTITIES, "’": "'", "“": '"', "”": '"'}
    ascii_quotes = True
    upper_tags = True
    wrap_source = True
    caption_in_table = "always"

    def block(self, inner, align):
        return f'<p align="{align}"><font face="Times New Roman" size="2">{inner}</font></p>\n'

    def empty_block(self):
        return "<p>&nbsp;</p>\n"

    def sup(self, marker):
        return f"<sup>{marker}</sup>"

    def footer(self, page):
        return f'<div align="center"><font size="2">{page}</font></div><hr style="page-break-after:always">\n'

    def table(self, rows_html):
        return ('<div align="center"><table width="100%" border="0" cellpadding="0" cellspacing="0">\n'
                f"{rows_html}</table></div>\n")

    def td(self, cell):
        attrs = _span_attrs(cell)
        if not cell.html:
            return f"<td{attrs}>&nbsp;</td>\n"
        inner = f"<b>{cell.html}</b>" if cell.bold else cell.html
        return f'<td{attrs} align="{cell.align}" valign="bottom"><font size="2">{inner}</font></td>\n'

    def tr(self, cells, spacer):
        return f"<tr valign=\"bottom\">\n{cells}</tr>\n"

    def head(self, title, ns):
        return (f'<html {ns}>\n<head>\n<title>{title}</title>\n'
                '<style type="text/css">\n<!--\nP { margin-top: 0 }\n-->\n</style>\n</head>\n<body bgcolor="white">\n')


class ToppanStyle(Style):
    """<div><font> paragraphs, raw UTF-8, <p> inside table cells, spaced page-break style."""
    name = "toppan"
    entities = {"\xa0": "\xa0"}
    gap_before_first = False
    caption_in_table = "random"

    def run(self, emph, inner):
        if emph == "b":
            return f'<font style="font-weight:bold">{inner}</font>'
        if emph == "i":
            return f'<font style="font-style:italic">{inner}</font>'
        return f'<font style="font-family:Arial,sans-serif">{inner}</font>'

    def block(self, inner, align):
        return f'<div style="font-family:Arial;font-size:10pt;text-align:{align};margin-bottom:6pt">{inner}</div>\n'

    def footer(self, page):
        return (f'<div style="text-align:center"><font style="font-size:9pt">{page}</font></div>'
                '<hr style="page-break-after: always; height:2px; border:none"/>\n')

    def page_break(self):
        return '<div style="page-break-before: always"></div>\n'

    def td(self, cell):
        attrs = _span_attrs(cell)
        if not cell.html:
            return f"<td{attrs}></td>"
        weight = "font-weight:bold;" if cell.bold else ""
        return (f'<td{attrs} style="vertical-align:bottom"><p style="margin:0;{weight}text-align:{cell.align};'
                f'font-size:9pt">{cell.html}</p></td>')

    def tr(self, cells, spacer):
        return f"<tr>{cells}</tr>\n"

    def head(self, title, ns):
        return ('<?xml version="1.0" encoding="utf-8"?>\n'
                f'<html xmlns="http://www.w3.org/1999/xhtml" {ns}>\n<head>\n'
                f'<meta content="text/html; charset=utf-8" http-equiv="Content-Type"/>\n<title>{title}</title>\n'
                '<style type="text/css">body { font-family: Arial }</style>\n</head>\n<body>\n')


STYLES: tuple[type[Style], ...] = (WorkivaStyle, DonnelleyStyle, LegacyStyle, ToppanStyle)


def _hard_wrap(text: str, width: int = 72) -> str:
    """Break a long source line at spaces; whitespace collapse reads it back the same."""
    out, line = [], 0
    for i, word in enumerate(text.split(" ")):
        if i:
            if line + len(word) > width:
                out.append("\n")
                line = 0
            else:
                out.append(" ")
                line += 1
        out.append(word)
        line += len(word)
    return "".join(out)


# --- the text side of a block ---------------------------------------------------

_DIGIT = re.compile(r"\d")


def _as_part(p: str | Part, style: Style) -> Part:
    if isinstance(p, Part):
        return p
    text = style.fix_quotes(p)
    # Every digit of visible text must be a declared number: this is what makes
    # `numbers` complete. The form name is the one digit-bearing word allowed.
    assert not _DIGIT.search(text.replace(FORM, "")), f"undeclared digits in {text!r}"
    assert "\n" not in text, "line breaks are BR parts"
    return Part(text)


BR = Part("\n", html="<br/>")  # a line break inside a block


def collapse(text: str) -> str:
    """The contract's prose text: whitespace runs to one space, lines kept."""
    return "\n".join(" ".join(line.split()) for line in text.split("\n")).strip()


def _check_numbers(text: str, numbers: list[ExpectedNumber]) -> None:
    pos = 0
    for n in numbers:
        i = text.find(n.raw, pos)
        assert i >= 0, f"{n.raw!r} not found in {text!r}"
        pos = i + len(n.raw)


# --- tables ---------------------------------------------------------------------

@dataclass
class Cell:
    text: str = ""       # collapsed text the ETL reads from this cell (sup markers gone)
    html: str = ""       # inner HTML
    colspan: int = 1
    rowspan: int = 1
    numbers: list[ExpectedNumber] = field(default_factory=list)
    align: str = "left"
    bold: bool = False
    width: float | None = None  # width-row cells
    whole: bool = False         # after merging, the cell is exactly its one number


def _span_attrs(cell: Cell) -> str:
    return ((f' colspan="{cell.colspan}"' if cell.colspan > 1 else "")
            + (f' rowspan="{cell.rowspan}"' if cell.rowspan > 1 else ""))


def text_cell(parts: list[str | Part], style: Style, **kw) -> Cell:
    ps = [_as_part(p, style) for p in parts]
    html = "".join(style.part_html(p) for p in ps)
    nums = [p.number for p in ps if p.number is not None]
    return Cell(collapse("".join(p.text for p in ps)), html, numbers=nums, **kw)


_CURRENCY = {"$", "£", "€"}
_TRAILERS = {")", "%", ")%", "%)"}


def clean_grid(rows: list[list[Cell]]) -> tuple[list[list[str]], list[ExpectedNumber]]:
    """The contract's grid for our own cells: spans expanded, `$` and `)`/`%`
    merged, a colspan's text in its first kept column, empty rows and columns
    dropped. Returns the rows and the numbers in reading order."""
    # place cells: per grid row, [col, span, text, numbers, whole] in column order
    placed: list[list[list]] = [[] for _ in rows]
    taken: set[tuple[int, int]] = set()
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            assert cell.rowspan == 1 or not cell.numbers, "a number in a rowspan cell would repeat"
            for dr in range(min(cell.rowspan, len(rows) - r)):
                taken.update((r + dr, c + dc) for dc in range(cell.colspan))
                placed[r + dr].append([c, cell.colspan, cell.text, list(cell.numbers), cell.whole])
            c += cell.colspan
    width = max((e[0] + e[1] for row in placed for e in row), default=0)
    for row in placed:
        row.sort(key=lambda e: e[0])
        _merge_symbols(row)
    keep = {e[0] for row in placed for e in row if e[2] and e[1] == 1}
    for row in placed:
        for c, s, t, *_ in row:
            if t and not keep.intersection(range(c, c + s)):
                keep.add(c)
    kept = sorted(k for k in keep if k < width)
    grid, numbers = [], []
    for row in placed:
        line = {k: "" for k in kept}
        nums: dict[int, list[ExpectedNumber]] = {}
        for c, s, t, ns, whole in row:
            if not t:
                continue
            assert not whole or [n.raw for n in ns] == [t], f"cell {t!r} does not read as {ns}"
            first = next(k for k in kept if c <= k < c + s)
            assert not line[first], "two cells land in one column"
            line[first], nums[first] = t, ns
        if any(line.values()):
            grid.append([line[k] for k in kept])
            for k in kept:
                _check_numbers(line[k], nums.get(k, []))
                numbers.extend(nums.get(k, []))
    return grid, numbers


def _merge_symbols(row: list[list]) -> None:
    for i, entry in enumerate(row):
        t = entry[2]
        if t in _CURRENCY:
            nxt = next(e for e in row[i + 1:] if e[2])
            nxt[2], entry[2] = t + nxt[2], ""
        elif t in _TRAILERS:
            prev = next(e for e in reversed(row[:i]) if e[2])
            prev[2], entry[2] = prev[2] + t, ""


# --- the document builder -------------------------------------------------------

class Doc:
    """Accumulates a filing's HTML and, in the same calls, its expected truth."""

    def __init__(self, style: Style):
        self.style = style
        self.html: list[str] = []
        self.blocks: list[str] = []
        self.numbers: list[ExpectedNumber] = []
        self.tables: list[ExpectedTable] = []
        self.items: list[tuple[str, str]] = []
        self.item_pages: list[int] = []
        self.kinds: list[str] = []  # per html piece: "prose", "table" or "raw"
        self.page = 1

    def _emit(self, html: str, kind: str) -> None:
        self.html.append(html)
        self.kinds.append(kind)

    def raw(self, html: str) -> None:
        """HTML with no visible text (hidden content, spacers, anchors, footers)."""
        self._emit(html, "raw")

    def runs(self, runs: list[tuple[str, list[str | Part]]], align: str = "justify") -> str:
        """One block element made of emphasised runs; returns its expected text."""
        st = self.style
        inner, text, numbers = [], [], []
        for emph, parts in runs:
            ps = [_as_part(p, st) for p in parts]
            inner.append(st.run(emph, "".join(st.part_html(p) for p in ps)))
            text.extend(p.text for p in ps)
            numbers.extend(p.number for p in ps if p.number is not None)
        block = collapse("".join(text))
        assert block, "empty blocks are not emitted"
        _check_numbers(block, numbers)
        self._emit(st.block("".join(inner), align), "prose")
        self.blocks.append(block)
        self.numbers.extend(numbers)
        return block

    def para(self, *parts: str | Part, lead: str | None = None, emph: str = "", align: str = "justify") -> str:
        """A paragraph, optionally led by a bold run-in ('Products.') or, when
        `lead` has no closing punctuation, by a sub-heading block."""
        if lead and not lead.endswith((".", ":")):  # a sub-heading of its own
            self.heading(lead)
            lead = None
        runs = [("b", [lead]), (emph, [" ", *parts])] if lead else [(emph, list(parts))]
        return self.runs(runs, align)

    def heading(self, *parts: str | Part, align: str = "left") -> str:
        return self.runs([("b", list(parts))], align)

    def item(self, item_id: str, title: str) -> None:
        """An item heading: 'Item 7.' (7 is a number) or 'Item 1A.' (none)."""
        st = self.style
        word = "ITEM" if st.upper_tags else "Item"
        title = st.fix_quotes(title.upper() if st.upper_tags else title)
        label = [f"{word} ", count(int(item_id)), "."] if item_id.isdigit() else [Part(f"{word} {item_id}.")]
        gap = Part(" ", html=st.escape("\xa0" * 4))
        self.raw(f'<div id="item_{item_id.lower()}"></div>')
        self.runs([("b", label), ("", [gap]), ("b", [Part(title)])], align="left")
        self.items.append((item_id, title))
        self.item_pages.append(self.page)

    def table(self, rows: list[list[Cell]], spacer_rows: set[int] = frozenset()) -> ExpectedTable:
        st = self.style
        body = "".join(st.tr("".join(st.td(c) for c in row), i in spacer_rows) for i, row in enumerate(rows))
        grid, numbers = clean_grid(rows)
        table = ExpectedTable(grid)
        self._emit(st.table(body), "table")
        self.tables.append(table)
        if grid:
            self.blocks.append(table.text)
            self.numbers.extend(numbers)
        return table

    def spacer(self) -> None:
        self.raw(self.style.empty_block())

    def page_break(self) -> None:
        self.raw(self.style.footer(self.page))
        self.page += 1

    def break_inside(self, start: int, rng: random.Random) -> None:
        """A page footer between two prose blocks emitted since `start`, as page
        layout puts them mid-item (never between a caption and its table)."""
        spots = [i for i in range(max(start, 1), len(self.kinds))
                 if self.kinds[i - 1] == "prose" and self.kinds[i] == "prose"]
        if spots:
            i = rng.choice(spots)
            self.html.insert(i, self.style.footer(self.page))
            self.kinds.insert(i, "raw")
            self.page += 1

    def extend(self, other: Doc) -> None:
        self.html += other.html
        self.kinds += other.kinds
        self.blocks += other.blocks
        self.numbers += other.numbers
        self.tables += other.tables
        self.items += other.items


# --- financial tables -------------------------------------------------------------

@dataclass
class Val:
    """One value of a statement row, as the three cells filers write."""
    text: str            # the value cell's text: "(1,234", "46.2", "—"
    html: str            # the value cell's inner HTML
    suffix: str          # ")", "%", ")%" or ""
    dollar: bool
    number: ExpectedNumber


class FinTable:
    """A statement-style table: label column(s) and value groups of `$`/value/`)`.

    Rows are declared logically; `cells()` lays them out in the house style.
    Value makers know the table's caption scale, so a value's expected number
    is decided where the value is written.
    """

    def __init__(self, style: Style, n_groups: int, scale: int, label_cols: int = 1):
        self.st, self.n, self.scale, self.label_cols = style, n_groups, scale, label_cols
        self.rows: list[tuple] = []
        self.decimals = str(-scale)

    # value makers
    def _ix(self, shown: str, concept: str | None, ctx: str, unit: str, decimals: str, scale: int,
            negative_fact: bool = False, zero: bool = False) -> str:
        if concept is None:
            return shown
        sign = ' sign="-"' if negative_fact else ""
        fmt = "ixt:fixed-zero" if zero else "ixt:num-dot-decimal"
        return (f'<ix:nonFraction unitRef="{unit}" contextRef="{ctx}" decimals="{decimals}" name="{concept}" '
                f'format="{fmt}" scale="{scale}"{sign}>{shown}</ix:nonFraction>')

    def amount(self, v: int, concept: str | None = None, ctx: str = "", dollar: bool = False,
               inverted: bool = False) -> Val:
        """An amount in the caption's units. `inverted`: the fact's sign is the
        opposite of what is shown (payments shown in parentheses are positive facts)."""
        if v == 0:
            dash = self.st.escape("—")
            html = self._ix(dash, concept, ctx, "usd", self.decimals, self.scale, zero=True)
            return Val("—", html, "", False, ExpectedNumber("—", 0.0, "amount", "USD", self.scale))
        digits = f"{abs(v):,}"
        neg = v < 0
        fact_negative = (v > 0) if inverted else neg
        html = ("(" if neg else "") + self._ix(digits, concept, ctx, "usd", self.decimals, self.scale, fact_negative)
        raw = ("$" if dollar else "") + (f"({digits})" if neg else digits)
        num = _num(raw, digits, "amount", scale=self.scale, unit="USD", negative=neg)
        return Val(("(" if neg else "") + digits, html, ")" if neg else "", dollar, num)

    def per_share(self, x: Decimal, concept: str | None = None, ctx: str = "", dollar: bool = True) -> Val:
        digits = f"{abs(x):.2f}"
        neg = x < 0
        html = ("(" if neg else "") + self._ix(digits, concept, ctx, "usdPerShare", "2", 0, neg)
        raw = ("$" if dollar else "") + (f"({digits})" if neg else digits)
        num = _num(raw, digits, "per_share", unit="USD", negative=neg)
        return Val(("(" if neg else "") + digits, html, ")" if neg else "", dollar, num)

    def percent(self, x: Decimal, concept: str | None = None, ctx: str = "", places: int = 1) -> Val:
        digits = f"{abs(x):.{places}f}"
        neg = x < 0
        shown = self._ix(digits, concept, ctx, "pure", str(places + 2), -2, neg)
        raw = f"({digits})%" if neg else f"{digits}%"
        num = _num(raw, digits, "percent", scale=-2, unit="percent", negative=neg)
        if neg and self.st.pct_paren_in_value:
            return Val(f"({digits})", f"({shown})", "%", False, num)
        if neg:
            return Val(f"({digits}", f"({shown}", ")%", False, num)
        return Val(digits, shown, "%", False, num)

    # logical rows
    def caption(self, text: str) -> None:
        self.rows.append(("caption", text))

    def span_header(self, text: str) -> None:
        self.rows.append(("span", text))

    def group_header(self, headers: list[list[str | Part]]) -> None:
        self.rows.append(("groups", headers))

    def section(self, label: str) -> None:
        self.rows.append(("section", label))

    def spacer(self) -> None:
        self.rows.append(("spacer",))

    def row(self, label: str | list[str | Part], values: list[Val | None], *, labels: list[Cell] | None = None,
            bold: bool = False) -> None:
        self.rows.append(("data", label, values, labels, bold))

    # layout
    def _label_span(self) -> int:
        return self.st.label_span if self.label_cols == 1 else 1

    def _gap(self, g: int) -> list[Cell]:
        return [Cell(colspan=self.st.gap_span)] if (g or self.st.gap_before_first) else []

    def _empty_group(self) -> list[Cell]:
        return [Cell(colspan=3)] if self.st.merged_dollar else [Cell(), Cell(), Cell()]

    def _empty_labels(self) -> list[Cell]:
        return [Cell(colspan=self._label_span()) for _ in range(self.label_cols)]

    def _value_cells(self, v: Val | None) -> list[Cell]:
        if v is None:
            return self._empty_group()
        st = self.st
        html = v.html + ("&#160;" if st.value_nbsp and not v.suffix else "")
        value = Cell(v.text, html, numbers=[v.number], align="right", whole=True)
        suffix = Cell(v.suffix, st.escape(v.suffix), align="left" if v.suffix else "right")
        if st.merged_dollar and not v.dollar:
            value.colspan = 2
            return [value, suffix]
        dollar = Cell("$", "$") if v.dollar else Cell()
        return [dollar, value, suffix]

    def width(self) -> int:
        gaps = sum(c.colspan for g in range(self.n) for c in self._gap(g))
        return self.label_cols * self._label_span() + gaps + 3 * self.n

    def cells(self) -> tuple[list[list[Cell]], set[int]]:
        st, out, spacers = self.st, [], set()
        total = self.width()
        if st.width_row:
            spacers.add(0)
            out.append([Cell(width=round(100 / total, 3)) for _ in range(total)])
        for r in self.rows:
            kind = r[0]
            if kind == "caption":
                out.append([text_cell([r[1]], st, colspan=total)])
            elif kind == "span":
                lead = self.label_cols * self._label_span()
                header = text_cell([r[1]], st, colspan=total - lead, align="center", bold=True)
                out.append([*self._empty_labels(), header])
            elif kind == "groups":
                row = self._empty_labels()
                for g, parts in enumerate(r[1]):
                    row += self._gap(g) + [text_cell(parts, st, colspan=3, align="center", bold=True)]
                out.append(row)
            elif kind == "section":
                row = [text_cell([r[1]], st, colspan=self._label_span())] + self._empty_labels()[1:]
                for g in range(self.n):
                    row += self._gap(g) + self._empty_group()
                out.append(row)
            elif kind == "spacer":
                spacers.add(len(out))
                row = self._empty_labels()
                for g in range(self.n):
                    row += self._gap(g) + self._empty_group()
                out.append(row)
            else:
                _, label, values, labels, bold = r
                if labels is None:
                    parts = label if isinstance(label, list) else [label]
                    labels = [text_cell(parts, st, colspan=self._label_span(), bold=bold)]
                row = list(labels)
                for g, v in enumerate(values):
                    row += self._gap(g) + self._value_cells(v)
                out.append(row)
        return out, spacers

    def emit(self, doc: Doc) -> ExpectedTable:
        rows, spacers = self.cells()
        return doc.table(rows, spacers)


# --- companies and their numbers -----------------------------------------------

@dataclass(frozen=True)
class Industry:
    what: str
    customers: str
    volume: str        # what the trillion counts
    facility: str
    products: str


INDUSTRIES = {
    "industrial": Industry(
        "designs, manufactures and services industrial automation equipment, including robotic work cells, "
        "motion controllers and machine vision systems",
        "manufacturers in the automotive, electronics and consumer goods industries",
        "machine cycles logged by connected equipment", "manufacturing facilities",
        "robotic work cells, controllers and replacement parts"),
    "software": Industry(
        "develops and sells cloud-based software that helps businesses manage payroll, invoicing and compliance",
        "small and mid-sized businesses and their accountants",
        "transactions processed on its platforms", "data centers",
        "subscriptions, implementation services and support"),
    "retail": Industry(
        "operates general merchandise stores and an online marketplace offering groceries, apparel, home goods "
        "and electronics", "households", "product searches on its websites and apps", "distribution centers",
        "groceries, apparel, home goods and electronics"),
    "energy": Industry(
        "generates, transmits and sells electricity and natural gas to residential, commercial and industrial "
        "customers", "residential, commercial and industrial customers", "cubic feet of natural gas delivered",
        "generating stations", "electricity, natural gas and energy services"),
    "food": Industry(
        "manufactures and markets packaged foods and beverages under a portfolio of well-known brands",
        "grocery chains, mass merchants, club stores and food service distributors",
        "calories shipped in its products", "plants", "snacks, cereals, frozen meals and beverages"),
    "semiconductor": Industry(
        "designs and sells analog and mixed-signal semiconductors used in vehicles, factories and data centers",
        "automotive suppliers, industrial equipment makers and cloud providers",
        "transistors in the chips it shipped", "wafer fabrication facilities",
        "power management, sensing and connectivity chips"),
    "health": Industry(
        "provides diagnostic testing services and clinical analytics to hospitals, physicians and insurers",
        "hospitals, physician groups, employers and health plans",
        "data points analyzed by its clinical platforms", "laboratories",
        "diagnostic tests, analytics software and care management services"),
    "logistics": Industry(
        "provides freight transportation, warehousing and supply chain management services",
        "retailers, manufacturers and e-commerce sellers", "package scans recorded by its network",
        "distribution hubs", "truckload, less-than-truckload, warehousing and brokerage services"),
}


@dataclass(frozen=True)
class Profile:
    name: str
    ticker: str
    industry: str
    state: str
    city: str
    segments: tuple[str, ...]
    fye: str          # sat-sep | dec | jan | jun
    exchange: str


PROFILES = (
    Profile("Acme Robotics Corporation", "ACME", "industrial", "Delaware", "Cleveland, Ohio",
            ("Automation Systems", "Field Services"), "sat-sep", "Nasdaq Global Select Market"),
    Profile("Bluewater Software, Inc.", "BLWS", "software", "Delaware", "Austin, Texas",
            ("Cloud Platform", "Licenses and Support"), "jun", "Nasdaq Global Select Market"),
    Profile("Northwind Stores Co.", "NWND", "retail", "Arkansas", "Columbus, Ohio",
            ("Stores", "Online", "Wholesale Club"), "jan", "New York Stock Exchange"),
    Profile("Helios Power Holdings", "HLIO", "energy", "Texas", "Houston, Texas",
            ("Generation", "Transmission"), "dec", "New York Stock Exchange"),
    Profile("Granite Foods Inc.", "GRFD", "food", "Minnesota", "Minneapolis, Minnesota",
            ("North America", "International"), "sat-sep", "New York Stock Exchange"),
    Profile("Orbit Semiconductor Corp.", "ORBS", "semiconductor", "Delaware", "San Jose, California",
            ("Analog", "Embedded Processing", "Other"), "dec", "Nasdaq Global Select Market"),
    Profile("Cedar Health Group, Inc.", "CDRH", "health", "Delaware", "Nashville, Tennessee",
            ("Diagnostics", "Health Analytics"), "jun", "New York Stock Exchange"),
    Profile("Summit Logistics Inc.", "SMLG", "logistics", "Georgia", "Atlanta, Georgia",
            ("Truckload", "Logistics Solutions"), "dec", "Nasdaq Global Select Market"),
)
_NAME_PREFIXES = ("Pacific", "Atlantic", "Northern", "Western", "Central", "United", "Global", "Prairie")


@dataclass(frozen=True)
class Company:
    profile: Profile
    name: str
    ticker: str
    cik: str
    style: type[Style]
    scale: int              # 6: statements in millions; 3: in thousands
    revenue: int            # revenue of the first generated year, in reporting units
    growth: float
    gross_margin: float
    shares: int             # diluted shares, in reporting units
    has_inventory: bool
    goodwill: int
    debt: int
    pays_dividends: bool
    volatile: bool          # one year with a large impairment and a net loss
    founded: int
    index: int


def _company(i: int, seed: int, ciks: set[str]) -> Company:
    rng = random.Random(f"{seed}/company/{i}")
    p = PROFILES[i % len(PROFILES)]
    name, ticker = p.name, p.ticker
    if i >= len(PROFILES):  # more companies than profiles: same business, new name
        k = i // len(PROFILES) - 1
        name = f"{_NAME_PREFIXES[k % len(_NAME_PREFIXES)]} {p.name}"
        ticker = p.ticker[:3] + "ABCDEFGHJKLMNPQRSTUVWXYZ"[k % 24]
    cik = f"{rng.randint(100000, 1999999):010d}"
    while cik in ciks:
        cik = f"{rng.randint(100000, 1999999):010d}"
    ciks.add(cik)
    scale = 3 if p.industry in ("software", "health") else 6
    revenue = rng.randint(400_000, 4_000_000) if scale == 3 else rng.randint(3_000, 120_000)
    shares = rng.randint(60_000, 400_000) if scale == 3 else rng.randint(150, 1_500)
    return Company(
        profile=p, name=name, ticker=ticker, cik=cik, style=STYLES[i % len(STYLES)], scale=scale,
        revenue=revenue, growth=rng.uniform(-0.02, 0.12), gross_margin=rng.uniform(0.28, 0.62),
        shares=shares, has_inventory=p.industry not in ("software", "health"),
        goodwill=0 if i % 3 == 1 else int(revenue * rng.uniform(0.1, 0.4)),
        debt=0 if i % 4 == 1 else int(revenue * rng.uniform(0.1, 0.5)),
        pays_dividends=p.industry not in ("software", "semiconductor"),
        volatile=i % 4 == 3, founded=rng.randint(1921, 1995), index=i,
    )


def period_end(fye: str, y: int) -> date:
    """The last day of fiscal year `y` (named after the calendar year it ends in)."""
    if fye == "dec":
        return date(y, 12, 31)
    if fye == "jun":
        return date(y, 6, 30)
    if fye == "jan":
        return date(y, 1, 31)
    d = date(y, 9, 30)  # last Saturday of September (a 52/53-week year)
    return d - timedelta(days=(d.weekday() - 5) % 7)


def _financials(co: Company, first: int, last: int, seed: int,
                log_growth: Mapping[int, float] | None = None) -> dict[int, dict[str, int]]:
    """A consistent history in reporting units: statements tie and the cash
    roll-forward matches the balance sheet, so prior-year columns agree across
    a company's filings. `log_growth` (year -> log revenue growth over the year
    before) plans the revenue path instead of the company's drift."""
    rng = random.Random(f"{seed}/financials/{co.ticker}")
    fin: dict[int, dict[str, int]] = {}
    revenue, cash = co.revenue, int(co.revenue * 0.18)
    common, shares = int(co.revenue * 0.3), co.shares
    n_seg = len(co.profile.segments)
    weights = [rng.uniform(1, 3) for _ in range(n_seg)]
    for y in range(first, last + 1):
        f: dict[str, int] = {}
        drift = co.growth + rng.uniform(-0.08, 0.06)  # drawn even when planned: later draws stay put
        if log_growth is not None and y in log_growth:
            revenue = max(1000, round(revenue * math.exp(log_growth[y])))
        else:
            revenue = max(1000, int(revenue * (1 + drift)))
        shares = max(50, int(shares * rng.uniform(0.97, 1.0)))
        weights = [w * rng.uniform(0.9, 1.12) for w in weights]
        segs = [int(revenue * w / sum(weights)) for w in weights]
        segs[-1] = revenue - sum(segs[:-1])
        f.update({f"seg{k}": v for k, v in enumerate(segs)})
        f.update({f"segop{k}": int(v * rng.uniform(0.08, 0.3)) for k, v in enumerate(segs)})
        f["revenue"] = revenue
        f["cost"] = int(revenue * (1 - co.gross_margin - rng.uniform(-0.02, 0.02)))
        f["gross"] = revenue - f["cost"]
        f["rnd"] = int(revenue * rng.uniform(0.03, 0.09))
        f["sga"] = int(revenue * rng.uniform(0.1, 0.16))
        f["restructuring"] = 0 if (y + co.index) % 2 == 0 else int(revenue * rng.uniform(0.003, 0.02))
        if co.volatile and y == last - 1:
            f["restructuring"] = int(revenue * 0.45)  # an impairment year: a net loss
        f["opex"] = f["rnd"] + f["sga"] + f["restructuring"]
        f["opinc"] = f["gross"] - f["opex"]
        f["other"] = int(revenue * rng.uniform(-0.02, 0.012)) or -1
        f["pretax"] = f["opinc"] + f["other"]
        f["tax"] = int(round(f["pretax"] * rng.uniform(0.14, 0.26)))
        f["ni"] = f["pretax"] - f["tax"]
        f["shares"] = shares
        f["eps_diluted_c"] = int(_q(Decimal(f["ni"]) / shares) * 100)
        f["eps_basic_c"] = int(_q(Decimal(f["ni"]) / int(shares * 0.985)) * 100)
        # cash flows
        f["da"] = int(revenue * rng.uniform(0.03, 0.05))
        f["sbc"] = int(revenue * rng.uniform(0.01, 0.03))
        f["wc"] = int(revenue * rng.uniform(-0.03, 0.015))
        f["cfo"] = f["ni"] + f["da"] + f["sbc"] + f["restructuring"] + f["wc"]
        f["capex"] = -int(revenue * rng.uniform(0.03, 0.06))
        f["acq"] = 0 if (y + co.index) % 3 else -int(revenue * rng.uniform(0.02, 0.06))
        f["cfi"] = f["capex"] + f["acq"]
        f["dividends"] = -int(max(f["ni"], revenue * 0.02) * 0.3) if co.pays_dividends else 0
        spare = cash + f["cfo"] + f["cfi"] + f["dividends"] - int(revenue * 0.15)
        f["buyback"] = -int(spare * 0.8) if spare > 0 else 0
        f["cff"] = f["dividends"] + f["buyback"]
        f["net_change"] = f["cfo"] + f["cfi"] + f["cff"]
        f["cash_begin"], cash = cash, cash + f["net_change"]
        f["cash"] = cash
        # balance sheet (retained earnings is the plug, so it can be a deficit)
        f["ar"] = int(revenue * rng.uniform(0.08, 0.14))
        f["inventory"] = int(revenue * rng.uniform(0.06, 0.12)) if co.has_inventory else 0
        f["other_ca"] = int(revenue * 0.03)
        f["tca"] = cash + f["ar"] + f["inventory"] + f["other_ca"]
        f["ppe"] = int(revenue * rng.uniform(0.18, 0.3))
        f["goodwill"] = co.goodwill
        f["other_nca"] = int(revenue * 0.05)
        f["assets"] = f["tca"] + f["ppe"] + f["goodwill"] + f["other_nca"]
        f["ap"] = int(revenue * rng.uniform(0.07, 0.11))
        f["accrued"] = int(revenue * rng.uniform(0.04, 0.07))
        f["tcl"] = f["ap"] + f["accrued"]
        f["debt"] = co.debt
        f["liabilities"] = f["tcl"] + f["debt"]
        common += f["sbc"]
        f["common"] = common
        f["equity"] = f["assets"] - f["liabilities"]
        f["retained"] = f["equity"] - common
        f["employees"] = max(120, int(revenue * (10 ** co.scale) / rng.uniform(250_000, 600_000)))
        fin[y] = f
    return fin


# --- one filing ----------------------------------------------------------------

@dataclass
class Ctx:
    co: Company
    fy: int
    fin: dict[int, dict[str, int]]
    rng: random.Random
    style: Style
    filed_at: date

    def end(self, y: int | None = None) -> date:
        return period_end(self.co.profile.fye, self.fy if y is None else y)

    def f(self, key: str, y: int | None = None) -> int:
        return self.fin[self.fy if y is None else y][key]

    def usd(self, key: str, y: int | None = None) -> int:
        return self.f(key, y) * 10 ** self.co.scale

    def pick(self, *options):
        return self.rng.choice(options)


def _change(cur: int, prev: int) -> Decimal:
    return _q(Decimal(cur - prev) * 100 / abs(prev), "1") if prev else Decimal(0)


def _updown(cur: int, prev: int) -> str:
    return "increased" if cur >= prev else "decreased"


def _units_caption(ctx: Ctx, per_share_data: bool) -> str:
    unit = "millions" if ctx.co.scale == 6 else "thousands"
    if per_share_data:
        return ctx.pick(f"(In {unit}, except per share amounts)", f"(in {unit}, except per share data)")
    return ctx.pick(f"(In {unit})", f"(in {unit})")


def _mdna_caption(ctx: Ctx) -> str:
    unit = "millions" if ctx.co.scale == 6 else "thousands"
    return ctx.pick(f"(dollars in {unit})", f"($ in {unit})", f"(in {unit})")


def _caption_in_table(ctx: Ctx) -> bool:
    mode = ctx.style.caption_in_table
    return mode == "always" or (mode == "random" and ctx.rng.random() < 0.5)


def _emit_fin_table(doc: Doc, ctx: Ctx, table: FinTable, caption: str, rows) -> ExpectedTable:
    """Write the caption (before the table or as its first row), then the rows."""
    if _caption_in_table(ctx):
        table.caption(caption)
    else:
        doc.para(caption, align="center")
    rows(table)
    return table.emit(doc)


def _year_headers(years: list[int]) -> list[list[str | Part]]:
    return [[year(y)] for y in years]


def _span_text(ctx: Ctx) -> str:
    return ctx.pick("Years ended", "Year Ended", "For the Years Ended", "Fiscal Year")


# --- items -----------------------------------------------------------------------

ITEMS: tuple[tuple[str, str, str], ...] = (
    ("I", "1", "Business"),
    ("I", "1A", "Risk Factors"),
    ("I", "1B", "Unresolved Staff Comments"),
    ("I", "1C", "Cybersecurity"),
    ("I", "2", "Properties"),
    ("I", "3", "Legal Proceedings"),
    ("I", "4", "Mine Safety Disclosures"),
    ("II", "5", "Market for Registrant’s Common Equity, Related Stockholder Matters and Issuer Purchases of "
                "Equity Securities"),
    ("II", "6", "[Reserved]"),
    ("II", "7", "Management’s Discussion and Analysis of Financial Condition and Results of Operations"),
    ("II", "7A", "Quantitative and Qualitative Disclosures About Market Risk"),
    ("II", "8", "Financial Statements and Supplementary Data"),
    ("II", "9", "Changes in and Disagreements with Accountants on Accounting and Financial Disclosure"),
    ("II", "9A", "Controls and Procedures"),
    ("II", "9B", "Other Information"),
    ("II", "9C", "Disclosure Regarding Foreign Jurisdictions that Prevent Inspections"),
    ("III", "10", "Directors, Executive Officers and Corporate Governance"),
    ("III", "11", "Executive Compensation"),
    ("III", "12", "Security Ownership of Certain Beneficial Owners and Management and Related Stockholder Matters"),
    ("III", "13", "Certain Relationships and Related Transactions, and Director Independence"),
    ("III", "14", "Principal Accountant Fees and Services"),
    ("IV", "15", "Exhibit and Financial Statement Schedules"),
    ("IV", "16", "Form 10-K Summary"),
)


def item_1(doc: Doc, ctx: Ctx) -> None:
    co, ind, fy = ctx.co, INDUSTRIES[ctx.co.profile.industry], ctx.fy
    segs = co.profile.segments
    doc.para(f"{co.name} (the “Company”) {ind.what}. The Company was incorporated in {co.profile.state} in ",
             year(co.founded), f" and is headquartered in {co.profile.city}. The Company’s fiscal year ",
             year(fy), " ended on ", date_part(ctx.end()), ".", lead="Company Background")
    names = ", ".join(segs[:-1]) + " and " + segs[-1]
    doc.para(f"The Company manages its business in {_words(len(segs))} reportable segments: {names}. "
             f"Its principal products are {ind.products}.", lead=ctx.pick("Segments", "Business Segments"))
    for k, seg in enumerate(segs):
        share = _q(Decimal(ctx.f(f"seg{k}")) * 100 / ctx.f("revenue"), "1")
        doc.para(f"{seg} net sales were ", money(ctx.usd(f"seg{k}")), " in fiscal ", year(fy),
                 ", representing ", pct(share), " of total net sales, ",
                 ctx.pick("compared with ", "versus "), money(ctx.usd(f"seg{k}", fy - 1)), " in fiscal ",
                 year(fy - 1), ".", lead=f"{seg}.", emph="")
    doc.para(f"The Company sells to {ind.customers} in more than ", count(ctx.rng.randint(20, 160)),
             " countries. No single customer accounted for more than ", pct(10), " of net sales in fiscal ",
             year(fy), ", ", year(fy - 1), " or ", year(fy - 2), ".", lead="Customers and Markets")
    tril = f"{ctx.rng.randint(11, 49) / 10:.1f}"
    doc.para("During fiscal ", year(fy), ", the Company recorded approximately ", scaled_count(tril, "trillion"),
             f" {ind.volume}, and its order backlog was ", money(int(ctx.usd("revenue") * ctx.rng.uniform(0.1, 0.4))),
             " as of ", date_part(ctx.end()), ".")
    doc.para("The markets in which the Company competes are highly competitive and characterized by price "
             "reductions, rapid technological change and frequent introductions of new offerings. The Company "
             "believes its principal competitive advantages are the breadth of its portfolio, its installed base "
             "and the strength of its service organization.", lead="Competition")
    doc.para("Research and development expense was ", money(ctx.usd("rnd")), ", ", money(ctx.usd("rnd", fy - 1)),
             " and ", money(ctx.usd("rnd", fy - 2)), " in fiscal ", year(fy), ", ", year(fy - 1), " and ",
             year(fy - 2), ", respectively. As of ", date_part(ctx.end()), ", the Company held ",
             count(ctx.rng.randint(120, 9000)), " patents worldwide.", lead="Research and Development")
    employees = ctx.f("employees")
    doc.para("As of ", date_part(ctx.end()), ", the Company had approximately ", count(employees),
             " full-time equivalent employees, of whom approximately ", pct(ctx.rng.randint(15, 60)),
             " were located outside the United States. Voluntary turnover was ",
             pct(_q(ctx.rng.uniform(4, 15), "0.1"), 1), " in fiscal ", year(fy), ".",
             lead="Human Capital")
    doc.para("The Company’s annual, quarterly and current reports, and amendments to those reports, are available "
             "free of charge on its investor relations website as soon as reasonably practicable after they are "
             "filed with the Securities and Exchange Commission.", lead="Available Information")


def item_1a(doc: Doc, ctx: Ctx) -> None:
    fy = ctx.fy
    doc.para("The Company’s business, reputation, results of operations and financial condition, as well as the "
             "price of its stock, can be affected by a number of factors, whether currently known or unknown, "
             "including those described below.")
    doc.heading("Macroeconomic and Industry Risks", align="left")
    doc.para("Approximately ", pct(ctx.rng.randint(25, 65)), " of the Company’s net sales in fiscal ", year(fy),
             " came from customers outside the United States, so changes in trade policy, tariffs and currency "
             "exchange rates could materially reduce demand and margins.",
             lead="Global economic conditions could adversely affect the Company.", emph="")
    doc.para("The Company’s ", count(ctx.rng.randint(5, 20)), " largest customers accounted for ",
             pct(ctx.rng.randint(18, 45)), " of net sales in fiscal ", year(fy),
             ". The loss of any of them, or a significant reduction in their purchases, could harm results.",
             lead="The Company depends on a limited number of customers.")
    doc.heading("Business Risks", align="left")
    doc.para("The Company relies on ", count(ctx.rng.randint(3, 40)),
             " single-source suppliers for certain components. Supply disruptions, including those caused by "
             "natural disasters, public health crises or geopolitical events, could delay shipments.",
             lead="The Company depends on component suppliers.")
    if ctx.co.debt:
        doc.para("As of ", date_part(ctx.end()), ", the Company had ", money(ctx.usd("debt")),
                 " of long-term debt outstanding. Its debt agreements contain covenants that restrict its ability "
                 "to incur additional indebtedness.", lead="The Company’s indebtedness could limit its flexibility.")
    doc.para("The Company is exposed to cybersecurity threats, and a breach of its systems or those of its "
             "vendors could disrupt operations, expose confidential information and result in litigation.",
             lead="Security breaches could harm the Company.", emph="i")


def item_1b(doc: Doc, ctx: Ctx) -> None:
    doc.para("None.")


def item_1c(doc: Doc, ctx: Ctx) -> None:
    doc.para("The Company’s cybersecurity program is designed to identify, assess and manage material risks from "
             "cybersecurity threats. The program is led by the Chief Information Security Officer, who has more "
             "than ", count(ctx.rng.randint(12, 30)), " years of experience in information security and reports "
             "to the Audit Committee at least quarterly.", lead="Risk Management and Strategy")
    doc.para("During fiscal ", year(ctx.fy), ", the Company did not identify any cybersecurity incidents that "
             "materially affected, or are reasonably likely to materially affect, its business strategy, results "
             "of operations or financial condition.", lead="Governance")


def item_2(doc: Doc, ctx: Ctx) -> None:
    ind = INDUSTRIES[ctx.co.profile.industry]
    sqft = f"{ctx.rng.randint(3, 48) / 10:.1f}"
    doc.para(f"The Company’s headquarters are located in {ctx.co.profile.city}, where it owns approximately ",
             scaled_count(sqft, "million"), " square feet of office and laboratory space. As of ",
             date_part(ctx.end()), f", the Company owned or leased ", count(ctx.rng.randint(8, 240)),
             f" {ind.facility} in ", count(ctx.rng.randint(3, 40)), " countries. The Company believes its "
             "facilities are in good condition and suitable for the conduct of its business.")


def item_3(doc: Doc, ctx: Ctx) -> None:
    doc.para("The Company is subject to legal proceedings and claims that arise in the ordinary course of "
             "business. See Note ", count(ctx.rng.randint(9, 14)), ", “Commitments and Contingencies,” in Part II, "
             "Item ", count(8), " of this Form 10-K.")


def item_4(doc: Doc, ctx: Ctx) -> None:
    doc.para("Not applicable.")


def item_5(doc: Doc, ctx: Ctx) -> None:
    co = ctx.co
    doc.para(f"The Company’s common stock is traded on the {co.profile.exchange} under the symbol {co.ticker}. "
             "As of ", date_part(ctx.filed_at - timedelta(days=14)), ", there were ",
             count(ctx.rng.randint(900, 40000)), " shareholders of record.", lead="Market Information")
    if co.pays_dividends:
        dps = _q(Decimal(-ctx.f("dividends")) / ctx.f("shares"))
        doc.para("The Company paid cash dividends of ", per_share(dps), " per share during fiscal ", year(ctx.fy),
                 " and expects to continue paying quarterly dividends, subject to declaration by the Board of "
                 "Directors.", lead="Dividends")
    else:
        doc.para("The Company has never declared or paid cash dividends on its common stock and does not "
                 "anticipate paying dividends in the foreseeable future.", lead="Dividends")
    if ctx.f("buyback"):
        price = _q(ctx.rng.uniform(20, 400))
        bought = int(-ctx.usd("buyback") / float(price) * 0.25)
        doc.para("During the fourth quarter of fiscal ", year(ctx.fy), ", the Company repurchased ", count(bought),
                 " shares of its common stock at an average price of ", per_share(price), " per share.",
                 lead="Issuer Purchases of Equity Securities")


def item_6(doc: Doc, ctx: Ctx) -> None:
    """[Reserved]: the heading stands alone."""


def item_7(doc: Doc, ctx: Ctx) -> None:
    _mdna_highlights(doc, ctx)
    _mdna_segments(doc, ctx)
    _mdna_margin_and_expenses(doc, ctx)
    _mdna_liquidity(doc, ctx)


def _mdna_highlights(doc: Doc, ctx: Ctx) -> None:
    fy = ctx.fy
    rev, rev_p = ctx.f("revenue"), ctx.f("revenue", fy - 1)
    doc.para("The following discussion should be read in conjunction with the consolidated financial statements "
             "and accompanying notes included in Part II, Item ", count(8), " of this Form 10-K. Unless otherwise "
             "stated, all information presented is for fiscal ", year(fy), " compared to fiscal ", year(fy - 1), ".")
    doc.heading("Fiscal ", year(fy), " Highlights", align="left")
    ni = ctx.f("ni")
    eps = Decimal(ctx.f("eps_diluted_c")) / 100
    doc.para("Total net sales ", _updown(rev, rev_p), " ", pct(abs(_change(rev, rev_p))), " or ",
             money(abs(ctx.usd("revenue") - ctx.usd("revenue", fy - 1))), " during fiscal ", year(fy),
             " compared to fiscal ", year(fy - 1), ". ",
             "Net income was " if ni >= 0 else "The net loss was ", money(abs(ctx.usd("ni"))),
             # "$0.96 per share": the per-share words follow the number, never precede it
             ", or diluted earnings of " if ni >= 0 else ", or a diluted net loss of ", per_share(eps), " per share.")


def _mdna_segments(doc: Doc, ctx: Ctx) -> None:
    """Net sales by segment with % change columns, then a rowspan-labelled results table."""
    co, fy, st = ctx.co, ctx.fy, ctx.style
    years = [fy, fy - 1, fy - 2]
    segs = co.profile.segments
    doc.heading("Segment Operating Performance", align="left")

    def with_changes(t: FinTable, key: str, dollar: bool) -> list[Val]:
        vals = []
        for y in years:
            vals.append(t.amount(ctx.f(key, y), dollar=dollar))
            if y > fy - 2:
                vals.append(t.percent(_change(ctx.f(key, y), ctx.f(key, y - 1)), places=0))
        return vals

    def net_sales(t: FinTable) -> None:
        t.group_header([[year(fy)], ["Change"], [year(fy - 1)], ["Change"], [year(fy - 2)]])
        for k, seg in enumerate(segs):
            t.row(seg, with_changes(t, f"seg{k}", dollar=k == 0))
        t.row("Total net sales", with_changes(t, "revenue", dollar=True), bold=True)

    _emit_fin_table(doc, ctx, FinTable(st, 5, co.scale), _mdna_caption(ctx), net_sales)
    for k, seg in enumerate(segs):
        cur, prev = ctx.f(f"seg{k}"), ctx.f(f"seg{k}", fy - 1)
        doc.para(f"{seg} net sales {_updown(cur, prev)} ", pct(abs(_change(cur, prev))), " during fiscal ",
                 year(fy), " compared to fiscal ", year(fy - 1), ", ",
                 ctx.pick("driven primarily by ", "due mainly to ", "reflecting "),
                 ctx.pick("higher volumes and favorable pricing.", "changes in customer demand and mix.",
                          "the timing of large orders and currency movements."), lead=f"{seg}.")

    def segment_results(t: FinTable) -> None:
        t.group_header(_year_headers(years))
        for k, seg in enumerate(segs):
            t.row("", [t.amount(ctx.f(f"seg{k}", y), dollar=k == 0) for y in years],
                  labels=[text_cell([seg], st, rowspan=2), text_cell(["Net sales"], st)])
            t.row("", [t.amount(ctx.f(f"segop{k}", y)) for y in years], labels=[text_cell(["Operating income"], st)])

    doc.para("The following table shows net sales and operating income by reportable segment:")
    _emit_fin_table(doc, ctx, FinTable(st, 3, co.scale, label_cols=2), _mdna_caption(ctx), segment_results)


def _mdna_margin_and_expenses(doc: Doc, ctx: Ctx) -> None:
    co, fy, st = ctx.co, ctx.fy, ctx.style
    years = [fy, fy - 1, fy - 2]
    doc.heading("Gross Margin", align="left")
    pcts = {y: _q(Decimal(ctx.f("gross", y)) * 100 / ctx.f("revenue", y), "0.1") for y in years}

    def gross_margin(t: FinTable) -> None:
        t.group_header(_year_headers(years))
        t.row("Gross margin", [t.amount(ctx.f("gross", y), dollar=True) for y in years])
        t.row("Gross margin percentage",
              [t.percent(pcts[y], f"{co.ticker.lower()}:GrossMarginPercentage", f"FY{y}") for y in years])

    _emit_fin_table(doc, ctx, FinTable(st, 3, co.scale), _mdna_caption(ctx), gross_margin)
    doc.para("Gross margin percentage ", "increased" if pcts[fy] >= pcts[fy - 1] else "decreased", " to ",
             pct(pcts[fy], 1), " in fiscal ", year(fy), " from ", pct(pcts[fy - 1], 1), " in fiscal ", year(fy - 1),
             ", ", ctx.pick("primarily due to cost savings and a different product mix.",
                            "reflecting higher component and freight costs, partially offset by pricing actions."))
    doc.heading("Operating Expenses", align="left")
    rnd, rnd_p = ctx.f("rnd"), ctx.f("rnd", fy - 1)
    doc.para("Research and development expense ", _updown(rnd, rnd_p), " ", pct(abs(_change(rnd, rnd_p))), " to ",
             money(ctx.usd("rnd")), " in fiscal ", year(fy), ", and selling, general and administrative expense was ",
             money(ctx.usd("sga")), ", or ", pct(_q(Decimal(ctx.f("sga")) * 100 / ctx.f("revenue"), "0.1"), 1),
             " of total net sales.")
    if ctx.f("restructuring"):
        doc.para("The Company recorded restructuring and impairment charges of ", money(ctx.usd("restructuring")),
                 " in fiscal ", year(fy), ", primarily related to facility consolidation and asset write-downs.")
    else:
        doc.para("The Company recorded no restructuring or impairment charges in fiscal ", year(fy), ".")
    if ctx.f("pretax"):
        rate = _q(Decimal(ctx.f("tax")) * 100 / ctx.f("pretax"), "0.1")
        doc.para("The Company’s effective tax rate was ", pct(abs(rate), 1), " in fiscal ", year(fy),
                 ", compared with the statutory federal income tax rate of ", pct(21), ".",
                 lead="Provision for Income Taxes")


def _mdna_liquidity(doc: Doc, ctx: Ctx) -> None:
    fy = ctx.fy
    doc.heading("Liquidity and Capital Resources", align="left")
    doc.para("As of ", date_part(ctx.end()), ", the Company had ", money(ctx.usd("cash")),
             " in cash and cash equivalents. Cash ", "generated by" if ctx.f("cfo") >= 0 else "used in",
             " operating activities was ", money(abs(ctx.usd("cfo"))), " in fiscal ", year(fy),
             ". The Company believes its balances and cash flows will be sufficient to meet its needs over the next "
             "twelve months.")
    if ctx.f("buyback"):
        n_shares = f"{ctx.rng.randint(12, 400) / 10:.1f}"
        doc.para("During fiscal ", year(fy), ", the Company repurchased ", scaled_count(n_shares, "million"),
                 " shares of its common stock for ", money(-ctx.usd("buyback")), ".")
    if ctx.f("dividends"):
        quarterly = max(Decimal("0.01"), _q(Decimal(-ctx.f("dividends")) / ctx.f("shares") / 4))
        doc.para("The Company paid dividends of ", money(-ctx.usd("dividends")), " during fiscal ", year(fy),
                 ", and on ", date_part(ctx.filed_at - timedelta(days=9)),
                 " its Board of Directors declared a quarterly dividend of ", per_share(quarterly), " per share.")
    doc.para("The preparation of financial statements requires estimates and assumptions that affect reported "
             "amounts. The Company considers revenue recognition, inventory valuation, goodwill impairment and "
             "income taxes to be its critical accounting estimates.", lead="Critical Accounting Estimates")


def item_7a(doc: Doc, ctx: Ctx) -> None:
    doc.para("The Company is exposed to interest rate risk on its investment portfolio and debt. A hypothetical ",
             count(100), " basis point increase in interest rates would have decreased the fair value of the "
             "Company’s investments by ", money(int(ctx.usd("cash") * ctx.rng.uniform(0.004, 0.02))), " as of ",
             date_part(ctx.end()), ".", lead="Interest Rate Risk")
    doc.para("The Company’s exposure to foreign currency exchange rate risk relates primarily to sales "
             "denominated in euros, British pounds and Japanese yen. A hypothetical ", pct(10),
             " adverse change in exchange rates would have reduced net sales by approximately ",
             money(int(ctx.usd("revenue") * ctx.rng.uniform(0.01, 0.04))), " in fiscal ", year(ctx.fy), ".",
             lead="Foreign Currency Risk")


def item_8(doc: Doc, ctx: Ctx) -> None:
    doc.para("The consolidated financial statements of the Company and the report of its independent registered "
             "public accounting firm are set forth below.")
    doc.page_break()
    _income_statement(doc, ctx)
    doc.para(Part("", html=ctx.style.sup("(1)")), " Includes stock-based compensation expense.")
    doc.page_break()
    _balance_sheet(doc, ctx)
    doc.page_break()
    _cash_flows(doc, ctx)
    doc.para("See accompanying Notes to Consolidated Financial Statements.", emph="i")
    doc.page_break()
    _note_1(doc, ctx)


def _statement_title(doc: Doc, ctx: Ctx, title: str) -> None:
    # The company name heads only the first statement page: the same line right
    # after three or more page breaks reads as a running header, which the ETL
    # may drop as page furniture.
    if title.endswith("OPERATIONS"):
        doc.heading(ctx.co.name, align="center")
    doc.heading(title, align="center")


def _income_statement(doc: Doc, ctx: Ctx) -> None:
    st, fy = ctx.style, ctx.fy
    years = [fy, fy - 1, fy - 2]
    _statement_title(doc, ctx, "CONSOLIDATED STATEMENTS OF OPERATIONS")
    fn = Part("", html=st.sup("(1)"))

    def rows(t: FinTable) -> None:
        def line(label, key, concept, dollar=False, **kw):
            t.row(label, [t.amount(ctx.f(key, y), f"us-gaap:{concept}", f"FY{y}", dollar, **kw) for y in years])

        t.span_header(_span_text(ctx))
        t.group_header(_year_headers(years))
        line("Net sales", "revenue", "Revenues", dollar=True)
        line("Cost of sales", "cost", "CostOfRevenue")
        line("Gross margin", "gross", "GrossProfit")
        t.spacer()
        t.section("Operating expenses:")
        line(["Research and development", fn], "rnd", "ResearchAndDevelopmentExpense")
        line(["Selling, general and administrative", fn], "sga", "SellingGeneralAndAdministrativeExpense")
        line("Restructuring and impairment charges", "restructuring", "RestructuringCharges")
        line("Total operating expenses", "opex", "OperatingExpenses")
        t.spacer()
        line("Operating income (loss)", "opinc", "OperatingIncomeLoss")
        line("Other income (expense), net", "other", "NonoperatingIncomeExpense")
        line("Income (loss) before provision for income taxes", "pretax",
             "IncomeLossFromContinuingOperationsBeforeIncomeTaxesExtraordinaryItemsNoncontrollingInterest")
        line("Provision for (benefit from) income taxes", "tax", "IncomeTaxExpenseBenefit")
        line("Net income (loss)", "ni", "NetIncomeLoss", dollar=True)
        t.spacer()
        # per-share rows: not scaled by the caption
        t.row("Basic earnings per share", [t.per_share(Decimal(ctx.f("eps_basic_c", y)) / 100,
                                                        "us-gaap:EarningsPerShareBasic", f"FY{y}") for y in years])
        t.row("Diluted earnings per share", [t.per_share(Decimal(ctx.f("eps_diluted_c", y)) / 100,
                                                          "us-gaap:EarningsPerShareDiluted", f"FY{y}") for y in years])

    _emit_fin_table(doc, ctx, FinTable(st, 3, ctx.co.scale), _units_caption(ctx, True), rows)


def _balance_sheet(doc: Doc, ctx: Ctx) -> None:
    st, fy = ctx.style, ctx.fy
    years = [fy, fy - 1]
    _statement_title(doc, ctx, "CONSOLIDATED BALANCE SHEETS")

    def rows(t: FinTable) -> None:
        def line(label, key, concept, dollar=False):
            t.row(label, [t.amount(ctx.f(key, y), f"us-gaap:{concept}", f"AsOf{y}", dollar) for y in years])

        t.group_header([[date_part(ctx.end(y))] for y in years])
        t.section("ASSETS:")
        t.section("Current assets:")
        line("Cash and cash equivalents", "cash", "CashAndCashEquivalentsAtCarryingValue", dollar=True)
        line("Accounts receivable, net", "ar", "AccountsReceivableNetCurrent")
        line("Inventories", "inventory", "InventoryNet")
        line("Other current assets", "other_ca", "OtherAssetsCurrent")
        line("Total current assets", "tca", "AssetsCurrent")
        t.spacer()
        line("Property, plant and equipment, net", "ppe", "PropertyPlantAndEquipmentNet")
        line("Goodwill", "goodwill", "Goodwill")
        line("Other non-current assets", "other_nca", "OtherAssetsNoncurrent")
        line("Total assets", "assets", "Assets", dollar=True)
        t.spacer()
        t.section("LIABILITIES AND SHAREHOLDERS’ EQUITY:")
        t.section("Current liabilities:")
        line("Accounts payable", "ap", "AccountsPayableCurrent", dollar=True)
        line("Accrued expenses", "accrued", "AccruedLiabilitiesCurrent")
        line("Total current liabilities", "tcl", "LiabilitiesCurrent")
        line("Long-term debt", "debt", "LongTermDebtNoncurrent")
        line("Total liabilities", "liabilities", "Liabilities")
        t.spacer()
        t.section("Shareholders’ equity:")
        line("Common stock and additional paid-in capital", "common", "CommonStocksIncludingAdditionalPaidInCapital")
        line("Retained earnings (accumulated deficit)", "retained", "RetainedEarningsAccumulatedDeficit")
        line("Total shareholders’ equity", "equity", "StockholdersEquity")
        line("Total liabilities and shareholders’ equity", "assets", "LiabilitiesAndStockholdersEquity", dollar=True)

    _emit_fin_table(doc, ctx, FinTable(st, 2, ctx.co.scale), _units_caption(ctx, False), rows)


def _cash_flows(doc: Doc, ctx: Ctx) -> None:
    st, fy = ctx.style, ctx.fy
    years = [fy, fy - 1, fy - 2]
    _statement_title(doc, ctx, "CONSOLIDATED STATEMENTS OF CASH FLOWS")

    def rows(t: FinTable) -> None:
        def line(label, key, concept, dollar=False, inverted=False, context=lambda y: f"FY{y}"):
            t.row(label, [t.amount(ctx.f(key, y), f"us-gaap:{concept}", context(y), dollar, inverted) for y in years])

        t.span_header(_span_text(ctx))
        t.group_header(_year_headers(years))
        line("Cash and cash equivalents, beginning balances", "cash_begin", "CashAndCashEquivalentsAtCarryingValue",
             dollar=True, context=lambda y: f"AsOf{y - 1}")
        t.section("Operating activities:")
        line("Net income (loss)", "ni", "NetIncomeLoss")
        line("Depreciation and amortization", "da", "DepreciationDepletionAndAmortization")
        line("Share-based compensation expense", "sbc", "ShareBasedCompensation")
        line("Restructuring and impairment charges", "restructuring", "RestructuringCharges")
        line("Changes in operating assets and liabilities, net", "wc", "IncreaseDecreaseInOperatingCapital",
             inverted=True)
        line("Cash generated by (used in) operating activities", "cfo", "NetCashProvidedByUsedInOperatingActivities")
        t.section("Investing activities:")
        line("Payments for acquisition of property, plant and equipment", "capex",
             "PaymentsToAcquirePropertyPlantAndEquipment", inverted=True)
        line("Acquisitions, net of cash acquired", "acq", "PaymentsToAcquireBusinessesNetOfCashAcquired",
             inverted=True)
        line("Cash used in investing activities", "cfi", "NetCashProvidedByUsedInInvestingActivities")
        t.section("Financing activities:")
        line("Repurchases of common stock", "buyback", "PaymentsForRepurchaseOfCommonStock", inverted=True)
        line("Payments for dividends", "dividends", "PaymentsOfDividends", inverted=True)
        line("Cash used in financing activities", "cff", "NetCashProvidedByUsedInFinancingActivities")
        line("Increase (decrease) in cash and cash equivalents", "net_change",
             "CashAndCashEquivalentsPeriodIncreaseDecrease")
        line("Cash and cash equivalents, ending balances", "cash", "CashAndCashEquivalentsAtCarryingValue",
             dollar=True, context=lambda y: f"AsOf{y}")

    _emit_fin_table(doc, ctx, FinTable(st, 3, ctx.co.scale), _units_caption(ctx, False), rows)


def _note_1(doc: Doc, ctx: Ctx) -> None:
    fy = ctx.fy
    # Filers wrap whole notes in ix:nonNumeric: a container of blocks, not a block.
    doc.raw(f'<ix:nonNumeric name="us-gaap:SignificantAccountingPoliciesTextBlock" contextRef="FY{fy}" '
            'escape="true">')
    doc.heading("Note ", count(1), " – Summary of Significant Accounting Policies")
    doc.para("The consolidated financial statements include the accounts of the Company and its wholly owned "
             "subsidiaries. Intercompany accounts and transactions have been eliminated. The Company’s fiscal "
             "years ", year(fy), ", ", year(fy - 1), " and ", year(fy - 2), " ended on ", date_part(ctx.end(fy)), ", ",
             date_part(ctx.end(fy - 1)), " and ", date_part(ctx.end(fy - 2)), ", respectively.",
             lead="Basis of Presentation")
    doc.para("The Company records revenue when control of the promised goods or services transfers to customers, "
             "in an amount that reflects the consideration it expects to receive.", lead="Revenue Recognition")
    doc.raw("</ix:nonNumeric>")


def item_9(doc: Doc, ctx: Ctx) -> None:
    doc.para("None.")


def item_9a(doc: Doc, ctx: Ctx) -> None:
    doc.para("Based on an evaluation under the supervision and with the participation of management, the Chief "
             "Executive Officer and Chief Financial Officer concluded that the Company’s disclosure controls and "
             "procedures were effective as of ", date_part(ctx.end()), ".",
             lead="Evaluation of Disclosure Controls and Procedures")
    doc.para("Management assessed the effectiveness of internal control over financial reporting using the "
             "criteria in Internal Control – Integrated Framework issued by the Committee of Sponsoring "
             "Organizations of the Treadway Commission in ", year(2013), " and concluded that it was effective.",
             lead="Management’s Annual Report on Internal Control over Financial Reporting")


def item_9b(doc: Doc, ctx: Ctx) -> None:
    doc.para("During the three months ended ", date_part(ctx.end()), ", none of the Company’s directors or "
             "officers adopted or terminated a trading arrangement for the purchase or sale of Company securities.")


def item_9c(doc: Doc, ctx: Ctx) -> None:
    doc.para("Not applicable.")


def _proxy_item(doc: Doc, ctx: Ctx) -> None:
    doc.para("The information required by this Item will be included in the Company’s definitive Proxy Statement "
             "for its ", year(ctx.fy + 1), " Annual Meeting of Shareholders ",
             ctx.pick("and is incorporated herein by reference.", "and is incorporated in this report by reference."))


def item_15(doc: Doc, ctx: Ctx) -> None:
    doc.para("(a) The financial statements listed in Part II, Item ", count(8), " of this Form 10-K are filed as "
             "part of this report. All financial statement schedules have been omitted because they are not "
             "required or the information is shown in the financial statements or notes.")


def item_16(doc: Doc, ctx: Ctx) -> None:
    doc.para("None.")


WRITERS = {
    "1": item_1, "1A": item_1a, "1B": item_1b, "1C": item_1c, "2": item_2, "3": item_3, "4": item_4,
    "5": item_5, "6": item_6, "7": item_7, "7A": item_7a, "8": item_8, "9": item_9, "9A": item_9a,
    "9B": item_9b, "9C": item_9c, "10": _proxy_item, "11": _proxy_item, "12": _proxy_item,
    "13": _proxy_item, "14": _proxy_item, "15": item_15, "16": item_16,
}


def _words(n: int) -> str:
    return ("zero", "one", "two", "three", "four", "five")[n]


# --- front matter and hidden content --------------------------------------------

def _cover(doc: Doc, ctx: Ctx) -> None:
    co, st = ctx.co, ctx.style
    doc.raw("<div>")  # the cover is one container of blocks, as many filers write it
    doc.heading("UNITED STATES", align="center")
    doc.heading("SECURITIES AND EXCHANGE COMMISSION", align="center")
    doc.para("Washington, D.C. ", count(20549, grouped=False), align="center")
    form = Part(FORM, html=f'<ix:nonNumeric name="dei:DocumentType" contextRef="FY{ctx.fy}">{FORM}</ix:nonNumeric>')
    doc.heading("FORM ", form, align="center")
    doc.para("☒ ANNUAL REPORT PURSUANT TO SECTION ", count(13), " OF THE SECURITIES EXCHANGE ACT OF ", year(1934),
             align="center")
    end = date_part(ctx.end())
    end = Part(end.text, end.number, '<ix:nonNumeric name="dei:DocumentPeriodEndDate" contextRef="FY{}" '
               'format="ixt:date-monthname-day-year-en">{}</ix:nonNumeric>'.format(ctx.fy, st.part_html(end)))
    doc.para("For the fiscal year ended ", end, align="center")
    doc.runs([("b", [co.name.upper(), BR]), ("", ["(Exact name of registrant as specified in its charter)"])],
             align="center")
    doc.para(f"{co.profile.state} (State or other jurisdiction of incorporation or organization)", align="center")
    doc.para("Securities registered pursuant to Section ", count(12), " of the Act:")
    head = [text_cell([t], st, align="center", bold=True)
            for t in ("Title of each class", "Trading symbol", "Name of each exchange on which registered")]
    exch = co.profile.exchange.replace(" Global Select Market", " Stock Market LLC")
    doc.table([head, [text_cell(["Common Stock"], st), text_cell([co.ticker], st, align="center"),
                      text_cell([exch], st, align="center")]])
    doc.para("Indicate by check mark if the registrant is a well-known seasoned issuer, as defined in Rule ",
             count(405), " of the Securities Act. Yes ☒ No ☐")
    float_usd = int(ctx.usd("revenue") * ctx.rng.uniform(1.5, 6)) // 10**6 * 10**6
    float_ix = (f'$<ix:nonFraction unitRef="usd" contextRef="FloatDate" decimals="-6" name="dei:EntityPublicFloat" '
                f'format="ixt:num-dot-decimal" scale="0">{float_usd:,}</ix:nonFraction>')
    doc.para("The aggregate market value of the voting and non-voting stock held by non-affiliates of the "
             "registrant, as of ", date_part(_float_date(ctx)), ", was approximately ",
             Part(f"${float_usd:,}", _num(f"${float_usd:,}", f"{float_usd}", "amount", unit="USD"), float_ix), ".")
    shares = ctx.usd("shares")
    shares_ix = (f'<ix:nonFraction unitRef="shares" contextRef="SharesDate" decimals="-3" '
                 f'name="dei:EntityCommonStockSharesOutstanding" format="ixt:num-dot-decimal" scale="0">'
                 f'{shares:,}</ix:nonFraction>')
    doc.para(Part(f"{shares:,}", _num(f"{shares:,}", f"{shares}", "count"), shares_ix),
             " shares of common stock were issued and outstanding as of ", date_part(_shares_date(ctx)), ".",
             align="center")
    doc.heading("DOCUMENTS INCORPORATED BY REFERENCE", align="center")
    doc.para("Portions of the registrant’s definitive proxy statement relating to its ", year(ctx.fy + 1),
             " annual meeting of shareholders are incorporated by reference into Part III of this Annual Report on "
             "Form 10-K.")
    doc.raw("</div>")
    doc.raw(st.page_break())


def _float_date(ctx: Ctx) -> date:
    return ctx.end() - timedelta(days=182)


def _shares_date(ctx: Ctx) -> date:
    return ctx.filed_at - timedelta(days=ctx.rng.randint(7, 20))


def _toc(doc: Doc, ctx: Ctx, items: list[tuple[str, str]], pages: list[int]) -> None:
    st = ctx.style
    doc.heading("TABLE OF CONTENTS" if ctx.rng.random() < 0.5 else "Table of Contents", align="center")
    word = "ITEM" if st.upper_tags else "Item"
    rows = [[Cell(), Cell(), text_cell(["Page"], st, align="right", bold=True)]]
    part = None
    for (item_id, title), page, (part_no, _, _) in zip(items, pages, ITEMS):
        if part_no != part:
            part = part_no
            rows.append([text_cell([f"PART {part_no}"], st, colspan=3, align="center", bold=True)])
        label = [f"{word} ", count(int(item_id)), "."] if item_id.isdigit() else [Part(f"{word} {item_id}.")]
        link = f'<a href="#item_{item_id.lower()}">'
        title_cell = text_cell([Part(title)], st)
        title_cell.html = f"{link}{title_cell.html}</a>"
        page_cell = text_cell([count(page)], st, align="right")
        page_cell.html = f"{link}{page_cell.html}</a>"
        rows.append([text_cell(label, st), title_cell, page_cell])
    doc.table(rows)
    doc.raw(st.page_break())


def _ix_header(ctx: Ctx) -> str:
    """The hidden ix:header: facts, contexts and units no reader sees."""
    co, fy = ctx.co, ctx.fy
    ident = ('<xbrli:entity><xbrli:identifier scheme="http://www.sec.gov/CIK">'
             f"{co.cik}</xbrli:identifier></xbrli:entity>")
    contexts = []
    for y in range(fy - 3, fy + 1):
        start = period_end(co.profile.fye, y - 1) + timedelta(days=1)
        contexts.append(f'<xbrli:context id="FY{y}">{ident}<xbrli:period><xbrli:startDate>{start}</xbrli:startDate>'
                        f'<xbrli:endDate>{ctx.end(y)}</xbrli:endDate></xbrli:period></xbrli:context>')
        contexts.append(f'<xbrli:context id="AsOf{y}">{ident}<xbrli:period><xbrli:instant>{ctx.end(y)}'
                        '</xbrli:instant></xbrli:period></xbrli:context>')
    for cid, d in (("FloatDate", _float_date(ctx)), ("SharesDate", ctx.filed_at)):
        contexts.append(f'<xbrli:context id="{cid}">{ident}<xbrli:period><xbrli:instant>{d}</xbrli:instant>'
                        '</xbrli:period></xbrli:context>')
    units = ('<xbrli:unit id="usd"><xbrli:measure>iso4217:USD</xbrli:measure></xbrli:unit>'
             '<xbrli:unit id="shares"><xbrli:measure>xbrli:shares</xbrli:measure></xbrli:unit>'
             '<xbrli:unit id="pure"><xbrli:measure>xbrli:pure</xbrli:measure></xbrli:unit>'
             '<xbrli:unit id="usdPerShare"><xbrli:divide><xbrli:unitNumerator><xbrli:measure>iso4217:USD'
             '</xbrli:measure></xbrli:unitNumerator><xbrli:unitDenominator><xbrli:measure>xbrli:shares'
             '</xbrli:measure></xbrli:unitDenominator></xbrli:divide></xbrli:unit>')
    hidden = (f'<ix:nonNumeric name="dei:AmendmentFlag" contextRef="FY{fy}">false</ix:nonNumeric>'
              f'<ix:nonNumeric name="dei:DocumentFiscalYearFocus" contextRef="FY{fy}">{fy}</ix:nonNumeric>'
              f'<ix:nonNumeric name="dei:DocumentFiscalPeriodFocus" contextRef="FY{fy}">FY</ix:nonNumeric>'
              f'<ix:nonNumeric name="dei:EntityCentralIndexKey" contextRef="FY{fy}">{co.cik}</ix:nonNumeric>'
              f'<ix:nonNumeric name="dei:CurrentFiscalYearEndDate" contextRef="FY{fy}">'
              f'--{ctx.end():%m-%d}</ix:nonNumeric>'
              f'<ix:nonFraction name="dei:EntityListingParValuePerShare" contextRef="FY{fy}" unitRef="usdPerShare" '
              f'decimals="INF" scale="0">0.00001</ix:nonFraction>')
    schema = f"{co.ticker.lower()}-{ctx.end():%Y%m%d}.xsd"
    return ('<div style="display:none"><ix:header>'
            f'<ix:hidden>{hidden}</ix:hidden>'
            '<ix:references><link:schemaRef xlink:type="simple" '
            f'xlink:href="{schema}"></link:schemaRef></ix:references>'
            f'<ix:resources>{"".join(contexts)}{units}</ix:resources>'
            '</ix:header></div>\n')


def _hidden_extras(ctx: Ctx) -> str:
    """Other content no reader sees: a script and a display:none div with text."""
    n = ctx.rng.randint(1000, 9999)
    return (f'<script type="text/javascript">var filingPages = {n}; /* {ctx.fy} viewer */</script>\n'
            f'<div style="display: none">Draft {n} of the {ctx.fy} annual report, revision {n % 97}.</div>\n')


_NAMESPACES = ('xmlns:ix="http://www.xbrl.org/2013/inlineXBRL" xmlns:xbrli="http://www.xbrl.org/2003/instance" '
               'xmlns:link="http://www.xbrl.org/2003/linkbase" xmlns:xlink="http://www.w3.org/1999/xlink" '
               'xmlns:ixt="http://www.xbrl.org/inlineXBRL/transformation/2020-02-12" '
               'xmlns:iso4217="http://www.xbrl.org/2003/iso4217" xmlns:us-gaap="http://fasb.org/us-gaap/2024" '
               'xmlns:dei="http://xbrl.sec.gov/dei/2024"')


Writer = Callable[[Doc, Ctx], None]


def _body(ctx: Ctx, writers: Mapping[str, Writer]) -> Doc:
    """Parts I-IV, with page footers between pages."""
    doc = Doc(ctx.style)
    part = None
    for part_no, item_id, title in ITEMS:
        if part_no != part:
            part = part_no
            if part_no != "I":
                doc.page_break()
            doc.heading(f"PART {part_no}", align="center")
        doc.item(item_id, title)
        start = len(doc.html)
        writers[item_id](doc, ctx)
        if item_id in ("1", "1A", "7") or ctx.rng.random() < 0.15:
            doc.break_inside(start + 1, ctx.rng)
    doc.page_break()
    return doc


def build_filing(co: Company, fy: int, fin: dict[int, dict[str, int]], seed: int,
                 writers: Mapping[str, Writer] | None = None) -> SampleFiling:
    """One filing; `writers` replaces the writers of some items (e.g. to add a paragraph)."""
    rng = random.Random(f"{seed}/filing/{co.ticker}/{fy}")
    end = period_end(co.profile.fye, fy)
    filed_at = end + timedelta(days=rng.randint(28, 60))
    style = co.style()
    ctx = Ctx(co, fy, fin, rng, style, filed_at)
    body = _body(ctx, {**WRITERS, **(writers or {})})
    front = Doc(style)
    _cover(front, ctx)
    _toc(front, ctx, body.items, body.item_pages)
    front.extend(body)
    title = f"{co.ticker.lower()}-{end:%Y%m%d}"
    html = (style.head(title, _NAMESPACES + f' xmlns:{co.ticker.lower()}="http://www.example.com/{end:%Y%m%d}"')
            + _ix_header(ctx) + _hidden_extras(ctx) + "".join(front.html) + "</body></html>\n")
    if style.upper_tags:
        html = _UPPER_TAGS.sub(lambda m: f"<{m.group(1)}{m.group(2).upper()}", html)
    file_name = f"{co.ticker.lower()}-10-k-{filed_at.isoformat()}.html"
    accession = f"{co.cik}-{filed_at.year % 100:02d}-{rng.randint(1, 99999):06d}"
    sidecar = {"company_id": co.cik, "company_name": co.name, "ticker": co.ticker, "form": FORM,
               "filed_at": filed_at.isoformat(), "period_end": end.isoformat(), "accession_number": accession}
    return SampleFiling(file_name, html, sidecar, co.cik, co.name, co.ticker, fy, end, filed_at,
                        front.items, front.numbers, front.tables, front.blocks)


# --- public API ----------------------------------------------------------------------

def generate_corpus(n_companies: int = 4, n_years: int = 3, seed: int = 0) -> list[SampleFiling]:
    """`n_companies` x `n_years` filings (fiscal years ending with 2024), deterministic for `seed`."""
    ciks: set[str] = set()
    filings = []
    first_fy = LAST_FISCAL_YEAR - n_years + 1
    for i in range(n_companies):
        co = _company(i, seed, ciks)
        fin = _financials(co, first_fy - 3, LAST_FISCAL_YEAR, seed)
        filings.extend(build_filing(co, fy, fin, seed) for fy in range(first_fy, LAST_FISCAL_YEAR + 1))
    return filings


def write_corpus(out_dir, n_companies: int = 4, n_years: int = 3, seed: int = 0, sidecars: bool = True,
                 truth: bool = False) -> list[Path]:
    """Write each filing as `<file_name>` (UTF-8) and, if `sidecars`, `<file_name>.json`;
    with `truth`, also `ground_truth.json` (every filing's truth, keyed by file name).
    Returns the HTML paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    filings = generate_corpus(n_companies, n_years, seed)
    for f in filings:
        path = out / f.file_name
        path.write_text(f.html, encoding="utf-8")
        if sidecars:
            (out / f"{f.file_name}.json").write_text(json.dumps(f.sidecar, indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    if truth:
        data = {f.file_name: f.truth() for f in filings}
        (out / "ground_truth.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
