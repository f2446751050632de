"""Trainable growth regressors in torch: an MLP head on fixed vectors, and an aggregator fine-tuned end to end.

Both follow `featurestore.regression`'s fitter protocol, `fit(X, y, groups) ->
model` with `model.predict(X)`, so `jobs.regress` scores them with the same
splits and bootstrap as ridge and the baselines. Pure torch and numpy: no Ray,
no store, no files (the caller hands in a loaded `DocumentAggregator`).

Design choices:
- Small data (hundreds of companies): one hidden layer, dropout, AdamW weight
  decay, full standardisation of inputs and target on the training rows, and
  early stopping on an inner validation split *by company* (the training
  companies only), so neither the stopping epoch nor any weight sees a test row.
- The fine-tuned aggregator reads a filing's chunk vectors (the frozen chunk
  embedder's, as stored), pools them with the pretrained aggregator and maps
  the L2-normalised document vector to growth with a linear head. It trains
  every aggregator weight on the labels (the "fully supervised" variant);
  the design saw it overfit at once, so it records train, validation and,
  when the caller passes a monitor set, test correlation after every epoch.
  The monitor is a diagnostic only: it never chooses the epoch.
- A fitter for sequences takes row indices as its X (a column vector of
  integers into the documents it was built with), so sequence models fit the
  same `fit(X, y, groups)` protocol as matrix models.
- Deterministic for a seed on CPU: initialisation, shuffling and dropout come
  from one torch generator seeded per fit.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

# -- shared pieces ---------------------------------------------------------------------


def pearson_r(a: Any, b: Any) -> float:
    """Pearson correlation; NaN when either side is constant or has fewer than 2 values."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if x.size < 2 or x.size != y.size:
        return math.nan
    x, y = x - x.mean(), y - y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / den if den > 0 else math.nan


def inner_company_split(groups: Any, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): about `val_fraction` of the companies, at least one, held out whole.

    With a single company nothing can be held out: every row trains and the validation set is empty.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    g = np.asarray(groups)
    uniq = np.unique(g)
    idx = np.arange(g.size)
    if uniq.size < 2:
        return idx, idx[:0]
    rng = np.random.default_rng(seed)
    n_val = min(uniq.size - 1, max(1, int(round(val_fraction * uniq.size))))
    val_companies = rng.choice(uniq, size=n_val, replace=False)
    val = np.isin(g, val_companies)
    return idx[~val], idx[val]


@dataclass(frozen=True)
class _Scaler:
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> _Scaler:
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        return cls(mean, np.where(scale > 1e-12, scale, 1.0))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, np.float64)
    X = X[:, None] if X.ndim == 1 else X
    y = np.asarray(y, np.float64)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] < 2:
        raise ValueError(f"need X (rows, features) and y (rows,) with at least 2 rows; got {X.shape} and {y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X and y must be finite; impute missing features (regression.Imputed) before the head")
    return X, y


# -- MLP head on fixed vectors ---------------------------------------------------------


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 64
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 1e-2
    max_epochs: int = 300
    patience: int = 25             # epochs without a better validation loss before stopping
    batch_size: int = 64
    val_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.max_epochs < 1 or self.patience < 1 or self.batch_size < 1:
            raise ValueError(f"HeadConfig sizes must be >= 1: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"HeadConfig.dropout must be in [0, 1), got {self.dropout}")


class MLPHead(nn.Module):
    """x -> Linear -> GELU -> Dropout -> Linear -> one number."""

    def __init__(self, in_dim: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


@dataclass
class MLPHeadModel:
    head: MLPHead
    x_scaler: _Scaler
    y_mean: float
    y_scale: float
    best_epoch: int
    epochs_run: int

    @torch.inference_mode()
    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X, np.float64)
        X = X[:, None] if X.ndim == 1 else X
        z = torch.from_numpy(self.x_scaler.apply(X).astype(np.float32))
        return self.head.eval()(z).double().numpy() * self.y_scale + self.y_mean


def _train_head(head: nn.Module, Xtr: torch.Tensor, ytr: torch.Tensor, Xva: torch.Tensor, yva: torch.Tensor,
                cfg: HeadConfig, gen: torch.Generator) -> tuple[int, int]:
    """Minibatch AdamW on MSE with early stopping on the validation MSE; restores the best weights.
    Returns (best epoch, epochs run). Without validation rows it trains `max_epochs` epochs."""
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best, best_epoch, best_state, epoch = math.inf, 0, copy.deepcopy(head.state_dict()), 0
    for epoch in range(1, cfg.max_epochs + 1):
        head.train()
        for b in torch.randperm(len(ytr), generator=gen).split(cfg.batch_size):
            opt.zero_grad()
            nn.functional.mse_loss(head(Xtr[b]), ytr[b]).backward()
            opt.step()
        if len(yva) == 0:
            best_epoch, best_state = epoch, None
            continue
        head.eval()
        with torch.no_grad():
            val = float(nn.functional.mse_loss(head(Xva), yva))
        if val < best - 1e-9:
            best, best_epoch, best_state = val, epoch, copy.deepcopy(head.state_dict())
        elif epoch - best_epoch >= cfg.patience:
            break
    if best_state is not None:
        head.load_state_dict(best_state)
    return best_epoch, epoch


@dataclass(frozen=True)
class MLPHeadFitter:
    """Fits an `MLPHead` on standardised X and y; early stopping on an inner company split."""
    config: HeadConfig = HeadConfig()

    def __call__(self, X: Any, y: Any, groups: Any) -> MLPHeadModel:
        X, y = _check_xy(X, y)
        cfg = self.config
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        tr, va = inner_company_split(groups, cfg.val_fraction, cfg.seed)
        scaler = _Scaler.fit(X[tr])
        y_mean, y_scale = float(y[tr].mean()), float(y[tr].std()) or 1.0
        Z = torch.from_numpy(scaler.apply(X).astype(np.float32))
        t = torch.from_numpy(((y - y_mean) / y_scale).astype(np.float32))
        head = MLPHead(X.shape[1], cfg.hidden, cfg.dropout)
        best_epoch, run = _train_head(head, Z[tr], t[tr], Z[va], t[va], cfg, gen)
        return MLPHeadModel(head.eval(), scaler, y_mean, y_scale, best_epoch, run)


# -- aggregator fine-tuned on the labels -----------------------------------------------


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 30
    patience: int = 8              # epochs without a better validation loss before stopping
    lr: float = 1e-4               # aggregator weights
    head_lr: float = 1e-3
    weight_decay: float = 1e-2
    docs_per_batch: int = 16
    val_fraction: float = 0.2
    max_chunks: int = 256          # longer filings are subsampled evenly (first and last chunk kept)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if min(self.epochs, self.patience, self.docs_per_batch, self.max_chunks) < 1:
            raise ValueError(f"FinetuneConfig sizes must be >= 1: {self}")


class AggregatorRegressor(nn.Module):
    """Chunk vectors -> aggregator document vector (L2-normalised) -> linear head -> growth (standardised)."""

    def __init__(self, aggregator: nn.Module, dim: int):
        super().__init__()
        self.aggregator = aggregator
        self.head = nn.Linear(dim, 1)

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        doc = nn.functional.normalize(self.aggregator(vectors, mask).float(), dim=-1)
        return self.head(doc).squeeze(-1)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float              # mean MSE on standardised growth over the epoch's batches
    train_pearson: float           # on every training row, after the epoch (eval mode)
    val_pearson: float             # inner validation companies
    test_pearson: float | None     # the monitor set, diagnostic only (None without one)


def _pad(docs: Sequence[np.ndarray], cap: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    views = []
    for d in docs:
        n = len(d)
        keep = np.arange(n) if n <= cap else np.unique(np.round(np.linspace(0, n - 1, cap)).astype(np.int64))
        views.append(np.asarray(d, np.float32)[keep])
    width = max(len(v) for v in views)
    out = np.zeros((len(views), width, views[0].shape[1]), np.float32)
    mask = np.zeros((len(views), width), bool)
    for i, v in enumerate(views):
        out[i, :len(v)] = v
        mask[i, :len(v)] = True
    return torch.from_numpy(out).to(device), torch.from_numpy(mask).to(device)


@dataclass
class FinetunedAggregator:
    model: AggregatorRegressor
    docs: Sequence[np.ndarray]
    y_mean: float
    y_scale: float
    cfg: FinetuneConfig
    best_epoch: int
    curve: list[EpochRecord] = field(default_factory=list)

    @torch.inference_mode()
    def predict_docs(self, docs: Sequence[np.ndarray]) -> np.ndarray:
        self.model.eval()
        dev = torch.device(self.cfg.device)
        out = []
        for s in range(0, len(docs), self.cfg.docs_per_batch):
            v, m = _pad(docs[s:s + self.cfg.docs_per_batch], self.cfg.max_chunks, dev)
            out.append(self.model(v, m).double().cpu().numpy())
        z = np.concatenate(out) if out else np.zeros(0)
        return z * self.y_scale + self.y_mean

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_docs([self.docs[i] for i in _row_indices(X, len(self.docs))])


def _row_indices(X: Any, n_docs: int) -> np.ndarray:
    idx = np.asarray(X).reshape(len(X), -1)[:, 0]
    if idx.size and (not np.all(np.equal(np.mod(idx, 1), 0)) or idx.min() < 0 or idx.max() >= n_docs):
        raise ValueError(f"a sequence fitter's X must hold row indices into its {n_docs} documents; got values "
                         f"{idx.min()}..{idx.max()}")
    return idx.astype(np.int64)


def finetune_aggregator(aggregator: nn.Module, dim: int, docs: Sequence[np.ndarray], y: Any, groups: Any,
                        cfg: FinetuneConfig = FinetuneConfig(),
                        monitor: tuple[Sequence[np.ndarray], Any] | None = None) -> FinetunedAggregator:
    """Train `aggregator` (modified in place: pass a fresh copy) and a linear head on (docs, y).

    Early stopping on the validation MSE of an inner company split; the weights
    of the best epoch are kept. `monitor` = (test docs, test y) only adds
    `test_pearson` to each epoch's record.
    """
    y = np.asarray(y, np.float64)
    if len(docs) != y.size or y.size < 2:
        raise ValueError(f"need one label per document and at least 2: {len(docs)} documents, {y.size} labels")
    dev = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    tr, va = inner_company_split(groups, cfg.val_fraction, cfg.seed)
    y_mean, y_scale = float(y[tr].mean()), float(y[tr].std()) or 1.0
    t = torch.from_numpy(((y - y_mean) / y_scale).astype(np.float32)).to(dev)
    model = AggregatorRegressor(aggregator, dim).to(dev)
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    other = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    head_ids = {id(p) for p in model.head.parameters()}
    groups_ = []
    for params, wd in ((decay, cfg.weight_decay), (other, 0.0)):
        for is_head in (False, True):
            ps = [p for p in params if (id(p) in head_ids) == is_head]
            if ps:
                groups_.append({"params": ps, "weight_decay": wd, "lr": cfg.head_lr if is_head else cfg.lr})
    opt = torch.optim.AdamW(groups_)
    fitted = FinetunedAggregator(model, docs, y_mean, y_scale, cfg, 0)
    best, best_state = math.inf, copy.deepcopy(model.state_dict())
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        losses = []
        for b in torch.from_numpy(tr)[torch.randperm(tr.size, generator=gen)].split(cfg.docs_per_batch):
            v, m = _pad([docs[i] for i in b.tolist()], cfg.max_chunks, dev)
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(v, m), t[b.to(dev)])
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        pred_tr = fitted.predict_docs([docs[i] for i in tr])
        pred_va = fitted.predict_docs([docs[i] for i in va]) if va.size else np.zeros(0)
        test_r = None
        if monitor is not None:
            test_r = pearson_r(fitted.predict_docs(monitor[0]), monitor[1])
        fitted.curve.append(EpochRecord(epoch, float(np.mean(losses)), pearson_r(pred_tr, y[tr]),
                                        pearson_r(pred_va, y[va]) if va.size else math.nan, test_r))
        if va.size == 0:
            fitted.best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
            continue
        val = float(np.mean(((pred_va - y[va]) / y_scale) ** 2))
        if val < best - 1e-9:
            best, fitted.best_epoch, best_state = val, epoch, copy.deepcopy(model.state_dict())
        elif epoch - fitted.best_epoch >= cfg.patience:
            break
    model.load_state_dict(best_state)
    return fitted


@dataclass
class AggregatorFinetuneFitter:
    """Fitter over documents: X holds row indices into `docs`; every fit starts from `load_aggregator()`.

    `fit_monitored` also records the test fold's correlation per epoch (diagnostic); curves of
    every fit are kept in `curves` as (fold label, records).
    """
    load_aggregator: Callable[[], nn.Module]
    dim: int
    docs: Sequence[np.ndarray]
    config: FinetuneConfig = FinetuneConfig()
    curves: list[tuple[str, list[EpochRecord], int]] = field(default_factory=list)

    def _docs(self, X: Any) -> list[np.ndarray]:
        return [self.docs[i] for i in _row_indices(X, len(self.docs))]

    def fit_monitored(self, X: Any, y: Any, groups: Any, X_test: Any | None = None, y_test: Any = None,
                      label: str = "") -> FinetunedAggregator:
        monitor = None if X_test is None else (self._docs(X_test), np.asarray(y_test, np.float64))
        fitted = finetune_aggregator(self.load_aggregator(), self.dim, self._docs(X), y, groups, self.config,
                                     monitor)
        fitted.docs = self.docs  # predict() takes row indices into every document
        self.curves.append((label, fitted.curve, fitted.best_epoch))
        return fitted

    def __call__(self, X: Any, y: Any, groups: Any) -> FinetunedAggregator:
        return self.fit_monitored(X, y, groups)


def curve_dicts(curves: Sequence[tuple[str, Sequence[EpochRecord], int]]) -> list[dict[str, Any]]:
    """Epoch records as JSON-ready dicts with their fold label and whether the epoch was kept."""
    out = []
    for label, records, best in curves:
        for r in records:
            d = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(r).items()}
            out.append({"fold": label, **d, "kept": r.epoch == best})
    return out
