"""Inline XBRL facts of a filing: HTML bytes in, `Fact`s, `FactReject`s and DEI out.

Pure: no I/O, no Ray. One pass over the document collects contexts, units,
continuations and facts; every `ix:nonFraction` and `ix:nonNumeric` is a fact
wherever it sits (visible text, `ix:hidden`, `ix:header`), and each one becomes
either a `Fact` (a row of the store's `facts` table) or a `FactReject` (a
`rejects` row with stage "xbrl"), never both, and a bad fact never stops the
filing.

Design choices:
* Parsing: lxml's XML parser first (inline XBRL is XHTML, and namespaces make
  the reading exact), with `resolve_entities=False, no_network=True,
  load_dtd=False`: a DOCTYPE's entities (XXE, "billion laughs") are never
  expanded, an entity reference contributes no text. A document that is not
  well-formed XML is read again with lxml's HTML parser (no network, no DTD),
  where the conventional prefixes `ix:`, `xbrli:`, `xbrldi:` are assumed.
* Values: `value = (-1 if sign="-") * transformed(shown text) * 10**scale`,
  computed in `Decimal` and rounded once to float. `xsi:nil="true"` gives
  value (or text_value) None. `decimals` is kept as written ("-6", "INF").
* Text: the element's text content (descendant text, `ix:exclude` left out,
  a space at HTML block boundaries), `continuedAt` chains appended in order,
  every run of whitespace collapsed to one space. `escape="true"` facts keep
  the text, not the HTML.
* Formats: the transformation registry formats (TR1-TR4 names, and the SEC's
  `ixt-sec:` ones) in `_FORMATS`. Numbers, booleans ("true"/"false"), dates as
  ISO text ("2024-09-28"; month-day "--09-28"; month-year "2024-09"),
  durations as xs:duration ("P2Y6M"), state/exchange/filer-category codes.
  A format not in the registry -> reject "unknown_format"; shown text the
  format cannot read -> reject "bad_value" (the fact would be invalid XBRL).
* Numeric facts are exactly the facts with a unit: a nonFraction whose
  `unitRef` does not resolve is rejected ("unknown_unit"), so
  `Fact.numeric` (unit is not None) tells numeric from text facts.
* Units: the measure's local name ("USD", "shares"), "USD/shares" for a
  divide, measures of a product joined by "*".
* Periods: instant -> (None, instant); duration -> (start, end), XBRL end
  dates as written; forever -> (None, None).
* Dimensions: explicit (`dimension` -> member QName) and typed (`dimension` ->
  the typed value's text) members of segment and scenario, as a JSON object
  with sorted keys and compact separators; "{}" when none.
* fact_id: the element's `id` when it has one (made unique with "#<index>" if
  a broken filing repeats it), else "h:" + a hash of (concept, contextRef,
  unitRef, document order index): deterministic, and never equal to an XML id
  (ids cannot hold ":").
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

import pyarrow as pa
from lxml import etree

from etl.xbrl_text import FastFactText
from featurestore.schemas import FACTS

STAGE = "xbrl"  # the `rejects.stage` of a FactReject

NS_IX = ("http://www.xbrl.org/2013/inlineXBRL", "http://www.xbrl.org/2008/inlineXBRL")
NS_XBRLI = "http://www.xbrl.org/2003/instance"
NS_XBRLDI = "http://xbrl.org/2006/xbrldi"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
SEC_CIK_SCHEME = "http://www.sec.gov/CIK"


# --------------------------------------------------------------------------- results

@dataclass
class Fact:
    """One row of the `facts` table (less `filing_id`, which the caller knows)."""
    fact_id: str
    concept: str                 # with prefix, as written: "us-gaap:Revenues"
    value: float | None          # numeric facts; None for text facts and nil
    text_value: str | None       # text facts (formats applied); None for numeric facts and nil
    unit: str | None             # numeric facts only: "USD", "shares", "USD/shares"
    decimals: str | None         # as written: "-6", "INF"
    period_start: date | None    # None for instants
    period_end: date | None
    dimensions: str              # JSON object {axis: member}, "{}" if none

    @property
    def numeric(self) -> bool:
        """From an `ix:nonFraction` (every numeric fact has a unit)."""
        return self.unit is not None


@dataclass
class FactReject:
    """One fact that could not be used: a `rejects` row with stage "xbrl"."""
    concept: str
    reason: str   # unknown_format, bad_value, format_mismatch, bad_scale, unknown_context, unknown_unit, ...
    detail: str   # what was shown, what went wrong, what to do


@dataclass
class XbrlResult:
    facts: list[Fact] = field(default_factory=list)
    rejects: list[FactReject] = field(default_factory=list)
    # DEI facts by local name ("EntityCentralIndexKey": "0000320193", "DocumentPeriodEndDate":
    # "2024-09-28", ...): the first in document order without dimensions, else the first.
    dei: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- transformations

class _BadValue(ValueError):
    """The shown text is not what the format reads."""


_WS = re.compile(r"\s+")
_DASHES = "\u058a\u05be\u2010\u2011\u2012\u2013\u2014\u2015\ufe58\ufe63\uff0d-"
_GROUP_DOT = re.compile(r"^(\d{1,3}(?:[,' \u00a0\u202f]?\d{3})*|\d+)(?:\.(\d*))?$|^\.(\d+)$")
_GROUP_COMMA = re.compile(r"^(\d{1,3}(?:[.' \u00a0\u202f]?\d{3})*|\d+)(?:,(\d*))?$|^,(\d+)$")
_UNIT_DECIMAL = re.compile(
    r"^(\d{1,3}(?:[,.' \u00a0\u202f]\d{3})*|\d+)\s*[^\d\s][^\d]*?(?:(\d{1,2})[^\d]*)?$")
_PLAIN_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DIGITS = re.compile(r"\D")


def _num_dot_decimal(text: str) -> Decimal:
    m = _GROUP_DOT.match(text)
    if not m:
        raise _BadValue("not a number with a dot decimal point")
    if m.group(3) is not None:
        return Decimal("0." + m.group(3))
    return Decimal(_DIGITS.sub("", m.group(1)) + "." + (m.group(2) or "0"))


def _num_comma_decimal(text: str) -> Decimal:
    m = _GROUP_COMMA.match(text)
    if not m:
        raise _BadValue("not a number with a comma decimal point")
    if m.group(3) is not None:
        return Decimal("0." + m.group(3))
    return Decimal(_DIGITS.sub("", m.group(1)) + "." + (m.group(2) or "0"))


def _num_unit_decimal(text: str) -> Decimal:
    """ "5 dollars 25 cents" -> 5.25; the sub-unit has one or two digits ("5 cents" -> .05)."""
    m = _UNIT_DECIMAL.match(text)
    if not m:
        raise _BadValue("not '<integer> <unit> [<fraction> <subunit>]'")
    return Decimal(_DIGITS.sub("", m.group(1)) + "." + (m.group(2) or "0").zfill(2))


def _plain_number(text: str) -> Decimal:
    """No format: the text must be an xs:decimal."""
    if not _PLAIN_DECIMAL.match(text):
        raise _BadValue("no format, and the text is not a plain decimal number")
    return Decimal(text)


def _zero(_text: str) -> Decimal:
    return Decimal(0)


_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_BIG = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12,
        "quadrillion": 10**15, "quintillion": 10**18}
_WORD_SPLIT = re.compile(r"[\s,%s]+" % re.escape(_DASHES))


def _words_to_int(words: list[str]) -> int | None:
    """English cardinal words ("twenty", "five", "hundred") -> int; None if not a number."""
    if not words:
        return None
    total = current = 0
    seen = False
    for w in words:
        if w == "and":
            continue
        if w in _SMALL:
            current += _SMALL[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = (current or 1) * 100
        elif w in _BIG:
            total += (current or 1) * _BIG[w]
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def _num_words_en(text: str) -> Decimal:
    """ixt-sec:numwordsen: "no"/"none"/"nil" -> 0, "twenty-five" -> 25, "two million" -> 2000000."""
    t = text.strip().lower().rstrip(".")
    if t in ("no", "none", "nil"):
        return Decimal(0)
    n = _words_to_int([w for w in _WORD_SPLIT.split(t) if w])
    if n is None:
        raise _BadValue("not English number words")
    return Decimal(n)


def _fixed(out: str):
    return lambda _text: out


def _ballot(true: str, false: str):
    def read(text: str) -> str:
        t = text.strip()
        if t in ("\u2612", "\u2611", "\u2713", "\u2714", "x", "X"):
            return true
        if t == "\u2610":
            return false
        raise _BadValue("not a ballot box (\u2610 or \u2612)")
    return read


# Dates -----------------------------------------------------------------------------

_MONTHS = {}
for _i, _name in enumerate(("january february march april may june july august september october "
                            "november december").split(), start=1):
    _MONTHS[_name] = _i
    _MONTHS[_name[:3]] = _i
    _MONTHS[_name[:4]] = _i  # "sept", "june", "july"
_DATE_TOKENS = re.compile(r"[A-Za-z]+|\d+")


def _year(tok: str) -> int:
    if len(tok) == 4:
        return int(tok)
    if len(tok) == 2:
        return 2000 + int(tok)
    raise _BadValue("year is not two or four digits")


def _month_name(tok: str) -> int:
    m = _MONTHS.get(tok.lower())
    if m is None:
        raise _BadValue(f"{tok!r} is not an English month name")
    return m


def _tokens(text: str, n: int) -> list[str]:
    toks = [t for t in _DATE_TOKENS.findall(text) if t.lower() not in ("st", "nd", "rd", "th", "of")]
    # "28th" is one \d+ token followed by "th" (dropped above)
    if len(toks) != n:
        raise _BadValue(f"expected {n} date parts, found {len(toks)}")
    return toks


def _iso(y: int, m: int, d: int) -> str:
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        raise _BadValue(f"no such date {y}-{m}-{d}") from None


def _month_day(m: int, d: int) -> str:
    try:
        date(2000, m, d)  # leap year: --02-29 is a valid xs:gMonthDay
    except ValueError:
        raise _BadValue(f"no such day {m}-{d}") from None
    return f"--{m:02d}-{d:02d}"


def _date(order: str):
    """A date reader for a part order: d=day, m=month number, M=month name, y=year."""
    def read(text: str) -> str:
        toks = _tokens(text, len(order))
        parts = {}
        for kind, tok in zip(order, toks):
            if kind == "M":
                parts["m"] = _month_name(tok)
            elif not tok.isdigit():
                raise _BadValue(f"{tok!r} is not a number")
            elif kind == "y":
                parts["y"] = _year(tok)
            else:
                parts[kind] = int(tok)
        if "y" not in parts:
            return _month_day(parts["m"], parts["d"])
        if "d" not in parts:
            if not 1 <= parts["m"] <= 12:
                raise _BadValue(f"no month {parts['m']}")
            return f"{parts['y']:04d}-{parts['m']:02d}"
        return _iso(parts["y"], parts["m"], parts["d"])
    return read


_QUARTERS = {"1": 3, "first": 3, "2": 6, "second": 6, "3": 9, "third": 9, "4": 12, "fourth": 12, "last": 12}
_QUARTER_END = {3: 31, 6: 30, 9: 30, 12: 31}


def _date_quarter_end(text: str) -> str:
    """ixt-sec:datequarterend: "third quarter of 2024" / "Q3 2024" / "2024 Q3" -> 2024-09-30."""
    toks = [t.lower() for t in _DATE_TOKENS.findall(text)]
    years = [t for t in toks if len(t) == 4 and t.isdigit()]
    quarters = [t for t in toks if t in _QUARTERS] or [t[1:] for t in toks if re.fullmatch(r"q[1-4]", t)]
    if len(years) != 1 or len(quarters) != 1:
        raise _BadValue("not a calendar quarter and year")
    m = _QUARTERS[quarters[0]]
    return f"{years[0]}-{m:02d}-{_QUARTER_END[m]}"


# Durations -------------------------------------------------------------------------

_SIGNED_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _duration_number(text: str) -> tuple[Decimal, str]:
    t = text.strip()
    if not _SIGNED_DECIMAL.match(t):
        raise _BadValue("not a decimal number")
    n = Decimal(t)
    return abs(n), ("-" if n < 0 else "")


def _xs_duration(sign: str, y=None, m=None, d=None, h=None) -> str:
    parts = [(y, "Y"), (m, "M"), (d, "D")]
    out = "".join(f"{v}{u}" for v, u in parts if v)
    if h:
        out += f"T{h}H"
    if not out:  # all zero: name the first unit given
        first = next((u for v, u in parts if v is not None), None)
        out = f"0{first}" if first else "T0H"
        sign = ""
    return f"{sign}P{out}"


def _dur_year(text: str) -> str:
    """ixt-sec:duryear: "2.5" -> P2Y6M (a fraction of a year spills into months, then days)."""
    n, sign = _duration_number(text)
    y = int(n)
    months = (n - y) * 12
    d = int((months - int(months)) * Decimal("30.4375"))
    return _xs_duration(sign, y, int(months), d)


def _dur_month(text: str) -> str:
    n, sign = _duration_number(text)
    m = int(n)
    return _xs_duration(sign, None, m, int((n - m) * Decimal("30.4375")))


def _dur_week(text: str) -> str:
    n, sign = _duration_number(text)
    return _xs_duration(sign, None, None, int(n * 7))


def _dur_day(text: str) -> str:
    n, sign = _duration_number(text)
    d = int(n)
    return _xs_duration(sign, None, None, d, int((n - d) * 24))


def _dur_hour(text: str) -> str:
    n, sign = _duration_number(text)
    return _xs_duration(sign, None, None, None, int(n))


_DUR_UNITS = {"year": "Y", "years": "Y", "month": "M", "months": "M", "day": "D", "days": "D"}


def _dur_words_en(text: str) -> str:
    """ixt-sec:durwordsen: "five years and six months" -> P5Y6M, "364-day" -> P364D."""
    words = [w for w in _WORD_SPLIT.split(text.strip().lower()) if w and w != "and"]
    amounts: dict[str, int] = {}
    pending: list[str] = []
    for w in words:
        if w in _DUR_UNITS:
            if len(pending) == 1 and pending[0].isdigit():
                n = int(pending[0])
            elif pending == ["no"]:
                n = 0
            else:
                n = _words_to_int(pending)
            u = _DUR_UNITS[w]
            if n is None or u in amounts:
                raise _BadValue("not '<number> years/months/days' words")
            amounts[u] = n
            pending = []
        else:
            pending.append(w)
    if pending or not amounts:
        raise _BadValue("not '<number> years/months/days' words")
    return _xs_duration("", amounts.get("Y"), amounts.get("M"), amounts.get("D"))


# Codes -----------------------------------------------------------------------------

_STATES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA",
    "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT",
    "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM",
    "new york": "NY", "north carolina": "NC", "north dakota": "ND", "ohio": "OH", "oklahoma": "OK",
    "oregon": "OR", "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC",
    "south dakota": "SD", "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT",
    "virginia": "VA", "washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
    "district of columbia": "DC", "american samoa": "AS", "samoa": "AS", "guam": "GU",
    "northern mariana islands": "MP", "puerto rico": "PR",
    "united states minor outlying islands": "UM", "virgin islands, u.s.": "VI",
    "alberta": "AB", "british columbia": "BC", "manitoba": "MB", "new brunswick": "NB",
    "newfoundland": "NL", "newfoundland and labrador": "NL", "nova scotia": "NS",
    "northwest territories": "NT", "nunavut": "NU", "ontario": "ON", "prince edward island": "PE",
    "quebec": "QC", "québec": "QC", "saskatchewan": "SK", "yukon": "YT",
}

# dei:SecurityExchangeName codes by the exchange's name (lower case, without "the"
# and a trailing "llc"/"inc").
_EXCHANGES = {
    "box exchange": "BOX", "cboe byx exchange": "CboeBYX", "cboe bzx exchange": "CboeBZX",
    "cboe c2 exchange": "C2", "cboe edga exchange": "CboeEDGA", "cboe edgx exchange": "CboeEDGX",
    "cboe exchange": "CBOE", "chicago stock exchange": "CHX", "investors exchange": "IEX",
    "miami international securities exchange": "MIAX", "miax pearl": "PEARL", "nasdaq bx": "BX",
    "nasdaq gemx": "GEMX", "nasdaq ise": "ISE", "nasdaq mrx": "MRX", "nasdaq phlx": "Phlx",
    "nyse": "NYSE", "new york stock exchange": "NYSE", "nyse american": "NYSEAMER",
    "nyse arca": "NYSEArca", "nyse national": "NYSENAT", "nasdaq": "NASDAQ",
    "nasdaq stock market": "NASDAQ", "nasdaq global market": "NASDAQ",
    "nasdaq global select market": "NASDAQ", "nasdaq capital market": "NASDAQ",
}
_EXCHANGE_CODES = {v.lower(): v for v in _EXCHANGES.values()}
_FILER_CATEGORIES = {
    "large accelerated filer": "Large Accelerated Filer",
    "accelerated filer": "Accelerated Filer",
    "non-accelerated filer": "Non-accelerated Filer",
    "non accelerated filer": "Non-accelerated Filer",
}


def _key(text: str) -> str:
    return " ".join(text.strip().lower().split())


def _state(text: str) -> str:
    code = _STATES.get(_key(text))
    if code is None:
        raise _BadValue("not a US state, territory or Canadian province name")
    return code


def _exchange(text: str) -> str:
    k = _key(text).rstrip(".")
    k = re.sub(r"^the ", "", k)
    k = re.sub(r",? (llc|inc)$", "", k)
    code = _EXCHANGES.get(k) or _EXCHANGE_CODES.get(k)
    if code is None:
        raise _BadValue("not a known US securities exchange name")
    return code


def _filer_category(text: str) -> str:
    cat = _FILER_CATEGORIES.get(_key(text).replace("\u2010", "-").replace("\u2011", "-"))
    if cat is None:
        raise _BadValue("not an SEC filer category")
    return cat


def _fixed_number(v: float):
    return lambda _text: v


# local name of the format -> (kind, reader). kind "num": the reader returns a Decimal
# (or a float for INF/NaN); kind "text": it returns the text value.
_NUM, _TEXT = "num", "text"
_FORMATS: dict[str, tuple[str, object]] = {}


def _register(kind: str, reader, *names: str) -> None:
    for n in names:
        _FORMATS[n] = (kind, reader)


_register(_NUM, _num_dot_decimal, "num-dot-decimal", "numdotdecimal", "numcommadot", "numspacedot",
          "num-dot-decimal-in", "numdotdecimalin")
_register(_NUM, _num_comma_decimal, "num-comma-decimal", "numcommadecimal", "numdotcomma",
          "numspacecomma", "numcomma")
_register(_NUM, _zero, "zerodash", "fixed-zero", "fixedzero", "numdash")
_register(_NUM, _num_unit_decimal, "num-unit-decimal", "numunitdecimal", "num-unit-decimal-in",
          "numunitdecimalin")
_register(_NUM, _num_words_en, "numwordsen")
_register(_NUM, _fixed_number(float("inf")), "numinf")
_register(_NUM, _fixed_number(float("-inf")), "numneginf")
_register(_NUM, _fixed_number(float("nan")), "numnan")
_register(_TEXT, _fixed("true"), "fixed-true", "fixedtrue", "booleantrue")
_register(_TEXT, _fixed("false"), "fixed-false", "fixedfalse", "booleanfalse")
_register(_TEXT, _fixed(""), "fixed-empty", "fixedempty", "nocontent")
_register(_TEXT, _ballot("true", "false"), "boolballotbox")
_register(_TEXT, _ballot("Yes", "No"), "yesnoballotbox")
_register(_TEXT, _date("Mdy"), "date-monthname-day-year-en", "datemonthnamedayyearen",
          "datemonthdayyearen", "datelongus", "dateshortus")
_register(_TEXT, _date("dMy"), "date-day-monthname-year-en", "datedaymonthnameyearen",
          "datedaymonthyearen", "datelonguk", "dateshortuk")
_register(_TEXT, _date("mdy"), "date-month-day-year", "datemonthdayyear", "dateslashus", "datedotus")
_register(_TEXT, _date("dmy"), "date-day-month-year", "datedaymonthyear", "dateslasheu", "datedoteu")
_register(_TEXT, _date("ymd"), "date-year-month-day", "dateyearmonthday")
_register(_TEXT, _date("yMd"), "date-year-monthname-day-en")
_register(_TEXT, _date("Md"), "date-monthname-day-en", "datemonthnamedayen", "datemonthdayen",
          "datelongmonthday", "dateshortmonthday")
_register(_TEXT, _date("dM"), "date-day-monthname-en", "datedaymonthnameen", "datedaymonthen",
          "datelongdaymonth", "dateshortdaymonth")
_register(_TEXT, _date("md"), "date-month-day", "datemonthday")
_register(_TEXT, _date("dm"), "date-day-month", "datedaymonth")
_register(_TEXT, _date("My"), "date-monthname-year-en", "datemonthnameyearen", "datemonthyearen",
          "datelongmonthyear", "dateshortmonthyear")
_register(_TEXT, _date("yM"), "date-year-monthname-en", "dateyearmonthen", "datelongyearmonth",
          "dateshortyearmonth")
_register(_TEXT, _date("my"), "date-month-year", "datemonthyear")
_register(_TEXT, _date("ym"), "date-year-month", "dateyearmonth")
_register(_TEXT, _date_quarter_end, "datequarterend")
_register(_TEXT, _dur_year, "duryear")
_register(_TEXT, _dur_month, "durmonth")
_register(_TEXT, _dur_week, "durweek")
_register(_TEXT, _dur_day, "durday")
_register(_TEXT, _dur_hour, "durhour")
_register(_TEXT, _dur_words_en, "durwordsen")
_register(_TEXT, _state, "stateprovnameen")
_register(_TEXT, _exchange, "exchnameen")
_register(_TEXT, _filer_category, "entityfilercategoryen")

KNOWN_FORMATS = frozenset(_FORMATS)


# --------------------------------------------------------------------------- document model

_XML_PARSER_KW = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                      remove_comments=False, collect_ids=False)
_XML_DECL = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>")
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br caption dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 "
    "h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul".split())


class _Names:
    """Tag and attribute names of one parse mode (namespaced XML or prefixed HTML)."""

    def __init__(self, xml: bool):
        self.xml = xml
        if xml:
            ix = [f"{{{ns}}}" for ns in NS_IX]
            xi, di = f"{{{NS_XBRLI}}}", f"{{{NS_XBRLDI}}}"
            self.nonfraction = {p + "nonFraction" for p in ix}
            self.nonnumeric = {p + "nonNumeric" for p in ix}
            self.fraction = {p + "fraction" for p in ix}
            self.continuation = {p + "continuation" for p in ix}
            self.exclude = {p + "exclude" for p in ix}
            self.context, self.unit = {xi + "context"}, {xi + "unit"}
            self.explicit, self.typed = {di + "explicitMember"}, {di + "typedMember"}
        else:
            self.nonfraction, self.nonnumeric = {"ix:nonfraction"}, {"ix:nonnumeric"}
            self.fraction, self.continuation = {"ix:fraction"}, {"ix:continuation"}
            self.exclude = {"ix:exclude"}
            self.context, self.unit = {"xbrli:context"}, {"xbrli:unit"}
            self.explicit, self.typed = {"xbrldi:explicitmember"}, {"xbrldi:typedmember"}
        self.facts = self.nonfraction | self.nonnumeric | self.fraction
        self.scan = self.facts | self.continuation | self.context | self.unit
        self._local: dict[str, str] = {}

    def local(self, tag: str) -> str:
        """Lower-case local name of a tag ("{ns}startDate" / "xbrli:startdate" -> "startdate")."""
        name = self._local.get(tag)
        if name is None:
            name = tag.rpartition("}")[2].rpartition(":")[2].lower()
            self._local[tag] = name
        return name


def _attrs(el) -> dict[str, str]:
    """Attributes with lower-case names; xsi:nil as "xsi:nil" in both parse modes."""
    keys = el.keys()
    if "{" not in "".join(keys):  # no namespaced attribute: the usual fact (one C scan, a C-built dict)
        return dict(zip(map(str.lower, keys), el.values()))
    out = {}
    for k, v in el.attrib.items():
        if k[0] == "{":
            ns, _, loc = k[1:].partition("}")
            k = "xsi:" + loc if ns == NS_XSI else loc
        out[k.lower()] = v
    return out


def _parse(html: bytes | str):
    """(root, names): strict XML when well-formed, else lxml's HTML parser."""
    data = html
    if isinstance(data, str):
        data = _XML_DECL.sub("", data, count=1)  # lxml refuses str with an encoding declaration
    try:
        root = etree.fromstring(data, etree.XMLParser(**_XML_PARSER_KW))
        if root is not None:
            return root, _Names(xml=True)
    except (etree.XMLSyntaxError, ValueError):
        pass
    parser = etree.HTMLParser(no_network=True, huge_tree=True, remove_comments=False)
    root = etree.fromstring(data, parser)
    if root is None:
        raise ValueError("the document is empty: no XML or HTML elements")
    return root, _Names(xml=False)


def _collapse(parts: list[str]) -> str:
    return " ".join("".join(parts).split())


def _text_parts(el, names: _Names, out: list[str]) -> None:
    """Descendant text of `el` in document order: ix:exclude, comments and entity
    references contribute nothing (their tails do); a space at block boundaries."""
    if el.text:
        out.append(el.text)
    stack = []
    for ch in reversed(el):
        if ch.tail:
            stack.append(ch.tail)
        stack.append(ch)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        tag = item.tag
        if not isinstance(tag, str) or tag in names.exclude:
            continue
        if names.local(tag) in _BLOCK_TAGS:
            out.append(" ")
            stack.append(" ")
        if item.text:
            out.append(item.text)
        for ch in reversed(item):
            if ch.tail:
                stack.append(ch.tail)
            stack.append(ch)


@dataclass
class _Context:
    period_start: date | None
    period_end: date | None
    dimensions: str
    dims: int
    cik: str | None


def _xs_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def _qname_local(text: str) -> str:
    return text.strip().rpartition(":")[2]


def _read_context(el, names: _Names) -> _Context:
    start = end = instant = None
    dims: dict[str, str] = {}
    cik = None
    for e in el.iter():
        tag = e.tag
        if not isinstance(tag, str):
            continue
        if tag in names.explicit:
            dim = e.get("dimension")
            if dim:
                dims[dim.strip()] = (e.text or "").strip()
            continue
        if tag in names.typed:
            dim = e.get("dimension")
            if dim:
                parts: list[str] = []
                _text_parts(e, names, parts)
                dims[dim.strip()] = _collapse(parts)
            continue
        loc = names.local(tag)
        if loc == "instant":
            instant = e.text
        elif loc == "startdate":
            start = e.text
        elif loc == "enddate":
            end = e.text
        elif loc == "identifier" and (e.get("scheme") or "").strip().rstrip("/") == SEC_CIK_SCHEME:
            cik = (e.text or "").strip()
    # Most contexts have no dimensions; json.dumps with options builds an encoder per call.
    dimensions = json.dumps(dims, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if dims else "{}"
    if instant is not None:
        return _Context(None, _xs_date(instant), dimensions, len(dims), cik)
    return _Context(_xs_date(start), _xs_date(end), dimensions, len(dims), cik)


def _read_unit(el, names: _Names) -> str:
    num: list[str] = []
    den: list[str] = []
    for e in el.iter():
        if not isinstance(e.tag, str) or names.local(e.tag) != "measure":
            continue
        in_den = any(isinstance(a.tag, str) and names.local(a.tag) == "unitdenominator"
                     for a in e.iterancestors())
        (den if in_den else num).append(_qname_local(e.text or ""))
    out = "*".join(num)
    if den:
        out += "/" + "*".join(den)
    return out


# --------------------------------------------------------------------------- extraction

_IX_HINT = re.compile(r"<ix:(?:header|nonfraction|nonnumeric)\b|xbrl\.org/20(?:13|08)/inlinexbrl",
                      re.IGNORECASE)
_IX_HINT_B = re.compile(_IX_HINT.pattern.encode(), re.IGNORECASE)


_IX_NAMESPACES_LOWER = ("xbrl.org/2013/inlinexbrl", "xbrl.org/2008/inlinexbrl")
_IX_TAGS_LOWER = ("<ix:header", "<ix:nonfraction", "<ix:nonnumeric")


def is_inline_xbrl(html: bytes | str, low: str | None = None) -> bool:
    """Cheap check: an `ix:header`/`ix:nonFraction`/`ix:nonNumeric` tag or the inline XBRL
    namespace appears in the document (case-insensitive, no parsing).

    `low`, for a str `html`, is `html_source.aligned_lower(html)` if the caller
    has it: then the check is a few `str.find`s (memchr speed) instead of a
    case-insensitive regex over the document, which a filing without inline
    XBRL makes scan every character."""
    if isinstance(html, str):
        if low is not None:
            return _ix_hint_in_lower(low)
        return _IX_HINT.search(html) is not None
    return _IX_HINT_B.search(html) is not None


def _ix_hint_in_lower(low: str) -> bool:
    """`_IX_HINT.search` on an aligned lower-case copy: the literal needles, and
    for the tags the `\\b` after the name (a non-word character or the end)."""
    if any(ns in low for ns in _IX_NAMESPACES_LOWER):
        return True
    for tag in _IX_TAGS_LOWER:
        i = low.find(tag)
        while i >= 0:
            j = i + len(tag)
            if j == len(low) or not (low[j].isalnum() or low[j] == "_"):
                return True
            i = low.find(tag, j)
    return False


def _fact_id(el_id: str | None, concept: str, ctx: str, unit: str, index: int, seen: set[str]) -> str:
    if el_id:
        fid = el_id.strip()
        if fid in seen:
            fid = f"{fid}#{index}"
    else:
        h = hashlib.sha1(f"{concept}\x1f{ctx}\x1f{unit}\x1f{index}".encode()).hexdigest()[:20]
        fid = "h:" + h
    seen.add(fid)
    return fid


def _format_of(fmt: str | None) -> tuple[str, object] | None:
    """(kind, reader) of a format QName ("ixt:num-dot-decimal"), None when unknown."""
    return _FORMATS.get(fmt.strip().rpartition(":")[2].lower()) if fmt else None


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _number_text(v) -> str:
    if isinstance(v, Decimal):
        s = format(v, "f")
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        return s or "0"
    if v != v:
        return "NaN"
    return "INF" if v > 0 else "-INF"


class _Extractor:
    def __init__(self, root, names: _Names):
        self.root = root
        self.names = names
        self.contexts: dict[str, _Context] = {}
        self.units: dict[str, str] = {}
        self.continuations: dict[str, object] = {}
        self.fact_elements: list = []
        self.holders: list = []  # facts and continuations, in document order
        self.result = XbrlResult()
        self.seen_ids: set[str] = set()
        self._dei_rank: dict[str, int] = {}
        self._dei_prefixes = self._dei_prefix_set()
        self._fast_text: FastFactText | None = None
        self._formats: dict[str, tuple[str, object] | None] = {}

    def _dei_prefix_set(self) -> set[str]:
        prefixes = {"dei"}
        if self.names.xml:
            for p, ns in (self.root.nsmap or {}).items():
                if p and "/dei/" in (ns or ""):
                    prefixes.add(p)
        return prefixes

    def scan(self) -> None:
        n = self.names
        for el in self.root.iter(*n.scan):
            tag = el.tag
            if tag in n.facts:
                self.fact_elements.append(el)
                self.holders.append(el)
            elif tag in n.continuation:
                self.holders.append(el)
                cid = el.get("id")
                if cid:
                    self.continuations.setdefault(cid.strip(), el)
            elif tag in n.context:
                cid = el.get("id")
                if cid:
                    self.contexts[cid.strip()] = _read_context(el, n)
            elif tag in n.unit:
                uid = el.get("id")
                if uid:
                    self.units[uid.strip()] = _read_unit(el, n)

    def _use_fast_text(self) -> None:
        """Read facts' text with libxml2 (xbrl_text.FastFactText) where that is exact.

        Changes the tree: call after `scan` has read contexts and units."""
        n = self.names
        fast = FastFactText(self.root, n.local, n.exclude, n.facts | n.continuation, _BLOCK_TAGS)
        if fast.applicable():
            fast.prepare(self.holders)
            self._fast_text = fast

    def _parts(self, el, out: list[str]) -> None:
        if self._fast_text is not None:
            # a leaf (most numeric facts) is its own text; no serialiser call
            out.append(self._fast_text.text(el) if len(el) else (el.text or ""))
        else:
            _text_parts(el, self.names, out)

    def text_of(self, el, continued_at: str | None) -> str:
        if not continued_at and self._fast_text is not None and not len(el):
            return " ".join((el.text or "").split())  # a leaf (most numeric facts) is its own text
        parts: list[str] = []
        self._parts(el, parts)
        seen = set()
        while continued_at:
            cid = continued_at.strip()
            cont = self.continuations.get(cid)
            if cont is None or cid in seen:
                break  # a broken or cyclic chain: keep what was found
            seen.add(cid)
            parts.append(" ")
            self._parts(cont, parts)
            continued_at = cont.get("continuedAt") or cont.get("continuedat")
        return _collapse(parts)

    def format_of(self, fmt: str) -> tuple[str, object] | None:
        """`_format_of`, remembered per document: a filing uses a few formats,
        each on hundreds of facts."""
        try:
            return self._formats[fmt]
        except KeyError:
            spec = self._formats[fmt] = _format_of(fmt)
            return spec

    def _where(self, tag: str, a: dict[str, str], index: int) -> str:
        """The start of a reject's detail: "ix:nonFraction f-12" (id, else "#index")."""
        return f"{self.kind(tag)} {a.get('id') or '#' + str(index)}"

    def kind(self, tag: str) -> str:
        n = self.names
        return "ix:nonFraction" if tag in n.nonfraction else "ix:nonNumeric" if tag in n.nonnumeric else "ix:fraction"

    def reject(self, concept: str, reason: str, detail: str) -> None:
        self.result.rejects.append(FactReject(concept, reason, detail))

    def run(self) -> XbrlResult:
        self.scan()
        self._use_fast_text()
        for index, el in enumerate(self.fact_elements):
            try:
                self.fact(el, index)
            except Exception as e:  # one odd fact never stops the filing
                self.reject((el.get("name") or "").strip(), "internal_error",
                            f"{self.kind(el.tag)} {el.get('id') or '#' + str(index)}: "
                            f"{type(e).__name__}: {e}; report it with the filing")
        for ctx in self.contexts.values():
            if ctx.cik and "EntityCentralIndexKey" not in self.result.dei:
                self.result.dei["EntityCentralIndexKey"] = ctx.cik
                break
        return self.result

    def fact(self, el, index: int) -> None:
        n = self.names
        a = _attrs(el)
        concept = (a.get("name") or "").strip()
        tag = el.tag
        # A reject's detail starts with the element kind: "ix:nonFraction f-12: ..."
        # (formatted only on the reject paths: most facts are not rejected).
        def where() -> str:
            return self._where(tag, a, index)

        if tag in n.fraction:
            self.reject(concept, "unsupported_fact", f"{where()}: ix:fraction facts are not read; add support in etl/xbrl.py")
            return
        if not concept:
            self.reject("", "no_concept", f"{where()}: the element has no name attribute; the filing is malformed")
            return
        ctx_ref = (a.get("contextref") or "").strip()
        ctx = self.contexts.get(ctx_ref)
        if ctx is None:
            self.reject(concept, "unknown_context",
                        f"{where()}: contextRef {ctx_ref!r} names no xbrli:context in ix:resources")
            return
        numeric = tag in n.nonfraction
        unit_ref = (a.get("unitref") or "").strip()
        unit = None
        if numeric:
            unit = self.units.get(unit_ref)
            if unit is None:
                self.reject(concept, "unknown_unit",
                            f"{where()}: unitRef {unit_ref!r} names no xbrli:unit in ix:resources")
                return
        nil = (a.get("xsi:nil") or "").strip().lower() in ("true", "1")
        fmt = a.get("format")
        value: float | None = None
        text_value: str | None = None
        exact: Decimal | float | None = None
        if not nil:
            shown = self.text_of(el, None if numeric else a.get("continuedat"))
            spec = self.format_of(fmt) if fmt else None
            if fmt and spec is None:
                self.reject(concept, "unknown_format",
                            f"{where()}: format {fmt!r} is not in the transformation registry this "
                            f"reader knows (shown text {_short(shown)!r}); add it to etl/xbrl.py _FORMATS")
                return
            try:
                if numeric:
                    if spec is None:
                        out = _plain_number(shown)
                    elif spec[0] != _NUM:
                        self.reject(concept, "format_mismatch",
                                    f"{where()}: format {fmt!r} makes text, but ix:nonFraction needs a "
                                    f"number (shown text {_short(shown)!r})")
                        return
                    else:
                        out = spec[1](shown)
                else:
                    out = shown if spec is None else spec[1](shown)
            except (_BadValue, InvalidOperation) as e:
                how = f"format {fmt!r}" if fmt else "a fact without format"
                self.reject(concept, "bad_value",
                            f"{where()}: {how} cannot read shown text {_short(shown)!r}: {e}; "
                            "the fact is invalid XBRL (fix the filing or extend the format reader)")
                return
            if numeric:
                try:
                    scale = int((a.get("scale") or "0").strip())
                except ValueError:
                    self.reject(concept, "bad_scale", f"{where()}: scale {a.get('scale')!r} is not an integer")
                    return
                negative = (a.get("sign") or "").strip() == "-"
                if isinstance(out, Decimal):
                    dec = out.scaleb(scale)
                    if negative:
                        dec = -dec
                    value = float(dec)
                    exact = dec  # written out as text only for DEI facts, below
                else:  # INF / NaN
                    value = -out if negative else out
                    exact = value
            else:
                text_value = out if isinstance(out, str) else _number_text(out)
        decimals = a.get("decimals")
        fact = Fact(
            fact_id=_fact_id(a.get("id"), concept, ctx_ref, unit_ref, index, self.seen_ids),
            concept=concept,
            value=value,
            text_value=text_value,
            unit=unit,
            decimals=decimals.strip() if decimals is not None else None,
            period_start=ctx.period_start,
            period_end=ctx.period_end,
            dimensions=ctx.dimensions,
        )
        self.result.facts.append(fact)
        prefix, _, local = concept.partition(":")
        if local and prefix in self._dei_prefixes:
            shown_value = text_value if not numeric else (None if exact is None else _number_text(exact))
            rank = 1 if ctx.dims else 0
            if shown_value is not None and rank < self._dei_rank.get(local, 2):
                self._dei_rank[local] = rank
                self.result.dei[local] = shown_value


def extract_facts(html: bytes | str) -> XbrlResult:
    """Every inline XBRL fact of a document (bytes as read, or decoded text).

    A document without inline XBRL (see `is_inline_xbrl`) gives an empty result
    without being parsed. Raises ValueError only for a document lxml finds no
    element in. Each `FactReject.detail` starts with the element kind
    ("ix:nonFraction f-12: ..."), so rejected numeric facts can be counted.
    """
    if not is_inline_xbrl(html):
        return XbrlResult()
    root, names = _parse(html)
    return _Extractor(root, names).run()


# --------------------------------------------------------------------------- DEI, rows

_CIK_DIGITS = 10


def normalize_cik(text: str | None) -> str | None:
    """A CIK as EDGAR's canonical 10-digit, zero-padded string ("320193" -> "0000320193");
    None when the text holds no digits or more than 10."""
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    if not digits or len(digits.lstrip("0")) > _CIK_DIGITS:
        return None
    return digits.lstrip("0").zfill(_CIK_DIGITS)


def dei_metadata(dei: dict[str, str]) -> dict:
    """FilingMeta fields from a filing's DEI facts; only the fields DEI gives (so
    `dataclasses.replace(meta, **dei_metadata(dei))` never blanks a known field).

    * company_id: dei:EntityCentralIndexKey as EDGAR's canonical 10-digit,
      zero-padded CIK ("0000320193"): what Workiva-style filers write, what the
      sample corpus sidecars use, and one id whether a filer wrote "320193" or
      "0000320193" (`int(company_id)` gives the bare number).
    * company_name: dei:EntityRegistrantName (whitespace collapsed).
    * period_end: dei:DocumentPeriodEndDate as a date (ISO after the format).
    * form: dei:DocumentType ("10-K", "10-K/A").
    * ticker: dei:TradingSymbol (the first without dimensions, else the first).
    """
    out: dict = {}
    cik = normalize_cik(dei.get("EntityCentralIndexKey"))
    if cik:
        out["company_id"] = cik
    name = " ".join((dei.get("EntityRegistrantName") or "").split())
    if name:
        out["company_name"] = name
    period_end = _xs_date(dei.get("DocumentPeriodEndDate"))
    if period_end:
        out["period_end"] = period_end
    form = (dei.get("DocumentType") or "").strip()
    if form:
        out["form"] = form
    ticker = (dei.get("TradingSymbol") or "").strip()
    if ticker:
        out["ticker"] = ticker
    return out


def facts_table(facts: list[Fact], filing_id: str) -> pa.Table:
    """The `facts` rows of one filing, against `featurestore.schemas.FACTS`."""
    rows = [{"filing_id": filing_id, **{k: getattr(f, k) for k in FACTS.columns if k != "filing_id"}}
            for f in facts]
    return pa.Table.from_pylist(rows, schema=FACTS.schema)
