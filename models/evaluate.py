"""Masked-number evaluation: hide one number at a time, predict it, compare with baselines.

A *case* is one number of one chunk (or of one generated numeracy item): the
chunk's tagged text, all its number rows, and which row is the target. Every
method predicts a signed value for every case, on the same cases:

- `model`: the encoder sees the chunk with the target's [NUM] entering as the
  reserved masked-number bin (all other numbers visible) and the number head
  decodes it (`NumberAwareEncoder.predict_numbers`, decoding as implemented);
- `median_magnitude`: the training set's median |value| for the target's
  kind (`numbers.kind`; the global median where a kind is unseen), with the
  kind's majority sign;
- `nearest_number`: the other number of the same chunk nearest by character
  distance (gap between the two spans; ties to the earlier one); a chunk with
  a single number falls back to `median_magnitude` (counted in the report).

Metrics (`number_metrics`), with magnitudes floored at `floor` (1e-3, the
bottom of the default bin window) so zeros have a log:
- `median_rel_err`: median |pred - true| / |true| over targets != 0;
- `log10_mae`: mean |log10|pred| - log10|true|| (sign handled separately);
- `median_log10_err`: the median of the same (robust to a few predictions many decades off,
  e.g. a zero predicted for a billion);
- `oom_acc`: share with |log10 error| < 0.5 (the right order of magnitude);
- `sign_acc`: share with pred < 0 exactly where true < 0 (zero counts as positive).

No I/O and no Ray: the store is read by the caller (`jobs.eval_numbers`).
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from etl.numbers import find_numbers
from models.batching import token_budget_batches
from models.tokenizer import CLOSE_TAG, OPEN_TAG, Encoding, NumberTokenizer, pad_encodings

_TAG_RE = re.compile(re.escape(OPEN_TAG) + r"(.*?)" + re.escape(CLOSE_TAG), re.S)
NumberRow = tuple[int, int, float]
METRICS = ("n", "median_rel_err", "log10_mae", "median_log10_err", "oom_acc", "sign_acc")
FLOOR = 1e-3


@dataclass
class Case:
    """One masked number: the chunk it sits in and which of the chunk's rows is the target."""
    case_id: str
    text: str                          # tagged text
    numbers: list[NumberRow]           # every number row of the chunk (char_start, char_end, value)
    target: int                        # index into `numbers`
    kind: str = "unknown"
    group: str = ""                    # company (filings) or template (numeracy items)

    @property
    def value(self) -> float:
        return float(self.numbers[self.target][2])


# --- metrics ------------------------------------------------------------------------

def log10_errors(pred: np.ndarray, true: np.ndarray, floor: float = FLOOR) -> np.ndarray:
    """|log10|pred| - log10|true||, magnitudes floored at `floor`."""
    p = np.log10(np.maximum(np.abs(np.asarray(pred, dtype=np.float64)), floor))
    t = np.log10(np.maximum(np.abs(np.asarray(true, dtype=np.float64)), floor))
    return np.abs(p - t)


def relative_errors(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """|pred - true| / |true| where true != 0 (other entries dropped)."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    keep = true != 0
    return np.abs(pred[keep] - true[keep]) / np.abs(true[keep])


def number_metrics(pred: Sequence[float], true: Sequence[float], floor: float = FLOOR) -> dict[str, float]:
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape:
        raise ValueError(f"{pred.shape[0]} predictions for {true.shape[0]} true values")
    n = int(true.size)
    if n == 0:
        return {"n": 0, "median_rel_err": math.nan, "log10_mae": math.nan, "median_log10_err": math.nan,
                "oom_acc": math.nan, "sign_acc": math.nan}
    le = log10_errors(pred, true, floor)
    rel = relative_errors(pred, true)
    return {
        "n": n,
        "median_rel_err": float(np.median(rel)) if rel.size else math.nan,
        "log10_mae": float(le.mean()),
        "median_log10_err": float(np.median(le)),
        "oom_acc": float((le < 0.5).mean()),
        "sign_acc": float(((pred < 0) == (true < 0)).mean()),
    }


# --- cases --------------------------------------------------------------------------

def number_token_index(text: str, numbers: Iterable[NumberRow]) -> dict[int, int]:
    """char_start of each row -> the ordinal of its [NUM] token among the chunk's numbers.

    Mirrors `models.tokenizer.segments`: a tag becomes a [NUM] if its row (matched on the
    tag's inner start) or, without a row, `find_numbers` on its text gives a finite value.
    """
    by_start = {int(s): float(v) for s, _e, v in numbers if v is not None}
    out: dict[int, int] = {}
    k = 0
    for m in _TAG_RE.finditer(text):
        value = by_start.get(m.start(1))
        if value is None or math.isnan(value):
            found = find_numbers(m.group(1))
            value = found[0].value if found else None
        if value is None or not math.isfinite(value):
            continue
        out[m.start(1)] = k
        k += 1
    return out


def sample_cases(cases: Sequence[Case], max_cases: int | None, seed: int) -> list[Case]:
    """A fixed random sample (the same for every method), in the input order."""
    if max_cases is None or len(cases) <= max_cases:
        return list(cases)
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(cases), size=max_cases, replace=False))
    return [cases[i] for i in keep]


def cases_from_chunks(chunks: Iterable[tuple[str, str, str, list[tuple[int, int, float, str]]]]) -> list[Case]:
    """Every finite number of every chunk as a case; chunks are (chunk_id, company, text, rows with kind)."""
    out = []
    for chunk_id, company, text, rows in chunks:
        rows = sorted(r for r in rows if r[2] is not None and math.isfinite(r[2]))
        plain = [(a, b, v) for a, b, v, _k in rows]
        for i, (a, _b, _v, kind) in enumerate(rows):
            out.append(Case(f"{chunk_id}:{a}", text, plain, i, kind or "unknown", company))
    return out


def cases_from_numeracy(items) -> list[Case]:
    """Generated numeracy items (`models.numeracy.NumeracyItem`) as cases."""
    return [Case(f"numeracy:{i}", it.text, list(it.numbers), it.target, it.kind, it.template)
            for i, it in enumerate(items)]


# --- baselines ----------------------------------------------------------------------

@dataclass
class MedianBaseline:
    """The training set's median magnitude per number kind (global median for unseen kinds)."""
    per_kind: dict[str, float]
    negative_kind: dict[str, bool]
    global_median: float
    global_negative: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, values: Sequence[float], kinds: Sequence[str] | None = None) -> MedianBaseline:
        v = np.asarray(values, dtype=np.float64)
        kinds = list(kinds) if kinds is not None else ["unknown"] * len(v)
        if len(kinds) != len(v):
            raise ValueError(f"{len(v)} values but {len(kinds)} kinds")
        groups: dict[str, list[float]] = defaultdict(list)
        for x, k in zip(v, kinds):
            if math.isfinite(x):
                groups[k or "unknown"].append(float(x))
        allv = np.array([x for g in groups.values() for x in g], dtype=np.float64)
        if allv.size == 0:
            raise ValueError("no finite training values to take a median of")
        return cls({k: float(np.median(np.abs(g))) for k, g in groups.items()},
                   {k: float(np.mean(np.asarray(g) < 0)) > 0.5 for k, g in groups.items()},
                   float(np.median(np.abs(allv))), bool(np.mean(allv < 0) > 0.5),
                   {k: len(g) for k, g in groups.items()})

    def predict_one(self, kind: str) -> float:
        mag = self.per_kind.get(kind, self.global_median)
        neg = self.negative_kind.get(kind, self.global_negative)
        return -mag if neg else mag

    def predict(self, cases: Sequence[Case]) -> np.ndarray:
        return np.array([self.predict_one(c.kind) for c in cases], dtype=np.float64)


def nearest_number(case: Case) -> float | None:
    """The value of the chunk's other number nearest to the target by character distance, or None."""
    a, b, _ = case.numbers[case.target]
    best, best_d = None, None
    for i, (s, e, v) in enumerate(case.numbers):
        if i == case.target:
            continue
        d = s - b if s >= b else (a - e if e <= a else 0)
        if best_d is None or d < best_d:
            best, best_d = float(v), d
    return best


def nearest_baseline(cases: Sequence[Case], fallback: MedianBaseline) -> tuple[np.ndarray, int]:
    """Predictions and how many cases had no other number (fallback used)."""
    out, n_fallback = [], 0
    for c in cases:
        v = nearest_number(c)
        if v is None:
            v = fallback.predict_one(c.kind)
            n_fallback += 1
        out.append(v)
    return np.array(out, dtype=np.float64), n_fallback


# --- the model ----------------------------------------------------------------------

def encode_cases(tokenizer: NumberTokenizer, cases: Sequence[Case]) -> tuple[list[Encoding], list[int], list[int]]:
    """Encodings (one per distinct chunk), and per case: its encoding and its [NUM] token position
    (-1 where the number was truncated away or could not be located)."""
    chunk_of: dict[tuple[str, int], int] = {}
    texts, rows = [], []
    enc_index = []
    for c in cases:
        key = (c.text, id(c.numbers))
        if key not in chunk_of:
            chunk_of[key] = len(texts)
            texts.append(c.text)
            rows.append(c.numbers)
        enc_index.append(chunk_of[key])
    encodings: list[Encoding] = []
    for i in range(0, len(texts), 256):
        encodings.extend(tokenizer.encode_chunks(texts[i:i + 256], rows[i:i + 256]))
    num_positions = [[j for j, t in enumerate(e.input_ids) if t == tokenizer.num_token_id] for e in encodings]
    ordinals: dict[int, dict[int, int]] = {}
    positions = []
    for c, ei in zip(cases, enc_index):
        if ei not in ordinals:
            ordinals[ei] = number_token_index(c.text, c.numbers)
        k = ordinals[ei].get(int(c.numbers[c.target][0]))
        pos = num_positions[ei][k] if k is not None and k < len(num_positions[ei]) else -1
        if pos >= 0 and not np.isclose(encodings[ei].num_values[pos], c.value, rtol=1e-6, atol=1e-9):
            pos = -1
        positions.append(pos)
    return encodings, enc_index, positions


@torch.no_grad()
def model_predictions(model, tokenizer: NumberTokenizer, cases: Sequence[Case], token_budget: int = 8192,
                      device: str | torch.device = "cpu") -> np.ndarray:
    """The model's decoded value for each case (NaN where the number did not fit in the sequence)."""
    model.eval()
    encodings, enc_index, positions = encode_cases(tokenizer, cases)
    out = np.full(len(cases), np.nan, dtype=np.float64)
    usable = [i for i, p in enumerate(positions) if p >= 0]
    lengths = [len(encodings[enc_index[i]]) for i in usable]
    for batch in token_budget_batches(lengths, token_budget, rng=None, shuffle=False):
        idx = [usable[j] for j in batch]
        padded = pad_encodings([encodings[enc_index[i]] for i in idx], tokenizer.pad_token_id)
        hidden = torch.zeros_like(padded["num_mask"])
        for r, i in enumerate(idx):
            hidden[r, positions[i]] = True
        padded = {k: v.to(device) for k, v in padded.items()}
        pred = model.predict_numbers(padded["input_ids"], padded["attention_mask"], padded["num_values"],
                                     hidden.to(device))
        for r, i in enumerate(idx):
            out[i] = float(pred[r, positions[i]])
    return out


# --- the report ---------------------------------------------------------------------

@dataclass
class Evaluation:
    name: str
    n_cases: int
    n_skipped: int                      # cases the model could not see (truncated); dropped for every method
    metrics: dict[str, dict[str, float]]            # method -> metric -> value
    by_kind: dict[str, dict[str, dict[str, float]]]  # kind -> method -> metric -> value
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "n_cases": self.n_cases, "n_skipped": self.n_skipped,
                "metrics": self.metrics, "by_kind": self.by_kind, "notes": self.notes}

    def table(self) -> str:
        return format_table(self.name, self.metrics)


def format_table(title: str, metrics: dict[str, dict[str, float]]) -> str:
    cols = list(METRICS)
    width = max([len("method")] + [len(m) for m in metrics]) + 2
    lines = [title, "method".ljust(width) + "".join(c.rjust(18) for c in cols)]
    for method, ms in metrics.items():
        cells = []
        for c in cols:
            v = ms.get(c, math.nan)
            cells.append(f"{int(v):d}".rjust(18) if c == "n" else f"{v:.4f}".rjust(18))
        lines.append(method.ljust(width) + "".join(cells))
    return "\n".join(lines)


def evaluate_cases(name: str, cases: Sequence[Case], predictions: dict[str, np.ndarray],
                   notes: Sequence[str] = ()) -> Evaluation:
    """Metrics per method on the cases every method predicted (finite predictions for all)."""
    true = np.array([c.value for c in cases], dtype=np.float64)
    ok = np.ones(len(cases), dtype=bool)
    for p in predictions.values():
        ok &= np.isfinite(p)
    metrics = {m: number_metrics(p[ok], true[ok]) for m, p in predictions.items()}
    kinds = np.array([c.kind for c in cases])
    by_kind = {}
    for k, _n in Counter(kinds[ok].tolist()).most_common():
        sel = ok & (kinds == k)
        by_kind[k] = {m: number_metrics(p[sel], true[sel]) for m, p in predictions.items()}
    return Evaluation(name, int(ok.sum()), int((~ok).sum()), metrics, by_kind, list(notes))


def evaluate(model, tokenizer: NumberTokenizer, cases: Sequence[Case], baseline: MedianBaseline,
             name: str = "masked numbers", token_budget: int = 8192, device: str | torch.device = "cpu"
             ) -> Evaluation:
    """The model and both baselines on the same cases."""
    preds_model = model_predictions(model, tokenizer, cases, token_budget, device)
    preds_median = baseline.predict(cases)
    preds_near, n_fallback = nearest_baseline(cases, baseline)
    notes = [f"nearest_number: {n_fallback} of {len(cases)} cases had no other number in their chunk "
             f"and used median_magnitude"]
    n_trunc = int(np.isnan(preds_model).sum())
    if n_trunc:
        notes.append(f"{n_trunc} cases dropped for every method: the target lies past the tokenizer's "
                     f"max_length ({tokenizer.max_length} tokens)")
    return evaluate_cases(name, cases, {"model": preds_model, "median_magnitude": preds_median,
                                        "nearest_number": preds_near}, notes)
