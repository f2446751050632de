"""Does the CLS bottleneck carry the chunk? Reconstruction with the true memory vs another chunk's.

For held-out chunks, at fixed mask rates (15%, 50%, 80% by default), the
decoder reconstructs the same masked copy three times:
- `true`: memory = the chunk's own CLS vector (how the embedder was trained);
- `other`: memory = the CLS vector of a random chunk of another document;
- `none`: no memory at all (the decoder's layers alone: what the masked
  context gives without any bottleneck).
If `true` beats `other` the vector carries information about its chunk; the
gap grows with the mask rate, where the context alone says less.

Metrics per rate and memory: text token accuracy and MLM cross-entropy over
the selected text positions; for the selected numbers, bin accuracy (argmax
bin = the value's nearest bin), mean |log10 error| of the decoded value and
sign accuracy. Masks are a function of (seed, rate, batch), identical across
the three memories.

Torch only, no I/O: the training job prints `format_probe` and saves the JSON.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from models.batching import token_budget_batches
from models.document_batching import VariableRateCollator
from models.embedder import ChunkEmbedder
from models.number_bins import bin_position, log_magnitude
from models.tokenizer import Encoding, NumberTokenizer, pad_encodings

MEMORIES = ("true", "other", "none")


def other_document_chunks(docs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each chunk, a random chunk of another document (any other chunk when there is one document)."""
    docs = np.asarray(docs)
    n = len(docs)
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        pool = np.flatnonzero(docs != docs[i])
        if len(pool) == 0:
            pool = np.array([j for j in range(n) if j != i] or [i])
        out[i] = pool[rng.integers(len(pool))]
    return out


def _sums() -> dict[str, float]:
    return dict.fromkeys(("mlm_ce", "n_text", "text_correct", "n_numbers", "bin_correct", "abs_log10_err",
                          "sign_correct"), 0.0)


def _finish(s: dict[str, float]) -> dict[str, float]:
    nt, nn_ = max(s["n_text"], 1.0), max(s["n_numbers"], 1.0)
    return {"text_acc": s["text_correct"] / nt, "text_ce": s["mlm_ce"] / nt, "n_text": int(s["n_text"]),
            "number_bin_acc": s["bin_correct"] / nn_, "number_abs_log10_err": s["abs_log10_err"] / nn_,
            "number_sign_acc": s["sign_correct"] / nn_, "n_numbers": int(s["n_numbers"])}


@torch.no_grad()
def bottleneck_probe(model: ChunkEmbedder, tokenizer: NumberTokenizer, encodings: Sequence[Encoding],
                     docs: Sequence[int], rates: Sequence[float] = (0.15, 0.5, 0.8), seed: int = 0,
                     token_budget: int = 8192, device: torch.device | str = "cpu",
                     mask_ratio: float = 0.8, random_ratio: float = 0.1) -> dict[str, Any]:
    """Reconstruction metrics per mask rate and memory (see module docstring)."""
    device = torch.device(device)
    docs = np.asarray(docs)
    number_cfg = model.decoder.lm.config.number
    model.eval()
    batches = token_budget_batches([len(e) for e in encodings], token_budget, rng=None, shuffle=False)

    def padded(idx):  # on the CPU: the collator masks there (its id tables live on the CPU)
        return pad_encodings([encodings[i] for i in idx], tokenizer.pad_token_id)

    def to_device(batch):
        return {k: v.to(device) for k, v in batch.items()}

    cls = torch.zeros(len(encodings), model.dim, device=device)
    for idx in batches:
        b = to_device(padded(idx))
        cls[idx] = model.embed(b["input_ids"], b["attention_mask"], b["num_values"], b["num_mask"]).float()
    other = torch.as_tensor(other_document_chunks(docs, np.random.default_rng(seed)), device=device)

    result: dict[str, Any] = {"n_chunks": len(encodings), "n_docs": int(len(np.unique(docs))), "seed": seed,
                              "rates": {}}
    for rate in rates:
        collator = VariableRateCollator.for_tokenizer(tokenizer, number_cfg, rate, rate, mask_ratio, random_ratio)
        sums = {m: _sums() for m in MEMORIES}
        for bi, idx in enumerate(batches):
            g = torch.Generator().manual_seed(int(seed * 1_000_003 + round(rate * 1000) * 1009 + bi))
            dec = to_device(collator.mask(padded(idx), g))
            idx_t = torch.as_tensor(idx, device=device)
            for m, memory in (("true", cls[idx_t]), ("other", cls[other[idx_t]]), ("none", None)):
                out = model.decoder(**dec, memory=memory)
                s = sums[m]
                n_text = out.mlm_labels.numel()
                if n_text:
                    s["mlm_ce"] += float(torch.nn.functional.cross_entropy(
                        out.mlm_logits.float(), out.mlm_labels, reduction="sum"))
                    s["text_correct"] += float((out.mlm_logits.argmax(-1) == out.mlm_labels).sum())
                s["n_text"] += n_text
                if out.num_targets.numel():
                    lo, frac = bin_position(out.num_targets, number_cfg)
                    nearest = lo + (frac >= 0.5).long()
                    s["bin_correct"] += float((out.bin_logits.argmax(-1) == nearest).sum())
                    pred = model.decoder.lm.number_head.decode(out.bin_logits.float(), out.sign_logits.float())
                    err = (log_magnitude(pred, number_cfg) - log_magnitude(out.num_targets, number_cfg)).abs()
                    s["abs_log10_err"] += float(err.sum())
                    s["sign_correct"] += float(((out.sign_logits > 0) == (out.num_targets < 0)).sum())
                    s["n_numbers"] += out.num_targets.numel()
        result["rates"][f"{rate:g}"] = {m: _finish(sums[m]) for m in MEMORIES}
    return result


def format_probe(probe: dict[str, Any]) -> str:
    """A small table: one row per mask rate and memory."""
    lines = [f"bottleneck probe on {probe['n_chunks']} held-out chunks of {probe['n_docs']} documents "
             f"(memory: true = own CLS, other = another document's chunk, none = no memory)",
             f"  {'mask':>5} {'memory':<6} {'text acc':>8} {'text ce':>8} {'num bin acc':>11} "
             f"{'|log10 err|':>11} {'sign acc':>8}"]
    for rate, by_memory in probe["rates"].items():
        for m, r in by_memory.items():
            lines.append(f"  {float(rate):>5.0%} {m:<6} {r['text_acc']:>8.1%} {r['text_ce']:>8.3f} "
                         f"{r['number_bin_acc']:>11.1%} {r['number_abs_log10_err']:>11.3f} "
                         f"{r['number_sign_acc']:>8.1%}")
    return "\n".join(lines)
