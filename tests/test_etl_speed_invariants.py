"""The ETL's fast paths give exactly what the plain formulations they replace give.

Each speed-up (issue 2) swapped a simple formulation for a faster one with the
same output; these tests pin that equality on inputs built to hit the corners
(mixed-case tags, stray markers, nested and excluded facts, non-ASCII text).
"""
from __future__ import annotations

import random
import re
from dataclasses import replace

import pytest

from etl import xbrl
from etl.html_source import aligned_lower, strip_controls
from etl.layout import _STYLE_OPEN_RE, _style_open_tags
from etl.numbers import (
    _NUMBER_RE, _iter_number_matches, find_numbers, format_tagged, format_tagged_slice, strip_markers,
)
from etl.sanitize import BLOCK, LINE_BREAK, _BLOCK_TAG_RE, _BR_RE, _PAGEBREAK_COMMENT, _mark_blocks_in_source


# --- source scans ---------------------------------------------------------------

def _marks_reference(html: str) -> str:
    html = _PAGEBREAK_COMMENT.sub('<hr style="page-break-after:always">', html)
    html = _BLOCK_TAG_RE.sub(BLOCK + "\\g<0>", html)
    return _BR_RE.sub(LINE_BREAK, html)


@pytest.mark.parametrize("html", [
    "<DIV>a</Div><p>b<BR/>c<br class='x'>d</P><TABLE><tr><td>1</td></tr></table>",
    "<!-- page  BREAK --><Hr><br <div>x</div><!--PAGE BREAK-->",
    "<br <!-- PAGE BREAK -->tail<section><header>h</header></section><pre>p</pre><spanx>",
    "<p>caf\u00e9 \u00a3 \u2014 <DIV>\u00fcber</DIV><bR>",        # non-ASCII, aligned: fast path
    "<p>\u0130stanbul</p><DIV>x</DIV><br>",                        # "İ" lower-cases to 2 chars: fallback
    "<p>\u017fection</p><\u017fection>x",                            # long s folds to "s": fallback
    "<table><caption>c</caption></table><h1>t</h1><h7>no</h7><li><ul><ol><dl><dt><dd>",
])
def test_block_marks_equal_the_three_case_insensitive_substitutions(html):
    assert _mark_blocks_in_source(html) == _marks_reference(html)


def test_aligned_lower_refuses_what_it_cannot_align():
    assert aligned_lower("<DIV>") == "<div>"
    assert aligned_lower("caf\u00c9") == "caf\u00e9"
    for s in ("\u0130", "\u0131", "\u017f", "\u212a"):
        assert aligned_lower("<p>" + s) is None


@pytest.mark.parametrize("text", ["a\x00b\x08c\td\ne\x0bf\x0cg\rh\x0ei\x1fj\x7f", "\u00e9\x01\x1f\u2014\t\x05"])
def test_strip_controls_equals_the_regex(text):
    assert strip_controls(text) == re.sub(r"[\x00-\x08\x0e-\x1f]", "", text)


@pytest.mark.parametrize("html", [
    "<STYLE>.a{}</style><style type='x'>b</style><styles><style",
    "<Style\n media=print>x</Style><p>\u00e9</p><style>y</style>",
    "<p>\u017f</p><\u017ftyle>x</style>",
])
def test_style_tags_found_as_the_regex_finds_them(html):
    want = [m.span() for m in _STYLE_OPEN_RE.finditer(html)]
    assert [m.span() for m in _style_open_tags(html, aligned_lower(html))] == want


# --- numbers --------------------------------------------------------------------

def test_number_matches_from_digits_equal_finditer_on_random_text():
    rng = random.Random(7)
    alphabet = "0123456789,.$£€()%-−– abcUS$KMBmillion\u0663\u00a0"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        want = [m.span() for m in _NUMBER_RE.finditer(text)]
        assert [m.span() for m in _iter_number_matches(text)] == want, text


def test_strip_markers_with_stray_and_clean_markers():
    clean = "a \x01-6|ixt:num-dot-decimal\x021,234\x03 b \x010|\x02(5)\x03"
    text, hints = strip_markers(clean)
    assert text == "a 1,234 b (5)"
    assert [(h.start, h.end, h.scale, h.fmt) for h in hints] == [(2, 7, -6, "ixt:num-dot-decimal"), (10, 13, 0, "")]
    # strays (a lone \x02, an extra \x03) are dropped everywhere, spans still right
    text, hints = strip_markers("x\x02y \x013|\x024\x035\x03 z\x03")
    assert text == "xy 45 z"
    assert [(h.start, h.end, h.scale) for h in hints] == [(3, 4, 3)]


def test_format_tagged_slice_equals_format_tagged_of_the_slice():
    text = "Revenue was $1,234 million in 2024, up 12% from $1,100 million."
    start, end = 12, 47
    nums = [n for n in find_numbers(text) if start <= n.start and n.end <= end]
    assert [n.raw for n in nums] == ["$1,234 million", "2024", "12%"]
    local = [replace(n, start=n.start - start, end=n.end - start) for n in nums]
    tagged, spans = format_tagged_slice(text, start, end, nums)
    assert (tagged, spans) == format_tagged(text[start:end], local)
    assert tagged.endswith("<number>12%</number> from")


# --- inline XBRL text -----------------------------------------------------------

_XHTML = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html [<!ENTITY custom "CUSTOM">]>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:ix="http://www.xbrl.org/2013/inlineXBRL"
      xmlns:xbrli="http://www.xbrl.org/2003/instance" xmlns:iso4217="http://www.xbrl.org/2003/iso4217"
      xmlns:us-gaap="http://fasb.org/us-gaap/2024" xmlns:ixt="http://www.xbrl.org/inlineXBRL/transformation/2020">
<body>
<div style="display:none"><ix:header><ix:resources>
 <xbrli:context id="c1"><xbrli:entity><xbrli:identifier scheme="http://www.sec.gov/CIK">0000000001</xbrli:identifier>
 </xbrli:entity><xbrli:period><xbrli:instant>2024-12-31</xbrli:instant></xbrli:period></xbrli:context>
 <xbrli:unit id="u1"><xbrli:measure>iso4217:USD</xbrli:measure></xbrli:unit>
</ix:resources></ix:header></div>
<ix:nonNumeric name="us-gaap:PolicyTextBlock" contextRef="c1" continuedAt="k1"><div><p>First<!-- a comment -->part</p>
<table><tr><td>cell<b>bold</b></td><td>two</td></tr></table>Tail<?pi data?>text &amp; more &custom; end
<ix:exclude>Page 12</ix:exclude>after<DIV>upper</DIV><span>in<br/>line</span><![CDATA[cdata]]>
<ix:nonFraction name="us-gaap:Revenues" contextRef="c1" unitRef="u1" decimals="-6" scale="6"
  format="ixt:num-dot-decimal">1,234</ix:nonFraction></div></ix:nonNumeric>
<p>between</p>
<ix:continuation id="k1"><p>continued<ix:exclude><p>skipped</p></ix:exclude>here</p><h2>head</h2></ix:continuation>
<ix:nonFraction name="us-gaap:Assets" contextRef="c1" unitRef="u1" decimals="0" format="ixt:num-dot-decimal">5<!--x-->6</ix:nonFraction>
</body></html>"""


def _texts(html: str, fast: bool) -> list[str]:
    root, names = xbrl._parse(html)
    ex = xbrl._Extractor(root, names)
    ex.scan()
    if fast:
        ex._use_fast_text()
        assert ex._fast_text is not None
    return [ex.text_of(el, el.get("continuedAt")) for el in ex.fact_elements]


def test_fast_fact_text_equals_the_reference_walk():
    fast, ref = _texts(_XHTML, True), _texts(_XHTML, False)
    assert fast == ref
    # comments, PIs, entity references and ix:exclude add nothing; blocks add a space
    assert ref[0] == "Firstpart cellbold two Tailtext & more end after upper in linecdata 1,234 continuedhere head"
    assert ref[-1] == "56"


def test_fast_fact_text_is_refused_for_a_fact_inside_an_exclude():
    html = _XHTML.replace("<ix:exclude>Page 12</ix:exclude>",
                          '<ix:exclude><ix:nonFraction name="us-gaap:X" contextRef="c1" unitRef="u1" '
                          'decimals="0">7</ix:nonFraction></ix:exclude>')
    root, names = xbrl._parse(html)
    ex = xbrl._Extractor(root, names)
    ex.scan()
    ex._use_fast_text()
    assert ex._fast_text is None  # falls back to the reference walk
    assert xbrl.extract_facts(html).facts  # and still reads the facts


def test_fast_fact_text_in_html_parser_mode():
    html = _XHTML.replace("<?xml", "<broken><?xml").replace('<!DOCTYPE html [<!ENTITY custom "CUSTOM">]>', "")
    root, names = xbrl._parse(html)
    assert not names.xml
    assert _texts(html, True) == _texts(html, False)


def test_positioned_layout_check_is_blind_to_case_like_its_regex():
    from etl.layout import MIN_ABSOLUTE, _maybe_positioned
    spans = "".join(f'<div style="POSITION:FIXED;left:{i}px;top:0">w{i}</div>' for i in range(MIN_ABSOLUTE + 2))
    assert _maybe_positioned(f"<html><body>{spans}</body></html>")
    mixed = spans.replace("FIXED", "Fixed")
    assert _maybe_positioned(f"<html><body>{mixed}</body></html>")
    assert not _maybe_positioned("<html><body>" + "<p>fixed costs</p>" * 3 + "</body></html>")


# --- round 2: one lower-case copy per document, parse shortcuts -------------------

_IX_HINT_CASES = [
    "<html><body><IX:Header></IX:Header></body></html>",
    "<p>a</p><ix:headerx>no</ix:headerx><ix:header_>no</ix:header_>",
    "<p>a</p><ix:headerx>no</ix:headerx><ix:header>yes",
    "<ix:nonFraction",                               # the tag at the very end
    "<ix:nonnumeric\u00e9",                          # a non-ASCII letter continues the name
    "<ix:nonnumeric\u00a0x",                         # a no-break space ends it
    "xmlns:ix='http://www.XBRL.org/2013/inlineXBRL'",
    "http://www.xbrl.org/2008/inlinexbrl",
    "xbrl.org/2010/inlinexbrl <ix:foot>",
    "<p>plain \u0130stanbul <IX:HEADER></p>",        # not aligned: the regex decides
]


@pytest.mark.parametrize("html", _IX_HINT_CASES)
def test_inline_xbrl_check_on_the_lower_case_copy_equals_the_regex(html):
    want = xbrl._IX_HINT.search(html) is not None
    assert xbrl.is_inline_xbrl(html, aligned_lower(html)) == want
    assert xbrl.is_inline_xbrl(html) == want


def _table_context_reference(caption: str, table: str):
    """table_context as it was: case-insensitive regexes on the text itself."""
    from etl.numbers import _SCALE_OF, _SHARES_SCALE_RE, SCALE_CAPTION_RE, TableContext

    text = caption + "\n" + table
    lowered = text.lower()
    has = any(w in lowered for w in ("thousand", "million", "billion", "000"))
    m = SCALE_CAPTION_RE.search(text) if has else None
    scale = 0
    if m:
        word = next((g for g in m.groups() if g), None)
        scale = _SCALE_OF[word.lower()] if word else 3
    s = _SHARES_SCALE_RE.search(text) if has else None
    share_scale = _SCALE_OF[s.group(1).lower()] if s else None
    currency = next((c for sym, c in (("$", "USD"), ("£", "GBP"), ("€", "EUR")) if sym in text), None)
    if currency is None and re.search(r"\bdollars\b", text, re.IGNORECASE):
        currency = "USD"
    return TableContext(scale=scale, currency=currency, share_scale=share_scale)


@pytest.mark.parametrize("caption,table", [
    ("(In MILLIONS, except per share amounts)", "2024 2023"),
    ("Dollars In Thousands; Shares in Millions", "Revenue"),
    ("(\u00a3\u2019000)", "\u20ac in thousands"),
    ("Amounts in U.S. DOLLARS", "2024"),
    ("\u0130n millions", "Total"),                                   # not aligned: reference path
    ("amounts in thousan\u212a", "Shares reflected in MILLIONS"),     # Kelvin sign: reference path
    ("nothing here", "no scale 2024"),
    ("(000's)", "'000 USD"),
])
def test_table_context_on_the_lower_case_copy_equals_the_case_blind_regexes(caption, table):
    from etl.numbers import table_context

    assert table_context(caption, table) == _table_context_reference(caption, table)


@pytest.mark.parametrize("html", [
    "<p>a\x01b</p><DIV>c<BR>d</DIV><!-- PAGE BREAK --><p>e</p>",          # controls dropped first
    "<p>caf\u00e9 \u00a3 1,234</p><Table><tr><td>$</td><td>5</td></tr></Table>",
    "<p>\u0130stanbul\x02</p><div>x</div>",                                # no aligned copy
])
def test_blocks_with_a_shared_lower_case_copy_equal_blocks_without(html):
    from etl.layout import blocks_if_positioned
    from etl.sanitize import html_to_blocks

    low = aligned_lower(html)
    assert html_to_blocks(html, low) == html_to_blocks(html)
    assert blocks_if_positioned(html, low) == blocks_if_positioned(html)


def _strip_markers_reference(text: str):
    """strip_markers without its one-marker shortcut (the general loop)."""
    from etl.numbers import _MARKER_RE, _STRAY_MARKERS, Hint

    if "\x01" not in text:
        return (_STRAY_MARKERS.sub("", text) if "\x03" in text else text), []
    out, hints, pos, length = [], [], 0, 0
    for m in _MARKER_RE.finditer(text):
        before = _STRAY_MARKERS.sub("", text[pos:m.start()])
        out.append(before)
        length += len(before)
        shown = _STRAY_MARKERS.sub("", m.group(2))
        scale_s, _, fmt = m.group(1).partition("|")
        try:
            scale = int(scale_s) if scale_s.strip() else 0
        except ValueError:
            scale = None
        hints.append(Hint(length, length + len(shown), scale, fmt.lower()))
        out.append(shown)
        length += len(shown)
        pos = m.end()
    out.append(_STRAY_MARKERS.sub("", text[pos:]))
    return "".join(out), hints


@pytest.mark.parametrize("text", [
    "\x01-6|IXT:num-dot-decimal\x021,234\x03",   # the one-marker cell
    "\x01x|\x02(5)\x03",                         # a scale that is no integer
    "\x01 |fmt\x02\x03",                         # empty shown text, blank scale
    "\x013\x03|\x024\x03",                       # \x03 inside the head: not one clean marker
    "\x013|\x024\x025\x03",                      # a stray \x02 in the shown text
    "$\x016|\x021\x03",                          # text before the marker
    "\x016|\x021\x03\x016|\x022\x03",            # two markers
])
def test_strip_markers_shortcut_equals_the_general_loop(text):
    assert strip_markers(text) == _strip_markers_reference(text)


def test_block_marks_equal_the_substitutions_on_random_tag_soup():
    """The lower-case scan groups the block names by first letter; on any mix of
    tag fragments it must mark exactly what the three substitutions mark."""
    names = ("p pre pr div di dl dt dd h1 h6 h7 hr head header li ul ol blockquote section article footer center "
             "address figure figur figcaption caption form fieldset nav aside main table tables br span td tr "
             "b i a abbr").split()
    bits = ["<", "</", "<!--", " page break -->", ">", " ", "x", "1", "_", "-", "\u00e9", "P", "DIV", "Br"]
    rng = random.Random(3)
    for _ in range(3000):
        html = "".join(rng.choice(bits + names) for _ in range(rng.randint(1, 14)))
        assert _mark_blocks_in_source(html) == _marks_reference(html), html


# --- round 3: date gate, table grids and nested tables -------------------------

def test_dates_need_a_comma_year_so_it_may_gate_the_month_scan():
    """find_numbers looks for month names only in text with a ", <year>": every
    date _find_dates returns starts from one, so the gate drops no date."""
    from etl.numbers import _COMMA_YEAR_RE, _find_dates

    bits = ["January", "Sept", "Dec.", " ", "  ", ",", ", ", "28", "1", "2024", "1999", "20245", "x", "\n", "May"]
    rng = random.Random(11)
    for _ in range(5000):
        text = "".join(rng.choice(bits) for _ in range(rng.randint(1, 10)))
        if _COMMA_YEAR_RE.search(text) is None:
            assert _find_dates(text) == [], text
    text = "On September 28, 2024 and Dec. 1, 1999, but not Jan 2024 or 2024, May"
    assert [n.raw for n in find_numbers(text) if n.kind == "date"] == ["September 28, 2024", "Dec. 1, 1999"]


def _build_grid_reference(rows):
    """build_grid as it was: a wide cell's first kept column found by a scan of its span."""
    from etl.tables import MAX_GRID_CELLS, _has_visible_text, _merge_symbols, _place

    rows = [r for r in rows if r]
    if not rows:
        return []
    placed, width = _place(rows)
    if width * len(rows) > MAX_GRID_CELLS:
        return [[" ".join(c[0] for c in row)] for row in placed if row]
    for row in placed:
        if len(row) > 1:
            _merge_symbols(row)
    nonempty = [cell for row in placed for cell in row if _has_visible_text(cell[0])]
    keep = [False] * width
    wide = []
    for cell in nonempty:
        if cell[3] == 1:
            keep[cell[2]] = True
        else:
            wide.append(cell)
    for cell in wide:
        if not any(keep[cell[2]:cell[2] + cell[3]]):
            keep[cell[2]] = True
    kept_index, n_kept = [-1] * width, 0
    for c in range(width):
        if keep[c]:
            kept_index[c] = n_kept
            n_kept += 1
    lines = [None] * len(rows)
    for text, row, col, colspan, rowspan in nonempty:
        first = next(kept_index[c] for c in range(col, min(col + colspan, width)) if keep[c])
        for r in range(row, row + rowspan):
            if lines[r] is None:
                lines[r] = [""] * n_kept
            if not lines[r][first]:
                lines[r][first] = text.strip()
    return [line for line in lines if line is not None]


def test_build_grid_first_kept_column_lookup_equals_the_span_scan():
    from etl.tables import build_grid

    texts = ["", "", "", "x", "12", "$", ")", "%", "Label", "\x016|\x02\x03", "\x010|\x025\x03"]
    rng = random.Random(7)
    for _ in range(3000):
        rows = [[(rng.choice(texts), rng.choice([1, 1, 1, 2, 3, 0, 5]), rng.choice([1, 1, 1, 2, 0, 4]))
                 for _ in range(rng.randint(0, 6))] for _ in range(rng.randint(0, 6))]
        assert build_grid([list(r) for r in rows]) == _build_grid_reference([list(r) for r in rows]), rows


def test_tables_told_of_nested_tables_equal_tables_that_query_for_them():
    """_extract_tables tells _table_rows which outer tables hold a nested one; the
    css query it replaces must give the same rows on nested, doubly nested and
    sibling tables."""
    from selectolax.lexbor import LexborHTMLParser

    from etl.sanitize import _closest_table, _extract_tables, _table_rows
    from etl.tables import build_grid

    html = ("<table><tr><td>a</td><td><table><tr><td>in1</td><td><table><tr><td>deep</td></tr></table></td>"
            "</tr></table></td></tr><tr><td>b</td><td>2</td></tr></table><p>mid</p>"
            "<table><tr><td colspan=2>flat</td></tr><tr><td>1</td><td>2</td></tr></table>"
            "<div><table><tr><th>h</th></tr><tr><td><div><table><tr><td>x</td></tr></table></div></td></tr>"
            "</table></div>")

    def reference(tree):
        tables = tree.css("table")
        outer = [t for t in tables if _closest_table(t) is None]
        for t in tables:
            if _closest_table(t) is not None:
                for cell in t.css("td,th"):
                    cell.insert_after(" ")
        return [build_grid(_table_rows(t)) for t in outer]

    want = reference(LexborHTMLParser(html))
    got = _extract_tables(LexborHTMLParser(html).css("table"))
    assert got == want
    assert got[0][0] == ["a", "in1 deep"] and got[1] == [["flat", ""], ["1", "2"]]
