"""NumberAwareEncoder: a Hugging Face MLM backbone fed `inputs_embeds`, plus number modules.

Design choices:
- Extend, don't fork: the backbone is an unmodified `ModernBertForMaskedLM`
  (or `BertForMaskedLM` for the MiniLM preset). Its base model is called
  with `inputs_embeds` = its own token embeddings of the ids, so without
  numbers the result equals the `input_ids` path; its MLM head (pretrained
  for hub models, tied to the input embeddings) predicts masked text.
- Numbers are added after the embedding LayerNorm: a forward hook on the
  backbone's embedding norm adds `NumberEmbedding(value)` at [NUM]
  positions to the norm's output (before dropout and the first layer). The
  LayerNorm therefore cannot collapse the value into its sign, and the
  backbone's parameter names stay those of the hub checkpoint.
- Heads run on the selected positions only (masked text tokens, masked
  numbers): the text head's vocabulary projection on every position would
  dominate the cost of a small model.
- No I/O here: building from a config, the hub and saved folders are in
  `models.model_files` (`save_pretrained` / `from_pretrained` delegate to it).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.config import EncoderConfig
from models.number_embedding import NumberEmbedding
from models.number_head import NumberHead


# --- backbone families -----------------------------------------------------------

@dataclass(frozen=True)
class BackboneFamily:
    """Where the parts every MLM backbone has live in one Hugging Face family."""
    name: str
    config_class_name: str
    mlm_class_name: str
    base_attr: str        # the base model inside the MLM model
    norm_path: str        # the embedding LayerNorm inside the base model
    word_path: str        # the token embedding inside the base model

    def classes(self):
        import transformers
        return getattr(transformers, self.config_class_name), getattr(transformers, self.mlm_class_name)

    def mlm_logits(self, mlm: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        if self.name == "modernbert":
            return mlm.decoder(mlm.head(hidden))
        return mlm.cls(hidden)


FAMILIES = {
    "modernbert": BackboneFamily("modernbert", "ModernBertConfig", "ModernBertForMaskedLM", "model",
                                 "embeddings.norm", "embeddings.tok_embeddings"),
    "bert": BackboneFamily("bert", "BertConfig", "BertForMaskedLM", "bert",
                           "embeddings.LayerNorm", "embeddings.word_embeddings"),
}


def _get(module: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        module = getattr(module, part)
    return module


# --- outputs ----------------------------------------------------------------------

@dataclass
class MLMOutput:
    hidden: torch.Tensor        # (B, T, H) last hidden state
    mlm_logits: torch.Tensor    # (Nm, V) at text positions with a label
    mlm_labels: torch.Tensor    # (Nm,)
    bin_logits: torch.Tensor    # (Nn, K) at numbers with a target
    sign_logits: torch.Tensor   # (Nn,)
    num_targets: torch.Tensor   # (Nn,) the true values there


# --- the encoder ------------------------------------------------------------------

class NumberAwareEncoder(nn.Module):
    def __init__(self, config: EncoderConfig, mlm_model: nn.Module):
        super().__init__()
        self.config = config
        self.family = FAMILIES[config.family]
        self.mlm = mlm_model
        hidden = mlm_model.config.hidden_size
        self.number_embedding = NumberEmbedding(hidden, config.number)
        self.number_head = NumberHead(hidden, config.number)
        self._pending_numbers: torch.Tensor | None = None
        _get(self.backbone, self.family.norm_path).register_forward_hook(self._add_numbers)

    # -- parts -------------------------------------------------------------

    @property
    def backbone(self) -> nn.Module:
        return getattr(self.mlm, self.family.base_attr)

    @property
    def word_embeddings(self) -> nn.Embedding:
        return _get(self.backbone, self.family.word_path)

    @property
    def hidden_size(self) -> int:
        return self.mlm.config.hidden_size

    def number_parameters(self) -> Iterator[nn.Parameter]:
        yield from self.number_embedding.parameters()
        yield from self.number_head.parameters()

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        yield from self.mlm.parameters()

    # -- forward -----------------------------------------------------------

    def _add_numbers(self, module: nn.Module, args, output: torch.Tensor) -> torch.Tensor:
        pending = self._pending_numbers
        if pending is None:
            return output
        return output + pending.to(output.dtype)

    def number_addend(self, num_values: torch.Tensor, num_mask: torch.Tensor,
                      num_hidden: torch.Tensor | None) -> torch.Tensor:
        """(B, T, H): the number embeddings at number positions, zero elsewhere."""
        b, t = num_values.shape
        if num_hidden is None:
            num_hidden = torch.zeros_like(num_mask)
        idx = num_mask.nonzero(as_tuple=True)
        emb = self.number_embedding(num_values[idx], num_hidden[idx])
        zeros = torch.zeros(b, t, self.hidden_size, dtype=emb.dtype, device=emb.device)
        return zeros.index_put(idx, emb)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_values: torch.Tensor,
               num_mask: torch.Tensor | None = None, num_hidden: torch.Tensor | None = None) -> torch.Tensor:
        """Last hidden state (B, T, H) of token ids with their numbers' values."""
        if num_mask is None:
            num_mask = ~torch.isnan(num_values)
        inputs_embeds = self.word_embeddings(input_ids)
        self._pending_numbers = self.number_addend(num_values, num_mask, num_hidden)
        try:
            out = self.backbone(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        finally:
            self._pending_numbers = None
        return out.last_hidden_state

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_values: torch.Tensor,
                num_mask: torch.Tensor | None = None, num_hidden: torch.Tensor | None = None,
                mlm_labels: torch.Tensor | None = None, num_targets: torch.Tensor | None = None) -> MLMOutput:
        """Encode, then run the text head where `mlm_labels` != -100 and the number head where
        `num_targets` is finite (both optional)."""
        hidden = self.encode(input_ids, attention_mask, num_values, num_mask, num_hidden)
        flat = hidden.reshape(-1, hidden.shape[-1])
        if mlm_labels is not None:
            sel = (mlm_labels.reshape(-1) != -100).nonzero(as_tuple=True)[0]
            labels = mlm_labels.reshape(-1)[sel]
            mlm_logits = self.family.mlm_logits(self.mlm, flat[sel])
        else:
            labels = input_ids.new_zeros(0)
            mlm_logits = flat.new_zeros(0, self.mlm.config.vocab_size)
        if num_targets is not None:
            nsel = torch.isfinite(num_targets.reshape(-1)).nonzero(as_tuple=True)[0]
            targets = num_targets.reshape(-1)[nsel]
            bin_logits, sign_logits = self.number_head(flat[nsel])
        else:
            targets = num_values.new_zeros(0)
            bin_logits, sign_logits = self.number_head(flat[:0])
        return MLMOutput(hidden, mlm_logits, labels, bin_logits, sign_logits, targets)

    @torch.no_grad()
    def predict_numbers(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_values: torch.Tensor,
                        num_hidden: torch.Tensor) -> torch.Tensor:
        """Decoded values (B, T) at `num_hidden` positions (NaN elsewhere)."""
        hidden = self.encode(input_ids, attention_mask, num_values, ~torch.isnan(num_values), num_hidden)
        out = torch.full(num_values.shape, float("nan"), dtype=torch.float64, device=num_values.device)
        idx = num_hidden.nonzero(as_tuple=True)
        bins, sign = self.number_head(hidden[idx])
        out[idx] = self.number_head.decode(bins, sign)
        return out

    # -- files (see models.model_files) ------------------------------------

    def save_pretrained(self, directory: str | Path, tokenizer=None) -> None:
        from models.model_files import save_encoder
        save_encoder(self, directory, tokenizer)

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> NumberAwareEncoder:
        from models.model_files import load_encoder
        return load_encoder(directory, map_location)
