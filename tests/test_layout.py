"""Reading order from CSS positions (etl/layout.py): handwritten layouts and rendered real accounts."""
from __future__ import annotations

import random

import pytest

from conftest import SHARED_DATA
from etl.documents import document_text
from etl.layout import blocks_if_positioned, is_positioned_layout, positioned_blocks
from etl.sanitize import TableBlock, TextBlock, html_to_blocks
from jobs.bench_layout import cell_accuracy, read_accounts, render_positioned, token_tau, tokens, true_width

CH_DIR = SHARED_DATA / "companies_house"


def box(x: float, y: float, text: str, unit: str = "px", fs: str = "12px", extra: str = "") -> str:
    return f'<div style="position:absolute;left:{x}{unit};top:{y}{unit};font-size:{fs}{extra}">{text}</div>'


def words(x: float, y: float, text: str, fs: float = 12.0, jitter: float = 0.0, rng: random.Random | None = None) -> list[str]:
    """One element per word, advancing by its Helvetica width and a space."""
    out = []
    for w in text.split():
        dx = rng.uniform(-jitter, jitter) if rng else 0.0
        dy = rng.uniform(-jitter, jitter) if rng else 0.0
        out.append(box(round(x + dx, 1), round(y + dy, 1), w, fs=f"{fs}px"))
        x += true_width(w + " ", fs)
    return out


def page(elements: list[str], seed: int = 0) -> str:
    els = list(elements)
    random.Random(seed).shuffle(els)
    return "<html><head><title>t</title></head><body>" + "".join(els) + "</body></html>"


def text_of(html: str) -> str:
    return document_text(positioned_blocks(html))[0]


# --------------------------------------------------------------------------- handwritten layouts

def test_lines_words_and_paragraphs_from_shuffled_word_boxes_with_jitter():
    rng = random.Random(3)
    els = []
    els += words(50, 100, "The company is a private company", jitter=2, rng=rng)
    els += words(50, 115, "limited by shares and registered", jitter=2, rng=rng)
    els += words(50, 130, "in England.", jitter=2, rng=rng)
    els += words(50, 160, "Its registered office is in Leeds.", jitter=2, rng=rng)  # a blank line before it
    blocks = positioned_blocks(page(els, seed=7))
    assert [b.text for b in blocks] == [
        "The company is a private company limited by shares and registered in England.",
        "Its registered office is in Leeds.",
    ]


def test_one_element_per_line_and_indentation_starts_a_block():
    els = [box(50, 100, "1. Accounting policies"),
           box(70, 115, "These accounts are prepared under FRS 102 Section 1A"),
           box(70, 130, "and the Companies Act 2006."),
           box(50, 145, "2. Employees")]
    assert [b.text for b in positioned_blocks(page(els))] == [
        "1. Accounting policies",
        "These accounts are prepared under FRS 102 Section 1A and the Companies Act 2006.",
        "2. Employees",
    ]


def test_two_text_columns_are_read_column_by_column():
    left = ["Alpha one two three four five six", "seven eight nine ten eleven twelve",
            "thirteen fourteen fifteen end.", None, "Beta paragraph starts here and runs",
            "on for a while before it ends."]
    right = ["Gamma column two begins with this", "line and continues with more words",
             "until the paragraph finally stops.", None, "Delta second paragraph in column",
             "two is here and ends right here."]
    els = [box(50, 60, "A title that runs across both of the columns below", fs="16px")]
    for i, (a, b) in enumerate(zip(left, right)):
        if a:
            els.append(box(50, 100 + 15 * i, a))
        if b:
            els += words(300, 100 + 15 * i, b)  # the right column one word per element
    blocks = positioned_blocks(page(els, seed=2))
    assert [b.text for b in blocks] == [
        "A title that runs across both of the columns below",
        "Alpha one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen end.",
        "Beta paragraph starts here and runs on for a while before it ends.",
        "Gamma column two begins with this line and continues with more words until the paragraph finally stops.",
        "Delta second paragraph in column two is here and ends right here.",
    ]


def test_columns_with_offset_baselines():
    els = []
    for i, t in enumerate(["Left column text line one here", "and line two of the left side", "ends on line three now."]):
        els.append(box(50, 100 + 15 * i, t))
    for i, t in enumerate(["Right column text starts lower", "and keeps its own line pitch", "until it finally stops."]):
        els.append(box(300, 107 + 17 * i, t))
    assert [b.text for b in positioned_blocks(page(els))] == [
        "Left column text line one here and line two of the left side ends on line three now.",
        "Right column text starts lower and keeps its own line pitch until it finally stops.",
    ]


def test_table_cells_land_in_their_rows_and_columns():
    rows = [("", "2022", "2021"), ("", "£", "£"), ("Fixed assets", "1,300", "1,529"),
            ("Cash at bank and in hand", "214,222", "118,470"), ("Net assets", "", "285,564"),
            ("CAPITAL AND RESERVES", "", "")]
    rng = random.Random(5)
    els = [box(50, 70, "Balance sheet as at 31 December 2022", fs="14px")]
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell:
                els += words([50, 300, 400][c], 100 + 15 * r, cell, jitter=2, rng=rng)
    els.append(box(50, 220, "The notes on pages 3 to 5 form part of these accounts."))
    blocks = positioned_blocks(page(els, seed=4))
    assert isinstance(blocks[0], TextBlock) and isinstance(blocks[2], TextBlock)
    assert blocks[1] == TableBlock([list(r) for r in rows])


def test_table_with_one_element_per_cell_and_a_long_label():
    rows = [("Creditors: amounts falling due within one year", "(44,598)", "(34,955)"),
            ("Debtors", "45,610", "42,050"), ("Total", "1", "2")]
    els = []
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            els.append(box([50, 330, 420][c], 100 + 15 * r, cell))
    assert positioned_blocks(page(els)) == [TableBlock([list(r) for r in rows])]


def test_right_aligned_amounts_under_left_aligned_headers():
    rows = [("", "2023", "2022"), ("Turnover", "1,234,567", "987"), ("Cost of sales", "(45,000)", "-"),
            ("Gross profit", "1,189,567", "987")]
    els = []
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if not cell:
                continue
            if c == 0:
                els.append(box(50, 100 + 15 * r, cell))
            else:  # amounts end at the column's right edge; headers too
                right = [0, 330, 430][c]
                els.append(box(round(right - true_width(cell, 12), 1), 100 + 15 * r, cell))
    assert positioned_blocks(page(els)) == [TableBlock([list(r) for r in rows])]


def test_a_table_continued_on_the_next_page_is_one_table():
    def pg(top: float, rows: list[tuple[str, str]]) -> str:
        inner = "".join(box(40, 50 + 15 * i, a) + box(300, 50 + 15 * i, b) for i, (a, b) in enumerate(rows))
        return f'<div style="position:absolute;top:{top}px;left:0;width:800px;height:1000px">{inner}</div>'
    first = [("Trade debtors", "1,000"), ("Prepayments", "200")]
    second = [("Other debtors", "30"), ("Total", "1,230")]
    html = "<html><body>" + pg(1000, second) + pg(0, first) + "</body></html>"
    assert positioned_blocks(html) == [TableBlock([list(r) for r in first + second])]


def test_overlapping_duplicates_are_drawn_once():
    els = words(50, 100, "Net current assets")
    x_current = 50 + true_width("Net ", 12)
    dup = [box(50.6, 100.3, "Net"), box(round(x_current + 0.7, 1), 100.2, "current", extra=";font-weight:bold")]
    blocks = positioned_blocks(page(els + dup))
    assert [b.text for b in blocks] == ["Net current assets"]


def test_nested_page_containers_add_their_offsets_and_order_the_pages():
    def pg(top: float, lines: list[str]) -> str:
        inner = "".join(box(40, 50 + 15 * i, t) for i, t in enumerate(lines))
        return f'<div class="page" style="position:absolute;top:{top}px;left:0;width:800px;height:1000px">{inner}</div>'
    html = "<html><body>" + pg(2000, ["Third page."]) + pg(0, ["First page."]) + pg(1000, ["Second page."]) + "</body></html>"
    assert text_of(html) == "First page.\n\nSecond page.\n\nThird page."


def test_relative_pages_in_normal_flow_stack():
    def pg(lines: list[str]) -> str:
        inner = "".join(box(40, 50 + 15 * i, t, unit="pt") for i, t in enumerate(lines))
        return f'<div style="position:relative;height:800pt">{inner}</div>'
    html = "<html><body>" + pg(["Page one, line one", "page one, line two."]) + pg(["Page two."]) + "</body></html>"
    assert text_of(html) == "Page one, line one page one, line two.\n\nPage two."


def test_units_em_mm_pt_and_class_rules():
    # The same three lines, written in three units; line 2 positioned by a class rule.
    css = "<style>.p{position:absolute} .l2{left:10mm;top:2.5em}</style>"
    els = ['<span class="p" style="left:37.8px;top:18px;font-size:12px">first</span>',
           '<span class="p l2" style="font-size:12px">second</span>',
           '<span class="p" style="left:28.35pt;top:31.5pt;font-size:9pt">third</span>']
    html = f"<html><head>{css}</head><body>" + "".join(reversed(els)) + "</body></html>"
    assert text_of(html) == "first second third"


def test_bottom_offsets_inside_a_sized_page():
    inner = ('<div style="position:absolute;left:10px;bottom:100px;font-size:12px">lower</div>'
             '<div style="position:absolute;left:10px;bottom:115px;font-size:12px">upper</div>')
    html = f'<html><body><div style="position:relative;height:500px">{inner}</div></body></html>'
    assert text_of(html) == "upper lower"


def test_hidden_content_xbrl_markers_and_flow_text():
    els = [box(50, 100, 'Turnover <ix:nonFraction name="uk:Turnover" scale="3" format="ixt:numdotdecimal">1,234</ix:nonFraction>'),
           box(50, 115, "is stated net of VAT."),
           '<div style="position:absolute;left:50px;top:130px;display:none">secret</div>']
    html = ("<html><body><div style='display:none'><ix:header>header facts</ix:header></div>"
            "<p>Cover note in normal flow.</p>" + "".join(els) + "</body></html>")
    blocks = positioned_blocks(html)
    assert blocks[0] == TextBlock("Cover note in normal flow.")
    assert "\x013|ixt:numdotdecimal\x021,234\x03" in blocks[1].text
    text, numbers, _ = document_text(blocks)
    assert text == "Cover note in normal flow.\n\nTurnover 1,234 is stated net of VAT."
    assert any(n.value == 1_234_000 for n in numbers)


def test_one_element_per_glyph_joins_into_words():
    els, x = [], 50.0
    for ch in "Total 12":
        if ch != " ":
            els.append(box(round(x, 1), 100, ch))
        x += true_width(ch, 12)
    assert text_of(page(els)) == "Total 12"


def test_is_positioned_layout_on_handwritten_html():
    normal = "<html><body>" + "".join(f"<p>Paragraph {i} of ordinary flowing text.</p>" for i in range(30)) + \
        '<img style="position:absolute;top:0;left:0" src="logo.png">' + "</body></html>"
    assert not is_positioned_layout(normal)
    mostly_flow = "<html><body>" + "<p>Long flowing text here. </p>" * 50 + "".join(
        box(10, 10 * i, "x") for i in range(6)) + "</body></html>"
    assert not is_positioned_layout(mostly_flow)
    positioned = page([box(50, 100 + 15 * i, f"line {i} of positioned text") for i in range(10)])
    assert is_positioned_layout(positioned)
    assert positioned_blocks("<html><body></body></html>") == []
    assert blocks_if_positioned(normal) is None and blocks_if_positioned(mostly_flow) is None
    assert blocks_if_positioned(positioned) == positioned_blocks(positioned)


# --------------------------------------------------------------------------- real accounts, rendered

@pytest.fixture(scope="module")
def accounts() -> list[tuple[str, str]]:
    if not CH_DIR.is_dir():
        pytest.skip(f"Companies House data not found at {CH_DIR} (set FILINGSTORE_SHARED_DATA)")
    docs = read_accounts(CH_DIR)
    if not docs:
        pytest.skip(f"no accounts in {CH_DIR}")
    return docs


def test_real_accounts_are_not_positioned(accounts):
    for name, html in accounts:
        assert not is_positioned_layout(html), name


@pytest.mark.parametrize("mode", ["word", "line"])
def test_rendered_real_accounts_read_back_in_order(accounts, mode):
    found = total = 0
    for i, (name, html) in enumerate(accounts):
        original = html_to_blocks(html)
        r = render_positioned(original, mode, seed=i)
        assert is_positioned_layout(r.html), name
        recovered = positioned_blocks(r.html)
        tau, cover = token_tau(tokens(original), tokens(recovered))
        assert tau >= 0.98 and cover >= 0.99, (name, mode, tau, cover)
        # The DOM order really is scrambled: read as flow HTML it is not in order.
        dom_tau, _ = token_tau(tokens(original), tokens(html_to_blocks(r.html)))
        assert dom_tau < 0.9, (name, dom_tau)
        f, t = cell_accuracy(original, recovered)
        found, total = found + f, total + t
    assert total and found / total >= 0.9, (mode, found, total)


def test_parse_filing_reads_a_positioned_document_in_reading_order():
    """The layout path is wired into the ETL: numbers and text come out in reading order."""
    from pathlib import Path
    from etl.documents import parse_filing
    boxes = [  # DOM order shuffled; reading order is by top, then left
        (40, 10, "Turnover"), (10, 10, "Abridged"), (10, 80, "accounts"), (40, 200, "£12,500"),
        (70, 10, "Creditors"), (70, 200, "(3,100)"), (10, 170, "2023"),
    ]
    divs = "".join(f'<div style="position:absolute;top:{t}px;left:{l}px;font-size:12px">{w}</div>'
                   for t, l, w in boxes)
    html = f"<html><body><div style='position:relative'>{divs}</div></body></html>".encode()
    doc = parse_filing(html, Path("positioned.html"))
    assert doc.text.index("Abridged") < doc.text.index("Turnover") < doc.text.index("Creditors")
    assert [n.raw for n in doc.numbers] == ["2023", "£12,500", "(3,100)"]
