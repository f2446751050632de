"""Single prose sentences cut from chunks: short views for the semantic anchor.

The chunk embedder's semantic anchor pulls each chunk's CLS vector towards a
frozen sentence embedder's vector of the same chunk. Chunks are a few hundred
tokens of prose and tables, while people query with a sentence; an anchor that
only ever sees whole chunks does not teach the CLS what a short sentence means.
These views are the prose sentences of the training chunks, as plain text (the
student tags their numbers the way the ingest does; the teacher reads them as
they are).

Kept: sentences of `min_words` to `max_words` words that contain letters and
are not table rows (no ` | ` cell separator). Duplicates are dropped (boilerplate
repeats across filings), and a pool larger than `limit` is sampled down with a
fixed seed, so the same chunks always give the same views.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from models.tokenizer import strip_tags

# a sentence ends at . ! or ? followed by space and a capital, a quote or a bracket; "$1.5 billion" stays
# whole (no space after its dot), and so does "U.S. Steel" (an initial: one capital letter before the dot)
_SENTENCE_END = re.compile(r"(?<!\b[A-Z]\.)(?<=[.!?])[\"')\]]?\s+(?=[A-Z\"'(\[])")
_WORD = re.compile(r"\S+")
_LETTER = re.compile(r"[A-Za-z]")


def split_sentences(text: str) -> list[str]:
    """The sentences of each line of plain `text` (a line break always ends a sentence)."""
    out: list[str] = []
    for line in text.splitlines():
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


def is_prose_sentence(sentence: str, min_words: int, max_words: int) -> bool:
    if " | " in sentence or not _LETTER.search(sentence):
        return False
    return min_words <= len(_WORD.findall(sentence)) <= max_words


def sentence_views(tagged_texts: Iterable[str], min_words: int = 6, max_words: int = 48,
                   limit: int | None = None, seed: int = 0) -> list[str]:
    """Distinct prose sentences of the chunks `tagged_texts`, in first-seen order (see module docstring)."""
    if min_words < 1 or max_words < min_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}, {max_words}")
    seen: set[str] = set()
    views: list[str] = []
    for tagged in tagged_texts:
        for s in split_sentences(strip_tags(tagged)):
            if s not in seen and is_prose_sentence(s, min_words, max_words):
                seen.add(s)
                views.append(s)
    if limit is not None and len(views) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(views), size=limit, replace=False))
        views = [views[i] for i in keep]
    return views
