"""Point-in-time training sets: each event gets only what was public at its date.

`training_set(features, events, ttl=..., feature_columns=[...])` is pure (Arrow
in, Arrow out, an in-memory DuckDB for the join); `training_set_from_store`
reads one model's document embeddings and the filings they belong to from a
store and calls it.

Rules, and why:
- Known means filed: a feature row is usable for an event when
  `filed_at <= as_of`. `period_end` never decides it: a 10-K describing 2023
  that was filed in March 2024 is unknown in January 2024.
- Latest means latest period: of the rows known at `as_of`, the event takes
  the one with the latest `period_end` (a row without one counts as its
  `filed_at`), and within that period the latest filed. So an amendment (a
  form ending in `/A`, e.g. `10-K/A`) supersedes the original of the same
  company and period from its own `filed_at` on, and the original is used
  before that date; but a restatement of an old year filed late does not
  displace the next year's filing, which is newer information about the
  company. Ties go to the amendment, then to the larger filing_id
  (deterministic).
- TTL is applied to the chosen row, after the join (like an ASOF join): if the
  latest known filing is older than `as_of - ttl` the company's state is
  stale, and an older row would be staler still, so the event has no feature.
- Dates only: `filed_at` is a day, so `as_of` must be a day too. A timestamp
  is refused rather than silently rounded (rounding down would let the
  event see everything filed later that day).
- Nothing is dropped silently: every event ends either in `table` or in
  `unmatched` with a reason (`no_feature_rows`: the company has no feature
  rows at all, check its id; `none_filed_yet`; `expired_ttl`), and feature
  rows that cannot be placed in time (no company or no filed_at) are counted.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestore.schemas import FILINGS

if TYPE_CHECKING:
    from featurestore.store import Store

COMPANY = "company_id"
AS_OF = "as_of"
FILING = "filing_id"
FORM = "form"
FILED_AT = "filed_at"
PERIOD_END = "period_end"
#: Columns every feature row needs (period_end may hold nulls).
FEATURE_KEYS = (COMPANY, FILING, FORM, FILED_AT, PERIOD_END)
#: Columns describing the matched filing, added to every joined event.
MATCH_COLUMNS = (FILING, FORM, FILED_AT, PERIOD_END)

AMENDMENT_SUFFIX = "/A"

NO_FEATURE_ROWS = "no_feature_rows"
NONE_FILED_YET = "none_filed_yet"
EXPIRED_TTL = "expired_ttl"
REASONS = (NO_FEATURE_ROWS, NONE_FILED_YET, EXPIRED_TTL)
#: Columns added to unmatched events.
REASON = "reason"
EXPIRED_FILED_AT = "expired_filed_at"   # expired_ttl: filed_at of the latest known (stale) row
FIRST_FILED_AT = "first_filed_at"       # none_filed_yet: when the company's first row became public


@dataclass(frozen=True)
class TrainingSet:
    """Events joined to the feature row known at their date, and the events that got none.

    `table`: the event columns, then `filing_id, form, filed_at, period_end` of
    the matched row, then the feature columns; one row per joined event, in
    event order. `unmatched`: the event columns, then `reason`,
    `expired_filed_at` and `first_filed_at`; in event order.
    """
    table: pa.Table
    unmatched: pa.Table
    ttl: timedelta | None
    ignored_feature_rows: int   # rows without company_id or filed_at: never usable

    @property
    def n_events(self) -> int:
        return self.table.num_rows + self.unmatched.num_rows

    @property
    def counts(self) -> dict[str, int]:
        """events, joined, unmatched, and unmatched per reason (every reason present, maybe 0)."""
        by_reason = {r: 0 for r in REASONS}
        for r in self.unmatched[REASON].to_pylist():
            by_reason[r] += 1
        return {"events": self.n_events, "joined": self.table.num_rows,
                "unmatched": self.unmatched.num_rows, **by_reason}

    def summary(self) -> str:
        c = self.counts
        ttl = "none" if self.ttl is None else str(self.ttl)
        return (f"{c['events']} events: {c['joined']} joined, {c['unmatched']} without a feature "
                f"({c[NONE_FILED_YET]} none filed yet, {c[EXPIRED_TTL]} expired by ttl {ttl}, "
                f"{c[NO_FEATURE_ROWS]} company has no feature rows); "
                f"{self.ignored_feature_rows} feature rows ignored (no company_id or filed_at)")


# -- validation -----------------------------------------------------------------

def _require_columns(what: str, table: pa.Table, needed: Sequence[str], hint: str) -> None:
    missing = [c for c in needed if c not in table.column_names]
    if missing:
        raise ValueError(f"{what} lack columns {missing} (have {table.column_names}); {hint}")


def _as_string(what: str, col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type):
        return col.cast(pa.string())
    raise TypeError(f"{what}.company_id is {col.type}, but company ids are strings (CIKs as "
                    f"10-digit zero-padded strings, UK company numbers as 8 characters); "
                    f"an integer id would never match, so convert it first")


def _as_date(what: str, name: str, col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_date(col.type) or pa.types.is_null(col.type):
        return col.cast(pa.date32())
    if pa.types.is_timestamp(col.type):
        raise TypeError(f"{what}.{name} is a timestamp ({col.type}), but filings carry only a filing "
                        f"day; cast it to pa.date32() yourself if a filing is known on the day it "
                        f"is filed, or subtract a day first to be conservative")
    raise TypeError(f"{what}.{name} is {col.type}; give dates (pa.date32()), "
                    f"e.g. pc.strptime(col, '%Y-%m-%d', 'us').cast(pa.date32())")


def _days(col: pa.ChunkedArray) -> np.ndarray:
    """date32 as int days since the epoch (nulls are filtered out before this is used)."""
    return col.cast(pa.int32()).to_numpy(zero_copy_only=False)


# -- the join -------------------------------------------------------------------

_LATEST_KNOWN = """
SELECT e.e_idx, f.f_idx
FROM ev AS e
JOIN ft AS f ON f.company_id = e.company_id AND f.filed <= e.as_of
QUALIFY row_number() OVER (
    PARTITION BY e.e_idx
    ORDER BY f.period_key DESC, f.filed DESC, f.is_amendment DESC, f.filing_id DESC) = 1
ORDER BY e.e_idx
"""


def _latest_known(ev: pa.Table, ft: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """For each event (index), the index of its latest known feature row; events without one are absent."""
    con = duckdb.connect(":memory:")
    try:
        con.register("ev", ev)
        con.register("ft", ft)
        res = con.execute(_LATEST_KNOWN).to_arrow_table()
    finally:
        con.close()
    return (res["e_idx"].to_numpy(zero_copy_only=False).astype(np.int64),
            res["f_idx"].to_numpy(zero_copy_only=False).astype(np.int64))


def training_set(features: pa.Table, events: pa.Table, *, ttl: timedelta | None,
                 feature_columns: Sequence[str]) -> TrainingSet:
    """Join each event `(company_id, as_of, ...)` to the feature row public at `as_of`.

    `features` needs `company_id, filing_id, form, filed_at, period_end` and
    the `feature_columns`, one row per filing (filter to one model version
    and method first). `events` needs `company_id` and `as_of` (dates); other
    columns (labels) are carried through. See the module docstring for the rules.
    """
    _require_columns("features", features, FEATURE_KEYS,
                     "join the filings table for form and period_end (period_end may be null)")
    _require_columns("events", events, (COMPANY, AS_OF), "events are (company_id, as_of) rows")
    feature_columns = list(dict.fromkeys(feature_columns))
    if not feature_columns:
        raise ValueError("feature_columns is empty; name the columns to join, e.g. ['vector']")
    _require_columns("features", features, feature_columns, "feature_columns must be columns of features")
    if ttl is not None and ttl <= timedelta(0):
        raise ValueError(f"ttl must be positive or None (no expiry), got {ttl}")

    carried = list(MATCH_COLUMNS) + [c for c in feature_columns if c not in MATCH_COLUMNS and c != COMPANY]
    clash = [c for c in carried + [REASON, EXPIRED_FILED_AT, FIRST_FILED_AT] if c in events.column_names]
    if clash:
        raise ValueError(f"events already have columns {clash}, which the training set adds "
                         f"(match columns {list(MATCH_COLUMNS)}, feature columns, and "
                         f"{[REASON, EXPIRED_FILED_AT, FIRST_FILED_AT]}); rename them in the events")

    ev_company = _as_string("events", events[COMPANY])
    as_of = _as_date("events", AS_OF, events[AS_OF])
    bad = pc.or_(pc.is_null(ev_company), pc.is_null(as_of))
    n_bad = pc.sum(bad.cast(pa.int64())).as_py() or 0
    if n_bad:
        first = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"{n_bad} events have a null company_id or as_of (first at row {first}: "
                         f"{events.slice(first, 1).select([COMPANY, AS_OF]).to_pylist()[0]}); "
                         f"an event needs both: drop or fix those rows")

    ft_company = _as_string("features", features[COMPANY])
    filed = _as_date("features", FILED_AT, features[FILED_AT])
    period = _as_date("features", PERIOD_END, features[PERIOD_END])
    form = features[FORM].cast(pa.string())
    usable = pc.and_(pc.is_valid(ft_company), pc.is_valid(filed))
    usable_idx = np.flatnonzero(usable.to_numpy(zero_copy_only=False))
    ignored = features.num_rows - len(usable_idx)

    filing_ids = features[FILING].cast(pa.string()).take(usable_idx)
    dup = pa.table({"f": filing_ids}).group_by("f").aggregate([([], "count_all")])
    dup = dup.filter(pc.greater(dup["count_all"], 1))
    if dup.num_rows:
        raise ValueError(f"features hold {dup.num_rows} filing(s) more than once, e.g. "
                         f"{dup['f'][0].as_py()!r} ({dup['count_all'][0].as_py()} rows); keep one row per "
                         f"filing (filter the features to one model_version and method)")

    ev = pa.table({"e_idx": pa.array(np.arange(events.num_rows, dtype=np.int64)),
                   "company_id": ev_company, "as_of": as_of})
    u_filed = filed.take(usable_idx)
    ft = pa.table({
        "f_idx": pa.array(usable_idx.astype(np.int64)),
        "company_id": ft_company.take(usable_idx),
        "filed": u_filed,
        "period_key": pc.coalesce(period.take(usable_idx), u_filed),
        "is_amendment": pc.fill_null(pc.ends_with(pc.utf8_upper(form.take(usable_idx)),
                                                  AMENDMENT_SUFFIX), False),
        "filing_id": filing_ids,
    })
    e_idx, f_idx = _latest_known(ev, ft)

    # TTL on the chosen row: expired when as_of - filed_at > ttl.
    age_days = _days(as_of.take(e_idx)) - _days(filed.take(f_idx))
    expired = (np.zeros(len(e_idx), dtype=bool) if ttl is None
               else age_days > ttl / timedelta(days=1))
    keep = ~expired

    table = events.take(e_idx[keep])
    matched = features.take(f_idx[keep])
    for name in carried:
        col = matched[name]
        if name in (FILED_AT, PERIOD_END):
            col = col.cast(pa.date32())
        table = table.append_column(name, col)

    # Unmatched events, with the reason each got no feature.
    n = events.num_rows
    reason = np.full(n, None, dtype=object)
    known_companies = pa.array(np.unique(ft["company_id"].to_numpy(zero_copy_only=False)), pa.string()) \
        if ft.num_rows else pa.array([], pa.string())
    has_rows = pc.is_in(ev_company, value_set=known_companies).to_numpy(zero_copy_only=False)
    reason[:] = np.where(has_rows, NONE_FILED_YET, NO_FEATURE_ROWS)
    reason[e_idx] = None
    reason[e_idx[expired]] = EXPIRED_TTL
    unmatched_idx = np.flatnonzero(reason != None)  # noqa: E711 (elementwise on an object array)

    expired_filed = np.full(n, None, dtype=object)
    expired_filed[e_idx[expired]] = filed.take(f_idx[expired]).to_pylist()
    first_filed = pa.table({"c": ft["company_id"], "d": ft["filed"]}).group_by("c").aggregate([("d", "min")])
    first_by_company = dict(zip(first_filed["c"].to_pylist(), first_filed["d_min"].to_pylist()))
    unmatched_companies = ev_company.take(unmatched_idx).to_pylist()
    unmatched_reasons = reason[unmatched_idx]
    unmatched = events.take(unmatched_idx)
    unmatched = unmatched.append_column(REASON, pa.array(list(unmatched_reasons), pa.string()))
    unmatched = unmatched.append_column(
        EXPIRED_FILED_AT, pa.array(list(expired_filed[unmatched_idx]), pa.date32()))
    unmatched = unmatched.append_column(FIRST_FILED_AT, pa.array(
        [first_by_company.get(c) if r == NONE_FILED_YET else None
         for c, r in zip(unmatched_companies, unmatched_reasons)], pa.date32()))
    return TrainingSet(table=table, unmatched=unmatched, ttl=ttl, ignored_feature_rows=ignored)


# -- from a store ---------------------------------------------------------------

def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def training_set_from_store(store: Store, events: pa.Table, features: str = "doc_embeddings", *,
                            model_version: str, method: str, ttl: timedelta | None,
                            feature_columns: Sequence[str] = ("vector",)) -> TrainingSet:
    """`training_set` over one model version's and method's rows of a store's embedding table.

    Reads `features` (a table or view with `filing_id, company_id, form,
    filed_at, model_version, method` and the feature columns) for the events'
    companies and joins `filings` for `form`, `filed_at` (the filings table
    is the authority where it has the filing) and `period_end`.
    """
    _require_columns("events", events, (COMPANY, AS_OF), "events are (company_id, as_of) rows")
    feature_columns = list(dict.fromkeys(feature_columns))
    present = store.sql("SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                        [features])["column_name"].to_pylist()
    if not present:
        raise ValueError(f"{store!r} has no table or view {features!r}; run the embedding job "
                         f"first (or name the table that holds the document vectors)")
    needed = [COMPANY, FILING, FORM, FILED_AT, "model_version", "method", *feature_columns]
    missing = [c for c in needed if c not in present]
    if missing:
        raise ValueError(f"{features} lacks columns {missing}; it has {present}")

    extra = [c for c in feature_columns if c not in (COMPANY, FILING, FORM, FILED_AT, PERIOD_END)]
    companies = sorted({c for c in _as_string("events", events[COMPANY]).to_pylist() if c is not None})
    f = FILINGS.name
    query = (
        f"SELECT d.{_q(FILING)}, d.{_q(COMPANY)}, "
        f"coalesce(f.{_q(FORM)}, d.{_q(FORM)}) AS {_q(FORM)}, "
        f"coalesce(f.{_q(FILED_AT)}, d.{_q(FILED_AT)}) AS {_q(FILED_AT)}, "
        f"f.{_q(PERIOD_END)} AS {_q(PERIOD_END)}"
        + "".join(f", d.{_q(c)}" for c in extra)
        + f" FROM {_q(features)} AS d LEFT JOIN {_q(f)} AS f ON f.{_q(FILING)} = d.{_q(FILING)}"
        f" WHERE d.model_version = ? AND d.method = ? AND list_contains(?::VARCHAR[], d.{_q(COMPANY)})"
        f" ORDER BY d.{_q(FILING)}"
    )
    rows = store.sql(query, [model_version, method, companies])
    if rows.num_rows == 0:
        known = store.sql(f"SELECT DISTINCT model_version, method FROM {_q(features)} ORDER BY 1, 2")
        pairs = list(zip(known["model_version"].to_pylist(), known["method"].to_pylist()))
        if (model_version, method) not in pairs:
            raise ValueError(f"{features} has no rows for model_version={model_version!r}, "
                             f"method={method!r}; it holds {pairs[:20]}: check the names, or "
                             f"embed with that model first")
    return training_set(rows, events, ttl=ttl, feature_columns=feature_columns)
