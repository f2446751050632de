"""Training the document aggregator as an autoencoder through the chunk decoder, on Ray Train.

    store chunks ─driver─▶ split by company ─▶ chunk vectors from the frozen chunk encoder
        (cached in <out>/chunk_vectors.npz, keyed by the embedder's model version)
        ─ray.put─▶ TorchTrainer workers (DDP) ─▶ checkpoints ─driver─▶ <out>/model, metrics, loss curve

Per step, each worker takes `docs_per_batch` documents. Each document is seen
through a view that changes every epoch (re-chunking on precomputed vectors):
with probability `crop_prob` a random contiguous run of at least
`crop_min_fraction` of its chunks, then each chunk dropped with probability
`chunk_drop_rate` (one always stays), cut to `max_chunks` by a random window.
The aggregator turns the view into a document vector; the chunk embedder's
decoder (frozen, or trained at `decoder_lr`) reads it as memory in place of
a chunk CLS and denoises one chunk of the document (chosen in the view, or
anywhere in the document), masked at a rate drawn from U(15%, 85%) with
80/10/10 for text and numbers. The loss is the MLM objective of pretraining.

Evaluation on held-out companies decodes chunks of each document (whole
documents, evenly subsampled as at inference) from three memories: the
document vector (`eval_mlm_acc`), another document's vector
(`eval_mlm_acc_other_doc`) and the chunk's own CLS vector
(`eval_mlm_acc_own_chunk`, the chunk embedder's own reference): the document
vector should beat another document's.

Exact resumption as in pretraining: views, targets and masks are functions of
(seed, epoch, batch index, document, rank), dropout is reseeded per step.
"""
from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.aggregator import DocumentAggregator, even_subsample, pad_documents, save_aggregator
from models.document_batching import VariableRateCollator
from models.embedder import (LoadedChunkEmbedder, MemoryDecoder, load_chunk_embedder, load_chunk_embedder_model,
                             save_weights)
from models.embedder_config import AggregatorConfig, AggregatorTrainConfig, EmbeddingPreset
from models.embedder_training import final_model, report_step, restore, worker_setup, write_run_metrics
from models.losses import pretrain_loss
from models.model_files import load_weights
from models.pretraining import (MODEL_DIR, OPTIMIZER_FILE, RUN_CONFIG_FILE, TRAIN_STATE_FILE, ChunkRecord,
                                Pretrainer, TokenizedCorpus, TrainState, _progress, _seed, read_chunks,
                                shard_batches, split_by_company)
from models.tokenizer import NumberTokenizer, pad_encodings

DECODER_WEIGHTS = "decoder.safetensors"
VECTORS_FILE = "chunk_vectors.npz"


# --- model -------------------------------------------------------------------------------

class AggregatorAutoencoder(nn.Module):
    """Aggregator -> document vector -> memory of the chunk decoder."""

    def __init__(self, aggregator: DocumentAggregator, decoder: MemoryDecoder, train_decoder: bool):
        super().__init__()
        self.aggregator = aggregator
        self.decoder = decoder
        self.train_decoder = train_decoder
        decoder.requires_grad_(train_decoder)

    def train(self, mode: bool = True) -> AggregatorAutoencoder:
        super().train(mode)
        if not self.train_decoder:
            self.decoder.eval()  # a frozen decoder runs as at inference (no dropout)
        return self

    def number_parameters(self):
        if self.train_decoder:
            yield from self.decoder.lm.number_parameters()

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor, dec: dict[str, torch.Tensor]):
        doc = self.aggregator(vectors, mask)
        return doc, self.decoder(**dec, memory=doc)


def make_aggregator_optimizer(model: AggregatorAutoencoder, cfg: AggregatorTrainConfig) -> torch.optim.AdamW:
    """AdamW: the aggregator at `lr`, a trainable decoder at `decoder_lr`; no decay on 1-D parameters."""
    groups: dict[tuple[str, bool], list[nn.Parameter]] = defaultdict(list)
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups[(name.split(".")[0], p.ndim >= 2)].append(p)
    base = {"aggregator": cfg.lr, "decoder": cfg.decoder_lr}
    return torch.optim.AdamW(
        [{"params": ps, "lr": base[k], "base_lr": base[k], "weight_decay": cfg.weight_decay if decay else 0.0,
          "name": f"{k}{'' if decay else '_no_decay'}"} for (k, decay), ps in sorted(groups.items())],
        betas=cfg.betas)


# --- document views (re-chunking on precomputed vectors) -------------------------------------

def document_view(n: int, rng: np.random.Generator, crop_prob: float, crop_min_fraction: float,
                  drop_rate: float, max_chunks: int) -> np.ndarray:
    """Sorted positions (>= 1) of an n-chunk document seen this epoch (see module docstring)."""
    lo, hi = 0, n
    if n > 1 and rng.random() < crop_prob:
        length = int(rng.integers(max(1, int(np.ceil(crop_min_fraction * n))), n + 1))
        lo = int(rng.integers(0, n - length + 1))
        hi = lo + length
    pos = np.arange(lo, hi)
    keep = rng.random(len(pos)) >= drop_rate
    if not keep.any():
        keep[rng.integers(len(pos))] = True
    pos = pos[keep]
    if len(pos) > max_chunks:
        start = int(rng.integers(0, len(pos) - max_chunks + 1))
        pos = pos[start:start + max_chunks]
    return pos


@dataclass
class DocumentSet:
    """Documents as runs of chunks: vectors and token arrays row-aligned, chunks of a document in order."""
    vectors: np.ndarray              # (n_chunks, d) float32 raw CLS vectors (the aggregator normalises them)
    corpus: TokenizedCorpus          # the same chunks' tokens
    chunks: list[np.ndarray]         # per document: its chunk rows in reading order

    def __len__(self) -> int:
        return len(self.chunks)

    @classmethod
    def from_records(cls, records: Sequence[ChunkRecord], vectors: np.ndarray, corpus: TokenizedCorpus) -> DocumentSet:
        rows: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(records):  # read_chunks gives chunks in (filing, seq) order
            rows[r.filing_id].append(i)
        return cls(vectors, corpus, [np.asarray(v, dtype=np.int64) for v in rows.values()])


# --- the torch-only trainer ------------------------------------------------------------------

class AggregatorTrainer(Pretrainer):
    """One worker's aggregator training state (see module docstring)."""

    def __init__(self, model: AggregatorAutoencoder, cfg: AggregatorTrainConfig, tokenizer: NumberTokenizer,
                 train: DocumentSet, eval_set: DocumentSet | None = None, *, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu", wrapped: nn.Module | None = None,
                 chunk_model_version: str = "unknown"):
        self.tokenizer = tokenizer
        self.chunk_model_version = chunk_model_version  # recorded in the saved aggregator
        self.train_set = train
        self.eval_set = eval_set
        number = model.decoder.lm.config.number
        collator = VariableRateCollator.for_tokenizer(tokenizer, number, cfg.mask_rate_min, cfg.mask_rate_max,
                                                      cfg.mask_ratio, cfg.random_ratio)
        super().__init__(model, cfg, collator, train.corpus, None, rank=rank, world_size=world_size,
                         device=device, wrapped=wrapped)
        self.optimizer = make_aggregator_optimizer(model, cfg)

    def _epoch_plan(self, epoch: int) -> list[list[int]]:
        if self._plan_epoch != epoch:
            rng = np.random.default_rng(_seed(self.cfg.seed, "epoch", epoch))
            order = rng.permutation(len(self.train_set)).tolist()
            k = self.cfg.docs_per_batch
            batches = [order[i:i + k] for i in range(0, len(order), k)]
            self._plan = shard_batches(batches, self.rank, self.world_size)
            self._plan_epoch = epoch
        return self._plan

    def make_batch_for(self, docs: Sequence[int], epoch: int, index: int):
        """(chunk vectors, mask, masked decoder batch of one target chunk per document)."""
        c, ds = self.cfg, self.train_set
        cap = self.model.aggregator.config.max_chunks
        views, targets = [], []
        for d in docs:
            rows = ds.chunks[d]
            rng = np.random.default_rng(_seed(c.seed, "view", epoch, int(d)))
            pos = document_view(len(rows), rng, c.crop_prob, c.crop_min_fraction, c.chunk_drop_rate, cap)
            views.append(ds.vectors[rows[pos]])
            targets.append(int(rows[rng.choice(pos)] if c.target_in_view else rows[rng.integers(len(rows))]))
        vectors, mask = pad_documents(views, self.device)
        padded = pad_encodings([ds.corpus.encoding(i) for i in targets], self.tokenizer.pad_token_id)
        g = torch.Generator().manual_seed(_seed(c.seed, "mask", epoch, index, self.rank))
        return vectors, mask, self._to_device(self.collator.mask(padded, g))

    def train_step(self) -> dict[str, float]:
        epoch, index, docs = self._next_indices()
        vectors, mask, dec = self.make_batch_for(docs, epoch, index)
        torch.manual_seed(_seed(self.cfg.seed, "dropout", self.state.step, self.rank))
        self.set_lr()
        self.net.train()
        with self._autocast():
            _doc, recon = self.net(vectors, mask, dec)
            parts = pretrain_loss(recon, self.model.decoder.lm.config.number, self.cfg.number_loss_weight)
        parts["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad],
                                                   self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        tokens = int(dec["attention_mask"].sum())
        self.state.step += 1
        self.state.batch_in_epoch += 1
        self.state.tokens += tokens
        self._window_tokens += tokens
        metrics = {k: float(v.detach()) for k, v in parts.items()}
        metrics.update(grad_norm=float(grad_norm), tokens=tokens, docs=len(docs),
                       view_chunks=float(mask.sum()) / len(docs))
        for k, v in metrics.items():
            self._window[k].append(v)
        return metrics

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out reconstruction from the document vector vs another document's vs the chunk's own CLS."""
        es = self.eval_set
        if es is None or len(es) == 0:
            return {}
        c = self.cfg
        cap = self.model.aggregator.config.max_chunks
        model = self.model.eval()
        doc_vecs = []
        for start in range(0, len(es), c.docs_per_batch):
            views = [es.vectors[rows[even_subsample(len(rows), cap)]]
                     for rows in es.chunks[start:start + c.docs_per_batch]]
            vectors, mask = pad_documents(views, self.device)
            doc_vecs.append(model.aggregator(vectors, mask).float())
        doc_vecs = torch.cat(doc_vecs)
        # targets: chunks spread over every document, up to eval_max_chunks in all
        per_doc = max(1, c.eval_max_chunks // len(es))
        targets = [(d, int(r)) for d, rows in enumerate(es.chunks) for r in rows[even_subsample(len(rows), per_doc)]]
        rng = np.random.default_rng(_seed(c.seed, "eval_other"))
        other_doc = [(d + 1 + int(rng.integers(len(es) - 1))) % len(es) if len(es) > 1 else d for d, _ in targets]
        ncfg = model.decoder.lm.config.number
        sums = defaultdict(float)
        for start in range(0, len(targets), c.docs_per_batch):
            part = targets[start:start + c.docs_per_batch]
            padded = pad_encodings([es.corpus.encoding(r) for _, r in part], self.tokenizer.pad_token_id)
            g = torch.Generator().manual_seed(_seed(c.seed, "eval", start))
            dec = self._to_device(self.collator.mask(padded, g))
            docs_t = torch.as_tensor([d for d, _ in part], device=self.device)
            memories = {"": doc_vecs[docs_t],
                        "_other_doc": doc_vecs[torch.as_tensor(other_doc[start:start + len(part)], device=self.device)],
                        "_own_chunk": torch.as_tensor(es.vectors[[r for _, r in part]], device=self.device)}
            for name, memory in memories.items():
                with self._autocast():
                    out = model.decoder(**dec, memory=memory)
                    parts = pretrain_loss(out, ncfg, c.number_loss_weight)
                n_mlm, n_num = out.mlm_labels.numel(), out.num_targets.numel()
                sums[f"mlm{name}"] += float(parts["mlm"]) * n_mlm
                sums[f"correct{name}"] += float((out.mlm_logits.argmax(-1) == out.mlm_labels).sum())
                sums[f"excess{name}"] += float(parts["number_excess"]) * n_num
                sums[f"n_mlm{name}"] += n_mlm
                sums[f"n_num{name}"] += n_num
        out_metrics = {"eval_docs": float(len(es)), "eval_targets": float(len(targets))}
        for name in ("", "_other_doc", "_own_chunk"):
            n_mlm, n_num = max(sums[f"n_mlm{name}"], 1.0), max(sums[f"n_num{name}"], 1.0)
            out_metrics[f"eval_mlm{name}"] = sums[f"mlm{name}"] / n_mlm
            out_metrics[f"eval_mlm_acc{name}"] = sums[f"correct{name}"] / n_mlm
            out_metrics[f"eval_number_excess{name}"] = sums[f"excess{name}"] / n_num
        return out_metrics

    # -- checkpoints -------------------------------------------------------

    def save_checkpoint(self, directory: str | Path, tokenizer: NumberTokenizer | None = None) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_aggregator(self.model.aggregator, d / MODEL_DIR, self.chunk_model_version)
        if self.model.train_decoder:
            save_weights(self.model.decoder, d / DECODER_WEIGHTS, "filingstore.memory_decoder")
        torch.save({"optimizer": self.optimizer.state_dict()}, d / OPTIMIZER_FILE)
        (d / TRAIN_STATE_FILE).write_text(json.dumps(
            {"state": asdict(self.state), "train": self.cfg.to_dict(), "history": self.history}, indent=1) + "\n")
        return d

    def load_checkpoint(self, directory: str | Path) -> None:
        from safetensors.torch import load_model

        d = Path(directory)
        if not (d / TRAIN_STATE_FILE).is_file():
            raise FileNotFoundError(f"{d} is not an aggregator checkpoint (no {TRAIN_STATE_FILE})")
        load_weights(self.model.aggregator, d / MODEL_DIR)
        if self.model.train_decoder:
            load_model(self.model.decoder, str(d / DECODER_WEIGHTS), device=str(self.device))
        opt = torch.load(d / OPTIMIZER_FILE, map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(opt["optimizer"])
        meta = json.loads((d / TRAIN_STATE_FILE).read_text())
        self.state = TrainState(**meta["state"])
        self.history = list(meta.get("history", []))
        self._plan_epoch = None


def build_autoencoder(cfg: AggregatorConfig, train_cfg: AggregatorTrainConfig, decoder: MemoryDecoder,
                      chunk_dim: int) -> AggregatorAutoencoder:
    torch.manual_seed(train_cfg.seed)  # every rank builds the same aggregator
    return AggregatorAutoencoder(DocumentAggregator(cfg, chunk_dim), decoder, train_cfg.train_decoder)


# --- Ray Train ----------------------------------------------------------------------------------

def aggregator_train_loop(config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker (see `run_aggregator_training` for `config`)."""
    import ray
    import ray.train.torch

    rank, world, device = worker_setup(config)
    cfg = AggregatorTrainConfig.from_dict(config["train"])
    embedder, tokenizer = load_chunk_embedder_model(config["embedder_dir"], device)
    model = build_autoencoder(AggregatorConfig.from_dict(config["aggregator"]), cfg, embedder.decoder,
                              embedder.dim).to(device)
    wrapped = ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"find_unused_parameters": False})
    train_set, eval_set = ray.get(config["documents"])
    trainer = AggregatorTrainer(model, cfg, tokenizer, train_set, eval_set, rank=rank, world_size=world,
                                device=device, wrapped=wrapped, chunk_model_version=config["chunk_model_version"])
    restore(trainer, config)
    bar = _progress(cfg.max_steps, trainer.state.step, config.get("progress", True) and rank == 0)
    if bar is not None:
        bar.set_description("aggregator")
    last: dict[str, float] = {}
    while trainer.state.step < cfg.max_steps:
        last = trainer.train_step()
        report_step(trainer, cfg, rank, bar,
                    lambda: f"aggregator loss {last['loss']:.3f} mlm {last['mlm']:.3f} "
                            f"num_excess {last['number_excess']:.3f}")
    if bar is not None:
        bar.close()


# --- the job -----------------------------------------------------------------------------------

@dataclass
class AggregatorJob:
    store: Path
    out: Path
    embedder: Path                       # a chunk-embedder run folder (or its model/ folder)
    preset: EmbeddingPreset
    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    run_name: str = "aggregator"
    storage_path: Path | None = None
    resume_from: Path | None = None
    progress: bool = True


@dataclass
class AggregatorResult:
    model_dir: Path
    metrics_json: Path
    loss_curve: Path | None
    checkpoint: str
    history: list[dict[str, float]]
    data: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)


def chunk_vectors(embedder: LoadedChunkEmbedder, records: Sequence[ChunkRecord], corpus: TokenizedCorpus,
                  cache: Path) -> np.ndarray:
    """Raw (unnormalised) CLS vectors from the frozen chunk encoder, cached by (model version, chunk ids)."""
    ids = np.array([r.chunk_id for r in records])
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if str(z["model_version"]) == embedder.model_version and np.array_equal(z["chunk_ids"], ids):
            return z["vectors"]
    vectors = np.zeros((len(records), embedder.dim), dtype=np.float32)
    step = 512
    for i in range(0, len(records), step):  # raw CLS: the decoder's memory; the aggregator normalises its inputs
        part = [corpus.encoding(j) for j in range(i, min(i + step, len(records)))]
        vectors[i:i + step] = embedder.embed_batch(part, normalize=False)
    np.savez(cache, vectors=vectors, chunk_ids=ids, model_version=np.array(embedder.model_version))
    return vectors


def prepare_aggregator_data(job: AggregatorJob) -> tuple[Path, LoadedChunkEmbedder, tuple[DocumentSet, DocumentSet],
                                                         dict[str, Any]]:
    """Read the store, split by company, embed every chunk with the frozen chunk encoder."""
    from featurestore import Store

    cfg = job.preset.aggregator_train
    chunks = read_chunks(Store(job.store))
    if not chunks:
        raise ValueError(f"store {job.store} has no chunks; ingest filings first (python -m jobs.ingest)")
    train, held, eval_companies = split_by_company(chunks, cfg.eval_fraction, cfg.seed)
    embedder = load_chunk_embedder(job.embedder)
    embedder.token_budget = cfg.token_budget
    t0 = time.perf_counter()
    out = Path(job.out)
    sets = []
    for name, recs in (("train", train), ("eval", held)):
        corpus = TokenizedCorpus.from_chunks(embedder.tokenizer, recs)
        vecs = chunk_vectors(embedder, recs, corpus, out / f"{name}_{VECTORS_FILE}") if recs else \
            np.zeros((0, embedder.dim), dtype=np.float32)
        sets.append(DocumentSet.from_records(recs, vecs, corpus))
    train_set, eval_set = sets
    if len(train_set) < job.workers:
        raise ValueError(f"{len(train_set)} training documents for {job.workers} workers: use fewer workers")
    sizes = np.array([len(r) for r in train_set.chunks])
    report = {
        "store": str(job.store), "chunks": len(chunks), "train_documents": len(train_set),
        "eval_documents": len(eval_set), "eval_companies": eval_companies, "embedder": str(embedder.path),
        "chunk_model_version": embedder.model_version, "embed_seconds": round(time.perf_counter() - t0, 1),
        "chunks_per_document_p50": float(np.median(sizes)), "chunks_per_document_max": int(sizes.max()),
    }
    return embedder.path, embedder, (train_set, eval_set), report


def run_aggregator_training(job: AggregatorJob) -> AggregatorResult:
    """Train on Ray Train (Ray must be initialised); write the aggregator and metrics to `job.out`."""
    import ray
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    t0 = time.perf_counter()
    out = Path(job.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    embedder_dir, embedder, documents, report = prepare_aggregator_data(job)
    (out / "data_report.json").write_text(json.dumps(report, indent=1) + "\n")
    cfg = job.preset.aggregator_train
    (out / RUN_CONFIG_FILE).write_text(json.dumps(
        {"aggregator": job.preset.aggregator.to_dict(), "train": cfg.to_dict(), "store": str(job.store),
         "embedder": str(embedder_dir), "chunk_model_version": embedder.model_version}, indent=1) + "\n")
    del embedder  # workers load their own copy of the decoder
    resources = {"CPU": job.cpus_per_worker, **({"GPU": job.gpus_per_worker} if job.gpus_per_worker else {})}
    storage = Path(job.storage_path).resolve() if job.storage_path else out / "ray_results"
    trainer = TorchTrainer(
        aggregator_train_loop,
        train_loop_config={"train": cfg.to_dict(), "aggregator": job.preset.aggregator.to_dict(),
                           "embedder_dir": str(Path(embedder_dir).resolve()), "documents": ray.put(documents),
                           "chunk_model_version": report["chunk_model_version"],
                           "torch_threads": max(1, int(job.cpus_per_worker)), "progress": job.progress,
                           "resume_from": str(job.resume_from) if job.resume_from else None},
        scaling_config=ScalingConfig(num_workers=job.workers, use_gpu=job.gpus_per_worker > 0,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=job.run_name, storage_path=str(storage),
                             checkpoint_config=CheckpointConfig(num_to_keep=cfg.keep_checkpoints)),
    )
    result = trainer.fit()
    model_dir, meta = final_model(result, out)
    with result.checkpoint.as_directory() as d:
        if (Path(d) / DECODER_WEIGHTS).is_file():  # the decoder trained with it
            shutil.copy2(Path(d) / DECODER_WEIGHTS, out / DECODER_WEIGHTS)
    history = meta["history"]
    js, png, notes = write_run_metrics(history, out)
    return AggregatorResult(model_dir, js, png, result.checkpoint.path, history, report,
                            time.perf_counter() - t0, notes)
