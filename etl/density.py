"""Information density of a piece of text: how well zlib compresses it,
compared with natural prose of the same length.

zlib's compressed/raw size ratio falls with length for any text (the header
costs more on short inputs, and longer inputs find more back-references), so a
raw ratio cannot compare a 300-byte page with a 30 KB one. A `DensityCurve`
holds the median ratio of natural prose at log-spaced lengths (100 B - 1 MB),
and

    information_density(text) = log(ratio(text) / expected_ratio(len(text)))

is 0 for typical prose of any length, negative for text that compresses
better than prose (repeated templates, link lists, image captions that differ
only in a counter: low information), positive for text denser than prose
(lists of names, numbers, addresses). log(0.4) = -0.92 means "compresses to
0.4 of what prose of that length does".

Lengths are UTF-8 bytes. Outside the curve's range the nearest end's ratio
is used (texts under 100 B are too short to judge; the cleaner treats them
like any other).

The shipped curve (`etl/data/density_curve.json`) is built by
`python -m jobs.build_density_curve`; its JSON records what it was built from.
Pure: no I/O except `DensityCurve.load` / `save`.
"""
from __future__ import annotations

import json
import math
import random
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

ZLIB_LEVEL = 6
DEFAULT_CURVE_PATH = Path(__file__).resolve().parent / "data" / "density_curve.json"
MIN_LENGTH = 100
MAX_LENGTH = 1_000_000
CURVE_FORMAT = "filingstore.density_curve/1"

# What counts as prose when a curve is built from HTML or plain text: a block
# of at least this many words, mostly letters (headings, table-of-contents
# lines, page furniture and number runs are not prose).
PROSE_MIN_WORDS = 6
PROSE_MIN_LETTER_SHARE = 0.6
PROSE_RULE = (f"text blocks (etl.sanitize.html_to_blocks TextBlocks for HTML, blank-line separated paragraphs "
              f"for plain text) with >= {PROSE_MIN_WORDS} words and >= {PROSE_MIN_LETTER_SHARE:.0%} letters "
              f"among non-space characters; tables excluded")

_LETTER = re.compile(r"[^\W\d_]")


def compression_ratio(data: bytes | str, level: int = ZLIB_LEVEL) -> float:
    """zlib-compressed size over raw size (UTF-8 bytes for text)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if not raw:
        raise ValueError("compression ratio of empty input is undefined")
    return len(zlib.compress(raw, level)) / len(raw)


@dataclass(frozen=True)
class DensityCurve:
    """Expected zlib compressed/raw ratio of natural prose by length (bytes)."""
    lengths: tuple[int, ...]
    ratios: tuple[float, ...]
    level: int = ZLIB_LEVEL
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if len(self.lengths) != len(self.ratios) or len(self.lengths) < 2:
            raise ValueError(f"a density curve needs >= 2 (length, ratio) points, got "
                             f"{len(self.lengths)} lengths and {len(self.ratios)} ratios")
        if any(b <= a for a, b in zip(self.lengths, self.lengths[1:])) or self.lengths[0] <= 0:
            raise ValueError("density curve lengths must be positive and strictly increasing")
        if any(not (r > 0 and math.isfinite(r)) for r in self.ratios):
            raise ValueError("density curve ratios must be positive and finite")
        object.__setattr__(self, "_log_lengths", np.log(np.asarray(self.lengths, dtype=float)))
        object.__setattr__(self, "_ratios", np.asarray(self.ratios, dtype=float))

    def expected(self, n_bytes: int | float) -> float:
        """Prose's median ratio at `n_bytes`, interpolated linearly in log length
        (clamped to the curve's ends)."""
        if n_bytes <= 0:
            raise ValueError(f"length must be positive, got {n_bytes}")
        return float(np.interp(math.log(n_bytes), self._log_lengths, self._ratios))

    # --- JSON ---------------------------------------------------------------------

    def to_json(self) -> dict:
        points = self.meta.get("points")
        if not points or [p["length"] for p in points] != list(self.lengths):
            points = [{"length": n, "ratio": r} for n, r in zip(self.lengths, self.ratios)]
        meta = {k: v for k, v in self.meta.items() if k not in ("points", "format", "zlib_level")}
        return {"format": CURVE_FORMAT, "zlib_level": self.level, **meta, "points": points}

    @classmethod
    def from_json(cls, data: dict) -> "DensityCurve":
        if not isinstance(data, dict) or "points" not in data:
            raise ValueError("a density curve JSON is an object with a 'points' list of {length, ratio}")
        pts = data["points"]
        return cls(tuple(int(p["length"]) for p in pts), tuple(float(p["ratio"]) for p in pts),
                   int(data.get("zlib_level", ZLIB_LEVEL)), dict(data))

    def save(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str | None = None) -> "DensityCurve":
        """The curve at `path`, by default the shipped `etl/data/density_curve.json`."""
        if path is None:
            return _default_curve()
        return cls._read(Path(path))

    @classmethod
    def _read(cls, path: Path) -> "DensityCurve":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"density curve {path} is missing; build it with "
                                    f"`python -m jobs.build_density_curve --corpus DIR --out {path}`") from None
        return cls.from_json(data)


@lru_cache(maxsize=1)
def _default_curve() -> DensityCurve:
    return DensityCurve._read(DEFAULT_CURVE_PATH)


def information_density(text: str, curve: DensityCurve | None = None) -> float:
    """log(compression ratio / prose's ratio at the same length); -inf for empty text.

    0 = as dense as typical prose; log(0.4) = -0.92: compresses to 0.4 of
    prose's size (a repeated template)."""
    raw = text.encode("utf-8")
    if not raw:
        return float("-inf")
    curve = curve or _default_curve()
    return math.log(compression_ratio(raw, curve.level) / curve.expected(len(raw)))


# --- building a curve ------------------------------------------------------------

def log_spaced_lengths(min_len: int = MIN_LENGTH, max_len: int = MAX_LENGTH, points: int = 25) -> list[int]:
    """`points` integer lengths from min_len to max_len, evenly spaced in log."""
    if not 0 < min_len < max_len or points < 2:
        raise ValueError(f"need 0 < min_len < max_len and points >= 2, got {min_len}, {max_len}, {points}")
    out: list[int] = []
    for x in np.geomspace(min_len, max_len, points):
        n = int(round(x))
        if not out or n > out[-1]:
            out.append(n)
    return out


def is_prose(text: str) -> bool:
    """A block of running text (see PROSE_RULE)."""
    if len(text.split()) < PROSE_MIN_WORDS:
        return False
    chars = sum(1 for c in text if not c.isspace())
    return chars > 0 and len(_LETTER.findall(text)) >= PROSE_MIN_LETTER_SHARE * chars


def prose_blocks(content: bytes | str, is_html: bool) -> list[str]:
    """The prose blocks of one document: HTML through etl.sanitize (text blocks
    only, no tables), plain text split at blank lines (whitespace collapsed)."""
    if is_html:
        from etl.numbers import strip_markers
        from etl.sanitize import TextBlock, html_to_blocks
        blocks = [strip_markers(b.text)[0] for b in html_to_blocks(content) if isinstance(b, TextBlock)]
    else:
        text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
        blocks = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return [b for b in blocks if is_prose(b)]


def _line_starts(corpus: bytes) -> np.ndarray:
    starts = [0]
    pos = corpus.find(b"\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = corpus.find(b"\n", pos + 1)
    return np.asarray(starts, dtype=np.int64)


def window_ratios(corpus: bytes, length: int, n: int, rng: random.Random, level: int = ZLIB_LEVEL,
                  starts: np.ndarray | None = None) -> list[float]:
    """Compression ratios of `n` windows of `length` bytes, each starting at a
    random line start of `corpus` (lines as a cleaned page's text has them)."""
    if starts is None:
        starts = _line_starts(corpus)
    ok = starts[starts + length <= len(corpus)]
    if len(ok) == 0:
        return []
    picks = [int(ok[rng.randrange(len(ok))]) for _ in range(n)]
    return [len(zlib.compress(corpus[s:s + length], level)) / length for s in picks]


def samples_for(length: int, corpus_bytes: int, samples: int, min_samples: int = 20) -> int:
    """Windows to draw at one length: `samples`, fewer when windows must
    overlap a lot (about 20 coverings of the corpus), never below min_samples."""
    return max(min_samples, min(samples, 20 * corpus_bytes // max(length, 1)))


def build_curve(blocks: list[str], lengths: list[int] | None = None, samples: int = 400, seed: int = 0,
                level: int = ZLIB_LEVEL, meta: dict | None = None) -> DensityCurve:
    """Median ratio of prose windows at each length; the prose is `blocks`
    joined by newlines. Lengths the corpus is too short for are left out."""
    lengths = lengths or log_spaced_lengths()
    corpus = "\n".join(blocks).encode("utf-8")
    starts = _line_starts(corpus)
    rng = random.Random(seed)
    points = []
    for length in lengths:
        ratios = window_ratios(corpus, length, samples_for(length, len(corpus), samples), rng, level, starts)
        if not ratios:
            continue
        q25, q50, q75 = np.percentile(ratios, [25, 50, 75])
        points.append({"length": length, "ratio": round(float(q50), 6), "n": len(ratios),
                       "p25": round(float(q25), 6), "p75": round(float(q75), 6)})
    if len(points) < 2:
        raise ValueError(f"corpus of {len(corpus)} bytes is too short for a density curve over lengths "
                         f"{lengths[0]}-{lengths[-1]}; give it more prose")
    info = dict(meta or {})
    info.update({"corpus_bytes": len(corpus), "corpus_blocks": len(blocks), "seed": seed,
                 "statistic": "median compressed/raw ratio of windows starting at random line starts",
                 "points": points})
    return DensityCurve(tuple(p["length"] for p in points), tuple(p["ratio"] for p in points), level, info)
