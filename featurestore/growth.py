"""Growth labels from inline-XBRL facts: weighted, annualised log growth per company and window.

A label says how fast a company grew between two fiscal period ends, from the
numbers it filed itself. Pure logic: `facts` and `filings` Arrow tables in, a
`growth`-schema Arrow table out, computed with numpy, pyarrow and an in-memory
DuckDB; only `labels_from_store` reads a store, and `jobs/labels.py` writes.

Design choices:
- Metrics are a weighted, versioned list (`Metric`). Each metric lists
  alternative concepts in order of preference; within one window the first
  alternative that has a usable value at *both* ends wins, so a growth rate
  never compares two different concepts (e.g. `Revenues` against
  `RevenueFromContractWithCustomer...`). Companies House accounts often omit the
  income statement, so the defaults add UK balance-sheet and headcount concepts.
- UK filers choose their own namespace prefix for the FRC core taxonomy
  (`core:`, `uk-core:`, `frs-core:` all occur in the real bulk data); they are
  aliases of one concept (`PREFIX_ALIASES`).
- Observations are dimensionless facts (no axis/member: the consolidated
  total) for annual periods only: durations of 300-400 days, and instants on a
  fiscal year end (an instant reported in an annual filing, or on the end date
  of an annual duration). A 10-Q's quarter-end balance sheet therefore never
  anchors a window.
- Every observation is dated by when it became public: the earliest `filed_at`
  among the filings that report it, so a 10-K's prior-year columns are
  observations too, dated by that 10-K when it is the first to show them.
- Restatements: the earliest-known value is kept (what the market knew at the
  time); later different values only mark the observation `restated`. Labels
  are thereby point-in-time: recomputing them after a restatement does not
  leak the corrected figure into history.
- Values <= 0 cannot be log-grown (losses, negative equity): such
  observations are skipped for labels and counted (`stats["nonpositive"]`).
- Windows are anchored on fiscal period ends: the value at one period end
  against the value at a later period end k years on (k in `years`, within
  +-`tolerance_days`). Growth is annualised by the exact elapsed time
  (days / 365.25, so 52/53-week years are fair), clipped to +-`clip` per metric
  (1.0 ~ +-172 %/yr: one tiny base year must not dominate), then averaged with
  the metric weights over the metrics present at both ends. `known_at` is the
  latest public date among the observations used: the label is not knowable
  before it.
- `method` names the label definition: `wlog-<metric set>-clip<clip>`; the
  metric set is `v1` for the defaults and a content hash otherwise, so labels
  of different definitions never overwrite each other in the store.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import duckdb
import numpy as np
import pyarrow as pa

from featurestore.schemas import FACTS, FILINGS, GROWTH

if TYPE_CHECKING:  # the store is only needed by labels_from_store
    from featurestore.store import Store

DAYS_PER_YEAR = 365.25
MetricKind = Literal["duration", "instant"]


@dataclass(frozen=True)
class Metric:
    """One growth metric: alternative XBRL concepts (first found wins), a weight, a period kind."""
    name: str
    concepts: tuple[str, ...]
    weight: float
    kind: MetricKind

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Metric.name must be a non-empty string")
        if isinstance(self.concepts, str) or not self.concepts:
            raise ValueError(f"metric {self.name!r}: concepts must be a non-empty tuple of "
                             f"'prefix:Name' strings, got {self.concepts!r}")
        bad = [c for c in self.concepts if not isinstance(c, str) or ":" not in c]
        if bad:
            raise ValueError(f"metric {self.name!r}: concepts {bad} are not 'prefix:Name' strings "
                             f"(e.g. 'us-gaap:Revenues')")
        if not (isinstance(self.weight, (int, float)) and math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"metric {self.name!r}: weight must be a positive number, got {self.weight!r}")
        if self.kind not in ("duration", "instant"):
            raise ValueError(f"metric {self.name!r}: kind must be 'duration' or 'instant', got {self.kind!r}")


# The FRC core taxonomy's concepts appear under whatever prefix a filer
# declared; the canonical spelling in metric lists is `core:`.
PREFIX_ALIASES: dict[str, tuple[str, ...]] = {
    "core": ("core", "uk-core", "frs-core"),
    "bus": ("bus", "uk-bus", "frs-bus"),
}

DEFAULT_METRICS: tuple[Metric, ...] = (
    Metric("revenue", (
        "us-gaap:Revenues",
        "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax",
        "us-gaap:RevenueFromContractWithCustomerIncludingAssessedTax",
        "us-gaap:SalesRevenueNet",
        "us-gaap:SalesRevenueGoodsNet",
        "core:TurnoverRevenue",
        "uk-gaap:TurnoverRevenue",
        "uk-gaap:TurnoverGrossOperatingRevenue",
    ), 2.0, "duration"),
    Metric("operating_income", (
        "us-gaap:OperatingIncomeLoss",
        "core:OperatingProfitLoss",
        "uk-gaap:OperatingProfitLoss",
    ), 1.0, "duration"),
    # UK small and micro accounts have no "total assets" line; total assets less
    # current liabilities is the size measure they do file.
    Metric("total_assets", (
        "us-gaap:Assets",
        "core:TotalAssetsLessCurrentLiabilities",
        "uk-gaap:TotalAssetsLessCurrentLiabilities",
    ), 1.0, "instant"),
    Metric("equity", (
        "us-gaap:StockholdersEquity",
        "us-gaap:StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest",
        "core:Equity",
        "core:NetAssetsLiabilities",
        "uk-gaap:ShareholderFunds",
        "uk-gaap:NetAssetsLiabilitiesIncludingPensionAssetLiability",
    ), 1.0, "instant"),
    Metric("employees", (
        "core:AverageNumberEmployeesDuringPeriod",
        "uk-gaap:AverageNumberEmployeesDuringPeriod",
    ), 0.5, "duration"),
    Metric("current_assets", (
        "us-gaap:AssetsCurrent",
        "core:CurrentAssets",
        "uk-gaap:CurrentAssets",
    ), 0.5, "instant"),
    Metric("current_liabilities", (
        "us-gaap:LiabilitiesCurrent",
        "core:Creditors",
        "uk-gaap:CreditorsDueWithinOneYear",
    ), 0.5, "instant"),
)
DEFAULT_METRIC_SET = "v1"


def select_metrics(names: Sequence[str] | None) -> tuple[Metric, ...]:
    """The default metrics named in `names`, in the default order (all of them for None or empty).

    A label on one metric is what a study of that metric wants (e.g. revenue growth alone, where the
    weighted mix would blend it with independent balance-sheet growth); its `method` gets its own hash.
    """
    if not names:
        return DEFAULT_METRICS
    known = {m.name: m for m in DEFAULT_METRICS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown growth metric(s) {unknown}; choose from {list(known)}")
    return tuple(m for m in DEFAULT_METRICS if m.name in set(names))

# Forms whose every instant is a fiscal-year-end balance (amendments included).
ANNUAL_FORMS: tuple[str, ...] = ("10-K", "10-K405", "10-KT", "10-KSB", "20-F", "40-F", "AA")
ANNUAL_SOURCES: tuple[str, ...] = ("companies_house",)


@dataclass(frozen=True)
class LabelConfig:
    """What a growth label is; `method` names it in the store."""
    metrics: tuple[Metric, ...] = DEFAULT_METRICS
    years: tuple[int, ...] = (1, 2, 3, 4, 5)
    clip: float = 1.0
    tolerance_days: int = 45
    min_duration_days: int = 300
    max_duration_days: int = 400

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError("LabelConfig.metrics is empty; give at least one Metric")
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"LabelConfig.metrics: metric names repeat in {names}; name each once")
        seen: dict[str, str] = {}
        for m in self.metrics:
            for c in m.concepts:
                canon = canonical_concept(c)
                if canon in seen:
                    raise ValueError(f"concept {c!r} is listed by metrics {seen[canon]!r} and {m.name!r}; "
                                     f"a fact may count towards one metric only")
                seen[canon] = m.name
        if not self.years or any(not isinstance(k, int) or k < 1 for k in self.years):
            raise ValueError(f"LabelConfig.years must be whole numbers of years >= 1, got {self.years!r}")
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"LabelConfig.clip must be a positive number (annual log growth), got {self.clip!r}")
        if not 0 <= self.tolerance_days < 183:
            raise ValueError(f"LabelConfig.tolerance_days must be in 0..182 (half a year would let "
                             f"window lengths overlap), got {self.tolerance_days!r}")
        if not 0 < self.min_duration_days <= self.max_duration_days:
            raise ValueError(f"annual duration bounds must satisfy 0 < min <= max, got "
                             f"{self.min_duration_days}..{self.max_duration_days} days")

    @property
    def metric_set(self) -> str:
        """`v1` for the default definition, else a short hash of what changes label values."""
        spec = (self.metrics, self.tolerance_days, self.min_duration_days, self.max_duration_days)
        if spec == (DEFAULT_METRICS, 45, 300, 400):
            return DEFAULT_METRIC_SET
        return "c" + hashlib.sha1(repr(spec).encode()).hexdigest()[:8]

    @property
    def method(self) -> str:
        return f"wlog-{self.metric_set}-clip{float(self.clip)}"


def canonical_concept(concept: str) -> str:
    """`uk-core:Equity` -> `core:Equity`; other concepts unchanged."""
    prefix, _, local = concept.partition(":")
    for canon, aliases in PREFIX_ALIASES.items():
        if prefix in aliases:
            return f"{canon}:{local}"
    return concept


def _concept_table(metrics: Sequence[Metric]) -> pa.Table:
    """One row per spelling a fact may carry: metric, kind, weight, rank, canonical concept."""
    rows: dict[str, list] = {k: [] for k in ("metric", "kind", "weight", "rank", "concept", "fact_concept")}
    for m in metrics:
        for rank, c in enumerate(m.concepts):
            canon = canonical_concept(c)
            prefix, _, local = canon.partition(":")
            spellings = [f"{p}:{local}" for p in PREFIX_ALIASES.get(prefix, (prefix,))]
            for s in spellings:
                for k, v in zip(rows, (m.name, m.kind, float(m.weight), rank, canon, s)):
                    rows[k].append(v)
    return pa.table({
        "metric": pa.array(rows["metric"], pa.string()), "kind": pa.array(rows["kind"], pa.string()),
        "weight": pa.array(rows["weight"], pa.float64()), "rank": pa.array(rows["rank"], pa.int32()),
        "concept": pa.array(rows["concept"], pa.string()),
        "fact_concept": pa.array(rows["fact_concept"], pa.string()),
    })


def _require(name: str, t: pa.Table, columns: Sequence[str]) -> None:
    if not isinstance(t, pa.Table):
        raise TypeError(f"{name} must be a pyarrow.Table, got {type(t).__name__}")
    missing = [c for c in columns if c not in t.column_names]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; read it with the store schema "
                         f"(it has {t.column_names})")


FACT_COLUMNS = ("filing_id", "fact_id", "concept", "value", "unit", "period_start", "period_end", "dimensions")
FILING_COLUMNS = ("filing_id", "company_id", "form", "source", "filed_at")

OBSERVATION_SCHEMA = pa.schema([
    ("company_id", pa.string()),
    ("metric", pa.string()),
    ("concept", pa.string()),        # canonical spelling
    ("rank", pa.int32()),            # position among the metric's alternatives
    ("unit", pa.string()),
    ("period_start", pa.date32()),   # null for instants
    ("period_end", pa.date32()),
    ("value", pa.float64()),         # the earliest-known value, signed
    ("known_at", pa.date32()),       # earliest filed_at among filings reporting it
    ("filing_id", pa.string()),      # that earliest filing
    ("n_reports", pa.int32()),       # facts (across filings) reporting this observation
    ("restated", pa.bool_()),        # a later or other report gave a different value
])

DETAIL_SCHEMA = pa.schema([
    ("company_id", pa.string()),
    ("window_start", pa.date32()),
    ("window_end", pa.date32()),
    ("metric", pa.string()),
    ("concept", pa.string()),
    ("weight", pa.float64()),
    ("value_start", pa.float64()),
    ("value_end", pa.float64()),
    ("years", pa.float64()),         # elapsed time, days / 365.25
    ("growth_raw", pa.float64()),    # ln(end / start) / years
    ("growth", pa.float64()),        # clipped
    ("known_at", pa.date32()),
])


@dataclass
class Observations:
    """Earliest-known annual observations, with counts of what was left out and why."""
    table: pa.Table
    stats: dict[str, int] = field(default_factory=dict)


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def observations(facts: pa.Table, filings: pa.Table,
                 config: LabelConfig = LabelConfig()) -> Observations:
    """Annual, dimensionless, earliest-known observations of the metrics' concepts.

    `facts` needs the `facts` columns `FACT_COLUMNS`, `filings` the columns
    `FILING_COLUMNS` (other columns are ignored). Values keep their sign here
    (features need negative margins); labels skip values <= 0.
    """
    _require("facts", facts, FACT_COLUMNS)
    _require("filings", filings, FILING_COLUMNS)
    facts = facts.select(list(FACT_COLUMNS)).cast(pa.schema([FACTS.schema.field(c) for c in FACT_COLUMNS]))
    filings = filings.select(list(FILING_COLUMNS)).cast(
        pa.schema([FILINGS.schema.field(c) for c in FILING_COLUMNS]))
    concepts = _concept_table(config.metrics)
    annual_forms = _sql_list(ANNUAL_FORMS)
    annual_sources = _sql_list(ANNUAL_SOURCES)
    con = duckdb.connect()
    try:
        con.register("facts_in", facts)
        con.register("filings_in", filings)
        con.register("concepts_in", concepts)
        con.execute(f"""
            CREATE TEMP TABLE base AS
            SELECT g.company_id, f.filing_id, f.fact_id, m.metric, m.kind, m.rank, m.concept, f.unit,
                   f.period_start, f.period_end, f.value, g.filed_at,
                   coalesce(trim(f.dimensions), '') IN ('', '{{}}') AS dimless,
                   (regexp_replace(upper(coalesce(g.form, '')), '/A$', '') IN ({annual_forms})
                    OR g.source IN ({annual_sources})) AS annual_filing,
                   CASE WHEN m.kind = 'duration' THEN
                        f.period_start IS NOT NULL
                        AND date_diff('day', f.period_start, f.period_end)
                            BETWEEN {int(config.min_duration_days)} AND {int(config.max_duration_days)}
                        ELSE f.period_start IS NULL END AS shape_ok
            FROM facts_in f
            JOIN concepts_in m ON f.concept = m.fact_concept
            LEFT JOIN filings_in g ON f.filing_id = g.filing_id
            WHERE f.value IS NOT NULL AND f.period_end IS NOT NULL
        """)
        con.execute("""
            CREATE TEMP TABLE kept AS SELECT * FROM base
            WHERE dimless AND shape_ok AND company_id IS NOT NULL AND filed_at IS NOT NULL
        """)
        # Fiscal year ends: annual durations' ends, and instants an annual filing reports.
        con.execute("""
            CREATE TEMP TABLE anchors AS
            SELECT DISTINCT company_id, period_end FROM kept WHERE kind = 'duration' OR annual_filing
        """)
        con.execute("""
            CREATE TEMP TABLE obs AS
            SELECT k.company_id, k.metric, k.concept, k.rank, k.unit, k.period_start, k.period_end,
                   k.value, k.filed_at AS known_at, k.filing_id, k.n_reports, k.restated, k.kind
            FROM (
                SELECT *,
                       row_number() OVER w AS nth,
                       count(*) OVER p AS n_reports,
                       (max(value) OVER p) <> (min(value) OVER p) AS restated
                FROM kept
                WINDOW p AS (PARTITION BY company_id, metric, concept, unit, period_end),
                       w AS (PARTITION BY company_id, metric, concept, unit, period_end
                             ORDER BY filed_at, filing_id, fact_id)
            ) k
            SEMI JOIN anchors a ON k.company_id = a.company_id AND k.period_end = a.period_end
            WHERE k.nth = 1
        """)
        stats = dict(zip(
            ("metric_facts", "dimensional", "not_annual", "undated", "kept_facts"),
            con.execute("""
                SELECT count(*),
                       count(*) FILTER (WHERE NOT dimless),
                       count(*) FILTER (WHERE dimless AND NOT shape_ok),
                       count(*) FILTER (WHERE dimless AND shape_ok
                                        AND (company_id IS NULL OR filed_at IS NULL)),
                       count(*) FILTER (WHERE dimless AND shape_ok
                                        AND company_id IS NOT NULL AND filed_at IS NOT NULL)
                FROM base""").fetchone()))
        n_obs, n_restated, n_nonpos = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE restated), count(*) FILTER (WHERE value <= 0) "
            "FROM obs").fetchone()
        # Instants of interim filings that fall on no fiscal year end.
        stats["off_year_end"] = stats["kept_facts"] - con.execute(
            "SELECT coalesce(sum(n_reports), 0) FROM obs").fetchone()[0]
        stats.update(observations=n_obs, restated=n_restated, nonpositive=n_nonpos)
        cols = ", ".join(OBSERVATION_SCHEMA.names)
        table = con.execute(f"SELECT {cols} FROM obs ORDER BY company_id, metric, period_end, rank, unit"
                            ).to_arrow_table()
    finally:
        con.close()
    return Observations(table.cast(OBSERVATION_SCHEMA), {k: int(v) for k, v in stats.items()})


@dataclass
class LabelSet:
    """Labels (`growth` schema), their per-metric details, the observations and counts."""
    labels: pa.Table
    details: pa.Table
    observations: pa.Table
    stats: dict[str, int]
    config: LabelConfig

    def metric_coverage(self) -> dict[str, int]:
        """Labels each metric contributes to, in the metric list's order."""
        counts = dict.fromkeys((m.name for m in self.config.metrics), 0)
        if self.details.num_rows:
            for name, n in zip(*np.unique(np.asarray(self.details["metric"]), return_counts=True)):
                counts[str(name)] = int(n)
        return counts


def growth_labels(obs: Observations | pa.Table, config: LabelConfig = LabelConfig()) -> LabelSet:
    """Weighted, clipped, annualised log growth for every company and window (see module doc)."""
    obs_table = obs.table if isinstance(obs, Observations) else obs
    stats = dict(obs.stats) if isinstance(obs, Observations) else {}
    _require("observations", obs_table, OBSERVATION_SCHEMA.names)
    metrics = pa.table({
        "metric": pa.array([m.name for m in config.metrics], pa.string()),
        "weight": pa.array([float(m.weight) for m in config.metrics], pa.float64()),
    })
    years = pa.table({"k": pa.array(sorted(set(config.years)), pa.int32())})
    clip, tol = float(config.clip), int(config.tolerance_days)
    con = duckdb.connect()
    try:
        con.register("obs_in", obs_table)
        con.register("metrics_in", metrics)
        con.register("years_in", years)
        # Windows join two fiscal year ends of a company k years (+-tol) apart.
        con.execute(f"""
            CREATE TEMP TABLE anchors AS SELECT DISTINCT company_id, period_end FROM obs_in;
            CREATE TEMP TABLE windows AS
            SELECT a.company_id, a.period_end AS window_start, b.period_end AS window_end,
                   date_diff('day', a.period_end, b.period_end) / {DAYS_PER_YEAR} AS years
            FROM anchors a JOIN anchors b ON a.company_id = b.company_id AND b.period_end > a.period_end
            SEMI JOIN years_in y
                ON abs(date_diff('day', a.period_end, b.period_end) - y.k * {DAYS_PER_YEAR}) <= {tol}
        """)
        con.execute(f"""
            CREATE TEMP TABLE details AS
            SELECT w.company_id, w.window_start, w.window_end, s.metric, s.concept, m.weight,
                   s.value AS value_start, e.value AS value_end, w.years,
                   ln(e.value / s.value) / w.years AS growth_raw,
                   least(greatest(ln(e.value / s.value) / w.years, -{clip}), {clip}) AS growth,
                   greatest(s.known_at, e.known_at) AS known_at
            FROM windows w
            JOIN obs_in s ON s.company_id = w.company_id AND s.period_end = w.window_start
            JOIN obs_in e ON e.company_id = w.company_id AND e.period_end = w.window_end
                         AND e.metric = s.metric AND e.concept = s.concept
                         AND e.unit IS NOT DISTINCT FROM s.unit
            JOIN metrics_in m ON m.metric = s.metric
            WHERE s.value > 0 AND e.value > 0
            -- the metric's first alternative usable at both ends wins
            QUALIFY row_number() OVER (PARTITION BY w.company_id, w.window_start, w.window_end, s.metric
                                       ORDER BY s.rank, s.unit) = 1
        """)
        labels = con.execute(f"""
            SELECT company_id, window_start, window_end,
                   sum(weight * growth) / sum(weight) AS growth,
                   count(*)::INTEGER AS n_metrics,
                   '{config.method}' AS method,
                   max(known_at) AS known_at
            FROM details GROUP BY ALL ORDER BY company_id, window_start, window_end
        """).to_arrow_table()
        details = con.execute(
            f"SELECT {', '.join(DETAIL_SCHEMA.names)} FROM details "
            f"ORDER BY company_id, window_start, window_end, metric").to_arrow_table()
        stats["windows"] = con.execute("SELECT count(*) FROM windows").fetchone()[0]
        stats["clipped"] = con.execute(
            "SELECT count(*) FROM details WHERE growth <> growth_raw").fetchone()[0]
    finally:
        con.close()
    stats["labels"] = labels.num_rows
    stats["windows_without_metrics"] = stats["windows"] - labels.num_rows
    return LabelSet(labels.cast(GROWTH.schema), details.cast(DETAIL_SCHEMA), obs_table,
                    {k: int(v) for k, v in stats.items()}, config)


def label_set(facts: pa.Table, filings: pa.Table, config: LabelConfig = LabelConfig()) -> LabelSet:
    """Observations, then labels: the whole pure computation."""
    return growth_labels(observations(facts, filings, config), config)


def read_label_inputs(store: Store, config: LabelConfig = LabelConfig()) -> tuple[pa.Table, pa.Table]:
    """The `facts` rows of the metrics' concepts (every prefix spelling) and the `filings` rows."""
    spellings = _concept_table(config.metrics)["fact_concept"].to_pylist()
    marks = ", ".join("?" for _ in spellings)
    facts = store.read(FACTS, list(FACT_COLUMNS), where=f"concept IN ({marks})", params=spellings)
    filings = store.read(FILINGS, list(FILING_COLUMNS))
    return facts, filings


def label_set_from_store(store: Store, config: LabelConfig = LabelConfig()) -> LabelSet:
    facts, filings = read_label_inputs(store, config)
    return label_set(facts, filings, config)


def labels_from_store(store: Store, config: LabelConfig = LabelConfig()) -> pa.Table:
    """The store's growth labels as a `growth`-schema Arrow table (not written)."""
    return label_set_from_store(store, config).labels


def period_known_at(obs: Observations | pa.Table, company_ids: Sequence[str], period_ends: Sequence) -> np.ndarray:
    """When each (company, fiscal period end) first became public: the earliest `known_at` of its
    observations (usually the filing date of that period's annual report); NaT if never seen.

    Use it as the `as_of` of a window's features: `period_known_at(obs, ids, window_start)`.
    """
    obs_table = obs.table if isinstance(obs, Observations) else obs
    _require("observations", obs_table, ("company_id", "period_end", "known_at"))
    ends = np.asarray(period_ends).astype("datetime64[D]")
    ids = list(company_ids)
    if len(ids) != len(ends):
        raise ValueError(f"period_known_at: {len(ids)} company_ids but {len(ends)} period ends")
    keys = pa.table({"row": pa.array(np.arange(len(ids)), pa.int64()), "company_id": pa.array(ids, pa.string()),
                     "period_end": pa.array(ends, pa.date32())})
    con = duckdb.connect()
    try:
        con.register("obs_in", obs_table)
        con.register("keys_in", keys)
        got = con.execute("""
            SELECT min(o.known_at) FROM keys_in k
            LEFT JOIN obs_in o ON o.company_id = k.company_id AND o.period_end = k.period_end
            GROUP BY k.row ORDER BY k.row""").to_arrow_table().column(0)
    finally:
        con.close()
    return np.asarray(got.cast(pa.date32())).astype("datetime64[D]")


def window_years(labels: pa.Table) -> np.ndarray:
    """Each label's nominal window length in whole years (elapsed days / 365.25, rounded)."""
    start = np.asarray(labels["window_start"]).astype("datetime64[D]")
    end = np.asarray(labels["window_end"]).astype("datetime64[D]")
    return np.rint((end - start).astype(np.int64) / DAYS_PER_YEAR).astype(np.int64)


# -- structured features for the facts-only baseline -----------------------------------

FEATURE_NAMES: tuple[str, ...] = (
    "log_revenue", "revenue_growth", "operating_margin", "log_total_assets", "equity_ratio",
    "log_employees",
)


@dataclass
class FactsFeatures:
    names: tuple[str, ...]
    X: np.ndarray                    # (rows, features), NaN where unknown


def facts_features(obs: Observations | pa.Table, company_ids: Sequence[str], as_of: Sequence,
                   up_to: Sequence | None = None, config: LabelConfig = LabelConfig()) -> FactsFeatures:
    """Point-in-time features from observations public on or before each row's `as_of` date
    (and, with `up_to`, for fiscal periods ending on or before that row's date).

    For row i: the latest revenue (log), its growth over the revenue about one
    year earlier (annualised log, clipped like labels), operating margin at that
    latest revenue period, the latest total assets (log), equity / total assets
    on that date, and the latest headcount (log). Unknown values are NaN;
    impute them in the model (see `regression.Imputed`). `as_of` is typically
    the filing date of the report a window starts from (its embedding's
    `filed_at`): nothing filed later can leak in. Pass `up_to` = the window
    start as well: a history backfilled from a later report's prior-year
    columns is public only after later periods are, and those must not leak
    into an earlier window's features either.
    """
    obs_table = obs.table if isinstance(obs, Observations) else obs
    _require("observations", obs_table, OBSERVATION_SCHEMA.names)
    ids = list(company_ids)
    dates = np.asarray(as_of).astype("datetime64[D]")
    if len(ids) != len(dates):
        raise ValueError(f"facts_features: {len(ids)} company_ids but {len(dates)} as_of dates; "
                         f"give one date per row")
    limits = dates if up_to is None else np.asarray(up_to).astype("datetime64[D]")
    if len(limits) != len(ids):
        raise ValueError(f"facts_features: {len(ids)} company_ids but {len(limits)} up_to dates")
    keys = pa.table({"row": pa.array(np.arange(len(ids)), pa.int64()),
                     "company_id": pa.array(ids, pa.string()),
                     "as_of": pa.array(dates, pa.date32()),
                     "up_to": pa.array(limits, pa.date32())})
    tol, clip = int(config.tolerance_days), float(config.clip)
    con = duckdb.connect()
    try:
        con.register("obs_in", obs_table)
        con.register("keys_in", keys)
        # Per row, metric and period: the best-ranked concept known by as_of.
        con.execute("""
            CREATE TEMP TABLE known AS
            SELECT k.row, o.metric, o.period_end, o.value
            FROM keys_in k JOIN obs_in o ON o.company_id = k.company_id AND o.known_at <= k.as_of
                                        AND o.period_end <= k.up_to
            QUALIFY row_number() OVER (PARTITION BY k.row, o.metric, o.period_end ORDER BY o.rank, o.unit) = 1
        """)
        con.execute("""
            CREATE TEMP TABLE latest AS
            SELECT * FROM known QUALIFY row_number() OVER (PARTITION BY row, metric ORDER BY period_end DESC) = 1
        """)
        rows = con.execute(f"""
            SELECT k.row,
                   CASE WHEN r.value > 0 THEN ln(r.value) END,
                   (SELECT least(greatest(ln(r.value / p.value)
                            / (date_diff('day', p.period_end, r.period_end) / {DAYS_PER_YEAR}), -{clip}), {clip})
                    FROM known p
                    WHERE p.row = k.row AND p.metric = 'revenue' AND p.value > 0 AND r.value > 0
                      AND abs(date_diff('day', p.period_end, r.period_end) - {DAYS_PER_YEAR}) <= {tol}
                    ORDER BY p.period_end DESC LIMIT 1),
                   (SELECT least(greatest(o.value / r.value, -2.0), 1.0) FROM known o
                    WHERE o.row = k.row AND o.metric = 'operating_income' AND o.period_end = r.period_end
                      AND r.value > 0),
                   CASE WHEN a.value > 0 THEN ln(a.value) END,
                   (SELECT least(greatest(e.value / a.value, -2.0), 2.0) FROM known e
                    WHERE e.row = k.row AND e.metric = 'equity' AND e.period_end = a.period_end
                      AND a.value > 0),
                   CASE WHEN h.value > 0 THEN ln(h.value) END
            FROM keys_in k
            LEFT JOIN latest r ON r.row = k.row AND r.metric = 'revenue'
            LEFT JOIN latest a ON a.row = k.row AND a.metric = 'total_assets'
            LEFT JOIN latest h ON h.row = k.row AND h.metric = 'employees'
            ORDER BY k.row
        """).fetchall()
    finally:
        con.close()
    X = np.array([[np.nan if v is None else float(v) for v in r[1:]] for r in rows],
                 dtype=np.float64).reshape(len(ids), len(FEATURE_NAMES))
    return FactsFeatures(FEATURE_NAMES, X)
