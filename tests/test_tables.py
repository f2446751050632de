"""Each table rule on small handwritten HTML (the rules are listed in etl/__init__.py)."""
from __future__ import annotations

from etl.sanitize import TableBlock, html_to_blocks
from etl.tables import RawCell, build_grid


def grid_of(table_html: str) -> list[list[str]]:
    blocks = [b for b in html_to_blocks(f"<html><body>{table_html}</body></html>") if isinstance(b, TableBlock)]
    assert len(blocks) == 1
    return blocks[0].grid


def test_currency_cell_merges_into_next_value():
    g = grid_of("<table><tr><td>Net sales</td><td>$</td><td>391,035</td><td></td></tr></table>")
    assert g == [["Net sales", "$391,035"]]


def test_closing_parenthesis_and_percent_merge_into_previous_value():
    g = grid_of(
        "<table><tr><td>Other</td><td>$</td><td>(1,234</td><td>)</td></tr>"
        "<tr><td>Margin</td><td></td><td>46.2</td><td>%</td></tr></table>"
    )
    assert g == [["Other", "$(1,234)"], ["Margin", "46.2%"]]


def test_colspan_header_stands_in_first_kept_column():
    g = grid_of(
        "<table>"
        "<tr><td></td><td colspan='6'>Years ended</td></tr>"
        "<tr><td></td><td colspan='3'>2024</td><td colspan='3'>2023</td></tr>"
        "<tr><td>Revenue</td><td>$</td><td>10</td><td></td><td>$</td><td>9</td><td></td></tr>"
        "</table>"
    )
    assert g == [["", "Years ended", ""], ["", "2024", "2023"], ["Revenue", "$10", "$9"]]


def test_rowspan_label_repeats_on_each_row():
    g = grid_of(
        "<table><tr><td rowspan='2'>Segment A</td><td>Q1</td><td>5</td></tr>"
        "<tr><td>Q2</td><td>6</td></tr></table>"
    )
    assert g == [["Segment A", "Q1", "5"], ["Segment A", "Q2", "6"]]


def test_empty_spacer_rows_and_columns_are_dropped():
    g = grid_of(
        "<table><tr><td>&#160;</td><td></td><td> </td></tr>"
        "<tr><td>A</td><td></td><td>1</td></tr>"
        "<tr><td></td><td></td><td></td></tr>"
        "<tr><td>B</td><td></td><td>2</td></tr></table>"
    )
    assert g == [["A", "1"], ["B", "2"]]


def test_footnote_marker_in_sup_is_dropped_but_cell_kept():
    g = grid_of("<table><tr><td>Revenue<sup>(1)</sup></td><td>5</td></tr></table>")
    assert g == [["Revenue", "5"]]


def test_cell_text_whitespace_and_nbsp_collapse():
    g = grid_of("<table><tr><td><div>Total&#160;&#160;net</div>\n  <span>sales</span></td><td>1</td></tr></table>")
    assert g == [["Total net sales", "1"]]


def test_nested_table_is_flattened_into_its_cell():
    g = grid_of("<table><tr><td>Outer</td><td><table><tr><td>in</td><td>ner</td></tr></table></td></tr></table>")
    assert g == [["Outer", "in ner"]]


def test_hostile_colspan_is_clamped():
    rows = [[RawCell("a", colspan=10_000)], [RawCell("b"), RawCell("c")]]
    g = build_grid(rows)
    assert g == [["a", ""], ["b", "c"]]


def test_rowspan_zero_spans_to_table_end():
    rows = [[RawCell("L", rowspan=0), RawCell("1")], [RawCell("2")], [RawCell("3")]]
    assert build_grid(rows) == [["L", "1"], ["L", "2"], ["L", "3"]]


def test_table_block_renders_rows_with_pipes_and_scales_from_caption():
    from etl.documents import document_text
    text, numbers, _ = document_text(html_to_blocks(
        "<p>(in millions)</p><table><tr><td></td><td colspan='2'>2024</td></tr>"
        "<tr><td>Revenue</td><td>$</td><td>5</td></tr></table>"
    ))
    assert text == "(in millions)\n\n| 2024\nRevenue | $5"
    assert [(n.raw, n.value, n.kind) for n in numbers] == [("2024", 2024.0, "year"), ("$5", 5e6, "amount")]
    assert [text[n.start:n.end] for n in numbers] == ["2024", "$5"]


def _values(html: str) -> list[tuple[str, float]]:
    from etl.documents import document_text
    _, numbers, _ = document_text(html_to_blocks(html))
    return [(n.raw, n.value) for n in numbers if n.kind != "year"]


def test_a_scale_phrase_in_one_columns_own_header_scales_that_column_only():
    # wmt's share repurchases: only the investment column is in billions
    values = _values(
        "<table><tr><td>Fiscal Period</td><td>Total Number of Shares Repurchased</td>"
        "<td>Average Price Paid per Share</td><td>Total Investment (in billions)</td></tr>"
        "<tr><td>November</td><td>4,701,501</td><td>$86.55</td><td>$13.1</td></tr></table>")
    assert values == [("4,701,501", 4701501.0), ("$86.55", 86.55), ("$13.1", 13.1e9)]


def test_a_scale_phrase_over_all_columns_or_in_the_label_column_scales_the_whole_table():
    spanned = _values(  # the phrase in a colspan header: its text stands in the first column only
        "<table><tr><td></td><td colspan='2'>Year ended (in millions)</td></tr>"
        "<tr><td></td><td>2024</td><td>2023</td></tr>"
        "<tr><td>Revenue</td><td>5</td><td>4</td></tr></table>")
    assert spanned == [("5", 5e6), ("4", 4e6)]
    corner = _values(
        "<table><tr><td>(In millions)</td><td>Products</td><td>Services</td></tr>"
        "<tr><td>Revenue</td><td>5</td><td>4</td></tr></table>")
    assert corner == [("5", 5e6), ("4", 4e6)]
    every = _values(
        "<table><tr><td></td><td>Cost (in millions)</td><td>Value (in millions)</td></tr>"
        "<tr><td>Land</td><td>5</td><td>4</td></tr></table>")
    assert every == [("5", 5e6), ("4", 4e6)]
