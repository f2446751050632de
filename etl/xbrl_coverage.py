"""How many visible inline-XBRL values the ETL found as numbers.

An independent, deliberately simple reader of `ix:nonFraction` tags (lxml, not
the ETL's selectolax code), so the ETL is checked against the filer's own
tagging rather than against itself:

* facts under `ix:header` / `ix:hidden` or inside a `display:none` element are
  skipped (a reader never sees them);
* the value is the shown text as a number (`ixt:num-comma-decimal` read the
  European way), 0 for `format` containing "zero" or a dash, an English
  number word ("two", "none") read as such; times 10**scale;
* a fact is covered when some ETL number has the same magnitude (rounded to 4
  decimals, or within a relative 1e-9); a percentage (scale < 0) is also
  covered by its shown value (25 for 0.25), as `score_store.py` does. Signs
  are compared apart: a value shown in parentheses is often a positive fact.

`check_tagging` is the stricter check `python -m jobs.check_numbers` runs on a
store: a fact is covered only by a `numbers` row that has its magnitude (within
a relative 1e-9; percentages as fractions, 0.25 for a scale -2 "25") AND whose
`raw` text shows the fact's text; rows are aligned to facts in document order,
so the sign a reader sees (the row's value) can be compared with the XBRL sign
fact by fact (`SignDisagreement`). `FilingReport`, `report_lines` and
`summary_line` turn those checks into the job's printed table.

Used by `python -m jobs.bench_etl`, `python -m jobs.check_numbers` and the
tests. Pure: bytes and numbers in, dataclasses and lines out.
"""
from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree
from lxml import html as lhtml

TARGET = 0.98
_HIDDEN_TAGS = ("ix:header", "ix:hidden", "header", "hidden")
_FACT_TAGS = ("ix:nonfraction", "nonfraction")
_DASHES = frozenset("-—–―‒−")
_WS = re.compile(r"\s+")
_IX_NONFRACTION_TAG = re.compile(r"</?ix:nonFraction\b[^>]*>", re.IGNORECASE)
_CONTEXT_STOP = frozenset(("tr", "p", "li", "div", "h1", "h2", "h3", "h4", "h5", "h6", "body"))
_CONTEXT_MAX_CHARS = 4000

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_ZERO_WORDS = {"no", "none", "nil", "zero"}
_MULTIPLIERS = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "half": 2}


@dataclass(frozen=True)
class IxFact:
    """One visible `ix:nonFraction` fact."""
    name: str          # concept, e.g. us-gaap:Revenues
    shown: str         # the text a reader sees inside the tag
    scale: int
    fmt: str
    negated: bool      # sign="-"
    value: float       # shown number (or word) * 10**scale, unsigned; nan if unreadable
    is_word: bool      # shown as a number word ("two", "none")
    context: str       # the row or sentence around it, the fact marked ⟦…⟧

    @property
    def candidates(self) -> tuple[float, ...]:
        """Magnitudes that count as this fact (a percentage also as shown)."""
        if math.isnan(self.value):
            return ()
        if self.scale < 0:
            return (self.value, self.value * 10.0 ** (-self.scale))
        return (self.value,)


@dataclass
class Coverage:
    facts: int = 0
    covered: int = 0
    signed: int = 0            # covered with the XBRL sign (sign="-" -> negative) too
    words: int = 0             # facts shown as number words
    words_covered: int = 0
    words_exact: int = 0       # ... by a number whose raw text is that word (not just an equal value elsewhere)
    misses: list[IxFact] = field(default_factory=list)
    why: list[str] = field(default_factory=list)  # per miss: what the ETL has instead (see `_why`)

    @property
    def share(self) -> float:
        return self.covered / self.facts if self.facts else 1.0

    @property
    def numeric_share(self) -> float:
        n = self.facts - self.words
        return (self.covered - self.words_covered) / n if n else 1.0

    def reasons(self) -> dict[str, int]:
        """How many misses were found unscaled, at another scale, or not at all."""
        out: dict[str, int] = {}
        for w in self.why:
            key = w.split(":")[0]
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def as_dict(self, max_misses: int = 50) -> dict:
        return {
            "facts": self.facts, "covered": self.covered, "share": self.share,
            "signed": self.signed, "words": self.words, "words_covered": self.words_covered,
            "words_exact": self.words_exact,
            "numeric_share": self.numeric_share,
            "misses": [{"shown": m.shown, "scale": m.scale, "format": m.fmt, "concept": m.name,
                        "value": m.value, "is_word": m.is_word, "context": m.context, "why": w}
                       for m, w in zip(self.misses[:max_misses], self.why)],
            "reasons": self.reasons(),
        }


def word_value(text: str) -> float | None:
    """An English number word or phrase ("two", "twenty-five", "none") as a number."""
    words = [w for w in re.split(r"[\s\-]+", text.lower().strip().rstrip(".")) if w and w != "and"]
    if not words:
        return None
    if len(words) == 1 and words[0] in _ZERO_WORDS:
        return 0.0
    total = current = 0
    for w in words:
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w in _MULTIPLIERS:
            total += max(current, 1) * _MULTIPLIERS[w]
            current = 0
        else:
            return None
    return float(total + current)


def shown_value(shown: str, fmt: str) -> tuple[float, bool]:
    """(unscaled magnitude, is_word) of a fact's shown text; nan when unreadable."""
    t = shown.strip()
    fmt = fmt.lower()
    if "zero" in fmt or (t and set(t.replace(" ", "")) <= _DASHES):
        return 0.0, False
    if not any(ch.isdigit() for ch in t):
        v = word_value(t)
        return (math.nan if v is None else v), True
    if "comma-decimal" in fmt or "commadecimal" in fmt:
        t = t.replace(".", "").replace(" ", "").replace(",", ".")
    else:
        t = t.replace(",", "").replace(" ", "")
    digits = re.sub(r"[^0-9.]", "", t)
    try:
        return float(digits), False
    except ValueError:
        return math.nan, False


def _tag(el) -> str:
    return el.tag.lower() if isinstance(el.tag, str) else ""


def _is_hidden(el) -> bool:
    a = el
    while a is not None:
        if _tag(a) in _HIDDEN_TAGS:
            return True
        style = (a.get("style") or "").replace(" ", "").lower()
        if "display:none" in style:
            return True
        a = a.getparent()
    return False


_CELL_TAGS = frozenset(("td", "th"))
_BREAK_TAGS = frozenset(("tr", "p", "li", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6"))


def _bounded_text(el, limit: int = _CONTEXT_MAX_CHARS) -> str | None:
    """Text of `el` with " | " between table cells and spaces between blocks; None if over `limit`."""
    parts: list[str] = []
    n = 0
    for event, node in etree.iterwalk(el, events=("start", "end")):
        if event == "start":
            if isinstance(node.tag, str) and node.text:
                parts.append(node.text)
                n += len(node.text)
        else:
            tag = _tag(node)
            if tag in _CELL_TAGS:
                parts.append(" | ")
            elif tag in _BREAK_TAGS:
                parts.append(" ")
            if node is not el and node.tail:
                parts.append(node.tail)
                n += len(node.tail)
        if n > limit:
            return None
    text = "".join(parts)
    return re.sub(r"(?:\s*\|\s*)+", " | ", text).strip(" |")


def _context(el, shown: str, width: int = 110) -> str:
    """The table row or paragraph around a fact, the fact marked ⟦…⟧, trimmed to `width` each side."""
    marker = "\ue000"  # a private-use character no filing shows
    saved_tail = el.tail
    saved = list(el), el.text
    # Mark the fact in place, read the surrounding block, then restore the tree.
    for child in list(el):
        el.remove(child)
    el.text = marker
    try:
        anc, text = el.getparent(), None
        while anc is not None:
            text = _bounded_text(anc)
            if text is None:
                break
            if _tag(anc) in _CONTEXT_STOP and _WS.sub("", text.replace(marker, "")):
                break
            anc = anc.getparent()
        if text is None:
            text = (el.getparent().text or "") + marker + (saved_tail or "") if el.getparent() is not None else marker
    finally:
        children, el.text = saved
        for child in children:
            el.append(child)
        el.tail = saved_tail
    text = _WS.sub(" ", text).strip()
    i = text.find(marker)
    before, after = text[:i], text[i + 1:]
    if len(before) > width:
        before = "…" + before[-width:]
    if len(after) > width:
        after = after[:width] + "…"
    return f"{before}⟦{shown}⟧{after}"


_UTF8_PARSER = lhtml.HTMLParser(encoding="utf-8")


def _parser_for(raw: bytes | str):
    """UTF-8 when the bytes are valid UTF-8, as the ETL decodes them (lxml alone takes
    a document without a charset declaration for Latin-1, so "—" would read as "â\x80\x94")."""
    if isinstance(raw, bytes):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return _UTF8_PARSER
    return None


def ix_facts(raw: bytes | str) -> tuple[list[IxFact], int]:
    """Every visible `ix:nonFraction` fact of an inline-XBRL document, in document order,
    and the number of visible but empty ones (`xsi:nil="true"`), which show no value.

    (`score_store.py` counts an empty fact as 0, which any zero in the document matches.)
    """
    doc = lhtml.fromstring(raw, parser=_parser_for(raw))
    out: list[IxFact] = []
    nil = 0
    # Collected first: `_context` briefly edits the tree around each fact.
    elements = [el for el in doc.iter() if _tag(el) in _FACT_TAGS and not _is_hidden(el)]
    for el in elements:
        shown = _WS.sub(" ", "".join(el.itertext())).strip()
        if not shown:
            nil += 1  # xsi:nil="true" or an empty tag: nothing for a reader to see
            continue
        fmt = el.get("format") or ""
        try:
            scale = int(el.get("scale") or 0)
        except ValueError:
            scale = 0
        magnitude, is_word = shown_value(shown, fmt)
        value = magnitude * 10.0 ** scale if scale else magnitude
        if scale and math.isfinite(value):
            value = float(f"{value:.12g}")
        out.append(IxFact(el.get("name") or "", shown, scale, fmt, el.get("sign") == "-",
                          value, is_word, _context(el, shown)))
    return out, nil


def strip_ix_tags(html: str) -> str:
    """The document without its `ix:nonFraction` tags (their text stays): what the ETL sees without XBRL hints."""
    return _IX_NONFRACTION_TAG.sub("", html)


class _ValueIndex:
    """Magnitudes (and signed values) of a document's numbers, for tolerant lookup."""

    def __init__(self, values: Iterable[float]):
        finite = [float(v) for v in values if v is not None and math.isfinite(v)]
        self.abs_sorted = sorted({abs(v) for v in finite})
        self.abs_rounded = {round(abs(v), 4) for v in finite}
        self.signed_rounded = {round(v, 4) for v in finite}

    def has_magnitude(self, x: float) -> bool:
        x = abs(x)
        if round(x, 4) in self.abs_rounded:
            return True
        i = bisect.bisect_left(self.abs_sorted, x)
        for j in (i - 1, i):
            if 0 <= j < len(self.abs_sorted):
                y = self.abs_sorted[j]
                if abs(y - x) <= 1e-9 * max(abs(x), abs(y)):
                    return True
        return False

    def has_signed(self, x: float) -> bool:
        return round(x, 4) in self.signed_rounded


def coverage(facts: list[IxFact], numbers: Iterable) -> Coverage:
    """Which facts have an ETL number of the same magnitude among `numbers`.

    `numbers` are floats, or objects with `.value` and `.raw` (etl.numbers.Number);
    with `.raw`, a number-word fact is also checked for a number showing that very word.
    """
    values, words = [], set()
    for n in numbers:
        if isinstance(n, (int, float)):
            values.append(float(n))
            continue
        values.append(n.value)
        raw = getattr(n, "raw", None)
        if raw and not any(ch.isdigit() for ch in raw) and n.value is not None and math.isfinite(n.value):
            words.add((raw.strip().lower(), round(abs(n.value), 4)))
    index = _ValueIndex(values)
    cov = Coverage()
    for f in facts:
        cov.facts += 1
        cov.words += f.is_word
        if f.is_word and not math.isnan(f.value) and (f.shown.lower(), round(f.value, 4)) in words:
            cov.words_exact += 1
        cands = f.candidates
        if any(index.has_magnitude(c) for c in cands):
            cov.covered += 1
            cov.words_covered += f.is_word
            if any(index.has_signed(-c if f.negated else c) for c in cands):
                cov.signed += 1
        else:
            cov.misses.append(f)
            cov.why.append(_why(f, index))
    return cov


_OTHER_SCALES = (0, -2, 3, 6, 9, 12)


def _why(f: IxFact, index: _ValueIndex) -> str:
    """What the ETL made of a missed fact's shown number: unscaled, another scale, or nothing."""
    if math.isnan(f.value):
        return "unreadable: the reader could not read the shown text"
    shown = f.value / 10.0 ** f.scale if f.scale else f.value
    for k in _OTHER_SCALES:
        if k == f.scale or (f.scale < 0 and k == 0):
            continue
        if index.has_magnitude(shown * 10.0 ** k):
            label = "unscaled" if k == 0 else f"scale {k:+d}"
            num = f"{int(shown):,}" if shown == int(shown) else f"{shown:g}"
            return f"{label}: the ETL has {num} x 10^{k} where the XBRL scale is {f.scale}"
    return "not found: no number of that magnitude at any scale"


# -- the store check: facts against `numbers` rows (jobs/check_numbers.py) ---------

REL_TOL = 1e-9
SIGN_PARENTHESES = "parentheses"   # the store reads "(12)" as negative; the fact is positive
SIGN_MINUS = "minus"               # the store read a "-" as a minus (e.g. the dash of a range "3.6%-5.4%")
SIGN_UNSIGNED = "unsigned"         # sign="-" on a fact shown without parentheses or minus
_MISSES_EXPLAINED = 200


def primary_document(raw: bytes) -> bytes:
    """The HTML of a filing file as the ETL reads it: gunzipped, and for an EDGAR
    full-submission `.txt`, its primary document. Raises `etl.documents.FilingRejected`
    (bad gzip, too large) or `etl.edgar_submission.SubmissionError` (no primary document)."""
    from etl.documents import decompress
    from etl.edgar_submission import looks_like_submission, read_submission

    content = decompress(raw)
    if looks_like_submission(content):
        content = read_submission(content).document
    return content


def has_inline_facts(document: bytes) -> bool:
    """Cheap test before parsing: does the document hold any `ix:nonFraction` tag?"""
    return b"nonfraction" in document.lower()


def shown_key(text: str) -> str:
    """Text compared between a fact and a `raw`: whitespace runs as one space, case folded."""
    return _WS.sub(" ", text).strip().casefold()


def values_equal(a: float, b: float, rel_tol: float = REL_TOL) -> bool:
    return a == b or abs(a - b) <= rel_tol * max(abs(a), abs(b))


@dataclass(frozen=True)
class StoreNumber:
    """A `numbers` row as the check needs it: what it shows and what it is worth."""
    raw: str
    value: float


@dataclass(frozen=True)
class SignDisagreement:
    """A covered fact whose XBRL sign differs from the sign of the store's value."""
    concept: str
    shown: str
    xbrl_negative: bool       # sign="-"
    xbrl_value: float         # signed: -value when sign="-"
    store_raw: str
    store_value: float
    kind: str                 # SIGN_PARENTHESES, SIGN_MINUS or SIGN_UNSIGNED
    context: str

    def as_dict(self) -> dict:
        return {"concept": self.concept, "shown": self.shown, "xbrl_sign": "-" if self.xbrl_negative else "+",
                "xbrl_value": self.xbrl_value, "store_raw": self.store_raw, "store_value": self.store_value,
                "kind": self.kind, "context": self.context}


@dataclass
class TaggingCheck:
    """Visible `ix:nonFraction` facts of one filing against its `numbers` rows."""
    facts: int = 0
    covered: int = 0
    nil: int = 0                                   # visible but empty facts (not counted in `facts`)
    misses: list[IxFact] = field(default_factory=list)
    why: list[str] = field(default_factory=list)  # per miss (the first _MISSES_EXPLAINED): what the store has instead
    sign_disagreements: list[SignDisagreement] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.covered / self.facts if self.facts else 1.0

    def sign_kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.sign_disagreements:
            out[d.kind] = out.get(d.kind, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def as_dict(self, max_listed: int = 50) -> dict:
        return {
            "facts": self.facts, "covered": self.covered, "coverage": self.share, "nil": self.nil,
            "misses": len(self.misses),
            "first_misses": [{"concept": m.name, "shown": m.shown, "scale": m.scale, "format": m.fmt,
                              "value": m.value, "context": m.context,
                              "why": self.why[i] if i < len(self.why) else ""}
                             for i, m in enumerate(self.misses[:max_listed])],
            "sign_disagreements": len(self.sign_disagreements),
            "sign_kinds": self.sign_kinds(),
            "first_sign_disagreements": [d.as_dict() for d in self.sign_disagreements[:max_listed]],
        }


def _as_store_numbers(numbers: Iterable) -> list[StoreNumber]:
    out = []
    for n in numbers:
        if isinstance(n, StoreNumber):
            out.append(n)
        elif isinstance(n, dict):
            out.append(StoreNumber(n.get("raw") or "", n.get("value")))
        elif isinstance(n, tuple):
            out.append(StoreNumber(n[0] or "", n[1]))
        else:
            out.append(StoreNumber(getattr(n, "raw", "") or "", getattr(n, "value", None)))
    return out


class _RowIndex:
    """Rows sorted by magnitude, for "every row within 1e-9 of this value"."""

    def __init__(self, rows: list[StoreNumber]):
        pairs = sorted((abs(r.value), i) for i, r in enumerate(rows)
                       if r.value is not None and math.isfinite(r.value))
        self.mags = [m for m, _ in pairs]
        self.ids = [i for _, i in pairs]

    def with_magnitude(self, x: float) -> list[int]:
        """Row positions (document order) whose |value| equals `x` within REL_TOL."""
        x = abs(x)
        tol = REL_TOL * x
        lo = bisect.bisect_left(self.mags, x - tol)
        hi = bisect.bisect_right(self.mags, x + tol / (1 - REL_TOL))
        return sorted(self.ids[lo:hi])


def _align(candidates: list[list[int]]) -> list[int | None]:
    """One row per fact, in document order where possible.

    The longest chain of facts whose chosen rows strictly increase (a longest
    increasing subsequence over every fact's candidate rows) fixes most facts;
    each other fact takes a candidate between its chain neighbours' rows, or
    else the one nearest the row before it. This is what makes a fact's sign
    comparable: the same magnitude often appears both as "(12)" and as "12".
    """
    tails: list[int] = []      # smallest last row of a chain of each length
    tail_node: list[int] = []
    nodes: list[tuple[int, int, int]] = []   # (fact, row, previous node)
    for i, cands in enumerate(candidates):
        for r in reversed(cands):  # descending: two rows of one fact never chain
            k = bisect.bisect_left(tails, r)
            nodes.append((i, r, tail_node[k - 1] if k else -1))
            if k == len(tails):
                tails.append(r)
                tail_node.append(len(nodes) - 1)
            else:
                tails[k] = r
                tail_node[k] = len(nodes) - 1
    chosen: list[int | None] = [None] * len(candidates)
    j = tail_node[-1] if tail_node else -1
    while j >= 0:
        i, r, j = nodes[j]
        chosen[i] = r
    next_on_chain: list[int | None] = [None] * len(candidates)
    upcoming = None
    for i in range(len(candidates) - 1, -1, -1):
        next_on_chain[i] = upcoming
        if chosen[i] is not None:
            upcoming = chosen[i]
    last = -1
    for i, cands in enumerate(candidates):
        if chosen[i] is not None:
            last = chosen[i]
            continue
        if not cands:
            continue
        hi = next_on_chain[i] if next_on_chain[i] is not None else math.inf
        inside = [r for r in cands if last <= r <= hi]
        chosen[i] = inside[0] if inside else min(cands, key=lambda r: abs(r - last))
    return chosen


def _sign_kind(row: StoreNumber) -> str:
    if "(" in row.raw and row.value < 0:
        return SIGN_PARENTHESES
    if row.value < 0:
        return SIGN_MINUS
    return SIGN_UNSIGNED


def _miss_reason(f: IxFact, rows: list[StoreNumber], keys: list[str], index: _RowIndex) -> str:
    """What the store has for a missed fact: its value under other text, its text with another value, or neither."""
    if math.isnan(f.value):
        return "unreadable: the checker could not read the shown text as a number"
    same_value = index.with_magnitude(f.value)
    if same_value:
        raws = list(dict.fromkeys(rows[i].raw for i in same_value))[:3]
        return f"other text: rows of value {f.value:g} show {raws}, not {f.shown!r}"
    key = shown_key(f.shown)
    showing = [i for i, k in enumerate(keys) if key in k]
    if showing:
        values = list(dict.fromkeys(f"{rows[i].raw!r}={rows[i].value:g}" for i in showing))[:3]
        hint = " (a percentage kept as shown, not as a fraction?)" if f.scale < 0 else ""
        return f"other value: rows showing {f.shown!r} are {values}, the fact is {f.value:g}{hint}"
    return "not found: no row shows that text or has that value"


def check_tagging(facts: list[IxFact], numbers: Iterable, nil: int = 0) -> TaggingCheck:
    """Which visible facts a `numbers` row of the same filing covers, and which signs disagree.

    `facts` in document order (from `ix_facts`); `numbers` in document order (the
    store's chunk `seq`, then `char_start`), as `StoreNumber`s, `(raw, value)`
    tuples, dicts or objects with `.raw` and `.value` (etl.numbers.Number).
    A fact is covered when a row has |value| equal to the fact's value after
    `scale` (within a relative 1e-9; 0.25 for a scale -2 "25") and its `raw`
    contains the fact's shown text (`shown_key`). A covered fact disagrees in
    sign when its XBRL value (negative for sign="-") differs from the aligned
    row's signed value.
    """
    rows = _as_store_numbers(numbers)
    keys = [shown_key(r.raw) for r in rows]
    index = _RowIndex(rows)
    candidates: list[list[int]] = []
    for f in facts:
        if math.isnan(f.value):
            candidates.append([])
            continue
        key = shown_key(f.shown)
        candidates.append([i for i in index.with_magnitude(f.value) if key in keys[i]])
    chosen = _align(candidates)
    check = TaggingCheck(facts=len(facts), nil=nil)
    for f, row_i in zip(facts, chosen):
        if row_i is None:
            check.misses.append(f)
            if len(check.why) < _MISSES_EXPLAINED:
                check.why.append(_miss_reason(f, rows, keys, index))
            continue
        check.covered += 1
        row = rows[row_i]
        xbrl = -f.value if f.negated else f.value
        if not values_equal(xbrl, row.value):
            check.sign_disagreements.append(SignDisagreement(
                f.name, f.shown, f.negated, xbrl, row.raw, row.value, _sign_kind(row), f.context))
    return check


# -- report rows -------------------------------------------------------------------

STATUS_CHECKED = "checked"
STATUS_NO_IXBRL = "no inline XBRL"
STATUS_MISSING = "file missing"
STATUS_CHANGED = "file changed"
STATUS_UNREADABLE = "unreadable"


@dataclass
class FilingReport:
    """One filing's line in the check: its status and, when checked, the check."""
    filing_id: str
    path: str
    status: str
    detail: str = ""
    check: TaggingCheck | None = None

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    def below(self, min_coverage_pct: float) -> bool:
        return self.check is not None and 100.0 * self.check.share < min_coverage_pct

    def as_dict(self, max_listed: int = 50) -> dict:
        out = {"filing_id": self.filing_id, "path": self.path, "status": self.status, "detail": self.detail}
        if self.check is not None:
            out.update(self.check.as_dict(max_listed))
        return out


def _pct(share: float) -> str:
    """Percent with two decimals that never rounds a shortfall up to 100.00%."""
    p = 100.0 * share
    return "100.00%" if share >= 1.0 else f"{min(p, 99.99):.2f}%"


def _fmt_value(v: float) -> str:
    return f"{v:,.0f}" if v == int(v) and abs(v) >= 1 else f"{v:g}"


def report_lines(reports: list[FilingReport], min_coverage_pct: float = 0.0, signs_shown: int = 3,
                 misses_shown: int = 5) -> list[str]:
    """The printed table: one row per checked filing, then sign disagreements, misses, unchecked filings."""
    checked = [r for r in reports if r.check is not None]
    lines: list[str] = []
    if checked:
        w = max(len("file"), *(len(r.name) for r in checked))
        head = (f"{'filing_id':<24}  {'file':<{w}}  {'facts':>6}  {'covered':>7}  {'coverage':>8}  "
                f"{'sign_disagreements':>18}")
        lines += [head, "-" * len(head)]
        for r in checked:
            c = r.check
            flag = "  BELOW" if r.below(min_coverage_pct) else ""
            lines.append(f"{r.filing_id:<24}  {r.name:<{w}}  {c.facts:>6}  {c.covered:>7}  {_pct(c.share):>8}  "
                         f"{len(c.sign_disagreements):>18}{flag}")
    for r in checked:
        c = r.check
        if c.sign_disagreements:
            kinds = ", ".join(f"{k} {n}" for k, n in c.sign_kinds().items())
            first = c.sign_disagreements[:signs_shown]
            # A minus the store read where no parentheses are is more often an ETL slip
            # (the dash of a range) than a filer's convention: list those too.
            minus = [d for d in c.sign_disagreements[signs_shown:] if d.kind == SIGN_MINUS][:signs_shown]
            lines.append("")
            lines.append(f"sign disagreements in {r.name}: {len(c.sign_disagreements)} ({kinds}); first "
                         f"{len(first)}" + (f", then the first {len(minus)} read as a minus" if minus else "") + ":")
            for d in first + minus:
                note = "  (store read a minus: range dash?)" if d.kind == SIGN_MINUS else ""
                lines.append(f"  {d.concept}  shown {d.shown!r}  XBRL sign {'-' if d.xbrl_negative else '+'}  "
                             f"store {d.store_raw!r} = {_fmt_value(d.store_value)}{note}")
    for r in checked:
        c = r.check
        if c.misses:
            lines.append("")
            lines.append(f"not covered in {r.name}: {len(c.misses)}; first {min(misses_shown, len(c.misses))}:")
            for i, m in enumerate(c.misses[:misses_shown]):
                why = c.why[i] if i < len(c.why) else ""
                lines.append(f"  {m.name}  shown {m.shown!r} scale {m.scale}: {why}")
                lines.append(f"    {m.context}")
    unchecked = [r for r in reports if r.check is None]
    if unchecked:
        lines.append("")
        lines.append(f"not checked: {len(unchecked)}")
        for r in unchecked:
            lines.append(f"  {r.filing_id}  {r.path}: {r.status}" + (f" ({r.detail})" if r.detail else ""))
    return lines


def summary_line(reports: list[FilingReport], min_coverage_pct: float = 0.0) -> str:
    checked = [r for r in reports if r.check is not None]
    facts = sum(r.check.facts for r in checked)
    covered = sum(r.check.covered for r in checked)
    signs = sum(len(r.check.sign_disagreements) for r in checked)
    below = [r for r in checked if r.below(min_coverage_pct)]
    by_status: dict[str, int] = {}
    for r in reports:
        if r.check is None:
            by_status[r.status] = by_status.get(r.status, 0) + 1
    skipped = ", ".join(f"{k} {n}" for k, n in by_status.items()) or "none"
    share = covered / facts if facts else 1.0
    parts = [f"{len(checked)} of {len(reports)} filings checked",
             f"facts {facts}, covered {covered} ({_pct(share)})",
             f"sign disagreements {signs} ({100.0 * signs / covered if covered else 0.0:.1f}% of covered)",
             f"not checked: {skipped}"]
    if min_coverage_pct > 0:
        parts.insert(3, f"below {min_coverage_pct:g}%: {len(below)}")
    return "SUMMARY: " + "; ".join(parts)


def exit_status(reports: list[FilingReport], min_coverage_pct: float = 0.0) -> int:
    """1 when a checked filing's coverage is below `min_coverage_pct`, else 0."""
    return 1 if any(r.below(min_coverage_pct) for r in reports) else 0
