"""Numeracy items: generated sentences whose one target number follows from the others.

Each item is a sentence such as "16 plus 24 gives 40", "If you divide 1,234,345
by 567, you get 2,176.97" or "revenue grew from $1.2 billion to $1.5 billion,
an increase of 25.0%", tagged with `<number>` exactly as the ingest tags
chunks (`etl.numbers.find_numbers` + `format_tagged`), with the store-style
number rows (char_start, char_end, value; offsets in the tagged text) and the
index of the target number. The target is a real number in the text, so the
tokenizer, the collator and the masked-number evaluation treat an item like a
chunk: hide the target's [NUM] and ask the number head for it.

Design choices:
- The value of the target is the number as written (rounded for display:
  quotients to 2 decimals, percentages to 1 decimal), and percentages are
  fractions (25.0% -> 0.25), as in the store's `numbers.value`.
- An item is kept only if the ingest's number finder reads back exactly the
  operands and the answer that were written (same count, same values), so
  every target is what a chunk's number row would hold.
- Deterministic: `generate(n, seed)` is a pure function of (n, seed, templates).
- As a training mix, every number of an item is determined by the others
  ("45 minus [MASK] gives 34" as well as "45 minus 11 gives [MASK]"), so the
  collator's ordinary random masking of numbers teaches arithmetic too.

No I/O, no Ray, no torch.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from etl.numbers import find_numbers, format_tagged

OPEN_TAG, CLOSE_TAG = "<number>", "</number>"
NumberRow = tuple[int, int, float]


@dataclass(frozen=True)
class NumeracyItem:
    """One generated sentence with one target number."""
    template: str
    text: str                        # tagged text (`<number>` around every number)
    numbers: tuple[NumberRow, ...]   # (char_start, char_end, value) per number, offsets in `text`
    kinds: tuple[str, ...]           # number kind per row (amount, percent, count ...)
    target: int                      # index of the target in `numbers`
    operands: tuple[float, ...]      # the values as written, in sentence order (target included)

    @property
    def value(self) -> float:
        """The true value of the target (as written; percentages as fractions)."""
        return self.numbers[self.target][2]

    @property
    def kind(self) -> str:
        return self.kinds[self.target]

    @property
    def plain(self) -> str:
        """The sentence as a reader sees it (no tags)."""
        return self.text.replace(OPEN_TAG, "").replace(CLOSE_TAG, "")

    @property
    def masked(self) -> str:
        """The sentence with the target shown as [MASK] (for display)."""
        a, b, _ = self.numbers[self.target]
        return (self.text[:a - len(OPEN_TAG)] + "[MASK]" + self.text[b + len(CLOSE_TAG):]
                ).replace(OPEN_TAG, "").replace(CLOSE_TAG, "")


# --- formatting ---------------------------------------------------------------------

def fmt_int(x: int) -> str:
    return f"{x:,}"


def fmt_dec(x: float, places: int) -> str:
    return f"{x:,.{places}f}"


def fmt_money(x: float, millions: bool = False) -> tuple[str, float]:
    """A dollar amount as filings write it, and the value it denotes: $840 million, $1.2 billion
    (`millions`: always in millions, $1,635 million, for a precise computed amount)."""
    if x >= 1e9 and not millions:
        m = round(x / 1e9, 1)
        return f"${m:,.1f} billion", m * 1e9
    m = round(x / 1e6)
    return f"${m:,} million", m * 1e6


def fmt_pct(fraction: float) -> tuple[str, float]:
    """A percentage to one decimal and its value as a fraction (25.0% -> 0.25)."""
    p = round(fraction * 100, 1)
    return f"{p:.1f}%", p / 100


# --- templates ----------------------------------------------------------------------
# A template draws operands with `rng` and returns (sentence parts, values as written,
# target index). Parts alternate text and numbers: [text, num, text, num, ..., text].

Spec = tuple[list[str], list[float], int]


def _log_uniform_int(rng: random.Random, lo: float, hi: float) -> int:
    return max(1, int(round(10 ** rng.uniform(math.log10(lo), math.log10(hi)))))


def _amount(rng: random.Random) -> float:
    """A company-sized amount: $20 million .. $200 billion, log-uniform."""
    return 10 ** rng.uniform(math.log10(2e7), math.log10(2e11))


def t_add(rng: random.Random) -> Spec:
    a, b = _log_uniform_int(rng, 2, 1e6), _log_uniform_int(rng, 2, 1e6)
    c = a + b
    phr = rng.choice(["{a} plus {b} gives {c}", "{a} plus {b} is {c}", "The sum of {a} and {b} is {c}"])
    target = rng.choice([2, 2, 0, 1])
    return _fill(phr, {"a": fmt_int(a), "b": fmt_int(b), "c": fmt_int(c)}), [a, b, c], target


def t_subtract(rng: random.Random) -> Spec:
    a, b = _log_uniform_int(rng, 2, 1e6), _log_uniform_int(rng, 2, 1e6)
    a, b = max(a, b), min(a, b)
    if a == b:
        a += 1
    c = a - b
    phr = rng.choice(["{a} minus {b} gives {c}", "{a} minus {b} is {c}", "Subtracting {b} from {a} leaves {c}"])
    target = rng.choice([2, 2, 0, 1])
    return _fill(phr, {"a": fmt_int(a), "b": fmt_int(b), "c": fmt_int(c)}), [a, b, c], target


def t_multiply(rng: random.Random) -> Spec:
    a, b = _log_uniform_int(rng, 2, 1e4), _log_uniform_int(rng, 2, 1e3)
    c = a * b
    phr = rng.choice(["{a} times {b} gives {c}", "{a} multiplied by {b} is {c}"])
    target = rng.choice([2, 2, 0, 1])
    return _fill(phr, {"a": fmt_int(a), "b": fmt_int(b), "c": fmt_int(c)}), [a, b, c], target


def t_divide(rng: random.Random) -> Spec:
    a, b = _log_uniform_int(rng, 1e2, 1e7), _log_uniform_int(rng, 2, 1e3)
    c = round(a / b, 2)
    if c == 0:
        c = 0.01
    phr = rng.choice(["If you divide {a} by {b}, you get {c}", "{a} divided by {b} is {c}"])
    return _fill(phr, {"a": fmt_int(a), "b": fmt_int(b), "c": fmt_dec(c, 2)}), [a, b, c], 2


def t_increase(rng: random.Random) -> Spec:
    metric = rng.choice(["revenue", "net sales", "total revenue", "operating income", "free cash flow"])
    s0, v0 = fmt_money(_amount(rng))
    s1, v1 = fmt_money(v0 * (1 + rng.uniform(0.01, 0.8)))
    sp, p = fmt_pct(v1 / v0 - 1)
    phr = "{m} grew from {a} to {b}, an increase of {p}"
    return _fill(phr, {"m": metric, "a": s0, "b": s1, "p": sp}, capitalize=rng.random() < 0.5), [v0, v1, p], 2


def t_decrease(rng: random.Random) -> Spec:
    metric = rng.choice(["net income", "revenue", "operating income", "gross profit", "cash and equivalents"])
    s0, v0 = fmt_money(_amount(rng))
    s1, v1 = fmt_money(v0 * (1 - rng.uniform(0.01, 0.7)))
    sp, p = fmt_pct(1 - v1 / v0)
    phr = "{m} fell from {a} to {b}, a decrease of {p}"
    return _fill(phr, {"m": metric, "a": s0, "b": s1, "p": sp}, capitalize=rng.random() < 0.5), [v0, v1, p], 2


def t_margin(rng: random.Random) -> Spec:
    kind, income = rng.choice([("operating margin", "operating income"), ("gross margin", "gross profit"),
                               ("net margin", "net income")])
    sr, vr = fmt_money(_amount(rng))
    si, vi = fmt_money(vr * rng.uniform(0.02, 0.6))
    sp, p = fmt_pct(vi / vr)
    phr = "{k} was {p} on revenue of {r} and {i} of {x}"
    return (_fill(phr, {"k": kind, "p": sp, "r": sr, "i": income, "x": si}, capitalize=rng.random() < 0.5),
            [p, vr, vi], 0)


def t_share_of(rng: random.Random) -> Spec:
    part = rng.choice(["international revenue", "services revenue", "research and development expense"])
    st, vt = fmt_money(_amount(rng))
    sp, p = fmt_pct(rng.uniform(0.05, 0.9))
    sx, vx = fmt_money(vt * p, millions=True)
    phr = "{q} was {p} of total revenue of {t}, or {x}"
    return _fill(phr, {"q": part, "p": sp, "t": st, "x": sx}, capitalize=True), [p, vt, vx], 2


TEMPLATES: dict[str, Callable[[random.Random], Spec]] = {
    "add": t_add, "subtract": t_subtract, "multiply": t_multiply, "divide": t_divide,
    "increase_pct": t_increase, "decrease_pct": t_decrease, "margin_pct": t_margin, "share_amount": t_share_of,
}


def _fill(phrase: str, values: dict[str, str], capitalize: bool = False) -> list[str]:
    """Split a phrase into alternating text/number parts; number fields are the single-letter
    fields whose values start with a digit or '$' (`{m}`-style words are plain text)."""
    import string
    parts: list[str] = [""]
    for text, field, _spec, _conv in string.Formatter().parse(phrase):
        parts[-1] += text
        if field is None:
            continue
        v = values[field]
        if v[:1].isdigit() or v[:1] == "$" or v[:1] == "-":
            parts.extend([v, ""])
        else:
            parts[-1] += v
    if capitalize and parts[0]:
        parts[0] = parts[0][0].upper() + parts[0][1:]
    return parts


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def make_item(template: str, spec: Spec) -> NumeracyItem | None:
    """Tag the sentence as the ingest does; None if the finder does not read back the written values."""
    parts, values, target = spec
    sentence = "".join(parts)
    found = find_numbers(sentence)
    if len(found) != len(values) or not all(_close(n.value, v) for n, v in zip(found, values)):
        return None
    tagged, spans = format_tagged(sentence, found, OPEN_TAG, CLOSE_TAG)
    rows = tuple((a, b, float(n.value)) for n, (a, b) in zip(found, spans))
    return NumeracyItem(template, tagged, rows, tuple(n.kind for n in found), target,
                        tuple(float(n.value) for n in found))


def generate(n: int, seed: int, templates: Sequence[str] | None = None) -> list[NumeracyItem]:
    """`n` items, templates in turn (round robin), operands from `random.Random(seed)`."""
    names = list(templates) if templates is not None else list(TEMPLATES)
    unknown = [t for t in names if t not in TEMPLATES]
    if unknown:
        raise KeyError(f"unknown numeracy templates {unknown}; choose from {sorted(TEMPLATES)}")
    rng = random.Random(seed)
    out: list[NumeracyItem] = []
    failures = 0
    while len(out) < n:
        name = names[len(out) % len(names)]
        item = make_item(name, TEMPLATES[name](rng))
        if item is None:
            failures += 1
            if failures > 10 * n + 100:
                raise RuntimeError(f"template {name!r}: the number finder keeps misreading its sentences")
            continue
        out.append(item)
    return out


def recompute_target(item: NumeracyItem) -> float:
    """The target recomputed from the other written values (what a perfect model infers), unrounded."""
    v = list(item.operands)
    t, name = item.target, item.template
    if name in ("add", "subtract", "multiply", "divide"):
        a, b, c = v
        if name == "add":
            return [c - b, c - a, a + b][t]
        if name == "subtract":
            return [c + b, a - c, a - b][t]
        if name == "multiply":
            return [c / b, c / a, a * b][t]
        return [c * b, a / c, a / b][t]
    if name == "increase_pct":
        return v[1] / v[0] - 1
    if name == "decrease_pct":
        return 1 - v[1] / v[0]
    if name == "margin_pct":
        return v[2] / v[1]
    if name == "share_amount":
        return v[0] * v[1]
    raise KeyError(name)
