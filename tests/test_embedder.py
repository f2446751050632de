"""Chunk embedder: memory slots, the zero-initialised decoder path, files, training, resume, probe, Ray job."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_models_pretrain import parsed_filings, records, small_preset, write_store

from models.bottleneck_probe import bottleneck_probe, format_probe, other_document_chunks
from models.collator import MLMCollator
from models.config import EncoderConfig
from models.embedder import (CrossAttention, MemorySlots, build_chunk_embedder, decoder_from_encoder,
                             load_chunk_embedder, load_chunk_embedder_model, save_chunk_embedder,
                             truncated_backbone_config)
from models.embedder_config import ChunkEmbedderConfig, EmbedderTrainConfig, EmbeddingPreset, tiny
from models.embedder_training import (EmbedderJob, EmbedderTrainer, sentence_teacher_vectors, teacher_vectors,
                                      tokenize_with_docs)
from models.encoder import NumberAwareEncoder
from models.model_files import build_encoder, save_encoder
from models.tokenizer import NumberTokenizer


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on 2 shared cores, more threads spin against each other (10x slower steps)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def filings():
    return parsed_filings(2)


@pytest.fixture(scope="module")
def chunks(filings):
    return records(filings)


@pytest.fixture(scope="module")
def tokenizer(chunks):
    return NumberTokenizer.train_bpe([c.text for c in chunks], 1000, 64)


def tiny_encoder(tokenizer, seed: int = 0) -> NumberAwareEncoder:
    return build_encoder(small_preset().encoder, tokenizer, seed=seed)  # ModernBERT, 2 layers x 64


def masked_batch(tokenizer, chunks, n: int = 4, seed: int = 0):
    enc = tokenizer.encode_chunks([c.text for c in chunks[:n]], [c.numbers for c in chunks[:n]])
    col = MLMCollator.for_tokenizer(tokenizer, small_preset().encoder.number, mlm_probability=0.4)
    return enc, col(enc, torch.Generator().manual_seed(seed))


def train_config(**kw) -> EmbedderTrainConfig:
    base = dict(max_steps=50, lr=3e-3, number_lr=5e-3, memory_lr=5e-3, token_budget=1024, warmup_steps=0,
                min_docs_per_batch=2, eval_max_chunks=16, eval_fraction=0.5)
    return EmbedderTrainConfig(**{**base, **kw})


def test_memory_slots_expand_one_vector_into_slots_per_layer():
    h, s, layers = 16, 5, 3
    memory = torch.randn(7, h)
    per_layer = MemorySlots(h, s, layers, shared=False)
    out = per_layer(memory)
    assert len(out) == layers and all(o.shape == (7, s, h) for o in out)
    assert not torch.allclose(out[0], out[1])  # one full-rank map per layer
    assert torch.allclose(out[0].mean(-1), torch.zeros(7, s), atol=1e-5)  # each slot LayerNorm-ed
    assert per_layer.proj[0].weight.shape == (s * h, h)
    shared = MemorySlots(h, s, layers, shared=True)
    out_shared = shared(memory)
    assert len(out_shared) == layers and all(o is out_shared[0] for o in out_shared)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(per_layer) == layers * n(shared)
    # different memory vectors give different slots: the slots carry the vector
    assert not torch.allclose(per_layer(memory[:1])[0], per_layer(memory[1:2])[0])
    with pytest.raises(ValueError, match="constant"):
        ChunkEmbedderConfig("x", decoder_layers=1, n_slots=1)


def test_cross_attention_output_path_starts_at_zero():
    block = CrossAttention(16, 4)
    assert torch.count_nonzero(block.out.weight) == 0 and torch.count_nonzero(block.out.bias) == 0
    assert torch.equal(block(torch.randn(2, 9, 16), torch.randn(2, 5, 16)), torch.zeros(2, 9, 16))


def test_decoder_equals_the_plain_encoder_at_init_and_reads_memory_once_trained(tokenizer, chunks):
    encoder = tiny_encoder(tokenizer).eval()
    layers = encoder.mlm.config.num_hidden_layers
    emb = build_chunk_embedder(ChunkEmbedderConfig("t", decoder_layers=layers), encoder, seed=0).eval()
    _, batch = masked_batch(tokenizer, chunks)
    memory = torch.randn(batch["input_ids"].shape[0], encoder.hidden_size)
    with torch.no_grad():
        ref = encoder(**batch)
        out = emb.decoder(**batch, memory=memory)
    assert torch.equal(out.hidden, ref.hidden)
    assert torch.equal(out.mlm_logits, ref.mlm_logits) and torch.equal(out.bin_logits, ref.bin_logits)
    # once the output projections are no longer zero, the memory changes the decoder's states
    with torch.no_grad():
        for block in emb.decoder.cross:
            block.out.weight.normal_(0, 0.05)
        moved = emb.decoder(**batch, memory=memory)
        other = emb.decoder(**batch, memory=torch.randn_like(memory))
        none = emb.decoder(**batch, memory=None)
    assert not torch.allclose(moved.hidden, ref.hidden, atol=1e-4)
    assert not torch.allclose(moved.hidden, other.hidden, atol=1e-4)
    assert torch.equal(none.hidden, ref.hidden)  # no memory: the copied encoder alone


def test_bert_family_decoder_runs_the_same_hooks():
    from transformers import BertConfig, BertForMaskedLM

    bcfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                      intermediate_size=48, max_position_embeddings=64)
    cfg = EncoderConfig(name="bert-test", family="bert", backbone="local-bert", tokenizer="backbone", max_length=64)
    torch.manual_seed(0)
    encoder = NumberAwareEncoder(cfg, BertForMaskedLM(bcfg)).eval()
    emb = build_chunk_embedder(ChunkEmbedderConfig("b", decoder_layers=3), encoder).eval()
    ids = torch.randint(5, 60, (2, 12))
    vals = torch.full((2, 12), float("nan"))
    vals[0, 3] = 1234.0
    mask = torch.ones(2, 12, dtype=torch.long)
    with torch.no_grad():
        ref = encoder.encode(ids, mask, vals)
        same = emb.decoder(ids, mask, vals, memory=torch.randn(2, 32)).hidden
        for block in emb.decoder.cross:
            block.out.weight.normal_(0, 0.05)
        moved = emb.decoder(ids, mask, vals, memory=torch.randn(2, 32)).hidden
    assert torch.equal(same, ref) and not torch.allclose(moved, ref, atol=1e-4)
    shallow = decoder_from_encoder(encoder, 1)
    assert len(shallow.mlm.bert.encoder.layer) == 1
    assert torch.equal(shallow.mlm.bert.encoder.layer[0].attention.self.query.weight,
                       encoder.mlm.bert.encoder.layer[0].attention.self.query.weight)


def test_shallow_decoder_copies_the_first_layers(tokenizer):
    encoder = tiny_encoder(tokenizer)
    lm = decoder_from_encoder(encoder, 1)
    assert len(lm.mlm.model.layers) == 1 and lm.mlm.config.layer_types == encoder.mlm.config.layer_types[:1]
    assert torch.equal(lm.mlm.model.layers[0].attn.Wqkv.weight, encoder.mlm.model.layers[0].attn.Wqkv.weight)
    assert torch.equal(lm.number_head.wo.weight, encoder.number_head.wo.weight)
    assert lm.mlm.model.layers[0].attn.Wqkv.weight.data_ptr() != encoder.mlm.model.layers[0].attn.Wqkv.weight.data_ptr()
    with pytest.raises(ValueError, match="decoder_layers=3"):
        truncated_backbone_config(encoder.mlm.config.to_dict(), 3)


def test_saved_embedder_reloads_to_identical_embeddings_and_a_stable_version(tokenizer, chunks, tmp_path):
    from models.embedding_models import Embedder, load_embedder

    emb = build_chunk_embedder(ChunkEmbedderConfig("tiny", decoder_layers=1), tiny_encoder(tokenizer), seed=0)
    with torch.no_grad():  # as if trained: non-zero cross-attention
        for block in emb.decoder.cross:
            block.out.weight.normal_(0, 0.05)
    save_chunk_embedder(emb, tmp_path / "a", tokenizer)
    loaded = load_chunk_embedder(tmp_path / "a", device="cpu")
    assert loaded.kind == "chunk_embedder" and loaded.dim == 64 and loaded.path == str((tmp_path / "a").resolve())
    assert loaded.model_version.startswith("tiny-") and len(loaded.model_version) == len("tiny-") + 12
    assert isinstance(loaded, Embedder)  # the protocol of models.embedding_models
    enc = loaded.encode([c.text for c in chunks[:6]], [c.numbers for c in chunks[:6]])
    got = loaded.embed_batch(enc)
    padded = tokenizer.pad(enc)
    with torch.no_grad():
        want = torch.nn.functional.normalize(emb.eval().embed(padded["input_ids"], padded["attention_mask"],
                                                              padded["num_values"]), dim=-1).numpy()
    assert got.dtype == np.float32 and got.shape == (6, 64)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(loaded.embed_batch(loaded.pad(enc)), got, atol=1e-6)  # padded-batch form
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert loaded.embed_texts(["Revenue was $5.2 million in 2024."]).shape == (1, 64)
    # the whole model (decoder included) round-trips exactly
    model2, _ = load_chunk_embedder_model(tmp_path / "a")
    for (name, a), b in zip(emb.state_dict().items(), model2.state_dict().values()):
        assert torch.equal(a, b), name
    # the version is a function of the files: the same for a copy, different after a weight changes
    save_chunk_embedder(emb, tmp_path / "b", tokenizer)
    assert load_chunk_embedder(tmp_path / "b").model_version == loaded.model_version
    with torch.no_grad():
        emb.encoder.number_embedding.zero.add_(1.0)
    save_chunk_embedder(emb, tmp_path / "c", tokenizer)
    assert load_chunk_embedder(tmp_path / "c").model_version != loaded.model_version
    # the other helper's resolver delegates to this loader
    assert load_embedder(tmp_path / "a").model_version == loaded.model_version


def trainer_for(tokenizer, chunks, cfg: EmbedderTrainConfig, seed: int, decoder_layers: int = 1) -> EmbedderTrainer:
    emb = build_chunk_embedder(ChunkEmbedderConfig("t", decoder_layers=decoder_layers), tiny_encoder(tokenizer, seed),
                               seed=seed)
    corpus, docs = tokenize_with_docs(tokenizer, chunks)
    return EmbedderTrainer(emb, cfg, tokenizer, corpus, docs, corpus.subset(range(12)), docs[:12])


def test_trainer_takes_steps_and_resumes_exactly(tokenizer, chunks, tmp_path):
    cfg = train_config(max_steps=20)
    a = trainer_for(tokenizer, chunks, cfg, seed=0)
    plan = a._epoch_plan(0)
    assert a.epoch_reports[0]["positive_share"] == 1.0
    for _ in range(len(plan) + 1):  # cross an epoch boundary
        m = a.train_step()
    assert m["positive_share"] == 1.0 and m["docs"] >= 2 and math.isfinite(m["contrastive"])
    rec = a.window_metrics()
    assert rec["epoch_positive_share"] == 1.0 and 0 <= rec["epoch_padding_waste"] < 0.5
    a.history.append(rec)
    a.save_checkpoint(tmp_path / "ckpt")
    expected = [a.train_step() for _ in range(2)]
    b = trainer_for(tokenizer, chunks, cfg, seed=123)  # different init: all must come from the checkpoint
    b.load_checkpoint(tmp_path / "ckpt")
    assert b.state.epoch == 1 and b.history == a.history[:1]
    got = [b.train_step() for _ in range(2)]
    for e, g in zip(expected, got):
        assert g["loss"] == e["loss"] and g["contrastive"] == e["contrastive"] and g["tokens"] == e["tokens"]
    for (n, pa), pb in zip(a.model.named_parameters(), b.model.parameters()):
        assert torch.equal(pa, pb), n
    ev = b.evaluate()
    assert ev["eval_positive_share"] == 1.0 and math.isfinite(ev["eval_mlm"]) and 0 <= ev["eval_same_doc_top1"] <= 1
    with pytest.raises(FileNotFoundError, match="not an embedder checkpoint"):
        b.load_checkpoint(tmp_path)


def test_semantic_anchor_pulls_the_vectors_toward_minilms_geometry(tokenizer, chunks, tmp_path):
    """The real MiniLM as teacher (384-d) of the tiny 128-d embedder: the relational anchor falls as it trains."""
    train, held = chunks[:-12], chunks[-12:]
    teacher = teacher_vectors(train, "minilm", tmp_path / "teacher", progress=False)
    assert teacher.shape == (len(train), 384)
    np.testing.assert_allclose(np.linalg.norm(teacher, axis=1), 1.0, atol=1e-5)
    cached = list((tmp_path / "teacher").glob("*.npy"))
    assert len(cached) == 1
    assert np.array_equal(teacher_vectors(train, "minilm", tmp_path / "teacher", progress=False), teacher)
    assert len(list((tmp_path / "teacher").glob("*.npy"))) == 1  # the second call read the cache
    cfg = train_config(semantic_weight=20.0, semantic_loss="relational", contrastive_weight=0.0)
    emb = build_chunk_embedder(ChunkEmbedderConfig("t", decoder_layers=1), tiny_encoder(tokenizer), seed=0)
    corpus, docs = tokenize_with_docs(tokenizer, train)
    ev_corpus, ev_docs = tokenize_with_docs(tokenizer, held)
    with pytest.raises(ValueError, match="train_teacher"):
        EmbedderTrainer(emb, cfg, tokenizer, corpus, docs)
    t = EmbedderTrainer(emb, cfg, tokenizer, corpus, docs, ev_corpus, ev_docs, train_teacher=teacher,
                        eval_teacher=teacher_vectors(held, "minilm", tmp_path / "teacher", progress=False))
    steps = [t.train_step()["semantic"] for _ in range(40)]
    assert np.mean(steps[-8:]) < 0.7 * np.mean(steps[:8])
    assert math.isfinite(t.evaluate()["eval_semantic"])


def test_sentence_views_are_anchored_with_the_chunks(tokenizer, chunks, tmp_path):
    """Single sentences of the training chunks, anchored to the real MiniLM: their own anchor falls as it trains."""
    from models.embedding_losses import semantic_anchor
    from models.pretraining import TokenizedCorpus
    from models.sentence_views import sentence_views
    from models.tokenizer import pad_encodings

    views = sentence_views([c.text for c in chunks], limit=64)
    assert len(views) == 64
    view_teacher = sentence_teacher_vectors(views, "minilm", tmp_path / "teacher", progress=False)
    assert view_teacher.shape == (64, 384)
    assert np.array_equal(sentence_teacher_vectors(views, "minilm", tmp_path / "teacher", progress=False),
                          view_teacher) and len(list((tmp_path / "teacher").glob("*.npy"))) == 1
    sentences = TokenizedCorpus.from_encodings(tokenizer.encode_texts(views))
    cfg = train_config(semantic_weight=20.0, semantic_loss="relational", contrastive_weight=0.0,
                       semantic_sentences=16)
    emb = build_chunk_embedder(ChunkEmbedderConfig("t", decoder_layers=1), tiny_encoder(tokenizer), seed=0)
    corpus, docs = tokenize_with_docs(tokenizer, chunks)
    teacher = teacher_vectors(chunks, "minilm", tmp_path / "teacher", progress=False)
    with pytest.raises(ValueError, match="sentences"):
        EmbedderTrainer(emb, cfg, tokenizer, corpus, docs, train_teacher=teacher)

    def views_anchor() -> float:  # the anchor over all 64 views at once
        batch = pad_encodings([sentences.encoding(i) for i in range(64)], tokenizer.pad_token_id)
        with torch.no_grad():
            z = emb.embed(batch["input_ids"], batch["attention_mask"], batch["num_values"])
        return float(semantic_anchor(z, torch.as_tensor(view_teacher), "relational"))

    t = EmbedderTrainer(emb, cfg, tokenizer, corpus, docs, train_teacher=teacher, sentences=sentences,
                        sentence_teacher=view_teacher)
    views_batch, _ = t.sentence_batch()
    assert views_batch["input_ids"].shape[0] == 16
    before = views_anchor()
    for _ in range(30):
        t.train_step()
    assert views_anchor() < 0.7 * before  # 0.63 -> 0.27 when written


def test_sigreg_objective_trains(tokenizer, chunks):
    t = trainer_for(tokenizer, chunks, train_config(objective="sigreg", sigreg_projections=32), seed=0)
    steps = [t.train_step() for _ in range(3)]
    assert all(math.isfinite(s["sigreg"]) and s["sigreg"] > 0 and "contrastive" not in s for s in steps)
    assert "eval_sigreg" in t.evaluate()


def test_bottleneck_probe_tells_the_true_cls_from_another_chunks_after_training(tokenizer, chunks):
    by_doc: dict[str, list] = {}
    for c in chunks:
        by_doc.setdefault(c.filing_id, []).append(c)
    few = [c for cs in by_doc.values() for c in sorted(cs, key=lambda c: -len(c.numbers))[:4]]  # 4 + 4 chunks
    emb = build_chunk_embedder(ChunkEmbedderConfig("t", decoder_layers=1), tiny_encoder(tokenizer), seed=0)
    corpus, docs = tokenize_with_docs(tokenizer, few)
    encs = [corpus.encoding(i) for i in range(len(corpus))]
    before = bottleneck_probe(emb, tokenizer, encs, docs, (0.8,), seed=1)["rates"]["0.8"]
    assert before["true"] == before["other"] == before["none"]  # zero-initialised path: memory has no effect
    t = EmbedderTrainer(emb, train_config(max_chunks_per_doc=4, mask_rate_min=0.5, contrastive_weight=0.1),
                        tokenizer, corpus, docs)
    t0 = time.perf_counter()
    for _ in range(30):
        t.train_step()
    probe = bottleneck_probe(emb, tokenizer, encs, docs, (0.15, 0.8), seed=1)
    print(f"30 steps + probe in {time.perf_counter() - t0:.1f} s\n" + format_probe(probe))
    r = probe["rates"]["0.8"]
    assert r["true"]["n_numbers"] > 10 and r["true"]["n_text"] > 100
    assert r["true"]["number_bin_acc"] > r["other"]["number_bin_acc"] + 0.1
    assert r["true"]["number_abs_log10_err"] < r["other"]["number_abs_log10_err"]
    assert json.loads(json.dumps(probe)) == probe  # saved as JSON by the job


def test_other_document_chunks_never_pick_the_same_document():
    docs = np.array([0, 0, 1, 1, 1, 2])
    for seed in range(5):
        other = other_document_chunks(docs, np.random.default_rng(seed))
        assert (docs[other] != docs).all()
    assert (other_document_chunks(np.zeros(3, dtype=int), np.random.default_rng(0)) != np.arange(3)).all()


def small_embedding_preset(max_steps: int) -> EmbeddingPreset:
    p = tiny()
    p.embedder = ChunkEmbedderConfig("tiny", decoder_layers=1, n_slots=4)
    p.embedder_train = train_config(max_steps=max_steps, eval_every=2, checkpoint_every=2, log_every=1,
                                    eval_fraction=0.34, eval_max_chunks=8, probe_max_chunks=8,
                                    probe_rates=(0.15, 0.5, 0.8))
    return p


def saved_encoder_run(tokenizer, folder: Path) -> Path:
    """A pretraining-run-shaped folder: <run>/model holds the encoder and its tokenizer."""
    save_encoder(tiny_encoder(tokenizer), folder / "model", tokenizer)
    return folder


@pytest.mark.ray
@pytest.mark.slow  # ~30 s on 2 loaded cores, almost all of it Ray Train starting its workers
def test_train_embedder_job_on_ray_train(ray_cluster, filings, tokenizer, tmp_path):
    from jobs.train_embedder import parse_args
    from models.embedder_training import run_embedder_training

    store = tmp_path / "store"
    write_store(store, parsed_filings(3))  # 3 companies: one is held out
    job, _ = parse_args(["--store", str(store), "--out", str(tmp_path / "run"), "--init", "unused",
                         "--objective", "sigreg", "--decoder-layers", "1", "--max-steps", "3", "--seed", "7"])
    assert job.preset.embedder_train.objective == "sigreg" and job.preset.embedder.decoder_layers == 1
    assert job.preset.embedder_train.seed == 7
    job = EmbedderJob(store=store, out=tmp_path / "run", preset=small_embedding_preset(4),
                      init=saved_encoder_run(tokenizer, tmp_path / "pre"), workers=2, cpus_per_worker=0.5,
                      progress=False)
    t0 = time.perf_counter()
    res = run_embedder_training(job)
    print(f"embedder run on Ray Train: {time.perf_counter() - t0:.1f} s")
    assert [r["step"] for r in res.history] == [1, 2, 3, 4]
    assert res.history[0]["epoch_positive_share"] == 1.0
    assert all("eval_same_doc_top1" in r for r in res.history if r["step"] in (2, 4))
    assert res.data["batching"]["positive_share"] == 1.0 and res.data["eval_documents"] >= 1
    assert set(res.probe["rates"]) == {"0.15", "0.5", "0.8"}
    assert json.loads(res.probe_json.read_text()) == res.probe
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 4]
    loaded = load_chunk_embedder(tmp_path / "run")
    assert loaded.dim == 64 and loaded.embed_texts(["Net sales rose 12% to $3.1 billion."]).shape == (1, 64)
