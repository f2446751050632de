"""Chunking: budgets, boundaries, numbers never cut, spans and ids."""
from __future__ import annotations

import random

from etl.chunking import approx_tokens, chunk_document
from etl.documents import document_text
from etl.sanitize import html_to_blocks


def make_doc(n_paras=40, table_rows=8, seed=0):
    rng = random.Random(seed)
    parts = []
    for i in range(n_paras):
        words = " ".join(rng.choice(["revenue", "grew", "by", "the", "segment", "margin", "cost"]) for _ in range(rng.randint(5, 60)))
        parts.append(f"<p>Paragraph {i}: {words} reaching ${rng.randint(1, 999)}.{rng.randint(0, 9)} million.</p>")
        if i % 10 == 5:
            rows = "".join(f"<tr><td>Line {r}</td><td>$</td><td>{rng.randint(1, 9999):,}</td></tr>" for r in range(table_rows))
            parts.append(f"<p>(in thousands)</p><table>{rows}</table>")
    blocks = html_to_blocks("<html><body>" + "".join(parts) + "</body></html>")
    return document_text(blocks)


def chunks_for(max_tokens, **kw):
    text, numbers, spans = make_doc(**kw)
    return text, numbers, chunk_document("f1", text, numbers, spans, [("document", type(spans[0])(0, len(text)))], max_tokens)


def untag(t: str) -> str:
    return t.replace("<number>", "").replace("</number>", "")


def test_chunks_are_contiguous_slices_within_budget():
    text, numbers, chunks = chunks_for(64)
    assert len(chunks) > 5
    for c in chunks:
        assert untag(c.text) == text[c.start:c.end]
        assert c.n_tokens <= 64
    # consecutive chunks only skip block/line separators
    for a, b in zip(chunks, chunks[1:]):
        assert text[a.end:b.start].strip() == ""


def test_every_number_lands_in_exactly_one_chunk_with_exact_span():
    text, numbers, chunks = chunks_for(48)
    got = [n for c in chunks for n, _, _ in c.numbers]
    assert got == numbers
    for c in chunks:
        for n, s, e in c.numbers:
            assert c.text[s:e] == n.raw
            assert c.text[s - len("<number>"):s] == "<number>"


def test_tables_that_fit_stay_whole():
    text, numbers, chunks = chunks_for(200)
    tables = [seg for seg in text.split("\n\n") if seg.startswith("Line 0 |")]
    assert tables
    for t in tables:
        assert any(t in untag(c.text) for c in chunks)


def test_oversized_blocks_split_at_lines_then_sentences_then_words():
    text, numbers, chunks = chunks_for(12, table_rows=30)
    assert all(c.n_tokens <= 12 for c in chunks)


def test_chunk_ids_are_deterministic_and_unique():
    a = chunks_for(64)[2]
    b = chunks_for(64)[2]
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)


def test_numbers_count_as_one_token():
    assert approx_tokens("revenue of") == 3
    text, numbers, chunks = chunks_for(10_000, n_paras=1)
    (c,) = chunks
    plain = untag(c.text)
    nums = [n for n, _, _ in c.numbers]
    assert [n.raw for n in nums] == ["0", "$728.0 million"]
    chars = len(plain) - sum(len(n.raw) for n in nums)
    assert c.n_tokens == (chars + 3) // 4 + len(nums)


def test_a_real_tokenizer_counter_can_be_passed():
    text, numbers, spans = make_doc(n_paras=12)
    words = lambda t: len(t.split())
    chunks = chunk_document("f", text, numbers, spans, [("document", type(spans[0])(0, len(text)))], 40, words)
    assert len(chunks) > 3 and all(c.n_tokens <= 40 for c in chunks)


def test_approx_token_counts_by_bisection_equal_counting_the_numbers_in_the_span():
    """_Counter.tokens finds a span's numbers by two bisections (issue 2); the
    count must equal the one from the span's own list of numbers."""
    from etl.chunking import _Counter
    from etl.numbers import Number

    rng = random.Random(1)
    for _ in range(500):
        nums, pos = [], 0
        for _ in range(rng.randint(0, 12)):
            pos += rng.randint(0, 5)
            width = rng.randint(1, 6)
            nums.append(Number(pos, pos + width, "x", 1.0, "count", None, 0))
            pos += width
        counter = _Counter("a" * (pos + 10), nums, approx_tokens)
        for _ in range(20):
            s = rng.randint(0, pos + 10)
            e = rng.randint(s, pos + 10)
            inside = counter.numbers_in(s, e)
            want = ((e - s) - sum(n.end - n.start for n in inside) + 3) // 4 + len(inside)
            assert counter.tokens(s, e) == want, (s, e)
