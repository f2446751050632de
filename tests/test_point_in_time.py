"""Point-in-time training sets: look-ahead traps, TTL, amendments, counts, and a real store."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from featurestore import schemas
from featurestore.point_in_time import (
    EXPIRED_TTL,
    NO_FEATURE_ROWS,
    NONE_FILED_YET,
    training_set,
    training_set_from_store,
)
from featurestore.store import Store

D = date
VEC = pa.list_(pa.float32(), 2)


def features(rows: list[tuple]) -> pa.Table:
    """rows: (company_id, filing_id, form, filed_at, period_end, score)."""
    cols = list(zip(*rows)) if rows else [[]] * 6
    return pa.table({
        "company_id": pa.array(cols[0], pa.string()),
        "filing_id": pa.array(cols[1], pa.string()),
        "form": pa.array(cols[2], pa.string()),
        "filed_at": pa.array(cols[3], pa.date32()),
        "period_end": pa.array(cols[4], pa.date32()),
        "score": pa.array(cols[5], pa.float64()),
    })


def events(rows: list[tuple]) -> pa.Table:
    """rows: (company_id, as_of, label)."""
    cols = list(zip(*rows)) if rows else [[]] * 3
    return pa.table({"company_id": pa.array(cols[0], pa.string()),
                     "as_of": pa.array(cols[1], pa.date32()),
                     "label": pa.array(cols[2], pa.int64())})


def picked(ts, label: int) -> str | None:
    """The filing the event with `label` was joined to (None if unmatched)."""
    rows = [r for r in ts.table.to_pylist() if r["label"] == label]
    return rows[0]["filing_id"] if rows else None


def reason(ts, label: int) -> str | None:
    rows = [r for r in ts.unmatched.to_pylist() if r["label"] == label]
    return rows[0]["reason"] if rows else None


# Company A: FY2022 10-K filed 2023-03-01; FY2023 10-K filed 2024-02-15 (period ended 2023-12-31).
A = [("A", "a22", "10-K", D(2023, 3, 1), D(2022, 12, 31), 22.0),
     ("A", "a23", "10-K", D(2024, 2, 15), D(2023, 12, 31), 23.0)]


def test_a_filing_is_unknown_until_its_filing_day():
    ts = training_set(features(A), events([
        ("A", D(2024, 2, 14), 1),   # the day before a23 was filed
        ("A", D(2024, 2, 15), 2),   # its filing day
        ("A", D(2024, 1, 15), 3),   # after a23's period_end, before it was filed: still a22
        ("A", D(2023, 2, 28), 4),   # before anything was filed
    ]), ttl=None, feature_columns=["score"])
    assert picked(ts, 1) == "a22"
    assert picked(ts, 2) == "a23"
    assert picked(ts, 3) == "a22"
    assert picked(ts, 4) is None and reason(ts, 4) == NONE_FILED_YET
    # Every joined row was public at its event's date.
    assert all(r["filed_at"] <= r["as_of"] for r in ts.table.to_pylist())
    row = ts.table.to_pylist()[0]
    assert (row["form"], row["period_end"], row["score"]) == ("10-K", D(2022, 12, 31), 22.0)


def test_ttl_expires_stale_features_at_the_boundary():
    ttl = timedelta(days=365)
    ts = training_set(features(A), events([
        ("A", D(2025, 2, 14), 1),   # a23 is exactly 365 days old: kept
        ("A", D(2025, 2, 15), 2),   # 366 days old: expired (older than as_of - ttl)
        ("A", D(2024, 2, 1), 3),    # a22 is 337 days old: kept
    ]), ttl=ttl, feature_columns=["score"])
    assert picked(ts, 1) == "a23"
    assert picked(ts, 2) is None and reason(ts, 2) == EXPIRED_TTL
    assert picked(ts, 3) == "a22"
    expired = [r for r in ts.unmatched.to_pylist() if r["label"] == 2][0]
    assert expired["expired_filed_at"] == D(2024, 2, 15)
    # An expired latest filing does not fall back to an older one.
    assert ts.counts == {"events": 3, "joined": 2, "unmatched": 1,
                         NO_FEATURE_ROWS: 0, NONE_FILED_YET: 0, EXPIRED_TTL: 1}
    # Without a TTL nothing expires.
    assert picked(training_set(features(A), events([("A", D(2030, 1, 1), 9)]), ttl=None,
                               feature_columns=["score"]), 9) == "a23"


def test_amendment_supersedes_only_from_its_own_filing_date():
    rows = A + [
        ("A", "a23x", "10-K/A", D(2024, 6, 10), D(2023, 12, 31), 23.5),  # restates FY2023
        ("A", "a24", "10-K", D(2025, 2, 14), D(2024, 12, 31), 24.0),
        ("A", "a22x", "10-K/A", D(2025, 5, 1), D(2022, 12, 31), 22.5),   # late restatement of FY2022
    ]
    ts = training_set(features(rows), events([
        ("A", D(2024, 6, 9), 1),    # the day before the amendment: the original
        ("A", D(2024, 6, 10), 2),   # from its filing day: the amendment
        ("A", D(2024, 12, 31), 3),
        ("A", D(2025, 2, 14), 4),   # the next year's 10-K
        ("A", D(2025, 6, 1), 5),    # an old year's amendment does not displace the newer year
    ]), ttl=None, feature_columns=["score"])
    assert [picked(ts, i) for i in range(1, 6)] == ["a23", "a23x", "a23x", "a24", "a24"]
    assert [r["form"] for r in ts.table.to_pylist()][1] == "10-K/A"


def test_an_amendment_filed_the_same_day_wins_the_tie():
    rows = [("A", "z-orig", "10-K", D(2024, 3, 1), D(2023, 12, 31), 1.0),
            ("A", "a-amend", "10-K/A", D(2024, 3, 1), D(2023, 12, 31), 2.0)]
    ts = training_set(features(rows), events([("A", D(2024, 3, 1), 1)]), ttl=None,
                      feature_columns=["score"])
    assert picked(ts, 1) == "a-amend"


def test_companies_never_leak_and_unmatched_events_are_counted():
    rows = A + [("B", "b23", "10-K", D(2024, 3, 20), D(2023, 12, 31), 99.0)]
    ev = events([
        ("B", D(2024, 3, 1), 1),    # B's first filing comes later (A's is known: must not leak)
        ("A", D(2024, 3, 1), 2),
        ("C", D(2024, 3, 1), 3),    # no feature rows for C at all
        ("B", D(2024, 4, 1), 4),
        ("0000000001", D(2024, 4, 1), 5),
    ])
    ts = training_set(features(rows), ev, ttl=None, feature_columns=["score", "company_id"])
    assert ts.table["label"].to_pylist() == [2, 4]           # event order kept
    assert ts.table["filing_id"].to_pylist() == ["a23", "b23"]
    assert ts.table["company_id"].to_pylist() == ["A", "B"]  # the key is not duplicated
    assert ts.unmatched["label"].to_pylist() == [1, 3, 5]
    assert ts.unmatched["reason"].to_pylist() == [NONE_FILED_YET, NO_FEATURE_ROWS, NO_FEATURE_ROWS]
    assert ts.unmatched["first_filed_at"].to_pylist() == [D(2024, 3, 20), None, None]
    assert ts.counts == {"events": 5, "joined": 2, "unmatched": 3,
                         NO_FEATURE_ROWS: 2, NONE_FILED_YET: 1, EXPIRED_TTL: 0}
    assert "2 joined" in ts.summary() and "1 none filed yet" in ts.summary()
    # Duplicate events (same company and date, other labels) each get a row.
    dup = training_set(features(rows), events([("A", D(2024, 3, 1), 7), ("A", D(2024, 3, 1), 8)]),
                       ttl=None, feature_columns=["score"])
    assert dup.table["label"].to_pylist() == [7, 8]


def test_feature_rows_without_filed_at_are_counted_not_used():
    rows = A + [("A", "undated", "10-K", None, D(2024, 12, 31), 0.0),
                (None, "nobody", "10-K", D(2020, 1, 1), None, 0.0)]
    ts = training_set(features(rows), events([("A", D(2030, 1, 1), 1)]), ttl=None,
                      feature_columns=["score"])
    assert picked(ts, 1) == "a23"
    assert ts.ignored_feature_rows == 2


def test_rows_without_period_end_order_by_filed_at():
    rows = [("W", "w1", "WEB", D(2024, 1, 1), None, 1.0), ("W", "w2", "WEB", D(2024, 6, 1), None, 2.0)]
    ts = training_set(features(rows), events([("W", D(2024, 5, 1), 1), ("W", D(2024, 7, 1), 2)]),
                      ttl=None, feature_columns=["score"])
    assert [picked(ts, 1), picked(ts, 2)] == ["w1", "w2"]


def test_matches_a_brute_force_reference_on_random_cases():
    rng = random.Random(7)
    day0 = D(2020, 1, 1)
    rows, n = [], 0
    for company in "PQRS":
        for year in range(2020, 2025):
            filed = day0 + timedelta(days=(year - 2020) * 365 + rng.randrange(40, 100))
            period = D(year - 1, 12, 31)
            rows.append((company, f"{company}{n}", "10-K", filed, period, float(n)))
            n += 1
            if rng.random() < 0.4:
                rows.append((company, f"{company}{n}", "10-K/A", filed + timedelta(days=rng.randrange(1, 500)),
                             period, float(n)))
                n += 1
    ev = events([(rng.choice("PQRST"), day0 + timedelta(days=rng.randrange(0, 2200)), i) for i in range(300)])
    ttl = timedelta(days=400)
    ts = training_set(features(rows), ev, ttl=ttl, feature_columns=["score"])

    def expected(company: str, as_of: date) -> tuple[str | None, str | None]:
        mine = [r for r in rows if r[0] == company]
        if not mine:
            return None, NO_FEATURE_ROWS
        known = [r for r in mine if r[3] <= as_of]
        if not known:
            return None, NONE_FILED_YET
        best = max(known, key=lambda r: (r[4], r[3], r[2].endswith("/A"), r[1]))
        if (as_of - best[3]) > ttl:
            return None, EXPIRED_TTL
        return best[1], None

    got = {r["label"]: (r["filing_id"], None) for r in ts.table.to_pylist()}
    got.update({r["label"]: (None, r["reason"]) for r in ts.unmatched.to_pylist()})
    want = {e["label"]: expected(e["company_id"], e["as_of"]) for e in ev.to_pylist()}
    assert got == want
    assert ts.counts["joined"] > 50 and ts.counts[EXPIRED_TTL] > 0 and ts.counts[NONE_FILED_YET] > 0


def test_bad_inputs_are_refused_with_a_reason():
    f = features(A)
    ts_events = pa.table({"company_id": ["A"], "as_of": pa.array([datetime(2024, 3, 1, tzinfo=timezone.utc)])})
    with pytest.raises(TypeError, match="timestamp"):
        training_set(f, ts_events, ttl=None, feature_columns=["score"])
    with pytest.raises(TypeError, match="company ids are strings"):
        training_set(f, pa.table({"company_id": [1], "as_of": pa.array([D(2024, 1, 1)])}),
                     ttl=None, feature_columns=["score"])
    with pytest.raises(ValueError, match="more than once"):
        training_set(features(A + A[:1]), events([("A", D(2024, 1, 1), 1)]), ttl=None,
                     feature_columns=["score"])
    with pytest.raises(ValueError, match="lack columns"):
        training_set(f.drop_columns(["period_end"]), events([("A", D(2024, 1, 1), 1)]), ttl=None,
                     feature_columns=["score"])
    with pytest.raises(ValueError, match="rename them"):
        training_set(f, events([("A", D(2024, 1, 1), 1)]).append_column("score", pa.array([1.0])),
                     ttl=None, feature_columns=["score"])
    with pytest.raises(ValueError, match="null company_id or as_of"):
        training_set(f, events([("A", None, 1)]), ttl=None, feature_columns=["score"])
    with pytest.raises(ValueError, match="ttl must be positive"):
        training_set(f, events([("A", D(2024, 1, 1), 1)]), ttl=timedelta(0), feature_columns=["score"])
    empty = training_set(f, events([]), ttl=None, feature_columns=["score"])
    assert empty.counts["events"] == 0 and "score" in empty.table.column_names


# -- from a store -------------------------------------------------------------------------

def _filing(filing_id: str, company: str, form: str, filed: date, period: date) -> dict:
    return {"filing_id": filing_id, "source": "sec", "form": form, "company_id": company,
            "company_name": company, "ticker": None, "accession_number": None,
            "period_end": period, "filed_at": filed, "content_sha256": filing_id, "path": f"{filing_id}.htm",
            "n_bytes": 1, "n_chars": 1, "etl_version": "etl-0.1",
            "ingested_at": datetime(2025, 1, 1, tzinfo=timezone.utc)}


def test_training_set_from_a_real_store(tmp_path: Path):
    store = Store(tmp_path / "store", create=True)
    filings = [
        _filing("f22", "0000000001", "10-K", D(2023, 3, 1), D(2022, 12, 31)),
        _filing("f23", "0000000001", "10-K", D(2024, 2, 15), D(2023, 12, 31)),
        _filing("f23a", "0000000001", "10-K/A", D(2024, 6, 10), D(2023, 12, 31)),
        _filing("g23", "0000000002", "10-K", D(2024, 3, 1), D(2023, 12, 31)),
    ]
    store.upsert(schemas.FILINGS, pa.Table.from_pylist(filings, schema=schemas.FILINGS.schema))
    doc = schemas.doc_embeddings(4)
    emb = []
    for i, f in enumerate(filings):
        for model, method in [("tiny-1", "mean"), ("tiny-1", "aggregator"), ("tiny-2", "mean")]:
            emb.append({"filing_id": f["filing_id"], "company_id": f["company_id"],
                        # the embedding row's copy of form is stale for the amendment:
                        # the filings table is the authority
                        "form": "10-K", "filed_at": f["filed_at"], "n_chunks": 3,
                        "etl_version": "etl-0.1", "model_version": model, "method": method,
                        "vector": [float(i), 1.0 if method == "mean" else 2.0,
                                   1.0 if model == "tiny-1" else 2.0, 0.0]})
    with store.transaction() as tx:
        tx.upsert(doc, pa.Table.from_pylist(emb, schema=doc.schema))

    ev = events([("0000000001", D(2024, 1, 10), 1), ("0000000001", D(2024, 6, 9), 2),
                 ("0000000001", D(2024, 6, 10), 3), ("0000000002", D(2024, 2, 1), 4),
                 ("0000000003", D(2024, 2, 1), 5), ("0000000002", D(2026, 1, 1), 6)])
    ts = training_set_from_store(store, ev, model_version="tiny-1", method="mean",
                                 ttl=timedelta(days=365), feature_columns=["vector", "n_chunks"])
    t = ts.table.to_pylist()
    assert [r["filing_id"] for r in t] == ["f22", "f23", "f23a"]
    assert [r["form"] for r in t] == ["10-K", "10-K", "10-K/A"]
    assert [r["period_end"] for r in t] == [D(2022, 12, 31), D(2023, 12, 31), D(2023, 12, 31)]
    assert [r["vector"][1:3] for r in t] == [[1.0, 1.0]] * 3     # only tiny-1 / mean rows
    assert ts.table.schema.field("vector").type == pa.list_(pa.float32(), 4)
    assert ts.unmatched["reason"].to_pylist() == [NONE_FILED_YET, NO_FEATURE_ROWS, EXPIRED_TTL]
    assert ts.counts["events"] == 6 and ts.counts["joined"] == 3

    other = training_set_from_store(store, ev, model_version="tiny-2", method="mean", ttl=None)
    assert [r[2] for r in other.table["vector"].to_pylist()] == [2.0] * 4

    with pytest.raises(ValueError, match="no rows for model_version='tiny-9'"):
        training_set_from_store(store, ev, model_version="tiny-9", method="mean", ttl=None)
    with pytest.raises(ValueError, match="no table or view 'chunk_vectors'"):
        training_set_from_store(store, ev, "chunk_vectors", model_version="tiny-1", method="mean", ttl=None)
    with pytest.raises(ValueError, match=r"lacks columns \['embedding'\]"):
        training_set_from_store(store, ev, model_version="tiny-1", method="mean", ttl=None,
                                feature_columns=["embedding"])
