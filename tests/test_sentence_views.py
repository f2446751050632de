"""Sentence views for the semantic anchor: which sentences of a chunk are kept, and that it is deterministic."""
from __future__ import annotations

import pytest

from models.sentence_views import sentence_views, split_sentences

CHUNK = ("Net sales rose <number>12%</number> to $<number>4.2</number> billion in fiscal <number>2024</number>. "
         "U.S. Steel shipments were flat compared with the prior year. Risks.\n"
         "Revenue | <number>4,200</number> | <number>3,750</number>\n"
         "We expect capital expenditures of about $<number>1.5</number> billion next year, mostly for new stores.")


def test_split_sentences_keeps_abbreviations_and_decimals_whole():
    assert split_sentences("Sales were $1.5 billion. U.S. Steel grew. (a) Note text.\nNext line") == [
        "Sales were $1.5 billion.", "U.S. Steel grew.", "(a) Note text.", "Next line"]


def test_sentence_views_keep_prose_sentences_as_plain_text():
    views = sentence_views([CHUNK], min_words=4, max_words=30)
    assert views == ["Net sales rose 12% to $4.2 billion in fiscal 2024.",
                     "U.S. Steel shipments were flat compared with the prior year.",
                     "We expect capital expenditures of about $1.5 billion next year, mostly for new stores."]
    # the one-word sentence and the table row are gone; no tag is left
    assert not any("<number>" in v or " | " in v for v in views)
    assert sentence_views([CHUNK], min_words=4, max_words=12) == views[:2]


def test_sentence_views_drop_duplicates_and_sample_down_deterministically():
    texts = [f"Boilerplate sentence that every filing repeats word for word. Company {i} sold many more "
             f"widgets this year than last year." for i in range(50)]
    views = sentence_views(texts)
    assert len(views) == 51 and views.count("Boilerplate sentence that every filing repeats word for word.") == 1
    a, b = sentence_views(texts, limit=10, seed=3), sentence_views(texts, limit=10, seed=3)
    assert a == b and len(a) == 10 and set(a) <= set(views)
    assert [views.index(v) for v in a] == sorted(views.index(v) for v in a)  # first-seen order kept
    assert sentence_views(texts, limit=10, seed=4) != a
    with pytest.raises(ValueError, match="min_words"):
        sentence_views(texts, min_words=5, max_words=4)
