"""Growth labels: hand-computed cases for the label arithmetic, the store round trip and the job."""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from featurestore import FACTS, FILINGS, GROWTH, Store
from featurestore.growth import (
    DEFAULT_METRICS, LabelConfig, Metric, canonical_concept, facts_features, label_set, select_metrics,
    labels_from_store, observations, period_known_at, window_years,
)
from jobs import labels as labels_job

REV = Metric("revenue", ("us-gaap:Revenues", "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax"),
             2.0, "duration")
ASSETS = Metric("total_assets", ("us-gaap:Assets",), 1.0, "instant")
EMPLOYEES = Metric("employees", ("core:AverageNumberEmployeesDuringPeriod",), 0.5, "duration")
OPINC = Metric("operating_income", ("us-gaap:OperatingIncomeLoss",), 1.0, "duration")
SMALL = LabelConfig(metrics=(REV, ASSETS, EMPLOYEES, OPINC), years=(1, 2))


def fy(y: int) -> tuple[date, date]:
    """A calendar fiscal year: (start, end)."""
    return date(y, 1, 1), date(y, 12, 31)


class Book:
    """Filings and facts built by hand, as the ETL would store them."""

    def __init__(self) -> None:
        self.filings: list[dict] = []
        self.facts: list[dict] = []

    def filing(self, fid: str, company: str, filed: date, form: str = "10-K", source: str = "sec") -> str:
        self.filings.append(dict(filing_id=fid, company_id=company, filed_at=filed, form=form, source=source))
        return fid

    def duration(self, fid: str, concept: str, year: int, value: float, unit: str = "USD",
                 dims: str = "{}", days: int | None = None) -> None:
        start, end = fy(year)
        if days is not None:
            start = date.fromordinal(end.toordinal() - days)
        self._add(fid, concept, value, start, end, unit, dims)

    def instant(self, fid: str, concept: str, when: date, value: float, unit: str = "USD",
                dims: str = "{}") -> None:
        self._add(fid, concept, value, None, when, unit, dims)

    def _add(self, fid, concept, value, start, end, unit, dims) -> None:
        self.facts.append(dict(filing_id=fid, fact_id=f"f{len(self.facts)}", concept=concept, value=value,
                               unit=unit, period_start=start, period_end=end, dimensions=dims))

    def tables(self) -> tuple[pa.Table, pa.Table]:
        return (pa.Table.from_pylist(self.facts, schema=FACTS.schema),
                pa.Table.from_pylist(self.filings, schema=FILINGS.schema))


def rows_by_window(labels: pa.Table) -> dict[tuple, dict]:
    return {(r["company_id"], r["window_start"], r["window_end"]): r for r in labels.to_pylist()}


def years_between(a: date, b: date) -> float:
    return (b - a).days / 365.25


def test_prior_year_columns_are_observations_dated_by_their_first_filing():
    b = Book()
    b.filing("k21", "A", date(2022, 2, 15))
    b.duration("k21", "us-gaap:Revenues", 2021, 100.0)
    b.duration("k21", "us-gaap:Revenues", 2020, 80.0)      # prior-year column
    b.filing("k22", "A", date(2023, 2, 15))
    b.duration("k22", "us-gaap:Revenues", 2022, 121.0)
    b.duration("k22", "us-gaap:Revenues", 2021, 100.0)
    ls = label_set(*b.tables(), SMALL)
    obs = {r["period_end"]: r for r in ls.observations.to_pylist()}
    assert obs[date(2020, 12, 31)]["known_at"] == date(2022, 2, 15)
    assert obs[date(2021, 12, 31)]["known_at"] == date(2022, 2, 15)   # earliest of two reports
    assert obs[date(2021, 12, 31)]["n_reports"] == 2
    got = rows_by_window(ls.labels)
    e20, e21, e22 = date(2020, 12, 31), date(2021, 12, 31), date(2022, 12, 31)
    assert set(got) == {("A", e20, e21), ("A", e21, e22), ("A", e20, e22)}
    assert got[("A", e20, e21)]["growth"] == pytest.approx(math.log(100 / 80) / years_between(e20, e21))
    assert got[("A", e20, e21)]["known_at"] == date(2022, 2, 15)
    assert got[("A", e21, e22)]["known_at"] == date(2023, 2, 15)
    assert got[("A", e20, e22)]["growth"] == pytest.approx(math.log(121 / 80) / years_between(e20, e22))
    assert all(r["n_metrics"] == 1 for r in got.values())
    assert ls.labels.schema == GROWTH.schema
    assert sorted(window_years(ls.labels).tolist()) == [1, 1, 2]


def test_restatement_keeps_the_earliest_known_value():
    b = Book()
    b.filing("k21", "A", date(2022, 2, 15))
    b.duration("k21", "us-gaap:Revenues", 2021, 100.0)
    b.duration("k21", "us-gaap:Revenues", 2020, 50.0)
    b.filing("k22", "A", date(2023, 2, 15))
    b.duration("k22", "us-gaap:Revenues", 2022, 130.0)
    b.duration("k22", "us-gaap:Revenues", 2021, 110.0)    # restated up: the market knew 100
    ls = label_set(*b.tables(), SMALL)
    e21, e22 = date(2021, 12, 31), date(2022, 12, 31)
    row = rows_by_window(ls.labels)[("A", e21, e22)]
    assert row["growth"] == pytest.approx(math.log(130 / 100) / years_between(e21, e22))
    restated = [r for r in ls.observations.to_pylist() if r["restated"]]
    assert [r["period_end"] for r in restated] == [e21] and restated[0]["value"] == 100.0
    assert ls.stats["restated"] == 1


def test_weights_missing_metrics_and_known_at_is_the_latest_public_date():
    b = Book()
    b.filing("k21", "A", date(2022, 3, 1))
    b.duration("k21", "us-gaap:Revenues", 2021, 200.0)
    b.instant("k21", "us-gaap:Assets", date(2021, 12, 31), 1000.0)
    b.duration("k21", "core:AverageNumberEmployeesDuringPeriod", 2021, 10.0, unit="pure")
    b.filing("k22", "A", date(2023, 3, 1))
    b.duration("k22", "us-gaap:Revenues", 2022, 220.0)
    # employees not reported for 2022: the metric is missing at the end
    b.filing("k22a", "A", date(2023, 5, 10), form="10-K/A")   # the first to show 2022 assets
    b.instant("k22a", "us-gaap:Assets", date(2022, 12, 31), 900.0)
    ls = label_set(*b.tables(), SMALL)
    e21, e22 = date(2021, 12, 31), date(2022, 12, 31)
    row = rows_by_window(ls.labels)[("A", e21, e22)]
    t = years_between(e21, e22)
    expect = (2.0 * math.log(220 / 200) / t + 1.0 * math.log(900 / 1000) / t) / 3.0
    assert row["growth"] == pytest.approx(expect)
    assert row["n_metrics"] == 2
    assert row["known_at"] == date(2023, 5, 10)
    assert ls.metric_coverage() == {"revenue": 1, "total_assets": 1, "employees": 0, "operating_income": 0}


def test_growth_is_clipped_per_metric_and_method_names_the_clip():
    b = Book()
    b.filing("k", "A", date(2022, 2, 1))
    b.duration("k", "us-gaap:Revenues", 2021, 1000.0)
    b.duration("k", "us-gaap:Revenues", 2020, 100.0)         # ln 10 = 2.30 per year
    b.instant("k", "us-gaap:Assets", date(2021, 12, 31), 110.0)
    b.instant("k", "us-gaap:Assets", date(2020, 12, 31), 100.0)
    facts, filings = b.tables()
    e20, e21 = date(2020, 12, 31), date(2021, 12, 31)
    t = years_between(e20, e21)
    clipped = label_set(facts, filings, SMALL)
    row = rows_by_window(clipped.labels)[("A", e20, e21)]
    assert row["growth"] == pytest.approx((2.0 * 1.0 + math.log(1.1) / t) / 3.0)
    assert clipped.stats["clipped"] == 1
    wide = LabelConfig(metrics=SMALL.metrics, years=(1,), clip=3.0)
    row = rows_by_window(label_set(facts, filings, wide).labels)[("A", e20, e21)]
    assert row["growth"] == pytest.approx((2.0 * math.log(10) / t + math.log(1.1) / t) / 3.0)
    assert row["method"].endswith("-clip3.0") and row["method"] != rows_by_window(clipped.labels)[
        ("A", e20, e21)]["method"]
    assert LabelConfig().method == "wlog-v1-clip1.0"
    assert SMALL.method.startswith("wlog-c") and SMALL.method.endswith("-clip1.0")


def test_nonpositive_values_are_skipped_and_counted():
    b = Book()
    b.filing("k", "A", date(2022, 2, 1))
    b.duration("k", "us-gaap:Revenues", 2021, 150.0)
    b.duration("k", "us-gaap:Revenues", 2020, 100.0)
    b.duration("k", "us-gaap:OperatingIncomeLoss", 2021, 20.0)
    b.duration("k", "us-gaap:OperatingIncomeLoss", 2020, -5.0)    # a loss cannot be log-grown
    b.filing("kb", "B", date(2022, 2, 1))
    b.duration("kb", "us-gaap:OperatingIncomeLoss", 2021, -1.0)
    b.duration("kb", "us-gaap:OperatingIncomeLoss", 2020, 3.0)
    ls = label_set(*b.tables(), SMALL)
    got = rows_by_window(ls.labels)
    e20, e21 = date(2020, 12, 31), date(2021, 12, 31)
    assert got[("A", e20, e21)]["n_metrics"] == 1
    assert got[("A", e20, e21)]["growth"] == pytest.approx(math.log(1.5) / years_between(e20, e21))
    assert ("B", e20, e21) not in got                    # its only metric is unusable
    assert ls.stats["nonpositive"] == 2
    assert ls.stats["windows_without_metrics"] == 1


def test_first_alternative_present_at_both_ends_wins():
    b = Book()
    b.filing("k", "A", date(2022, 2, 1))
    b.duration("k", "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax", 2021, 120.0)
    b.duration("k", "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax", 2020, 100.0)
    b.duration("k", "us-gaap:Revenues", 2021, 500.0)     # first choice, but only at one end
    ls = label_set(*b.tables(), SMALL)
    e20, e21 = date(2020, 12, 31), date(2021, 12, 31)
    assert rows_by_window(ls.labels)[("A", e20, e21)]["growth"] == pytest.approx(
        math.log(1.2) / years_between(e20, e21))
    assert ls.details["concept"].to_pylist() == ["us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax"]
    b.duration("k", "us-gaap:Revenues", 2020, 400.0)
    ls = label_set(*b.tables(), SMALL)
    assert rows_by_window(ls.labels)[("A", e20, e21)]["growth"] == pytest.approx(
        math.log(500 / 400) / years_between(e20, e21))


def test_dimensional_quarterly_and_interim_facts_are_left_out():
    b = Book()
    b.filing("k", "A", date(2022, 2, 1))
    b.duration("k", "us-gaap:Revenues", 2021, 120.0)
    b.duration("k", "us-gaap:Revenues", 2020, 100.0)
    b.duration("k", "us-gaap:Revenues", 2021, 999.0, dims='{"us-gaap:StatementBusinessSegmentsAxis":"x:Cloud"}')
    b.duration("k", "us-gaap:Revenues", 2021, 30.0, days=90)           # a quarter
    # 10-Q balance sheets at quarter ends a year apart anchor no window
    b.filing("q1", "A", date(2022, 5, 1), form="10-Q")
    b.instant("q1", "us-gaap:Assets", date(2022, 3, 31), 70.0)
    b.filing("q2", "A", date(2023, 5, 1), form="10-Q")
    b.instant("q2", "us-gaap:Assets", date(2023, 3, 31), 90.0)
    ls = label_set(*b.tables(), SMALL)
    assert [(r["window_start"], r["window_end"]) for r in ls.labels.to_pylist()] == [
        (date(2020, 12, 31), date(2021, 12, 31))]
    assert ls.labels["n_metrics"].to_pylist() == [1]
    assert ls.stats["dimensional"] == 1
    assert ls.stats["not_annual"] == 1
    assert ls.stats["off_year_end"] == 2


def test_window_lengths_and_tolerance():
    b = Book()
    b.filing("k", "A", date(2024, 2, 1))
    for y, v in ((2019, 100.0), (2021, 130.0), (2023, 180.0)):
        b.duration("k", "us-gaap:Revenues", y, v)
    b.filing("k2", "B", date(2024, 2, 1))
    b.instant("k2", "us-gaap:Assets", date(2022, 1, 1), 10.0)
    b.instant("k2", "us-gaap:Assets", date(2023, 2, 25), 12.0)   # 420 days: not a 1-year window
    facts, filings = b.tables()
    ls = label_set(facts, filings, LabelConfig(metrics=SMALL.metrics, years=(2,)))
    assert sorted(window_years(ls.labels).tolist()) == [2, 2]
    assert set(ls.labels["company_id"].to_pylist()) == {"A"}
    ls4 = label_set(facts, filings, LabelConfig(metrics=SMALL.metrics, years=(1, 4)))
    assert window_years(ls4.labels).tolist() == [4]
    wide = label_set(facts, filings, LabelConfig(metrics=SMALL.metrics, years=(1,), tolerance_days=60))
    assert wide.labels["company_id"].to_pylist() == ["B"]


def test_uk_prefix_aliases_and_default_metrics_on_accounts():
    assert canonical_concept("uk-core:Equity") == "core:Equity"
    assert canonical_concept("frs-core:Equity") == "core:Equity"
    assert canonical_concept("us-gaap:Assets") == "us-gaap:Assets"
    b = Book()
    fid = b.filing("aa", "01234567", date(2023, 3, 2), form="AA", source="companies_house")
    cy, py = date(2022, 12, 31), date(2021, 12, 31)
    b.instant(fid, "frs-core:Equity", cy, 330.0, unit="GBP")
    b.instant(fid, "frs-core:Equity", py, 300.0, unit="GBP")
    b.instant(fid, "frs-core:CurrentAssets", cy, 90.0, unit="GBP")
    b.instant(fid, "frs-core:CurrentAssets", py, 100.0, unit="GBP")
    b.duration(fid, "frs-core:AverageNumberEmployeesDuringPeriod", 2022, 4.0, unit="pure")
    ls = label_set(*b.tables())          # the default metric set
    row = rows_by_window(ls.labels)[("01234567", py, cy)]
    t = years_between(py, cy)
    assert row["growth"] == pytest.approx((1.0 * math.log(1.1) + 0.5 * math.log(0.9)) / t / 1.5)
    assert row["n_metrics"] == 2 and row["known_at"] == date(2023, 3, 2)
    assert row["method"] == "wlog-v1-clip1.0"


def test_config_errors_say_what_to_fix():
    with pytest.raises(ValueError, match="listed by metrics"):
        LabelConfig(metrics=(REV, Metric("sales", ("us-gaap:Revenues",), 1.0, "duration")))
    with pytest.raises(ValueError, match="whole numbers of years"):
        LabelConfig(years=(0,))
    with pytest.raises(ValueError, match="kind must be"):
        Metric("x", ("us-gaap:X",), 1.0, "quarterly")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lacks columns"):
        observations(pa.table({"filing_id": ["a"]}), Book().tables()[1])
    assert len({m.name for m in DEFAULT_METRICS}) == len(DEFAULT_METRICS)


def test_facts_features_use_only_what_was_public_by_as_of():
    b = Book()
    b.filing("k21", "A", date(2022, 2, 15))
    b.duration("k21", "us-gaap:Revenues", 2021, 200.0)
    b.duration("k21", "us-gaap:Revenues", 2020, 100.0)
    b.duration("k21", "us-gaap:OperatingIncomeLoss", 2021, -20.0)    # signed: margins may be negative
    b.instant("k21", "us-gaap:Assets", date(2021, 12, 31), 400.0)
    b.filing("k22", "A", date(2023, 2, 15))
    b.duration("k22", "us-gaap:Revenues", 2022, 300.0)
    obs = observations(*b.tables(), SMALL)
    f = facts_features(obs, ["A", "A", "A", "Z"],
                       [date(2022, 1, 1), date(2022, 2, 15), date(2024, 1, 1), date(2024, 1, 1)], config=SMALL)
    col = {n: f.X[:, i] for i, n in enumerate(f.names)}
    assert np.isnan(f.X[0]).all() and np.isnan(f.X[3]).all()       # nothing public yet / unknown company
    t = years_between(date(2020, 12, 31), date(2021, 12, 31))
    assert col["log_revenue"][1] == pytest.approx(math.log(200))
    assert col["revenue_growth"][1] == pytest.approx(math.log(2) / t)
    assert col["operating_margin"][1] == pytest.approx(-0.1)
    assert col["log_total_assets"][1] == pytest.approx(math.log(400))
    assert col["log_revenue"][2] == pytest.approx(math.log(300))
    assert np.isnan(col["operating_margin"][2])                   # no 2022 operating income
    assert np.isnan(col["log_employees"]).all()
    # a window starting at the end of 2021 sees 2021 figures only, even when asked in 2024
    upto = facts_features(obs, ["A"], [date(2024, 1, 1)], up_to=[date(2021, 12, 31)], config=SMALL)
    assert upto.X[0, 0] == pytest.approx(math.log(200))


def test_period_known_at_is_the_first_filing_showing_the_period():
    b = Book()
    b.filing("k22", "A", date(2023, 2, 15))
    b.duration("k22", "us-gaap:Revenues", 2022, 300.0)
    b.duration("k22", "us-gaap:Revenues", 2021, 200.0)     # backfilled from the 2022 report
    b.filing("k21", "A", date(2022, 2, 20))
    b.instant("k21", "us-gaap:Assets", date(2021, 12, 31), 400.0)
    obs = observations(*b.tables(), SMALL)
    got = period_known_at(obs, ["A", "A", "A"], [date(2021, 12, 31), date(2022, 12, 31), date(2020, 12, 31)])
    assert got.tolist()[:2] == [date(2022, 2, 20), date(2023, 2, 15)]
    assert np.isnat(got[2])


def _store_with(tmp_path, b: Book) -> Store:
    store = Store(tmp_path / "store", create=True)
    facts, filings = b.tables()
    store.upsert(FILINGS, filings)
    store.upsert(FACTS, facts)
    return store


def _two_company_book() -> Book:
    b = Book()
    for company, base in (("0000000001", 100.0), ("0000000002", 50.0)):
        for y in (2021, 2022, 2023):
            fid = b.filing(f"{company}-{y}", company, date(y + 1, 2, 20))
            b.duration(fid, "us-gaap:Revenues", y, base * 1.1 ** (y - 2020))
            b.duration(fid, "us-gaap:Revenues", y - 1, base * 1.1 ** (y - 2021))
            b.instant(fid, "us-gaap:StockholdersEquity", date(y, 12, 31), base * 3)
            b.instant(fid, "us-gaap:StockholdersEquity", date(y - 1, 12, 31), base * 3)
            b.instant(fid, "us-gaap:Assets", date(y, 12, 31), base, dims='{"a:Axis":"a:M"}')
    return b


def test_labels_from_store_match_the_pure_computation(tmp_path):
    b = _two_company_book()
    store = _store_with(tmp_path, b)
    got = labels_from_store(store)
    want = label_set(*b.tables()).labels
    assert got.equals(want)
    one_year = [r for r in got.to_pylist() if (r["window_end"] - r["window_start"]).days < 400]
    assert len(one_year) == 2 * 3
    for r in one_year:     # revenue +10%/yr (weight 2), equity flat (weight 1)
        t = years_between(r["window_start"], r["window_end"])
        assert r["growth"] == pytest.approx(2 * math.log(1.1) / t / 3)


def test_labels_job_writes_idempotently_and_prints_a_summary(tmp_path, capsys):
    store = _store_with(tmp_path, _two_company_book())
    argv = ["--store", str(store.path), "--years", "1", "2"]
    assert labels_job.main(argv) == 0
    first = store.read(GROWTH)
    assert labels_job.main(argv) == 0
    again = store.read(GROWTH)
    assert first.num_rows == 2 * (3 + 2) == again.num_rows
    key = ["company_id", "window_start", "window_end"]
    assert first.sort_by([(k, "ascending") for k in key]).equals(again.sort_by([(k, "ascending") for k in key]))
    out = capsys.readouterr().out
    assert "wlog-v1-clip1.0" in out and "metric coverage" in out and "revenue 10 (100%)" in out
    assert labels_job.main(argv + ["--clip", "0.5"]) == 0          # another method sits beside
    assert set(store.read(GROWTH)["method"].to_pylist()) == {"wlog-v1-clip1.0", "wlog-v1-clip0.5"}
    assert labels_job.main(["--store", str(tmp_path / "missing")]) == 2


def test_labels_on_one_metric_get_their_own_method_and_values(tmp_path, capsys):
    store = _store_with(tmp_path, _two_company_book())
    assert select_metrics(None) == DEFAULT_METRICS
    assert [m.name for m in select_metrics(["equity", "revenue"])] == ["revenue", "equity"]   # default order
    with pytest.raises(ValueError, match="unknown growth metric.*'sales'.*revenue"):
        select_metrics(["sales"])
    assert labels_job.main(["--store", str(store.path), "--years", "1", "--metrics", "revenue"]) == 0
    rows = store.read(GROWTH).to_pylist()
    (method,) = {r["method"] for r in rows}
    assert method.startswith("wlog-c") and method == LabelConfig(metrics=select_metrics(["revenue"])).method
    for r in rows:     # revenue alone: +10%/yr, no longer averaged with the flat equity
        assert r["growth"] == pytest.approx(math.log(1.1) / years_between(r["window_start"], r["window_end"]))
        assert r["n_metrics"] == 1
    with pytest.raises(SystemExit):
        labels_job.main(["--store", str(store.path), "--metrics", "sales"])
    assert "unknown growth metric" in capsys.readouterr().err
