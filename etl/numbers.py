"""Find the numbers in a piece of filing text and normalise them.

Pure and shared: the ingest tags stored chunks with it, and the tokenizer uses
it on new text (queries, benchmarks) so both paths read numbers identically.

A `Number` covers the whole surface form (`$(1,234)`, `46.2%`, `$2.3 billion`,
`September 28, 2024`), carries its signed, scaled value and a `kind`:
amount, percent, per_share, count, year or date.

Scale comes, in order of authority, from
1. an inline-XBRL hint (the filer's own `scale` attribute on ix:nonFraction),
2. a scale word after the number ("billion"),
3. the table context ("in millions" in the caption), for cells that hold a
   number and nothing else, except per-share rows and percentages.

Inline-XBRL hints travel inside the text as markers written by the sanitiser:
``\\x01<scale>|<format>\\x02<shown text>\\x03``; `strip_markers` removes them
and returns their spans.
"""
from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import NamedTuple

from etl.html_source import aligned_lower

KINDS = ("amount", "percent", "per_share", "count", "year", "date")

_CURRENCIES = {"$": "USD", "US$": "USD", "USD": "USD", "£": "GBP", "GBP": "GBP", "€": "EUR", "EUR": "EUR"}
_SCALE_WORDS = {
    "thousand": 3, "million": 6, "billion": 9, "trillion": 12,
    "mn": 6, "bn": 9, "m": 6, "b": 9, "k": 3,
}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9

# One number with everything that belongs to its surface form.
_NUMBER_RE = re.compile(
    r"""
    (?=[(\d$£€U.\-−–])          # cheap first-character filter
    (?P<open>\()?
    (?P<cur>US\$|\$|£|€)?
    (?P<open2>\()?
    (?P<minus>[-−–](?=[$£€]?\d|\.\d))?
    (?P<cur2>\$|£|€)?
    (?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    (?P<tail>
        \s?%\)? | \)%? | \s(?:percent|per\ cent)\b\)?
    )?
    (?P<word>\s(?:thousand|million|billion|trillion)\b|\s?(?:mn|bn)\b|[MBK]\b)?
    """,
    re.VERBOSE,
)
# Dates are found from their rare part (", 2024", a literal-led pattern the
# regex engine scans for quickly) and checked for "Month D" just before it.
_COMMA_YEAR_RE = re.compile(r",\s*(?P<year>(?:19|20)\d{2})\b")
_MONTH_DAY_BEFORE_RE = re.compile(
    r"(?<![A-Za-z])(?P<month>January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?\s+(?P<day>\d{1,2})$"
)
_DIGIT = re.compile(r"\d")
_MONTH_HINT = re.compile(r"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec")
_DASH_ZERO = re.compile(r"^[—–―-]+$")
_NUMBER_WORDS = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update({"no": 0, "none": 0, "nil": 0, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
                      "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100})
_PER_SHARE_AFTER_RE = re.compile(
    r"\s+(?:par value\s+)?per\s+(?:diluted |basic |common |ordinary )?share|\s+par value", re.IGNORECASE)
_MARKER_RE = re.compile(r"\x01([^\x02]*)\x02([^\x03]*)\x03")
_STRAY_MARKERS = re.compile(r"[\x01\x02\x03]")
_PER_SHARE_RE = re.compile(
    r"per\s*[- ]?\s*(?:common |ordinary |diluted |basic |limited partnership )?(?:share|unit)|earnings per|\bEPS\b",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Number:
    start: int
    end: int
    raw: str
    value: float
    kind: str
    unit: str | None
    scale: int


class Hint(NamedTuple):
    """An inline-XBRL fact's span in marker-free text, with its scale and format.

    A NamedTuple: one is made per tagged value, and a tuple is the cheapest
    immutable record to build."""
    start: int
    end: int
    scale: int | None
    fmt: str


@dataclass(frozen=True)
class TableContext:
    """What a table's caption says about the numbers in its cells."""
    scale: int = 0
    currency: str | None = None
    share_scale: int | None = None  # "shares in thousands" inside a millions table


@dataclass(frozen=True)
class CellRole:
    """Where a piece of table text sits: the context of its table and row."""
    table: TableContext
    per_share_row: bool = False
    shares_row: bool = False
    whole_cell: bool = True


def strip_markers(text: str) -> tuple[str, list[Hint]]:
    """Remove inline-XBRL markers, returning clean text and the hints' spans."""
    if "\x01" not in text:
        return (_STRAY_MARKERS.sub("", text) if "\x03" in text else text), []
    m = _MARKER_RE.fullmatch(text)
    if m is not None and text.count("\x01") == 1:
        # The usual table cell: one marker and nothing else; its shown text has
        # no \x01 or \x03 (the pattern excludes them), and no stray \x02 when
        # the text holds just the marker's own.
        shown = m.group(2)
        if "\x02" not in shown:
            scale, fmt = _hint_meta(m.group(1))
            return shown, [Hint(0, len(shown), scale, fmt)]
    out: list[str] = []
    hints: list[Hint] = []
    pos = 0
    length = 0
    matches = list(_MARKER_RE.finditer(text))
    # Each marker holds one \x01, \x02 and \x03; when the counts say there is
    # nothing else, no piece needs the stray-marker substitution.
    n = len(matches)
    clean = text.count("\x01") == n and text.count("\x02") == n and text.count("\x03") == n

    def unstray(piece: str) -> str:
        return piece if clean else _STRAY_MARKERS.sub("", piece)

    for m in matches:
        before = unstray(text[pos:m.start()])
        out.append(before)
        length += len(before)
        shown = unstray(m.group(2))
        scale, fmt = _hint_meta(m.group(1))
        hints.append(Hint(length, length + len(shown), scale, fmt))
        out.append(shown)
        length += len(shown)
        pos = m.end()
    out.append(unstray(text[pos:]))
    return "".join(out), hints


@lru_cache(maxsize=256)
def _hint_meta(meta: str) -> tuple[int | None, str]:
    """(scale, lower-case format) of a marker's "<scale>|<format>" head; a
    filing uses a handful of distinct heads, so they are parsed once each."""
    scale_s, _, fmt = meta.partition("|")
    try:
        scale = int(scale_s) if scale_s.strip() else 0
    except ValueError:
        scale = None
    return scale, fmt.lower()


def _decimal_year(d: date) -> float:
    days = 366 if calendar.isleap(d.year) else 365
    # day of the year from ordinals: timetuple() builds a struct per date
    return d.year + (d.toordinal() - date(d.year, 1, 1).toordinal()) / days


def _digits_value(digits: str) -> float:
    return float(digits.replace(",", ""))


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _find_dates(text: str) -> list[Number]:
    found = []
    for m in _COMMA_YEAR_RE.finditer(text):
        before = _MONTH_DAY_BEFORE_RE.search(text, max(0, m.start() - 16), m.start())
        if before is None:
            continue
        try:
            d = date(int(m.group("year")), _MONTHS[before.group("month").lower()], int(before.group("day")))
        except ValueError:
            continue
        start = before.start()
        found.append(Number(start, m.end(), text[start:m.end()], _decimal_year(d), "date", None, 0))
    return found


def _hint_for(start: int, end: int, hints: list[Hint]) -> Hint | None:
    for h in hints:
        if h.start < end and start < h.end:
            return h
    return None


def _from_match(m: re.Match, text: str, hints: list[Hint], role: CellRole | None) -> Number | None:
    start, end = m.span()
    # One groups() call instead of a lookup per named group (this runs once per number).
    g_open, g_cur, g_open2, g_minus, g_cur2, digits, tail, word = m.groups()
    d_start, d_end = m.span(_G_DIGITS)
    # A number glued to letters is part of a word or code ("10-K", "1A", "FY24").
    if d_start > 0:
        before_digits = text[d_start - 1]
        if _is_word_char(before_digits):
            return None
        if before_digits == "." and not (g_cur or g_cur2 or g_minus or g_open or g_open2):
            return None
    tail = tail or ""
    word = word or ""
    if end < len(text) and _is_word_char(text[end]) and not tail.endswith(("%", ")")):
        return None
    if not word and not tail and end + 1 < len(text) and text[end] == "-" and text[end + 1].isalpha():
        return None  # "10-K", "12-month"
    currency = _CURRENCIES.get(g_cur or g_cur2 or "")
    if word and not currency and word.strip().lower() in ("m", "b", "k", "mn", "bn"):
        return None  # "5M" without a currency is a model name more often than a number
    opened = bool(g_open or g_open2)
    closed = ")" in tail
    if opened and not closed:
        # "(see Note 5": the parenthesis is not part of the number.
        start = d_start
        if g_minus:
            start = min(start, m.start(_G_MINUS))
        if g_cur2:
            start = min(start, m.start(_G_CUR2))
        if g_cur and not g_open2:
            start = min(start, m.start(_G_CUR))
        opened = False
    elif closed and not opened:
        # "Note 5)": the closing parenthesis is not part of the number.
        end = m.start(_G_TAIL) + tail.index(")")
        tail = tail[: tail.index(")")]
        word = ""
    minus = bool(g_minus)
    if minus:
        ms = m.start(_G_MINUS)
        before = text[ms - 1] if ms > 0 else " "
        if before.isalnum() or before in "%)":
            # "3.6%-5.4%", "70-80%", "2023-2024": a range dash, not a minus sign
            minus = False
            if start == ms:
                start = m.start(_G_CUR2) if g_cur2 else d_start
    negative = opened and closed or minus
    is_percent = "%" in tail or "percent" in tail or "per cent" in tail
    magnitude = _digits_value(digits)
    hint = _hint_for(d_start, d_end, hints) if hints else None
    raw_end = end
    scale = 0
    unit = currency
    plain_int = (not currency and not is_percent and not word and "," not in digits and "." not in digits)

    if hint is not None and hint.scale is not None:
        scale = hint.scale
        if scale == -2 or is_percent:
            kind, unit = "percent", "percent"
            scale = -2 if is_percent else scale
        elif role is not None and role.per_share_row:
            kind = "per_share"
        elif scale > 0 or currency or (role is not None and role.table.currency):
            kind = "amount"
            unit = currency or (role.table.currency if role is not None else None)
        else:
            kind = "count"
    elif is_percent:
        kind, unit, scale = "percent", "percent", -2
    elif word:
        scale = _SCALE_WORDS[word.strip().lower()]
        kind = "amount" if currency else "count"
    elif plain_int and len(digits) == 4 and 1900 <= int(digits) <= 2100 and not negative:
        kind = "year"
    elif role is not None and role.whole_cell:
        if role.per_share_row:
            kind, unit = "per_share", currency or role.table.currency
        else:
            scale = role.table.share_scale if (role.shares_row and role.table.share_scale is not None) else role.table.scale
            has_context = scale != 0 or role.table.currency is not None or currency is not None
            kind = "amount" if has_context else "count"
            unit = currency or role.table.currency
    elif currency:
        if _PER_SHARE_AFTER_RE.match(text, end):
            kind = "per_share"
        else:
            kind = "amount"
            if role is not None:
                # "net of tax of $(134)" inside a label of a millions table
                scale = role.table.scale
    else:
        kind = "count"

    if kind == "per_share" and unit is None:
        unit = currency
    value = magnitude * (10.0 ** scale) if scale else magnitude
    if scale:
        value = float(f"{value:.12g}")  # 1.1 * 10**12 without binary noise
    if negative:
        value = -value
    return Number(start, raw_end, text[start:raw_end], value, kind, unit, scale)


def _hint_only_number(h: Hint, text: str, role: CellRole | None) -> Number | None:
    """A fact whose shown text has no digits: a dash for zero or a number word."""
    shown = text[h.start:h.end].strip()
    if not shown:
        return None
    lead = text[h.start:h.end].index(shown[0])
    start, end = h.start + lead, h.start + lead + len(shown)
    if _DASH_ZERO.match(shown) or "zero" in h.fmt or "fixed-zero" in h.fmt:
        value = 0.0
    else:
        word = shown.lower().rstrip(".")
        if word not in _NUMBER_WORDS:
            return None
        value = float(_NUMBER_WORDS[word]) * (10.0 ** (h.scale or 0))
    currency = role.table.currency if role is not None else None
    kind = "amount" if (currency or (h.scale or 0) > 0) else "count"
    return Number(start, end, shown, value, kind, currency if kind == "amount" else None, h.scale or 0)


# _from_match unpacks m.groups() in this order; a changed pattern must fail here, not misread numbers.
if tuple(_NUMBER_RE.groupindex) != ("open", "cur", "open2", "minus", "cur2", "digits", "tail", "word"):
    raise RuntimeError("etl/numbers.py: _NUMBER_RE's groups changed; update the unpacking in _from_match")
_G_CUR, _G_MINUS, _G_CUR2, _G_DIGITS, _G_TAIL = (_NUMBER_RE.groupindex[k] for k in ("cur", "minus", "cur2", "digits", "tail"))

# How far before its first digit a _NUMBER_RE match can start: "(" "US$" "("
# "-" "$" and the "." of ".5" (open, cur, open2, minus, cur2, digits).
_MAX_LEAD = 8
_ASCII_DIGIT = re.compile(r"[0-9]")


def _iter_number_matches(text: str):
    """The matches of `_NUMBER_RE.finditer(text)`, found from the digits.

    Every match holds a digit and starts at most _MAX_LEAD characters before
    its first one, and a match starts at any digit. So the leftmost match at
    or after `pos` is found by a search started _MAX_LEAD characters before the
    next digit: it tries at most _MAX_LEAD + 1 positions, where finditer tries
    every position of the text (its lookahead is no prefix `re` can skip by).
    """
    digit = _ASCII_DIGIT if text.isascii() else _DIGIT  # [0-9] scans faster than \d
    search = _NUMBER_RE.search
    pos = 0
    while True:
        d = digit.search(text, pos)
        if d is None:
            return
        start = d.start() - _MAX_LEAD
        m = search(text, start if start > pos else pos)
        yield m
        pos = m.end()


def find_numbers(text: str, hints: list[Hint] | None = None, role: CellRole | None = None) -> list[Number]:
    """Every number in marker-free `text`, in order, non-overlapping.

    `role` is given for table cells: it supplies the caption's scale and
    currency, and says whether the text is the whole cell (only then does the
    caption scale apply: a year inside a row label is not in millions).
    """
    hints = hints or []
    if role is not None and role.whole_cell:
        # Fast path for the typical value cell: the whole text is one number.
        m = _NUMBER_RE.fullmatch(text)
        if m is not None:
            n = _from_match(m, text, hints, role)
            if n is not None and n.start == 0 and n.end == len(text):
                return [n]
    found: list[Number] = []
    if not hints and _DIGIT.search(text) is None:
        if role is not None and role.whole_cell and _DASH_ZERO.match(text.strip() or "x"):
            return [_dash_zero(text, role)]
        return found
    taken_until = -1
    # Every date has a ", <year>" (_find_dates starts from them): that literal-led
    # scan is ~3x faster than the month-name one, so it rules texts out first.
    dates = _find_dates(text) if _COMMA_YEAR_RE.search(text) and _MONTH_HINT.search(text) else []
    di = 0
    for m in _iter_number_matches(text):
        while di < len(dates) and dates[di].end <= m.start():
            if dates[di].start > taken_until:
                found.append(dates[di])
                taken_until = dates[di].end - 1
            di += 1
        if di < len(dates) and dates[di].start <= m.start() < dates[di].end:
            continue  # inside a date already taken
        if m.start() <= taken_until:
            continue
        n = _from_match(m, text, hints, role)
        if n is not None:
            found.append(n)
            taken_until = n.end - 1
    for d in dates[di:]:
        if d.start > taken_until:
            found.append(d)
            taken_until = d.end - 1
    # Facts whose text has no digits ("—", "three") still are numbers.
    if hints:
        covered = [(n.start, n.end) for n in found]
        for h in hints:
            if any(s < h.end and h.start < e for s, e in covered):
                continue
            n = _hint_only_number(h, text, role)
            if n is not None:
                found.append(n)
        found.sort(key=lambda n: n.start)
    if role is not None and role.whole_cell and not found and _DASH_ZERO.match(text.strip() or "x"):
        found.append(_dash_zero(text, role))
    return found


def _dash_zero(text: str, role: CellRole) -> Number:
    """A dash alone in a table cell means zero."""
    shown = text.strip()
    s = text.index(shown)
    ctx = role.table
    kind = "amount" if (ctx.scale or ctx.currency) else "count"
    return Number(s, s + len(shown), shown, 0.0, kind, ctx.currency if kind == "amount" else None, ctx.scale)


# --- table context ------------------------------------------------------------

SCALE_CAPTION_RE = re.compile(
    r"(?:in|of)\s+(?:u\.?s\.?\s+)?(?:dollars\s+in\s+|\$\s*in\s+|£\s*in\s+|€\s*in\s+)?(thousands|millions|billions)"
    r"|(?:\$|£|€|dollars|usd|gbp|eur)\s*(?:in\s+)?(thousands|millions|billions)"
    r"|(thousands|millions|billions)\s+of\s+(?:u\.?s\.?\s+)?(?:dollars|pounds|euros)"
    r"|(?:[$£€]\s*'?000'?s?|\(000'?s\)|'000)",
    re.IGNORECASE,
)
_SHARES_SCALE_RE = re.compile(
    r"shares?[^.;)]{0,60}?(?:in|reflected in)\s+(thousands|millions)", re.IGNORECASE
)
# The same patterns for an aligned lower-case copy (html_source.aligned_lower):
# case-sensitive, so `re` can skip ahead on the first characters.
_SCALE_CAPTION_LOWER = re.compile(SCALE_CAPTION_RE.pattern)
_SHARES_SCALE_LOWER = re.compile(_SHARES_SCALE_RE.pattern)
_DOLLARS_RE = re.compile(r"\bdollars\b", re.IGNORECASE)
_DOLLARS_LOWER = re.compile(_DOLLARS_RE.pattern)
_SCALE_OF = {"thousands": 3, "millions": 6, "billions": 9}


def table_context(caption_text: str, table_text: str, has_currency_cells: str | None = None) -> TableContext:
    """Scale and currency of a table from its caption and its own header text.

    `has_currency_cells` is a currency code found in the table's cells, if any
    (a `$` first appears on a total row, often below the header).
    """
    text = caption_text + "\n" + table_text
    scale = 0
    # Case-blind searches run case-sensitively on an aligned lower-case copy
    # when there is one (the same matches, several times faster).
    low = aligned_lower(text)
    lowered = low if low is not None else text.lower()
    has_scale_word = any(w in lowered for w in ("thousand", "million", "billion", "000"))
    if not has_scale_word:
        m = s = None
    elif low is not None:
        m, s = _SCALE_CAPTION_LOWER.search(low), _SHARES_SCALE_LOWER.search(low)
    else:
        m, s = SCALE_CAPTION_RE.search(text), _SHARES_SCALE_RE.search(text)
    if m:
        word = next((g for g in m.groups() if g), None)
        scale = _SCALE_OF[word.lower()] if word else 3
    share_scale = None
    if s:
        share_scale = _SCALE_OF[s.group(1).lower()]
    currency = None
    for sym, code in (("$", "USD"), ("£", "GBP"), ("€", "EUR")):
        if sym in text:
            currency = code
            break
    if currency is None and (_DOLLARS_LOWER.search(low) if low is not None else _DOLLARS_RE.search(text)):
        currency = "USD"
    currency = currency or has_currency_cells
    return TableContext(scale=scale, currency=currency, share_scale=share_scale)


_PARENTHESISED = re.compile(r"\([^)]*\)")
_SHARES_FIRST = re.compile(r"^(?:weighted[- ]average\s+)?(?:number of\s+|common\s+|ordinary\s+)*shares\b")
# "Net income used in computing earnings per share": the head is "Net income".
_LABEL_HEAD_END = re.compile(r"\s(?:used|excluded|included)\s+(?:in|from)\s")


@lru_cache(maxsize=8192)  # row labels repeat across a filing's tables and filings ("Total", "Basic")
def label_role(label: str) -> str | None:
    """What a table row label says about its numbers: "per_share", "shares" or None.

    Parenthesised asides are ignored ("Dividends declared ($2.00 per share)" is
    an amount); a label that starts with shares is a share count even when it
    mentions earnings per share ("Shares used in computing earnings per share").
    """
    text = _PARENTHESISED.sub("", label).strip().lower()
    if not text:
        return None
    head_end = _LABEL_HEAD_END.search(text)
    if head_end:
        text = text[: head_end.start()]
    if _SHARES_FIRST.match(text):
        return "shares"
    if _PER_SHARE_RE.search(text):
        return "per_share"
    if "share" in text:
        return "shares"
    return None


def is_per_share_label(label: str) -> bool:
    return label_role(label) == "per_share"


def is_shares_label(label: str) -> bool:
    return label_role(label) == "shares"


def format_tagged(text: str, numbers: list[Number], open_tag: str = "<number>", close_tag: str = "</number>") -> tuple[str, list[tuple[int, int]]]:
    """`text` with each number wrapped in tags, and each number's span in the result."""
    return format_tagged_slice(text, 0, len(text), numbers, open_tag, close_tag)


def format_tagged_slice(text: str, start: int, end: int, numbers: list[Number], open_tag: str = "<number>",
                        close_tag: str = "</number>") -> tuple[str, list[tuple[int, int]]]:
    """`format_tagged(text[start:end], ...)` for numbers with offsets in the whole `text`.

    Saves the chunker a shifted copy of every number of every chunk.
    """
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = start
    length = 0
    for n in numbers:
        out.append(text[pos:n.start])
        length += n.start - pos
        out.append(open_tag)
        length += len(open_tag)
        spans.append((length, length + (n.end - n.start)))
        out.append(text[n.start:n.end])
        length += n.end - n.start
        out.append(close_tag)
        length += len(close_tag)
        pos = n.end
    out.append(text[pos:end])
    return "".join(out), spans


def is_finite(n: Number) -> bool:
    return math.isfinite(n.value)
