"""DocumentAggregator: a small transformer over a document's chunk vectors, pooled to one document vector.

Design choices:
- Blocks are ModernBERT's (`ModernBertModel` fed `inputs_embeds`, every layer
  global attention: `global_attn_every_n_layers=1`), with rotary positions
  giving the chunk order. Its token-embedding table is never used (frozen).
- Input: a learned document token, then the chunk vectors (L2-normalised
  first, as the store keeps them) mapped to the aggregator's width by a
  linear layer; padding is masked out.
- Pooling: the document token's output (default) or the mean over the
  chunk outputs; a linear map back to the chunk-vector width and a LayerNorm
  make the document vector look like a chunk CLS vector (the chunk decoder
  reads it as memory in its place during training). `aggregate` returns it
  L2-normalised, like every vector in the store.
- Documents longer than `max_chunks` are subsampled evenly at inference (the
  first and last chunks kept); training crops them instead.

The last section is the aggregator's files (JSON config + safetensors) and the
inference object `load_aggregator` returns; the module above holds no I/O.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.embedder import default_device, model_version, save_weights
from models.embedder_config import AggregatorConfig


def aggregator_backbone_config(cfg: AggregatorConfig):
    from transformers import ModernBertConfig

    # ids 0-2 are placeholders: the model is fed inputs_embeds, never ids
    return ModernBertConfig(
        vocab_size=4, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_chunks + 1, global_attn_every_n_layers=1,
        embedding_dropout=cfg.dropout, attention_dropout=cfg.dropout, mlp_dropout=cfg.dropout,
        pad_token_id=0, cls_token_id=1, sep_token_id=2, bos_token_id=1, eos_token_id=2)


class DocumentAggregator(nn.Module):
    def __init__(self, config: AggregatorConfig, chunk_dim: int):
        super().__init__()
        from transformers import ModernBertModel

        self.config = config
        self.chunk_dim = chunk_dim
        self.backbone = ModernBertModel(aggregator_backbone_config(config))
        self.backbone.embeddings.tok_embeddings.weight.requires_grad_(False)
        h = config.hidden_size
        self.input_proj = nn.Linear(chunk_dim, h)
        self.doc_token = nn.Parameter(torch.randn(h) * 0.02)
        self.output_proj = nn.Linear(h, chunk_dim)
        self.output_norm = nn.LayerNorm(chunk_dim)

    @property
    def dim(self) -> int:
        return self.chunk_dim

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, N, chunk_dim) chunk vectors, (B, N) bool mask of real chunks -> (B, chunk_dim) document vectors."""
        b = vectors.shape[0]
        # unit inputs whatever the caller stored: the store's chunk vectors are L2-normalised
        x = self.input_proj(nn.functional.normalize(vectors.float(), dim=-1).to(self.input_proj.weight.dtype))
        x = torch.cat([self.doc_token.expand(b, 1, -1), x], dim=1)
        attn = torch.cat([torch.ones(b, 1, dtype=torch.long, device=mask.device), mask.long()], dim=1)
        h = self.backbone(inputs_embeds=x, attention_mask=attn).last_hidden_state
        if self.config.pooling == "doc_token":
            pooled = h[:, 0]
        else:
            m = mask.to(h.dtype)[:, :, None]
            pooled = (h[:, 1:] * m).sum(1) / m.sum(1).clamp_min(1.0)
        return self.output_norm(self.output_proj(pooled))


def pad_documents(docs: list[np.ndarray], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (n_i, d) arrays to (B, max n, d) float32 with a (B, max n) bool mask."""
    n = max(len(d) for d in docs)
    dim = docs[0].shape[1]
    out = np.zeros((len(docs), n, dim), dtype=np.float32)
    mask = np.zeros((len(docs), n), dtype=bool)
    for i, d in enumerate(docs):
        out[i, :len(d)] = d
        mask[i, :len(d)] = True
    return torch.from_numpy(out).to(device), torch.from_numpy(mask).to(device)


def even_subsample(n: int, k: int) -> np.ndarray:
    """k of n positions spread evenly, first and last included (all n when n <= k)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))


# --- files --------------------------------------------------------------------------------
#
# A saved aggregator is one folder:
#     aggregator_config.json  AggregatorConfig, chunk_dim, the model version of the chunk embedder it reads
# (no absolute paths: the model version hashes these files, so it must not depend on where they were written)
#     model.safetensors       the aggregator's weights

CONFIG_FILE = "aggregator_config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "filingstore.document_aggregator"
FORMAT_VERSION = 1


def save_aggregator(model: DocumentAggregator, directory: str | Path, chunk_model_version: str,
                    extra: dict[str, Any] | None = None) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": "aggregator",
            "aggregator": model.config.to_dict(), "chunk_dim": model.chunk_dim,
            "chunk_model_version": chunk_model_version,
            **({"extra": extra} if extra else {})}
    (d / CONFIG_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    save_weights(model, d / WEIGHTS_FILE, FORMAT)
    return d


def read_aggregator_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} holds no {CONFIG_FILE}: not a saved aggregator "
                                f"(train one with python -m jobs.train_aggregator; its model is <out>/model)")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def load_aggregator_model(directory: str | Path, map_location: str | torch.device = "cpu") -> DocumentAggregator:
    from models.model_files import load_weights

    meta = read_aggregator_meta(directory)
    model = DocumentAggregator(AggregatorConfig.from_dict(meta["aggregator"]), int(meta["chunk_dim"]))
    load_weights(model, directory)
    return model.to(map_location)


class LoadedAggregator:
    """Inference on a saved aggregator: a document's chunk vectors -> one document vector (float32)."""

    kind = "aggregator"

    def __init__(self, path: str | Path, device: str | torch.device | None = None, chunk_budget: int = 65536):
        folder = Path(path).resolve()
        self.path = str(folder)
        meta = read_aggregator_meta(folder)
        self.name = meta["aggregator"]["name"]
        self.model_version = model_version(self.name, folder)
        self.chunk_model_version = meta["chunk_model_version"]
        self.device = torch.device(device) if device is not None else default_device()
        self.model = load_aggregator_model(folder, self.device).eval()
        self.dim = int(meta["chunk_dim"])
        self.chunk_budget = chunk_budget

    def to(self, device: str | torch.device) -> LoadedAggregator:
        self.device = torch.device(device)
        self.model = self.model.to(self.device)
        return self

    @torch.inference_mode()
    def aggregate(self, docs: list[np.ndarray]) -> np.ndarray:
        """(n_docs, dim) L2-normalised document vectors from each document's (n_i, dim) chunk vectors
        (in `seq` order), in input order."""
        cap = self.model.config.max_chunks
        views = []
        for i, d in enumerate(docs):
            d = np.asarray(d, dtype=np.float32)
            if d.ndim != 2 or d.shape[1] != self.dim or len(d) == 0:
                raise ValueError(f"document {i}: chunk vectors of shape {d.shape}; expected (n >= 1, {self.dim}) "
                                 f"from the chunk embedder {self.chunk_model_version}")
            views.append(d[even_subsample(len(d), cap)])
        out = np.zeros((len(docs), self.dim), dtype=np.float32)
        order = sorted(range(len(views)), key=lambda i: len(views[i]))
        start = 0
        while start < len(order):  # batches of similar lengths within the chunk budget
            end = start + 1
            while end < len(order) and (end - start + 1) * len(views[order[end]]) <= self.chunk_budget:
                end += 1
            idx = order[start:end]
            vecs, mask = pad_documents([views[i] for i in idx], self.device)
            out[idx] = nn.functional.normalize(self.model(vecs, mask).float(), dim=-1).cpu().numpy()
            start = end
        return out


def load_aggregator(path: str | Path, device: str | torch.device | None = None) -> LoadedAggregator:
    """The inference object for a saved aggregator (a run folder's `model/` or the folder itself)."""
    p = Path(path)
    if not (p / CONFIG_FILE).is_file() and (p / "model" / CONFIG_FILE).is_file():
        p = p / "model"
    return LoadedAggregator(p, device)
