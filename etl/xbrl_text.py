"""Shown text of inline-XBRL facts, read in C instead of node by node.

The reading rule (`xbrl._text_parts`, the reference): an element's descendant
text in document order, where ix:exclude elements, comments, processing
instructions and entity references contribute nothing (their tails do), and a
block-level element (div, p, td ...: `xbrl._BLOCK_TAGS`) has a space before
its text and after its content. Walking that in Python costs a few
microseconds a node, and text-block facts (whole notes, continued over pages)
hold most of a 10-K's nodes, often twice over through nesting.

`FastFactText` edits the parsed tree once so that libxml2's own text
serialisation (`etree.tostring(el, method="text")`) gives the same string:
1. remove ix:exclude elements, comments, PIs and entity references, keeping
   their tails (`etree.strip_elements(..., with_tail=False)`);
2. put the block spaces into the tree: " " before the text and before the
   tail of every block-level element inside a fact or continuation (one walk
   of each outermost fact; nested facts are not walked again).
The tree is changed, so this runs after everything else has read it (contexts
and units), and only when it is exactly equivalent: no fact or continuation
inside an ix:exclude (stripping would hide it).
"""
from __future__ import annotations

from typing import Callable

from lxml import etree


class FastFactText:
    """Prepares one parsed document; `text(el)` is then el's shown text before
    whitespace collapsing (the same characters `_text_parts` would join)."""

    def __init__(self, root, local: Callable[[str], str], exclude_tags: set[str], holder_tags: set[str],
                 block_tags: frozenset[str]):
        self.root = root
        self._local = local  # tag -> lower-case local name, as the reference walk tests it
        self._exclude = sorted(exclude_tags)
        self._holder_tags = holder_tags
        self._blocks = block_tags

    def applicable(self) -> bool:
        """False when a fact or continuation sits inside an ix:exclude."""
        holders = sorted(self._holder_tags)
        for ex in self.root.iter(*self._exclude):
            if next(ex.iter(*holders), None) is not None:
                return False
        return True

    def prepare(self, holders: list | None = None) -> None:
        """`holders`: every fact and continuation element in document order,
        when the caller has collected them already (saves a pass)."""
        etree.strip_elements(self.root, etree.Comment, etree.ProcessingInstruction, etree.Entity,
                             *self._exclude, with_tail=False)
        # Holders in document order; the list keeps their proxies alive, so the
        # walk below meets the same objects and set membership is identity.
        # (Stripping removed no holder: `applicable` found none in an exclude.)
        if holders is None:
            holders = list(self.root.iter(*self._holder_tags))
        nested: set = set()
        blocks = []
        for top in holders:
            if top in nested or not len(top):
                continue  # inside an outer holder, whose walk covers it; or a leaf (no blocks, no holders)
            for el in top.iter():
                tag = el.tag
                if tag in self._holder_tags:
                    nested.add(el)
                elif self._local(tag) in self._blocks:
                    blocks.append(el)
        for el in blocks:  # changed after the walks: text edits never disturb an iterator
            el.text = " " + (el.text or "")
            el.tail = " " + (el.tail or "")

    @staticmethod
    def text(el) -> str:
        return etree.tostring(el, method="text", encoding=str, with_tail=False)
