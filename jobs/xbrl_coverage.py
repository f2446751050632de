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

Used by `python -m jobs.bench_etl` and `tests/test_real_filings.py`. Pure:
bytes and numbers in, dataclasses out.
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


def ix_facts(raw: bytes | str) -> tuple[list[IxFact], int]:
    """Every visible `ix:nonFraction` fact of an inline-XBRL document, in document order,
    and the number of visible but empty ones (`xsi:nil="true"`), which show no value.

    (`score_store.py` counts an empty fact as 0, which any zero in the document matches.)
    """
    doc = lhtml.fromstring(raw)
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
