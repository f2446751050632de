"""Fast scans of HTML source text, before any parsing.

Case-insensitive regexes are slow on megabyte strings: Python's `re` cannot
use its literal-prefix search under IGNORECASE and falls back to trying every
position, about 6-10 ns a character. Filings are nearly always ASCII, where
`str.lower()` (a C memcpy-speed loop) gives a copy whose positions line up
with the source, so a case-sensitive pattern on that copy finds exactly what
the case-insensitive one finds on the source, several times faster.

`aligned_lower` returns that copy only when the alignment and the equivalence
hold; callers keep their case-insensitive path for the rest.
"""
from __future__ import annotations

import re

# Characters that change length when lower-cased ("İ" -> "i̇") or that
# IGNORECASE matches to an ASCII letter without `lower()` mapping them there
# ("ı" ~ "i", "ſ" ~ "s", Kelvin sign ~ "k"): with any of them, no shortcut.
_FOLD_SPECIALS = re.compile("[\u0130\u0131\u017f\u212a]")

_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f]")
_DROP_CONTROLS = dict.fromkeys([*range(0x00, 0x09), *range(0x0E, 0x20)])
_CONTROL_CHARS = tuple(map(chr, _DROP_CONTROLS))


def aligned_lower(text: str) -> str | None:
    """`text.lower()` when a case-sensitive match on it at position i equals an
    IGNORECASE match on `text` at i (for patterns of ASCII letters and
    punctuation); None otherwise."""
    if text.isascii():
        return text.lower()
    low = text.lower()
    if len(low) != len(text) or _FOLD_SPECIALS.search(text):
        return None
    return low


class NotGiven:
    """The default of an optional `low` argument: None is a real value there
    (no aligned copy exists), so "not computed yet" needs its own marker."""
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()


def lower_of(text: str, low: str | None | NotGiven = NOT_GIVEN) -> str | None:
    """`aligned_lower(text)`, unless the caller passes it in `low` (computed
    once per document and shared by the scans that need it)."""
    return aligned_lower(text) if isinstance(low, NotGiven) else low


def strip_controls(text: str) -> str:
    """`text` without the C0 control characters other than tab, LF, VT, FF, CR.

    `str.translate` on an ASCII string is a tight C loop (~0.3 ns a char); the
    regex it replaces costs ~6 ns a char. Non-ASCII strings keep the regex,
    where translate loses its fast path.
    """
    if text.isascii():
        # Most documents hold none: one memchr scan per control character
        # (C speed, no allocation) is cheaper than writing a copy of a
        # megabyte string into freshly mapped memory, which is what the
        # translate costs in a pipeline that frees and allocates whole documents.
        if not any(c in text for c in _CONTROL_CHARS):
            return text
        return text.translate(_DROP_CONTROLS)
    return _CONTROLS.sub("", text)
