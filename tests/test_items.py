"""Item segmentation (etl/items.py): handwritten traps, the generator's truth, real 10-Ks."""
from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path

import pytest

from etl.chunking import Span
from etl.documents import WHOLE_DOCUMENT_SECTION, document_text, parse_filing
from etl.items import COVER_SECTION, ITEMS_10K, Section, find_items
from etl.sanitize import html_to_blocks

GOLD_DIR = Path(__file__).parent / "data" / "items"
ORDER_10K = [d.section_id for d in ITEMS_10K]
MDA = "Management’s Discussion and Analysis of Financial Condition and Results of Operations"


def doc(*blocks: str) -> tuple[str, list[Span]]:
    """Document text and block spans, joined as etl.documents does."""
    spans, pos = [], 0
    for b in blocks:
        spans.append(Span(pos, pos + len(b)))
        pos += len(b) + 2
    return "\n\n".join(blocks), spans


def check_invariants(text: str, sections: list[Section]) -> None:
    assert sections, "never no section"
    assert sections[0].start == 0 and sections[-1].end == len(text)
    for a, b in zip(sections, sections[1:]):
        assert a.end == b.start, (a, b)
    assert all(s.start <= s.end for s in sections)
    ids = [s.section_id for s in sections]
    assert len(ids) == len(set(ids)), ids
    assert COVER_SECTION not in ids[1:]


def segment(*blocks: str, form: str | None = "10-K") -> tuple[str, list[Section]]:
    text, spans = doc(*blocks)
    sections = find_items(text, spans, form)
    check_invariants(text, sections)
    return text, sections


def ids_of(sections: list[Section]) -> list[str]:
    return [s.section_id for s in sections]


def sec(sections: list[Section], sid: str) -> Section:
    return next(s for s in sections if s.section_id == sid)


def body(text: str, s: Section) -> str:
    return text[s.start:s.end]


COVER = ("UNITED STATES SECURITIES AND EXCHANGE COMMISSION", "FORM 10-K",
         "ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934",
         "Acme Widgets, Inc.")
PARA = "The Company designs, makes and sells widgets to customers around the world through its own stores."


# --- traps ------------------------------------------------------------------------------

def test_table_toc_is_skipped_and_kept_in_the_cover():
    toc = "\n".join([
        "|  | Page", "PART I |  |", "Item 1. | Business | 3", "Item 1A. | Risk Factors | 9",
        "Item 2. | Properties | 20", "PART II |  |", f"Item 7. | {MDA} | 25",
    ])
    text, s = segment(*COVER, "TABLE OF CONTENTS", toc, "PART I", "Item 1. Business", PARA,
                      "Item 1A. Risk Factors", PARA, "Item 2. Properties", PARA, "PART II", f"Item 7. {MDA}", PARA)
    assert ids_of(s) == ["cover", "1", "1A", "2", "7"]
    assert "TABLE OF CONTENTS" in body(text, s[0]) and toc in body(text, s[0])
    assert body(text, sec(s, "1")).startswith("PART I\n\nItem 1. Business")   # a PART heading opens the item
    assert body(text, sec(s, "7")).startswith("PART II\n\nItem 7.")
    assert sec(s, "1A").title == "Risk Factors"


def test_toc_of_short_blocks_with_page_numbers_is_skipped():
    toc = ["Item 1. Business 3", "Item 1A. Risk Factors 9", "Item 2. Properties 20", "Item 3. Legal Proceedings 21"]
    text, s = segment(*COVER, "Table of Contents", *toc, "Item 1. Business", PARA, "Item 1A. Risk Factors", PARA,
                      "Item 2. Properties", PARA, "Item 3. Legal Proceedings", PARA)
    assert ids_of(s) == ["cover", "1", "1A", "2", "3"]
    assert body(text, sec(s, "1")).startswith("Item 1. Business\n\n" + PARA)
    assert all(t in body(text, s[0]) for t in toc)


def test_toc_of_short_blocks_without_page_numbers_is_skipped():
    # a list of label blocks with nothing but page numbers between them
    toc = ["Item 1. Business", "3", "Item 1A. Risk Factors", "9", "Item 2. Properties", "20"]
    text, s = segment(*COVER, *toc, "Item 1. Business", PARA, "Item 1A. Risk Factors", PARA, "Item 2. Properties", PARA)
    assert ids_of(s) == ["cover", "1", "1A", "2"]
    assert body(text, sec(s, "1")).startswith("Item 1. Business\n\n" + PARA)


def test_toc_split_into_label_and_title_blocks_is_skipped():
    # TOC cells flattened into blocks: "Item 1." then "Business" then the next label
    toc = ["Item 1.", "Business", "Item 1A.", "Risk Factors", "Item 1B.", "Unresolved Staff Comments",
           "Item 2.", "Properties"]
    text, s = segment(*COVER, *toc, "ITEM 1. BUSINESS", PARA, "ITEM 1A. RISK FACTORS", "Not applicable.",
                      "ITEM 1B. UNRESOLVED STAFF COMMENTS", "None", "ITEM 2. PROPERTIES", PARA)
    assert ids_of(s) == ["cover", "1", "1A", "1B", "2"]
    assert body(text, sec(s, "1")).startswith("ITEM 1. BUSINESS")


def test_cross_references_are_not_headings():
    text, s = segment(
        *COVER,
        "Item 1. Business", PARA,
        "See Item 1A — Risk Factors for a discussion of risks, and Part II, Item 7 of this report.",
        "Item 7 of this report discusses our results; Item 8 contains the financial statements.",
        "Item 1A, Risk Factors, describes the risks that could affect our business.",
        "Items 10 through 14 are incorporated by reference from our proxy statement.",
        "Item 5.02 of Form 8-K requires disclosure of the departure of directors.",
        "Item 1A. Risk Factors", PARA,
        "in Part II, Item 7 of this report",
        f"Item 7. {MDA}", PARA,
    )
    assert ids_of(s) == ["cover", "1", "1A", "7"]
    assert "See Item 1A" in body(text, sec(s, "1")) and "Items 10 through 14" in body(text, sec(s, "1"))
    assert body(text, sec(s, "1A")).startswith("Item 1A. Risk Factors")


def test_combined_heading_makes_both_items():
    text, s = segment(*COVER, "Items 1 and 2. Business and Properties", PARA, PARA, "Item 3. Legal Proceedings", PARA)
    assert ids_of(s) == ["cover", "1", "2", "3"]
    one, two = sec(s, "1"), sec(s, "2")
    assert body(text, one).startswith("Items 1 and 2.") and PARA in body(text, one)
    assert two.start == two.end == one.end            # zero-length: no text counted twice
    assert "Properties" in two.title and "Item 1" in two.title
    assert one.title == "Business and Properties"


def test_combined_heading_with_two_labels():
    text, s = segment(*COVER, "ITEM 1. BUSINESS AND ITEM 2. PROPERTIES", PARA, "ITEM 3. LEGAL PROCEEDINGS", PARA)
    assert ids_of(s) == ["cover", "1", "2", "3"]
    assert sec(s, "2").start == sec(s, "2").end == sec(s, "3").start


def test_combined_range_heading():
    text, s = segment(*COVER, "Item 9B. Other Information", "None.",
                      "Items 10 through 14. Directors, Executive Officers, Compensation, Ownership and Fees",
                      "The information required by these items is incorporated by reference to our proxy statement.",
                      "Item 15. Exhibits and Financial Statement Schedules", PARA)
    assert ids_of(s) == ["cover", "9B", "10", "11", "12", "13", "14", "15"]
    assert sec(s, "14").start == sec(s, "14").end == sec(s, "15").start


def test_heading_split_across_blocks():
    text, s = segment(*COVER, "Item 1. Business", PARA, "Item 7.", MDA, PARA, "Item 7A.",
                      "Quantitative and Qualitative Disclosures About Market Risk", PARA)
    assert ids_of(s) == ["cover", "1", "7", "7A"]
    assert body(text, sec(s, "7")).startswith("Item 7.\n\n" + MDA)
    assert sec(s, "7").title == MDA
    assert sec(s, "7A").title.startswith("Quantitative")


def test_heading_split_by_a_line_break_inside_one_block():
    text, s = segment(*COVER, "ITEM 1.\nBUSINESS", PARA, "ITEM 1A.\nRISK FACTORS", PARA)
    assert ids_of(s) == ["cover", "1", "1A"]
    assert sec(s, "1A").title == "RISK FACTORS"


@pytest.mark.parametrize("heading", [
    "ITEM 1A.RISK FACTORS", "Item 1A: Risk Factors", "Item\u00a01A. Risk Factors", "ITEM 1A — RISK FACTORS",
    "Item1A.Risk Factors", "ITEM 1A.    RISK FACTORS", "Item 1A - Risk Factors", "Item 1a. Risk Factors",
    "ITEM 1A. | RISK FACTORS", "PART I, ITEM 1A. RISK FACTORS", "Item 1A.", "ITEM 1A —",
])
def test_odd_spacing_and_case(heading):
    text, s = segment(*COVER, "ITEM 1.BUSINESS", PARA, heading, PARA, "Item10.Directors, Executive Officers and "
                      "Corporate Governance", PARA)
    assert ids_of(s) == ["cover", "1", "1A", "10"]
    assert body(text, sec(s, "1A")).startswith(heading)


def test_heading_line_of_a_multi_line_block():
    text, s = segment(*COVER, "Item 1.\nOur Company\nAcme makes widgets.", PARA, "Item 1A.\nRisk Factors", PARA)
    assert ids_of(s) == ["cover", "1", "1A"]
    assert sec(s, "1").title == "Our Company"


def test_item_9a_t_is_9a():
    text, s = segment(*COVER, "Item 9. Changes in and Disagreements with Accountants", "None.",
                      "ITEM 9A(T). CONTROLS AND PROCEDURES", PARA, "Item 9B. Other Information", "None.")
    assert ids_of(s) == ["cover", "9", "9A", "9B"]
    assert sec(s, "9A").title == "CONTROLS AND PROCEDURES"


def test_headings_without_the_word_item():
    toc = "\n".join(["Business | 3", "Risk Factors | 9", "Properties | 20", f"{MDA} | 25"])
    text, s = segment(*COVER, toc, "Business", PARA, "Risk Factors", PARA, "Properties", PARA, "Legal Proceedings",
                      PARA, MDA, PARA, "Financial Statements and Supplementary Data", PARA)
    assert ids_of(s) == ["cover", "1", "1A", "2", "3", "7", "8"]
    assert body(text, sec(s, "1A")).startswith("Risk Factors\n\n" + PARA)
    assert sec(s, "7").title == MDA


def test_titles_only_toc_of_short_blocks_with_pages_is_skipped():
    text, s = segment(*COVER, "Business 3", "Risk Factors 9", "Properties 20", "Business", PARA, "Risk Factors",
                      PARA, "Properties", PARA)
    assert ids_of(s) == ["cover", "1", "1A", "2"]
    assert body(text, sec(s, "1")).startswith("Business\n\n" + PARA)


INDEX = "\n".join([
    "Item Number | Item | Section in this report",
    "Part I |  | ",
    "Item 1. | Business | Fundamentals of Our Business; Other Key Information",
    "Item 1A. | Risk Factors | Risk Factors and Other Key Information",
    "Item 2. | Properties | Properties and Facilities",
    "Part II |  | ",
    f"Item 7. | {MDA} | Management’s Discussion and Analysis",
    "Item 8. | Financial Statements and Supplementary Data | Financial Statements and Supplemental Details",
    "Item 9. | Changes in and Disagreements with Accountants | Not applicable",
])


def test_cross_reference_index_maps_items_to_report_sections():
    text, s = segment(*COVER, "Form 10-K Cross-Reference Index", INDEX,
                      "Fundamentals of Our Business", PARA, "Management’s Discussion and Analysis", PARA,
                      "Financial Statements and Supplemental Details", PARA, "Risk Factors and Other Key Information",
                      PARA, "Properties and Facilities", PARA)
    # document order (the annual report's), as the filer's index maps it
    assert ids_of(s) == ["cover", "1", "7", "8", "1A", "2"]
    assert body(text, sec(s, "1")).startswith("Fundamentals of Our Business")
    assert INDEX in body(text, s[0])
    assert sec(s, "8").title == "Financial Statements and Supplemental Details"


def test_cross_reference_index_at_the_end():
    text, s = segment(*COVER, "Fundamentals of Our Business", PARA, "Management’s Discussion and Analysis", PARA,
                      "Financial Statements and Supplemental Details", PARA, "Form 10-K Cross-Reference Index", INDEX)
    assert ids_of(s) == ["cover", "1", "7", "8"]
    assert INDEX in body(text, s[-1])


def test_cross_reference_index_without_matching_headings_is_one_section():
    text, s = segment(*COVER, "Form 10-K Cross-Reference Index", INDEX, "Our Year in Review", PARA, PARA)
    assert ids_of(s) == [WHOLE_DOCUMENT_SECTION]


def test_financial_statements_incorporated_from_exhibit_13():
    text, s = segment(*COVER, f"Item 7. {MDA}", "Incorporated by reference to Exhibit 13.",
                      "Item 8. Financial Statements and Supplementary Data",
                      "The information required by this item is incorporated herein by reference to the financial "
                      "statements included in Exhibit 13 to this Form 10-K.",
                      "Item 9. Changes in and Disagreements with Accountants on Accounting and Financial Disclosure",
                      "None.")
    assert ids_of(s) == ["cover", "7", "8", "9"]
    assert "Exhibit 13" in body(text, sec(s, "8"))


def test_heading_and_text_in_one_block():
    long = ("Item 8. Financial Statements and Supplementary Data. The information required by this Item is "
            "incorporated herein by reference to the consolidated financial statements and notes in Exhibit 13 "
            "to this report, which are filed as part of this Annual Report on Form 10-K.")
    text, s = segment(*COVER, f"Item 7. {MDA}", PARA, long, "Item 9. Changes in and Disagreements with Accountants",
                      "None.")
    assert ids_of(s) == ["cover", "7", "8", "9"]
    assert sec(s, "8").title == "Financial Statements and Supplementary Data"
    # a long block that merely starts with a label is no heading
    text, s = segment(*COVER, f"Item 7. {MDA}", PARA, "Item 8. " + PARA * 3, "Item 9. Changes in and Disagreements",
                      "None.")
    assert ids_of(s) == ["cover", "7", "9"]


def test_item_appearing_twice_keeps_the_real_one():
    text, s = segment(
        *COVER, f"Item 7. {MDA}", PARA,
        "Item 8. Financial Statements and Supplementary Data", PARA,
        f"Item 7. {MDA} (continued)", PARA,                    # a running header: not a second Item 7
        "Item 3. Legal Proceedings", PARA,                     # out of order: a reprint, not Part I
        "Item 14. Exhibits, Financial Statement Schedules and Reports on Form 8-K", PARA,
        "Item 14(a)(1): Financial Statements", PARA,           # a sub-heading of Item 14
        "Item 14 (a)(2): Financial Statement Schedules", PARA,
    )
    assert ids_of(s) == ["cover", "7", "8", "14"]
    assert body(text, sec(s, "8")).count(PARA) == 3
    assert "Item 14(a)(1)" in body(text, sec(s, "14"))


def test_old_uppercase_html():
    html = """<HTML><BODY BGCOLOR="white">
<P ALIGN="center"><FONT SIZE="2"><B>FORM 10-K</B></FONT></P>
<P ALIGN="center"><FONT SIZE="2"><B>TABLE OF CONTENTS</B></FONT></P>
<TABLE WIDTH="100%"><TR><TD><FONT SIZE="2">ITEM&nbsp;1.</FONT></TD><TD><FONT SIZE="2">BUSINESS</FONT></TD>
<TD ALIGN="right"><FONT SIZE="2">3</FONT></TD></TR>
<TR><TD><FONT SIZE="2">ITEM&nbsp;2.</FONT></TD><TD><FONT SIZE="2">PROPERTIES</FONT></TD>
<TD ALIGN="right"><FONT SIZE="2">9</FONT></TD></TR>
<TR><TD><FONT SIZE="2">ITEM&nbsp;7.</FONT></TD><TD><FONT SIZE="2">MANAGEMENT'S DISCUSSION AND ANALYSIS OF
FINANCIAL CONDITION AND RESULTS OF OPERATIONS</FONT></TD><TD ALIGN="right"><FONT SIZE="2">12</FONT></TD></TR>
</TABLE>
<P ALIGN="center"><FONT SIZE="2"><B>PART I</B></FONT></P>
<P><FONT SIZE="2"><B>ITEM&nbsp;1.&nbsp;&nbsp;BUSINESS</B></FONT></P>
<P><FONT SIZE="2">THE COMPANY MAKES WIDGETS. SEE ITEM 7 BELOW FOR A DISCUSSION OF
RESULTS.</FONT></P>
<P><FONT SIZE="2"><B>ITEM 2. PROPERTIES</B></FONT></P>
<P><FONT SIZE="2">THE COMPANY LEASES ITS HEADQUARTERS.</FONT></P>
<P ALIGN="center"><FONT SIZE="2"><B>PART II</B></FONT></P>
<P><FONT SIZE="2"><B>ITEM 7.</B></FONT></P>
<P><FONT SIZE="2"><B>MANAGEMENT'S DISCUSSION AND ANALYSIS OF FINANCIAL CONDITION AND RESULTS OF
OPERATIONS</B></FONT></P>
<P><FONT SIZE="2">NET SALES ROSE 5% TO $12.3 MILLION.</FONT></P>
</BODY></HTML>"""
    text, _, spans = document_text(html_to_blocks(html))
    s = find_items(text, spans)
    check_invariants(text, s)
    assert ids_of(s) == ["cover", "1", "2", "7"]
    assert body(text, sec(s, "1")).startswith("PART I\n\nITEM 1. BUSINESS")
    assert sec(s, "7").title.startswith("MANAGEMENT'S DISCUSSION")


def test_no_items_is_one_document_section():
    text, s = segment("Dear shareholders,", PARA, "Our results this year were strong. See Item 7 of our 10-K.", PARA)
    assert s == [Section(WHOLE_DOCUMENT_SECTION, "Whole document", 0, len(text))]
    text, s = segment(*COVER, "Item 1. Business", PARA, "Item 2. Properties", PARA, form="8-K")
    assert ids_of(s) == [WHOLE_DOCUMENT_SECTION]
    assert find_items("", []) == [Section(WHOLE_DOCUMENT_SECTION, "Whole document", 0, 0)]


def test_form_none_is_read_as_a_10k():
    text, s = segment(*COVER, "Item 1. Business", PARA, "Item 1A. Risk Factors", PARA, form=None)
    assert ids_of(s) == ["cover", "1", "1A"]


Q_BODY = ("PART I — FINANCIAL INFORMATION", "Item 1. Financial Statements", PARA,
          f"Item 2. {MDA}", PARA, "Item 3. Quantitative and Qualitative Disclosures About Market Risk", PARA,
          "Item 4. Controls and Procedures", PARA, "PART II — OTHER INFORMATION", "Item 1. Legal Proceedings", PARA,
          "Item 1A. Risk Factors", PARA, "Item 2. Unregistered Sales of Equity Securities and Use of Proceeds", PARA,
          "Item 5. Other Information", PARA, "Item 6. Exhibits", PARA)
Q_IDS = ["I-1", "I-2", "I-3", "I-4", "II-1", "II-1A", "II-2", "II-5", "II-6"]


def test_10q_parts_and_items():
    toc = "\n".join(["PART I | ", "Item 1. | Financial Statements | 3", f"Item 2. | {MDA} | 20",
                     "PART II | ", "Item 1. | Legal Proceedings | 30", "Item 1A. | Risk Factors | 31"])
    text, s = segment("FORM 10-Q", "QUARTERLY REPORT", toc, *Q_BODY, form="10-Q")
    assert ids_of(s) == ["cover"] + Q_IDS
    assert body(text, sec(s, "I-1")).startswith("PART I — FINANCIAL INFORMATION")
    assert body(text, sec(s, "II-1")).startswith("PART II — OTHER INFORMATION\n\nItem 1. Legal Proceedings")


def test_10q_without_part_headings():
    blocks = [b for b in Q_BODY if not b.startswith("PART")]
    text, s = segment("FORM 10-Q", *blocks, form="10-Q")
    assert ids_of(s) == ["cover"] + Q_IDS


# --- the generator's ground truth -------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_filings():
    from etl.sample_corpus import generate_corpus
    return generate_corpus(n_companies=4, n_years=2, seed=3)


def test_sample_corpus_items(sample_filings):
    for f in sample_filings:
        p = parse_filing(f.html.encode(), Path(f.file_name))
        s = find_items(p.text, p.blocks)
        check_invariants(p.text, s)
        assert [x.section_id for x in s if x.section_id != COVER_SECTION] == [i for i, _ in f.items], f.file_name
        for x, (_, title) in zip(s[1:], f.items):
            assert x.title == title, (f.file_name, x)


# --- real 10-Ks -------------------------------------------------------------------------

# Words the standard title of each item holds (any one is enough); independent of etl/items.py.
TITLE_WORDS = {
    "1": ["business"], "1A": ["risk factors"], "1B": ["unresolved staff comments"], "1C": ["cybersecurity"],
    "2": ["properties"], "3": ["legal proceedings"], "4": ["mine safety", "submission of matters", "reserved"],
    "X": ["executive officers"], "5": ["market for"], "6": ["reserved", "selected financial data"],
    "7": ["discussion and analysis"], "7A": ["market risk"], "8": ["financial statements"],
    "9": ["disagreements with accountants"], "9A": ["controls and procedures"], "9B": ["other information"],
    "9C": ["foreign jurisdictions"], "10": ["directors"], "11": ["executive compensation"],
    "12": ["security ownership"], "13": ["certain relationships"],
    "14": ["accountant fees", "accounting fees", "exhibits, financial statement schedules"],
    "15": ["exhibit"], "16": ["form 10-k summary"],
}
GOLD = sorted(p.stem for p in GOLD_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def _parsed(path: str):
    p = Path(path)
    return parse_filing(p.read_bytes(), p)


@pytest.mark.parametrize("name", GOLD)
def test_real_10k_items(sec_10k_dir, name):
    path = sec_10k_dir / f"{name}.html"
    if not path.exists():
        pytest.skip(f"{path} not found")
    p = _parsed(str(path))
    t = time.perf_counter()
    s = find_items(p.text, p.blocks)
    elapsed = time.perf_counter() - t
    check_invariants(p.text, s)
    gold = [g["identifier"] for g in json.loads((GOLD_DIR / f"{name}.json").read_text())]
    found = [x.section_id for x in s]
    assert found[0] == COVER_SECTION
    assert [g for g in gold if g not in found] == [], "items in the filing's TOC not found"
    assert [f for f in found[1:] if f not in gold] == [], "items found that the TOC does not list"
    ranks = [ORDER_10K.index(f) for f in found[1:]]
    assert ranks == sorted(ranks)
    for x in s[1:]:
        t_ = x.title.lower().replace("’", "'")
        assert any(w in t_ for w in TITLE_WORDS[x.section_id]), (x.section_id, x.title)
        assert p.text[x.start:x.end].lstrip().lower().startswith(("item", "part")), x
    assert elapsed < 0.1, f"{elapsed * 1000:.1f} ms"
