"""A number-aware tokenizer: each tagged number becomes one [NUM] token carrying its value.

Wraps any Hugging Face fast tokenizer. Text between `<number>` tags (the
store's chunk text, see `etl.chunking`) is replaced by exactly one `[NUM]`
token, its currency sign, percent sign, parentheses and scale words kept as
text around it ("$ [NUM] billion": the value alone hides what kind of number
it is; tokenizers saved before this keep the old behaviour); the number's
float value travels beside the ids in `num_values` (NaN at every other
position).

Where values come from, so that training and queries read numbers alike:
- stored chunks: the store's `numbers` rows, given as (char_start, char_end,
  value) with offsets in the tagged text (`encode_chunk`);
- new text (queries, benchmarks): `etl.numbers.find_numbers` tags it with
  `etl.numbers.format_tagged`, the same functions the ingest uses, and the
  result goes through the same path (`encode_text`).
A tagged number without a row falls back to `find_numbers` on its own text;
if that finds no number either, its text stays ordinary text.

Layout tokens survive: table ` | ` delimiters and newlines are tokens (a
ByteLevel BPE keeps both; a tokenizer that drops newlines, like BERT's
WordPiece, gets a `\\n` added token). Whitespace right before a [NUM] is
dropped so ByteLevel leaves no stray `Ġ` token in front of it.

Two sources of the wrapped tokenizer:
- `train_bpe(texts)`: the offline default, a ByteLevel BPE trained with
  `tokenizers` on chunk text with numbers cut out, special tokens
  `[PAD] [UNK] [CLS] [SEP] [MASK] [NUM]` (ids 0-5);
- `from_backbone(name_or_path)`: the backbone's own tokenizer plus `[NUM]`.
Saved as the wrapped tokenizer's files plus `number_tokenizer.json`.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from etl.numbers import find_numbers, format_tagged

NUM_TOKEN = "[NUM]"
NEWLINE = "\n"
BPE_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", NUM_TOKEN)
OPEN_TAG, CLOSE_TAG = "<number>", "</number>"
_TAG_RE = re.compile(re.escape(OPEN_TAG) + r"(.*?)" + re.escape(CLOSE_TAG), re.S)
CONFIG_FILE = "number_tokenizer.json"

NumberRow = tuple[int, int, float]  # char_start, char_end (in the tagged text), value


@dataclass
class Encoding:
    """One sequence: token ids and, per token, the number's value (NaN: not a number)."""
    input_ids: list[int]
    num_values: list[float]

    def __len__(self) -> int:
        return len(self.input_ids)


def strip_tags(tagged: str) -> str:
    """The chunk text without `<number>` tags (what a reader sees)."""
    return _TAG_RE.sub(lambda m: m.group(1), tagged)


_AFFIX_RE = re.compile(r"(\D*)\d(?:.*\d)?(\D*)", re.S)   # text before the first digit, after the last


def _affixes(inner: str) -> tuple[str, str]:
    """The text of a number tag before its first digit and after its last ("$(", ") billion"); none
    for a tag without digits (a dash for zero), whose whole text the value stands for."""
    m = _AFFIX_RE.fullmatch(inner)
    return (m.group(1), m.group(2)) if m else ("", "")


def segments(tagged: str, numbers: Iterable[NumberRow] | None = None,
             keep_affixes: bool = False) -> list[str | float]:
    """Split tagged text into text pieces (str) and number values (float), in order.

    `numbers` are the store's rows for this chunk; a tag is matched to the row
    whose char_start is the tag's inner start. Without a row, the tag's own
    text is read with `find_numbers`; a tag holding no number stays text.
    With `keep_affixes`, a number's currency, percent, parentheses and scale
    words stay text around it ("$ [NUM] billion", "[NUM] %"): the value alone
    does not say what kind of number it is, and the model should see that.
    """
    by_start = {int(s): float(v) for s, _e, v in (numbers or ()) if v is not None}
    out: list[str | float] = []
    pos = 0
    for m in _TAG_RE.finditer(tagged):
        out.append(tagged[pos:m.start()])
        inner_start = m.start(1)
        value = by_start.get(inner_start)
        if value is None or math.isnan(value):
            found = find_numbers(m.group(1))
            value = found[0].value if found else None
        if value is None or not math.isfinite(value):
            out.append(m.group(1))
        elif keep_affixes:
            before, after = _affixes(m.group(1))
            out.extend(p for p in (before, value, after) if p != "")
        else:
            out.append(value)
        pos = m.end()
    out.append(tagged[pos:])
    # merge adjacent text pieces (a tag kept as text)
    merged: list[str | float] = []
    for s in out:
        if isinstance(s, str) and merged and isinstance(merged[-1], str):
            merged[-1] += s
        else:
            merged.append(s)
    return merged


def tag_text(text: str) -> tuple[str, list[NumberRow]]:
    """Tag plain text the way the ingest does; returns the tagged text and its number rows."""
    nums = find_numbers(text)
    tagged, spans = format_tagged(text, nums, OPEN_TAG, CLOSE_TAG)
    return tagged, [(a, b, n.value) for n, (a, b) in zip(nums, spans)]


def bpe_training_pieces(tagged_texts: Iterable[str]) -> Iterable[str]:
    """Chunk text with numbers cut out, their affixes kept ("$", "%", " billion"): what the BPE sees as
    words (digits of numbers waste no merges)."""
    for t in tagged_texts:
        pieces = [""]
        pos = 0
        for m in _TAG_RE.finditer(t):
            before, after = _affixes(m.group(1))
            pieces[-1] += t[pos:m.start()] + before
            pieces.append(after)
            pos = m.end()
        pieces[-1] += t[pos:]
        yield from (p for p in pieces if p)


class NumberTokenizer:
    """Number-aware wrapper around a Hugging Face fast tokenizer (see module docstring)."""

    def __init__(self, hf_tokenizer, max_length: int, newline_token: bool, keep_affixes: bool = True):
        self.hf = hf_tokenizer
        self.max_length = max_length
        self.newline_token = newline_token
        self.keep_affixes = keep_affixes   # units and scale words stay text (False: tokenizers saved before)
        self.num_token_id = self._id(NUM_TOKEN)
        self.pad_token_id = self._id(hf_tokenizer.pad_token)
        self.cls_token_id = self._id(hf_tokenizer.cls_token)
        self.sep_token_id = self._id(hf_tokenizer.sep_token)
        self.mask_token_id = self._id(hf_tokenizer.mask_token)
        self._special_strings = [t for t in set(hf_tokenizer.all_special_tokens) | {NUM_TOKEN}
                                 if t and len(t) > 1 and not t.isspace()]

    def _id(self, token: str | None) -> int:
        if token is None:
            raise ValueError(f"the wrapped tokenizer {type(self.hf).__name__} lacks a pad/cls/sep/mask token; "
                             f"an MLM tokenizer needs all four")
        i = self.hf.convert_tokens_to_ids(token)
        if i is None or (i == self.hf.unk_token_id and token != self.hf.unk_token):
            raise ValueError(f"token {token!r} is not in the vocabulary of {type(self.hf).__name__}")
        return int(i)

    # -- construction ------------------------------------------------------

    @classmethod
    def train_bpe(cls, tagged_texts: Iterable[str], vocab_size: int, max_length: int,
                  min_frequency: int = 2) -> NumberTokenizer:
        """Train a ByteLevel BPE on chunk text (numbers cut out), offline."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
        from transformers import PreTrainedTokenizerFast

        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(BPE_SPECIAL_TOKENS),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(bpe_training_pieces(tagged_texts), trainer)
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
        hf = PreTrainedTokenizerFast(
            tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
            sep_token="[SEP]", mask_token="[MASK]", extra_special_tokens=[NUM_TOKEN],
            model_max_length=max_length)
        return cls(hf, max_length=max_length, newline_token=False)

    @classmethod
    def from_backbone(cls, name_or_path: str, max_length: int) -> NumberTokenizer:
        """The backbone's own tokenizer (hub id or local folder) plus [NUM] (and `\\n` if it drops newlines)."""
        from transformers import AddedToken, AutoTokenizer

        hf = AutoTokenizer.from_pretrained(name_or_path)
        if not getattr(hf, "is_fast", False):
            raise ValueError(f"{name_or_path}: a fast tokenizer is required (tokenizer.json)")
        hf.add_tokens([AddedToken(NUM_TOKEN, special=True, normalized=False)], special_tokens=True)
        with_nl = hf("a\nb", add_special_tokens=False)["input_ids"]
        without = hf("a b", add_special_tokens=False)["input_ids"]
        newline_token = with_nl == without
        if newline_token:
            hf.add_tokens([AddedToken(NEWLINE, special=True, normalized=False)], special_tokens=True)
        hf.model_max_length = max_length
        return cls(hf, max_length=max_length, newline_token=newline_token)

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.hf.save_pretrained(str(d))
        (d / CONFIG_FILE).write_text(json.dumps(
            {"max_length": self.max_length, "newline_token": self.newline_token, "num_token": NUM_TOKEN,
             "keep_affixes": self.keep_affixes},
            indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> NumberTokenizer:
        from transformers import AutoTokenizer

        d = Path(directory)
        cfg_path = d / CONFIG_FILE
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{d} holds no {CONFIG_FILE}: not a saved NumberTokenizer "
                                    f"(save one with NumberTokenizer.save, or use from_backbone)")
        cfg = json.loads(cfg_path.read_text())
        hf = AutoTokenizer.from_pretrained(str(d))
        # tokenizers saved before "keep_affixes" existed hid the affixes inside [NUM]: models trained on them
        # keep reading text that way
        return cls(hf, max_length=int(cfg["max_length"]), newline_token=bool(cfg["newline_token"]),
                   keep_affixes=bool(cfg.get("keep_affixes", False)))

    # -- encoding ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.hf)

    @property
    def never_mask_ids(self) -> list[int]:
        """Ids the MLM never selects as text targets ([NUM] is masked as a number instead)."""
        return sorted({self.pad_token_id, self.cls_token_id, self.sep_token_id, self.mask_token_id,
                       self.num_token_id})

    def _text_of(self, segs: list[str | float]) -> tuple[str, list[float]]:
        parts: list[str] = []
        values: list[float] = []
        for s in segs:
            if isinstance(s, str):
                for special in self._special_strings:  # literal "[NUM]" in a filing stays text
                    if special in s:
                        s = s.replace(special, special[0] + " " + special[1:])
                parts.append(s)
            else:
                if parts:
                    parts[-1] = parts[-1].rstrip(" \t")
                parts.append(NUM_TOKEN)
                values.append(float(s))
        return "".join(parts), values

    def encode_segments(self, batch: Sequence[list[str | float]]) -> list[Encoding]:
        texts, values = zip(*(self._text_of(s) for s in batch)) if batch else ((), ())
        ids = self.hf(list(texts), add_special_tokens=True, truncation=True,
                      max_length=self.max_length)["input_ids"]
        out = []
        for seq, vals in zip(ids, values):
            nums = [float("nan")] * len(seq)
            k = 0
            for i, t in enumerate(seq):
                if t == self.num_token_id:
                    nums[i] = vals[k]
                    k += 1
            out.append(Encoding(list(seq), nums))
        return out

    def encode_chunks(self, tagged_texts: Sequence[str],
                      numbers: Sequence[Iterable[NumberRow] | None] | None = None) -> list[Encoding]:
        """Stored chunks: tagged text and the store's (char_start, char_end, value) rows per chunk."""
        numbers = numbers if numbers is not None else [None] * len(tagged_texts)
        if len(numbers) != len(tagged_texts):
            raise ValueError(f"{len(tagged_texts)} texts but {len(numbers)} lists of number rows")
        return self.encode_segments([segments(t, n, self.keep_affixes) for t, n in zip(tagged_texts, numbers)])

    def encode_chunk(self, tagged: str, numbers: Iterable[NumberRow] | None = None) -> Encoding:
        return self.encode_chunks([tagged], [numbers])[0]

    def encode_texts(self, texts: Sequence[str]) -> list[Encoding]:
        """New plain text: numbers found and tagged exactly as the ingest does."""
        tagged = [tag_text(t) for t in texts]
        return self.encode_chunks([t for t, _ in tagged], [rows for _, rows in tagged])

    def encode_text(self, text: str) -> Encoding:
        return self.encode_texts([text])[0]

    def pad(self, encodings: Sequence[Encoding]) -> dict[str, torch.Tensor]:
        """Right-pad to the longest: input_ids, attention_mask, num_values (NaN off numbers), num_mask."""
        return pad_encodings(encodings, self.pad_token_id)

    def __call__(self, texts: Sequence[str], numbers: Sequence[Iterable[NumberRow] | None] | None = None,
                 tagged: bool = True) -> dict[str, torch.Tensor]:
        """Batch tensors for chunks (`tagged`, with optional rows) or for plain text (`tagged=False`)."""
        if isinstance(texts, str):
            texts = [texts]
        enc = self.encode_chunks(texts, numbers) if tagged else self.encode_texts(texts)
        return self.pad(enc)


def pad_encodings(encodings: Sequence[Encoding], pad_token_id: int) -> dict[str, torch.Tensor]:
    n = len(encodings)
    width = max((len(e) for e in encodings), default=0)
    input_ids = torch.full((n, width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    num_values = torch.full((n, width), float("nan"), dtype=torch.float32)
    for i, e in enumerate(encodings):
        L = len(e)
        input_ids[i, :L] = torch.tensor(e.input_ids, dtype=torch.long)
        attention_mask[i, :L] = 1
        num_values[i, :L] = torch.tensor(e.num_values, dtype=torch.float32)
    return {"input_ids": input_ids, "attention_mask": attention_mask,
            "num_values": num_values, "num_mask": ~torch.isnan(num_values)}
