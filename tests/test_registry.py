"""The lineage registry on a real SQLite file: models, ETL versions, runs, lineage, concurrency."""
from __future__ import annotations

import hashlib
import pickle
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import timezone
from pathlib import Path

import pytest

from featurestore.registry import (
    ModelVersionConflict,
    Registry,
    RunStateError,
    hash_checkpoint,
)
from featurestore.store import Store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    ck = tmp_path / "ck"
    (ck / "model").mkdir(parents=True)
    (ck / "config.json").write_text('{"hidden": 8}')
    (ck / "model" / "weights.safetensors").write_bytes(b"\x00\x01" * 100)
    return ck


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    yield reg
    reg.close()


# -- hashing ----------------------------------------------------------------------

def test_hash_of_a_file_is_its_sha256(tmp_path: Path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc" * 1000)
    assert hash_checkpoint(f) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_hash_of_a_folder_follows_content_and_names(checkpoint: Path, tmp_path: Path):
    first = hash_checkpoint(checkpoint)
    assert first == hash_checkpoint(str(checkpoint))  # stable, str or Path
    # The same files written in another order hash the same.
    other = tmp_path / "other"
    (other / "model").mkdir(parents=True)
    (other / "model" / "weights.safetensors").write_bytes(b"\x00\x01" * 100)
    (other / "config.json").write_text('{"hidden": 8}')
    assert hash_checkpoint(other) == first
    (other / "config.json").write_text('{"hidden": 9}')
    assert hash_checkpoint(other) != first
    (other / "config.json").write_text('{"hidden": 8}')
    (other / "config.json").rename(other / "config2.json")
    assert hash_checkpoint(other) != first


def test_hash_refuses_missing_and_empty(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hash_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no files"):
        hash_checkpoint(tmp_path / "empty")


# -- models and ETL versions ------------------------------------------------------------

def test_model_round_trip_and_duplicate_semantics(registry: Registry, checkpoint: Path, tmp_path: Path):
    m = registry.register_model("tiny-2026-11-01", "encoder", checkpoint,
                                config={"preset": "tiny", "layers": 4}, tokenizer="bpe-8k + [NUM]",
                                training_run_path="runs/tiny", etl_version="etl-0.1")
    got = registry.model("tiny-2026-11-01")
    assert got == m
    assert got.checkpoint_sha256 == hash_checkpoint(checkpoint)
    assert got.config == {"preset": "tiny", "layers": 4}
    assert got.created_at.tzinfo == timezone.utc

    # Same version, same files: a no-op that returns the first record.
    again = registry.register_model("tiny-2026-11-01", "encoder", checkpoint, config={"other": True})
    assert again == got
    assert len(registry.models()) == 1

    # Same version, other files: refused, naming both hashes.
    (checkpoint / "config.json").write_text('{"hidden": 16}')
    with pytest.raises(ModelVersionConflict) as e:
        registry.register_model("tiny-2026-11-01", "encoder", checkpoint, config={})
    assert got.checkpoint_sha256 in str(e.value)
    assert hash_checkpoint(checkpoint) in str(e.value)
    assert registry.model("tiny-2026-11-01").checkpoint_sha256 == got.checkpoint_sha256

    # A remote checkpoint: the caller gives the hash.
    r = registry.register_model("minilm-base", "baseline", "s3://bucket/minilm", config={},
                                checkpoint_sha256="ab" * 32)
    assert registry.model("minilm-base").checkpoint_sha256 == "ab" * 32 == r.checkpoint_sha256
    assert [m.model_version for m in registry.models(kind="baseline")] == ["minilm-base"]

    with pytest.raises(KeyError, match="not registered"):
        registry.model("nope")
    with pytest.raises(ValueError, match="64 lowercase hex"):
        registry.register_model("y", "baseline", "s3://x", config={}, checkpoint_sha256="ABC")
    with pytest.raises(ValueError, match="kind"):
        registry.register_model("x", "transformer", checkpoint, config={})


def test_etl_version_keeps_first_sighting(registry: Registry):
    first = registry.register_etl_version("etl-0.1", "commit abc123")
    later = registry.register_etl_version("etl-0.1", "commit def456")
    assert later == first and later.code_description == "commit abc123"
    registry.register_etl_version("etl-0.2", "commit 999")
    assert [v.etl_version for v in registry.etl_versions()] == ["etl-0.1", "etl-0.2"]


# -- runs -------------------------------------------------------------------------------

def test_run_round_trip(registry: Registry):
    run_id = registry.start_run("ingest", inputs=["filings/sec"], params={"workers": 2},
                                etl_version="etl-0.1")
    r = registry.get_run(run_id)
    assert (r.status, r.job, r.inputs, r.params, r.ended_at) == (
        "running", "ingest", ["filings/sec"], {"workers": 2}, None)
    assert r.host and r.pid > 0 and r.started_at.tzinfo == timezone.utc

    registry.record_table_version(run_id, "chunk_embeddings", 3, tag="embed-v1")
    registry.record_table_version(run_id, "chunk_embeddings", 3, tag="embed-v1")  # repeat: no-op
    registry.record_table_version(run_id, "doc_embeddings", 7)
    registry.finish_run(run_id, "succeeded", row_counts={"filings": 11, "chunks": 900})
    r = registry.get_run(run_id)
    assert r.status == "succeeded" and r.error is None
    assert r.row_counts == {"filings": 11, "chunks": 900}
    assert r.ended_at >= r.started_at
    assert [(t.table, t.version, t.tag) for t in r.tables] == [
        ("chunk_embeddings", 3, "embed-v1"), ("doc_embeddings", 7, None)]

    with pytest.raises(RunStateError, match="already finished as succeeded"):
        registry.finish_run(run_id, "failed", error="late")
    with pytest.raises(RunStateError, match="no run"):
        registry.finish_run("no-such-run", "succeeded")
    with pytest.raises(RunStateError, match="no run"):
        registry.record_table_version("no-such-run", "t", 1)
    other = registry.start_run("embed", inputs={}, params={})
    with pytest.raises(ValueError, match="status"):
        registry.finish_run(other, "done")
    with pytest.raises(ValueError, match="row_counts"):
        registry.finish_run(other, "succeeded", row_counts={"t": -1})
    assert registry.get_run(other).status == "running"  # the bad calls changed nothing
    assert [x.job for x in registry.runs()] == ["ingest", "embed"]
    assert [x.run_id for x in registry.runs(job="ingest")] == [run_id]
    assert [x.run_id for x in registry.runs(status="running")] == [other]


def test_run_context_manager_marks_success_failure_and_kill(registry: Registry):
    with registry.run("embed", inputs={"store": "s"}, params={"batch": 8}) as run:
        run.row_counts["doc_embeddings"] = 5
        run.record_table_version("doc_embeddings", 2, tag="t")
    ok = registry.get_run(run.run_id)
    assert ok.status == "succeeded" and ok.row_counts == {"doc_embeddings": 5}
    assert [t.version for t in ok.tables] == [2]

    with pytest.raises(ValueError, match="bad batch"):
        with registry.run("embed", inputs={}, params={}) as failing:
            failing.row_counts["doc_embeddings"] = 1
            raise ValueError("bad batch 17")
    failed = registry.get_run(failing.run_id)
    assert failed.status == "failed"
    assert failed.error == "ValueError: bad batch 17"
    assert failed.row_counts == {"doc_embeddings": 1} and failed.ended_at is not None

    with pytest.raises(KeyboardInterrupt):
        with registry.run("embed", inputs={}, params={}) as killed:
            raise KeyboardInterrupt()
    assert registry.get_run(killed.run_id).status == "killed"


def test_lineage_of_model(registry: Registry, checkpoint: Path):
    registry.register_etl_version("etl-0.1", "commit abc")
    with registry.run("pretrain", inputs={"store": "stores/main"}, params={"steps": 10},
                      etl_version="etl-0.1") as train:
        pass
    registry.register_model("tiny-1", "encoder", checkpoint, config={}, training_run_id=train.run_id)
    with registry.run("embed", inputs={"store": "stores/main"}, params={}, model_version="tiny-1") as e1:
        e1.record_table_version("chunk_embeddings", 1)
        e1.record_table_version("doc_embeddings", 1, tag="tiny-1")
    with registry.run("embed", inputs={}, params={}, model_version="other") as _:
        pass
    lin = registry.lineage_of_model("tiny-1")
    assert lin.model.model_version == "tiny-1"
    assert lin.training_run is not None and lin.training_run.run_id == train.run_id
    assert lin.etl_version is not None and lin.etl_version.code_description == "commit abc"
    assert [r.run_id for r in lin.runs] == [e1.run_id]
    assert [(t.table, t.version, t.tag) for t in lin.tables] == [
        ("chunk_embeddings", 1, None), ("doc_embeddings", 1, "tiny-1")]
    with pytest.raises(KeyError):
        registry.lineage_of_model("nope")


def test_tables_are_plain_sql_and_persist(tmp_path: Path, checkpoint: Path):
    store = Store(tmp_path / "store", create=True)
    reg = Registry.for_store(store)
    reg.register_model("m", "chunk_embedder", checkpoint, config={"dim": 4})
    with reg.run("embed", inputs=["x"], params={}, model_version="m") as run:
        run.record_table_version("doc_embeddings", 4)
    reg.close()
    assert (store.path / "registry.sqlite").is_file()

    con = sqlite3.connect(store.path / "registry.sqlite")
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT r.job, r.status, t.table_name, t.version FROM job_runs r "
                           "JOIN run_tables t USING (run_id) WHERE r.model_version = 'm'").fetchall() == [
            ("embed", "succeeded", "doc_embeddings", 4)]
        assert con.execute("SELECT kind FROM model_versions").fetchall() == [("chunk_embedder",)]
        assert {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} >= {
            "model_versions", "etl_versions", "job_runs", "run_tables"}
    finally:
        con.close()

    reopened = Registry.for_store(store.path)  # a path works too
    assert reopened.runs(job="embed")[0].tables[0].version == 4
    clone = pickle.loads(pickle.dumps(reopened))  # what a Ray task receives
    assert clone.model("m").config == {"dim": 4}
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Registry.for_store(tmp_path / "missing")
    with pytest.raises(ValueError, match="in-memory"):
        Registry("sqlite://")


# -- concurrency -----------------------------------------------------------------------

def test_threads_write_runs_concurrently(registry: Registry, tmp_path: Path):
    other = Registry(registry.url)  # a second engine on the same file
    errors: list[BaseException] = []

    def work(reg: Registry, name: str) -> None:
        try:
            for i in range(10):
                with reg.run(name, inputs=[i], params={}) as run:
                    run.record_table_version("t", i)
                    run.row_counts["t"] = i
        except BaseException as e:  # surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(reg, f"job{k}"))
               for k, reg in enumerate([registry, registry, other, other])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    other.close()
    assert not errors, errors
    runs = registry.runs()
    assert len(runs) == 40 and {r.status for r in runs} == {"succeeded"}
    assert sum(len(r.tables) for r in runs) == 40


_WORKER = textwrap.dedent("""
    import sys
    from featurestore.registry import Registry
    reg = Registry(sys.argv[1])
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # start together
    for i in range(15):
        reg.register_model("shared", "baseline", "s3://m", config={}, checkpoint_sha256="cd" * 32)
        with reg.run(sys.argv[2], inputs=[i], params={"i": i}) as run:
            run.record_table_version("doc_embeddings", i)
    print("done")
""")


def test_two_processes_write_runs_concurrently(registry: Registry):
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(registry.url), f"proc{k}"],
                              cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(2)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    runs = registry.runs()
    assert len(runs) == 30 and {r.status for r in runs} == {"succeeded"}
    assert len({r.pid for r in runs}) == 2
    assert len(registry.runs(job="proc0")) == len(registry.runs(job="proc1")) == 15
    assert [m.model_version for m in registry.models()] == ["shared"]
