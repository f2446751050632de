"""Typed configuration of the chunk embedder, the document aggregator and their training.

Four dataclasses, grouped per preset in an `EmbeddingPreset`; the presets match
the encoder presets of `models.config` (`tiny`, `minilm`, `base`):
- `ChunkEmbedderConfig`: the architecture around a pretrained number-aware
  encoder: how many of its layers the decoder copies, how many memory slots
  the CLS vector expands into, whether slots are shared across layers.
- `EmbedderTrainConfig`: a `models.config.TrainConfig` (optimiser, steps,
  token budget, evaluation, checkpoints: the same fields and the same
  learning-rate schedule as pretraining) plus the embedder's objective
  (contrastive or JEPA + SIGReg), the decoder's per-example mask rates and the
  document batching guarantees. `mlm_probability` is not used: the mask rate
  is drawn per example from U(mask_rate_min, mask_rate_max).
- `AggregatorConfig`: the small all-global-attention transformer over a
  document's chunk vectors.
- `AggregatorTrainConfig`: a `TrainConfig` plus documents per batch, how
  documents are re-chunked per epoch (contiguous crops, dropped chunks) and
  whether the chunk decoder it conditions is trained too. Its `token_budget`
  sizes the batches that precompute chunk vectors.

Required fields have no default; nothing required defaults to None. Every
config round-trips through JSON (`to_dict` / `from_dict`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from models.config import TrainConfig

OBJECTIVES = ("contrastive", "sigreg")
POOLINGS = ("doc_token", "mean")
SEMANTIC_LOSSES = ("cosine", "relational")


def _from_dict(cls, d: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}; known: {sorted(known)}")
    return cls(**d)


@dataclass
class ChunkEmbedderConfig:
    """The chunk embedder: encoder CLS -> memory slots -> a bidirectional decoder copied from the encoder."""
    name: str                          # recorded in the model version: f"{name}-{hash12}"
    decoder_layers: int                # the encoder's first K layers are copied into the decoder
    n_slots: int = 16                  # memory slots per layer made from one vector (1 would make attention constant)
    shared_slots: bool = False         # one slot projection for every decoder layer
    cross_attention_heads: int = 0     # 0: the backbone's own head count
    cross_attention_dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.decoder_layers < 1:
            raise ValueError(f"ChunkEmbedderConfig.decoder_layers={self.decoder_layers}; the decoder needs >= 1 layer")
        if self.n_slots < 2:
            raise ValueError(f"ChunkEmbedderConfig.n_slots={self.n_slots}: attention over fewer than 2 slots "
                             f"is a constant; use 2 or more (default 16)")
        if self.cross_attention_heads < 0:
            raise ValueError("cross_attention_heads must be >= 0 (0: the backbone's head count)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChunkEmbedderConfig:
        return _from_dict(cls, d)


@dataclass
class EmbedderTrainConfig(TrainConfig):
    """Chunk-embedder training: pretraining's optimiser and schedule, plus objective, masking and batching."""
    memory_lr: float = 1e-3            # the new modules (slot projections, cross-attention) learn faster
    objective: str = "contrastive"     # contrastive | sigreg (JEPA view agreement + SIGReg)
    contrastive_weight: float = 1.0
    temperature: float = 0.05
    jepa_weight: float = 1.0           # weight of (1 - sigreg_lambda) * agreement + sigreg_lambda * SIGReg
    sigreg_lambda: float = 0.05
    sigreg_projections: int = 256
    sigreg_knots: int = 17
    sigreg_t_max: float = 5.0
    mask_rate_min: float = 0.15        # the decoder's mask rate is drawn per example from U(min, max)
    mask_rate_max: float = 0.85
    min_chunks_per_doc: int = 2        # every batch holds >= this many chunks of each of its documents ...
    max_chunks_per_doc: int = 4        # ... and about at most this many (more only when a document can't split)
    min_docs_per_batch: int = 4        # ... from at least this many documents
    length_bucket: int = 32            # chunk lengths within a bucket count as equal when grouping (tokens)
    probe_rates: tuple[float, ...] = (0.15, 0.5, 0.8)
    probe_max_chunks: int = 128
    # semantic anchor: keep the chunk vectors near a frozen sentence embedder's vectors of the same chunks
    # (learning without forgetting): 0 turns it off. Reconstruction and the same-document contrastive term
    # teach numbers and document identity; nothing in them rewards paraphrase semantics, which drift away.
    semantic_weight: float = 0.0
    semantic_teacher: str = "minilm"   # anything models.embedding_models.load_embedder resolves
    semantic_loss: str = "cosine"      # cosine: 1 - cos(vector, teacher) (same width) | relational: match
                                       # the batch's cosine-similarity matrices (any width)
    # sentence views: also anchor this many single prose sentences of the training chunks per step (0: off).
    # The anchor on whole chunks alone does not carry over to sentence-length queries (paraphrase retrieval).
    semantic_sentences: int = 0
    semantic_sentence_pool: int = 4096  # distinct sentences drawn once per run (their teacher vectors are cached)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.probe_rates = tuple(float(r) for r in self.probe_rates)
        if self.semantic_loss not in SEMANTIC_LOSSES:
            raise ValueError(f"semantic_loss={self.semantic_loss!r}; choose one of {SEMANTIC_LOSSES}")
        if self.semantic_weight < 0:
            raise ValueError(f"semantic_weight={self.semantic_weight} must be >= 0 (0: off)")
        if self.semantic_sentences < 0 or self.semantic_sentence_pool < 1:
            raise ValueError(f"semantic_sentences={self.semantic_sentences} must be >= 0 and semantic_sentence_pool="
                             f"{self.semantic_sentence_pool} >= 1")
        if self.semantic_sentences > 0 and self.semantic_weight <= 0:
            raise ValueError("semantic_sentences > 0 anchors sentence views to the teacher, which needs "
                             "semantic_weight > 0")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r}; choose one of {OBJECTIVES}")
        if not 0 < self.mask_rate_min <= self.mask_rate_max < 1:
            raise ValueError(f"mask rates {self.mask_rate_min}..{self.mask_rate_max} must satisfy 0 < min <= max < 1")
        if self.min_chunks_per_doc < 2:
            raise ValueError(f"min_chunks_per_doc={self.min_chunks_per_doc}: an anchor needs another chunk of its "
                             f"document as positive, so at least 2")
        if self.max_chunks_per_doc < self.min_chunks_per_doc:
            raise ValueError(f"max_chunks_per_doc={self.max_chunks_per_doc} < min_chunks_per_doc="
                             f"{self.min_chunks_per_doc}")
        if self.min_docs_per_batch < 1 or self.temperature <= 0:
            raise ValueError("min_docs_per_batch must be >= 1 and temperature > 0")
        if not 0 <= self.sigreg_lambda <= 1:
            raise ValueError(f"sigreg_lambda={self.sigreg_lambda} must be in [0, 1]")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmbedderTrainConfig:
        return _from_dict(cls, d)


@dataclass
class AggregatorConfig:
    """Document aggregator: ModernBERT blocks (all global attention) over [doc token] + chunk vectors."""
    name: str
    num_layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int
    max_chunks: int = 1024             # longest chunk sequence; longer documents are subsampled evenly
    dropout: float = 0.0
    pooling: str = "doc_token"         # doc_token (the learned doc token's output) | mean (of the chunk outputs)

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"AggregatorConfig.pooling={self.pooling!r}; choose one of {POOLINGS}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        if self.num_layers < 1 or self.max_chunks < 1:
            raise ValueError("num_layers and max_chunks must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AggregatorConfig:
        return _from_dict(cls, d)


@dataclass
class AggregatorTrainConfig(TrainConfig):
    """Aggregator training: pretraining's optimiser and schedule, plus document views and the decoder."""
    docs_per_batch: int = 16
    train_decoder: bool = False        # False: the chunk decoder is frozen (the aggregator learns its CLS space)
    decoder_lr: float = 2e-5           # when train_decoder
    crop_prob: float = 0.5             # share of views that are a random contiguous run of the chunks
    crop_min_fraction: float = 0.5     # a crop keeps at least this share of the chunks
    chunk_drop_rate: float = 0.1       # each remaining chunk is dropped with this probability
    target_in_view: bool = True        # the chunk to denoise is one the aggregator saw (else: any chunk)
    mask_rate_min: float = 0.15
    mask_rate_max: float = 0.85

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.docs_per_batch < 1:
            raise ValueError(f"docs_per_batch={self.docs_per_batch} must be >= 1")
        if not 0 < self.mask_rate_min <= self.mask_rate_max < 1:
            raise ValueError(f"mask rates {self.mask_rate_min}..{self.mask_rate_max} must satisfy 0 < min <= max < 1")
        if not (0 <= self.crop_prob <= 1 and 0 < self.crop_min_fraction <= 1 and 0 <= self.chunk_drop_rate < 1):
            raise ValueError("crop_prob in [0, 1], crop_min_fraction in (0, 1] and chunk_drop_rate in [0, 1)")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AggregatorTrainConfig:
        return _from_dict(cls, d)


@dataclass
class EmbeddingPreset:
    embedder: ChunkEmbedderConfig
    embedder_train: EmbedderTrainConfig
    aggregator: AggregatorConfig
    aggregator_train: AggregatorTrainConfig


def tiny() -> EmbeddingPreset:
    """For the tiny encoder (4 x 128): a 2-layer decoder, a 2-layer aggregator; minutes on 2 CPUs."""
    return EmbeddingPreset(
        embedder=ChunkEmbedderConfig(name="tiny", decoder_layers=2),
        embedder_train=EmbedderTrainConfig(max_steps=400, lr=5e-4, number_lr=1e-3, token_budget=8192,
                                           warmup_steps=40, eval_every=50, checkpoint_every=100),
        aggregator=AggregatorConfig(name="tiny", num_layers=2, hidden_size=128, num_heads=4,
                                    intermediate_size=256, max_chunks=512),
        aggregator_train=AggregatorTrainConfig(max_steps=300, lr=1e-3, number_lr=1e-3, token_budget=16384,
                                               warmup_steps=30, eval_every=50, checkpoint_every=100),
    )


def minilm() -> EmbeddingPreset:
    """For the MiniLM encoder (6 x 384): a 1-layer decoder, a 4-layer aggregator."""
    return EmbeddingPreset(
        # a 1-layer decoder: the 2-layer one nearly ignored the bottleneck (probe text accuracy with the true
        # CLS vs another chunk's 12.2 vs 11.9%; 1 layer: 8.2 vs 5.4%), and on the real 10-Ks it gave equal
        # paraphrase recall, better numeric ordering and faster steps (README: 0.948/0.988 vs 0.948/0.975)
        embedder=ChunkEmbedderConfig(name="minilm", decoder_layers=1),
        # the semantic anchor on by default: MiniLM's own vectors (same width, cosine) are the teacher, and
        # without them the CLS loses paraphrase semantics (README: recall@1 0.854 without, 0.948-0.990 with)
        embedder_train=EmbedderTrainConfig(max_steps=3000, lr=5e-5, number_lr=5e-4, token_budget=16384,
                                           warmup_steps=200, eval_every=250, checkpoint_every=500, log_every=20,
                                           semantic_weight=10.0, semantic_sentences=32),
        aggregator=AggregatorConfig(name="minilm", num_layers=4, hidden_size=384, num_heads=6,
                                    intermediate_size=768, max_chunks=1024),
        aggregator_train=AggregatorTrainConfig(max_steps=2000, lr=5e-4, number_lr=5e-4, token_budget=32768,
                                               warmup_steps=100, eval_every=250, checkpoint_every=500, log_every=20),
    )


def base() -> EmbeddingPreset:
    """For ModernBERT-base (22 x 768): a 4-layer decoder, a 6-layer aggregator; GPUs with bf16."""
    return EmbeddingPreset(
        embedder=ChunkEmbedderConfig(name="base", decoder_layers=4),
        embedder_train=EmbedderTrainConfig(max_steps=10_000, lr=3e-5, number_lr=3e-4, token_budget=65_536,
                                           warmup_steps=500, eval_every=500, checkpoint_every=1000, log_every=50,
                                           min_docs_per_batch=8, probe_max_chunks=512),
        aggregator=AggregatorConfig(name="base", num_layers=6, hidden_size=768, num_heads=12,
                                    intermediate_size=1152, max_chunks=2048),
        aggregator_train=AggregatorTrainConfig(max_steps=5000, lr=3e-4, number_lr=3e-4, token_budget=65_536,
                                               warmup_steps=250, eval_every=500, checkpoint_every=1000,
                                               log_every=50, docs_per_batch=32),
    )


PRESETS = {"tiny": tiny, "minilm": minilm, "base": base}


def preset(name: str) -> EmbeddingPreset:
    try:
        return PRESETS[name]()
    except KeyError:
        raise KeyError(f"unknown embedding preset {name!r}; choose one of {sorted(PRESETS)}") from None
