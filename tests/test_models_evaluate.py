"""Masked-number evaluation: metrics on hand cases, baselines, and a tiny model end to end on a real store."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from etl.documents import parse_filing
from etl.records import filing_tables
from etl.sample_corpus import generate_corpus
from featurestore import CHUNKS, FILINGS, NUMBERS, SECTIONS, Store
from models.config import NumberConfig, tiny
from models.evaluate import (Case, MedianBaseline, cases_from_chunks, cases_from_numeracy, encode_cases,
                             evaluate, format_table, log10_errors, nearest_baseline, nearest_number,
                             number_metrics, number_token_index, relative_errors, sample_cases)
from models.model_files import build_encoder, save_encoder
from models.numeracy import generate
from models.pretraining import RUN_CONFIG_FILE, read_chunks, split_by_company
from models.tokenizer import NumberTokenizer, tag_text


# --- metrics on hand cases -----------------------------------------------------------

def test_log10_and_relative_errors_by_hand():
    pred = np.array([100.0, -20.0, 0.5, 0.0, 3e6])
    true = np.array([10.0, 20.0, 0.5, 1e-3, 1e6])
    assert log10_errors(pred, true) == pytest.approx([1.0, 0.0, 0.0, 0.0, math.log10(3)])  # 0 floors at 1e-3
    assert relative_errors(pred, true) == pytest.approx([9.0, 2.0, 0.0, 1.0, 2.0])
    assert relative_errors(np.array([1.0, 5.0]), np.array([0.0, 4.0])) == pytest.approx([0.25])  # true 0 dropped


def test_number_metrics_by_hand():
    m = number_metrics([100.0, -20.0, 0.5, 2e6], [10.0, 20.0, 0.5, 1e6])
    assert m["n"] == 4
    assert m["log10_mae"] == pytest.approx((1.0 + 0 + 0 + math.log10(2)) / 4)
    assert m["median_log10_err"] == pytest.approx(math.log10(2) / 2)  # median of 1, 0, 0, 0.301
    assert m["median_rel_err"] == pytest.approx(np.median([9.0, 2.0, 0.0, 1.0]))
    assert m["oom_acc"] == pytest.approx(3 / 4)  # 100 vs 10 is a whole decade off; 2e6 vs 1e6 is 0.30
    assert m["sign_acc"] == pytest.approx(3 / 4)  # -20 for 20
    empty = number_metrics([], [])
    assert empty["n"] == 0 and math.isnan(empty["log10_mae"])


def test_median_baseline_per_kind_with_global_fallback():
    b = MedianBaseline.fit([1e6, 3e6, -5e6, 0.1, 0.3, 2020.0], ["amount", "amount", "amount", "percent",
                                                                 "percent", "year"])
    assert b.predict_one("amount") == 3e6 and b.predict_one("percent") == pytest.approx(0.2)
    assert b.predict_one("count") == pytest.approx(np.median([1e6, 3e6, 5e6, 0.1, 0.3, 2020.0]))
    b2 = MedianBaseline.fit([-1.0, -3.0, 2.0], ["x", "x", "x"])
    assert b2.predict_one("x") == -2.0  # majority sign


def hand_case(text: str, target: int) -> Case:
    tagged, rows = tag_text(text)
    return Case("c", tagged, rows, target, "amount")


def test_nearest_number_by_character_distance():
    #            target 40 is 6 chars from 24 ("24 gives 40": gap " gives ") and far from 16
    c = hand_case("16 plus 24 gives 40 and much later comes 7", 2)
    assert c.value == 40.0 and nearest_number(c) == 24.0
    c = hand_case("16 plus 24 gives 40 and much later comes 7", 0)
    assert nearest_number(c) == 24.0
    c = hand_case("revenue of $5 million, then 40 pages of prose about nothing at all, then 9", 1)
    assert c.value == 40.0 and nearest_number(c) == 5e6  # ", then " (7) beats " pages of ... then " (>40)
    lone = hand_case("only one number: 12", 0)
    assert nearest_number(lone) is None
    preds, fallback = nearest_baseline([lone, c], MedianBaseline.fit([3.0], ["amount"]))
    assert preds.tolist() == [3.0, 5e6] and fallback == 1


def test_sample_is_fixed_and_shared():
    cases = [Case(str(i), "", [(0, 1, float(i))], 0) for i in range(100)]
    a, b = sample_cases(cases, 10, seed=3), sample_cases(cases, 10, seed=3)
    assert [c.case_id for c in a] == [c.case_id for c in b] and len(a) == 10
    assert sample_cases(cases, 1000, seed=3) == cases


def test_table_lists_every_method_and_metric():
    t = format_table("t", {"model": number_metrics([1.0], [2.0]), "nearest_number": number_metrics([2.0], [2.0])})
    assert "model" in t and "nearest_number" in t and "log10_mae" in t and "oom_acc" in t


# --- masking the right token ---------------------------------------------------------

def test_each_case_masks_its_own_num_token():
    items = generate(24, seed=1)
    cases = cases_from_numeracy(items)
    tok = NumberTokenizer.train_bpe([i.text for i in items], vocab_size=400, max_length=64)
    encodings, enc_index, positions = encode_cases(tok, cases)
    for c, ei, pos in zip(cases, enc_index, positions):
        assert pos >= 0 and encodings[ei].input_ids[pos] == tok.num_token_id
        assert encodings[ei].num_values[pos] == pytest.approx(c.value, rel=1e-6)
    # a tag without a row and without a number stays text: it gets no [NUM] ordinal
    text = "<number>12</number> and <number>n/a</number> then <number>7</number>"
    idx = number_token_index(text, [(8, 10, 12.0)])
    assert list(idx.values()) == [0, 1] and len(idx) == 2


# --- end to end on a tiny store ------------------------------------------------------

def small_model(tok: NumberTokenizer):
    p = tiny()
    p.encoder.backbone_config = dict(p.encoder.backbone_config, num_hidden_layers=2, hidden_size=64,
                                     intermediate_size=96)
    p.encoder.max_length = 160
    p.encoder.number = NumberConfig(n_bins=64)
    return p, build_encoder(p.encoder, tok, seed=0)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory) -> Path:
    """Three generated companies ingested without Ray into a real local store."""
    path = tmp_path_factory.mktemp("store")
    store = Store(path, create=True)
    with store.transaction() as tx:
        for f in generate_corpus(3, 1, seed=11):
            p = parse_filing(f.html.encode(), Path(f.file_name), json.dumps(f.sidecar).encode(), max_tokens=128)
            t = filing_tables(p, f.file_name, len(f.html))
            tx.upsert(FILINGS.name, t[FILINGS.name])
            for table in (SECTIONS, CHUNKS, NUMBERS):
                tx.replace_partitions(table.name, [p.filing_id], t[table.name])
    return path


def test_tiny_random_model_runs_through_evaluate_end_to_end(tiny_store, tmp_path):
    from jobs.eval_numbers import filing_cases, main, run

    torch.set_flush_denormal(True)
    seed, frac = 0, 0.34
    chunks = read_chunks(Store(tiny_store))
    train, held, companies = split_by_company(chunks, frac, seed)
    assert held and train
    tok = NumberTokenizer.train_bpe([c.text for c in train], vocab_size=600, max_length=160)
    preset, model = small_model(tok)
    preset.train.seed, preset.train.eval_fraction = seed, frac
    run_dir = tmp_path / "run"
    save_encoder(model, run_dir / "model", tok)
    (run_dir / RUN_CONFIG_FILE).write_text(json.dumps({"encoder": preset.encoder.to_dict(),
                                                        "train": preset.train.to_dict()}))

    # the library call on hand-built cases: three methods, the same cases for each
    cases, baseline, info = filing_cases(tiny_store, seed, frac, "eval")
    assert info["companies"] == companies and {c.group for c in cases} == set(companies)
    assert all(c.kind != "unknown" for c in cases)  # kinds come from the store's numbers.kind
    ev = evaluate(model, tok, sample_cases(cases, 60, 0), baseline)
    assert set(ev.metrics) == {"model", "median_magnitude", "nearest_number"}
    assert {m["n"] for m in ev.metrics.values()} == {ev.n_cases} and ev.n_cases + ev.n_skipped == 60
    for m in ev.metrics.values():
        assert 0 <= m["oom_acc"] <= 1 and 0 <= m["sign_acc"] <= 1 and math.isfinite(m["log10_mae"])

    # the job: split from the run folder, filings and numeracy tables, JSON written
    report = run(tiny_store, run_dir, max_numbers=40, numeracy_items=16)
    assert report["split_settings_from"].endswith(RUN_CONFIG_FILE)
    assert report["data"]["companies"] == companies
    assert set(report["results"]) == {"filings", "numeracy"}
    assert report["results"]["numeracy"]["n_cases"] == 16
    out = tmp_path / "eval.json"
    assert main(["--store", str(tiny_store), "--model", str(run_dir), "--max-numbers", "20",
                 "--numeracy-items", "8", "--json", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["results"]["filings"]["metrics"]["model"]["n"] > 0


def test_cases_from_chunks_keeps_only_finite_numbers():
    rows = [(0, 2, 5.0, "count"), (5, 7, float("nan"), "count"), (9, 11, None, "count")]
    cases = cases_from_chunks([("ch", "co", "x" * 20, rows)])
    assert len(cases) == 1 and cases[0].value == 5.0 and cases[0].kind == "count"
