"""The ETL on the 11 real 10-Ks in ../shared/data/sec/10-K (skipped when that folder is absent).

* every filing parses with `parse_filing` (no FilingRejected);
* on each of the 8 inline-XBRL filings, >= 98% of the visible `ix:nonFraction`
  values have a number of the same magnitude, in the parse and in its chunks
  (the reader is etl/xbrl_coverage.py, independent of the ETL's own parser);
* a Ray ingest of the folder stores all 11 with no rejects, as any DuckDB client
  sees it, and a second run writes nothing.

The first tests check the coverage reader itself on a small document, so they
run without the data.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from etl.documents import HTML_SUFFIXES, FilingRejected, parse_filing
from etl.xbrl_coverage import TARGET, coverage, ix_facts, strip_ix_tags, word_value

INLINE_XBRL = (
    "aapl-10-k-2024-11-01.html",
    "amzn-10-k-2025-02-07.html",
    "googl-10-k-2025-02-05.html",
    "ko-10-k-2025-02-20.html",
    "meta-10-k-2025-01-30.html",
    "nvda-10-k-2025-02-26.html",
    "tsla-10-k-2025-01-30.html",
    "wmt-10-k-2025-03-14.html",
)
PLAIN_HTML = (
    "0000950153-99-001234.html",
    "0001193125-10-073212.html",
    "0001376474-16-000635.html",
)
ALL_10K = INLINE_XBRL + PLAIN_HTML


# -- the coverage reader on a document whose answer is known ---------------------

SMALL_IXBRL = """<html><body>
<div style="display:none"><ix:header><ix:hidden>
  <ix:nonFraction name="x:Hidden" scale="0">777</ix:nonFraction>
</ix:hidden></ix:header></div>
<p>Revenue was $<ix:nonFraction name="x:Rev" scale="6" format="ixt:num-dot-decimal">1,234.5</ix:nonFraction>
million, up <ix:nonFraction name="x:Growth" scale="-2">25</ix:nonFraction>%.</p>
<table><tr><td>Loss</td><td>(<ix:nonFraction name="x:Loss" scale="3" sign="-">12</ix:nonFraction>)</td>
<td><ix:nonFraction name="x:Z" scale="6" format="ixt:fixed-zero">—</ix:nonFraction></td></tr></table>
<p>We have <ix:nonFraction name="x:Seg" format="ixt-sec:numwordsen" scale="0">three</ix:nonFraction> segments.
<span style="display: none"><ix:nonFraction name="x:Gone" scale="0">555</ix:nonFraction></span>
<ix:nonFraction name="x:Nil" scale="0"></ix:nonFraction></p>
</body></html>"""


def test_reader_takes_visible_facts_with_scale_zero_and_words():
    facts, nil = ix_facts(SMALL_IXBRL.encode())
    by = {f.name: f for f in facts}
    assert set(by) == {"x:Rev", "x:Growth", "x:Loss", "x:Z", "x:Seg"}  # hidden ones skipped
    assert nil == 1
    assert by["x:Rev"].value == pytest.approx(1_234_500_000)
    assert by["x:Growth"].candidates == pytest.approx((0.25, 25.0))
    assert by["x:Loss"].value == 12_000 and by["x:Loss"].negated
    assert by["x:Z"].value == 0.0 and not by["x:Z"].is_word
    assert by["x:Seg"].value == 3.0 and by["x:Seg"].is_word
    assert "⟦1,234.5⟧" in by["x:Rev"].context and "Revenue" in by["x:Rev"].context
    assert "Loss" in by["x:Loss"].context


def test_coverage_compares_magnitudes_and_explains_misses():
    facts, _ = ix_facts(SMALL_IXBRL.encode())
    cov = coverage(facts, [1_234_500_000.0000001, 0.25, 12_000.0, 0.0])  # sign ignored; rel. 1e-9 accepted
    assert (cov.facts, cov.covered, cov.words, cov.words_covered) == (5, 4, 1, 0)
    assert [m.name for m in cov.misses] == ["x:Seg"]
    cov = coverage(facts, [1_234.5, 25.0, 12_000.0, 0.0, 3.0])
    assert cov.covered == 4  # the percentage matches as shown; revenue without its scale does not
    assert [m.name for m in cov.misses] == ["x:Rev"] and cov.why[0].startswith("unscaled")
    assert cov.reasons() == {"unscaled": 1}


def test_reader_helpers():
    assert word_value("twenty-five") == 25 and word_value("none") == 0 and word_value("Two") == 2
    assert word_value("several") is None
    assert strip_ix_tags('a <ix:nonFraction name="x" scale="6">5</ix:nonFraction> b') == "a 5 b"


# -- the real filings --------------------------------------------------------------


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(HTML_SUFFIXES))


@pytest.fixture(scope="module")
def files_10k(sec_10k_dir) -> list[Path]:
    files = _files(sec_10k_dir)
    missing = sorted(set(ALL_10K) - {p.name for p in files})
    assert not missing, f"{sec_10k_dir} lacks {missing}; restore the shared data"
    return files


@pytest.fixture(scope="module")
def parsed_10k(files_10k) -> dict:
    """name -> ParsedFiling, or the FilingRejected it raised; parsed once for the module."""
    out = {}
    for p in files_10k:
        try:
            out[p.name] = parse_filing(p.read_bytes(), p)
        except FilingRejected as e:
            out[p.name] = e
    return out


@pytest.fixture(scope="module")
def facts_10k(sec_10k_dir) -> dict:
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache[name] = ix_facts((sec_10k_dir / name).read_bytes())[0]
        return cache[name]
    return get


def test_every_real_10k_parses(parsed_10k):
    rejected = {n: str(r) for n, r in parsed_10k.items() if isinstance(r, FilingRejected)}
    assert not rejected, f"real 10-Ks rejected: {rejected}"
    for name, parsed in parsed_10k.items():
        assert len(parsed.text) > 50_000, name
        assert parsed.numbers and parsed.chunks, name


def _miss_report(cov, n: int = 8) -> str:
    return "\n".join(f"  {m.shown!r} scale={m.scale} ({why}): {m.context}"
                     for m, why in zip(cov.misses[:n], cov.why))


@pytest.mark.parametrize("name", INLINE_XBRL)
def test_xbrl_values_are_found_as_numbers(name, parsed_10k, facts_10k):
    parsed = parsed_10k[name]
    assert not isinstance(parsed, FilingRejected), f"{name}: {parsed}"
    facts = facts_10k(name)
    assert len(facts) > 500, f"{name}: expected an inline-XBRL filing, found {len(facts)} visible facts"
    for label, numbers in (("document", parsed.numbers),
                           ("chunks", [n for c in parsed.chunks for n, _, _ in c.numbers])):
        cov = coverage(facts, numbers)
        assert cov.share >= TARGET, (
            f"{name}: {label} numbers cover {cov.covered}/{cov.facts} = {cov.share:.2%} of the visible "
            f"ix:nonFraction values (target {TARGET:.0%}); first misses:\n{_miss_report(cov)}")


@pytest.mark.ray
def test_ray_ingest_of_real_10ks_then_rerun_writes_nothing(sec_10k_dir, files_10k, facts_10k, ray_cluster, tmp_path):
    # sec_10k_dir first: without the data the test skips before starting Ray.
    from etl.pipeline import IngestConfig, run_ingest

    store = tmp_path / "s"
    config = IngestConfig(inputs=[sec_10k_dir], store=store, progress=False, workers=2)
    first = run_ingest(config)
    n = len(files_10k)
    assert not first.rejects, f"rejects: {dict(first.rejects)}"
    assert (first.files_seen, first.filings_written) == (n, n)

    # What any DuckDB client sees (score_store.py reads it the same way).
    with duckdb.connect(str(store / "filingstore.duckdb"), read_only=True) as con:
        rows = con.execute("select filing_id, form, path from filings").fetchall()
        assert con.execute("select count(*) from rejects").fetchone()[0] == 0
        per_filing = dict(con.execute(
            "select f.path, count(n.value) from filings f left join numbers n using (filing_id) group by f.path"
        ).fetchall())
        values = {Path(path).name: [v for (v,) in con.execute(
            "select value from numbers where filing_id = ?", [fid]).fetchall()]
            for fid, _, path in rows if Path(path).name in INLINE_XBRL}
        counts = {t: con.execute(f"select count(*) from {t}").fetchone()[0]
                  for t in ("filings", "sections", "chunks", "numbers")}
    assert len(rows) == n
    forms = {Path(path).name: form for _, form, path in rows}
    assert set(ALL_10K) <= set(forms)
    assert {name: forms[name] for name in INLINE_XBRL} == {name: "10-K" for name in INLINE_XBRL}
    assert all(c > 0 for c in per_filing.values()), per_filing
    for name in INLINE_XBRL:
        cov = coverage(facts_10k(name), values[name])
        assert cov.share >= TARGET, f"{name}: store numbers cover {cov.share:.2%}\n{_miss_report(cov)}"

    second = run_ingest(config)
    assert (second.files_seen, second.skipped_known, second.filings_written) == (n, n, 0)
    assert not second.rejects and second.chunks == 0 and second.numbers == 0
    with duckdb.connect(str(store / "filingstore.duckdb"), read_only=True) as con:
        again = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in counts}
    assert again == counts
