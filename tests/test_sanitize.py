"""HTML -> blocks: what is dropped, what is kept, and in which order."""
from __future__ import annotations

from etl.documents import document_text
from etl.sanitize import TableBlock, TextBlock, html_to_blocks


def blocks_of(body: str) -> list:
    return html_to_blocks(f"<html><body>{body}</body></html>")


def text_of(body: str) -> str:
    return document_text(html_to_blocks(f"<html><head><title>T</title></head><body>{body}</body></html>"))[0]


def test_hidden_content_is_dropped():
    body = (
        "<div style='display:none'><ix:header><ix:hidden>secret 123</ix:hidden></ix:header></div>"
        "<ix:header>also hidden</ix:header>"
        "<div style='DISPLAY: NONE'>gone</div><script>var x = 1;</script><style>p {}</style>"
        "<p>Visible text.</p>"
    )
    assert text_of(body) == "Visible text."


def test_blocks_keep_paragraph_structure_and_inline_spans_join():
    body = "<div><span>Net </span><span>sales</span></div><p>Second&#160;&#160;para</p>Loose<div>tail</div>"
    assert text_of(body) == "Net sales\n\nSecond para\n\nLoose\n\ntail"


def test_br_is_a_line_break_inside_a_block():
    assert text_of("<p>line one<br>line two</p>") == "line one\nline two"


def test_page_numbers_and_running_footers_before_page_breaks_are_dropped():
    bodies = ["Revenue grew.", "Costs fell.", "Margins rose.", "Cash built up."]
    pages = []
    for i, body in enumerate(bodies, 1):
        pages.append(f"<p>Table of Contents</p><p>{body}</p><p>Acme Corp | 2024 Form 10-K | {i}</p>"
                     f"<hr style='page-break-after:always'/>")
    pages.append("<p>Closing words.</p><div style='text-align:center'>17</div><div style='page-break-before: always'></div><p>Next.</p>")
    out = text_of("".join(pages))
    assert "Form 10-K |" not in out
    assert out.count("Table of Contents") == 1  # running header after each break goes
    assert "\n\n17\n\n" not in out
    assert out.startswith("Table of Contents\n\nRevenue grew.\n\nCosts fell.\n\nMargins rose.\n\nCash built up.")
    assert out.endswith("Closing words.\n\nNext.")


def test_a_number_only_paragraph_not_before_a_page_break_is_kept():
    assert text_of("<p>Total</p><p>17</p><p>more</p>") == "Total\n\n17\n\nmore"


def test_uppercase_old_html():
    html = "<HTML><BODY><P ALIGN=CENTER><B>FORM 10-K</B><P>Revenue was $5.1 million.<TABLE><TR><TD>A<TD>1</TABLE></BODY></HTML>"
    blocks = html_to_blocks(html)
    assert isinstance(blocks[0], TextBlock) and blocks[0].text == "FORM 10-K"
    assert isinstance(blocks[-1], TableBlock) and blocks[-1].grid == [["A", "1"]]


def test_inline_xbrl_values_become_hinted_numbers():
    body = ("<p>Revenue was $<ix:nonFraction name='us-gaap:Revenues' scale='9' contextRef='c'>2.3</ix:nonFraction>"
            " billion.</p>")
    text, numbers, _ = document_text(blocks_of(body))
    assert text == "Revenue was $2.3 billion."
    assert [(n.raw, n.value) for n in numbers] == [("$2.3 billion", 2.3e9)]


def test_nested_inline_xbrl_facts_keep_one_clean_number():
    body = ("<p><ix:nonFraction name='a' scale='6' contextRef='c1'><ix:nonFraction name='a' scale='6' "
            "contextRef='c2'>300,000</ix:nonFraction></ix:nonFraction> shares authorized</p>")
    text, numbers, _ = document_text(blocks_of(body))
    assert text == "300,000 shares authorized"
    assert [(n.raw, n.value) for n in numbers] == [("300,000", 300_000e6)]


def test_a_table_wrapped_in_a_fact_keeps_its_cells_apart():
    # Invalid inline XBRL (a fact's content is text), but a parser meets it: the table
    # must survive as a table, not fuse its cells into one value "78".
    body = ("<p>Before</p><ix:nonFraction name='a' scale='0' contextRef='c'><table>"
            "<tr><td>Revenue</td><td>7</td></tr><tr><td>Cost</td><td>8</td></tr></table></ix:nonFraction>"
            "<p>After</p>")
    blocks = blocks_of(body)
    assert [type(b) for b in blocks] == [TextBlock, TableBlock, TextBlock]
    assert blocks[1].grid == [["Revenue", "7"], ["Cost", "8"]]
    text, numbers, _ = document_text(blocks)
    assert [n.value for n in numbers] == [7, 8]
    assert "\x03" not in text and "\x01" not in text


def test_a_fact_wrapped_around_paragraphs_leaves_them_as_paragraphs():
    body = "<ix:nonFraction name='a' scale='3' contextRef='c'><div>7</div><div>8</div></ix:nonFraction><p>After</p>"
    blocks = blocks_of(body)
    assert [b.text for b in blocks] == ["7", "8", "After"]


def test_a_footnote_mark_inside_a_fact_is_not_part_of_its_value():
    body = ("<p>Revenue <ix:nonFraction name='a' scale='6' contextRef='c'>1,234<sup>(1)</sup></ix:nonFraction>"
            " in total</p>")
    text, numbers, _ = document_text(blocks_of(body))
    assert text == "Revenue 1,234 in total"
    assert [(n.raw, n.value) for n in numbers] == [("1,234", 1234e6)]
