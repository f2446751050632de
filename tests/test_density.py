"""Information density: the shipped curve, flatness on held-out prose, low scores
for repeated templates, and the curve-building job."""
from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from etl.density import (
    DEFAULT_CURVE_PATH, DensityCurve, build_curve, compression_ratio, information_density, is_prose,
    log_spaced_lengths, prose_blocks, window_ratios,
)
from etl.sample_corpus import generate_corpus

# A window of natural prose scores |median density| <= FLAT_TOL in every length
# bucket (per-window spread is wider: about +-0.2 between the 10th and 90th
# percentiles at short lengths).
FLAT_TOL = 0.15
LOW = math.log(0.4)
HELD_OUT = ("0000950153-99-001234.html", "aapl-10-k-2024-11-01.html", "ko-10-k-2025-02-20.html")


def test_shipped_curve_is_documented_and_sane():
    data = json.loads(DEFAULT_CURVE_PATH.read_text(encoding="utf-8"))
    curve = DensityCurve.load()
    assert curve.lengths[0] == 100 and curve.lengths[-1] == 1_000_000 and len(curve.lengths) >= 20
    steps = np.diff(np.log(curve.lengths))
    assert np.allclose(steps, steps.mean(), rtol=0.01)  # log-spaced
    assert "10-K" in data["built_from"] and len(data["files"]) == 11
    assert data["built_at"] and all(p["n"] >= 20 for p in data["points"])
    # zlib: longer prose compresses better, and prose compresses to well under its size
    assert all(b <= a + 1e-9 for a, b in zip(curve.ratios, curve.ratios[1:]))
    assert 0.2 < curve.ratios[-1] < curve.ratios[0] < 1.0
    # the held-out check recorded by the job
    assert data["validation"]["max_abs_median"] <= FLAT_TOL


def test_expected_interpolates_in_log_length_and_clamps():
    curve = DensityCurve((100, 10_000), (0.8, 0.4))
    assert curve.expected(100) == pytest.approx(0.8)
    assert curve.expected(1_000) == pytest.approx(0.6)  # halfway in log length
    assert curve.expected(10) == pytest.approx(0.8) and curve.expected(10**7) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        DensityCurve((100, 100), (0.5, 0.5))
    assert information_density("", curve) == float("-inf")


def _bucket_medians(corpora: list[bytes], curve: DensityCurve, lengths, n: int = 60, seed: int = 3) -> dict:
    rng = random.Random(seed)
    out = {}
    for length in lengths:
        d = []
        for corpus in corpora:
            d += [math.log(r / curve.expected(length)) for r in window_ratios(corpus, length, n, rng, curve.level)]
        if d:
            out[length] = float(np.median(d))
    return out


def test_density_is_flat_on_generated_prose():
    """Held-out prose (the sample corpus generator's, never seen by the shipped
    curve): windows inside each filing, 200 B - 10 KB (a filing holds ~12 KB of prose)."""
    curve = DensityCurve.load()
    corpora = ["\n".join(prose_blocks(f.html, True)).encode() for f in generate_corpus(4, 1, seed=11)]
    medians = _bucket_medians(corpora, curve, (200, 500, 1_000, 2_000, 5_000, 10_000))
    assert len(medians) == 6
    assert all(abs(m) <= FLAT_TOL for m in medians.values()), medians


def test_density_is_flat_on_held_out_real_prose(sec_10k_dir):
    """A curve built from 8 real 10-Ks scores the prose of the other 3 near 0
    at every length from 200 B to 200 KB."""
    docs = {p.name: prose_blocks(p.read_bytes(), True) for p in sorted(sec_10k_dir.glob("*.html"))}
    assert set(HELD_OUT) <= set(docs)
    train = [b for name, blocks in docs.items() if name not in HELD_OUT for b in blocks]
    curve = build_curve(train, log_spaced_lengths(100, 300_000, 14), samples=30, seed=1)
    held = "\n".join(b for name in HELD_OUT for b in docs[name]).encode()
    medians = _bucket_medians([held], curve, (200, 500, 1_000, 2_000, 5_000, 20_000, 50_000, 200_000), n=40)
    assert all(abs(m) <= FLAT_TOL for m in medians.values()), medians


def _template_pages() -> dict[str, str]:
    rows = [f"Photo {k} of 60: R200 work cell, {('front', 'side', 'rear')[k % 3]} view. Click to enlarge."
            for k in range(1, 61)]
    links = [f"{p} {d} (PDF, {1 + (k % 7)} MB) Download" for k, (p, d) in
             enumerate((p, d) for p in ("R200 Work Cell", "MC-9 Controller", "Lumen Vision")
                       for d in ("datasheet", "manual", "brochure", "safety sheet", "CAD drawings"))]
    card = "Posted in Company news by the Acme newsroom. 3 min read. Read more"
    return {
        "gallery": "\n".join(rows),
        "links": "\n".join(links * 2),
        "cards_short": "\n".join([card] * 10),                      # ~700 B
        "cards_long": "\n".join([f"Story {k}\n{card}" for k in range(3000)]),  # ~230 KB
    }


@pytest.mark.parametrize("name", sorted(_template_pages()))
def test_repeated_templates_score_low(name):
    text = _template_pages()[name]
    assert information_density(text) < LOW


def test_prose_scores_above_floor_and_direction():
    prose = " ".join(prose_blocks(generate_corpus(1, 1, seed=5)[0].html, True))[:3000]
    d = information_density(prose)
    assert d > LOW and abs(d) < 0.3
    # repeating the same prose makes it compress better: density falls
    assert information_density(prose[:300] * 10) < d


def test_build_curve_save_load_round_trip(tmp_path):
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"]
    blocks = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))) for _ in range(3000)]
    curve = build_curve(blocks, log_spaced_lengths(100, 20_000, 6), samples=30, meta={"built_from": "test words"})
    path = tmp_path / "c.json"
    curve.save(path)
    back = DensityCurve.load(path)
    assert back == curve and back.meta["built_from"] == "test words"
    assert [p["n"] for p in back.meta["points"]] == [30] * 6
    with pytest.raises(ValueError, match="too short"):
        build_curve(blocks[:2], [100_000, 1_000_000])


def test_is_prose():
    assert is_prose("The Company sells its products through a network of distributors in many countries.")
    assert not is_prose("Item 7. Management's Discussion")
    assert not is_prose("2024 2023 2022 1,234 5,678 9,012 (345)")


def test_build_density_curve_job_reads_html_and_text(tmp_path):
    from jobs.build_density_curve import main
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in generate_corpus(2, 1, seed=2):
        (corpus / f.file_name).write_text(f.html, encoding="utf-8")
    (corpus / "notes.txt").write_text("\n\n".join(
        "Plain text paragraphs count as prose when they have enough words in them, like this one number "
        + str(k) + "." for k in range(200)), encoding="utf-8")
    out = tmp_path / "curve.json"
    assert main(["--corpus", str(corpus), "--out", str(out), "--max-len", "5000", "--points", "6",
                 "--samples", "20", "--built-from", "two generated filings"]) == 0
    data = json.loads(out.read_text())
    assert data["built_from"] == "two generated filings" and sorted(data["files"])[-1] == "notes.txt"
    assert [p["length"] for p in data["points"]] == log_spaced_lengths(100, 5000, 6)
    assert all(p["n"] == 20 for p in data["points"]) and data["built_at"]
    curve = DensityCurve.load(out)
    assert curve.ratios[0] > curve.ratios[-1]
    assert compression_ratio(b"ab" * 500) < curve.expected(1000)  # repetition compresses below prose
