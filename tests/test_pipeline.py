"""The Ray Data ingest end to end on the sample corpus, with a real local store."""
from __future__ import annotations

import shutil

import duckdb
import pytest

from etl.pipeline import IngestConfig, run_ingest
from etl.sample_corpus import write_corpus
from featurestore import Store

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, n_companies=3, n_years=2, seed=3)
    return out


def ingest(inputs, store, **kw):
    return run_ingest(IngestConfig(inputs=inputs, store=store, progress=False, workers=2, **kw))


def table_counts(store_dir):
    con = duckdb.connect(str(store_dir / "filingstore.duckdb"), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("filings", "sections", "chunks", "numbers", "rejects")}
    finally:
        con.close()


def test_ingest_is_idempotent_and_incremental(ray_cluster, corpus, tmp_path):
    files = sorted(p for p in corpus.iterdir() if p.suffix == ".html")
    first, rest = tmp_path / "first", tmp_path / "rest"
    first.mkdir()
    rest.mkdir()
    for i, f in enumerate(files):
        dest = first if i < 3 else rest
        shutil.copy(f, dest / f.name)
        shutil.copy(f.with_name(f.name + ".json"), dest / (f.name + ".json"))
    store_dir = tmp_path / "store"

    s1 = ingest([first], store_dir)
    assert (s1.files_seen, s1.filings_written, sum(s1.rejects.values())) == (3, 3, 0)
    counts1 = table_counts(store_dir)
    assert counts1["filings"] == 3 and counts1["chunks"] > 3 and counts1["numbers"] > 100

    s2 = ingest([first], store_dir)
    assert (s2.filings_written, s2.skipped_known, s2.chunks) == (0, 3, 0)
    assert table_counts(store_dir) == counts1

    s3 = ingest([first, rest], store_dir)
    assert s3.filings_written == len(files) - 3 and s3.skipped_known == 3
    counts3 = table_counts(store_dir)
    assert counts3["filings"] == len(files)
    assert counts3["chunks"] == s1.chunks + s3.chunks

    store = Store(store_dir)
    filings = store.read("filings").to_pylist()
    assert all(f["company_id"] and f["period_end"] and f["form"] == "10-K" for f in filings)  # from sidecars
    dup = store.sql("SELECT chunk_id, count(*) c FROM chunks GROUP BY 1 HAVING c > 1")
    assert dup.num_rows == 0
    # every chunk's numbers point at their raw text
    rows = store.sql(
        "SELECT c.text, n.char_start, n.char_end, n.raw FROM numbers n JOIN chunks c USING (chunk_id)").to_pylist()
    assert rows and all(r["text"][r["char_start"]:r["char_end"]] == r["raw"] for r in rows)


def test_same_content_twice_is_one_filing(ray_cluster, corpus, tmp_path):
    f = next(p for p in corpus.iterdir() if p.suffix == ".html")
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(f, a / f.name)
    shutil.copy(f, b / ("copy-" + f.name))
    s = ingest([a, b], tmp_path / "store")
    assert s.filings_written == 1 and s.duplicates == 1


def test_a_file_that_timed_out_and_parses_on_the_retry_leaves_rejects(ray_cluster, corpus, tmp_path):
    files = sorted(p for p in corpus.iterdir() if p.suffix == ".html")[:2]
    one = tmp_path / "in"
    one.mkdir()
    for f in files:
        shutil.copy(f, one / f.name)
    store_dir = tmp_path / "store"
    first = ingest([one], store_dir, file_timeout_s=1e-4)  # no filing parses in 0.1 ms
    assert first.filings_written == 0 and first.rejects["parse/timeout"] == 2
    second = ingest([one], store_dir)
    assert second.filings_written == 2 and not second.rejects
    counts = table_counts(store_dir)
    assert counts["filings"] == 2 and counts["rejects"] == 0  # each file in one place only
    assert ingest([one], store_dir).skipped_known == 2 and table_counts(store_dir) == counts
