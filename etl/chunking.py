"""Document text -> model-sized chunks with number-tagged text.

Chunks are contiguous slices of the document text: they snap to block
boundaries (paragraphs, whole tables), fall back to table rows, then sentences,
then words when one block is larger than the budget, and never cut inside a
number or across a section boundary. Each number counts as one token, as it
will be a single [NUM] token for the model.
"""
from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass
from typing import Callable

from etl.numbers import Number, format_tagged_slice

DEFAULT_MAX_TOKENS = 512
TokenCounter = Callable[[str], int]

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=\S)")
_LINE_END = re.compile(r"\n")
_WORD_GAP = re.compile(r"\s+")


def approx_tokens(text: str) -> int:
    """Fast stand-in for a subword tokenizer: one token per 4 characters.

    The usual rule of thumb for English BPE vocabularies; pass a real
    tokenizer's counter to `chunk_document` when exact budgets matter.
    """
    return (len(text) + 3) // 4


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    section_id: str
    seq: int
    start: int              # span in the document text
    end: int
    text: str               # tagged text
    n_tokens: int
    numbers: list[tuple[Number, int, int]]  # number, start and end in `text`


def chunk_id(filing_id: str, seq: int, text: str) -> str:
    return hashlib.sha256(f"{filing_id}\x00{seq}\x00{text}".encode()).hexdigest()[:24]


class _Counter:
    """Token counts of document spans, numbers counted as one token each."""

    def __init__(self, text: str, numbers: list[Number], count: TokenCounter):
        self.text = text
        self.numbers = numbers
        self.count = count
        self._starts = [n.start for n in numbers]
        # _chars[i]: the characters of numbers[:i], so that approx_tokens
        # counts a span with two bisections instead of a list of its numbers.
        self._chars = [0]
        total = 0
        prev_end = None
        self._disjoint = True  # what the document's numbers are; checked, not assumed
        for n in numbers:
            if prev_end is not None and n.start < prev_end:
                self._disjoint = False
            prev_end = n.end
            total += n.end - n.start
            self._chars.append(total)

    def numbers_in(self, s: int, e: int) -> list[Number]:
        i = bisect.bisect_left(self._starts, s)
        out = []
        while i < len(self.numbers) and self.numbers[i].start < e:
            if self.numbers[i].end <= e:
                out.append(self.numbers[i])
            i += 1
        return out

    def tokens(self, s: int, e: int) -> int:
        if self.count is approx_tokens and self._disjoint:  # O(log n): independent of the text length
            # numbers_in(s, e) are numbers[i:j]: sorted and disjoint, so only
            # the last one starting before e can run past it.
            i = bisect.bisect_left(self._starts, s)
            j = bisect.bisect_left(self._starts, e, i)
            if j > i and self.numbers[j - 1].end > e:
                j -= 1
            chars = (e - s) - (self._chars[j] - self._chars[i])
            return (chars + 3) // 4 + (j - i)
        nums = self.numbers_in(s, e)
        if self.count is approx_tokens:
            chars = (e - s) - sum(n.end - n.start for n in nums)
            return (chars + 3) // 4 + len(nums)
        if not nums:
            return self.count(self.text[s:e])
        parts, pos = [], s
        for n in nums:
            parts.append(self.text[pos:n.start])
            pos = n.end
        parts.append(self.text[pos:e])
        return self.count(" ".join(parts)) + len(nums)


def _safe_cuts(text: str, s: int, e: int, pattern: re.Pattern, numbers: list[Number]) -> list[int]:
    """Boundaries matching `pattern` that fall outside every number.

    Numbers are sorted and disjoint, so only the last one starting before a
    cut can contain it (a bisection, not a scan: giant tables have 10^5 cuts).
    """
    starts = [n.start for n in numbers]
    cuts = []
    for m in pattern.finditer(text, s, e):
        c = m.end()
        i = bisect.bisect_left(starts, c) - 1
        if i >= 0 and numbers[i].end > c:
            continue
        cuts.append(c)
    return cuts


def _split(span: Span, counter: _Counter, budget: int, patterns: list[re.Pattern]) -> list[tuple[Span, int]]:
    """Split an oversized span at the coarsest boundaries that bring pieces under budget.

    Returns (piece, token count) pairs.
    """
    n_tokens = counter.tokens(span.start, span.end)
    if n_tokens <= budget or not patterns:
        return [(span, n_tokens)]
    nums = counter.numbers_in(span.start, span.end)
    cuts = _safe_cuts(counter.text, span.start, span.end, patterns[0], nums)
    if not cuts:
        return _split(span, counter, budget, patterns[1:])
    pieces, prev = [], span.start
    for c in cuts + [span.end]:
        # trim the whitespace a cut leaves at either side
        a, b = prev, c
        while a < b and counter.text[a].isspace():
            a += 1
        while b > a and counter.text[b - 1].isspace():
            b -= 1
        if a < b:
            pieces.extend(_split(Span(a, b), counter, budget, patterns[1:]))
        prev = c
    return pieces


def chunk_document(
    filing_id: str,
    text: str,
    numbers: list[Number],
    blocks: list[Span],
    sections: list[tuple[str, Span]],
    max_tokens: int = DEFAULT_MAX_TOKENS,
    count_tokens: TokenCounter = approx_tokens,
) -> list[Chunk]:
    """Pack blocks greedily into chunks of at most `max_tokens` tokens.

    `blocks` and `sections` are spans of `text`; a block belongs to the section
    holding its start. A single word longer than the budget still makes a
    (too large) chunk of its own rather than being cut.
    """
    counter = _Counter(text, numbers, count_tokens)
    units_by_section: list[tuple[str, list[tuple[Span, int]]]] = []
    bi = 0
    for section_id, sec in sections:
        units: list[tuple[Span, int]] = []
        while bi < len(blocks) and blocks[bi].start < sec.end:
            b = blocks[bi]
            bi += 1
            if b.end <= sec.start:
                continue
            b = Span(max(b.start, sec.start), min(b.end, sec.end))
            units.extend(_split(b, counter, max_tokens, [_LINE_END, _SENTENCE_END, _WORD_GAP]))
        units_by_section.append((section_id, units))

    chunks: list[Chunk] = []

    def emit(section_id: str, s: int, e: int, n_tokens: int) -> None:
        nums = counter.numbers_in(s, e)
        tagged, spans = format_tagged_slice(text, s, e, nums)
        seq = len(chunks)
        chunks.append(Chunk(
            chunk_id(filing_id, seq, tagged), section_id, seq, s, e, tagged, n_tokens,
            [(n, a, b) for n, (a, b) in zip(nums, spans)],
        ))

    for section_id, units in units_by_section:
        cur_start = cur_end = None
        cur_tokens = 0
        for span, n_tok in units:
            if cur_start is not None and cur_tokens + n_tok > max_tokens:
                emit(section_id, cur_start, cur_end, cur_tokens)
                cur_start = None
            if cur_start is None:
                cur_start, cur_tokens = span.start, 0
            cur_end = span.end
            cur_tokens += n_tok
        if cur_start is not None:
            emit(section_id, cur_start, cur_end, cur_tokens)
    return chunks
