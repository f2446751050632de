"""Embedding benchmarks: paraphrase retrieval, numeric ordering, geometry of chunk vectors.

FROZEN BENCHMARK SENTENCES. The two sentence sets in `models/data/benchmarks/`
were written for this project before any embedder was trained, and must not
be edited to suit a model afterwards. Their SHA-256 digests are recorded in
`FROZEN_SHA256` and checked by `tests/test_benchmarks.py`, so any edit shows
up in review; every result records the digests it ran on. To add cases, add a
new file with its own digest and report it apart, never change these.

- `paraphrases.jsonl` (48 pairs): a financial sentence and a paraphrase with
  the same facts and numbers (sometimes written differently: "$1.2 billion" /
  "$1,200 million", "8%" / "eight percent"). Some pairs are decoys of each
  other (p01/p02: "8% to $4.2 billion" vs "4% to $8.6 billion"), so word
  overlap alone does not retrieve them.
- `numeric_triplets.jsonl` (80 triplets): an anchor ("Last year revenue was
  $17 billion"), a near ("Revenue for the year was $15 billion") and a far
  ("Revenue for the year was $1 billion") sentence. Near and far share one
  sentence frame and differ only in the number text, so only the number can
  decide; the anchor states the same kind of fact, in the same frame or in
  another wording. Categories: `scale` (thousand/million/billion/trillion),
  `in_units_of` ("in millions" captions, scale outside the number), `unit`
  (euros, pounds, shares, employees, square feet, barrels, tonnes, stores,
  customers, megawatts, passengers, vehicles), `percent`, `per_share`,
  `negative` (parenthesised and minus-signed values, losses and declines,
  sign flips), `digit_trap` and `plain`. `hard` (61 of 80) marks triplets
  whose far number has the significant digits of the anchor's or the near's
  (equal, or the same digits cut or rounded to at least two), so reading the
  digits alone does not favour the near sentence: 17 billion / 15 billion /
  17 million, 2.1 trillion / 2.1 billion, 23,418 / 21,900 / 2,342. Values
  are as written and scaled (percentages as fractions, signs as the number
  text shows them), in the store's `numbers.value` sense: "a net loss of
  $318 million" holds +318e6, "$(17) million" holds -17e6.

Metrics (every one is a pure numpy function here):
- Paraphrase retrieval, both directions: each sentence queries all
  paraphrases (s→p) and each paraphrase queries all sentences (p→s), by
  cosine. The correct item's rank counts ties against it (rank = 1 + number
  of other candidates scoring >= it), so a constant embedder scores 0, not 1.
  recall@1 and MRR per direction; the headline is the mean of the two.
- Numeric ordering accuracy: share of triplets with cos(anchor, near) >
  cos(anchor, far), strictly (a tie is a failure), overall, per category and
  on the `hard` subset; the mean margin cos(a,n) - cos(a,f) is reported too.
- Geometry of N stored chunks (a seeded sample, the same for every model):
  participation ratio PR = (Σλ)² / Σλ² of the eigenvalues λ of the sample
  covariance (the standard definition; the issue's wording is loose): 1 for
  vectors on one line, d for isotropic ones. Mean pairwise cosine over all
  pairs i != j (near 1: every vector points the same way, the anisotropy of
  untrained encoders). Both again after PCA whitening fitted on the same
  sample: the whitened covariance is the identity on the kept components,
  so the whitened PR equals the numerical rank by construction; it is
  reported to show the rank (a rank-deficient model has PR < dim), not as
  a quality score. The whitened mean cosine is near 0 for any model.

Checkpoint selection (`select_checkpoint`) uses these benchmarks, not the
validation loss: score = numeric ordering accuracy + paraphrase recall@1
(mean of both directions), tie-break by the raw participation ratio (less
collapsed wins), then by name.

No I/O beyond reading the two benchmark files, no Ray: the job
(`jobs.benchmark`) reads the store and loads the models.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from featurestore.whitening import WHITENING_REL_EPS, Whitening, fit_whitening  # noqa: F401  (re-exported)
from models.tokenizer import strip_tags

BENCHMARK_DIR = Path(__file__).resolve().parent / "data" / "benchmarks"
PARAPHRASES_FILE = BENCHMARK_DIR / "paraphrases.jsonl"
TRIPLETS_FILE = BENCHMARK_DIR / "numeric_triplets.jsonl"
# Digests of the frozen sentence sets (see the module docstring): change only with a new file.
FROZEN_SHA256 = {
    "paraphrases.jsonl": "f83ab8337f9aeffbddef0a7b97d6805e175a3f2c650e127e9327e6f55b3271db",
    "numeric_triplets.jsonl": "06a1e5cc060ccdda7bdc21e91ffc32a56376b306fce0aa69234bd8c9779ca56a",
}
TRIPLET_CATEGORIES = ("scale", "in_units_of", "unit", "percent", "per_share", "negative", "digit_trap", "plain")
EMBED_TOKEN_BUDGET = 8192     # padded tokens per chunk batch
SENTENCE_BATCH = 1024         # sentences per embed_texts call (the model sorts them by length)
SELECTION_CRITERION = ("numeric ordering accuracy + paraphrase recall@1 (mean of both directions); "
                       "ties broken by the participation ratio of the chunk sample, then by name")

NumberRow = tuple[int, int, float]


class TextEmbedder(Protocol):
    """What the benchmarks need of a model (`models.embedding_models.Embedder` satisfies it).

    Chunks go through `encode` + (`pad`) + `embed_batch` when the model has
    them (number-aware models then read the store's number rows); otherwise
    through `embed_texts` on the tag-stripped text (see `embed_chunks`).
    """
    model_version: str
    dim: int

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


# --- the frozen sentence sets -------------------------------------------------------

@dataclass(frozen=True)
class ParaphrasePair:
    id: str
    topic: str
    sentence: str
    paraphrase: str


@dataclass(frozen=True)
class NumericTriplet:
    id: str
    category: str
    hard: bool
    anchor: str
    near: str
    far: str
    anchor_value: float
    near_value: float
    far_value: float


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{i} is not valid JSON ({e}); each line holds one JSON object") from e
    return rows


def load_paraphrases(path: str | Path = PARAPHRASES_FILE) -> list[ParaphrasePair]:
    rows = _read_jsonl(Path(path))
    try:
        return [ParaphrasePair(r["id"], r["topic"], r["sentence"], r["paraphrase"]) for r in rows]
    except KeyError as e:
        raise ValueError(f"{path}: a line lacks field {e}; each needs id, topic, sentence, paraphrase") from e


def load_triplets(path: str | Path = TRIPLETS_FILE) -> list[NumericTriplet]:
    rows = _read_jsonl(Path(path))
    try:
        return [NumericTriplet(r["id"], r["category"], bool(r["hard"]), r["anchor"], r["near"], r["far"],
                               float(r["anchor_value"]), float(r["near_value"]), float(r["far_value"]))
                for r in rows]
    except KeyError as e:
        raise ValueError(f"{path}: a line lacks field {e}; each needs id, category, hard, anchor, near, far, "
                         f"anchor_value, near_value, far_value") from e


def dataset_digests() -> dict[str, dict[str, Any]]:
    """Per frozen file: its SHA-256 now, the frozen one, and whether they agree."""
    out = {}
    for path in (PARAPHRASES_FILE, TRIPLETS_FILE):
        sha = file_sha256(path)
        out[path.name] = {"sha256": sha, "frozen_sha256": FROZEN_SHA256[path.name],
                          "unchanged": sha == FROZEN_SHA256[path.name]}
    return out


def numeric_distance(a: float, b: float) -> float:
    """How far apart two values are for ordering: |log10|a| - log10|b||; infinite across signs.

    Zero counts as positive and is floored at 1e-12 (no triplet uses it).
    """
    if (a < 0) != (b < 0):
        return math.inf
    return abs(math.log10(max(abs(a), 1e-12)) - math.log10(max(abs(b), 1e-12)))


# --- metrics ------------------------------------------------------------------------

def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) cosine similarities."""
    return l2_normalize(a) @ l2_normalize(b).T


def retrieval_ranks(sim: np.ndarray) -> np.ndarray:
    """1-based rank of the correct candidate (the diagonal) in each row; ties count against it."""
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"retrieval_ranks needs a square query x candidate matrix, got shape {sim.shape}")
    correct = np.diag(sim)[:, None]
    at_least = (sim >= correct).sum(axis=1)      # includes the correct candidate itself
    return at_least.astype(np.int64)


def recall_at_k(ranks: np.ndarray, k: int = 1) -> float:
    return float(np.mean(np.asarray(ranks) <= k)) if len(ranks) else math.nan


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    return float(np.mean(1.0 / np.asarray(ranks, dtype=np.float64))) if len(ranks) else math.nan


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(a_i, b_i) for each row i."""
    return np.sum(l2_normalize(a) * l2_normalize(b), axis=1)


def ordering_correct(anchor: np.ndarray, near: np.ndarray, far: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(correct, margin) per triplet: correct where cos(a, near) > cos(a, far) strictly."""
    margin = row_cosines(anchor, near) - row_cosines(anchor, far)
    return margin > 0, margin


def ordering_accuracy(anchor: np.ndarray, near: np.ndarray, far: np.ndarray) -> float:
    correct, _ = ordering_correct(anchor, near, far)
    return float(np.mean(correct)) if len(correct) else math.nan


def covariance_eigenvalues(x: np.ndarray) -> np.ndarray:
    """Eigenvalues of the sample covariance of the rows of `x`, descending (via the SVD of centred x)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 vectors as an (n, d) array for a covariance, got shape {x.shape}")
    centred = x - x.mean(axis=0, keepdims=True)
    s = np.linalg.svd(centred, compute_uv=False)
    return s ** 2 / (x.shape[0] - 1)


def participation_ratio(x: np.ndarray) -> float:
    """(Σλ)² / Σλ² of the covariance eigenvalues: 1 for collinear data, d for isotropic data in d dims."""
    lam = covariance_eigenvalues(x)
    denom = float(np.sum(lam ** 2))
    return float(np.sum(lam) ** 2 / denom) if denom > 0 else 0.0


def numerical_rank(x: np.ndarray, rel_eps: float = WHITENING_REL_EPS) -> int:
    lam = covariance_eigenvalues(x)
    return int(np.sum(lam > rel_eps * lam[0])) if lam.size and lam[0] > 0 else 0


def mean_pairwise_cosine(x: np.ndarray) -> float:
    """Mean cos(x_i, x_j) over all ordered pairs i != j, in O(n d) (|Σu|² - Σ|u_i|² over n(n-1))."""
    u = l2_normalize(x)
    n = u.shape[0]
    if n < 2:
        raise ValueError(f"mean pairwise cosine needs at least 2 vectors, got {n}")
    total = u.sum(axis=0)
    return float((total @ total - np.sum(u * u)) / (n * (n - 1)))


# --- results ------------------------------------------------------------------------

@dataclass
class ParaphraseResult:
    n: int
    recall_at_1_s2p: float
    recall_at_1_p2s: float
    mrr_s2p: float
    mrr_p2s: float
    ranks_s2p: list[int] = field(default_factory=list)
    ranks_p2s: list[int] = field(default_factory=list)

    @property
    def recall_at_1(self) -> float:
        return (self.recall_at_1_s2p + self.recall_at_1_p2s) / 2

    @property
    def mrr(self) -> float:
        return (self.mrr_s2p + self.mrr_p2s) / 2


@dataclass
class NumericResult:
    n: int
    accuracy: float
    hard_accuracy: float
    mean_margin: float
    by_category: dict[str, dict[str, float]]       # category -> {"n", "accuracy"}
    correct: dict[str, bool] = field(default_factory=dict)   # triplet id -> correct


@dataclass
class GeometryResult:
    n: int
    dim: int
    rank: int
    participation_ratio: float
    mean_cosine: float
    whitened_participation_ratio: float
    whitened_mean_cosine: float


@dataclass
class ModelResult:
    name: str
    model_version: str
    dim: int
    paraphrase: ParaphraseResult
    numeric: NumericResult
    geometry: GeometryResult | None
    seconds: float
    path: str | None = None

    @property
    def score(self) -> float:
        return selection_score(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["paraphrase"]["recall_at_1"] = self.paraphrase.recall_at_1
        d["paraphrase"]["mrr"] = self.paraphrase.mrr
        d["score"] = self.score
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelResult:
        p = {k: v for k, v in d["paraphrase"].items() if k not in ("recall_at_1", "mrr")}
        geo = d.get("geometry")
        return cls(d["name"], d["model_version"], int(d["dim"]), ParaphraseResult(**p), NumericResult(**d["numeric"]),
                   GeometryResult(**geo) if geo else None, float(d["seconds"]), d.get("path"))


@dataclass
class ChunkSample:
    """The stored chunks the geometry is measured on (the same sample for every model)."""
    chunk_ids: list[str]
    tagged_texts: list[str]                 # chunk text with <number> tags
    numbers: list[list[NumberRow]]          # the store's number rows per chunk
    seed: int
    source: str = ""                        # where it came from (store path)
    available: int = 0                      # chunks the source held

    def __post_init__(self) -> None:
        if not (len(self.chunk_ids) == len(self.tagged_texts) == len(self.numbers)):
            raise ValueError(f"chunk sample: {len(self.chunk_ids)} ids, {len(self.tagged_texts)} texts and "
                             f"{len(self.numbers)} number lists must have the same length")

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @property
    def plain_texts(self) -> list[str]:
        return [strip_tags(t) for t in self.tagged_texts]


@dataclass
class BenchmarkResult:
    models: dict[str, ModelResult]
    datasets: dict[str, dict[str, Any]]
    sample: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"models": {k: v.to_dict() for k, v in self.models.items()}, "datasets": self.datasets,
                "sample": self.sample, "notes": self.notes, "selection_criterion": SELECTION_CRITERION}

    def table(self) -> str:
        return format_tables(self)


def select_sample(chunk_ids: Iterable[str], n: int, seed: int) -> list[str]:
    """`n` chunk ids (all if fewer), the lowest by a seeded hash: independent of read order, and
    adding chunks to a store changes the sample only where a new chunk's hash ranks inside it."""
    if n < 2:
        raise ValueError(f"a geometry sample needs n >= 2 chunks, got n={n}")
    ranked = sorted(set(chunk_ids), key=lambda c: hashlib.sha256(f"{seed}\x00{c}".encode()).hexdigest())
    return sorted(ranked[:n])


# --- running ------------------------------------------------------------------------

def _check_vectors(v: np.ndarray, n: int, who: str) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim != 2 or v.shape[0] != n:
        raise ValueError(f"{who} returned an array of shape {v.shape} for {n} inputs; expected ({n}, dim)")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{who} returned NaN or infinite values; check the model's weights and inputs")
    return v.astype(np.float32, copy=False)


def embed_sentences(embedder: TextEmbedder, texts: Sequence[str], batch: int = SENTENCE_BATCH) -> np.ndarray:
    parts = [_check_vectors(embedder.embed_texts(list(texts[i:i + batch])), len(texts[i:i + batch]),
                            f"{embedder.model_version}.embed_texts")
             for i in range(0, len(texts), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def embed_chunks(embedder: TextEmbedder, sample: ChunkSample, token_budget: int = EMBED_TOKEN_BUDGET) -> np.ndarray:
    """Chunk vectors: stored tagged text + number rows through `encode` and `embed_batch` when the model
    has them (so a number-aware model reads the ingest's values), else embed_texts on plain text.

    `embed_batch` gets `pad(encodings)` where the model has `pad` (models.embedding_models' protocol),
    else the list of encodings itself (an embedder that pads internally).
    """
    if all(hasattr(embedder, m) for m in ("encode", "embed_batch")):
        from models.batching import token_budget_batches
        pad = getattr(embedder, "pad", None)
        encodings = embedder.encode(sample.tagged_texts, sample.numbers)
        out = np.zeros((len(sample), embedder.dim), dtype=np.float32)
        for idx in token_budget_batches([len(e) for e in encodings], token_budget, rng=None, shuffle=False):
            batch = [encodings[i] for i in idx]
            out[idx] = _check_vectors(embedder.embed_batch(pad(batch) if pad is not None else batch), len(idx),
                                      f"{embedder.model_version}.embed_batch")
        return out
    return embed_sentences(embedder, sample.plain_texts)


def paraphrase_scores(sim_s2p: np.ndarray) -> ParaphraseResult:
    """Both directions from one sentence x paraphrase similarity matrix."""
    r_s2p, r_p2s = retrieval_ranks(sim_s2p), retrieval_ranks(np.asarray(sim_s2p).T)
    return ParaphraseResult(len(r_s2p), recall_at_k(r_s2p), recall_at_k(r_p2s), mean_reciprocal_rank(r_s2p),
                            mean_reciprocal_rank(r_p2s), r_s2p.tolist(), r_p2s.tolist())


def numeric_scores(triplets: Sequence[NumericTriplet], anchor: np.ndarray, near: np.ndarray,
                   far: np.ndarray) -> NumericResult:
    correct, margin = ordering_correct(anchor, near, far)
    by_cat: dict[str, dict[str, float]] = {}
    for cat in dict.fromkeys([t.category for t in triplets]):
        sel = np.array([t.category == cat for t in triplets])
        by_cat[cat] = {"n": int(sel.sum()), "accuracy": float(correct[sel].mean())}
    hard = np.array([t.hard for t in triplets], dtype=bool)
    return NumericResult(len(triplets), float(correct.mean()) if len(correct) else math.nan,
                         float(correct[hard].mean()) if hard.any() else math.nan,
                         float(margin.mean()) if len(margin) else math.nan, by_cat,
                         {t.id: bool(c) for t, c in zip(triplets, correct)})


def geometry(vectors: np.ndarray) -> GeometryResult:
    """PR and mean pairwise cosine, raw and after PCA whitening fitted on the same vectors."""
    w = fit_whitening(vectors)
    z = w.apply(vectors)
    return GeometryResult(int(vectors.shape[0]), int(vectors.shape[1]), w.rank, participation_ratio(vectors),
                          mean_pairwise_cosine(vectors), participation_ratio(z), mean_pairwise_cosine(z))


def benchmark_model(name: str, embedder: TextEmbedder, pairs: Sequence[ParaphrasePair],
                    triplets: Sequence[NumericTriplet], sample: ChunkSample | None) -> ModelResult:
    t0 = time.perf_counter()
    # one embed_texts pass over every distinct sentence: the model batches similar lengths together
    texts = list(dict.fromkeys([*(p.sentence for p in pairs), *(p.paraphrase for p in pairs),
                                *(t.anchor for t in triplets), *(t.near for t in triplets),
                                *(t.far for t in triplets)]))
    vecs = dict(zip(texts, embed_sentences(embedder, texts)))

    def rows(strings: Iterable[str]) -> np.ndarray:
        picked = [vecs[x] for x in strings]
        return np.stack(picked) if picked else np.zeros((0, embedder.dim), np.float32)

    para = paraphrase_scores(cosine_matrix(rows(p.sentence for p in pairs), rows(p.paraphrase for p in pairs)))
    num = numeric_scores(triplets, rows(t.anchor for t in triplets), rows(t.near for t in triplets),
                         rows(t.far for t in triplets))
    geo = geometry(embed_chunks(embedder, sample)) if sample is not None and len(sample) >= 2 else None
    return ModelResult(name, str(embedder.model_version), int(embedder.dim), para, num, geo,
                       time.perf_counter() - t0, getattr(embedder, "path", None))


def run_benchmarks(embedders: Mapping[str, TextEmbedder], chunk_sample: ChunkSample | None,
                   pairs: Sequence[ParaphrasePair] | None = None,
                   triplets: Sequence[NumericTriplet] | None = None) -> BenchmarkResult:
    """Every benchmark for every model, on the same sentences and the same chunk sample.

    `chunk_sample` None skips the geometry. `pairs`/`triplets` default to the frozen sets;
    passing others is for tests (the result then says so).
    """
    if not embedders:
        raise ValueError("run_benchmarks needs at least one model to benchmark")
    notes: list[str] = []
    datasets = dataset_digests()
    for fname, d in datasets.items():
        if not d["unchanged"]:
            notes.append(f"{fname} differs from its frozen digest: these figures are not comparable "
                         f"with earlier runs")
    if pairs is None:
        pairs = load_paraphrases()
    else:
        notes.append(f"custom paraphrase set ({len(pairs)} pairs), not {PARAPHRASES_FILE.name}")
    if triplets is None:
        triplets = load_triplets()
    else:
        notes.append(f"custom triplet set ({len(triplets)} triplets), not {TRIPLETS_FILE.name}")
    sample_info = None
    if chunk_sample is not None:
        sample_info = {"n": len(chunk_sample), "seed": chunk_sample.seed, "source": chunk_sample.source,
                       "available": chunk_sample.available}
        if len(chunk_sample) < 2:
            notes.append(f"chunk sample of {len(chunk_sample)} chunks: geometry skipped (needs >= 2)")
    results = {name: benchmark_model(name, emb, pairs, triplets, chunk_sample) for name, emb in embedders.items()}
    return BenchmarkResult(results, datasets, sample_info, notes)


# --- checkpoint selection -----------------------------------------------------------

def selection_score(result: ModelResult) -> float:
    """numeric ordering accuracy + paraphrase recall@1 (mean of both directions); in [0, 2]."""
    return result.numeric.accuracy + result.paraphrase.recall_at_1


def select_checkpoint(results_by_checkpoint: Mapping[str, ModelResult]) -> str:
    """The checkpoint the benchmarks prefer (see SELECTION_CRITERION); never the validation loss."""
    if not results_by_checkpoint:
        raise ValueError("select_checkpoint got no results; benchmark at least one checkpoint")

    def key(item: tuple[str, ModelResult]) -> tuple[float, float, str]:
        name, r = item
        pr = r.geometry.participation_ratio if r.geometry is not None else -math.inf
        # rounded so float noise in equal scores does not decide; name last for determinism
        return (-round(selection_score(r), 9), -pr, name)

    return min(results_by_checkpoint.items(), key=key)[0]


# --- tables -------------------------------------------------------------------------

def _fmt(x: float, width: int, places: int = 3) -> str:
    return ("nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{places}f}").rjust(width)


def format_tables(result: BenchmarkResult) -> str:
    models = list(result.models.values())
    w = max([len(m.name) for m in models] + [5]) + 2
    lines: list[str] = []
    n_pairs = models[0].paraphrase.n
    lines.append(f"Paraphrase retrieval ({n_pairs} pairs; s→p: each sentence queries all paraphrases, "
                 f"p→s: the reverse; cosine; ties count against)")
    lines.append("model".ljust(w) + "".join(h.rjust(9) for h in ("R@1", "MRR", "R@1 s→p", "R@1 p→s",
                                                                    "MRR s→p", "MRR p→s")) + "  version")
    for m in models:
        p = m.paraphrase
        lines.append(m.name.ljust(w) + "".join(_fmt(v, 9) for v in (p.recall_at_1, p.mrr, p.recall_at_1_s2p,
                                                                    p.recall_at_1_p2s, p.mrr_s2p, p.mrr_p2s))
                     + f"  {m.model_version}")
    lines.append(f"  chance: R@1 {1 / n_pairs:.3f}")
    lines.append("")
    cats = [c for c in TRIPLET_CATEGORIES if any(c in m.numeric.by_category for m in models)]
    cats += sorted({c for m in models for c in m.numeric.by_category} - set(cats))
    counts = {c: next(int(m.numeric.by_category[c]["n"]) for m in models if c in m.numeric.by_category)
              for c in cats}
    lines.append(f"Numeric ordering ({models[0].numeric.n} triplets; accuracy = share with cos(anchor, near) > "
                 f"cos(anchor, far); chance 0.5)")
    heads = ["all", "hard", *(f"{c}({counts[c]})" for c in cats), "margin"]
    cw = max(9, max(len(h) for h in heads) + 1)
    lines.append("model".ljust(w) + "".join(h.rjust(cw) for h in heads))
    for m in models:
        nr = m.numeric
        vals = [nr.accuracy, nr.hard_accuracy, *(nr.by_category.get(c, {}).get("accuracy", math.nan) for c in cats)]
        lines.append(m.name.ljust(w) + "".join(_fmt(v, cw) for v in vals) + _fmt(nr.mean_margin, cw, 4))
    lines.append("")
    if any(m.geometry is not None for m in models):
        s = result.sample or {}
        lines.append(f"Geometry of {s.get('n')} stored chunks (seed {s.get('seed')}, of {s.get('available')}); "
                     f"PR = (Σλ)²/Σλ² of covariance eigenvalues")
        lines.append("model".ljust(w) + "".join(h.rjust(11) for h in ("dim", "rank", "PR", "PR/dim", "mean cos",
                                                                        "white PR", "white cos")))
        for m in models:
            g = m.geometry
            if g is None:
                lines.append(m.name.ljust(w) + "  (no chunk sample)")
                continue
            lines.append(m.name.ljust(w) + f"{g.dim:11d}{g.rank:11d}" + _fmt(g.participation_ratio, 11, 1)
                         + _fmt(g.participation_ratio / g.dim, 11) + _fmt(g.mean_cosine, 11)
                         + _fmt(g.whitened_participation_ratio, 11, 1) + _fmt(g.whitened_mean_cosine, 11))
        lines.append("  whitening is fitted on the same sample, so the whitened PR equals the rank by "
                     "construction (it shows rank deficiency, not quality)")
        lines.append("")
    lines.append("Selection score (" + SELECTION_CRITERION + ")")
    for m in sorted(models, key=lambda m: -m.score):
        lines.append(f"  {m.name.ljust(w)}{m.score:.3f}   ({m.seconds:.1f} s)")
    for note in result.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
