"""MLM pretraining of the number-aware encoder on the store's chunks, on Ray Train.

    store (chunks + numbers + filings) ─driver─▶ split by company (held-out eval)
        ─▶ tokenizer (BPE trained on the train split, or the backbone's) ─▶ token arrays
        ─ray.put─▶ TorchTrainer: N workers, DDP (gloo on CPU, NCCL + bf16 autocast on GPU)
        ─▶ checkpoints (model folder + optimizer + position in the data)
        ─driver─▶ out/model, out/metrics.{json,csv}, out/loss_curve.png

Exact resumption: a batch is a pure function of (seed, epoch, batch index,
rank) — which chunks (token-budget batches, shuffled per epoch) and how they
are masked — and dropout is reseeded per step, so a run restored from a
checkpoint (weights, AdamW state, step, epoch, batch index) takes the same
next step as the run that wrote it. The learning rate is a function of the
step (linear warmup, cosine decay), with its own base rate for the new number
modules.

`Pretrainer` is plain torch (tested in-process); `train_loop_per_worker` and
`run_pretrain` are the Ray glue.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.batching import padding_report, shard_batches, token_budget_batches
from models.collator import MLMCollator
from models.config import EncoderConfig, Preset, TrainConfig
from models.encoder import NumberAwareEncoder
from models.losses import pretrain_loss
from models.model_files import build_encoder, build_tokenizer, load_weights, save_encoder
from models.number_bins import log_magnitude
from models.tokenizer import Encoding, NumberTokenizer

TRAIN_STATE_FILE = "train_state.json"
OPTIMIZER_FILE = "optimizer.pt"
MODEL_DIR = "model"
RUN_CONFIG_FILE = "run_config.json"


# --- data ---------------------------------------------------------------------------

@dataclass
class ChunkRecord:
    chunk_id: str
    filing_id: str
    company_id: str
    text: str
    numbers: list[tuple[int, int, float]]


def read_chunks(store) -> list[ChunkRecord]:
    """Every chunk with its company and its number rows, in filing and chunk order."""
    from featurestore import CHUNKS, FILINGS, NUMBERS

    company = {r["filing_id"]: r["company_id"]
               for r in store.read(FILINGS, ["filing_id", "company_id"]).to_pylist()}
    numbers: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for r in store.read(NUMBERS, ["chunk_id", "char_start", "char_end", "value"]).to_pylist():
        if r["value"] is not None:
            numbers[r["chunk_id"]].append((r["char_start"], r["char_end"], r["value"]))
    chunks = store.read(CHUNKS, ["chunk_id", "filing_id", "seq", "text"]).to_pylist()
    chunks.sort(key=lambda r: (r["filing_id"], r["seq"]))
    return [ChunkRecord(c["chunk_id"], c["filing_id"], company.get(c["filing_id"]) or c["filing_id"],
                        c["text"], sorted(numbers.get(c["chunk_id"], [])))
            for c in chunks]


def split_by_company(chunks: Sequence[ChunkRecord], eval_fraction: float, seed: int
                     ) -> tuple[list[ChunkRecord], list[ChunkRecord], list[str]]:
    """(train, eval, eval companies): whole companies are held out, chosen by a seeded hash.

    With a single company nothing is held out (eval is empty).
    """
    companies = sorted({c.company_id for c in chunks})
    n_eval = 0 if len(companies) < 2 else min(len(companies) - 1, max(1, round(eval_fraction * len(companies))))
    ranked = sorted(companies, key=lambda c: hashlib.sha256(f"{seed}\x00{c}".encode()).hexdigest())
    held = set(ranked[:n_eval])
    return ([c for c in chunks if c.company_id not in held], [c for c in chunks if c.company_id in held],
            sorted(held))


@dataclass
class TokenizedCorpus:
    """Token ids and number values of many sequences, flat (cheap to ship through the object store)."""
    ids: np.ndarray        # int32, all sequences concatenated
    values: np.ndarray     # float32, NaN off numbers
    offsets: np.ndarray    # int64, sequence i is [offsets[i], offsets[i+1])

    @classmethod
    def from_encodings(cls, encodings: Sequence[Encoding]) -> TokenizedCorpus:
        lengths = np.array([len(e) for e in encodings], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = np.fromiter((t for e in encodings for t in e.input_ids), dtype=np.int32, count=int(offsets[-1]))
        vals = np.fromiter((v for e in encodings for v in e.num_values), dtype=np.float32, count=int(offsets[-1]))
        return cls(ids, vals, offsets)

    @classmethod
    def from_chunks(cls, tokenizer: NumberTokenizer, chunks: Sequence[ChunkRecord], batch: int = 256
                    ) -> TokenizedCorpus:
        enc: list[Encoding] = []
        for i in range(0, len(chunks), batch):
            part = chunks[i:i + batch]
            enc.extend(tokenizer.encode_chunks([c.text for c in part], [c.numbers for c in part]))
        return cls.from_encodings(enc)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def encoding(self, i: int) -> Encoding:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return Encoding(self.ids[a:b].tolist(), self.values[a:b].tolist())

    def subset(self, indices: Sequence[int]) -> TokenizedCorpus:
        return TokenizedCorpus.from_encodings([self.encoding(i) for i in indices])


# --- the torch-only trainer ---------------------------------------------------------

def _seed(*parts: Any) -> int:
    """A 63-bit seed from any parts (stable across processes, unlike hash())."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") >> 1


@dataclass
class TrainState:
    step: int = 0              # optimiser steps taken
    epoch: int = 0
    batch_in_epoch: int = 0    # index of the next batch in this worker's share of the epoch
    tokens: int = 0            # real tokens seen by this worker


def make_optimizer(model: NumberAwareEncoder, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with the backbone at `lr` and the number modules at `number_lr`; no decay on 1-D
    parameters (norms, biases) or on the number embedding."""
    number_ids = {id(p) for p in model.number_parameters()}
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = defaultdict(list)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_number = id(p) in number_ids
        decay = p.ndim >= 2 and not name.startswith("number_embedding.")
        groups[(is_number, decay)].append(p)
    param_groups = []
    for (is_number, decay), params in sorted(groups.items()):
        base = cfg.number_lr if is_number else cfg.lr
        param_groups.append({"params": params, "lr": base, "base_lr": base,
                             "weight_decay": cfg.weight_decay if decay else 0.0,
                             "name": f"{'number' if is_number else 'backbone'}{'' if decay else '_no_decay'}"})
    return torch.optim.AdamW(param_groups, betas=cfg.betas)


class Pretrainer:
    """One worker's training state: model, optimiser, position in the data, metrics history."""

    def __init__(self, model: NumberAwareEncoder, cfg: TrainConfig, collator: MLMCollator,
                 train: TokenizedCorpus, eval_corpus: TokenizedCorpus | None = None, *, rank: int = 0,
                 world_size: int = 1, device: torch.device | str = "cpu", wrapped: torch.nn.Module | None = None):
        self.model = model
        self.net = wrapped if wrapped is not None else model
        self.cfg = cfg
        self.collator = collator
        self.train_corpus = train
        self.eval_corpus = eval_corpus
        self.rank = rank
        self.world_size = world_size
        self.device = torch.device(device)
        self.optimizer = make_optimizer(model, cfg)
        self.state = TrainState()
        self.history: list[dict[str, float]] = []
        self._plan_epoch: int | None = None
        self._plan: list[list[int]] = []
        self._window: dict[str, list[float]] = defaultdict(list)
        self._window_t0 = time.perf_counter()
        self._window_tokens = 0
        if len(self._epoch_plan(0)) == 0:
            raise ValueError(f"{len(train)} training sequences make fewer token-budget batches than the "
                             f"{world_size} workers; use fewer workers, a smaller token_budget or more data")

    # -- data --------------------------------------------------------------

    def _epoch_plan(self, epoch: int) -> list[list[int]]:
        if self._plan_epoch != epoch:
            rng = np.random.default_rng(_seed(self.cfg.seed, "epoch", epoch))
            batches = token_budget_batches(self.train_corpus.lengths, self.cfg.token_budget, rng)
            self._plan = shard_batches(batches, self.rank, self.world_size)
            self._plan_epoch = epoch
        return self._plan

    def _next_indices(self) -> tuple[int, int, list[int]]:
        plan = self._epoch_plan(self.state.epoch)
        if self.state.batch_in_epoch >= len(plan):
            self.state.epoch += 1
            self.state.batch_in_epoch = 0
            plan = self._epoch_plan(self.state.epoch)
        return self.state.epoch, self.state.batch_in_epoch, plan[self.state.batch_in_epoch]

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def make_batch(self, corpus: TokenizedCorpus, indices: Sequence[int], seed: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        return self._to_device(self.collator([corpus.encoding(i) for i in indices], g))

    def _autocast(self):
        if self.device.type == "cuda" and self.cfg.bf16:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return nullcontext()

    # -- training ----------------------------------------------------------

    def set_lr(self) -> float:
        f = self.cfg.lr_factor(self.state.step)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * f
        return f

    def train_step(self) -> dict[str, float]:
        """One optimiser step on this worker's next batch; returns its losses and counters."""
        epoch, index, indices = self._next_indices()
        batch = self.make_batch(self.train_corpus, indices, _seed(self.cfg.seed, "mask", epoch, index, self.rank))
        torch.manual_seed(_seed(self.cfg.seed, "dropout", self.state.step, self.rank))
        self.set_lr()
        self.net.train()
        with self._autocast():
            out = self.net(**batch)
            parts = pretrain_loss(out, self.model.config.number, self.cfg.number_loss_weight)
        parts["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        tokens = int(batch["attention_mask"].sum())
        self.state.step += 1
        self.state.batch_in_epoch += 1
        self.state.tokens += tokens
        self._window_tokens += tokens
        metrics = {k: float(v.detach()) for k, v in parts.items()}
        metrics["grad_norm"] = float(grad_norm)
        metrics["tokens"] = tokens
        for k, v in metrics.items():
            self._window[k].append(v)
        return metrics

    def window_metrics(self) -> dict[str, float]:
        """Means of this worker's train metrics since the last call, with throughput; resets the window."""
        now = time.perf_counter()
        out: dict[str, float] = {"step": self.state.step, "epoch": self.state.epoch,
                                 "lr": self.optimizer.param_groups[0]["lr"]}
        for k, vals in self._window.items():
            if k in ("n_mlm", "n_numbers", "tokens"):
                out[f"train_{k}"] = float(sum(vals))
            elif vals:
                out[f"train_{k}"] = float(np.mean(vals))
        dt = max(1e-9, now - self._window_t0)
        out["tokens_per_s"] = self._window_tokens * self.world_size / dt
        self._window.clear()
        self._window_t0 = now
        self._window_tokens = 0
        return out

    # -- evaluation --------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out MLM metrics (same masking at every call); summed over all workers."""
        if self.eval_corpus is None or len(self.eval_corpus) == 0:
            return {}
        n = min(len(self.eval_corpus), self.cfg.eval_max_chunks)
        batches = token_budget_batches(self.eval_corpus.lengths[:n], self.cfg.token_budget, rng=None, shuffle=False)
        ncfg = self.model.config.number
        sums = torch.zeros(9, dtype=torch.float64)
        self.model.eval()
        for bi in range(self.rank, len(batches), self.world_size):
            batch = self.make_batch(self.eval_corpus, batches[bi], _seed(self.cfg.seed, "eval", bi))
            with self._autocast():
                out = self.model(**batch)
                parts = pretrain_loss(out, ncfg, self.cfg.number_loss_weight)
            n_mlm, n_num = out.mlm_labels.numel(), out.num_targets.numel()
            pred = self.model.number_head.decode(out.bin_logits.float(), out.sign_logits.float())
            err = (log_magnitude(pred, ncfg) - log_magnitude(out.num_targets, ncfg)).abs()
            sums += torch.tensor([
                float(parts["mlm"]) * n_mlm, n_mlm,
                float((out.mlm_logits.argmax(-1) == out.mlm_labels).sum()),
                float(parts["number_ce"]) * n_num, float(parts["number_excess"]) * n_num, n_num,
                float(((out.sign_logits > 0) == (out.num_targets < 0)).sum()),
                float(err.sum()), float((err < 0.1).sum()),
            ], dtype=torch.float64)
        if self.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            t = sums.to(self.device) if torch.distributed.get_backend() == "nccl" else sums
            torch.distributed.all_reduce(t)
            sums = t.cpu()
        s = sums.tolist()
        n_mlm, n_num = max(s[1], 1.0), max(s[5], 1.0)
        return {
            "eval_mlm": s[0] / n_mlm, "eval_mlm_acc": s[2] / n_mlm,
            "eval_number_ce": s[3] / n_num, "eval_number_excess": s[4] / n_num,
            "eval_sign_acc": s[6] / n_num, "eval_abs_log10_err": s[7] / n_num,
            "eval_within_0.1_decade": s[8] / n_num, "eval_n_mlm": s[1], "eval_n_numbers": s[5],
        }

    # -- checkpoints -------------------------------------------------------

    def save_checkpoint(self, directory: str | Path, tokenizer: NumberTokenizer | None = None) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_encoder(self.model, d / MODEL_DIR, tokenizer)
        torch.save({"optimizer": self.optimizer.state_dict()}, d / OPTIMIZER_FILE)
        (d / TRAIN_STATE_FILE).write_text(json.dumps(
            {"state": asdict(self.state), "train": self.cfg.to_dict(), "history": self.history}, indent=1) + "\n")
        return d

    def load_checkpoint(self, directory: str | Path) -> None:
        d = Path(directory)
        if not (d / TRAIN_STATE_FILE).is_file():
            raise FileNotFoundError(f"{d} is not a pretraining checkpoint (no {TRAIN_STATE_FILE})")
        load_weights(self.model, d / MODEL_DIR)
        opt = torch.load(d / OPTIMIZER_FILE, map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(opt["optimizer"])
        meta = json.loads((d / TRAIN_STATE_FILE).read_text())
        self.state = TrainState(**meta["state"])
        self.history = list(meta.get("history", []))
        self._plan_epoch = None


# --- Ray Train ----------------------------------------------------------------------

def _progress(total: int, initial: int, enabled: bool):
    """Rank 0's progress bar: Ray's tqdm (drawn by the driver) inside a worker, else plain tqdm."""
    if not enabled:
        return None
    try:
        from ray.experimental.tqdm_ray import tqdm as ray_tqdm
        bar = ray_tqdm(total=total, desc="pretrain", unit="step")
        if initial:
            bar.update(initial)
        return bar
    except Exception:  # noqa: BLE001 - not in a Ray worker, or the API moved: plain bar
        from tqdm import tqdm
        return tqdm(total=total, initial=initial, desc="pretrain", unit="step", file=sys.stdout, mininterval=5)


def report_step(trainer: Pretrainer, cfg, rank: int, bar, describe, *save_args) -> None:
    """After a step: progress bar, windowed log record, evaluation, checkpoint and `ray.train.report`
    (pretraining's cadence: log every `log_every`, eval every `eval_every`, checkpoint every
    `checkpoint_every` and at the last step). `save_args` follow the folder in `trainer.save_checkpoint`."""
    import ray.train
    from ray.train import Checkpoint

    step = trainer.state.step
    last = step == cfg.max_steps
    do_log = step % cfg.log_every == 0 or last
    if bar is not None:
        if do_log:
            bar.set_description(describe())
        bar.update(1)
    do_eval = step % cfg.eval_every == 0 or last
    do_ckpt = step % cfg.checkpoint_every == 0 or last
    record = trainer.window_metrics() if do_log else None
    ev = trainer.evaluate() if do_eval else {}
    if record is not None or ev:
        record = {**(record or {"step": step, "epoch": trainer.state.epoch}), **ev}
        if rank == 0:
            trainer.history.append(record)
    if do_eval or do_ckpt:
        metrics = {"step": step, **{k: v for k, v in (record or {}).items() if isinstance(v, (int, float))}}
        if do_ckpt:
            with tempfile.TemporaryDirectory() as tmp:
                if rank == 0:
                    trainer.save_checkpoint(tmp, *save_args)
                    ray.train.report(metrics, checkpoint=Checkpoint.from_directory(tmp))
                else:
                    ray.train.report(metrics)
        else:
            ray.train.report(metrics)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker (see `run_pretrain` for `config`)."""
    import ray
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(max(1, int(config["torch_threads"])))
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # AdamW's tiny second moments are denormal: 5-10x slower steps
    enc_cfg = EncoderConfig.from_dict(config["encoder"])
    cfg = TrainConfig.from_dict(config["train"])
    tokenizer: NumberTokenizer = config["tokenizer"]
    train_corpus, eval_corpus = ray.get(config["corpus"])

    model = build_encoder(enc_cfg, tokenizer, seed=cfg.seed)
    wrapped = ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"find_unused_parameters": False})
    collator = MLMCollator.for_tokenizer(tokenizer, enc_cfg.number, cfg.mlm_probability, cfg.mask_ratio,
                                         cfg.random_ratio, number_probability=cfg.number_probability)
    trainer = Pretrainer(model, cfg, collator, train_corpus, eval_corpus, rank=rank, world_size=world,
                         device=device, wrapped=wrapped)
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            trainer.load_checkpoint(d)
    elif config.get("resume_from"):
        trainer.load_checkpoint(config["resume_from"])

    bar = _progress(cfg.max_steps, trainer.state.step, config.get("progress", True) and rank == 0)
    while trainer.state.step < cfg.max_steps:
        m = trainer.train_step()
        report_step(trainer, cfg, rank, bar,
                    lambda: f"pretrain loss {m['loss']:.3f} num_excess {m['number_excess']:.3f}", tokenizer)
    if bar is not None:
        bar.close()


@dataclass
class PretrainJob:
    store: Path
    out: Path
    preset: Preset
    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    run_name: str = "pretrain"
    storage_path: Path | None = None      # Ray Train run storage; default <out>/ray_results (shared on a cluster)
    resume_from: Path | None = None       # a checkpoint folder to start from (else: the run's latest, if any)
    progress: bool = True
    numeracy_mix: float = 0.0           # share of training sequences that are generated numeracy items


@dataclass
class PretrainResult:
    model_dir: Path
    metrics_json: Path
    metrics_csv: Path
    loss_curve: Path | None
    checkpoint: str
    history: list[dict[str, float]]
    data: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)


NUMERACY_COMPANY = "numeracy"


def numeracy_records(mix: float, n_chunks: int, seed: int) -> list[ChunkRecord]:
    """Generated numeracy items making up a share `mix` of the training sequences (`models.numeracy`).

    Their seed derives from the run's seed ("numeracy" salt), never the evaluation set's fixed seed.
    """
    if not 0 <= mix < 1:
        raise ValueError(f"numeracy_mix={mix}: the share of numeracy items must be in [0, 1)")
    n = round(mix / (1 - mix) * n_chunks)
    if n == 0:
        return []
    from models.numeracy import generate
    items = generate(n, seed=_seed(seed, "numeracy"))
    return [ChunkRecord(f"numeracy:{i}", NUMERACY_COMPANY, NUMERACY_COMPANY, it.text, list(it.numbers))
            for i, it in enumerate(items)]


def prepare_data(job: PretrainJob) -> tuple[NumberTokenizer, TokenizedCorpus, TokenizedCorpus, dict[str, Any]]:
    """Read the store, split by company, get the tokenizer (reused from <out>/tokenizer), tokenize."""
    from featurestore import Store

    enc_cfg, cfg = job.preset.encoder, job.preset.train
    chunks = read_chunks(Store(job.store))
    if not chunks:
        raise ValueError(f"store {job.store} has no chunks; ingest filings first (python -m jobs.ingest)")
    train, held, eval_companies = split_by_company(chunks, cfg.eval_fraction, cfg.seed)
    tok_dir = Path(job.out) / "tokenizer"
    if tok_dir.is_dir():
        tokenizer = NumberTokenizer.load(tok_dir)  # resuming: ids must match the checkpoints
    else:
        tokenizer = build_tokenizer(enc_cfg, [c.text for c in train])
        tokenizer.save(tok_dir)
    n_filing_chunks = len(train)
    train = train + numeracy_records(job.numeracy_mix, n_filing_chunks, cfg.seed)  # after the BPE: mix-independent
    train_corpus = TokenizedCorpus.from_chunks(tokenizer, train)
    eval_corpus = TokenizedCorpus.from_chunks(tokenizer, held)
    lengths = train_corpus.lengths
    report = {
        "store": str(job.store), "chunks": len(chunks), "train_chunks": n_filing_chunks, "eval_chunks": len(held),
        "numeracy_mix": job.numeracy_mix, "numeracy_items": len(train) - n_filing_chunks,
        "train_companies": len({c.company_id for c in train[:n_filing_chunks]}), "eval_companies": eval_companies,
        "vocab_size": len(tokenizer), "train_tokens": int(lengths.sum()),
        "train_numbers": int(np.isfinite(train_corpus.values).sum()),
        "length_p50": float(np.percentile(lengths, 50)), "length_max": int(lengths.max()),
        "truncated": int((lengths >= tokenizer.max_length).sum()),
        "padding": padding_report(lengths, cfg.token_budget, cfg.seed),
    }
    return tokenizer, train_corpus, eval_corpus, report


def write_metrics(history: list[dict[str, float]], out: Path) -> tuple[Path, Path, Path | None, list[str]]:
    """metrics.json, metrics.csv and loss_curve.png (if matplotlib is installed) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    js = out / "metrics.json"
    js.write_text(json.dumps(history, indent=1) + "\n")
    first = ["step", "epoch"]
    cols = first + sorted({k for r in history for k in r} - set(first))
    cs = out / "metrics.csv"
    with cs.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(history)
    png = out / "loss_curve.png"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        notes.append("matplotlib is not installed: no loss_curve.png (pip install matplotlib to get one)")
        return js, cs, None, notes
    fig, ax = plt.subplots(figsize=(8.5, 4))
    for key, style in (("train_loss", "-"), ("train_mlm", "-"), ("train_number_excess", "-"),
                       ("eval_mlm", "o--"), ("eval_number_excess", "o--")):
        pts = [(r["step"], r[key]) for r in history if key in r and r[key] is not None and math.isfinite(r[key])]
        if pts:
            ax.plot(*zip(*pts), style, label=key, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside: never over a curve
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return js, cs, png, notes


def run_pretrain(job: PretrainJob) -> PretrainResult:
    """Pretrain on Ray Train (Ray must be initialised); write the model and metrics to `job.out`."""
    import ray
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    t0 = time.perf_counter()
    out = Path(job.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tokenizer, train_corpus, eval_corpus, data = prepare_data(job)
    (out / "data_report.json").write_text(json.dumps(data, indent=1) + "\n")
    # the configs of this run: evaluation re-derives the company split (seed, eval_fraction) from it
    (out / RUN_CONFIG_FILE).write_text(json.dumps(
        {"encoder": job.preset.encoder.to_dict(), "train": job.preset.train.to_dict(),
         "numeracy_mix": job.numeracy_mix, "store": str(job.store)}, indent=1) + "\n")
    resources = {"CPU": job.cpus_per_worker}
    if job.gpus_per_worker:
        resources["GPU"] = job.gpus_per_worker
    storage = Path(job.storage_path).resolve() if job.storage_path else out / "ray_results"
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "encoder": job.preset.encoder.to_dict(), "train": job.preset.train.to_dict(),
            "tokenizer": tokenizer, "corpus": ray.put((train_corpus, eval_corpus)),
            "torch_threads": max(1, int(job.cpus_per_worker)), "progress": job.progress,
            "resume_from": str(job.resume_from) if job.resume_from else None,
        },
        scaling_config=ScalingConfig(num_workers=job.workers, use_gpu=job.gpus_per_worker > 0,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=job.run_name, storage_path=str(storage),
                             checkpoint_config=CheckpointConfig(num_to_keep=job.preset.train.keep_checkpoints)),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"pretraining finished without a checkpoint (error: {result.error})")
    model_dir = out / MODEL_DIR
    with result.checkpoint.as_directory() as d:
        meta = json.loads((Path(d) / TRAIN_STATE_FILE).read_text())
        if model_dir.exists():
            shutil.rmtree(model_dir)
        shutil.copytree(Path(d) / MODEL_DIR, model_dir)
    history = meta["history"]
    js, cs, png, notes = write_metrics(history, out)
    return PretrainResult(model_dir, js, cs, png, result.checkpoint.path, history, data,
                          time.perf_counter() - t0, notes)
