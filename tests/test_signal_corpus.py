"""The planted-signal corpus (issue 9): the statistics of the cue, and its filings through the real parser."""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr

from etl.documents import filing_id_for, parse_filing
from etl.signal_corpus import (
    CUE_SECTION, CUES, LEVELS, MAX_COMPANIES, OUTLOOK_LEAD, TOPICS, TRUTH_COMPANIES, TRUTH_FILINGS, TRUTH_JSON,
    CompanyTruth, SignalParams, _identity, draw_outlooks, generate_signal_corpus, loading_for_spearman,
    population_spearman, write_signal_corpus,
)

N_SIM = 10_000
_NUMBER_WORDS = re.compile(
    r"\b(zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|"
    r"thousand|million|billion|percent|percentage|half|double|triple|twice|dozen|first|second|third)\b", re.I)


def _spearman(xs, ys) -> float:
    return float(spearmanr(xs, ys)[0])


# --- the statistical model (no HTML) ---------------------------------------------

@pytest.fixture(scope="module")
def simulated():
    return draw_outlooks(N_SIM, seed=0, signal=True), draw_outlooks(N_SIM, seed=0, signal=False)


def test_population_spearman_is_the_target():
    r = loading_for_spearman(0.6)
    assert 0.6 < r < 0.7
    assert population_spearman(r) == pytest.approx(0.6, abs=1e-6)
    assert population_spearman(0.0) == pytest.approx(0.0, abs=1e-6)
    # with the growth equal to z, only the binning into 5 levels is lost: sqrt(1 - 1/25)
    assert population_spearman(1.0) == pytest.approx(math.sqrt(1 - 1 / 25), abs=1e-4)


def test_cue_level_predicts_growth_on_10k_simulated_companies(simulated):
    with_signal, _ = simulated
    rho = _spearman([o.cue.level for o in with_signal], [o.planted_growth for o in with_signal])
    assert 0.55 <= rho <= 0.65, rho
    assert all(o.cue.level == o.true_level for o in with_signal)
    levels = Counter(o.cue.level for o in with_signal)
    assert set(levels) == set(range(len(LEVELS))) and min(levels.values()) > 0.18 * N_SIM  # equal-probability bins
    assert set(Counter(o.cue.topic for o in with_signal)) == set(TOPICS)


def test_without_signal_the_same_sentences_carry_nothing(simulated):
    with_signal, without = simulated
    rho = _spearman([o.cue.level for o in without], [o.planted_growth for o in without])
    assert abs(rho) < 0.04, rho
    assert Counter(o.cue.cue_id for o in without) == Counter(o.cue.cue_id for o in with_signal)
    assert [o.log_growth for o in without] == [o.log_growth for o in with_signal]
    assert [o.base_fiscal_year for o in without] == [o.base_fiscal_year for o in with_signal]


def test_past_growth_and_timing_carry_no_signal(simulated):
    with_signal, _ = simulated
    label = [o.planted_growth for o in with_signal]
    past = [o.log_growth[o.base_fiscal_year] for o in with_signal]            # FY T-1 -> T, in the cue filing
    before = [o.log_growth[o.base_fiscal_year - 1] for o in with_signal]
    assert abs(_spearman(past, label)) < 0.04
    assert abs(_spearman(before, label)) < 0.04
    assert abs(_spearman([o.base_fiscal_year for o in with_signal], label)) < 0.04
    assert abs(_spearman([o.cue.level for o in with_signal], past)) < 0.04


def test_cue_sentences_hold_no_numbers_and_cover_every_topic_and_level():
    assert len(CUES) == len(TOPICS) * len(LEVELS) * 2
    assert len({c.text for c in CUES}) == len(CUES)
    assert {(c.topic, c.level) for c in CUES} == {(t, lv) for t in TOPICS for lv in range(len(LEVELS))}
    for c in CUES:
        assert not re.search(r"[\d%$]", c.text), c.cue_id
        assert not _NUMBER_WORDS.search(c.text), (c.cue_id, _NUMBER_WORDS.search(c.text))
        assert "’" not in c.text and "'" not in c.text, c.cue_id  # renders the same in every house style
        assert c.text.endswith(".") and c.text.count(". ") == 0, c.cue_id  # one sentence


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="out of reach"):
        SignalParams(target_spearman=0.99)
    with pytest.raises(ValueError, match="FY T\\+2"):
        SignalParams(base_fiscal_years=(2023,))
    with pytest.raises(ValueError, match="at most"):
        generate_signal_corpus(MAX_COMPANIES + 1)


def test_company_identities_are_unique():
    ids = [_identity(i) for i in range(MAX_COMPANIES)]
    assert len({n for n, _ in ids}) == len(ids) and len({t for _, t in ids}) == len(ids)
    assert all(re.fullmatch(r"[A-Z]{4}", t) for _, t in ids)


# --- filings through the real parser ----------------------------------------------

@pytest.fixture(scope="module")
def corpus():
    return generate_signal_corpus(n_companies=4, seed=3)


@pytest.fixture(scope="module")
def parsed(corpus):
    return {f.file_name: parse_filing(f.html.encode("utf-8"), Path(f.file_name), json.dumps(f.sidecar).encode())
            for f in corpus.filings}


def _truth_by_file(corpus):
    return {t.file_name: t for t in corpus.filing_truth}


def test_filings_parse_to_the_generators_text_with_at_least_20_chunks(corpus, parsed):
    assert len(corpus.filings) == 8 and len({f.company_id for f in corpus.filings}) == 4
    for f in corpus.filings:
        doc = parsed[f.file_name]
        assert doc.text == f.text, f.file_name                    # the cue paragraph reads back exactly
        assert [n.raw for n in doc.numbers] == [n.raw for n in f.numbers]  # and adds no number
        assert len(doc.chunks) >= 20, (f.file_name, len(doc.chunks))
        assert doc.meta.company_id == f.company_id and doc.meta.filed_at == f.filed_at


def test_exactly_one_cue_sentence_per_cue_filing_in_item_7(corpus, parsed):
    truth = _truth_by_file(corpus)
    for f in corpus.filings:
        doc, t = parsed[f.file_name], truth[f.file_name]
        found = [(c.text, m.start()) for c in CUES for m in re.finditer(re.escape(c.text), doc.text)]
        if t.role == "label":
            assert not found and f"{OUTLOOK_LEAD} " not in doc.text, f.file_name
            continue
        assert [s for s, _ in found] == [t.cue_sentence], f.file_name
        start = found[0][1]
        assert (start, start + len(t.cue_sentence)) == (t.cue_char_start, t.cue_char_end)
        assert f.blocks[t.cue_block].startswith(OUTLOOK_LEAD)
        section = next(s for s in doc.sections if s[2].start <= start < s[2].end)
        assert section[0] == CUE_SECTION == t.cue_section
        holders = [c for c in doc.chunks if t.cue_sentence in c.text]
        assert len(holders) == 1 and holders[0].section_id == CUE_SECTION


def test_company_truth_matches_the_cue_filing(corpus):
    files = {f.file_name: f for f in corpus.filings}
    for c in corpus.companies:
        cue = files[c.cue_file_name]
        assert c.cue_sentence in cue.text and c.cue_sentence not in files[c.label_file_name].text
        assert LEVELS[c.cue_level] and c.cue_id.startswith(c.cue_topic)
        assert cue.fiscal_year == c.base_fiscal_year and files[c.label_file_name].fiscal_year == c.base_fiscal_year + 2


def _revenue_facts(doc) -> dict:
    return {f.period_end: f.value for f in doc.facts if f.concept == "us-gaap:Revenues" and f.dimensions == "{}"}


def test_label_filing_tags_the_planted_revenue_path_without_look_ahead(corpus, parsed):
    files = {f.file_name: f for f in corpus.filings}
    for c in corpus.companies:
        cue, label = files[c.cue_file_name], files[c.label_file_name]
        assert cue.filed_at < c.window_start < c.window_end == label.period_end < label.filed_at
        revenue = dict(zip(c.fiscal_years, c.revenue_usd))
        t = c.base_fiscal_year
        facts = _revenue_facts(parsed[label.file_name])
        assert facts[c.window_end] == revenue[t + 2] and facts[c.window_start] == revenue[t + 1]
        assert len(facts) == 3                                   # FY T+2, T+1 and T
        log_growth = math.log(facts[c.window_end] / facts[c.window_start])
        assert log_growth == pytest.approx(c.label_log_growth, abs=1e-12)
        assert c.label_log_growth == pytest.approx(c.planted_growth, abs=1e-3)  # only revenue rounding differs
        days = (c.window_end - c.window_start).days
        assert c.label_growth == pytest.approx(log_growth * 365.25 / days, abs=1e-12)
        # the cue filing shows only the past: FY T, T-1, T-2
        cue_facts = _revenue_facts(parsed[cue.file_name])
        assert max(cue_facts) == cue.period_end and cue_facts[cue.period_end] == revenue[t]
        assert c.past_log_growth == pytest.approx(math.log(revenue[t] / revenue[t - 1]), abs=1e-12)


def _squash(html: str) -> str:
    return " ".join(html.split())


def test_deterministic_by_seed_and_signal_only_moves_the_cues(corpus):
    again = generate_signal_corpus(n_companies=4, seed=3)
    assert [f.html for f in again.filings] == [f.html for f in corpus.filings]
    assert again.companies == corpus.companies and again.filing_truth == corpus.filing_truth
    other = generate_signal_corpus(n_companies=4, seed=4)
    assert [f.html for f in other.filings] != [f.html for f in corpus.filings]
    null = generate_signal_corpus(n_companies=4, seed=3, signal=False)
    assert sorted(c.cue_id for c in null.companies) == sorted(c.cue_id for c in corpus.companies)
    assert [c.revenue_usd for c in null.companies] == [c.revenue_usd for c in corpus.companies]
    for a, b, ca, cb in zip(corpus.filings, null.filings, corpus.filing_truth, null.filing_truth):
        if ca.has_cue:  # the same filing with another sentence (whitespace: one style hard-wraps source lines)
            assert _squash(a.html).replace(ca.cue_sentence, cb.cue_sentence) == _squash(b.html)
            assert a.text.replace(ca.cue_sentence, cb.cue_sentence) == b.text and a.numbers == b.numbers
        else:
            assert a.html == b.html


def test_write_signal_corpus(tmp_path):
    written = write_signal_corpus(tmp_path, n_companies=2, seed=1)
    htmls = sorted(tmp_path.glob("*.html"))
    assert [p.name for p in htmls] == sorted(f.file_name for f in written.filings)
    for p, f in zip(htmls, sorted(written.filings, key=lambda f: f.file_name)):
        assert json.loads(p.with_name(p.name + ".json").read_text()) == f.sidecar
    data = json.loads((tmp_path / TRUTH_JSON).read_text())
    assert data["params"]["target_spearman"] == 0.6 and len(data["companies"]) == 2 and len(data["filings"]) == 4
    companies = pq.read_table(tmp_path / TRUTH_COMPANIES).to_pylist()
    assert [CompanyTruth(**c) for c in companies] == written.companies
    rows = pq.read_table(tmp_path / TRUTH_FILINGS).to_pylist()
    assert [r["file_name"] for r in rows] == [t.file_name for t in written.filing_truth]
    for r in rows:
        raw = (tmp_path / r["file_name"]).read_bytes()
        assert r["filing_id"] == filing_id_for(hashlib.sha256(raw).hexdigest())
        if r["has_cue"]:
            doc = parse_filing(raw, Path(r["file_name"]), None)
            chunk = doc.chunks[r["cue_chunk_seq"]]
            assert chunk.chunk_id == r["cue_chunk_id"] and r["cue_sentence"] in chunk.text
            assert r["n_chunks"] == len(doc.chunks) >= 20
        else:
            assert r["cue_chunk_seq"] is None and r["cue_sentence"] is None
