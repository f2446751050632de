"""Building, saving and loading the number-aware encoder (the I/O the model files leave out).

A saved encoder is one folder:
    encoder_config.json   the EncoderConfig, the backbone's full HF config and class
    model.safetensors     every weight (tied weights stored once)
    tokenizer/            the NumberTokenizer (wrapped HF tokenizer + number_tokenizer.json)
Loading it never touches the hub: the backbone is rebuilt from the stored config.

A new encoder (`build_encoder`) starts from `EncoderConfig.backbone`: either a
random ModernBERT sized by `backbone_config`, or a hub id / local folder
loaded with the family's `from_pretrained` (the same code path for both, so a
tiny model saved locally tests the hub path).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import torch

from models.config import RANDOM_MODERNBERT, EncoderConfig
from models.encoder import FAMILIES, NumberAwareEncoder
from models.tokenizer import NEWLINE, NUM_TOKEN, NumberTokenizer

CONFIG_FILE = "encoder_config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
FORMAT = "filingstore.number_aware_encoder"
FORMAT_VERSION = 1


def build_tokenizer(cfg: EncoderConfig, tagged_texts: Iterable[str] | None = None) -> NumberTokenizer:
    """The configured tokenizer: a BPE trained on `tagged_texts`, or the backbone's own plus [NUM]."""
    if cfg.tokenizer == "bpe":
        if tagged_texts is None:
            raise ValueError(f"preset {cfg.name!r} trains its BPE tokenizer on chunk text: pass tagged_texts")
        return NumberTokenizer.train_bpe(tagged_texts, vocab_size=cfg.bpe_vocab_size, max_length=cfg.max_length)
    return NumberTokenizer.from_backbone(cfg.backbone, max_length=cfg.max_length)


def _special_ids(tokenizer: NumberTokenizer) -> dict[str, int]:
    return dict(pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id,
                sep_token_id=tokenizer.sep_token_id, bos_token_id=tokenizer.cls_token_id,
                eos_token_id=tokenizer.sep_token_id)


def new_backbone(cfg: EncoderConfig, tokenizer: NumberTokenizer) -> torch.nn.Module:
    """The MLM backbone of a new encoder, sized to the tokenizer's vocabulary."""
    family = FAMILIES[cfg.family]
    config_class, mlm_class = family.classes()
    if cfg.backbone == RANDOM_MODERNBERT:
        bcfg = config_class(vocab_size=len(tokenizer), **_special_ids(tokenizer), **cfg.backbone_config)
        return mlm_class(bcfg)
    model = mlm_class.from_pretrained(cfg.backbone, **cfg.backbone_config)
    if len(tokenizer) > model.config.vocab_size:
        model.resize_token_embeddings(len(tokenizer))
    for k, v in _special_ids(tokenizer).items():
        if k in ("pad_token_id", "cls_token_id", "sep_token_id"):
            setattr(model.config, k, v)
    # Tokens this project added ([NUM], maybe "\n") start at the mean embedding, not at noise.
    added = [tokenizer.hf.convert_tokens_to_ids(t) for t in (NUM_TOKEN, NEWLINE) if t in tokenizer.hf.get_vocab()]
    emb = model.get_input_embeddings().weight
    with torch.no_grad():
        known = emb[: min(len(tokenizer), emb.shape[0])]
        mask = torch.ones(known.shape[0], dtype=torch.bool)
        mask[added] = False
        emb[added] = known[mask].mean(0)
    return model


def build_encoder(cfg: EncoderConfig, tokenizer: NumberTokenizer, seed: int | None = None) -> NumberAwareEncoder:
    """A new encoder: hub/local weights or random init (deterministic given `seed`), new number modules."""
    if seed is not None:
        torch.manual_seed(seed)
    return NumberAwareEncoder(cfg, new_backbone(cfg, tokenizer))


def save_encoder(model: NumberAwareEncoder, directory: str | Path, tokenizer: NumberTokenizer | None = None) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "encoder": model.config.to_dict(),
        "backbone_class": type(model.mlm).__name__,
        "backbone_config": model.mlm.config.to_dict(),
    }
    (d / CONFIG_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    save_weights(model, d / WEIGHTS_FILE, FORMAT)
    if tokenizer is not None:
        tokenizer.save(d / TOKENIZER_DIR)
    return d


def save_weights(model: torch.nn.Module, path: str | Path, fmt: str) -> None:
    """Every tensor of `model.state_dict()` once (tied weights under their first name in sorted order).

    The bytes are a function of the weights alone: `safetensors.torch.save_model` records tied names in
    the header metadata, which is serialised in random order, so the same weights would hash differently
    (and the model version, a hash of the files, would change at every save).
    """
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    for name, t in sorted(model.state_dict().items()):
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key in seen:
            continue
        seen.add(key)
        tensors[name] = t.detach().contiguous()
    save_file(tensors, str(path), metadata={"format": fmt})


def load_encoder(directory: str | Path, map_location: str | torch.device = "cpu") -> NumberAwareEncoder:
    d = Path(directory)
    path = d / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{d} holds no {CONFIG_FILE}: not a saved NumberAwareEncoder "
                                f"(save one with model.save_pretrained(dir))")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    cfg = EncoderConfig.from_dict(meta["encoder"])
    family = FAMILIES[cfg.family]
    config_class, mlm_class = family.classes()
    if meta["backbone_class"] != mlm_class.__name__:
        raise ValueError(f"{path}: backbone {meta['backbone_class']} does not match family {cfg.family}")
    bcfg = config_class.from_dict(meta["backbone_config"])
    model = NumberAwareEncoder(cfg, mlm_class(bcfg))
    load_weights(model, d)
    return model.to(map_location)


def load_weights(model: NumberAwareEncoder, directory: str | Path) -> None:
    """Copy the weights saved in `directory` into `model` in place (an optimiser keeps its parameters)."""
    from safetensors.torch import load_model

    path = Path(directory) / WEIGHTS_FILE
    device = next(model.parameters()).device
    missing, unexpected = load_model(model, str(path), strict=False, device=str(device))
    tied = set(_tied_names(model))  # tied weights are stored once
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise ValueError(f"{path} does not fit this model: missing {missing[:5]}, "
                         f"unexpected {list(unexpected)[:5]}")


def _tied_names(model: torch.nn.Module) -> list[str]:
    """Names of parameters that share their tensor with another name (stored once in the file)."""
    groups: dict[int, list[str]] = defaultdict(list)
    for name, p in model.named_parameters(remove_duplicate=False):
        groups[id(p)].append(name)
    return [n for names in groups.values() if len(names) > 1 for n in names]


def load_tokenizer(directory: str | Path) -> NumberTokenizer:
    return NumberTokenizer.load(Path(directory) / TOKENIZER_DIR)


def load_pretrained(directory: str | Path, map_location: str | torch.device = "cpu"):
    """(encoder, tokenizer) from a folder written by `save_encoder` with a tokenizer."""
    return load_encoder(directory, map_location), load_tokenizer(directory)
