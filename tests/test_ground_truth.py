"""The ETL against the sample generator's exact ground truth (no Ray: pure parse)."""
from __future__ import annotations

from pathlib import Path

import pytest

from etl.documents import parse_filing
from etl.sample_corpus import generate_corpus

CORPUS = generate_corpus(n_companies=3, n_years=2, seed=7)


def parsed(sample):
    return parse_filing(sample.html.encode("utf-8"), Path(sample.file_name), None)


@pytest.fixture(scope="module", params=range(len(CORPUS)), ids=[s.file_name for s in CORPUS])
def pair(request):
    sample = CORPUS[request.param]
    return sample, parsed(sample)


def test_document_text_equals_expected_blocks(pair):
    sample, doc = pair
    expected = "\n\n".join(sample.blocks)
    if doc.text != expected:
        got, want = doc.text.split("\n\n"), sample.blocks
        for i, (g, w) in enumerate(zip(got, want)):
            assert g == w, f"block {i} differs"
        assert len(got) == len(want)


def test_every_table_cell(pair):
    sample, doc = pair
    blocks = doc.text.split("\n\n")
    for table in sample.tables:
        rendered = "\n".join(" | ".join(r).strip() for r in table.rows)
        assert rendered in blocks


def test_every_number_value_kind_and_span(pair):
    sample, doc = pair
    got = [(n.raw, n.kind, n.unit, n.scale) for n in doc.numbers]
    want = [(n.raw, n.kind, n.unit, n.scale) for n in sample.numbers]
    assert got == want
    for g, w in zip(doc.numbers, sample.numbers):
        assert g.value == pytest.approx(w.value, rel=1e-12, abs=1e-12), g.raw
        assert doc.text[g.start:g.end] == g.raw
    # spans in stored chunks point at the same raw text
    for c in doc.chunks:
        for n, s, e in c.numbers:
            assert c.text[s:e] == n.raw


def test_metadata_from_the_file_name_and_the_filings_own_cover_facts(pair):
    sample, doc = pair
    assert doc.meta.ticker == sample.ticker.upper()
    assert doc.meta.form == "10-K"
    assert doc.meta.filed_at == sample.filed_at          # from the name
    assert doc.meta.period_end == sample.period_end      # from dei:DocumentPeriodEndDate
    assert doc.meta.company_id == sample.company_id      # from dei:EntityCentralIndexKey
    assert doc.meta.accession_number is None             # nothing says it: not invented


def test_facts_come_with_the_filing(pair):
    sample, doc = pair
    numeric = [f for f in doc.facts if f.value is not None and f.unit]
    assert len(numeric) == sample.html.count("<ix:nonFraction")
    assert not doc.fact_rejects


def test_sidecar_fills_what_the_name_cannot():
    import json
    sample = CORPUS[0]
    doc = parse_filing(sample.html.encode(), Path(sample.file_name), json.dumps(sample.sidecar).encode())
    assert doc.meta.company_id == sample.company_id
    assert doc.meta.period_end == sample.period_end
