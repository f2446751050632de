"""Batch inference without Ray: batch planning, pooling, row building, the callable classes, embedders."""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from featurestore import schemas
from featurestore.store import conform
from models import inference
from models.embedding_models import (
    MINILM, Embedder, NumberEncoderEmbedder, SentenceTransformerEmbedder, load_embedder, masked_mean, minilm_folder,
)
from models.inference import (
    EmbedChunks, PooledFilings, TokenizeChunks, actor_layout, build_chunk_rows, build_doc_rows, plan_batches,
    pool_mean, sort_by_length, split_blocks, vectors_of,
)


# --- batch planning -------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plan_batches_cover_every_chunk_once_within_budget(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 600, size=500).tolist() + [900, 1200]  # two longer than the budget
    budget = 800
    batches = plan_batches(lengths, budget)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))          # every chunk exactly once
    for b in batches:
        padded = len(b) * max(lengths[i] for i in b)
        assert padded <= budget or len(b) == 1                # only a lone over-long chunk exceeds it
    # similar lengths together: far less padding than batches in stored order of the same sizes
    def waste(bs):
        return 1 - sum(lengths[i] for b in bs for i in b) / sum(len(b) * max(lengths[i] for i in b) for b in bs)
    sizes = [len(b) for b in batches]
    in_order, k = [], 0
    for s in sizes:
        in_order.append(list(range(k, k + s)))
        k += s
    assert waste(batches) < 0.1 < waste(in_order)


def test_plan_batches_rejects_a_zero_budget():
    with pytest.raises(ValueError, match="token budget"):
        plan_batches([3, 4], 0)


def test_sort_and_split_keep_every_row_longest_first():
    t = pa.table({"chunk_id": [f"c{i}" for i in range(10)], "n_tokens": [5, 9, 1, 9, 3, 7, 2, 8, 6, 4]})
    s = sort_by_length(t)
    assert s.column("n_tokens").to_pylist() == [9, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert s.column("chunk_id").to_pylist()[:2] == ["c1", "c3"]  # ties by chunk id: a stable order
    blocks = split_blocks(s, 4)
    assert [b.num_rows for b in blocks] == [4, 4, 2]
    assert pa.concat_tables(blocks).equals(s)


def test_actor_layout_threads_add_up_to_the_cores():
    for cpus, workers in ((2, None), (16, None), (16, 2), (32, 8)):
        lay = actor_layout(cpus, 0, workers, None)
        assert lay["embed_workers"] * lay["torch_threads"] == cpus
        # the pools' CPU requests fit the cluster together (no pool can starve the other)
        assert lay["embed_workers"] * lay["embed_cpus"] + lay["tokenize_workers"] * lay["tokenize_cpus"] <= cpus
    gpu = actor_layout(16, 2, None, None)
    assert (gpu["embed_workers"], gpu["embed_gpus"], gpu["device"]) == (2, 1, "cuda")


# --- pooling and rows -------------------------------------------------------------------

def test_mean_pooling_per_filing_follows_seq_and_is_unit_length():
    v = np.array([[1, 0], [0, 1], [3, 4], [1, 1]], dtype=np.float32)
    pooled = pool_mean(["a", "a", "b", "a"], [2, 0, 0, 1], v)
    assert pooled.filing_ids == ["a", "b"] and pooled.n_chunks == [3, 1]
    expected_a = np.array([2, 2]) / np.linalg.norm([2, 2])
    np.testing.assert_allclose(pooled.vectors[0], expected_a, rtol=1e-6)
    np.testing.assert_allclose(pooled.vectors[1], [0.6, 0.8], rtol=1e-6)
    groups = inference.group_by_filing(["a", "a", "b", "a"], [2, 0, 0, 1], v)
    np.testing.assert_array_equal(groups["a"], v[[1, 3, 0]])   # seq order 0, 1, 2


def _meta(n: int) -> pa.Table:
    return pa.table({
        "chunk_id": [f"c{i}" for i in range(n)], "filing_id": ["f0"] * n, "company_id": ["0000000001"] * n,
        "form": ["10-K"] * n, "filed_at": pa.array([date(2024, 3, 1)] * n, pa.date32()),
        "section_id": ["7"] * n, "seq": pa.array(range(n), pa.int32()), "etl_version": ["e1"] * n,
    })


def test_chunk_rows_match_the_schema_and_their_chunks():
    meta = _meta(3)
    index = {c: i for i, c in enumerate(meta.column("chunk_id").to_pylist())}
    vec = np.arange(12, dtype=np.float32).reshape(3, 4)
    rows = build_chunk_rows(meta, index, ["c2", "c0", "c1"], vec, "m-1", 4)
    t = schemas.chunk_embeddings(4)
    assert rows.schema == t.schema
    assert conform(t, rows).equals(rows)
    assert rows.column("chunk_id").to_pylist() == ["c2", "c0", "c1"]
    assert rows.column("seq").to_pylist() == [2, 0, 1]
    np.testing.assert_array_equal(vectors_of(rows.column("vector"), 4), vec)
    with pytest.raises(KeyError, match="not in the pending set"):
        build_chunk_rows(meta, index, ["nope", "c0", "c1"], vec, "m-1", 4)
    with pytest.raises(ValueError, match="expected"):
        build_chunk_rows(meta, index, ["c0"], vec, "m-1", 4)


def test_doc_rows_match_the_schema():
    filings = pa.table({"filing_id": ["f1", "f0"], "company_id": ["x", "y"], "form": ["10-K", "10-Q"],
                        "filed_at": pa.array([date(2024, 1, 1), date(2023, 1, 1)], pa.date32()),
                        "etl_version": ["e2", "e1"]})
    pooled = PooledFilings(["f0", "f1"], np.eye(2, 3, dtype=np.float32), [4, 2])
    rows = build_doc_rows(filings, pooled, "m-1", "mean", 3)
    assert rows.schema == schemas.doc_embeddings(3).schema
    assert rows.to_pylist()[0] | {"vector": None} == {
        "filing_id": "f0", "company_id": "y", "form": "10-Q", "filed_at": date(2023, 1, 1), "n_chunks": 4,
        "etl_version": "e1", "model_version": "m-1", "method": "mean", "vector": None}


# --- the callable classes, called on a batch ---------------------------------------------

@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory):
    """A tiny number-aware encoder saved with its BPE tokenizer (random weights)."""
    from models.config import tiny
    from models.model_files import build_encoder, build_tokenizer, save_encoder
    texts = ["Revenue was <number>$4.5 billion</number> in fiscal <number>2024</number>, up "
             "<number>12%</number>.", "Net income | <number>1,234</number> | <number>987</number>",
             "The company designs and sells products to customers worldwide."] * 20
    cfg = tiny().encoder
    cfg.bpe_vocab_size = 400
    cfg.backbone_config = dict(cfg.backbone_config, num_hidden_layers=2, hidden_size=64, intermediate_size=96,
                               num_attention_heads=2)
    tok = build_tokenizer(cfg, texts)
    d = tmp_path_factory.mktemp("enc") / "demo-run"
    save_encoder(build_encoder(cfg, tok, seed=0), d, tok)
    return d


def _work_batch() -> pa.Table:
    text0 = "Revenue was <number>$4.5 billion</number> in fiscal <number>2024</number>."
    start = text0.index("$4.5")
    return pa.table({
        "chunk_id": ["a", "b"],
        "text": [text0, "The company sells products."],
        "num_starts": pa.array([[start], None], pa.list_(pa.int32())),
        "num_ends": pa.array([[start + 12], None], pa.list_(pa.int32())),
        "num_values": pa.array([[4.5e9], None], pa.list_(pa.float64())),
    })


def test_tokenize_and_embed_callables_on_a_batch(tiny_encoder_dir):
    emb = load_embedder(tiny_encoder_dir)
    assert isinstance(emb, NumberEncoderEmbedder) and isinstance(emb, Embedder)
    assert emb.model_version.startswith("demo-run-") and len(emb.model_version) == len("demo-run-") + 12
    assert not emb.loaded  # the tokeniser side never loads weights
    tok = TokenizeChunks(str(tiny_encoder_dir), model_version=emb.model_version)
    out = tok(_work_batch())
    assert out.column_names == ["chunk_id", "input_ids", "num_values", "n_tokens"]
    assert not tok.embedder.loaded
    vals = out.column("num_values").to_pylist()[0]
    # the stored value (4.5e9) rides on the [NUM] token; the untagged-by-row 2024 is read from its text
    assert [v for v in vals if v is not None] == pytest.approx([4.5e9, 2024.0], rel=1e-6)
    assert out.column("n_tokens").to_pylist() == [len(x) for x in out.column("input_ids").to_pylist()]

    embed = EmbedChunks(str(tiny_encoder_dir), "mean", emb.model_version, "cpu", 1, token_budget=16)
    res = embed(out)
    v = vectors_of(res.column("vector"), emb.dim)
    assert v.shape == (2, 64) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    # the same vectors as embedding the chunk alone (batching and padding change nothing)
    alone = emb.embed_batch(emb.pad(emb.encode([_work_batch().column("text")[1].as_py()])))
    np.testing.assert_allclose(v[1], alone[0], atol=1e-5)
    # the number's value changes the vector (numbers enter the model)
    other = _work_batch().set_column(4, "num_values", pa.array([[4.5e3], None], pa.list_(pa.float64())))
    v2 = vectors_of(embed(tok(other)).column("vector"), emb.dim)
    assert not np.allclose(v[0], v2[0], atol=1e-4) and np.allclose(v[1], v2[1], atol=1e-5)

    with pytest.raises(RuntimeError, match="changed during the run"):
        TokenizeChunks(str(tiny_encoder_dir), model_version="demo-run-000000000000")


def test_cls_pooling_is_its_own_version(tiny_encoder_dir):
    mean = load_embedder(tiny_encoder_dir)
    cls = load_embedder(tiny_encoder_dir, pooling="cls")
    assert cls.model_version == mean.model_version.replace("demo-run-", "demo-run-cls-")
    texts = ["Revenue grew 12% to $4.5 billion."]
    assert not np.allclose(mean.embed_texts(texts), cls.embed_texts(texts))


def test_masked_mean_ignores_padding():
    import torch
    h = torch.tensor([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]])
    m = torch.tensor([[1, 1, 0]])
    assert masked_mean(h, m).tolist() == [[2.0, 3.0]]


def test_free_text_numbers_are_tagged_like_the_ingest(tiny_encoder_dir):
    emb = load_embedder(tiny_encoder_dir)
    enc = emb.encode_free_text(["Revenue rose 12% to $4.5 billion."])[0]
    assert sorted(v for v in enc.num_values if not math.isnan(v)) == [0.12, 4.5e9]


def test_minilm_matches_sentence_transformers_and_strips_tags():
    emb = load_embedder(MINILM)
    assert isinstance(emb, SentenceTransformerEmbedder) and emb.dim == 384 and emb.kind == "baseline"
    assert emb.model_version.startswith("minilm-")
    from sentence_transformers import SentenceTransformer
    texts = ["Revenue grew 12% to $4.5 billion in 2024.", "The company sells shoes."]
    ref = SentenceTransformer(str(minilm_folder()), device="cpu").encode(texts)
    np.testing.assert_allclose(emb.embed_texts(texts), ref, atol=1e-5)
    tagged = emb.encode(["Revenue grew <number>12%</number> to <number>$4.5 billion</number> in 2024."])
    assert tagged[0].input_ids == emb.encode_free_text([texts[0]])[0].input_ids
    assert load_embedder(minilm_folder()).model_version == emb.model_version


def test_load_embedder_explains_what_it_accepts(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        load_embedder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="holds no model"):
        load_embedder(tmp_path)
    with pytest.raises(ValueError, match="pass the store"):
        load_embedder("tiny-random")


def test_pretrain_run_folder_resolves_to_its_latest_checkpoint(tiny_encoder_dir, tmp_path):
    import json
    import shutil
    run = tmp_path / "myrun"
    for step in (100, 300, 200):
        ck = run / "ray_results" / "pretrain" / f"checkpoint_{step:06d}"
        shutil.copytree(tiny_encoder_dir, ck / "model")
        (ck / "train_state.json").write_text(json.dumps({"state": {"step": step}}))
    emb = load_embedder(run)
    assert emb.path.endswith("checkpoint_000300/model") and emb.model_version.startswith("myrun-")
    assert load_embedder(emb.path).model_version == emb.model_version   # what a Ray worker rebuilds
    shutil.copytree(tiny_encoder_dir, run / "model")          # a finished run: its model/ wins
    finished = load_embedder(run)
    assert finished.path == str((run / "model").resolve())
    assert finished.model_version == emb.model_version  # model/ is a copy of the last checkpoint


# --- GPU (run with -m gpu on a machine with CUDA) --------------------------------------

@pytest.mark.gpu
def test_cuda_vectors_match_cpu(tiny_encoder_dir):
    import torch
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    texts = ["Revenue rose <number>12%</number> to <number>$4.5 billion</number>.",
             "Net income | <number>1,234</number> | <number>987</number>\n" * 12,
             "The company designs and sells products to customers worldwide. " * 30]
    cpu = load_embedder(tiny_encoder_dir)
    gpu = load_embedder(tiny_encoder_dir).to("cuda")
    assert next(gpu.model.parameters()).device.type == "cuda"
    enc = cpu.encode(texts)
    a, b = cpu.embed_encodings(enc), gpu.embed_encodings(enc)   # fp32 on CPU, bf16 autocast on CUDA
    assert b.dtype == np.float32 and np.isfinite(b).all()
    assert float((a * b).sum(1).min()) > 0.99
    # the Ray callable on a CUDA device: same vectors as on CPU
    tokens = TokenizeChunks(str(tiny_encoder_dir))(_work_batch())
    on_cpu = EmbedChunks(str(tiny_encoder_dir), "mean", None, "cpu", 0, 4096)(tokens)
    on_gpu = EmbedChunks(str(tiny_encoder_dir), "mean", None, "cuda", 0, 4096)(tokens)
    va, vb = vectors_of(on_cpu.column("vector"), cpu.dim), vectors_of(on_gpu.column("vector"), cpu.dim)
    assert float((va * vb).sum(1).min()) > 0.99


# --- aggregator contract and query helpers (pure) -----------------------------------------

class _FirstChunk:
    """A stand-in aggregator: the first chunk's vector, scaled (the contract, not a model)."""

    def aggregate(self, vectors_per_filing):
        return np.stack([3.0 * v[0] for v in vectors_per_filing])


def test_aggregator_vectors_are_checked_and_normalised():
    groups = {"f1": np.array([[0.6, 0.8], [1, 0]], np.float32), "f2": np.array([[0, 1]], np.float32)}
    pooled = inference.aggregate(_FirstChunk(), groups, 2)
    assert pooled.filing_ids == ["f1", "f2"] and pooled.n_chunks == [2, 1]
    np.testing.assert_allclose(pooled.vectors, [[0.6, 0.8], [0, 1]], atol=1e-6)
    with pytest.raises(ValueError, match=r"must be \(2, 3\)"):
        inference.aggregate(_FirstChunk(), groups, 3)


def test_query_refuses_writes_and_builds_filters():
    from jobs.query import QueryRefused, build_where, check_read_only
    assert check_read_only("  -- top forms\n SELECT form FROM filings; ") == "SELECT form FROM filings"
    assert check_read_only("select ';' as s") == "select ';' as s"   # a semicolon inside a string is fine
    for bad, why in (("DROP TABLE chunks", "DROP"), ("delete from chunks", "DELETE"),
                     ("select 1; drop table chunks", "several statements"), ("", "empty"),
                     ("/* x */ INSERT INTO filings VALUES (1)", "INSERT"), ("COPY filings TO 'x.csv'", "COPY")):
        with pytest.raises(QueryRefused, match=why):
            check_read_only(bad)
    assert build_where() is None
    assert build_where(company="O'Neil", form="10-K", since=date(2024, 1, 1), section="7") == (
        "company_id = 'O''Neil' AND form = '10-K' AND filed_at >= DATE '2024-01-01' AND section_id = '7'")
