"""The growth-regression dataset: labels joined point in time to embeddings, facts and past growth.

One row per growth label (a company and a window of the chosen lengths). Its
features are what was public when the window started:
- embedding feature sets (`FeatureSpec`), each the vector(s) of the latest
  filing known at `as_of = window_start` (`point_in_time.training_set`):
  a document vector of `doc_embeddings` (method `mean`, `aggregator` ...),
  the per-section mean of a filing's chunk vectors (`section-mean`, from
  `chunk_embeddings`), the first chunk vector of each section (`section-first`:
  a section's opening, where filers tend to summarise), or the filing's chunk vectors in order (`chunks`, for
  a model that reads a whole document, e.g. a fine-tuned aggregator);
- structured facts (`growth.facts_features`, known at and ending by the window start);
- the latest growth of the same company and window length whose label was
  public at the window start (for the persistence baseline).

Design choices:
- as_of is the window start itself, not the filing date of the report that
  closes the window's first year: a feature may only come from a filing filed
  on or before the day the window opens. Every matched filing is checked
  again (`filed_at <= as_of`); a violation is a bug and raises.
- All feature sets are evaluated on the same rows: a row is kept only when
  every requested embedding feature set matched it, so baselines and models
  share rows and bootstrap resamples. What was dropped, and why, is counted
  per feature set (`DatasetReport`), never silent.
- Labels come from the store's `growth` table for the label definition's
  `method` (what `jobs.labels` wrote); when the table has none for it they are
  computed from the facts (the report says which). The facts' observations
  are always computed, because the facts features need them.
- Section features: the mean of a section's unit chunk vectors, L2-normalised
  again (like the document mean), or the section's first chunk (a document
  mean dilutes one sentence among ~28 chunks, a section mean among the
  section's few); concatenated over the requested sections in the given
  order; a section the filing lacks is a zero block, and each section adds a
  0/1 "present" column so a model can tell absent from average.
- Persistence uses the latest *known* growth, not the window right before:
  the previous window ends on this window's start, and its label is only
  public once that year's report is filed, after the window started.
- featurestore knows no model: vectors are read as stored; nothing here
  imports torch or `models`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from featurestore.growth import LabelConfig, facts_features, label_set_from_store, window_years
from featurestore.point_in_time import (
    EXPIRED_TTL, FILED_AT, NO_FEATURE_ROWS, NONE_FILED_YET, TrainingSet, training_set, training_set_from_store,
)
from featurestore.schemas import CHUNK_EMBEDDINGS_NAME, DOC_EMBEDDINGS_NAME, FILINGS, GROWTH, VECTOR
from featurestore.whitening import Whitening

if TYPE_CHECKING:
    from featurestore.store import Store

SECTION_MEAN = "section-mean"
SECTION_FIRST = "section-first"
SECTION_METHODS = (SECTION_MEAN, SECTION_FIRST)
CHUNKS = "chunks"
DEFAULT_SECTIONS: tuple[str, ...] = ("7",)     # 10-K Item 7, MD&A: where management discusses its outlook
DEFAULT_TTL = timedelta(days=550)              # a 10-K older than ~18 months no longer describes the company
FACTS = "facts"
PREVIOUS_GROWTH = "previous_growth"
_ROW = "__row"


@dataclass(frozen=True)
class FeatureSpec:
    """One embedding feature set: a model version and how its vectors become a row's features.

    `method`: a `doc_embeddings` method ("mean", "aggregator", ...), `section-mean`
    (the mean chunk vector of each of `sections`, concatenated), `section-first`
    (the first chunk vector of each of `sections`, concatenated) or `chunks`
    (the filing's chunk vectors in `seq` order, a list rather than a matrix).
    """
    model_version: str
    method: str
    sections: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.model_version, str) or not self.model_version:
            raise ValueError(f"FeatureSpec.model_version must be a non-empty string, got {self.model_version!r}")
        if not isinstance(self.method, str) or not self.method:
            raise ValueError(f"FeatureSpec.method must be a non-empty string, got {self.method!r}")
        if self.method in SECTION_METHODS:
            if isinstance(self.sections, str) or not self.sections:
                raise ValueError(f"{self.method} features need a tuple of section ids, e.g. ('7',) for Item 7; "
                                 f"got {self.sections!r}")
        elif self.sections:
            raise ValueError(f"sections={self.sections!r} only apply to methods {SECTION_METHODS}, "
                             f"not {self.method!r}")

    @property
    def from_chunks(self) -> bool:
        return self.method in (*SECTION_METHODS, CHUNKS)

    @property
    def is_sequence(self) -> bool:
        return self.method == CHUNKS

    @property
    def name(self) -> str:
        if self.method in SECTION_METHODS:
            return f"{CHUNK_EMBEDDINGS_NAME}:{self.model_version}/{self.method}[{','.join(self.sections)}]"
        if self.method == CHUNKS:
            return f"{CHUNK_EMBEDDINGS_NAME}:{self.model_version}/{CHUNKS}"
        return f"{DOC_EMBEDDINGS_NAME}:{self.model_version}/{self.method}"


@dataclass(frozen=True)
class FeatureCounts:
    """How one feature set met the events: joined, or why not."""
    name: str
    joined: int
    none_filed_yet: int
    expired_ttl: int
    no_feature_rows: int
    ignored_feature_rows: int      # feature rows without company or filing date
    dim: int | None                # width of the matrix (None for sequences)


@dataclass
class DatasetReport:
    label_source: str              # "growth table" or "computed from facts"
    label_method: str
    years: tuple[int, ...]
    labels_total: int              # labels of the method, every window length
    events: int                    # labels of the chosen lengths with a finite growth
    features: list[FeatureCounts] = field(default_factory=list)
    rows: int = 0                  # events every feature set matched
    dropped_not_all_matched: int = 0
    look_ahead_checked: int = 0    # matched (row, feature set) pairs verified filed_at <= as_of
    previous_growth_known: int = 0
    companies: int = 0
    ttl_days: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"labels            {self.labels_total} of method {self.label_method} ({self.label_source}); "
               f"{self.events} events of {'/'.join(map(str, self.years))}-year windows",
               f"point in time     as_of = window start; ttl "
               f"{'none' if self.ttl_days is None else f'{self.ttl_days:g} days'}"]
        for f in self.features:
            out.append(f"  {f.name}: {f.joined} joined, {f.none_filed_yet} none filed yet, {f.expired_ttl} "
                       f"expired, {f.no_feature_rows} company without rows"
                       + (f"; {f.dim}-d" if f.dim is not None else "; chunk sequences"))
        out.append(f"rows              {self.rows} of {self.companies} companies ({self.dropped_not_all_matched} "
                   f"events dropped: not matched by every feature set); look-ahead checked on "
                   f"{self.look_ahead_checked} matches, none filed after its window start")
        out.append(f"previous growth   known at the window start for {self.previous_growth_known} rows")
        return out


@dataclass
class GrowthDataset:
    """Aligned arrays: row i of every matrix, sequence list and vector belongs to label i."""
    y: np.ndarray                              # (n,) growth
    groups: np.ndarray                         # (n,) company ids
    window_start: np.ndarray                   # (n,) datetime64[D]; also the as_of of every feature
    window_end: np.ndarray
    matrices: dict[str, np.ndarray]            # feature-set name -> (n, d); "facts" included
    sequences: dict[str, list[np.ndarray]]     # feature-set name -> n arrays (n_chunks, d)
    filing_ids: dict[str, np.ndarray]          # feature-set name -> matched filing id per row
    previous_growth: np.ndarray                # (n,) latest growth public at the window start, NaN if none
    facts_names: tuple[str, ...]
    labels: pa.Table                           # every label of the chosen lengths (persistence statistics)
    report: DatasetReport

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def times(self) -> tuple[np.ndarray, np.ndarray]:
        return self.window_start, self.window_end

    @property
    def label_method(self) -> str:
        return self.report.label_method


# -- labels and events ------------------------------------------------------------------

def _labels(store: Store, config: LabelConfig) -> tuple[pa.Table, Any, str]:
    """(labels of config.method, observations, where the labels came from)."""
    ls = label_set_from_store(store, config)
    stored = store.read(GROWTH, where="method = ?", params=[config.method])
    if stored.num_rows:
        return stored, ls.observations, "growth table"
    return ls.labels, ls.observations, "computed from facts (the growth table has none of this method)"


def _events(labels: pa.Table, years: Sequence[int]) -> pa.Table:
    """Labels of the chosen window lengths with a finite growth, sorted, with as_of = window_start."""
    k = window_years(labels) if labels.num_rows else np.zeros(0, np.int64)
    g = np.asarray(labels["growth"], dtype=np.float64)
    keep = np.isin(k, list(years)) & np.isfinite(g)
    t = labels.filter(pa.array(keep)).sort_by([("company_id", "ascending"), ("window_start", "ascending"),
                                               ("window_end", "ascending")])
    return pa.table({
        "company_id": t["company_id"], "as_of": t["window_start"].cast(pa.date32()),
        "window_start": t["window_start"].cast(pa.date32()), "window_end": t["window_end"].cast(pa.date32()),
        "growth": t["growth"], "label_known_at": t["known_at"].cast(pa.date32()),
        _ROW: pa.array(np.arange(t.num_rows, dtype=np.int64)),
    })


def latest_known_growth(events: pa.Table, labels: pa.Table) -> np.ndarray:
    """Per event, the growth of the latest window of the same company and length that ended by its
    `as_of` and whose label was public by then (`known_at <= as_of`); NaN where there is none."""
    if events.num_rows == 0:
        return np.zeros(0)
    lab = pa.table({"company_id": labels["company_id"], "window_start": labels["window_start"],
                    "window_end": labels["window_end"], "growth": labels["growth"],
                    "known_at": labels["known_at"], "k": pa.array(window_years(labels))})
    ev = pa.table({_ROW: events[_ROW], "company_id": events["company_id"], "as_of": events["as_of"],
                   "k": pa.array(window_years(events))})
    con = duckdb.connect()
    try:
        con.register("lab", lab)
        con.register("ev", ev)
        got = con.execute(f"""
            SELECT e.{_ROW} AS r, l.growth FROM ev e
            JOIN lab l ON l.company_id = e.company_id AND l.k = e.k
                      AND l.window_end <= e.as_of AND l.known_at <= e.as_of
            QUALIFY row_number() OVER (PARTITION BY e.{_ROW} ORDER BY l.window_end DESC, l.window_start DESC) = 1
        """).fetchall()
    finally:
        con.close()
    out = np.full(events.num_rows, np.nan)
    for r, g in got:
        out[r] = g
    return out


# -- embedding features ------------------------------------------------------------------

def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _matrix(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A fixed-size (or equal-length) list column as an (n, d) float32 array."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if n == 0:
        return np.zeros((0, 0), np.float32)
    flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    if flat.size % n:
        raise ValueError(f"vectors of unequal widths ({flat.size} values over {n} rows); filter to one model version")
    return flat.reshape(n, flat.size // n)


def _relation_exists(store: Store, name: str) -> bool:
    got = store.sql("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'main' "
                    "AND table_name = ?", [name])
    return bool(got["n"][0].as_py())


def chunk_filings(store: Store, model_version: str, companies: Sequence[str]) -> pa.Table:
    """One row per filing with chunk vectors of `model_version`: the point-in-time keys
    (company_id, filing_id, form, filed_at from `filings` where it has them, period_end) and n_chunks."""
    if not _relation_exists(store, CHUNK_EMBEDDINGS_NAME):
        raise ValueError(f"{store!r} has no {CHUNK_EMBEDDINGS_NAME}; embed chunks first "
                         f"(python -m jobs.embed --store DIR --model NAME --level both)")
    f = FILINGS.name
    rows = store.sql(
        f"SELECT c.filing_id, any_value(c.company_id) AS company_id, "
        f"coalesce(any_value(f.form), any_value(c.form)) AS form, "
        f"coalesce(any_value(f.filed_at), any_value(c.filed_at)) AS filed_at, "
        f"any_value(f.period_end) AS period_end, count(*)::INTEGER AS n_chunks "
        f"FROM {_q(CHUNK_EMBEDDINGS_NAME)} AS c LEFT JOIN {_q(f)} AS f ON f.filing_id = c.filing_id "
        f"WHERE c.model_version = ? AND list_contains(?::VARCHAR[], c.company_id) "
        f"GROUP BY c.filing_id ORDER BY c.filing_id", [model_version, sorted(set(companies))])
    if rows.num_rows == 0:
        known = store.sql(f"SELECT DISTINCT model_version FROM {_q(CHUNK_EMBEDDINGS_NAME)} ORDER BY 1")
        versions = known["model_version"].to_pylist()
        if model_version not in versions:
            raise ValueError(f"{CHUNK_EMBEDDINGS_NAME} has no rows for model_version={model_version!r}; "
                             f"it holds {versions[:20]}: check the name, or embed chunks with that model first")
    return rows


def chunk_vectors(store: Store, model_version: str, filing_ids: Sequence[str],
                  sections: Sequence[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """filing_id -> (section ids, (n_chunks, d) vectors) in `seq` order; only `sections` when given."""
    ids = sorted(set(filing_ids))
    if not ids:
        return {}
    where = "model_version = ? AND list_contains(?::VARCHAR[], filing_id)"
    params: list[Any] = [model_version, ids]
    if sections is not None:
        where += " AND list_contains(?::VARCHAR[], section_id)"
        params.append(list(sections))
    t = store.sql(f"SELECT filing_id, section_id, {_q(VECTOR)} FROM {_q(CHUNK_EMBEDDINGS_NAME)} "
                  f"WHERE {where} ORDER BY filing_id, seq, chunk_id", params)
    mat = _matrix(t[VECTOR])
    fids = np.asarray(t["filing_id"].to_pylist(), dtype=object)
    secs = np.asarray([s if s is not None else "" for s in t["section_id"].to_pylist()], dtype=object)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if fids.size:
        bounds = np.flatnonzero(np.r_[True, fids[1:] != fids[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            out[str(fids[a])] = (secs[a:b], mat[a:b])
    return out


def sample_chunk_vectors(store: Store, model_version: str, limit: int = 50_000) -> np.ndarray:
    """Up to `limit` chunk vectors of `model_version` (a fixed pseudo-random subset: ordered by a hash of the
    chunk id), for label-free statistics of the embedding space such as a whitening."""
    t = store.sql(f"SELECT {_q(VECTOR)} FROM {_q(CHUNK_EMBEDDINGS_NAME)} WHERE model_version = ? "
                  f"ORDER BY hash(chunk_id), chunk_id LIMIT ?", [model_version, int(limit)])
    if t.num_rows == 0:
        raise ValueError(f"{CHUNK_EMBEDDINGS_NAME} has no rows for model_version={model_version!r}")
    return _matrix(t[VECTOR])


def whiten_features(X: np.ndarray, spec: FeatureSpec, whitening: Whitening) -> np.ndarray:
    """`X` of `spec` with each vector block whitened; the 0/1 present
    columns of section features stay as they are."""
    d = int(whitening.mean.size)
    blocks = len(spec.sections) if spec.method in SECTION_METHODS else 1
    if X.shape[1] != blocks * d + (blocks if spec.method in SECTION_METHODS else 0):
        raise ValueError(f"{spec.name}: {X.shape[1]} columns do not hold {blocks} vector(s) of width {d}")
    parts = [whitening.apply(X[:, j * d:(j + 1) * d]) for j in range(blocks)]
    return np.hstack(parts + [X[:, blocks * d:]]).astype(np.float64)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)


def section_features(vectors: dict[str, tuple[np.ndarray, np.ndarray]], filing_ids: Sequence[str],
                     sections: Sequence[str], dim: int, how: str = SECTION_MEAN) -> np.ndarray:
    """Per filing: for each section, the L2-normalised mean of its chunk vectors (`section-mean`) or its
    first chunk vector (`section-first`; `vectors` in seq order), zeros when the section is absent,
    concatenated, then one 0/1 present column per section: (n, len(sections) * (dim + 1))."""
    if how not in SECTION_METHODS:
        raise ValueError(f"how must be one of {SECTION_METHODS}, got {how!r}")
    k = len(sections)
    X = np.zeros((len(filing_ids), k * dim + k), dtype=np.float32)
    for i, fid in enumerate(filing_ids):
        secs, mat = vectors.get(fid, (np.zeros(0, object), np.zeros((0, dim), np.float32)))
        for j, s in enumerate(sections):
            m = secs == s
            if m.any():
                v = mat[m].mean(axis=0) if how == SECTION_MEAN else mat[m][0]
                X[i, j * dim:(j + 1) * dim] = _unit(v)
                X[i, k * dim + j] = 1.0
    return X


def check_no_look_ahead(ts: TrainingSet, name: str) -> int:
    """Every matched filing was filed on or before its event's as_of; returns how many were checked."""
    t = ts.table
    if t.num_rows == 0:
        return 0
    filed = np.asarray(t[FILED_AT].cast(pa.date32())).astype("datetime64[D]")
    as_of = np.asarray(t["as_of"].cast(pa.date32())).astype("datetime64[D]")
    bad = np.flatnonzero(filed > as_of)
    if bad.size:
        i = int(bad[0])
        raise AssertionError(f"look-ahead in {name}: {bad.size} events matched a filing filed after their window "
                             f"start (e.g. company {t['company_id'][i].as_py()}, as_of {as_of[i]}, filing "
                             f"{t['filing_id'][i].as_py()} filed {filed[i]}); the point-in-time join is broken")
    return t.num_rows


def _counts(spec: FeatureSpec, ts: TrainingSet, dim: int | None) -> FeatureCounts:
    c = ts.counts
    return FeatureCounts(spec.name, c["joined"], c[NONE_FILED_YET], c[EXPIRED_TTL], c[NO_FEATURE_ROWS],
                         ts.ignored_feature_rows, dim)


@dataclass
class _Matched:
    rows: np.ndarray                 # event rows matched, ascending
    filing_ids: np.ndarray           # per matched row
    matrix: np.ndarray | None        # (len(rows), d)
    sequences: list[np.ndarray] | None


def _match(store: Store, spec: FeatureSpec, events: pa.Table, ttl: timedelta | None
           ) -> tuple[_Matched, FeatureCounts, int]:
    ev = events.select(["company_id", "as_of", _ROW])
    if not spec.from_chunks:
        ts = training_set_from_store(store, ev, DOC_EMBEDDINGS_NAME, model_version=spec.model_version,
                                     method=spec.method, ttl=ttl, feature_columns=(VECTOR,))
        checked = check_no_look_ahead(ts, spec.name)
        X = _matrix(ts.table[VECTOR]).astype(np.float64)
        m = _Matched(np.asarray(ts.table[_ROW]), np.asarray(ts.table["filing_id"].to_pylist(), object), X, None)
        return m, _counts(spec, ts, X.shape[1] if X.size else None), checked
    companies = [c for c in events["company_id"].to_pylist() if c is not None]
    feats = chunk_filings(store, spec.model_version, companies)
    ts = training_set(feats, ev, ttl=ttl, feature_columns=["n_chunks"])
    checked = check_no_look_ahead(ts, spec.name)
    fids = [str(f) for f in ts.table["filing_id"].to_pylist()]
    rows = np.asarray(ts.table[_ROW])
    if spec.method in SECTION_METHODS:
        vecs = chunk_vectors(store, spec.model_version, fids, spec.sections)
        dim = _vector_width(store, spec.model_version) if not vecs else next(iter(vecs.values()))[1].shape[1]
        X = section_features(vecs, fids, spec.sections, dim, spec.method).astype(np.float64)
        return _Matched(rows, np.asarray(fids, object), X, None), _counts(spec, ts, X.shape[1]), checked
    vecs = chunk_vectors(store, spec.model_version, fids)
    seqs = [vecs[f][1] for f in fids]
    return _Matched(rows, np.asarray(fids, object), None, seqs), _counts(spec, ts, None), checked


def _vector_width(store: Store, model_version: str) -> int:
    got = store.sql(f"SELECT len({_q(VECTOR)}) AS d FROM {_q(CHUNK_EMBEDDINGS_NAME)} WHERE model_version = ? "
                    f"LIMIT 1", [model_version])
    if got.num_rows == 0:
        raise ValueError(f"no chunk vectors for model_version {model_version!r}")
    return int(got["d"][0].as_py())


# -- the dataset -------------------------------------------------------------------------

def build_growth_dataset(store: Store, features: Sequence[FeatureSpec], *,
                         config: LabelConfig = LabelConfig(years=(1,)), years: Sequence[int] = (1,),
                         ttl: timedelta | None = DEFAULT_TTL) -> GrowthDataset:
    """Labels of `years`-long windows with every feature set known at their start (module docstring).

    `features` may be empty (facts and past growth only). Raises when no row is
    left, naming what dropped the events.
    """
    years = tuple(sorted({int(k) for k in years}))
    if not years or years[0] < 1:
        raise ValueError(f"years must be window lengths >= 1, got {years!r}")
    missing = [k for k in years if k not in config.years]
    if missing:
        raise ValueError(f"window lengths {missing} are not in the label definition's years {config.years}; "
                         f"pass LabelConfig(years=...) that includes them")
    names = [s.name for s in features]
    if len(set(names)) != len(names):
        raise ValueError(f"feature sets repeat: {names}; give each once")
    labels, obs, source = _labels(store, config)
    events = _events(labels, years)
    report = DatasetReport(source, config.method, years, labels.num_rows, events.num_rows,
                           ttl_days=None if ttl is None else ttl / timedelta(days=1))
    if events.num_rows == 0:
        raise ValueError(f"no growth labels of {'/'.join(map(str, years))}-year windows for method "
                         f"{config.method} in {store!r}; run python -m jobs.labels --store DIR --years "
                         f"{' '.join(map(str, years))} after ingesting filings with XBRL facts")
    keep = np.ones(events.num_rows, dtype=bool)
    matched: dict[str, _Matched] = {}
    for spec in features:
        m, counts, checked = _match(store, spec, events, ttl)
        report.features.append(counts)
        report.look_ahead_checked += checked
        matched[spec.name] = m
        hit = np.zeros(events.num_rows, dtype=bool)
        hit[m.rows] = True
        keep &= hit
    rows = np.flatnonzero(keep)
    report.rows = int(rows.size)
    report.dropped_not_all_matched = int(events.num_rows - rows.size)
    if rows.size == 0:
        raise ValueError(f"none of the {events.num_rows} label events is matched by every feature set; "
                         + "; ".join(f"{c.name}: {c.joined} joined, {c.none_filed_yet} none filed yet, "
                                     f"{c.expired_ttl} expired" for c in report.features)
                         + ". Embed the filings that precede the windows, or widen the ttl")
    ev = events.take(pa.array(rows))
    company = np.asarray(ev["company_id"].to_pylist(), dtype=object).astype(str)
    start = np.asarray(ev["window_start"]).astype("datetime64[D]")
    end = np.asarray(ev["window_end"]).astype("datetime64[D]")
    prev = latest_known_growth(events, labels)[rows]
    report.previous_growth_known = int(np.isfinite(prev).sum())
    report.companies = int(np.unique(company).size)
    ff = facts_features(obs, company.tolist(), as_of=start, up_to=start, config=config)
    matrices: dict[str, np.ndarray] = {FACTS: ff.X}
    sequences: dict[str, list[np.ndarray]] = {}
    filing_ids: dict[str, np.ndarray] = {}
    for spec in features:
        m = matched[spec.name]
        pos = np.searchsorted(m.rows, rows)       # m.rows is ascending (event order)
        filing_ids[spec.name] = m.filing_ids[pos]
        if m.matrix is not None:
            matrices[spec.name] = m.matrix[pos]
        else:
            sequences[spec.name] = [m.sequences[p] for p in pos]
    k = window_years(labels) if labels.num_rows else np.zeros(0, np.int64)
    chosen = labels.filter(pa.array(np.isin(k, list(years))))
    return GrowthDataset(y=np.asarray(ev["growth"], dtype=np.float64), groups=company, window_start=start,
                         window_end=end, matrices=matrices, sequences=sequences, filing_ids=filing_ids,
                         previous_growth=prev, facts_names=tuple(ff.names), labels=chosen, report=report)


def available_feature_specs(store: Store, model_versions: Sequence[str] | None = None,
                            methods: Sequence[str] | None = None,
                            sections: Sequence[str] = DEFAULT_SECTIONS) -> list[FeatureSpec]:
    """Feature sets the store can provide: for each model version (all by default), each requested
    method (default: every doc_embeddings method stored for it, plus section-mean and section-first when it
    has chunk vectors).

    Raises when a requested model version or method has no rows, naming what the store holds.
    """
    doc: dict[str, list[str]] = {}
    if _relation_exists(store, DOC_EMBEDDINGS_NAME):
        for r in store.sql(f"SELECT DISTINCT model_version, method FROM {_q(DOC_EMBEDDINGS_NAME)} "
                           f"ORDER BY 1, 2").to_pylist():
            doc.setdefault(r["model_version"], []).append(r["method"])
    chunk: set[str] = set()
    if _relation_exists(store, CHUNK_EMBEDDINGS_NAME):
        chunk = set(store.sql(f"SELECT DISTINCT model_version FROM {_q(CHUNK_EMBEDDINGS_NAME)}")
                    ["model_version"].to_pylist())
    known = sorted(set(doc) | chunk)
    versions = list(model_versions) if model_versions else known
    if not versions:
        raise ValueError(f"{store!r} holds no embeddings; run python -m jobs.embed --store DIR --model NAME first")
    specs: list[FeatureSpec] = []
    for v in versions:
        if v not in known:
            raise ValueError(f"no embeddings of model_version {v!r} in {store!r}; it holds {known}")
        wanted = list(methods) if methods else doc.get(v, []) + (list(SECTION_METHODS) if v in chunk else [])
        for m in wanted:
            if m in (*SECTION_METHODS, CHUNKS):
                if v not in chunk:
                    raise ValueError(f"{m} features of {v!r} need chunk vectors, and {CHUNK_EMBEDDINGS_NAME} "
                                     f"has none of it; embed with --level both")
                specs.append(FeatureSpec(v, m, tuple(sections) if m in SECTION_METHODS else ()))
            elif m in doc.get(v, []):
                specs.append(FeatureSpec(v, m))
            else:
                raise ValueError(f"{DOC_EMBEDDINGS_NAME} has no method {m!r} for {v!r} (it has "
                                 f"{doc.get(v, [])}); use one of those, {SECTION_MEAN!r}, {SECTION_FIRST!r}, "
                                 f"or embed with "
                                 f"--aggregator for 'aggregator'")
    return specs
