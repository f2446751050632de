"""ChunkEmbedder: a number-aware encoder whose CLS vector must carry a chunk, read back by a memory decoder.

Design choices:
- The encoder is the pretrained `NumberAwareEncoder`, unchanged; it reads the
  unmasked chunk and its CLS vector (the last hidden state at position 0) is
  the chunk embedding.
- The decoder is a second `NumberAwareEncoder` built from the first K layers
  of the same backbone (plus its embeddings, final norm, MLM text head and
  number head), with the encoder's weights copied in. It reads a masked copy
  of the chunk and reconstructs it with the pretraining heads. A shallow
  decoder (small K) must lean on the bottleneck; a deep one can ignore it.
- Memory slots: a full-rank linear map per decoder layer (or one shared by
  all layers) expands the memory vector (the chunk's CLS, or a document
  vector from the aggregator) into S slots, each LayerNorm-ed. Attention over
  a single key would be a constant 1, hence S > 1 (default 16).
- Cross-attention before each decoder layer: pre-norm queries from the
  hidden states, keys and values from that layer's slots, added to the
  residual stream. Its output projection starts at zero, so at init the
  decoder computes exactly the copied encoder. It enters through forward
  pre-hooks on the Hugging Face layers: the backbone's own forward still
  prepares masks and rotary embeddings (extend, don't fork).
- Encoder parts the embedding never uses (its MLM transform, its number head)
  are frozen: DDP then needs no unused-parameter search, and the folder still
  holds a complete encoder.

The last section is the embedder's files (JSON config + safetensors +
tokenizer, written byte-for-byte deterministically so the model version, a
hash of the folder, depends on the weights alone) and the inference object
`load_chunk_embedder` returns (the `models.embedding_models.Embedder`
protocol: L2-normalised CLS vectors); the modules above it hold no I/O.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.batching import token_budget_batches
from models.embedder_config import ChunkEmbedderConfig
from models.encoder import FAMILIES, MLMOutput, NumberAwareEncoder
from models.tokenizer import Encoding, NumberTokenizer
from models.model_files import save_weights  # noqa: F401  (re-exported: aggregator modules import it from here)

LAYERS_PATH = {"modernbert": "layers", "bert": "encoder.layer"}  # the layer list inside each family's base model


def _get(module: nn.Module, path: str) -> Any:
    for part in path.split("."):
        module = getattr(module, part)
    return module


def backbone_layers(lm: NumberAwareEncoder) -> nn.ModuleList:
    return _get(lm.backbone, LAYERS_PATH[lm.config.family])


# --- the decoder built from the encoder ----------------------------------------------

def truncated_backbone_config(backbone_config: dict[str, Any], n_layers: int) -> dict[str, Any]:
    """An HF backbone config dict cut to its first `n_layers` layers (per-layer lists cut alike)."""
    total = int(backbone_config["num_hidden_layers"])
    if not 1 <= n_layers <= total:
        raise ValueError(f"decoder_layers={n_layers}, but the encoder has {total} layers: choose 1..{total}")
    d = dict(backbone_config, num_hidden_layers=n_layers)
    if isinstance(d.get("layer_types"), list):
        d["layer_types"] = d["layer_types"][:n_layers]
    return d


def empty_language_model(encoder_config, backbone_config: dict[str, Any]) -> NumberAwareEncoder:
    """A NumberAwareEncoder of this config and HF backbone config (weights to be loaded)."""
    config_class, mlm_class = FAMILIES[encoder_config.family].classes()
    return NumberAwareEncoder(encoder_config, mlm_class(config_class.from_dict(backbone_config)))


def decoder_from_encoder(encoder: NumberAwareEncoder, n_layers: int) -> NumberAwareEncoder:
    """A copy of `encoder` keeping its first `n_layers` layers (embeddings, final norm and heads included)."""
    lm = empty_language_model(encoder.config, truncated_backbone_config(encoder.mlm.config.to_dict(), n_layers))
    missing, unexpected = lm.load_state_dict(encoder.state_dict(), strict=False)
    layers_prefix = f"mlm.{encoder.family.base_attr}.{LAYERS_PATH[encoder.config.family]}."
    dropped = [k for k in unexpected if not (k.startswith(layers_prefix)
                                             and int(k[len(layers_prefix):].split(".")[0]) >= n_layers)]
    if missing or dropped:
        raise ValueError(f"the decoder copy does not fit the encoder: missing {missing[:5]}, unexpected {dropped[:5]}")
    return lm


# --- memory slots and cross-attention ----------------------------------------------------

class MemorySlots(nn.Module):
    """One memory vector (B, H) -> per decoder layer S slots (B, S, H), by full-rank linear maps."""

    def __init__(self, hidden: int, n_slots: int, n_layers: int, shared: bool):
        super().__init__()
        self.n_slots, self.n_layers, self.shared = n_slots, n_layers, shared
        n_maps = 1 if shared else n_layers
        self.proj = nn.ModuleList(nn.Linear(hidden, n_slots * hidden) for _ in range(n_maps))
        self.norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(n_maps))
        for p in self.proj:  # unit-scale slots from a unit-scale input
            nn.init.normal_(p.weight, std=hidden ** -0.5)
            nn.init.zeros_(p.bias)

    def forward(self, memory: torch.Tensor) -> list[torch.Tensor]:
        b, h = memory.shape
        slots = [norm(proj(memory).view(b, self.n_slots, h)) for proj, norm in zip(self.proj, self.norm)]
        return slots * self.n_layers if self.shared else slots


class CrossAttention(nn.Module):
    """Pre-norm multi-head attention from hidden states (B, T, H) to slots (B, S, H); zero-initialised output."""

    def __init__(self, hidden: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of {heads} cross-attention heads")
        self.heads, self.dropout = heads, dropout
        self.norm = nn.LayerNorm(hidden)
        self.q = nn.Linear(hidden, hidden)
        self.kv = nn.Linear(hidden, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.out.weight)  # at init the block adds exactly zero: decoder == copied encoder
        nn.init.zeros_(self.out.bias)

    def forward(self, hidden: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """The residual addend (B, T, H)."""
        b, t, h = hidden.shape
        s, hd = slots.shape[1], h // self.heads
        q = self.q(self.norm(hidden)).view(b, t, self.heads, hd).transpose(1, 2)
        k, v = self.kv(slots.to(hidden.dtype)).view(b, s, 2, self.heads, hd).unbind(2)
        a = F.scaled_dot_product_attention(q, k.transpose(1, 2), v.transpose(1, 2),
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(a.transpose(1, 2).reshape(b, t, h))


class MemoryDecoder(nn.Module):
    """A NumberAwareEncoder whose every layer first cross-attends to memory slots (see module docstring)."""

    def __init__(self, lm: NumberAwareEncoder, n_slots: int, shared_slots: bool, heads: int = 0,
                 dropout: float = 0.0):
        super().__init__()
        self.lm = lm
        layers = backbone_layers(lm)
        hidden = lm.hidden_size
        heads = heads or lm.mlm.config.num_attention_heads
        self.slots = MemorySlots(hidden, n_slots, len(layers), shared_slots)
        self.cross = nn.ModuleList(CrossAttention(hidden, heads, dropout) for _ in layers)
        self._pending: list[torch.Tensor] | None = None
        for i, layer in enumerate(layers):
            layer.register_forward_pre_hook(functools.partial(self._inject, i), with_kwargs=True)

    @property
    def n_layers(self) -> int:
        return len(self.cross)

    def _inject(self, i: int, module: nn.Module, args: tuple, kwargs: dict):
        if self._pending is None:
            return None
        if args:  # both families pass hidden_states positionally
            h = args[0]
            return (h + self.cross[i](h, self._pending[i]), *args[1:]), kwargs
        h = kwargs["hidden_states"]
        return args, {**kwargs, "hidden_states": h + self.cross[i](h, self._pending[i])}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_values: torch.Tensor,
                num_mask: torch.Tensor | None = None, num_hidden: torch.Tensor | None = None,
                mlm_labels: torch.Tensor | None = None, num_targets: torch.Tensor | None = None, *,
                memory: torch.Tensor | None) -> MLMOutput:
        """The language model's `forward` with memory (B, H) read before every layer (None: no memory)."""
        self._pending = None if memory is None else self.slots(memory)
        try:
            return self.lm(input_ids, attention_mask, num_values, num_mask, num_hidden, mlm_labels, num_targets)
        finally:
            self._pending = None


# --- the chunk embedder ----------------------------------------------------------------

@dataclass
class EmbedderOutput:
    cls: torch.Tensor       # (B, H) chunk embeddings of the unmasked chunks
    recon: MLMOutput        # the decoder's predictions for the masked copies
    view_cls: torch.Tensor | None = None  # (V, H) CLS vectors of extra unmasked views (sentence anchors), if given


ENCODER_KEYS = ("input_ids", "attention_mask", "num_values", "num_mask")
DECODER_KEYS = ("input_ids", "attention_mask", "num_values", "num_mask", "num_hidden", "mlm_labels", "num_targets")


class ChunkEmbedder(nn.Module):
    def __init__(self, config: ChunkEmbedderConfig, encoder: NumberAwareEncoder, decoder: MemoryDecoder):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.decoder = decoder
        used = {id(p) for m in (encoder.backbone, encoder.number_embedding) for p in m.parameters()}
        for p in encoder.parameters():  # the encoder's heads never run here
            if id(p) not in used:
                p.requires_grad_(False)

    @property
    def dim(self) -> int:
        return self.encoder.hidden_size

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_values: torch.Tensor,
              num_mask: torch.Tensor | None = None) -> torch.Tensor:
        """CLS vectors (B, H) of unmasked chunks."""
        return self.encoder.encode(input_ids, attention_mask, num_values, num_mask)[:, 0]

    def forward(self, enc: dict[str, torch.Tensor], dec: dict[str, torch.Tensor],
                memory: torch.Tensor | None = None, views: dict[str, torch.Tensor] | None = None) -> EmbedderOutput:
        """Embed `enc` (unmasked), decode `dec` (masked) from the CLS slots (or from `memory` if given);
        also embed `views` (unmasked, not decoded) when given, inside the same forward for DDP."""
        cls = self.embed(**{k: enc[k] for k in ENCODER_KEYS if k in enc})
        recon = self.decoder(**{k: dec[k] for k in DECODER_KEYS if k in dec},
                             memory=cls if memory is None else memory)
        view_cls = None if views is None else self.embed(**{k: views[k] for k in ENCODER_KEYS if k in views})
        return EmbedderOutput(cls, recon, view_cls)

    def new_parameters(self):
        """The modules that are not in the pretrained encoder: slot maps and cross-attention."""
        yield from self.decoder.slots.parameters()
        yield from self.decoder.cross.parameters()

    def number_parameters(self):
        yield from self.encoder.number_parameters()
        yield from self.decoder.lm.number_parameters()


def build_chunk_embedder(config: ChunkEmbedderConfig, encoder: NumberAwareEncoder,
                         seed: int | None = None) -> ChunkEmbedder:
    """A new chunk embedder around a (pretrained) encoder; the decoder copies its first layers."""
    if seed is not None:
        torch.manual_seed(seed)
    lm = decoder_from_encoder(encoder, config.decoder_layers)
    decoder = MemoryDecoder(lm, config.n_slots, config.shared_slots, config.cross_attention_heads,
                            config.cross_attention_dropout)
    return ChunkEmbedder(config, encoder, decoder)


# --- files ----------------------------------------------------------------------------------
#
# A saved chunk embedder is one folder:
#     embedder_config.json  ChunkEmbedderConfig, the encoder's EncoderConfig, its HF backbone class and config
#     model.safetensors     every weight (encoder.*, decoder.*; tied weights stored once)
#     tokenizer/            the NumberTokenizer
# The decoder's backbone config is the encoder's cut to `decoder_layers`.

CONFIG_FILE = "embedder_config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
FORMAT = "filingstore.chunk_embedder"
FORMAT_VERSION = 1


def save_chunk_embedder(model: ChunkEmbedder, directory: str | Path, tokenizer: NumberTokenizer | None = None,
                        extra: dict[str, Any] | None = None) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": "chunk_embedder",
        "embedder": model.config.to_dict(),
        "encoder": model.encoder.config.to_dict(),
        "backbone_class": type(model.encoder.mlm).__name__,
        "backbone_config": model.encoder.mlm.config.to_dict(),
        **({"extra": extra} if extra else {}),
    }
    (d / CONFIG_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    save_weights(model, d / WEIGHTS_FILE, FORMAT)
    if tokenizer is not None:
        tokenizer.save(d / TOKENIZER_DIR)
    return d


def read_embedder_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} holds no {CONFIG_FILE}: not a saved chunk embedder "
                                f"(train one with python -m jobs.train_embedder; its model is <out>/model)")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def empty_chunk_embedder(meta: dict[str, Any]) -> ChunkEmbedder:
    """A ChunkEmbedder shaped as described by a saved `embedder_config.json` (weights not loaded)."""
    from models.config import EncoderConfig

    cfg = ChunkEmbedderConfig.from_dict(meta["embedder"])
    enc_cfg = EncoderConfig.from_dict(meta["encoder"])
    _, mlm_class = FAMILIES[enc_cfg.family].classes()
    if meta["backbone_class"] != mlm_class.__name__:
        raise ValueError(f"saved backbone {meta['backbone_class']} does not match family {enc_cfg.family}")
    encoder = empty_language_model(enc_cfg, meta["backbone_config"])
    lm = empty_language_model(enc_cfg, truncated_backbone_config(meta["backbone_config"], cfg.decoder_layers))
    decoder = MemoryDecoder(lm, cfg.n_slots, cfg.shared_slots, cfg.cross_attention_heads, cfg.cross_attention_dropout)
    return ChunkEmbedder(cfg, encoder, decoder)


def load_chunk_embedder_model(directory: str | Path, map_location: str | torch.device = "cpu"
                              ) -> tuple[ChunkEmbedder, NumberTokenizer]:
    """(ChunkEmbedder with its saved weights, its tokenizer) from a folder written by `save_chunk_embedder`."""
    from models.model_files import load_weights

    model = empty_chunk_embedder(read_embedder_meta(directory))
    load_weights(model, directory)
    return model.to(map_location), NumberTokenizer.load(Path(directory) / TOKENIZER_DIR)


def model_version(name: str, directory: str | Path) -> str:
    """f"{name}-{hash12}": the registry's checkpoint hash (`featurestore.registry.hash_checkpoint`: sha256 over
    `relative/path NUL sha256(file)` lines in sorted path order), as `models.embedding_models` computes it."""
    from featurestore.registry import hash_checkpoint
    return f"{name}-{hash_checkpoint(directory)[:12]}"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.float(), p=2, dim=-1)


class LoadedChunkEmbedder:
    """Inference on a saved chunk embedder: the `models.embedding_models.Embedder` protocol.

    Vectors are the encoder's CLS vectors, L2-normalised (as every embedder of
    the store), float32. Weights load lazily (`to()` or the first embedding),
    so a tokenising worker pays for the tokenizer only, and pickling ships no
    weights. `embed_batch` takes a padded batch (`pad(...)`) or a list of
    encodings (padded here in token-budget sub-batches, returned in order).
    """

    kind = "chunk_embedder"

    def __init__(self, path: str | Path, device: str | torch.device | None = None, token_budget: int = 16384):
        folder = Path(path).resolve()
        meta = read_embedder_meta(folder)
        self.path = str(folder)
        self.name = meta["embedder"]["name"]
        self.model_version = model_version(self.name, folder)
        self.dim = int(meta["backbone_config"]["hidden_size"])
        self.tokenizer = NumberTokenizer.load(folder / TOKENIZER_DIR)
        self.device = torch.device(device) if device is not None else default_device()
        self.token_budget = token_budget
        self._encoder: NumberAwareEncoder | None = None

    @property
    def encoder(self) -> NumberAwareEncoder:
        if self._encoder is None:
            model, _ = load_chunk_embedder_model(self.path, self.device)
            self._encoder = model.encoder.eval()  # the decoder is not needed to embed
        return self._encoder

    def to(self, device: str | torch.device) -> LoadedChunkEmbedder:
        self.device = torch.device(device)
        self._encoder = self.encoder.to(self.device)
        return self

    def describe(self) -> dict[str, Any]:
        """What the registry records with the model version."""
        meta = read_embedder_meta(self.path)
        return {"pooling": "cls", "normalize": True, "embedder": meta["embedder"], "encoder": meta["encoder"],
                "max_length": self.tokenizer.max_length,
                "tokenizer": f"{type(self.tokenizer.hf).__name__} + [NUM] at {Path(self.path) / TOKENIZER_DIR}"}

    def encode(self, tagged_texts: Sequence[str],
               numbers_per_text: Sequence[Iterable[tuple[int, int, float]] | None] | None = None) -> list[Encoding]:
        """Stored chunks: number-tagged text and the store's (char_start, char_end, value) rows."""
        return self.tokenizer.encode_chunks(list(tagged_texts), numbers_per_text)

    def pad(self, encodings: Sequence[Encoding]) -> dict[str, torch.Tensor]:
        return self.tokenizer.pad(encodings)

    @torch.inference_mode()
    def raw_cls(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Unnormalised CLS vectors of one padded batch (what the decoder reads as memory)."""
        b = {k: v.to(self.device) for k, v in batch.items()}
        return self.encoder.encode(b["input_ids"], b["attention_mask"], b["num_values"], b.get("num_mask"))[:, 0]

    def embed_batch(self, batch: dict[str, torch.Tensor] | Sequence[Encoding], normalize: bool = True) -> np.ndarray:
        """(n, dim) float32 vectors of a padded batch or of a list of encodings (in their order)."""
        if isinstance(batch, dict):
            cls = self.raw_cls(batch)
            return (l2_normalise(cls) if normalize else cls.float()).cpu().numpy()
        out = np.zeros((len(batch), self.dim), dtype=np.float32)
        for idx in token_budget_batches([len(e) for e in batch], self.token_budget, rng=None, shuffle=False):
            out[idx] = self.embed_batch(self.pad([batch[i] for i in idx]), normalize)
        return out

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Free text: numbers found and tagged as the ingest does, then embedded."""
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of texts; wrap a single text in a list")
        return self.embed_batch(self.tokenizer.encode_texts(list(texts)))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()  # ships to Ray workers without weights; each loads its own copy
        state["_encoder"] = None
        state["device"] = torch.device("cpu")
        return state

    def __repr__(self) -> str:
        return f"LoadedChunkEmbedder({self.model_version!r}, dim={self.dim}, path={self.path!r})"


def load_chunk_embedder(path: str | Path, device: str | torch.device | None = None) -> LoadedChunkEmbedder:
    """The inference object for a saved chunk embedder (a run folder's `model/` or the folder itself)."""
    p = Path(path)
    if not (p / CONFIG_FILE).is_file() and (p / "model" / CONFIG_FILE).is_file():
        p = p / "model"
    return LoadedChunkEmbedder(p, device)
