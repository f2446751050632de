"""Metadata from the cover page's words, for filings without XBRL cover facts.

Pre-2019 10-Ks carry no DEI facts; their cover page still says the form
("FORM 10-K"), the period ("For the fiscal year ended June 30, 1999") and the
registrant's name (the line above "(Exact name of registrant as specified in
its charter)"). Only the first few thousand characters are read; anything not
found stays unknown.
"""
from __future__ import annotations

import calendar
import re
from datetime import date

COVER_CHARS = 8000

_FORM_RE = re.compile(r"\bFORM\s+(10-K405|10-KSB|10-K|10-QSB|10-Q|20-F|40-F)(\s*/\s*A)?\b", re.IGNORECASE)
_PERIOD_RE = re.compile(
    r"for the (?:fiscal )?(?:year|quarterly period|quarter|period) ended:?\s+"
    r"(?P<month>[A-Za-z]+)\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>(?:19|20)\d{2})",
    re.IGNORECASE,
)
_EXACT_NAME_RE = re.compile(r"\(\s*exact name of (?:the )?registrant", re.IGNORECASE)
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9


def cover_metadata(text: str) -> dict:
    head = text[:COVER_CHARS]
    out: dict = {}
    m = _FORM_RE.search(head)
    if m:
        out["form"] = m.group(1).upper() + ("/A" if m.group(2) else "")
    p = _PERIOD_RE.search(head)
    if p and p.group("month").lower() in _MONTHS:
        try:
            out["period_end"] = date(int(p.group("year")), _MONTHS[p.group("month").lower()], int(p.group("day")))
        except ValueError:
            pass
    e = _EXACT_NAME_RE.search(head)
    if e:
        before = head[: e.start()].rstrip()
        name = before.rsplit("\n", 1)[-1].strip(" |")
        if 2 <= len(name) <= 150 and not name.lower().startswith(("commission", "form ")):
            out["company_name"] = name
    return out
