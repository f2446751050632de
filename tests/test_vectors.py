"""The vector side of the store on real LanceDB + DuckDB in tmp_path: upserts and the
DuckDB mirror, per-model tables and views, filtered search, healing, full-text and
hybrid search, ANN index recall, readers during writes, and the benchmark at small n."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import time

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from featurestore import CHUNKS, FILINGS, Store
from featurestore import vectors as V
from featurestore.store import conform

MV = "tiny v1"


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store", create=True)


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return rng.normal(size=(n, dim)).astype(np.float32)


def chunk_rows(vectors: np.ndarray, start: int = 0, company=lambda i: f"co{i % 3}",
               form=lambda i: "10-K" if i % 2 else "10-Q", filed=lambda i: dt.date(2020 + i % 5, 6, 30),
               ids=None) -> pa.Table:
    n, dim = vectors.shape
    idx = range(start, start + n)
    return pa.table({
        "chunk_id": ids or [f"c{i}" for i in idx],
        "filing_id": [f"f{i // 10}" for i in idx],
        "company_id": [company(i) for i in idx],
        "form": [form(i) for i in idx],
        "filed_at": [filed(i) for i in idx],
        "section_id": ["item7" if i % 4 else "item1a" for i in idx],
        "seq": [i % 10 for i in idx],
        "etl_version": ["e1"] * n,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
    })


def doc_rows(vectors: np.ndarray, method: str = "mean") -> pa.Table:
    n, dim = vectors.shape
    return pa.table({
        "filing_id": [f"f{i}" for i in range(n)],
        "company_id": [f"co{i % 3}" for i in range(n)],
        "form": ["10-K"] * n,
        "filed_at": [dt.date(2024, 3, 1)] * n,
        "n_chunks": [5] * n,
        "etl_version": ["e1"] * n,
        "method": [method] * n,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
    })


def cosine(m: np.ndarray, q: np.ndarray) -> np.ndarray:
    return (m @ q) / (np.linalg.norm(m, axis=1) * np.linalg.norm(q))


def duck(store: Store, query: str, params=None):
    return store.sql(query, params).to_pylist()


# -- names ---------------------------------------------------------------------------

def test_model_slug_is_safe_deterministic_and_collision_free():
    assert V.model_slug("minilm_v1") == "minilm_v1"  # already safe: unchanged
    a, b = V.model_slug("v1.0"), V.model_slug("v1_0")
    assert a != b and a.startswith("v1_0_") and b == "v1_0"
    assert V.model_slug("Tiny/Encoder@2024") == V.model_slug("Tiny/Encoder@2024")
    long = V.model_slug("x" * 200)
    assert len(long) <= V.SLUG_MAX and long != V.model_slug("x" * 199)
    for s in (a, long, V.model_slug("ÆØ model")):
        assert all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in s) and s == s.lower()
    with pytest.raises(ValueError, match="non-empty"):
        V.model_slug("  ")
    assert V.physical_name("doc", "v1.0") == f"doc_embeddings__{a}"


# -- writing and the mirror ----------------------------------------------------------

def test_upsert_is_idempotent_and_updates_in_lance_and_duckdb(store):
    rng = np.random.default_rng(0)
    vec = unit(rng, 40, 16)
    w = V.EmbeddingWriter(store, "chunk", MV, 16)
    assert w.existing_keys() == set() and w.lance_version() == 0
    assert w.write(chunk_rows(vec)) == 40
    v1 = w.lance_version()
    assert w.write(chunk_rows(vec).drop_columns(["etl_version"]).append_column(
        "etl_version", pa.array(["e1"] * 40))) == 40  # column order does not matter
    name = V.physical_name("chunk", MV)
    tbl = store.lance.open_table(name)
    assert tbl.count_rows() == 40 and w.lance_version() > v1
    assert duck(store, f'SELECT count(*) AS n, count(DISTINCT chunk_id) AS d FROM "{name}"') == [{"n": 40, "d": 40}]
    assert duck(store, "SELECT count(*) AS n FROM chunk_embeddings") == [{"n": 40}]
    assert w.existing_keys() == {(f"c{i}",) for i in range(40)}

    # new vectors for 5 keys replace the old ones on both sides
    new = unit(rng, 5, 16)
    w.write(chunk_rows(new, start=10))
    assert tbl.count_rows() == 40
    got = duck(store, f'SELECT chunk_id, vector FROM "{name}" WHERE chunk_id IN (?, ?)', ["c10", "c14"])
    by_id = {r["chunk_id"]: np.asarray(r["vector"], np.float32) for r in got}
    np.testing.assert_allclose(by_id["c10"], new[0])
    np.testing.assert_allclose(by_id["c14"], new[4])
    tbl = store.lance.open_table(name)  # a table handle keeps the version it was opened at
    lance_vec = tbl.search().where("chunk_id = 'c14'").select(["vector"]).to_arrow()["vector"][0].as_py()
    np.testing.assert_allclose(lance_vec, new[4])

    cat = store.embedding_tables().to_pylist()
    assert [(r["level"], r["model_version"], r["physical_name"], r["dim"]) for r in cat] == \
        [("chunk", MV, name, 16)]
    assert cat[0]["lance_version"] == w.lance_version()
    assert V.mirror_state(store, "chunk", MV).in_sync


def test_rows_are_checked_before_anything_is_written(store):
    w = V.EmbeddingWriter(store, "chunk", MV, 8)
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="16-d vectors but this writer is 8-d"):
        w.write(chunk_rows(unit(rng, 3, 16)))
    with pytest.raises(ValueError, match="model_version"):
        w.write(chunk_rows(unit(rng, 3, 8)).append_column("model_version", pa.array(["other"] * 3)))
    bad = unit(rng, 3, 8)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        w.write(chunk_rows(bad))
    with pytest.raises(ValueError, match="all zeros"):
        w.write(chunk_rows(np.zeros((2, 8), np.float32)))
    with pytest.raises(ValueError, match="more than once"):
        w.write(chunk_rows(unit(rng, 2, 8), ids=["dup", "dup"]))
    assert w.lance_version() == 0 and store.embedding_tables().num_rows == 0


def test_width_mismatch_for_a_model_version_is_refused(store):
    rng = np.random.default_rng(2)
    V.EmbeddingWriter(store, "chunk", MV, 16).write(chunk_rows(unit(rng, 5, 16)))
    with pytest.raises(ValueError, match=r"stored 16-d .* dim=8"):
        V.EmbeddingWriter(store, "chunk", MV, 8)
    # the same model version at the other level is another table
    V.EmbeddingWriter(store, "doc", MV, 8).write(doc_rows(unit(rng, 3, 8)))
    with pytest.raises(ValueError, match="level"):
        V.EmbeddingWriter(store, "section", MV, 8)


def test_two_model_versions_with_different_widths_side_by_side(store):
    rng = np.random.default_rng(3)
    a, b = unit(rng, 30, 16), unit(rng, 20, 8)
    V.EmbeddingWriter(store, "chunk", "tiny", 16).write(chunk_rows(a))
    V.EmbeddingWriter(store, "chunk", "minilm", 8).write(chunk_rows(b))
    assert {(r["model_version"], r["dim"]) for r in store.embedding_tables().to_pylist()} == \
        {("tiny", 16), ("minilm", 8)}
    got = duck(store, "SELECT model_version, count(*) AS n, any_value(typeof(vector)) AS t "
                      "FROM chunk_embeddings GROUP BY 1 ORDER BY 1")
    assert got == [{"model_version": "minilm", "n": 20, "t": "FLOAT[]"},
                   {"model_version": "tiny", "n": 30, "t": "FLOAT[]"}]
    for mv, m in (("tiny", a), ("minilm", b)):  # both searchable at their own width
        res = store.similar("chunk", mv, m[7], k=1, exact=True)
        assert res["chunk_id"].to_pylist() == ["c7"] and res["score"][0].as_py() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="16-d vector"):
        store.similar("chunk", "tiny", b[0])
    with pytest.raises(LookupError, match="minilm"):
        store.similar("chunk", "nope", a[0])


def test_view_keeps_fixed_width_when_widths_agree(store):
    rng = np.random.default_rng(4)
    a, b = unit(rng, 25, 16), unit(rng, 25, 16)
    V.EmbeddingWriter(store, "chunk", "m1", 16).write(chunk_rows(a))
    V.EmbeddingWriter(store, "chunk", "m2", 16).write(chunk_rows(b))
    q = a[3] + 0.01
    got = duck(store, "SELECT model_version, chunk_id, typeof(vector) AS t, "
                      "array_cosine_similarity(vector, ?::FLOAT[16]) AS s FROM chunk_embeddings "
                      "ORDER BY s DESC LIMIT 1", [q.tolist()])
    assert got[0]["t"] == "FLOAT[16]" and (got[0]["model_version"], got[0]["chunk_id"]) == ("m1", "c3")
    all_rows = np.vstack([a, b])
    assert got[0]["s"] == pytest.approx(cosine(all_rows, q).max(), abs=1e-5)


# -- search --------------------------------------------------------------------------

def test_filtered_search_returns_only_matching_rows_and_the_true_nearest(store):
    rng = np.random.default_rng(5)
    vec = unit(rng, 300, 16)
    V.EmbeddingWriter(store, "chunk", MV, 16).write(chunk_rows(vec))
    q = unit(rng, 1, 16)[0]
    where = "company_id = 'co1' AND form = '10-K' AND filed_at >= DATE '2022-01-01'"
    match = np.array([i % 3 == 1 and i % 2 == 1 and 2020 + i % 5 >= 2022 for i in range(300)])
    sims = np.where(match, cosine(vec, q), -np.inf)
    want = [f"c{i}" for i in np.argsort(-sims)[:5]]

    res = V.similar(store, "chunk", MV, q, k=5, where=where)
    assert res.num_rows == 5
    assert set(res["company_id"].to_pylist()) == {"co1"} and set(res["form"].to_pylist()) == {"10-K"}
    assert min(res["filed_at"].to_pylist()) >= dt.date(2022, 1, 1)
    assert res["chunk_id"].to_pylist() == want
    np.testing.assert_allclose(res["score"].to_numpy(), np.sort(sims)[::-1][:5], atol=1e-5)
    assert "vector" not in res.column_names

    top = V.duckdb_topk(store, "chunk", MV, q, k=5, where=where)
    assert top["chunk_id"].to_pylist() == want
    with pytest.raises(ValueError, match="filter columns"):
        V.similar(store, "chunk", MV, q, where="no_such_column = 1")


def test_similar_to_chunk_and_filing_exclude_themselves(store):
    rng = np.random.default_rng(6)
    vec = unit(rng, 50, 16)
    vec[20] = vec[5] + 0.01 * unit(rng, 1, 16)[0]  # c20 is c5's near-duplicate
    V.EmbeddingWriter(store, "chunk", MV, 16).write(chunk_rows(vec))
    res = V.similar_to_chunk(store, MV, "c5", k=3)
    assert res["chunk_id"][0].as_py() == "c20" and "c5" not in res["chunk_id"].to_pylist()
    assert res.num_rows == 3
    with pytest.raises(LookupError, match="no chunk embedding"):
        V.similar_to_chunk(store, MV, "missing")

    docs = unit(rng, 10, 8)
    docs[7] = docs[2] * 1.5 + 0.01  # same direction: cosine ~1
    w = V.EmbeddingWriter(store, "doc", MV, 8)
    w.write(doc_rows(docs, "mean"))
    w.write(doc_rows(unit(rng, 10, 8), "aggregator"))
    assert len(w.existing_keys()) == 20 and ("f2", "aggregator") in w.existing_keys()
    res = V.similar_to_filing(store, MV, "f2", k=4)
    assert res["filing_id"][0].as_py() == "f7" and "f2" not in res["filing_id"].to_pylist()
    assert set(res["method"].to_pylist()) == {"mean"}


# -- healing -------------------------------------------------------------------------

def test_mirror_heals_after_lost_duckdb_rows_and_after_an_unmirrored_lance_commit(store):
    rng = np.random.default_rng(7)
    vec = unit(rng, 60, 16)
    V.EmbeddingWriter(store, "chunk", MV, 16).write(chunk_rows(vec))
    name = V.physical_name("chunk", MV)

    con = duckdb.connect(str(store.db_path))  # simulate a crash that lost DuckDB rows
    con.execute(f'DELETE FROM "{name}" WHERE seq < 5')
    con.close()
    assert not V.mirror_state(store, "chunk", MV).in_sync
    w = V.EmbeddingWriter(store, "chunk", MV, 16)
    assert w.healed_rows == 60
    assert duck(store, f'SELECT count(*) AS n FROM "{name}"') == [{"n": 60}]
    assert duck(store, "SELECT count(*) AS n FROM chunk_embeddings") == [{"n": 60}]

    # a Lance commit whose DuckDB half never happened: same row count, new vector
    new = unit(rng, 1, 16)
    store.lance.open_table(name).merge_insert("chunk_id").when_matched_update_all() \
        .when_not_matched_insert_all().execute(conform(w.table, chunk_rows(new, start=9).append_column(
            "model_version", pa.array([MV]))))
    state = V.mirror_state(store, "chunk", MV)
    assert state.duck_rows == state.lance_rows and state.recorded_version != state.lance_version
    assert V.EmbeddingWriter(store, "chunk", MV, 16).healed_rows == 60
    got = duck(store, f'SELECT vector FROM "{name}" WHERE chunk_id = ?', ["c9"])
    np.testing.assert_allclose(got[0]["vector"], new[0])
    assert V.sync_mirror(store, "chunk", MV) == 0  # in sync now: nothing to do
    assert "staging" not in str(duck(store, "SELECT table_name FROM duckdb_tables()"))


# -- index ---------------------------------------------------------------------------

def test_index_params_scale_with_rows_and_width():
    p = V.index_params(1_000_000, 256)
    assert p.num_partitions == 1000 and p.num_sub_vectors == 32
    assert V.index_params(5000, 384) == V.IndexParams(19, 48)
    assert V.index_params(10, 100).num_partitions == 1
    assert 100 % V.index_params(10_000, 100).num_sub_vectors == 0
    assert V.default_nprobes(1_000_000) == 50 and V.default_nprobes(1000) == V.MIN_NPROBES


def test_ensure_index_and_recall(store):
    rng = np.random.default_rng(8)
    centres = unit(rng, 20, 16)
    vec = centres[rng.integers(0, 20, 3000)] + 0.3 * unit(rng, 3000, 16)
    V.EmbeddingWriter(store, "chunk", MV, 16).write(chunk_rows(vec))
    assert V.ensure_index(store, "chunk", MV, min_rows=5000) is None  # small: exact scan is enough
    rep = V.ensure_index(store, "chunk", MV, min_rows=1000)
    assert rep is not None and rep.built and rep.params.num_partitions == 11 and rep.num_rows == 3000
    assert V.mirror_state(store, "chunk", MV).in_sync  # the index commit is not an unmirrored write
    recall = V.index_recall(store, "chunk", MV, n_queries=20, k=10)
    assert 0.5 < recall <= 1.0
    again = V.ensure_index(store, "chunk", MV, min_rows=1000)
    assert again is not None and not again.built and again.params is None and again.kind == rep.kind
    res = V.similar(store, "chunk", MV, vec[11], k=1)  # indexed search, refined: exact score
    assert res["chunk_id"][0].as_py() == "c11" and res["score"][0].as_py() == pytest.approx(1.0, abs=1e-4)

    hnsw = V.ensure_index(store, "chunk", MV, min_rows=1000, kind="hnsw", replace=True)
    assert hnsw.built and "hnsw" in hnsw.kind.lower()
    assert 0.5 < V.index_recall(store, "chunk", MV, n_queries=10, k=10) <= 1.0
    q = vec[11] + 0.5 * unit(rng, 1, 16)[0]
    res = V.similar(store, "chunk", MV, q, k=3)  # scores are exact cosines (HNSW-SQ alone reports 2x the distance)
    want = cosine(vec[[int(c[1:]) for c in res["chunk_id"].to_pylist()]], q)
    np.testing.assert_allclose(res["score"].to_numpy(), want, atol=1e-4)


# -- full text and hybrid ------------------------------------------------------------

TEXTS = {
    "a": "Revenue grew to <number>$12.5 million</number> on strong demand in Europe.",
    "b": "Net loss widened after an impairment of goodwill.",
    "c": "Dividends paid to shareholders rose; revenue was flat.",
    "d": "Cash flow from operations improved on working capital.",
    "e": "Revenue revenue revenue: record revenue in Asia.",
}


def ingest_text(store: Store, texts: dict[str, str]) -> None:
    filings = pa.table({
        "filing_id": ["f1", "f2"], "source": ["sec"] * 2, "form": ["10-K", "10-Q"],
        "company_id": ["co1", "co2"], "company_name": ["A", "B"], "ticker": ["A", "B"],
        "accession_number": ["1", "2"], "period_end": [dt.date(2024, 12, 31)] * 2,
        "filed_at": [dt.date(2025, 2, 1), dt.date(2025, 5, 1)], "content_sha256": ["x", "y"],
        "path": ["p1", "p2"], "n_bytes": [1, 1], "n_chars": [1, 1], "etl_version": ["e1"] * 2,
        "ingested_at": [dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)] * 2,
    }, schema=FILINGS.schema)
    ids = sorted(texts)
    chunks = pa.table({
        "chunk_id": ids, "filing_id": ["f1" if i in "abc" else "f2" for i in ids],
        "section_id": ["item7"] * len(ids), "seq": list(range(len(ids))),
        "text": [texts[i] for i in ids], "n_tokens": [10] * len(ids), "etl_version": ["e1"] * len(ids),
    }, schema=CHUNKS.schema)
    store.upsert(FILINGS, filings)
    store.upsert(CHUNKS, chunks)


def test_rrf_fuse_hand_case():
    fused = V.rrf_fuse([["a", "b", "c"], ["c", "d"]], k=1)
    # a: 1/2; b: 1/3; c: 1/4 + 1/2 = 3/4; d: 1/3 (ties with b: b's best rank is 2, d's is 2; b came first)
    assert [x for x, _ in fused] == ["c", "a", "b", "d"]
    assert [round(s, 6) for _, s in fused] == [0.75, 0.5, round(1 / 3, 6), round(1 / 3, 6)]
    only_vec = V.rrf_fuse([["a", "b"], ["b", "a"]], weights=[1.0, 0.0])
    assert [x for x, _ in only_vec] == ["a", "b"]
    with pytest.raises(ValueError, match="weights"):
        V.rrf_fuse([["a"]], weights=[0.5, 0.5])


def test_full_text_and_hybrid_search(store):
    ingest_text(store, TEXTS)
    assert V.sync_chunk_text(store) == (5, 0)
    assert V.sync_chunk_text(store) == (0, 0)  # idempotent
    res = V.full_text(store, "revenue", k=10)
    assert set(res["chunk_id"].to_pylist()) == {"a", "c", "e"} and res["chunk_id"][0].as_py() == "e"
    assert res["score"].to_pylist() == sorted(res["score"].to_pylist(), reverse=True)
    text_a = V.full_text(store, "europe")["text"][0].as_py()
    assert "<number>" not in text_a and "$12.5 million" in text_a
    assert V.full_text(store, "number").num_rows == 0  # the tag word is not indexed
    assert set(V.full_text(store, "revenue", where="form = '10-K'")["chunk_id"].to_pylist()) == {"a", "c"}

    # vectors: the query vector is closest to d, then b; text favours e, a, c
    rng = np.random.default_rng(9)
    vec = unit(rng, 5, 8)
    q = vec[3] + 0.05 * vec[1]
    ids = sorted(TEXTS)
    rows = chunk_rows(vec, ids=ids, company=lambda i: "co1" if i < 3 else "co2",  # as in ingest_text
                      form=lambda i: "10-K" if i < 3 else "10-Q")
    V.EmbeddingWriter(store, "chunk", MV, 8).write(rows)
    top_vec = V.hybrid(store, MV, "revenue", q, k=3, alpha=1.0)
    assert top_vec["chunk_id"][0].as_py() == "d" and top_vec["text"][0].as_py() == TEXTS["d"]
    assert top_vec["text_score"][0].as_py() is None and top_vec["vector_score"][0].as_py() > 0.9
    top_txt = V.hybrid(store, MV, "revenue", q, k=3, alpha=0.0)
    assert top_txt["chunk_id"][0].as_py() == "e"
    # two candidates a side: vector [d, x], text [e, a]; equal weights tie d and e at 0.5/61
    both = V.hybrid(store, MV, "revenue", q, k=4, alpha=0.5, candidates=2)
    assert both["chunk_id"].to_pylist()[:2] == ["d", "e"]
    assert both["score"][0].as_py() == pytest.approx(0.5 / 61)
    assert both["score"].to_pylist() == sorted(both["score"].to_pylist(), reverse=True)
    filtered = V.hybrid(store, MV, "revenue", q, k=5, where="company_id = 'co1'")
    assert set(filtered["chunk_id"].to_pylist()) <= {"a", "b", "c"} and filtered.num_rows > 0

    # a re-chunked filing drops its old chunks: they leave chunk_text too
    store.replace_partitions(CHUNKS, ["f2"], CHUNKS.schema.empty_table())
    assert V.sync_chunk_text(store) == (0, 2)
    assert set(V.full_text(store, "revenue")["chunk_id"].to_pylist()) == {"a", "c"}


# -- readers during writes -----------------------------------------------------------

READER = """
import json, sys, time, os, duckdb
db, stop = sys.argv[1], sys.argv[2]
worst, reads, counts = 0.0, 0, set()
open(stop + ".ready", "w").close()
while not os.path.exists(stop):
    t0 = time.perf_counter()
    while True:
        try:
            con = duckdb.connect(db, read_only=True)
            break
        except duckdb.Error as e:
            if "lock" not in str(e) and "Conflicting" not in str(e):
                raise
            time.sleep(0.005)
    try:
        counts.add(con.execute("SELECT count(*) FROM chunk_embeddings").fetchone()[0])
    except duckdb.CatalogException:
        counts.add(0)
    con.close()
    worst = max(worst, time.perf_counter() - t0)
    reads += 1
print(json.dumps({"worst_s": worst, "reads": reads, "counts": len(counts)}))
"""


def test_reader_is_never_blocked_long_while_a_writer_writes(store, tmp_path):
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(READER), str(store.db_path), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "stop.ready").exists():
            assert time.monotonic() < deadline and reader.poll() is None, reader.stderr.read()
            time.sleep(0.05)
        rng = np.random.default_rng(10)
        w = V.EmbeddingWriter(store, "chunk", MV, 32)
        for b in range(25):
            w.write(chunk_rows(unit(rng, 200, 32), start=b * 200))
            time.sleep(0.02)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    got = json.loads(out)
    assert got["reads"] >= 10
    assert got["counts"] >= 3  # it read while the table grew, not only before/after
    assert got["worst_s"] < 2.0
    assert w.timings.batches == 25 and store.count(w.table) == 5000


# -- benchmark -----------------------------------------------------------------------

def test_bench_vectors_small(tmp_path, capsys):
    from jobs import bench_vectors
    out = tmp_path / "bench.json"
    assert bench_vectors.main(["--n", "3000", "--dim", "16", "--centres", "30", "--queries", "15",
                               "--batch", "1000", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lance exact" in printed and "recall@10" in printed and "duckdb exact" in printed
    r = json.loads(out.read_text())
    assert r["n"] == 3000 and r["write"]["batches"] == 3 and r["write"]["rows_per_s"] > 0
    assert 0.3 < r["lance_index"]["recall_at_k"] <= 1.0
    assert r["duckdb_exact"]["agreement_with_lance_exact"] > 0.9
    assert r["lance_exact"]["p95_ms"] >= r["lance_exact"]["p50_ms"] > 0
