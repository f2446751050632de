"""Training the chunk embedder (CLS autoencoder + contrastive or JEPA/SIGReg term), on Ray Train.

    store chunks ─driver─▶ split by company ─▶ tokenizer + initial embedder (from a pretraining run's
        encoder, or a fresh preset encoder) saved to <out>/init ─▶ token arrays + document codes
        ─ray.put─▶ TorchTrainer workers (DDP) ─▶ checkpoints (model folder + optimizer + position)
        ─driver─▶ <out>/model, metrics.{json,jsonl,csv}, loss_curve.png, bottleneck_probe.json

Per step, each worker takes one document batch (`models.document_batching`:
>= P chunks of each of >= D documents near the token budget), embeds the
unmasked chunks (CLS), masks a copy at a per-example rate drawn from
U(15%, 85%) with 80/10/10 for text and numbers, decodes it from the CLS
memory slots, and minimises reconstruction + the embedding term
(`models.embedding_losses.embedder_loss`); with the semantic anchor on, a few
single sentences of the training chunks (`models.sentence_views`) are embedded
in the same forward and anchored with the chunks. The contrastive term is computed
per worker on its own batch (each batch meets the document guarantee by
itself; no cross-worker gathering).

Exact resumption, as in pretraining: a batch (which chunks, how masked, the
SIGReg directions) is a pure function of (seed, epoch, batch index, rank or
step), dropout is reseeded per step, and a checkpoint holds the weights, the
AdamW state and the position in the data.

`EmbedderTrainer` extends `models.pretraining.Pretrainer` (learning-rate
schedule, step/epoch bookkeeping, windowed metrics); it replaces the batch
plan, the batch, the step, the evaluation, the optimiser groups and the
checkpoint's model format. `embedder_train_loop` and `run_embedder_training`
are the Ray glue.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.document_batching import (VariableRateCollator, batch_report, document_batches, document_codes,
                                      spread_sample)
from models.embedder import (ChunkEmbedder, build_chunk_embedder, load_chunk_embedder_model, read_embedder_meta,
                             save_chunk_embedder)
from models.embedder_config import EmbedderTrainConfig, EmbeddingPreset
from models.embedding_losses import embedder_loss
from models.model_files import build_encoder, build_tokenizer, load_weights
from models.number_bins import log_magnitude
from models.pretraining import (MODEL_DIR, OPTIMIZER_FILE, RUN_CONFIG_FILE, TRAIN_STATE_FILE, ChunkRecord,
                                Pretrainer, TokenizedCorpus, TrainState, _progress, _seed, read_chunks, report_step,
                                shard_batches, split_by_company, write_metrics)
from models.sentence_views import sentence_views
from models.tokenizer import NumberTokenizer, pad_encodings

INIT_DIR = "init"
PROBE_FILE = "bottleneck_probe.json"


# --- optimiser -------------------------------------------------------------------------

def make_embedder_optimizer(model: ChunkEmbedder, cfg: EmbedderTrainConfig) -> torch.optim.AdamW:
    """AdamW: pretrained backbones at `lr`, number modules at `number_lr`, new memory modules at `memory_lr`;
    no decay on 1-D parameters (norms, biases) or on number embeddings."""
    kind = {id(p): "number" for p in model.number_parameters()}
    kind.update({id(p): "memory" for p in model.new_parameters()})
    base = {"backbone": cfg.lr, "number": cfg.number_lr, "memory": cfg.memory_lr}
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = defaultdict(list)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = p.ndim >= 2 and ".number_embedding." not in f".{name}"
        groups[(kind.get(id(p), "backbone"), decay)].append(p)
    return torch.optim.AdamW(
        [{"params": ps, "lr": base[k], "base_lr": base[k], "weight_decay": cfg.weight_decay if decay else 0.0,
          "name": f"{k}{'' if decay else '_no_decay'}"} for (k, decay), ps in sorted(groups.items())],
        betas=cfg.betas)


def mask_collator(tokenizer: NumberTokenizer, model: ChunkEmbedder, rate_min: float, rate_max: float,
                  cfg) -> VariableRateCollator:
    return VariableRateCollator.for_tokenizer(tokenizer, model.decoder.lm.config.number, rate_min, rate_max,
                                              cfg.mask_ratio, cfg.random_ratio)


# --- the torch-only trainer ---------------------------------------------------------------

class EmbedderTrainer(Pretrainer):
    """One worker's chunk-embedder training state (see module docstring)."""

    def __init__(self, model: ChunkEmbedder, cfg: EmbedderTrainConfig, tokenizer: NumberTokenizer,
                 train: TokenizedCorpus, train_docs: np.ndarray, eval_corpus: TokenizedCorpus | None = None,
                 eval_docs: np.ndarray | None = None, *, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu", wrapped: torch.nn.Module | None = None, verbose: bool = False,
                 train_teacher: np.ndarray | None = None, eval_teacher: np.ndarray | None = None,
                 sentences: TokenizedCorpus | None = None, sentence_teacher: np.ndarray | None = None):
        self.tokenizer = tokenizer
        # the semantic anchor's targets: a frozen sentence embedder's vectors of the chunks, row-aligned
        self.train_teacher = train_teacher
        self.eval_teacher = eval_teacher
        if cfg.semantic_weight > 0 and train_teacher is None:
            raise ValueError("semantic_weight > 0 needs train_teacher (teacher_vectors of the training chunks)")
        # sentence views anchored with the chunks (see models.sentence_views), row-aligned with their teacher
        self.sentences = sentences
        self.sentence_teacher = sentence_teacher
        if cfg.semantic_sentences > 0 and (sentences is None or sentence_teacher is None or not len(sentences)):
            raise ValueError("semantic_sentences > 0 needs sentences (tokenized sentence views) and sentence_teacher")
        self.train_docs = np.asarray(train_docs, dtype=np.int64)
        self.eval_docs = None if eval_docs is None else np.asarray(eval_docs, dtype=np.int64)
        self.verbose = verbose
        self.epoch_reports: dict[int, dict[str, float]] = {}
        self._unlogged_report: dict[str, float] | None = None
        collator = mask_collator(tokenizer, model, cfg.mask_rate_min, cfg.mask_rate_max, cfg)
        super().__init__(model, cfg, collator, train, eval_corpus, rank=rank, world_size=world_size,
                         device=device, wrapped=wrapped)
        self.optimizer = make_embedder_optimizer(model, cfg)  # three base rates instead of pretraining's two

    # -- data --------------------------------------------------------------

    def _epoch_plan(self, epoch: int) -> list[list[int]]:
        if self._plan_epoch != epoch:
            c = self.cfg
            rng = np.random.default_rng(_seed(c.seed, "epoch", epoch))
            lengths = self.train_corpus.lengths
            batches = document_batches(self.train_docs, lengths, c.token_budget, c.min_chunks_per_doc,
                                       c.max_chunks_per_doc, c.min_docs_per_batch, rng, c.length_bucket)
            report = batch_report(self.train_docs, lengths, batches, c.token_budget)
            self.epoch_reports[epoch] = report
            self._unlogged_report = report
            if self.verbose and self.rank == 0:
                print(f"embedder epoch {epoch}: {report['batches']} batches, {report['positive_share']:.1%} of "
                      f"anchors have a positive, padding waste {report['padding_waste']:.1%}, "
                      f"{report['mean_docs_per_batch']:.1f} documents per batch (min {report['min_docs_per_batch']}), "
                      f"{report['over_budget_batches']} over the token budget", flush=True)
            self._plan = shard_batches(batches, self.rank, self.world_size)
            self._plan_epoch = epoch
        return self._plan

    def make_pair(self, corpus: TokenizedCorpus, docs: np.ndarray, indices: Sequence[int], seed: int
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """(unmasked encoder batch, masked decoder batch, document codes) for these chunks."""
        padded = pad_encodings([corpus.encoding(i) for i in indices], self.tokenizer.pad_token_id)
        dec = self.collator.mask(padded, torch.Generator().manual_seed(seed))
        groups = torch.as_tensor(docs[list(indices)], dtype=torch.long)
        return self._to_device(padded), self._to_device(dec), groups.to(self.device)

    def _teacher_rows(self, teacher: np.ndarray | None, indices: Sequence[int]) -> torch.Tensor | None:
        if teacher is None or self.cfg.semantic_weight <= 0:
            return None
        return torch.as_tensor(teacher[list(indices)], dtype=torch.float32, device=self.device)

    def sentence_batch(self) -> tuple[dict[str, torch.Tensor] | None, torch.Tensor | None]:
        """This step's sentence views (padded) and their teacher vectors; (None, None) when off."""
        k = self.cfg.semantic_sentences
        if k <= 0:
            return None, None
        rng = np.random.default_rng(_seed(self.cfg.seed, "views", self.state.step, self.rank))
        pick = rng.choice(len(self.sentences), size=min(k, len(self.sentences)), replace=False).tolist()
        views = pad_encodings([self.sentences.encoding(i) for i in pick], self.tokenizer.pad_token_id)
        teacher = torch.as_tensor(self.sentence_teacher[pick], dtype=torch.float32, device=self.device)
        return self._to_device(views), teacher

    # -- training ----------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        epoch, index, indices = self._next_indices()
        enc, dec, groups = self.make_pair(self.train_corpus, self.train_docs, indices,
                                          _seed(self.cfg.seed, "mask", epoch, index, self.rank))
        views, view_teacher = self.sentence_batch()
        torch.manual_seed(_seed(self.cfg.seed, "dropout", self.state.step, self.rank))
        self.set_lr()
        self.net.train()
        with self._autocast():
            out = self.net(enc, dec, views=views)
            parts = embedder_loss(out.recon, out.cls, groups, self.cfg, self.model.decoder.lm.config.number,
                                  _seed(self.cfg.seed, "sigreg", self.state.step),
                                  teacher=self._teacher_rows(self.train_teacher, indices),
                                  view_cls=out.view_cls, view_teacher=view_teacher)
        parts["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        tokens = int(enc["attention_mask"].sum())
        self.state.step += 1
        self.state.batch_in_epoch += 1
        self.state.tokens += tokens
        self._window_tokens += tokens
        metrics = {k: float(v.detach()) for k, v in parts.items()}
        metrics.update(grad_norm=float(grad_norm), tokens=tokens, chunks=len(indices),
                       docs=int(groups.unique().numel()))
        for k, v in metrics.items():
            self._window[k].append(v)
        return metrics

    def window_metrics(self) -> dict[str, float]:
        out = super().window_metrics()
        if self._unlogged_report is not None:  # the batch plan of an epoch that began in this window
            out["epoch_positive_share"] = self._unlogged_report["positive_share"]
            out["epoch_padding_waste"] = self._unlogged_report["padding_waste"]
            self._unlogged_report = None
        return out

    # -- evaluation --------------------------------------------------------

    def _eval_subset(self) -> tuple[list[int], np.ndarray]:
        """Up to `eval_max_chunks` held-out chunks spread over as many documents as fit."""
        keep = spread_sample(self.eval_docs, self.cfg.eval_max_chunks, self.cfg.min_chunks_per_doc)
        return keep, self.eval_docs[keep]

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out reconstruction, embedding loss and same-document retrieval (identical on every rank)."""
        if self.eval_corpus is None or len(self.eval_corpus) == 0 or self.eval_docs is None:
            return {}
        c = self.cfg
        keep, docs = self._eval_subset()
        corpus = self.eval_corpus.subset(keep)
        teacher = None if self.eval_teacher is None else self.eval_teacher[keep]
        n_docs = len(np.unique(docs))
        eligible = int((np.unique(docs, return_counts=True)[1] >= c.min_chunks_per_doc).sum())
        if eligible == 0:
            return {}
        batches = document_batches(docs, corpus.lengths, c.token_budget, c.min_chunks_per_doc, c.max_chunks_per_doc,
                                   min(c.min_docs_per_batch, eligible), np.random.default_rng(_seed(c.seed, "eval")),
                                   c.length_bucket, shuffle=False)
        ncfg = self.model.decoder.lm.config.number
        s = defaultdict(float)
        vecs: list[torch.Tensor] = []
        vec_docs: list[np.ndarray] = []
        self.model.eval()
        for bi, idx in enumerate(batches):
            enc, dec, groups = self.make_pair(corpus, docs, idx, _seed(c.seed, "eval", bi))
            with self._autocast():
                out = self.model(enc, dec)
                parts = embedder_loss(out.recon, out.cls, groups, c, ncfg, _seed(c.seed, "eval_sigreg", bi),
                                      teacher=self._teacher_rows(teacher, idx))
            r = out.recon
            n_mlm, n_num = r.mlm_labels.numel(), r.num_targets.numel()
            s["mlm"] += float(parts["mlm"]) * n_mlm
            s["n_mlm"] += n_mlm
            s["mlm_correct"] += float((r.mlm_logits.argmax(-1) == r.mlm_labels).sum())
            s["number_excess"] += float(parts["number_excess"]) * n_num
            s["n_numbers"] += n_num
            if n_num:
                pred = self.model.decoder.lm.number_head.decode(r.bin_logits.float(), r.sign_logits.float())
                err = (log_magnitude(pred, ncfg) - log_magnitude(r.num_targets, ncfg)).abs()
                s["abs_log10_err"] += float(err.sum())
            term = "contrastive" if c.objective == "contrastive" else "agreement"
            s[term] += float(parts[term]) * len(idx)
            for k in ("sigreg", "semantic"):
                if k in parts:
                    s[k] += float(parts[k]) * len(idx)
            s["anchors"] += len(idx)
            s["with_positive"] += float(parts["positive_share"]) * len(idx)
            vecs.append(out.cls.float())
            vec_docs.append(docs[idx])
        z = torch.nn.functional.normalize(torch.cat(vecs), dim=-1)
        d = torch.as_tensor(np.concatenate(vec_docs), device=z.device)
        sim = (z @ z.T).fill_diagonal_(-2.0)
        has_pair = (d[:, None] == d[None, :]).sum(1) > 1
        same = d[sim.argmax(1)] == d
        n_mlm, n_num, anchors = max(s["n_mlm"], 1.0), max(s["n_numbers"], 1.0), max(s["anchors"], 1.0)
        out_metrics = {
            "eval_mlm": s["mlm"] / n_mlm, "eval_mlm_acc": s["mlm_correct"] / n_mlm,
            "eval_number_excess": s["number_excess"] / n_num, "eval_abs_log10_err": s["abs_log10_err"] / n_num,
            "eval_positive_share": s["with_positive"] / anchors, "eval_chunks": float(len(keep)),
            "eval_docs": float(n_docs),
            "eval_same_doc_top1": float(same[has_pair].float().mean()) if bool(has_pair.any()) else float("nan"),
        }
        for k in ("contrastive", "agreement", "sigreg", "semantic"):
            if k in s:
                out_metrics[f"eval_{k}"] = s[k] / anchors
        return out_metrics

    # -- checkpoints -------------------------------------------------------

    def save_checkpoint(self, directory: str | Path, tokenizer: NumberTokenizer | None = None) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_chunk_embedder(self.model, d / MODEL_DIR, tokenizer or self.tokenizer)
        torch.save({"optimizer": self.optimizer.state_dict()}, d / OPTIMIZER_FILE)
        (d / TRAIN_STATE_FILE).write_text(json.dumps(
            {"state": asdict(self.state), "train": self.cfg.to_dict(), "history": self.history,
             "epoch_reports": {str(k): v for k, v in self.epoch_reports.items()}}, indent=1) + "\n")
        return d

    def load_checkpoint(self, directory: str | Path) -> None:
        d = Path(directory)
        if not (d / TRAIN_STATE_FILE).is_file():
            raise FileNotFoundError(f"{d} is not an embedder checkpoint (no {TRAIN_STATE_FILE})")
        read_embedder_meta(d / MODEL_DIR)  # a pretraining checkpoint fails here, saying what it is not
        load_weights(self.model, d / MODEL_DIR)
        opt = torch.load(d / OPTIMIZER_FILE, map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(opt["optimizer"])
        meta = json.loads((d / TRAIN_STATE_FILE).read_text())
        self.state = TrainState(**meta["state"])
        self.history = list(meta.get("history", []))
        self.epoch_reports = {int(k): v for k, v in meta.get("epoch_reports", {}).items()}
        self._plan_epoch = None
        self._unlogged_report = None


# --- Ray Train --------------------------------------------------------------------------------

def worker_setup(config: dict[str, Any]):
    """(rank, world size, device) of this Ray Train worker, with its torch threads set."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    torch.set_num_threads(max(1, int(config["torch_threads"])))
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # AdamW's tiny second moments are denormal: much slower steps
    return ctx.get_world_rank(), ctx.get_world_size(), device


def restore(trainer: Pretrainer, config: dict[str, Any]) -> None:
    """Continue from Ray's latest checkpoint of this run, else from `resume_from` if given."""
    import ray.train

    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            trainer.load_checkpoint(d)
    elif config.get("resume_from"):
        trainer.load_checkpoint(config["resume_from"])


def embedder_train_loop(config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker (see `run_embedder_training` for `config`)."""
    import ray
    import ray.train.torch

    rank, world, device = worker_setup(config)
    cfg = EmbedderTrainConfig.from_dict(config["train"])
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_chunk_embedder_model(config["init_dir"], device)
    wrapped = ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"find_unused_parameters": False})
    (train_corpus, train_docs, eval_corpus, eval_docs, train_teacher, eval_teacher, sentences,
     sentence_teacher) = ray.get(config["corpus"])
    trainer = EmbedderTrainer(model, cfg, tokenizer, train_corpus, train_docs, eval_corpus, eval_docs, rank=rank,
                              world_size=world, device=device, wrapped=wrapped, verbose=config.get("progress", True),
                              train_teacher=train_teacher, eval_teacher=eval_teacher, sentences=sentences,
                              sentence_teacher=sentence_teacher)
    restore(trainer, config)
    bar = _progress(cfg.max_steps, trainer.state.step, config.get("progress", True) and rank == 0)
    if bar is not None:
        bar.set_description("embedder")
    last: dict[str, float] = {}
    while trainer.state.step < cfg.max_steps:
        last = trainer.train_step()
        term = "contrastive" if cfg.objective == "contrastive" else "sigreg"
        report_step(trainer, cfg, rank, bar,
                    lambda: f"embedder loss {last['loss']:.3f} mlm {last['mlm']:.3f} {term} {last[term]:.3f}")
    if bar is not None:
        bar.close()


# --- the job ---------------------------------------------------------------------------------

@dataclass
class EmbedderJob:
    store: Path
    out: Path
    preset: EmbeddingPreset
    init: Path | None = None              # a pretraining run folder or a saved encoder; None: a fresh preset encoder
    encoder_preset: str = "tiny"          # models.config preset for a fresh encoder (when init is None)
    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    run_name: str = "embedder"
    storage_path: Path | None = None
    resume_from: Path | None = None
    progress: bool = True


@dataclass
class EmbedderResult:
    model_dir: Path
    metrics_json: Path
    loss_curve: Path | None
    probe: dict[str, Any]
    probe_json: Path
    checkpoint: str
    history: list[dict[str, float]]
    data: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)


def encoder_folder(path: Path) -> Path:
    """The saved encoder in a pretraining run folder (<run>/model) or the folder itself."""
    from models.model_files import CONFIG_FILE
    for p in (path / MODEL_DIR, path):
        if (p / CONFIG_FILE).is_file():
            return p
    raise FileNotFoundError(f"--init {path}: neither it nor {path / MODEL_DIR} holds a saved encoder "
                            f"({CONFIG_FILE}); pass a pretraining run folder (python -m jobs.pretrain --out ...)")


def initial_embedder(job: EmbedderJob, train: Sequence[ChunkRecord]) -> Path:
    """<out>/init: the embedder every worker starts from (kept when resuming, so ids and weights match)."""
    from models.config import preset as encoder_preset
    from models.model_files import load_encoder, load_tokenizer

    init_dir = Path(job.out) / INIT_DIR
    if (init_dir / "embedder_config.json").is_file():
        return init_dir
    cfg = job.preset.embedder_train
    if job.init is not None:
        enc_dir = encoder_folder(Path(job.init))
        encoder = load_encoder(enc_dir)
        tok_dir = enc_dir if (enc_dir / "tokenizer").is_dir() else enc_dir.parent
        tokenizer = load_tokenizer(tok_dir)
    else:
        enc_cfg = encoder_preset(job.encoder_preset).encoder
        tokenizer = build_tokenizer(enc_cfg, [c.text for c in train])
        encoder = build_encoder(enc_cfg, tokenizer, seed=cfg.seed)
    model = build_chunk_embedder(job.preset.embedder, encoder, seed=cfg.seed)
    save_chunk_embedder(model, init_dir, tokenizer,
                        extra={"init": str(job.init) if job.init else f"fresh {job.encoder_preset} encoder"})
    return init_dir


TEACHER_DIR = "teacher"


def teacher_vectors(chunks: Sequence[ChunkRecord], teacher: str, cache_dir: Path, store=None,
                    progress: bool = True) -> np.ndarray:
    """(n, D) vectors of `chunks` by the frozen sentence embedder `teacher`, cached under `cache_dir`.

    The cache is keyed by the teacher's model version and the chunk ids, so a resumed run reuses it and
    a different teacher or store recomputes it.
    """
    return _cached_teacher(teacher, store, cache_dir, [c.chunk_id for c in chunks], f"{len(chunks)} chunks",
                           lambda e: e.embed_encodings(e.encode([c.text for c in chunks], [c.numbers for c in chunks])),
                           progress)


def sentence_teacher_vectors(sentences: Sequence[str], teacher: str, cache_dir: Path, store=None,
                             progress: bool = True) -> np.ndarray:
    """(n, D) teacher vectors of plain-text sentence views, cached like `teacher_vectors` (keyed by the text)."""
    return _cached_teacher(teacher, store, cache_dir, ["sentences", *sentences], f"{len(sentences)} sentence views",
                           lambda e: e.embed_encodings(e.encode_free_text(list(sentences))), progress)


def _cached_teacher(teacher: str, store, cache_dir: Path, key_parts: Sequence[str], what: str, embed,
                    progress: bool) -> np.ndarray:
    import hashlib

    from models.embedding_models import load_embedder

    embedder = load_embedder(teacher, store)
    key = hashlib.sha256("\n".join([embedder.model_version, *key_parts]).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{key}.npy"
    if path.is_file():
        return np.load(path)
    if progress:
        print(f"semantic anchor: embedding {what} with the teacher {embedder.model_version}", flush=True)
    vectors = embed(embedder)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def tokenize_with_docs(tokenizer: NumberTokenizer, chunks: Sequence[ChunkRecord]) -> tuple[TokenizedCorpus, np.ndarray]:
    return TokenizedCorpus.from_chunks(tokenizer, chunks), document_codes([c.filing_id for c in chunks])


def prepare_embedder_data(job: EmbedderJob) -> tuple[Path, NumberTokenizer, tuple, dict[str, Any]]:
    """Read the store, split by company, make <out>/init, tokenize, check the batch plan."""
    from featurestore import Store

    cfg = job.preset.embedder_train
    chunks = read_chunks(Store(job.store))
    if not chunks:
        raise ValueError(f"store {job.store} has no chunks; ingest filings first (python -m jobs.ingest)")
    train, held, eval_companies = split_by_company(chunks, cfg.eval_fraction, cfg.seed)
    init_dir = initial_embedder(job, train)
    tokenizer = NumberTokenizer.load(init_dir / "tokenizer")
    train_corpus, train_docs = tokenize_with_docs(tokenizer, train)
    eval_corpus, eval_docs = tokenize_with_docs(tokenizer, held)
    train_teacher = eval_teacher = sentences = sentence_teacher = None
    views: list[str] = []
    if cfg.semantic_weight > 0:
        cache = Path(job.out) / TEACHER_DIR
        train_teacher = teacher_vectors(train, cfg.semantic_teacher, cache, job.store, job.progress)
        eval_teacher = teacher_vectors(held, cfg.semantic_teacher, cache, job.store, job.progress) if held else None
    if cfg.semantic_sentences > 0:
        views = sentence_views([c.text for c in train], limit=cfg.semantic_sentence_pool, seed=cfg.seed)
        if not views:
            raise ValueError("semantic_sentences > 0, but the training chunks hold no prose sentence to anchor")
        sentence_teacher = sentence_teacher_vectors(views, cfg.semantic_teacher, Path(job.out) / TEACHER_DIR,
                                                    job.store, job.progress)
        sentences = TokenizedCorpus.from_encodings(tokenizer.encode_texts(views))
    plan = document_batches(train_docs, train_corpus.lengths, cfg.token_budget, cfg.min_chunks_per_doc,
                            cfg.max_chunks_per_doc, cfg.min_docs_per_batch, np.random.default_rng(cfg.seed),
                            cfg.length_bucket)
    if len(plan) < job.workers:
        raise ValueError(f"{len(train)} training chunks make {len(plan)} document batches, fewer than the "
                         f"{job.workers} workers; use fewer workers or a smaller token budget")
    report = {
        "store": str(job.store), "chunks": len(chunks), "train_chunks": len(train), "eval_chunks": len(held),
        "train_documents": int(len(np.unique(train_docs))), "eval_documents": int(len(np.unique(eval_docs))),
        "eval_companies": eval_companies, "vocab_size": len(tokenizer), "train_tokens": int(train_corpus.lengths.sum()),
        "init": str(job.init) if job.init else f"fresh {job.encoder_preset} encoder",
        "batching": batch_report(train_docs, train_corpus.lengths, plan, cfg.token_budget),
    }
    if cfg.semantic_weight > 0:
        report["semantic_anchor"] = {"teacher": cfg.semantic_teacher, "weight": cfg.semantic_weight,
                                     "loss": cfg.semantic_loss, "dim": int(train_teacher.shape[1]),
                                     "sentences_per_step": cfg.semantic_sentences, "sentence_pool": len(views)}
    data = (train_corpus, train_docs, eval_corpus, eval_docs, train_teacher, eval_teacher, sentences, sentence_teacher)
    return init_dir, tokenizer, data, report


def write_run_metrics(history: list[dict[str, float]], out: Path) -> tuple[Path, Path | None, list[str]]:
    """Pretraining's metrics.json, metrics.csv and loss_curve.png, plus metrics.jsonl (one record a line)."""
    js, _cs, png, notes = write_metrics(history, out)
    with (out / "metrics.jsonl").open("w") as f:
        for r in history:
            f.write(json.dumps(r) + "\n")
    return js, png, notes


def final_model(result, out: Path) -> tuple[Path, dict[str, Any]]:
    """Copy the last checkpoint's model to <out>/model; return it and the checkpoint's train state."""
    if result.checkpoint is None:
        raise RuntimeError(f"training finished without a checkpoint (error: {result.error})")
    model_dir = out / MODEL_DIR
    with result.checkpoint.as_directory() as d:
        meta = json.loads((Path(d) / TRAIN_STATE_FILE).read_text())
        if model_dir.exists():
            shutil.rmtree(model_dir)
        shutil.copytree(Path(d) / MODEL_DIR, model_dir)
    return model_dir, meta


def probe_saved_embedder(model_dir: Path, corpus: TokenizedCorpus, docs: np.ndarray,
                         cfg: EmbedderTrainConfig) -> dict[str, Any]:
    """The bottleneck probe of a saved embedder on up to `probe_max_chunks` chunks spread over documents."""
    from models.bottleneck_probe import bottleneck_probe
    from models.embedder import default_device

    keep = spread_sample(docs, cfg.probe_max_chunks, cfg.min_chunks_per_doc)
    device = default_device()
    model, tokenizer = load_chunk_embedder_model(model_dir, device)
    return bottleneck_probe(model, tokenizer, [corpus.encoding(i) for i in keep], docs[keep], cfg.probe_rates,
                            seed=cfg.seed, token_budget=cfg.token_budget, device=device,
                            mask_ratio=cfg.mask_ratio, random_ratio=cfg.random_ratio)


def run_embedder_training(job: EmbedderJob) -> EmbedderResult:
    """Train on Ray Train (Ray must be initialised); write the model, metrics and the probe to `job.out`."""
    import ray
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    t0 = time.perf_counter()
    out = Path(job.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    init_dir, _tokenizer, data, report = prepare_embedder_data(job)
    (out / "data_report.json").write_text(json.dumps(report, indent=1) + "\n")
    cfg = job.preset.embedder_train
    (out / RUN_CONFIG_FILE).write_text(json.dumps(
        {"embedder": job.preset.embedder.to_dict(), "train": cfg.to_dict(), "store": str(job.store),
         "init": report["init"]}, indent=1) + "\n")
    resources = {"CPU": job.cpus_per_worker, **({"GPU": job.gpus_per_worker} if job.gpus_per_worker else {})}
    storage = Path(job.storage_path).resolve() if job.storage_path else out / "ray_results"
    trainer = TorchTrainer(
        embedder_train_loop,
        train_loop_config={"train": cfg.to_dict(), "init_dir": str(init_dir), "corpus": ray.put(data),
                           "torch_threads": max(1, int(job.cpus_per_worker)), "progress": job.progress,
                           "resume_from": str(job.resume_from) if job.resume_from else None},
        scaling_config=ScalingConfig(num_workers=job.workers, use_gpu=job.gpus_per_worker > 0,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=job.run_name, storage_path=str(storage),
                             checkpoint_config=CheckpointConfig(num_to_keep=cfg.keep_checkpoints)),
    )
    result = trainer.fit()
    model_dir, meta = final_model(result, out)
    history = meta["history"]
    js, png, notes = write_run_metrics(history, out)
    train_corpus, train_docs, eval_corpus, eval_docs = data[:4]
    if len(eval_corpus):
        probe = probe_saved_embedder(model_dir, eval_corpus, eval_docs, cfg)
    else:
        notes.append("no held-out company (one company in the store): the bottleneck probe ran on training chunks")
        probe = probe_saved_embedder(model_dir, train_corpus, train_docs, cfg)
    probe_json = out / PROBE_FILE
    probe_json.write_text(json.dumps(probe, indent=1) + "\n")
    return EmbedderResult(model_dir, js, png, probe, probe_json, result.checkpoint.path, history, report,
                          time.perf_counter() - t0, notes)
