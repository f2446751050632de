"""Document aggregator: views, the model, files, training with a frozen or trained decoder, resume, Ray job."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from test_models_pretrain import parsed_filings, records, small_preset, write_store

from models.aggregator import DocumentAggregator, even_subsample, load_aggregator, save_aggregator
from models.aggregator_training import (AggregatorAutoencoder, AggregatorJob, AggregatorTrainer, DocumentSet,
                                        build_autoencoder, document_view)
from models.embedder import build_chunk_embedder, load_chunk_embedder, save_chunk_embedder
from models.embedder_config import AggregatorConfig, AggregatorTrainConfig, ChunkEmbedderConfig, tiny
from models.model_files import build_encoder
from models.pretraining import TokenizedCorpus
from models.tokenizer import NumberTokenizer

CFG = AggregatorConfig(name="tiny", num_layers=2, hidden_size=32, num_heads=4, intermediate_size=48, max_chunks=64)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on 2 shared cores, more threads spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def chunks():
    return records(parsed_filings(3))


@pytest.fixture(scope="module")
def tokenizer(chunks):
    return NumberTokenizer.train_bpe([c.text for c in chunks], 1000, 48)


@pytest.fixture(scope="module")
def embedder_dir(tokenizer, tmp_path_factory):
    """A saved chunk embedder whose cross-attention is non-zero (as after training), so memory matters."""
    torch.manual_seed(0)
    emb = build_chunk_embedder(ChunkEmbedderConfig("tiny", decoder_layers=1, n_slots=4),
                               build_encoder(small_preset().encoder, tokenizer, seed=0), seed=0)
    with torch.no_grad():
        for block in emb.decoder.cross:
            block.out.weight.normal_(0, 0.1)
    d = tmp_path_factory.mktemp("embedder") / "model"
    save_chunk_embedder(emb, d, tokenizer)
    return d


@pytest.fixture(scope="module")
def documents(chunks, embedder_dir):
    """Train (first two filings) and eval (third) document sets with raw CLS vectors from the embedder."""
    emb = load_chunk_embedder(embedder_dir, device="cpu")
    filings = list(dict.fromkeys(c.filing_id for c in chunks))
    sets = []
    for part in (filings[:2], filings[2:]):
        recs = [c for c in chunks if c.filing_id in part]
        corpus = TokenizedCorpus.from_chunks(emb.tokenizer, recs)
        vecs = emb.embed_batch([corpus.encoding(i) for i in range(len(corpus))], normalize=False)
        sets.append(DocumentSet.from_records(recs, vecs, corpus))
    return sets


def train_config(**kw) -> AggregatorTrainConfig:
    base = dict(max_steps=50, lr=3e-3, number_lr=1e-3, token_budget=4096, warmup_steps=0, docs_per_batch=2,
                eval_max_chunks=8, decoder_lr=1e-3)
    return AggregatorTrainConfig(**{**base, **kw})


def test_document_views_are_sorted_non_empty_runs_within_the_cap():
    for seed in range(200):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 80))
        pos = document_view(n, rng, crop_prob=0.5, crop_min_fraction=0.3, drop_rate=0.2, max_chunks=32)
        assert 1 <= len(pos) <= min(n, 32) and (np.diff(pos) > 0).all() and pos[0] >= 0 and pos[-1] < n
        crop = document_view(n, np.random.default_rng(seed), crop_prob=1.0, crop_min_fraction=0.5,
                             drop_rate=0.0, max_chunks=1000)
        assert (np.diff(crop) == 1).all() and len(crop) >= math.ceil(0.5 * n)  # contiguous, long enough
    views = {tuple(document_view(40, np.random.default_rng(s), 0.5, 0.5, 0.1, 64)) for s in range(20)}
    assert len(views) > 10  # a different re-chunking every epoch
    assert even_subsample(10, 4).tolist() == [0, 3, 6, 9] and even_subsample(3, 4).tolist() == [0, 1, 2]


def test_aggregator_ignores_padding_and_scale_but_not_order():
    torch.manual_seed(0)
    model = DocumentAggregator(CFG, chunk_dim=24).eval()
    a, b = torch.randn(5, 24), torch.randn(9, 24)
    with torch.no_grad():
        alone = model(a[None], torch.ones(1, 5, dtype=torch.bool))
        padded = torch.zeros(2, 9, 24)
        padded[0, :5], padded[1] = a, b
        mask = torch.zeros(2, 9, dtype=torch.bool)
        mask[0, :5], mask[1] = True, True
        batched = model(padded, mask)
        scaled = model(3.0 * a[None], torch.ones(1, 5, dtype=torch.bool))
        shuffled = model(a[[4, 2, 0, 1, 3]][None], torch.ones(1, 5, dtype=torch.bool))
    assert batched.shape == (2, 24)
    torch.testing.assert_close(batched[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scaled, alone, atol=1e-5, rtol=1e-5)  # inputs are L2-normalised first
    assert float((shuffled - alone).abs().max()) > 1e-6  # rotary positions: chunk order enters (weakly at init)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert "backbone.embeddings.tok_embeddings.weight" not in trainable and "doc_token" in trainable
    assert all(t == "full_attention" for t in model.backbone.config.layer_types)
    mean = DocumentAggregator(AggregatorConfig(**{**CFG.to_dict(), "pooling": "mean"}), chunk_dim=24)
    assert mean(padded, mask).shape == (2, 24)


def test_saved_aggregator_reloads_to_identical_document_vectors(tmp_path):
    torch.manual_seed(1)
    model = DocumentAggregator(CFG, chunk_dim=24).eval()
    save_aggregator(model, tmp_path / "a", chunk_model_version="tiny-0123456789ab")
    agg = load_aggregator(tmp_path / "a", device="cpu")
    assert agg.kind == "aggregator" and agg.dim == 24 and agg.model_version.startswith("tiny-")
    assert agg.chunk_model_version == "tiny-0123456789ab"
    rng = np.random.default_rng(0)
    docs = [rng.normal(size=(n, 24)).astype(np.float32) for n in (3, 17, 1, 200)]
    got = agg.aggregate(docs)
    assert got.shape == (4, 24) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    with torch.no_grad():
        for i, d in enumerate(docs):
            view = torch.from_numpy(d[even_subsample(len(d), CFG.max_chunks)])[None]  # 200 chunks > cap 64
            want = torch.nn.functional.normalize(model(view, torch.ones(view.shape[:2], dtype=torch.bool)), dim=-1)
            np.testing.assert_allclose(got[i], want[0].numpy(), atol=1e-5)
    save_aggregator(model, tmp_path / "b", chunk_model_version="tiny-0123456789ab")
    assert load_aggregator(tmp_path / "b").model_version == agg.model_version  # same weights, same version
    with pytest.raises(ValueError, match=r"document 1: chunk vectors of shape \(4, 7\)"):
        agg.aggregate([docs[0], np.zeros((4, 7), dtype=np.float32)])


def trainer_for(embedder_dir, documents, cfg: AggregatorTrainConfig, seed: int = 0) -> AggregatorTrainer:
    from models.embedder import load_chunk_embedder_model

    emb, tok = load_chunk_embedder_model(embedder_dir)
    torch.manual_seed(seed)
    model = AggregatorAutoencoder(DocumentAggregator(CFG, emb.dim), emb.decoder, cfg.train_decoder)
    train, held = documents
    return AggregatorTrainer(model, cfg, tok, train, held, chunk_model_version="tiny-test")


@pytest.mark.parametrize("train_decoder", [False, True])
def test_trainer_steps_reach_the_aggregator_and_resume_exactly(embedder_dir, documents, tmp_path, train_decoder):
    cfg = train_config(train_decoder=train_decoder)
    a = trainer_for(embedder_dir, documents, cfg)
    dec_before = {k: v.clone() for k, v in a.model.decoder.state_dict().items()}
    agg_before = {k: v.clone() for k, v in a.model.aggregator.state_dict().items()}
    for _ in range(3):  # 2 documents, 2 per batch: crosses epochs
        m = a.train_step()
    assert math.isfinite(m["loss"]) and m["docs"] == 2 and m["view_chunks"] >= 1
    assert not torch.equal(a.model.aggregator.input_proj.weight, agg_before["input_proj.weight"])
    dec_changed = any(not torch.equal(v, dec_before[k]) for k, v in a.model.decoder.state_dict().items())
    assert dec_changed == train_decoder  # frozen means frozen
    a.history.append(a.window_metrics())
    a.save_checkpoint(tmp_path / "ckpt")
    expected = [a.train_step() for _ in range(2)]
    b = trainer_for(embedder_dir, documents, cfg, seed=99)
    if train_decoder:  # the decoder must come back from the checkpoint too
        with torch.no_grad():
            for p in b.model.decoder.parameters():
                p.add_(0.01)
    b.load_checkpoint(tmp_path / "ckpt")
    got = [b.train_step() for _ in range(2)]
    for e, g in zip(expected, got):
        assert g["loss"] == e["loss"] and g["tokens"] == e["tokens"]
    for (n, pa), pb in zip(a.model.named_parameters(), b.model.parameters()):
        assert torch.equal(pa, pb), n
    ev = b.evaluate()
    assert ev["eval_docs"] == 1 and ev["eval_targets"] >= 1
    assert all(math.isfinite(ev[k]) for k in ("eval_mlm", "eval_mlm_other_doc", "eval_mlm_own_chunk"))
    saved = load_aggregator(tmp_path / "ckpt" / "model")
    assert saved.chunk_model_version == "tiny-test"


def test_build_autoencoder_is_the_same_on_every_rank(embedder_dir):
    from models.embedder import load_chunk_embedder_model

    emb, _ = load_chunk_embedder_model(embedder_dir)
    cfg = train_config()
    a = build_autoencoder(CFG, cfg, emb.decoder, emb.dim)
    b = build_autoencoder(CFG, cfg, emb.decoder, emb.dim)
    assert torch.equal(a.aggregator.doc_token, b.aggregator.doc_token)
    assert not any(p.requires_grad for p in a.decoder.parameters())


@pytest.mark.ray
@pytest.mark.slow  # ~30 s on 2 loaded cores, almost all of it Ray Train starting its workers
def test_train_aggregator_job_on_ray_train(ray_cluster, embedder_dir, tmp_path):
    from jobs.train_aggregator import parse_args
    from models.aggregator_training import run_aggregator_training

    store = tmp_path / "store"
    write_store(store, parsed_filings(3))
    job, _ = parse_args(["--store", str(store), "--embedder", str(embedder_dir), "--out", str(tmp_path / "run"),
                         "--train-decoder", "--layers", "1", "--max-steps", "3"])
    assert job.preset.aggregator_train.train_decoder and job.preset.aggregator.num_layers == 1
    p = tiny()
    p.aggregator = CFG
    p.aggregator_train = train_config(max_steps=4, eval_every=2, checkpoint_every=2, log_every=1, docs_per_batch=1,
                                      eval_fraction=0.34)
    job = AggregatorJob(store=store, out=tmp_path / "run", embedder=embedder_dir.parent, preset=p, workers=2,
                        cpus_per_worker=0.5, progress=False)
    t0 = time.perf_counter()
    res = run_aggregator_training(job)
    print(f"aggregator run on Ray Train: {time.perf_counter() - t0:.1f} s")
    assert [r["step"] for r in res.history] == [1, 2, 3, 4]
    assert all("eval_mlm_acc_other_doc" in r for r in res.history if r["step"] in (2, 4))
    assert res.data["train_documents"] == 2 and res.data["eval_documents"] == 1
    agg = load_aggregator(tmp_path / "run")
    assert agg.chunk_model_version == load_chunk_embedder(embedder_dir).model_version
    run_config = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert run_config["chunk_model_version"] == agg.chunk_model_version
    # the cached chunk vectors are reused by a second run of the same job (which then continues training)
    cache = tmp_path / "run" / "train_chunk_vectors.npz"
    stamp = cache.stat().st_mtime_ns
    job.preset.aggregator_train.max_steps = 5
    res2 = run_aggregator_training(job)
    assert cache.stat().st_mtime_ns == stamp and [r["step"] for r in res2.history] == [1, 2, 3, 4, 5]
