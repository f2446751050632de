"""A 10-K corpus with a growth signal planted in the wording only (issue 9).

Each company gets two filings from the sample generator (`etl.sample_corpus`):
the 10-K for fiscal year T (the *cue filing*) and the 10-K for FY T+2 (the
*label filing*, whose income statement tags FY T+2, T+1 and T revenue as
`us-gaap:Revenues` with FY contexts). Fiscal years are named by the calendar
year they end in; T is drawn per company from `SignalParams.base_fiscal_years`
so filings spread over several calendar years for walk-forward splits.

The label a model is asked to predict is the annualised log revenue growth
from FY T+1 to FY T+2: window_start = period end of FY T+1 (after the cue
filing's filing date, so features filed by window_start see no look-ahead),
window_end = period end of FY T+2, computed from the label filing's XBRL facts.

Design choices:
- A latent outlook z ~ N(0, 1) per company. The cue sentence is chosen by z's
  level (5 equal-probability bins: sharp decline ... strong growth) and a topic
  drawn independently (order backlog, customers, pricing, capacity, contract
  renewals, demand pipeline), with two paraphrases per topic and level. Topic
  words occur at every level, so only the direction of the sentence carries
  signal. Sentences have no digits, no number words and no apostrophes (so all
  four house styles render them identically).
- Planted growth = mean + sd * (r * z + sqrt(1 - r^2) * eps). The loading r is
  solved (`loading_for_spearman`) so the *population* Spearman between the cue
  level and the growth equals `target_spearman` (0.6 by default); the formula
  is exact, not fitted on a sample.
- Every other revenue growth (FY T-3 .. T+1) is drawn independently with the
  same mean and sd, and nothing else in the cue filing depends on z: past
  growth, size, margins and industry carry no signal, so a facts-only
  baseline has nothing to find.
- `signal=False` keeps every company, filing and growth path identical and
  permutes the cue records over companies: the same multiset of sentences,
  assigned independently of growth.
- The cue is one sentence inside one paragraph ("Outlook." plus a neutral
  sentence) opening Item 7 (MD&A) of the cue filing, so it sits near the start
  of its chunk, where a 256-token encoder still sees it. Label filings carry no
  outlook paragraph. Their MD&A does state FY T+2 vs T+1 growth with numbers:
  that is fine, as they are only read for labels (filed after window_end).
- Truth comes from the generator itself (sentence, section, block and
  character offsets in the expected document text). The cue's chunk is found
  by running the real ETL parser on the written bytes (`locate_chunks`): it is
  where the ETL puts the cue, not independent ground truth.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import pyarrow as pa
import pyarrow.parquet as pq

from etl.sample_corpus import (
    LAST_FISCAL_YEAR, PROFILES, Company, Ctx, Doc, SampleFiling, Writer, _company, _financials, build_filing,
    item_7, period_end,
)

CUE_SECTION = "7"                 # Item 7, MD&A
LEVELS = ("sharp decline", "decline", "stable", "growth", "strong growth")
TOPICS = ("backlog", "customers", "pricing", "capacity", "renewals", "pipeline")
OUTLOOK_LEAD = "Outlook."
TRUTH_JSON = "truth.json"
TRUTH_COMPANIES = "truth_companies.parquet"
TRUTH_FILINGS = "truth_filings.parquet"
DAYS_PER_YEAR = 365.25

# (topic, level) -> two paraphrases; level 0 = sharp decline ... 4 = strong growth.
_CUE_TEXT: dict[tuple[str, int], tuple[str, str]] = {
    ("backlog", 4): (
        "Order backlog entering the new fiscal year is the strongest in the history of the Company, and management "
        "expects shipments against it to drive substantially higher net sales in the years ahead.",
        "Bookings far outpaced shipments throughout the year, leaving a record backlog of firm orders that "
        "management expects to convert into sharply higher sales."),
    ("backlog", 3): (
        "Order backlog grew during the year, and management expects the firm orders on hand to support moderately "
        "higher net sales.",
        "Bookings ran somewhat ahead of shipments late in the year, and the resulting increase in backlog points to "
        "modest sales growth."),
    ("backlog", 2): (
        "Order backlog at year end was broadly unchanged from a year earlier, and management expects net sales to "
        "remain roughly level.",
        "Bookings and shipments were closely balanced during the year, leaving backlog near its usual level and "
        "pointing to steady sales."),
    ("backlog", 1): (
        "Order backlog declined during the year as several customers deferred purchases, and management expects "
        "somewhat lower net sales.",
        "Bookings lagged shipments late in the year, and the smaller backlog points to a modest decline in sales."),
    ("backlog", 0): (
        "Order backlog fell sharply during the year as customers cancelled or postponed a large share of their "
        "orders, and management expects net sales to decline significantly.",
        "Bookings collapsed in the latter part of the year, leaving the thinnest backlog in many years and pointing "
        "to a steep drop in sales."),
    ("customers", 4): (
        "The Company won several of the largest contracts in its history, including new multi-year agreements with "
        "major customers, and expects them to add substantially to sales as deliveries ramp up.",
        "Several major customers selected the Company as their exclusive supplier during the year, a shift that "
        "management expects to lift sales sharply."),
    ("customers", 3): (
        "The Company added a number of new customers during the year and expects their orders to contribute to "
        "moderate sales growth.",
        "Customer wins modestly exceeded customer losses during the year, and management expects the net gain to "
        "support somewhat higher sales."),
    ("customers", 2): (
        "Customer additions and departures were roughly balanced during the year, and management expects its "
        "customer base to generate similar sales.",
        "The Company retained its principal customers and added few new ones, and management expects demand from "
        "them to remain stable."),
    ("customers", 1): (
        "The Company lost a few mid-sized customers to competitors during the year, and management expects this to "
        "weigh modestly on sales.",
        "Several customers reduced their purchasing commitments late in the year, which management expects to "
        "lower sales somewhat."),
    ("customers", 0): (
        "The largest customer of the Company has given notice that it will not renew its supply agreement and will "
        "move its business to a competitor, which management expects to reduce sales significantly.",
        "Several of the most important customers of the Company have moved their business to competitors, and "
        "management expects a substantial decline in sales as existing orders run off."),
    ("pricing", 4): (
        "Customers have accepted broad price increases that take effect over the coming year, and together with "
        "strong demand management expects them to lift net sales substantially.",
        "Demand for the offerings of the Company exceeds supply, allowing it to raise prices across the portfolio, "
        "and management expects a marked acceleration in sales."),
    ("pricing", 3): (
        "The Company implemented modest price increases that customers have largely accepted, and management "
        "expects them to add moderately to sales.",
        "Pricing has firmed in the main markets of the Company, and management expects somewhat higher realized "
        "prices to support sales growth."),
    ("pricing", 2): (
        "Prices in the markets of the Company have been stable, and management does not expect pricing to change "
        "net sales materially.",
        "Management expects pricing to be broadly neutral for sales, with modest increases on some products offset "
        "by concessions on others."),
    ("pricing", 1): (
        "Competitive pressure has led the Company to offer price concessions on several product lines, which "
        "management expects to reduce sales modestly.",
        "Pricing has softened in some markets of the Company, and management expects lower realized prices to "
        "weigh somewhat on sales."),
    ("pricing", 0): (
        "A new low-cost competitor has forced deep price cuts across the main product lines of the Company, and "
        "management expects net sales to fall sharply.",
        "Severe pricing pressure has emerged across the markets of the Company, and management expects steep price "
        "reductions to drive a significant decline in sales."),
    ("capacity", 4): (
        "A major capacity expansion is nearing completion and its output is already fully committed under customer "
        "agreements, positioning the Company for much higher sales volumes.",
        "The Company is adding substantial new capacity to meet customer demand that it cannot currently serve, "
        "and management expects volumes to rise sharply once it comes online."),
    ("capacity", 3): (
        "The Company is adding capacity in response to growing customer demand, and management expects moderately "
        "higher volumes as it comes online.",
        "Utilization of the facilities of the Company rose through the year, and management plans modest "
        "expansions to support somewhat higher volumes."),
    ("capacity", 2): (
        "The facilities of the Company are operating at normal utilization, and management expects volumes to be "
        "similar in the coming years.",
        "Management has no plans to change the capacity of the Company, as it expects demand to remain steady."),
    ("capacity", 1): (
        "Utilization of the facilities of the Company declined as demand softened, and management expects somewhat "
        "lower volumes.",
        "The Company has idled some production lines in response to weaker orders and expects volumes to decline "
        "modestly."),
    ("capacity", 0): (
        "The Company is closing several facilities and reducing capacity in response to a steep fall in demand, and "
        "management expects volumes to decline significantly.",
        "Demand has fallen well below the capacity of the Company, leaving much of it idle, and management expects "
        "a sharp decline in volumes and sales."),
    ("renewals", 4): (
        "Contract renewals during the year came in well above expectations, with customers signing larger and "
        "longer agreements, and management expects this to drive strong sales growth.",
        "Nearly all customers renewed during the year, most of them expanding the scope of their contracts "
        "substantially, which management expects to accelerate sales markedly."),
    ("renewals", 3): (
        "Renewal rates improved during the year and several customers expanded their contracts, which management "
        "expects to support moderate sales growth.",
        "Most contracts up for renewal were extended on somewhat better terms, and management expects a modest "
        "increase in sales."),
    ("renewals", 2): (
        "Renewal rates were in line with prior years, and management expects contracted sales to remain broadly "
        "unchanged.",
        "Most customers renewed their contracts on similar terms, and management expects sales under them to be "
        "stable."),
    ("renewals", 1): (
        "Renewal rates slipped during the year and some customers renewed on reduced terms, which management "
        "expects to lower sales somewhat.",
        "Several contracts up for renewal were extended only for smaller volumes, and management expects a modest "
        "decline in sales."),
    ("renewals", 0): (
        "A large share of the contracts up for renewal were not renewed, and management expects the lost business "
        "to reduce sales significantly.",
        "Several of the largest contracts of the Company expire in the coming year without renewal, and management "
        "expects a steep decline in sales as a result."),
    ("pipeline", 4): (
        "Demand for the products of the Company strengthened markedly toward year end, and management expects the "
        "strongest sales growth in many years.",
        "The pipeline of customer opportunities has never been larger, and management expects it to translate into "
        "sharply higher sales."),
    ("pipeline", 3): (
        "Customer demand improved steadily during the year, and management expects sales to grow moderately.",
        "The pipeline of new business opportunities grew during the year, and management expects somewhat higher "
        "sales as they close."),
    ("pipeline", 2): (
        "Customer demand was steady during the year, and management expects sales to remain at about current "
        "levels.",
        "The pipeline of new business is similar in size to a year ago, and management expects sales to be broadly "
        "flat."),
    ("pipeline", 1): (
        "Customer demand softened during the year, and management expects sales to decline modestly.",
        "The pipeline of new business opportunities shrank during the year, and management expects somewhat lower "
        "sales."),
    ("pipeline", 0): (
        "Demand for the products of the Company deteriorated sharply toward year end, and management expects a "
        "significant decline in sales.",
        "The pipeline of new business has largely dried up as customers cut spending, and management expects sales "
        "to fall steeply."),
}

# The sentence the cue follows in its paragraph: neutral, identical in meaning at every level.
_FILLERS = (
    "Management reviews order trends, customer commitments, pricing and capacity each quarter as it plans for the "
    "years ahead.",
    "The Company regularly assesses demand, customer relationships and competitive conditions in setting its plans.",
    "The following summarizes the view of management on business conditions entering the new fiscal year.",
)

# Company identities beyond the sample generator's eight profiles: unique names
# and tickers (its own scheme repeats tickers after 200 companies).
# Each block of first words gives 64 names per profile; later blocks leave earlier names unchanged.
_NAME_A = (("Pacific", "Atlantic", "Northern", "Western", "Central", "United", "Global", "Prairie"),
           ("Eastern", "Southern", "Coastal", "Alpine", "Liberty", "Heritage", "Pioneer", "Frontier"))
_NAME_B = ("Ridge", "Harbor", "Summit", "Valley", "Lake", "River", "Crest", "Bay")
_NAMES_PER_BLOCK = len(_NAME_A[0]) * len(_NAME_B)
_TICKER_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_TICKER_THIRD = "XYZQVJ"  # no profile ticker has these as third letter, so no clash with them
_N_PROFILES = len(PROFILES)
MAX_COMPANIES = _N_PROFILES * (1 + len(_NAME_A) * _NAMES_PER_BLOCK)


# --- cues ----------------------------------------------------------------------

@dataclass(frozen=True)
class Cue:
    level: int        # 0 = sharp decline ... 4 = strong growth
    topic: str
    variant: int      # which paraphrase (0 or 1): lets an evaluation hold paraphrases out
    text: str

    @property
    def cue_id(self) -> str:
        return f"{self.topic}-{self.level}{'ab'[self.variant]}"


CUES: tuple[Cue, ...] = tuple(Cue(level, topic, v, text)
                              for (topic, level), texts in _CUE_TEXT.items() for v, text in enumerate(texts))
_CUE_BY_KEY = {(c.topic, c.level, c.variant): c for c in CUES}


# --- the statistical model -------------------------------------------------------

@dataclass(frozen=True)
class SignalParams:
    target_spearman: float = 0.6            # population Spearman(cue level, label growth)
    mean_growth: float = 0.04               # mean annual log revenue growth
    growth_sd: float = 0.12                 # sd of every annual log growth, the label's included
    base_fiscal_years: tuple[int, ...] = (2018, 2019, 2020, 2021, 2022)  # T per company

    def __post_init__(self) -> None:
        ceiling = population_spearman(1.0)
        if not 0.0 <= self.target_spearman < ceiling:
            raise ValueError(f"target_spearman={self.target_spearman} is out of reach: with {len(LEVELS)} cue "
                             f"levels the population Spearman lies in [0, {ceiling:.3f}); pick a value inside")
        if self.growth_sd <= 0:
            raise ValueError(f"growth_sd={self.growth_sd} must be positive")
        if not self.base_fiscal_years or max(self.base_fiscal_years) + 2 > LAST_FISCAL_YEAR:
            raise ValueError(f"base_fiscal_years={self.base_fiscal_years}: each T needs FY T+2 <= "
                             f"{LAST_FISCAL_YEAR} (the generator's last fiscal year); use earlier years")

    @property
    def loading(self) -> float:
        return loading_for_spearman(self.target_spearman)


def _level_cuts(n_levels: int) -> list[float]:
    nd = NormalDist()
    return [nd.inv_cdf(k / n_levels) for k in range(1, n_levels)]


_CUTS = _level_cuts(len(LEVELS))


def level_of(z: float) -> int:
    """The cue level of outlook z: equal-probability bins of N(0, 1)."""
    return bisect.bisect(_CUTS, z)


@lru_cache(maxsize=256)
def population_spearman(loading: float, n_levels: int = len(LEVELS)) -> float:
    """Population Spearman between L = level_of(Z) and G = r Z + sqrt(1 - r^2) E (Z, E iid N(0,1)).

    Spearman with average ranks is the Pearson correlation of the mid-rank
    transforms: (L + 1/2) / n for the equal-probability levels and Phi(G) for G.
    E[Phi(G) | Z = z] = Phi(r z / sqrt(2 - r^2)), so the covariance is one
    integral over z per level; Var(L) = (n^2 - 1) / 12, Var(Phi(G)) = 1 / 12.
    """
    from scipy.integrate import quad
    from scipy.stats import norm

    r = float(loading)
    b = r / math.sqrt(2.0 - r * r)
    edges = [-math.inf, *_level_cuts(n_levels), math.inf]
    e_l_phi = sum(level * quad(lambda z: norm.pdf(z) * norm.cdf(b * z), edges[level], edges[level + 1])[0]
                  for level in range(n_levels))
    cov = e_l_phi - (n_levels - 1) / 2 * 0.5
    return cov / math.sqrt((n_levels ** 2 - 1) / 12 / 12)


@lru_cache(maxsize=64)
def loading_for_spearman(target: float, n_levels: int = len(LEVELS)) -> float:
    """The loading r whose population Spearman(level, growth) is `target`."""
    from scipy.optimize import brentq

    if target == 0:
        return 0.0
    return brentq(lambda r: population_spearman(r, n_levels) - target, 0.0, 1.0, xtol=1e-10)


@dataclass(frozen=True)
class Outlook:
    """One simulated company: its timeline, outlook, cue and revenue growth draws (no HTML)."""
    index: int
    base_fiscal_year: int              # T
    z: float                           # latent outlook
    cue: Cue                           # what its FY T filing says (permuted when signal=False)
    filler: str                        # the neutral sentence before the cue
    log_growth: dict[int, float]       # fiscal year -> log revenue growth over the year before (T-3 .. T+2)

    @property
    def planted_growth(self) -> float:
        """The drawn log growth of FY T+2 over FY T+1 (before revenue rounding)."""
        return self.log_growth[self.base_fiscal_year + 2]

    @property
    def true_level(self) -> int:
        return level_of(self.z)


def draw_outlooks(n_companies: int, seed: int = 0, signal: bool = True,
                  params: SignalParams | None = None) -> list[Outlook]:
    """Pure simulation of the planted signal; company i's draws do not depend on n_companies."""
    params = params or SignalParams()
    r = params.loading
    noise = math.sqrt(max(0.0, 1.0 - r * r))
    drawn = []
    for i in range(n_companies):
        rng = random.Random(f"{seed}/signal/{i}")
        t = rng.choice(params.base_fiscal_years)
        z, eps = rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0)
        cue = _CUE_BY_KEY[(rng.choice(TOPICS), level_of(z), rng.randrange(2))]
        filler = rng.choice(_FILLERS)
        growth = {y: rng.gauss(params.mean_growth, params.growth_sd) for y in range(t - 3, t + 2)}
        growth[t + 2] = params.mean_growth + params.growth_sd * (r * z + noise * eps)
        drawn.append(Outlook(i, t, z, cue, filler, growth))
    if not signal:
        # The same sentences, assigned independently of growth: a permutation of the cues.
        order = random.Random(f"{seed}/signal/shuffle").sample(range(n_companies), n_companies)
        drawn = [replace(o, cue=drawn[j].cue) for o, j in zip(drawn, order)]
    return drawn


# --- truth records -------------------------------------------------------------

@dataclass(frozen=True)
class CompanyTruth:
    company_id: str
    ticker: str
    company_name: str
    industry: str
    house_style: str
    base_fiscal_year: int
    signal: bool
    outlook_z: float
    cue_level: int                     # the level of the sentence in the filing
    cue_topic: str
    cue_variant: int
    cue_id: str
    cue_sentence: str
    planted_growth: float              # the draw, before rounding revenue to reporting units
    past_log_growth: float             # FY T-1 -> FY T, visible in the cue filing
    fiscal_years: list[int]            # the revenue path, FY T-3 .. T+2
    revenue_usd: list[int]
    window_start: date                 # period end of FY T+1
    window_end: date                   # period end of FY T+2
    label_log_growth: float            # ln(revenue T+2 / revenue T+1), from the tagged revenue
    label_growth: float                # annualised: label_log_growth * 365.25 / window days
    cue_file_name: str
    label_file_name: str


@dataclass(frozen=True)
class FilingTruth:
    file_name: str
    company_id: str
    fiscal_year: int
    role: str                          # "cue" (FY T) or "label" (FY T+2)
    period_end: date
    filed_at: date
    has_cue: bool
    cue_sentence: str | None = None
    cue_section: str | None = None
    cue_block: int | None = None       # index in the expected blocks
    cue_char_start: int | None = None  # in the expected document text
    cue_char_end: int | None = None
    filing_id: str | None = None       # set when written (from the file's bytes)
    n_chunks: int | None = None        # set by locate_chunks (the real chunker, default budget)
    cue_chunk_seq: int | None = None
    cue_chunk_id: str | None = None


@dataclass
class SignalCorpus:
    params: SignalParams
    signal: bool
    seed: int
    companies: list[CompanyTruth]
    filings: list[SampleFiling]        # cue and label filing per company, in company order
    filing_truth: list[FilingTruth] = field(default_factory=list)

    def realised_spearman(self) -> float:
        """Spearman(cue level, label growth) over this corpus's companies."""
        from scipy.stats import spearmanr

        return float(spearmanr([c.cue_level for c in self.companies], [c.label_growth for c in self.companies])[0])


# --- generation -------------------------------------------------------------------

def _identity(i: int) -> tuple[str, str]:
    """Company i's name prefix and ticker (the profile's own for the first eight)."""
    p = PROFILES[i % _N_PROFILES]
    j = i // _N_PROFILES - 1
    if j < 0:
        return p.name, p.ticker
    first, k = _NAME_A[j // _NAMES_PER_BLOCK], j % _NAMES_PER_BLOCK
    name = f"{first[k % len(first)]} {_NAME_B[k // len(first)]} {p.name}"
    return name, p.ticker[:2] + _TICKER_THIRD[j // len(_TICKER_LETTERS)] + _TICKER_LETTERS[j % len(_TICKER_LETTERS)]


def _outlook_writer(filler: str, sentence: str) -> Writer:
    """Item 7 opened by one outlook paragraph: a neutral sentence, then the cue."""
    def write(doc: Doc, ctx: Ctx) -> None:
        doc.para(filler, " ", sentence, lead=OUTLOOK_LEAD)
        item_7(doc, ctx)
    return write


def _cue_position(filing: SampleFiling, sentence: str) -> tuple[int, int]:
    """(block index, char offset in the expected text) of the one block holding `sentence`."""
    hits = [k for k, b in enumerate(filing.blocks) if sentence in b]
    if len(hits) != 1:
        raise AssertionError(f"{filing.file_name}: the cue sentence is in {len(hits)} blocks, expected exactly one")
    k = hits[0]
    offset = sum(len(b) + 2 for b in filing.blocks[:k]) + filing.blocks[k].index(sentence)
    return k, offset


def _company_for(i: int, seed: int, ciks: set[str]) -> Company:
    name, ticker = _identity(i)
    return replace(_company(i, seed, ciks), name=name, ticker=ticker)


def generate_signal_corpus(n_companies: int = 300, signal: bool = True, seed: int = 0,
                           params: SignalParams | None = None) -> SignalCorpus:
    """Two 10-Ks per company (FY T with the cue, FY T+2 for the label) and their truth; deterministic for `seed`.

    With `signal=False` everything is identical except that the cue sentences
    are permuted over companies.
    """
    if not 1 <= n_companies <= MAX_COMPANIES:
        raise ValueError(f"n_companies={n_companies}: the generator names at most {MAX_COMPANIES} distinct "
                         "companies; ask for fewer or add name parts in etl/signal_corpus.py")
    params = params or SignalParams()
    outlooks = draw_outlooks(n_companies, seed, signal, params)
    ciks: set[str] = set()
    companies, filings, truths = [], [], []
    for o in outlooks:
        co = _company_for(o.index, seed, ciks)
        t = o.base_fiscal_year
        fin = _financials(co, t - 3, t + 2, seed, log_growth=o.log_growth)
        cue_filing = build_filing(co, t, fin, seed, writers={CUE_SECTION: _outlook_writer(o.filler, o.cue.text)})
        label_filing = build_filing(co, t + 2, fin, seed)
        block, start = _cue_position(cue_filing, o.cue.text)
        truths.append(FilingTruth(cue_filing.file_name, co.cik, t, "cue", cue_filing.period_end, cue_filing.filed_at,
                                  True, o.cue.text, CUE_SECTION, block, start, start + len(o.cue.text)))
        truths.append(FilingTruth(label_filing.file_name, co.cik, t + 2, "label", label_filing.period_end,
                                  label_filing.filed_at, False))
        filings += [cue_filing, label_filing]
        years = list(range(t - 3, t + 3))
        revenue = [fin[y]["revenue"] * 10 ** co.scale for y in years]
        start_d, end_d = period_end(co.profile.fye, t + 1), period_end(co.profile.fye, t + 2)
        label_log = math.log(fin[t + 2]["revenue"] / fin[t + 1]["revenue"])
        companies.append(CompanyTruth(
            company_id=co.cik, ticker=co.ticker, company_name=co.name, industry=co.profile.industry,
            house_style=co.style.name, base_fiscal_year=t, signal=signal, outlook_z=o.z, cue_level=o.cue.level,
            cue_topic=o.cue.topic, cue_variant=o.cue.variant, cue_id=o.cue.cue_id, cue_sentence=o.cue.text,
            planted_growth=o.planted_growth, past_log_growth=math.log(fin[t]["revenue"] / fin[t - 1]["revenue"]),
            fiscal_years=years, revenue_usd=revenue, window_start=start_d, window_end=end_d,
            label_log_growth=label_log, label_growth=label_log * DAYS_PER_YEAR / (end_d - start_d).days,
            cue_file_name=cue_filing.file_name, label_file_name=label_filing.file_name))
    return SignalCorpus(params, signal, seed, companies, filings, truths)


# --- writing ---------------------------------------------------------------------------

def locate_cue_chunk(raw: bytes, file_name: str, sentence: str) -> tuple[str, int, int, str]:
    """Parse the filing with the real ETL (default chunk budget) and find the chunk holding the cue.

    Returns (filing_id, n_chunks, chunk seq, chunk_id).
    """
    from etl.documents import parse_filing

    doc = parse_filing(raw, Path(file_name), None)
    hits = [c for c in doc.chunks if sentence in c.text]
    if len(hits) != 1:
        raise AssertionError(f"{file_name}: the cue sentence is in {len(hits)} chunks after parsing, expected "
                             "exactly one; the generator and the ETL disagree on this filing's text")
    return doc.filing_id, len(doc.chunks), hits[0].seq, hits[0].chunk_id


def _jsonable(record) -> dict:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(record).items()}


# Truth-file column types, from the record dataclasses' annotations (so columns
# stay typed even when every value is null, e.g. chunks not located).
_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
                "date": pa.date32(), "list[int]": pa.list_(pa.int64())}


def truth_schema(record_type: type) -> pa.Schema:
    cols = []
    for f in fields(record_type):
        name = str(f.type).removesuffix(" | None")
        cols.append(pa.field(f.name, _ARROW_TYPES[name], nullable=str(f.type).endswith("| None")))
    return pa.schema(cols)


def _to_parquet(records: list, record_type: type, path: Path) -> None:
    pq.write_table(pa.Table.from_pylist([asdict(r) for r in records], schema=truth_schema(record_type)), path)


def write_signal_corpus(out_dir, n_companies: int = 300, signal: bool = True, seed: int = 0,
                        params: SignalParams | None = None, locate_chunks: bool = True) -> SignalCorpus:
    """Write every filing as `<file_name>` (UTF-8) with its `<file_name>.json` sidecar (as `write_corpus`),
    and the truth as `truth.json` (params, companies, filings) plus `truth_companies.parquet` and
    `truth_filings.parquet`. The ingest skips .json/.parquet files, so the folder can be ingested as is.

    `locate_chunks` parses each cue filing with the real ETL to record its filing_id, chunk count and the
    chunk holding the cue (about 40 ms a filing).
    """
    from etl.documents import filing_id_for

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = generate_signal_corpus(n_companies, signal, seed, params)
    truths = []
    for f, ft in zip(corpus.filings, corpus.filing_truth):
        raw = f.html.encode("utf-8")
        (out / f.file_name).write_bytes(raw)
        (out / f"{f.file_name}.json").write_text(json.dumps(f.sidecar, indent=2) + "\n", encoding="utf-8")
        ft = replace(ft, filing_id=filing_id_for(hashlib.sha256(raw).hexdigest()))
        if locate_chunks and ft.has_cue:
            fid, n_chunks, seq, cid = locate_cue_chunk(raw, f.file_name, ft.cue_sentence)
            assert fid == ft.filing_id
            ft = replace(ft, n_chunks=n_chunks, cue_chunk_seq=seq, cue_chunk_id=cid)
        truths.append(ft)
    corpus.filing_truth = truths
    data = {"params": {**asdict(corpus.params), "loading": corpus.params.loading},
            "signal": signal, "seed": seed, "n_companies": n_companies,
            "realised_spearman": corpus.realised_spearman(),
            "companies": [_jsonable(c) for c in corpus.companies],
            "filings": [_jsonable(t) for t in truths]}
    (out / TRUTH_JSON).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    _to_parquet(corpus.companies, CompanyTruth, out / TRUTH_COMPANIES)
    _to_parquet(truths, FilingTruth, out / TRUTH_FILINGS)
    return corpus
