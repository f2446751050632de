"""Batch inference end to end on a tiny sample store: Ray Data, real LanceDB, real DuckDB, the registry.

One store (2 companies x 1 year of generated 10-Ks) is ingested once per module; the
tests embed it with a seeded tiny encoder (`tiny-random`) and MiniLM, kill a running
`python -m jobs.embed` and resume it, and query the result with `jobs.query`.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from etl.pipeline import IngestConfig, run_ingest
from etl.sample_corpus import write_corpus
from featurestore import Store
from featurestore.registry import Registry
from jobs import embed as embed_job
from models.embedding_models import load_embedder
from models.inference import EmbedConfig, number_rows, run_embedding, vectors_of

pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample_store(ray_cluster, tmp_path_factory):
    """A store with 2 filings (about 56 chunks); the tests copy it before writing."""
    base = tmp_path_factory.mktemp("embed")
    write_corpus(base / "corpus", n_companies=2, n_years=1, seed=3)
    summary = run_ingest(IngestConfig(inputs=[base / "corpus"], store=base / "store", progress=False, workers=2))
    assert summary.filings_written == 2
    return base / "store"


def copy_store(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def chunk_counts(store: Store, model_version: str) -> dict[str, int]:
    """chunk embedding rows and distinct chunk ids of one model version, as DuckDB sees them."""
    c = store.sql("SELECT count(*) n, count(DISTINCT chunk_id) d FROM chunk_embeddings WHERE model_version = ?",
                  [model_version]).to_pylist()[0]
    return {"chunks": c["n"], "distinct_chunks": c["d"]}


def counts(store: Store, model_version: str) -> dict[str, int]:
    """chunk/doc embedding rows and distinct keys of one model version, as DuckDB sees them."""
    d = store.sql("SELECT count(*) n, count(DISTINCT filing_id) d FROM doc_embeddings "
                  "WHERE model_version = ? AND method = 'mean'", [model_version]).to_pylist()[0]
    return {**chunk_counts(store, model_version), "docs": d["n"], "distinct_docs": d["d"]}


@pytest.fixture(scope="module")
def embedded(sample_store, tmp_path_factory):
    """A copy of the sample store embedded once with tiny-random (chunks and documents)."""
    store_dir = copy_store(sample_store, tmp_path_factory.mktemp("embedded") / "store")
    summary = run_embedding(EmbedConfig(store=store_dir, model="tiny-random", progress=False, write_every=16))
    return store_dir, summary


def test_tiny_random_embeds_every_chunk_and_filing(embedded):
    store_dir, first = embedded
    store = Store(store_dir)
    n_chunks, n_filings = store.count("chunks"), store.count("filings")
    tiny = first.model_version
    assert tiny.startswith("tiny-random-") and first.dim == 128
    assert (first.chunks_written, first.chunks_skipped, first.docs_written) == (n_chunks, 0, {"mean": n_filings})
    assert first.tokens > n_chunks and first.tokens_per_s > 0
    assert counts(store, tiny) == {"chunks": n_chunks, "distinct_chunks": n_chunks,
                                   "docs": n_filings, "distinct_docs": n_filings}

    # the vectors that went through Ray equal the model's own output for those chunks
    emb = load_embedder("tiny-random", store=store)
    assert emb.model_version == tiny  # saved once under <store>/models/tiny-random: the version is stable
    some = store.sql("SELECT c.chunk_id, c.text, list(n.char_start ORDER BY n.char_start) s, "
                     "list(n.char_end ORDER BY n.char_start) e, list(n.value ORDER BY n.char_start) v "
                     "FROM chunks c JOIN numbers n USING (chunk_id) WHERE n.value IS NOT NULL "
                     "GROUP BY ALL ORDER BY c.chunk_id LIMIT 3").to_pylist()
    assert len(some) == 3
    direct = emb.embed_batch(emb.pad(emb.encode([r["text"] for r in some],
                                                [number_rows(r["s"], r["e"], r["v"]) for r in some])))
    stored = store.sql("SELECT chunk_id, vector FROM chunk_embeddings WHERE model_version = ? "
                       "AND chunk_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY chunk_id",
                       [tiny, [r["chunk_id"] for r in some]])
    np.testing.assert_allclose(vectors_of(stored.column("vector"), 128), direct, atol=1e-4)

    # a document vector is the normalised mean of its chunk vectors
    fid = store.sql("SELECT filing_id FROM filings ORDER BY 1 LIMIT 1").to_pylist()[0]["filing_id"]
    chunk_vecs = vectors_of(store.sql("SELECT vector FROM chunk_embeddings WHERE model_version = ? AND "
                                      "filing_id = ?", [tiny, fid]).column("vector"), 128)
    doc_vec = vectors_of(store.sql("SELECT vector FROM doc_embeddings WHERE model_version = ? AND filing_id = ?",
                                   [tiny, fid]).column("vector"), 128)[0]
    mean = chunk_vecs.mean(0)
    np.testing.assert_allclose(doc_vec, mean / np.linalg.norm(mean), atol=1e-5)

    # lineage: the model and the run with its row counts and the Lance versions it produced
    with Registry.for_store(store_dir) as reg:
        assert reg.model(tiny).kind == "encoder"
        run = next(r for r in reg.runs(job="embed") if r.run_id == first.run_id)
        assert run.status == "succeeded" and run.model_version == tiny
        assert {t.table: t.version for t in run.tables} == first.lance_versions
        assert sorted(run.row_counts.values()) == sorted([n_chunks, n_filings])


def test_rerun_writes_nothing_and_a_second_model_sits_beside(embedded, tmp_path):
    store_dir = copy_store(embedded[0], tmp_path / "store")
    tiny = embedded[1].model_version
    store = Store(store_dir)
    n_chunks, n_filings = store.count("chunks"), store.count("filings")
    again = run_embedding(EmbedConfig(store=store_dir, model="tiny-random", progress=False))
    assert (again.chunks_written, again.chunks_skipped, again.docs_written, again.docs_skipped) == \
        (0, n_chunks, {}, n_filings)
    assert again.lance_versions == {} and counts(store, tiny)["chunks"] == n_chunks

    # MiniLM on one filing only (CPU time): its own table beside tiny-random's
    one = store.sql("SELECT filing_id, count(*) n FROM chunks GROUP BY 1 ORDER BY 1 LIMIT 1").to_pylist()[0]
    mini = run_embedding(EmbedConfig(store=store_dir, model="minilm", progress=False, filing_ids=[one["filing_id"]]))
    assert mini.model_version.startswith("minilm-") and mini.dim == 384
    assert counts(store, mini.model_version) == {"chunks": one["n"], "distinct_chunks": one["n"],
                                                 "docs": 1, "distinct_docs": 1}
    assert counts(store, tiny) == {"chunks": n_chunks, "distinct_chunks": n_chunks,
                                   "docs": n_filings, "distinct_docs": n_filings}
    widths = store.sql("SELECT model_version, dim FROM embedding_tables WHERE level = 'chunk' ORDER BY 1").to_pylist()
    assert widths == [{"model_version": mini.model_version, "dim": 384}, {"model_version": tiny, "dim": 128}]
    with Registry.for_store(store_dir) as reg:
        assert {m.model_version: m.kind for m in reg.models()} == {tiny: "encoder", mini.model_version: "baseline"}
        runs = reg.runs(job="embed")
        assert [r.status for r in runs] == ["succeeded"] * 3 and runs[1].tables == ()  # the re-run wrote nothing


def test_sections_embed_only_those_items_chunks(sample_store, tmp_path, capsys):
    store_dir = copy_store(sample_store, tmp_path / "store")
    store = Store(store_dir)
    want = store.sql("SELECT count(*) n FROM chunks WHERE section_id IN ('7', '1A')").to_pylist()[0]["n"]
    assert 0 < want < store.count("chunks")
    got = run_embedding(EmbedConfig(store=store_dir, model="tiny-random", level="chunk", sections=["7", "1A"],
                                    progress=False))
    assert got.chunks_written == want and got.docs_written == {}
    secs = store.sql("SELECT DISTINCT section_id FROM chunk_embeddings WHERE model_version = ? ORDER BY 1",
                     [got.model_version])["section_id"].to_pylist()
    assert secs == ["1A", "7"]
    with pytest.raises(ValueError, match="document vector pools every chunk"):
        EmbedConfig(store=store_dir, model="tiny-random", level="both", sections=["7"])
    with pytest.raises(SystemExit):
        embed_job.main(["--store", str(store_dir), "--model", "tiny-random", "--sections", "7"])
    assert "--level chunk" in capsys.readouterr().err


def _lance_rows(store_dir: Path, model_version: str) -> int:
    import lancedb
    from featurestore.vectors import physical_name
    db = lancedb.connect(str(store_dir / "lance"))
    name = physical_name("chunk", model_version)
    return db.open_table(name).count_rows() if name in db.list_tables().tables else 0


# Two job processes (imports, actor start-up): about 30-60 s on 2 CPUs; in the default tier
# because resuming after SIGKILL is a promise of the embed job.
def test_kill_and_resume_gives_every_chunk_exactly_once(sample_store, ray_cluster, tmp_path):
    store_dir = copy_store(sample_store, tmp_path / "store")
    store = Store(store_dir)
    n_chunks = store.count("chunks")
    version = load_embedder("tiny-random", store=store).model_version  # built here, reused by the job
    # The job attaches to this session's cluster (RAY_ADDRESS), so killing its driver leaves no Ray
    # processes behind: the cluster reaps a dead driver's actors.
    env = dict(os.environ, RAY_ADDRESS=ray_cluster.get_runtime_context().gcs_address, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "jobs.embed", "--store", str(store_dir), "--model", "tiny-random",
           "--level", "chunk", "--write-every", "2", "--rows-per-block", "2", "--no-progress", "--no-text-sync"]
    log = open(tmp_path / "killed.log", "wb")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        landed = 0
        while time.monotonic() < deadline and proc.poll() is None:
            landed = _lance_rows(store_dir, version)
            if landed >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the job ended before it could be killed: {(tmp_path / 'killed.log').read_text()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        log.close()
    at_kill = _lance_rows(store_dir, version)
    assert 2 <= landed <= at_kill < n_chunks, (landed, at_kill, n_chunks)

    done = subprocess.run(cmd[:-2] + ["--index-min-rows", "10"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert f"{n_chunks} in scope, {at_kill} already embedded, {n_chunks - at_kill} written" in done.stdout
    assert "recall@10" in done.stdout and "full-text table   " + str(n_chunks) + " chunks added" in done.stdout
    assert _lance_rows(store_dir, version) == n_chunks
    assert chunk_counts(store, version) == {"chunks": n_chunks, "distinct_chunks": n_chunks}
    missing = store.sql("SELECT count(*) n FROM chunks WHERE chunk_id NOT IN "
                        "(SELECT chunk_id FROM chunk_embeddings WHERE model_version = ?)", [version])
    assert missing.to_pylist()[0]["n"] == 0
    statuses = sorted(r.status for r in Registry.for_store(store_dir).runs(job="embed"))
    assert statuses == ["running", "succeeded"]   # a SIGKILLed run stays 'running': the honest answer


def test_query_sql_and_similar(embedded, tmp_path, capsys):
    import json

    from featurestore.vectors import sync_chunk_text
    from jobs import query
    store_dir = copy_store(embedded[0], tmp_path / "store")
    summary = embedded[1]
    sync_chunk_text(Store(store_dir))

    assert query.main(["sql", "--store", str(store_dir), "SELECT form, count(*) AS n FROM filings GROUP BY 1",
                       "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["form,n", "10-K,2"]
    assert query.main(["sql", "--store", str(store_dir), "DROP TABLE chunks"]) == 2
    assert "refused: DROP" in capsys.readouterr().err
    assert query.main(["sql", "--store", str(store_dir), "select 1; delete from chunks"]) == 2
    assert Store(store_dir).count("chunks") > 0

    chunk = Store(store_dir).sql("SELECT chunk_id, filing_id FROM chunks WHERE section_id = '7' "
                                 "ORDER BY chunk_id LIMIT 1").to_pylist()[0]
    assert query.main(["similar", "--store", str(store_dir), "--model", summary.model_version,
                       "--chunk-id", chunk["chunk_id"], "-k", "3", "--format", "json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and all(h["chunk_id"] != chunk["chunk_id"] for h in hits)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    assert all(h["form"] == "10-K" and h["snippet"] and "<number>" not in h["snippet"] for h in hits)

    assert query.main(["similar", "--store", str(store_dir), "--model", "tiny-random", "--text",
                       "revenue grew 12% to $4.5 billion", "-k", "4", "--section", "7"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["score", "company", "form", "filed_at", "section", "snippet"]
    assert out[-1] == "(4 rows)" and all(" 7 " in line for line in out[2:-1])

    assert query.main(["similar", "--store", str(store_dir), "--model", "tiny-random",
                       "--filing-id", chunk["filing_id"], "--format", "json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert len(docs) == 1 and docs[0]["filing_id"] != chunk["filing_id"]

    assert query.main(["similar", "--store", str(store_dir), "--mode", "text", "--text", "dividends",
                       "-k", "2", "--format", "json"]) == 0
    assert all("dividend" in h["snippet"].lower() or h["score"] > 0 for h in json.loads(capsys.readouterr().out))
