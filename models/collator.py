"""MLM masking for text tokens and numbers alike.

Of the candidate positions (text tokens other than [CLS]/[SEP]/[PAD]/[MASK]/
[NUM]; numbers at [NUM] positions), each is selected with probability
`mlm_probability` (numbers: `number_probability`, default the same). A selected text token becomes [MASK] (`mask_ratio`), a
random ordinary token (`random_ratio`) or stays. A selected number is hidden
(`num_hidden`: it enters as the reserved masked-number bin), gets a random
magnitude (log-uniform over the bin window, its own sign kept) or stays.
Targets: `mlm_labels` (-100 where not selected) and `num_targets` (NaN where
not selected).

All randomness comes from the `torch.Generator` passed in, so a batch's
masking is a function of its seed: training resumes exactly.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from models.config import NumberConfig
from models.tokenizer import Encoding, pad_encodings


class MLMCollator:
    def __init__(self, pad_token_id: int, mask_token_id: int, vocab_size: int, never_mask_ids: Sequence[int],
                 number: NumberConfig, mlm_probability: float = 0.15, mask_ratio: float = 0.8,
                 random_ratio: float = 0.1, unk_token_id: int | None = None,
                 number_probability: float | None = None):
        self.pad_token_id = pad_token_id
        self.mask_token_id = mask_token_id
        self.never_mask = torch.tensor(sorted(set(never_mask_ids)), dtype=torch.long)
        excluded = set(never_mask_ids) | ({unk_token_id} if unk_token_id is not None else set())
        self.random_ids = torch.tensor([i for i in range(vocab_size) if i not in excluded], dtype=torch.long)
        self.number = number
        self.p = mlm_probability
        self.number_p = mlm_probability if number_probability is None else number_probability
        self.mask_ratio = mask_ratio
        self.random_ratio = random_ratio

    @classmethod
    def for_tokenizer(cls, tokenizer, number: NumberConfig, mlm_probability: float = 0.15,
                      mask_ratio: float = 0.8, random_ratio: float = 0.1,
                      number_probability: float | None = None) -> MLMCollator:
        return cls(tokenizer.pad_token_id, tokenizer.mask_token_id, len(tokenizer), tokenizer.never_mask_ids,
                   number, mlm_probability, mask_ratio, random_ratio, unk_token_id=tokenizer.hf.unk_token_id,
                   number_probability=number_probability)

    def selection_rate(self, numbers: bool) -> float | torch.Tensor:
        """Probability that a candidate is selected (a float, or a tensor broadcast against the batch)."""
        return self.number_p if numbers else self.p

    def _split(self, candidates: torch.Tensor, g: torch.Generator, p: float | torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(selected, replace-with-mask, replace-with-random) boolean masks."""
        selected = candidates & (torch.rand(candidates.shape, generator=g) < p)
        u = torch.rand(candidates.shape, generator=g)
        masked = selected & (u < self.mask_ratio)
        randomised = selected & (u >= self.mask_ratio) & (u < self.mask_ratio + self.random_ratio)
        return selected, masked, randomised

    def __call__(self, encodings: Sequence[Encoding], generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = pad_encodings(encodings, self.pad_token_id)
        return self.mask(batch, generator)

    def mask(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
        g = generator
        ids = batch["input_ids"]
        attn = batch["attention_mask"].bool()
        num_mask = batch["num_mask"]
        values = batch["num_values"]

        text_cand = attn & ~torch.isin(ids, self.never_mask) & ~num_mask
        sel, masked, randomised = self._split(text_cand, g, self.selection_rate(numbers=False))
        labels = torch.where(sel, ids, torch.full_like(ids, -100))
        new_ids = ids.masked_fill(masked, self.mask_token_id)
        rand_tok = self.random_ids[torch.randint(len(self.random_ids), ids.shape, generator=g)]
        new_ids = torch.where(randomised, rand_tok, new_ids)

        nsel, nmasked, nrandom = self._split(num_mask & attn, g, self.selection_rate(numbers=True))
        targets = torch.where(nsel, values, torch.full_like(values, float("nan")))
        lo, hi = self.number.log10_min, self.number.log10_max
        rand_mag = torch.pow(10.0, lo + (hi - lo) * torch.rand(values.shape, generator=g))
        rand_val = torch.where(values < 0, -rand_mag, rand_mag).to(values.dtype)
        new_values = torch.where(nrandom, rand_val, values)

        return {
            "input_ids": new_ids,
            "attention_mask": batch["attention_mask"],
            "num_values": new_values,
            "num_mask": num_mask,
            "num_hidden": nmasked,
            "mlm_labels": labels,
            "num_targets": targets,
        }
