"""Pretraining: overfitting, exact resumption, data from a real store, and a 2-worker Ray Train run."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from etl.documents import parse_filing
from etl.records import filing_tables
from etl.sample_corpus import generate_corpus
from featurestore import CHUNKS, FILINGS, NUMBERS, SECTIONS, Store
from models.collator import MLMCollator
from models.config import NumberConfig, Preset, TrainConfig, tiny
from models.losses import pretrain_loss
from models.model_files import build_encoder, load_pretrained
from models.pretraining import (ChunkRecord, PretrainJob, Pretrainer, TokenizedCorpus, make_optimizer, read_chunks,
                             split_by_company)
from models.tokenizer import NumberTokenizer


def parsed_filings(n_companies: int, seed: int = 5, max_tokens: int = 128):
    out = []
    for f in generate_corpus(n_companies, 1, seed=seed):
        out.append((f, parse_filing(f.html.encode(), Path(f.file_name), json.dumps(f.sidecar).encode(),
                                    max_tokens=max_tokens)))
    return out


def write_store(path: Path, filings) -> Store:
    """A real local store written through featurestore, without Ray."""
    store = Store(path, create=True)
    with store.transaction() as tx:
        for f, p in filings:
            t = filing_tables(p, f.file_name, len(f.html))
            tx.upsert(FILINGS.name, t[FILINGS.name])
            for table in (SECTIONS, CHUNKS, NUMBERS):
                tx.replace_partitions(table.name, [p.filing_id], t[table.name])
    return store


def records(filings) -> list[ChunkRecord]:
    return [ChunkRecord(c.chunk_id, p.filing_id, f.company_id, c.text, [(a, b, n.value) for n, a, b in c.numbers])
            for f, p in filings for c in p.chunks]


def small_preset(max_steps: int = 6) -> Preset:
    p = tiny()
    p.encoder.backbone_config = dict(p.encoder.backbone_config, num_hidden_layers=2, hidden_size=64,
                                     intermediate_size=96)
    p.encoder.max_length = 160
    p.encoder.bpe_vocab_size = 1000
    p.encoder.number = NumberConfig(n_bins=64)
    p.train = TrainConfig(max_steps=max_steps, lr=1e-3, number_lr=3e-3, token_budget=1024, warmup_steps=2,
                          eval_every=3, checkpoint_every=3, log_every=1, eval_max_chunks=8, eval_fraction=0.5)
    return p


@pytest.fixture(scope="module")
def filings():
    return parsed_filings(2)


def test_tiny_model_overfits_a_handful_of_chunks(filings):
    torch.set_flush_denormal(True)
    _, p = filings[0]
    chunks = sorted(p.chunks, key=lambda c: -len(c.numbers))[:6]
    pre = tiny()  # the real tiny preset: 4 layers x 128
    tok = NumberTokenizer.train_bpe([c.text for c in p.chunks], 2000, 256)
    enc = tok.encode_chunks([c.text for c in chunks], [[(a, b, n.value) for n, a, b in c.numbers] for c in chunks])
    batch = MLMCollator.for_tokenizer(tok, pre.encoder.number, mlm_probability=0.3)(enc, torch.Generator().manual_seed(0))
    assert int(torch.isfinite(batch["num_targets"]).sum()) >= 20
    model = build_encoder(pre.encoder, tok, seed=0)
    opt = make_optimizer(model, TrainConfig(max_steps=60, lr=2e-3, number_lr=5e-3, token_budget=4096, warmup_steps=0))
    curve = []
    t0 = time.perf_counter()
    for _ in range(60):
        parts = pretrain_loss(model(**batch), pre.encoder.number, 1.0)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        curve.append((float(parts["number_excess"]), float(parts["mlm"]), float(parts["sign"])))
    print(f"overfit: 60 steps in {time.perf_counter() - t0:.1f} s; excess number loss "
          + " ".join(f"{curve[i][0]:.3f}" for i in range(0, 60, 10)) + f" {curve[-1][0]:.3f}")
    assert curve[-1][0] < 0.1 * curve[0][0]
    assert curve[-1][1] < 0.5 * curve[0][1]
    model.eval()
    pred = model.predict_numbers(batch["input_ids"], batch["attention_mask"], batch["num_values"], batch["num_hidden"])
    hid = batch["num_hidden"]
    err = (torch.log10(pred[hid].abs().clamp_min(1e-3)) - torch.log10(batch["num_targets"][hid].double().abs().clamp_min(1e-3))).abs()
    assert (err < 0.1).float().mean() > 0.8  # decoded values of the memorised numbers are right


def trainer_for(filings, preset: Preset, seed: int) -> tuple[Pretrainer, NumberTokenizer]:
    recs = records(filings)
    train, held, _ = split_by_company(recs, 0.5, 0)
    tok = NumberTokenizer.train_bpe([c.text for c in train], preset.encoder.bpe_vocab_size, preset.encoder.max_length)
    model = build_encoder(preset.encoder, tok, seed=seed)
    col = MLMCollator.for_tokenizer(tok, preset.encoder.number)
    return Pretrainer(model, preset.train, col, TokenizedCorpus.from_chunks(tok, train),
                      TokenizedCorpus.from_chunks(tok, held)), tok


def test_checkpoint_round_trip_and_identical_next_step_after_resume(filings, tmp_path):
    torch.set_flush_denormal(True)
    preset = small_preset(max_steps=20)
    a, tok = trainer_for(filings, preset, seed=0)
    n_batches = len(a._epoch_plan(0))
    for _ in range(n_batches + 1):  # cross an epoch boundary
        a.train_step()
    a.history.append({"step": a.state.step, "train_loss": 1.0})
    a.save_checkpoint(tmp_path / "ckpt", tok)
    expected = [a.train_step() for _ in range(2)]

    b, _ = trainer_for(filings, preset, seed=123)  # different init: everything must come from the checkpoint
    b.load_checkpoint(tmp_path / "ckpt")
    assert b.state.step == n_batches + 1 and b.state.epoch == 1 and b.history == a.history[:1]
    got = [b.train_step() for _ in range(2)]
    for e, g in zip(expected, got):
        assert g["loss"] == e["loss"] and g["number_excess"] == e["number_excess"] and g["tokens"] == e["tokens"]
    for (n, pa), pb in zip(a.model.named_parameters(), b.model.parameters()):
        assert torch.equal(pa, pb), n
    model, tok2 = load_pretrained(tmp_path / "ckpt" / "model")
    assert len(tok2) == len(tok) and model.config == a.model.config
    ev = b.evaluate()
    assert ev["eval_n_numbers"] > 0 and math.isfinite(ev["eval_number_excess"])


def test_chunks_come_from_the_store_split_by_company(filings, tmp_path):
    store = write_store(tmp_path / "store", filings)
    chunks = read_chunks(store)
    assert len(chunks) == sum(len(p.chunks) for _, p in filings)
    train, held, eval_companies = split_by_company(chunks, 0.5, seed=0)
    assert len(eval_companies) == 1 and train and held
    assert {c.company_id for c in train}.isdisjoint({c.company_id for c in held})
    # the store's number rows give the values the tokenizer attaches
    tok = NumberTokenizer.train_bpe([c.text for c in chunks], 500, 512)
    c = max(chunks, key=lambda c: len(c.numbers))
    enc = tok.encode_chunk(c.text, c.numbers)
    vals = [v for v in enc.num_values if not math.isnan(v)]
    assert vals == pytest.approx([np.float32(v) for _, _, v in c.numbers][:len(vals)], rel=1e-6)
    assert all(c.text[s:e] for s, e, _ in c.numbers)


@pytest.mark.ray
def test_two_worker_ray_train_run_completes_and_resumes(ray_cluster, filings, tmp_path):
    from models.pretraining import run_pretrain

    store_dir = tmp_path / "store"
    write_store(store_dir, filings)
    out = tmp_path / "run"
    job = PretrainJob(store=store_dir, out=out, preset=small_preset(max_steps=6), workers=2,
                      cpus_per_worker=0.5, progress=False)
    t0 = time.perf_counter()
    res = run_pretrain(job)
    print(f"2-worker Ray Train run: {time.perf_counter() - t0:.1f} s")
    steps = [r["step"] for r in res.history]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert all("eval_number_excess" in r for r in res.history if r["step"] in (3, 6))
    assert res.metrics_csv.read_text().startswith("step,epoch")
    assert res.data["eval_companies"] and res.data["padding"]["budget_padding_waste"] < res.data["padding"]["fixed_padding_waste"]
    model, tok = load_pretrained(res.model_dir)
    assert model.config.name == "tiny" and len(tok) == res.data["vocab_size"]

    # the same run asked for more steps continues from its last checkpoint
    job.preset.train.max_steps = 9
    res2 = run_pretrain(job)
    assert [r["step"] for r in res2.history] == list(range(1, 10))
    assert res2.history[:6] == res.history  # restored (throughput figures and all), not retrained


# --- end to end: what the number head learns is what decoding returns ------------------

def _sentence(template: str, value: float) -> tuple[str, list[tuple[int, int, float]]]:
    """Tagged text with one number (shown as "x": the value travels in the row, as from the store)."""
    before, after = template.split("{}")
    start = len(before) + len("<number>")
    return f"{before}<number>x</number>{after}", [(start, start + 1, value)]


def _draw(rng: np.random.Generator, n: int) -> list[tuple[str, str, float]]:
    """(template name, tagged text, rows) of three contexts: margins ~0.1, revenue ~1e9, and amounts that
    are 35% zero ("—") and otherwise spread over 1e6..1e9 (their best constant is the median, ~1e6.7)."""
    out = []
    for i in range(n):
        kind = ("margin", "revenue", "mixed")[i % 3]
        if kind == "margin":
            v = 10 ** rng.uniform(-1.2, -0.8)
            text, rows = _sentence("The gross margin was {} of net sales.", v)
        elif kind == "revenue":
            v = 10 ** rng.uniform(8.8, 9.2)
            text, rows = _sentence("Total revenue was {} for the year.", v)
        else:
            v = 0.0 if rng.random() < 0.35 else 10 ** rng.uniform(6, 9)
            text, rows = _sentence("Other items came to {} in the period.", v)
        out.append((kind, text, rows))
    return out


def test_trained_head_decodes_to_the_magnitude_of_its_context_and_to_the_median_when_unsure():
    """A few dozen steps on three contexts: decoded predictions for fresh sentences must land on each context's
    magnitude, and for the zero-or-millions context be no worse than the best constant (the median). Argmax
    decoding failed the last part: the zero spike is the tallest bin, so it predicted 1e-3 for millions."""
    torch.set_flush_denormal(True)
    rng = np.random.default_rng(0)
    train = _draw(rng, 192)
    pre = small_preset()
    tok = NumberTokenizer.train_bpe([t for _, t, _ in train], 300, 32)
    enc = tok.encode_chunks([t for _, t, _ in train], [r for _, _, r in train])
    col = MLMCollator.for_tokenizer(tok, pre.encoder.number, mlm_probability=0.5)
    model = build_encoder(pre.encoder, tok, seed=0)
    opt = make_optimizer(model, TrainConfig(max_steps=1, lr=2e-3, number_lr=1e-2, token_budget=1, warmup_steps=0))
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(80):
        parts = pretrain_loss(model(**col(enc, g)), pre.encoder.number, 1.0)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    elapsed = time.perf_counter() - t0

    test = _draw(np.random.default_rng(1), 90)
    batch = tok([t for _, t, _ in test], [r for _, _, r in test])
    model.eval()
    pred = model.predict_numbers(batch["input_ids"], batch["attention_mask"], batch["num_values"], batch["num_mask"])
    pred = pred[batch["num_mask"]].numpy()
    true = np.array([r[0][2] for _, _, r in test])
    kinds = np.array([k for k, _, _ in test])
    err = np.abs(np.log10(np.maximum(np.abs(pred), 1e-3)) - np.log10(np.maximum(np.abs(true), 1e-3)))
    mixed_train = np.array([r[0][2] for k, _, r in train if k == "mixed"])
    const = np.median(np.abs(mixed_train))
    const_err = np.abs(np.log10(const) - np.log10(np.maximum(np.abs(true), 1e-3)))
    print(f"80 steps in {elapsed:.1f} s; mean |log10 err|: margin {err[kinds == 'margin'].mean():.3f}, "
          f"revenue {err[kinds == 'revenue'].mean():.3f}, mixed {err[kinds == 'mixed'].mean():.3f} "
          f"(median constant {const_err[kinds == 'mixed'].mean():.3f})")
    assert err[kinds == "margin"].mean() < 0.3 and err[kinds == "revenue"].mean() < 0.3
    assert (pred[kinds != "mixed"] > 0).all()
    assert err[kinds == "mixed"].mean() < 1.1 * const_err[kinds == "mixed"].mean()
