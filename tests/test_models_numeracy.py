"""Numeracy items: deterministic, tagged like chunks, and every target follows from the written operands."""
from __future__ import annotations

import math

import pytest

from etl.numbers import find_numbers
from models.numeracy import TEMPLATES, generate, recompute_target
from models.pretraining import NUMERACY_COMPANY, numeracy_records
from models.tokenizer import NumberTokenizer, segments, strip_tags

# display rounding: quotients to 2 decimals, percentages to 1 decimal (of a percent), money to
# $0.1 billion / $1 million, so a target recomputed from written operands agrees to within that
TOLERANCE = {"divide": 0.0051, "increase_pct": 0.0006, "decrease_pct": 0.0006, "margin_pct": 0.0006}


@pytest.fixture(scope="module")
def items():
    return generate(400, seed=7)


def test_generation_is_deterministic_by_seed(items):
    again = generate(400, seed=7)
    assert [i.text for i in again] == [i.text for i in items]
    assert [i.value for i in again] == [i.value for i in items]
    assert [i.text for i in generate(400, seed=8)] != [i.text for i in items]


def test_every_template_appears_and_the_examples_read_well(items):
    assert {i.template for i in items} == set(TEMPLATES)
    by_t = {i.template: i for i in items}
    assert " plus " in by_t["add"].plain
    assert "divide" in by_t["divide"].plain
    assert "an increase of" in by_t["increase_pct"].plain and "$" in by_t["increase_pct"].plain
    assert "a decrease of" in by_t["decrease_pct"].plain
    assert "margin was" in by_t["margin_pct"].plain
    for it in items[:20]:
        assert it.masked.count("[MASK]") == 1 and "<number>" not in it.masked


def test_targets_are_real_numbers_of_the_text_as_the_ingest_reads_them(items):
    for it in items:
        plain_numbers = find_numbers(it.plain)
        assert [n.value for n in plain_numbers] == [v for _a, _b, v in it.numbers]
        a, b, v = it.numbers[it.target]
        assert it.text[a - len("<number>"):a] == "<number>" and it.text[b:b + len("</number>")] == "</number>"
        assert find_numbers(it.text[a:b])[0].value == v == it.value
        assert strip_tags(it.text) == it.plain
        assert [s for s in segments(it.text, it.numbers) if isinstance(s, float)] == [r[2] for r in it.numbers]
        if it.template.endswith("_pct"):
            assert it.kind == "percent" and 0 < it.value < 1  # percentages are fractions, as in the store


def test_each_target_recomputes_from_the_operands_in_the_sentence(items):
    for it in items:
        written = [n.value for n in find_numbers(it.plain)]  # read back from the sentence itself
        assert written == list(it.operands)
        want = recompute_target(it)
        tol = TOLERANCE.get(it.template)
        if tol is not None:
            assert abs(it.value - want) <= tol, (it.plain, it.value, want)
        elif it.template == "share_amount":
            assert abs(it.value - want) <= 0.5e6, (it.plain, it.value, want)  # rounded to $1 million
        elif it.template == "multiply" and it.target != 2:
            assert it.value == pytest.approx(want, rel=1e-12)
        else:
            assert it.value == want, (it.plain, it.value, want)


def test_items_encode_with_one_num_token_per_number(items):
    tok = NumberTokenizer.train_bpe([i.text for i in items], vocab_size=500, max_length=64)
    enc = tok.encode_chunks([i.text for i in items[:16]], [i.numbers for i in items[:16]])
    for e, it in zip(enc, items[:16]):
        vals = [v for v in e.num_values if not math.isnan(v)]
        assert vals == pytest.approx([r[2] for r in it.numbers], rel=1e-6)


def test_training_mix_share_and_seed():
    assert numeracy_records(0.0, 100, seed=0) == []
    recs = numeracy_records(0.2, 100, seed=0)
    assert len(recs) == 25 and all(r.company_id == NUMERACY_COMPANY for r in recs)  # 25 / (100 + 25) = 20%
    assert [r.text for r in recs] == [r.text for r in numeracy_records(0.2, 100, seed=0)]
    assert [r.text for r in recs] != [r.text for r in numeracy_records(0.2, 100, seed=1)]
    with pytest.raises(ValueError, match="numeracy_mix"):
        numeracy_records(1.0, 100, seed=0)
