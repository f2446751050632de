"""The store on real DuckDB files in tmp_path: creation, upserts, partitions,
transactions, read-only SQL, and that writers never keep the file locked."""
from __future__ import annotations

import datetime as dt
import pickle
import subprocess
import sys
import textwrap

import duckdb
import pyarrow as pa
import pytest

from featurestore import (
    CHUNKS,
    FILINGS,
    RELATIONAL_TABLES,
    REJECTS,
    ReadOnlyQueryError,
    Store,
    StoreLockedError,
    schemas,
)

UTC = dt.timezone.utc


def filings_rows(ids, etl_version="v1", company_name="Acme Corp"):
    n = len(ids)
    return pa.table({
        "filing_id": list(ids),
        "source": ["sec"] * n,
        "form": ["10-K"] * n,
        "company_id": [f"000{i}" for i in range(n)],
        "company_name": [company_name] * n,
        "ticker": ["ACME"] * n,
        "accession_number": [f"0000-{i}" for i in range(n)],
        "period_end": [dt.date(2024, 12, 31)] * n,
        "filed_at": [dt.date(2025, 2, 14)] * n,
        "content_sha256": [f"sha{i}" for i in ids],
        "path": [f"/data/{i}.htm" for i in ids],
        "n_bytes": [1000] * n,
        "n_chars": [800] * n,
        "etl_version": [etl_version] * n,
        "ingested_at": [dt.datetime(2025, 3, 1, 12, 30, tzinfo=UTC)] * n,
    }, schema=FILINGS.schema)


def chunk_rows(filing_id, n, text="text"):
    return pa.table({
        "chunk_id": [f"{filing_id}-c{i}" for i in range(n)],
        "filing_id": [filing_id] * n,
        "section_id": ["item7"] * n,
        "seq": list(range(n)),
        "text": [f"{text} {i}" for i in range(n)],
        "n_tokens": [10] * n,
        "etl_version": ["v1"] * n,
    }, schema=CHUNKS.schema)


def sorted_rows(t: pa.Table, key: str) -> list[dict]:
    return t.sort_by(key).to_pylist()


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store", create=True)


def run_python(code: str) -> str:
    """Run code in a separate Python process (its own DuckDB instance and file lock)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# -- creation ------------------------------------------------------------------

def test_create_makes_every_table_readable_by_plain_duckdb(store):
    assert store.db_path == store.path / "filingstore.duckdb" and store.db_path.is_file()
    con = duckdb.connect(str(store.db_path), read_only=True)
    try:
        for t in RELATIONAL_TABLES:
            assert con.execute(f'SELECT count(*) FROM "{t.name}"').fetchone() == (0,)
            cols = [r[0] for r in con.execute(f'DESCRIBE "{t.name}"').fetchall()]
            assert cols == t.columns
    finally:
        con.close()
    assert store.lance_path.is_dir()
    assert store.lance.list_tables().tables == []  # lancedb 0.40: a response object, not a list
    store.lance.create_table("probe", pa.table({"x": [1]}))
    assert (store.lance_path / "probe.lance").is_dir()
    assert "filingstore.duckdb" not in repr(store) and str(store.path) in repr(store)


def test_open_existing_and_missing(tmp_path, store):
    store.upsert("filings", filings_rows(["a"]))
    assert Store(store.path).count("filings") == 1
    assert Store(store.path, create=True).count("filings") == 1  # create on an existing store keeps it
    with pytest.raises(FileNotFoundError, match="create=True"):
        Store(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_store_pickles_without_connections(store):
    store.lance  # connect, then make sure the copy does not carry it
    clone = pickle.loads(pickle.dumps(store))
    assert clone.db_path == store.db_path and clone._lance is None


# -- upsert --------------------------------------------------------------------

def test_upsert_is_idempotent(store):
    rows = filings_rows(["a", "b", "c"])
    assert store.upsert("filings", rows) == 3
    first = store.read("filings")
    assert store.upsert("filings", rows) == 3
    assert store.count("filings") == 3
    assert sorted_rows(store.read("filings"), "filing_id") == sorted_rows(first, "filing_id")
    assert sorted_rows(first, "filing_id") == sorted_rows(rows, "filing_id")


def test_upsert_updates_changed_values_and_keeps_others(store):
    store.upsert("filings", filings_rows(["a", "b"]))
    store.upsert("filings", filings_rows(["b"], company_name="Renamed Inc"))
    got = {r["filing_id"]: r["company_name"] for r in store.read("filings").to_pylist()}
    assert got == {"a": "Acme Corp", "b": "Renamed Inc"}


def test_upsert_matches_null_key_parts(store):
    rows = pa.table({
        "path": ["/x.htm"], "content_sha256": [None], "source": ["sec"], "stage": ["read"], "item": [""],
        "reason": ["unreadable"], "detail": ["d"], "etl_version": ["v1"],
        "at": [dt.datetime(2025, 1, 1, tzinfo=UTC)],
    }, schema=REJECTS.schema)
    store.upsert("rejects", rows)
    store.upsert("rejects", rows)
    assert store.count("rejects") == 1


def test_delete_where_deletes_matching_rows_and_counts_them(store):
    store.upsert("filings", filings_rows(["a", "b", "c"]))
    with store.transaction() as tx:
        assert tx.delete_where("filings", "list_contains(?, filing_id)", [["a", "c", "zz"]]) == 2
        assert tx.delete_where("filings", "filing_id = ?", ["nothing"]) == 0
    assert [r["filing_id"] for r in store.read("filings").to_pylist()] == ["b"]


def test_upsert_accepts_reordered_castable_columns(store):
    rows = filings_rows(["a"])
    rows = rows.select(list(reversed(rows.column_names)))
    rows = rows.set_column(rows.schema.get_field_index("n_bytes"), "n_bytes", pa.array([5], pa.int32()))
    assert store.upsert("filings", rows) == 1
    assert store.read("filings", ["n_bytes"]).column(0).to_pylist() == [5]


def test_upsert_rejects_duplicate_keys(store):
    with pytest.raises(ValueError, match=r"filings.*more than once.*'a'"):
        store.upsert("filings", filings_rows(["a", "b", "a"]))
    assert store.count("filings") == 0


def test_upsert_column_errors(store):
    rows = filings_rows(["a"])
    with pytest.raises(ValueError, match=r"filings: rows lack columns \['ticker', 'n_chars'\]"):
        store.upsert("filings", rows.drop_columns(["ticker", "n_chars"]))
    with pytest.raises(ValueError, match=r"filings: rows have columns \['surprise'\]"):
        store.upsert("filings", rows.append_column("surprise", pa.array([1])))
    bad = rows.set_column(rows.schema.get_field_index("n_bytes"), "n_bytes", pa.array(["lots"]))
    with pytest.raises(ValueError, match=r"filings\.n_bytes: cannot cast string to int64"):
        store.upsert("filings", bad)
    with pytest.raises(KeyError, match="unknown store table"):
        store.upsert("filingz", rows)
    assert store.count("filings") == 0


def test_upsert_empty_writes_nothing(store):
    assert store.upsert("filings", filings_rows([])) == 0
    assert store.count("filings") == 0


# -- replace_partitions ----------------------------------------------------------

def test_replace_partitions_drops_stale_rows_of_that_partition_only(store):
    store.upsert("chunks", pa.concat_tables([chunk_rows("f1", 5), chunk_rows("f2", 3)]))
    assert store.replace_partitions("chunks", ["f1"], chunk_rows("f1", 2, text="new")) == 2
    f1 = store.read("chunks", where="filing_id = ?", params=["f1"])
    assert sorted(f1["text"].to_pylist()) == ["new 0", "new 1"]  # f1-c2..c4 are gone
    f2 = store.read("chunks", where="filing_id = ?", params=["f2"])
    assert sorted_rows(f2, "chunk_id") == sorted_rows(chunk_rows("f2", 3), "chunk_id")
    # a re-processed filing that now has no chunks loses them all
    assert store.replace_partitions("chunks", ["f1"], chunk_rows("f1", 0)) == 0
    assert store.keys("chunks", ["filing_id"]) == {("f2",)}


def test_replace_partitions_checks_rows_belong_to_listed_partitions(store):
    with pytest.raises(ValueError, match=r"filing_id='f2'.*not in partition_values"):
        store.replace_partitions("chunks", ["f1"], pa.concat_tables([chunk_rows("f1", 1), chunk_rows("f2", 1)]))
    with pytest.raises(ValueError, match="has no partition column"):
        store.replace_partitions("filings", ["a"], filings_rows(["a"]))
    with pytest.raises(TypeError, match="wrap it in a list"):
        store.replace_partitions("chunks", "f1", chunk_rows("f1", 1))


# -- transactions ----------------------------------------------------------------

def test_transaction_commits_several_tables_together(store):
    with store.transaction() as tx:
        tx.upsert("filings", filings_rows(["f1"]))
        tx.replace_partitions("chunks", ["f1"], chunk_rows("f1", 2))
    assert (store.count("filings"), store.count("chunks")) == (1, 2)
    with pytest.raises(RuntimeError, match="transaction has ended"):
        tx.upsert("filings", filings_rows(["f2"]))


def test_transaction_rolls_back_on_error(store):
    store.upsert("filings", filings_rows(["a"]))
    before = store.read("filings")
    with pytest.raises(ZeroDivisionError):
        with store.transaction() as tx:
            tx.upsert("filings", filings_rows(["a", "b"], company_name="Changed"))
            tx.replace_partitions("chunks", ["a"], chunk_rows("a", 3))
            1 / 0
    assert store.read("filings").to_pylist() == before.to_pylist()
    assert store.count("chunks") == 0


# -- reads and SQL ---------------------------------------------------------------

def test_read_returns_declared_schema(store):
    store.upsert("filings", filings_rows(["a"]))
    got = store.read("filings")
    assert got.schema == FILINGS.schema
    assert got.schema.field("ingested_at").type == pa.timestamp("us", tz="UTC")
    assert got.schema.field("period_end").type == pa.date32()
    assert got["ingested_at"][0].as_py() == dt.datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    assert store.read("filings", ["filing_id", "filed_at"]).schema == pa.schema(
        [FILINGS.schema.field("filing_id"), FILINGS.schema.field("filed_at")])
    assert store.read("chunks").schema == CHUNKS.schema  # empty tables too
    with pytest.raises(ValueError, match="has no columns"):
        store.read("filings", ["nope"])


def test_keys_and_filters(store):
    store.upsert("filings", pa.concat_tables([filings_rows(["a", "b"]), filings_rows(["c"], etl_version="v2")]))
    assert store.keys("filings", ["content_sha256", "etl_version"], where="etl_version = ?",
                      params=["v1"]) == {("shaa", "v1"), ("shab", "v1")}


def test_sql_is_read_only(store):
    store.upsert("filings", filings_rows(["a", "b"]))
    for query in ['DROP TABLE filings', 'DELETE FROM filings', 'CREATE TABLE x (a INTEGER)',
                  "INSERT INTO filings (filing_id) VALUES ('z')"]:
        with pytest.raises(ReadOnlyQueryError, match="read-only"):
            store.sql(query)
    assert store.count("filings") == 2
    got = store.sql("SELECT filing_id, ingested_at FROM filings WHERE filing_id = ?", ["b"])
    assert got.to_pylist() == [{"filing_id": "b", "ingested_at": dt.datetime(2025, 3, 1, 12, 30, tzinfo=UTC)}]
    assert got.schema.field("ingested_at").type == schemas.UTC_TS


# -- other processes -------------------------------------------------------------

def test_other_process_reads_between_writes(store):
    read_count = f"""
        import duckdb
        con = duckdb.connect({str(store.db_path)!r}, read_only=True)
        print(con.execute("SELECT count(*) FROM filings").fetchone()[0])
        con.close()
    """
    store.upsert("filings", filings_rows(["a"]))
    assert run_python(read_count) == "1"
    store.upsert("filings", filings_rows(["b", "c"]))
    assert run_python(read_count) == "3"


def test_writer_waits_for_lock_then_gives_up_clearly(tmp_path):
    store = Store(tmp_path / "s", create=True, lock_timeout_s=0.3)
    holder_code = textwrap.dedent(f"""
        import sys, time, duckdb
        con = duckdb.connect({str(store.db_path)!r})
        print("locked", flush=True)
        time.sleep(float(sys.stdin.readline()))
        con.close()
    """)
    with subprocess.Popen([sys.executable, "-c", holder_code], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "locked"
            with pytest.raises(StoreLockedError, match="could not open .* read-write within 0.3 s"):
                store.upsert("filings", filings_rows(["a"]))
            holder.stdin.write("0.5\n")
            holder.stdin.flush()
            store.lock_timeout_s = 30
            assert store.upsert("filings", filings_rows(["a"])) == 1  # waited for the holder to close
        finally:
            holder.stdin.close()  # a holder still waiting reads EOF and exits
            holder.wait(timeout=30)
    assert store.count("filings") == 1


def test_create_refuses_a_store_with_other_columns(store):
    con = duckdb.connect(str(store.db_path))
    con.execute("ALTER TABLE chunks DROP COLUMN n_tokens")
    con.close()
    with pytest.raises(ValueError, match="table chunks has columns .* migrate it"):
        Store(store.path, create=True)


def test_tables_declared_elsewhere_are_created_on_first_write(store):
    vectors = schemas.Table("test_vectors", pa.schema([
        ("chunk_id", pa.string()), ("model_version", pa.string()),
        ("vector", pa.list_(pa.float32(), 4))]), key=("chunk_id", "model_version"))
    rows = pa.table({"chunk_id": ["c1"], "model_version": ["m1"], "vector": [[1.0, 0.0, 0.0, 0.0]]})
    assert store.upsert(vectors, rows) == 1
    assert store.upsert(vectors, rows) == 1
    assert store.read(vectors).schema == vectors.schema and store.count(vectors) == 1
    got = store.sql("SELECT array_cosine_similarity(vector, [1, 0, 0, 0]::FLOAT[4]) AS s FROM test_vectors")
    assert got["s"].to_pylist() == [1.0]
