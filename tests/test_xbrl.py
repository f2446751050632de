"""etl/xbrl.py: inline XBRL facts from hand-written snippets and the real 10-Ks."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from datetime import date

import pytest

from featurestore.schemas import FACTS
from etl.xbrl import (
    Fact, FactReject, XbrlResult, dei_metadata, extract_facts, facts_table, is_inline_xbrl, normalize_cik,
)

NS = ('xmlns="http://www.w3.org/1999/xhtml" xmlns:ix="http://www.xbrl.org/2013/inlineXBRL" '
      'xmlns:xbrli="http://www.xbrl.org/2003/instance" xmlns:xbrldi="http://xbrl.org/2006/xbrldi" '
      'xmlns:iso4217="http://www.xbrl.org/2003/iso4217" xmlns:us-gaap="http://fasb.org/us-gaap/2024" '
      'xmlns:dei="http://xbrl.sec.gov/dei/2024" xmlns:acme="http://acme.example/2024" '
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
      'xmlns:ixt="http://www.xbrl.org/inlineXBRL/transformation/2020-02-12" '
      'xmlns:ixt-sec="http://www.sec.gov/inlineXBRL/transformation/2015-08-31"')
ENTITY = ('<xbrli:entity><xbrli:identifier scheme="http://www.sec.gov/CIK">0000320193</xbrli:identifier>'
          '{segment}</xbrli:entity>')
CONTEXTS = (
    '<xbrli:context id="D2024">' + ENTITY.format(segment="") +
    '<xbrli:period><xbrli:startDate>2023-10-01</xbrli:startDate><xbrli:endDate>2024-09-28</xbrli:endDate>'
    '</xbrli:period></xbrli:context>'
    '<xbrli:context id="I2024">' + ENTITY.format(segment="") +
    '<xbrli:period><xbrli:instant>2024-09-28</xbrli:instant></xbrli:period></xbrli:context>'
    '<xbrli:context id="D2024seg">' + ENTITY.format(segment=(
        '<xbrli:segment>'
        '<xbrldi:explicitMember dimension="us-gaap:StatementBusinessSegmentsAxis">acme:AmericasMember'
        '</xbrldi:explicitMember>'
        '<xbrldi:typedMember dimension="acme:ContractAxis"><acme:ContractDomain> K-17 </acme:ContractDomain>'
        '</xbrldi:typedMember>'
        '<xbrldi:explicitMember dimension="srt:ProductOrServiceAxis">acme:IPhoneMember</xbrldi:explicitMember>'
        '</xbrli:segment>')) +
    '<xbrli:period><xbrli:startDate>2023-10-01</xbrli:startDate><xbrli:endDate>2024-09-28</xbrli:endDate>'
    '</xbrli:period></xbrli:context>'
)
UNITS = (
    '<xbrli:unit id="usd"><xbrli:measure>iso4217:USD</xbrli:measure></xbrli:unit>'
    '<xbrli:unit id="shares"><xbrli:measure>xbrli:shares</xbrli:measure></xbrli:unit>'
    '<xbrli:unit id="pure"><xbrli:measure>xbrli:pure</xbrli:measure></xbrli:unit>'
    '<xbrli:unit id="usdPerShare"><xbrli:divide><xbrli:unitNumerator><xbrli:measure>iso4217:USD'
    '</xbrli:measure></xbrli:unitNumerator><xbrli:unitDenominator><xbrli:measure>xbrli:shares'
    '</xbrli:measure></xbrli:unitDenominator></xbrli:divide></xbrli:unit>'
)


def doc(body: str, hidden: str = "", doctype: str = "") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?>{doctype}<html {NS}><head><title>t</title></head><body>'
            f'<div style="display:none"><ix:header><ix:hidden>{hidden}</ix:hidden>'
            f'<ix:resources>{CONTEXTS}{UNITS}</ix:resources></ix:header></div>{body}</body></html>')


def nf(shown: str, fmt: str | None = None, scale: str | None = "0", sign: str = "", unit: str = "usd",
       ctx: str = "D2024", name: str = "us-gaap:Revenues", fid: str | None = "f1", extra: str = "") -> str:
    attrs = [f'name="{name}"', f'contextRef="{ctx}"', f'unitRef="{unit}"', 'decimals="-6"']
    if fmt:
        attrs.append(f'format="{fmt}"')
    if scale is not None:
        attrs.append(f'scale="{scale}"')
    if sign:
        attrs.append(f'sign="{sign}"')
    if fid:
        attrs.append(f'id="{fid}"')
    return f'<ix:nonFraction {" ".join(attrs)}{extra}>{shown}</ix:nonFraction>'


def nn(shown: str, fmt: str | None = None, ctx: str = "D2024", name: str = "acme:Note", fid: str | None = "t1",
       extra: str = "") -> str:
    attrs = [f'name="{name}"', f'contextRef="{ctx}"']
    if fmt:
        attrs.append(f'format="{fmt}"')
    if fid:
        attrs.append(f'id="{fid}"')
    return f'<ix:nonNumeric {" ".join(attrs)}{extra}>{shown}</ix:nonNumeric>'


def one(html: str) -> Fact:
    r = extract_facts(html)
    assert not r.rejects, r.rejects
    assert len(r.facts) == 1, r.facts
    return r.facts[0]


# --------------------------------------------------------------------------- numeric formats

@pytest.mark.parametrize("fmt, shown, scale, sign, expected", [
    (None, "1234.5", "0", "", 1234.5),
    (None, " 2628553000000 ", None, "", 2628553000000.0),
    ("ixt:num-dot-decimal", "1,234.5", "3", "", 1234500.0),
    ("ixt:numdotdecimal", "391,035", "6", "", 391035e6),
    ("ixt:num-dot-decimal", "2.5", "6", "-", -2_500_000.0),
    ("ixt:num-dot-decimal", "25.5", "-2", "", 0.255),
    ("ixt:num-dot-decimal", "<span>1,</span><span>234</span>", "0", "", 1234.0),
    ("ixt:num-comma-decimal", "1.234,5", "0", "", 1234.5),
    ("ixt:numcommadecimal", "1 234,56", "3", "-", -1234560.0),
    ("ixt:zerodash", "—", "6", "", 0.0),
    ("ixt:fixed-zero", "no", "6", "", 0.0),
    ("ixt:num-unit-decimal", "5 dollars 25 cents", "0", "", 5.25),
    ("ixt:numunitdecimal", "7 euros 5 cents", "0", "", 7.05),
    ("ixt:num-unit-decimal", "12 dollars", "0", "", 12.0),
    ("ixt-sec:numwordsen", "no", "0", "", 0.0),
    ("ixt-sec:numwordsen", "None", "9", "", 0.0),
    ("ixt-sec:numwordsen", "one", "0", "", 1.0),
    ("ixt-sec:numwordsen", "Twelve", "0", "", 12.0),
    ("ixt-sec:numwordsen", "twenty", "0", "", 20.0),
    ("ixt-sec:numwordsen", "twenty-five", "0", "", 25.0),
    ("ixt-sec:numwordsen", "two hundred and five", "0", "", 205.0),
    ("ixt-sec:numwordsen", "three thousand", "0", "", 3000.0),
    ("ixt-sec:numwordsen", "two million", "0", "", 2e6),
    ("ixt-sec:numwordsen", "two", "6", "-", -2e6),
])
def test_numeric_formats_scale_and_sign(fmt, shown, scale, sign, expected):
    f = one(doc(nf(shown, fmt, scale, sign)))
    assert f.value == expected  # exact: Decimal arithmetic, one rounding to float
    assert f.text_value is None and f.numeric


def test_numinf():
    assert one(doc(nf("∞", "ixt-sec:numinf"))).value == math.inf


@pytest.mark.parametrize("fmt, shown", [
    (None, "1,234"),                      # no format: must be a plain decimal
    ("ixt:num-dot-decimal", "(1,234)"),
    ("ixt:num-dot-decimal", "n/a"),
    ("ixt:num-comma-decimal", "1,2,3"),
    ("ixt-sec:numwordsen", "several"),
])
def test_unreadable_number_is_rejected(fmt, shown):
    r = extract_facts(doc(nf(shown, fmt) + nf("5", fid="f2")))
    assert [f.fact_id for f in r.facts] == ["f2"]
    [rej] = r.rejects
    assert rej.reason == "bad_value" and rej.concept == "us-gaap:Revenues"
    assert rej.detail.startswith("ix:nonFraction f1:") and shown in rej.detail


def test_text_format_on_a_number_is_rejected():
    r = extract_facts(doc(nf("September 28, 2024", "ixt:date-monthname-day-year-en")))
    assert not r.facts and r.rejects[0].reason == "format_mismatch"


def test_bad_scale_is_rejected():
    r = extract_facts(doc(nf("5", scale="six")))
    assert not r.facts and r.rejects[0].reason == "bad_scale"


# --------------------------------------------------------------------------- text formats

@pytest.mark.parametrize("fmt, shown, expected", [
    (None, "  Apple\u00a0 Inc.\n", "Apple Inc."),
    ("ixt:fixed-true", "has adopted", "true"),
    ("ixt:fixed-false", "☐", "false"),
    ("ixt:fixed-empty", "whatever", ""),
    ("ixt-sec:boolballotbox", "☒", "true"),
    ("ixt-sec:boolballotbox", "☐", "false"),
    ("ixt:date-monthname-day-year-en", "September 28, 2024", "2024-09-28"),
    ("ixt:date-monthname-day-year-en", "Sept.&#160;28,&#160;2024", "2024-09-28"),
    ("ixt:datelongus", "September 28, 2024", "2024-09-28"),
    ("ixt:dateshortus", "Sep. 28, 24", "2024-09-28"),
    ("ixt:date-day-monthname-year-en", "28th September 2024", "2024-09-28"),
    ("ixt:datelonguk", "28 September 2024", "2024-09-28"),
    ("ixt:datemonthdayyear", "09/28/2024", "2024-09-28"),
    ("ixt:date-month-day-year", "9.28.2024", "2024-09-28"),
    ("ixt:date-day-month-year", "28/09/2024", "2024-09-28"),
    ("ixt:date-year-month-day", "2024-09-28", "2024-09-28"),
    ("ixt:date-monthname-day-en", "September&#160;28", "--09-28"),
    ("ixt:date-monthname-year-en", "March 2025", "2025-03"),
    ("ixt-sec:datequarterend", "third quarter of 2024", "2024-09-30"),
    ("ixt-sec:duryear", "2.5", "P2Y6M"),
    ("ixt-sec:duryear", "10", "P10Y"),
    ("ixt-sec:durmonth", "18", "P18M"),
    ("ixt-sec:durday", "364", "P364D"),
    ("ixt-sec:durwordsen", "five years and six months", "P5Y6M"),
    ("ixt-sec:durwordsen", "twenty-five years", "P25Y"),
    ("ixt-sec:durwordsen", "364-day", "P364D"),
    ("ixt-sec:durwordsen", "three\u2011year", "P3Y"),
    ("ixt-sec:stateprovnameen", "Delaware", "DE"),
    ("ixt-sec:stateprovnameen", "New  York", "NY"),
    ("ixt-sec:exchnameen", "The Nasdaq Stock Market LLC", "NASDAQ"),
    ("ixt-sec:exchnameen", "New York Stock Exchange", "NYSE"),
    ("ixt-sec:entityfilercategoryen", "Large accelerated filer", "Large Accelerated Filer"),
    ("ixt:num-dot-decimal", "1,234.50", "1234.5"),
])
def test_text_formats(fmt, shown, expected):
    f = one(doc(nn(shown, fmt)))
    assert f.text_value == expected
    assert f.value is None and f.unit is None and not f.numeric


@pytest.mark.parametrize("fmt, shown", [
    ("ixt:date-monthname-day-year-en", "Smarch 28, 2024"),
    ("ixt:date-monthname-day-year-en", "February 30, 2024"),
    ("ixt-sec:stateprovnameen", "Atlantis"),
    ("ixt-sec:durwordsen", "a while"),
])
def test_unreadable_text_is_rejected(fmt, shown):
    r = extract_facts(doc(nn(shown, fmt)))
    assert not r.facts
    assert r.rejects[0].reason == "bad_value" and r.rejects[0].detail.startswith("ix:nonNumeric t1:")


def test_unknown_format_is_rejected_and_the_rest_is_kept():
    r = extract_facts(doc(nf("1,234", "ixt:num-roman") + nf("7", fid="f2") + nn("x", "acme:shout", fid="t9")))
    assert [f.fact_id for f in r.facts] == ["f2"]
    assert [(x.reason, x.concept) for x in r.rejects] == [
        ("unknown_format", "us-gaap:Revenues"), ("unknown_format", "acme:Note")]
    assert "ixt:num-roman" in r.rejects[0].detail and "'1,234'" in r.rejects[0].detail
    assert "acme:shout" in r.rejects[1].detail


# --------------------------------------------------------------------------- nil, units, contexts

def test_nil():
    r = extract_facts(doc(
        nf("", extra=' xsi:nil="true"', name="us-gaap:CommitmentsAndContingencies")
        + nn("", extra=' xsi:nil="true"', fid="t2")))
    a, b = r.facts
    assert (a.value, a.text_value, a.unit, a.numeric) == (None, None, "USD", True)
    assert (b.value, b.text_value, b.unit) == (None, None, None)


@pytest.mark.parametrize("unit, expected", [
    ("usd", "USD"), ("shares", "shares"), ("pure", "pure"), ("usdPerShare", "USD/shares")])
def test_units(unit, expected):
    assert one(doc(nf("6.11", unit=unit))).unit == expected


def test_missing_unit_or_context_is_rejected():
    r = extract_facts(doc(nf("1", unit="eur") + nf("2", ctx="nope", fid="f2") + nf("3", fid="f3")))
    assert [f.fact_id for f in r.facts] == ["f3"]
    assert [x.reason for x in r.rejects] == ["unknown_unit", "unknown_context"]


def test_contexts_instant_duration_and_dimensions():
    r = extract_facts(doc(nf("1", ctx="I2024") + nf("2", ctx="D2024", fid="f2") + nf("3", ctx="D2024seg", fid="f3")))
    inst, dur, seg = r.facts
    assert (inst.period_start, inst.period_end) == (None, date(2024, 9, 28))
    assert (dur.period_start, dur.period_end) == (date(2023, 10, 1), date(2024, 9, 28))
    assert inst.dimensions == dur.dimensions == "{}"
    assert json.loads(seg.dimensions) == {
        "acme:ContractAxis": "K-17",
        "srt:ProductOrServiceAxis": "acme:IPhoneMember",
        "us-gaap:StatementBusinessSegmentsAxis": "acme:AmericasMember",
    }
    keys = list(json.loads(seg.dimensions))
    assert keys == sorted(keys)
    assert inst.decimals == "-6"


# --------------------------------------------------------------------------- text: continuations, exclude, escape

def test_continuations_exclude_and_escape():
    body = (
        '<ix:nonNumeric name="us-gaap:PolicyTextBlock" contextRef="D2024" id="t1" escape="true" continuedAt="c1">'
        '<p>Revenue is <b>recognized</b> when</p><p>control<ix:exclude> [page 41]</ix:exclude> passes'
        '</p></ix:nonNumeric>'
        '<div>Page footer, not part of the fact</div>'
        '<ix:continuation id="c2"><p>third part.</p></ix:continuation>'
        '<ix:continuation id="c1" continuedAt="c2"><p>to the customer;</p><!-- a comment --><table><tr>'
        '<td>see</td><td>' + nf("12", fid="f9") + '</td></tr></table></ix:continuation>'
    )
    r = extract_facts(doc(body))
    facts = {f.fact_id: f for f in r.facts}
    assert facts["t1"].text_value == "Revenue is recognized when control passes to the customer; see 12 third part."
    assert facts["f9"].value == 12.0  # a fact nested in a continuation is a fact too


def test_cyclic_continuation_terminates():
    body = (nn("a", extra=' continuedAt="c1"') + '<ix:continuation id="c1" continuedAt="c2">b</ix:continuation>'
            '<ix:continuation id="c2" continuedAt="c1">c</ix:continuation>')
    assert one(doc(body)).text_value == "a b c"


def test_hidden_and_header_facts_are_facts():
    r = extract_facts(doc(nf("5", fid="f2"), hidden=nn("FY", name="dei:DocumentFiscalPeriodFocus")
                          + nf("100", fid="f1", name="dei:EntityPublicFloat")))
    assert [f.fact_id for f in r.facts] == ["t1", "f1", "f2"]


# --------------------------------------------------------------------------- ids, rows, parsing

def test_fact_ids_deterministic_and_unique():
    html = doc(nf("1", fid=None) + nf("1", fid=None) + nf("2", fid="dup") + nf("3", fid="dup"))
    a, b = extract_facts(html), extract_facts(html)
    ids = [f.fact_id for f in a.facts]
    assert ids == [f.fact_id for f in b.facts]
    assert len(set(ids)) == 4
    assert ids[0].startswith("h:") and ids[2] == "dup" and ids[3].startswith("dup#")


def test_str_and_bytes_agree():
    html = doc(nf("1,234", "ixt:num-dot-decimal", "3") + nn("September 28, 2024", "ixt:datelongus"))
    assert extract_facts(html) == extract_facts(html.encode())


def test_html_that_is_not_xml_falls_back_to_the_html_parser():
    html = ('<html><body><p>Revenue<br>' + nf("1,234", "ixt:num-dot-decimal", "6")
            + nn("Apple&nbsp;Inc.", name="dei:EntityRegistrantName")
            + f'<div style="display:none"><ix:header><ix:resources>{CONTEXTS}{UNITS}</ix:resources>'
            '</ix:header></div></body></html>')
    r = extract_facts(html)
    assert not r.rejects
    assert [(f.concept, f.value, f.text_value, f.unit) for f in r.facts] == [
        ("us-gaap:Revenues", 1_234e6, None, "USD"), ("dei:EntityRegistrantName", None, "Apple Inc.", None)]
    assert r.facts[0].period_end == date(2024, 9, 28) and r.facts[0].dimensions == "{}"


def test_not_inline_xbrl():
    html = "<html><body><p>Revenue was $1,234 million.</p></body></html>"
    assert not is_inline_xbrl(html) and not is_inline_xbrl(html.encode())
    assert extract_facts(html) == XbrlResult()
    assert is_inline_xbrl(doc("").encode()) and is_inline_xbrl(b"<IX:NONFRACTION name='a'>")


@pytest.mark.parametrize("mode", ["xml", "html"])
def test_xxe_is_never_resolved(tmp_path, mode):
    secret = tmp_path / "secret.txt"
    token = "XXE-SECRET-7f3a9c"
    secret.write_text(token)
    doctype = (f'<!DOCTYPE html [<!ENTITY xxe SYSTEM "file://{secret}">'
               f'<!ENTITY host SYSTEM "file:///etc/hostname"><!ENTITY lol "lol&xxe;">]>')
    body = (nn("name &xxe; &host; &lol;", name="dei:EntityRegistrantName")
            + nf("1&xxe;2", fid="f2") + nn("&xxe;", "ixt:fixed-true", fid="t3"))
    html = doc(body, doctype=doctype)
    if mode == "html":
        html = html.replace("</body>", "<br></body>").replace('<?xml version="1.0" encoding="utf-8"?>', "")
        html = html.replace("<p>", "<p><br>")  # not well-formed XML any more
        html += "<p>unclosed"
    if mode == "xml":  # the payload is real: a parser that resolves entities leaks the file
        from lxml import etree
        leaky = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=True)
        assert token in etree.tostring(etree.fromstring(html.encode(), leaky)).decode()
    r = extract_facts(html)
    dumped = repr(r)
    assert token not in dumped
    try:
        host = open("/etc/hostname").read().strip()
    except OSError:
        host = ""
    if len(host) >= 4:
        assert all(host not in (f.text_value or "") for f in r.facts)
    assert "EntityRegistrantName" in {f.concept.split(":")[1] for f in r.facts}


def test_facts_table_matches_the_store_schema():
    assert ["filing_id"] + [f.name for f in dataclasses.fields(Fact)] == FACTS.columns
    r = extract_facts(doc(nf("1", ctx="I2024") + nn("x")))
    t = facts_table(r.facts, "fid1")
    assert t.schema == FACTS.schema and t.num_rows == 2
    assert t.column("filing_id").to_pylist() == ["fid1", "fid1"]


def test_fact_reject_fields():
    assert [f.name for f in dataclasses.fields(FactReject)] == ["concept", "reason", "detail"]


# --------------------------------------------------------------------------- DEI

def test_dei_and_metadata():
    hidden = (
        nn("320193", name="dei:EntityCentralIndexKey", fid="d1")
        + nn("10-K", name="dei:DocumentType", fid="d2")
        + nn("AAPL-A", name="dei:TradingSymbol", ctx="D2024seg", fid="d3")
        + nn("AAPL", name="dei:TradingSymbol", fid="d4")
        + nf("2,628,553", "ixt:num-dot-decimal", "6", name="dei:EntityPublicFloat", ctx="I2024", fid="d5")
    )
    body = (nn("Apple\u00a0Inc.", name="dei:EntityRegistrantName", fid="d6")
            + nn("September 28, 2024", "ixt:date-monthname-day-year-en", name="dei:DocumentPeriodEndDate", fid="d7"))
    r = extract_facts(doc(body, hidden=hidden))
    assert r.dei["TradingSymbol"] == "AAPL"          # undimensioned wins over earlier dimensioned
    assert r.dei["EntityPublicFloat"] == "2628553000000"
    assert dei_metadata(r.dei) == {
        "company_id": "0000320193", "company_name": "Apple Inc.", "period_end": date(2024, 9, 28),
        "form": "10-K", "ticker": "AAPL"}
    assert dei_metadata({}) == {}


def test_dei_cik_falls_back_to_the_context_identifier():
    r = extract_facts(doc(nf("1")))
    assert r.dei == {"EntityCentralIndexKey": "0000320193"}


def test_normalize_cik():
    assert normalize_cik("320193") == normalize_cik("0000320193") == normalize_cik(" 0000320193 ") == "0000320193"
    assert normalize_cik("") is None and normalize_cik("abc") is None and normalize_cik("1" * 11) is None


# --------------------------------------------------------------------------- real filings

REAL = {  # file -> (CIK, registrant name, DocumentPeriodEndDate)
    "aapl-10-k-2024-11-01.html": (320193, "Apple Inc.", date(2024, 9, 28)),
    "amzn-10-k-2025-02-07.html": (1018724, "AMAZON.COM, INC.", date(2024, 12, 31)),
    "googl-10-k-2025-02-05.html": (1652044, "Alphabet Inc.", date(2024, 12, 31)),
    "ko-10-k-2025-02-20.html": (21344, "COCA COLA CO", date(2024, 12, 31)),
    "meta-10-k-2025-01-30.html": (1326801, "Meta Platforms, Inc.", date(2024, 12, 31)),
    "nvda-10-k-2025-02-26.html": (1045810, "NVIDIA CORP", date(2025, 1, 26)),
    "tsla-10-k-2025-01-30.html": (1318605, "Tesla, Inc.", date(2024, 12, 31)),
    "wmt-10-k-2025-03-14.html": (104169, "WALMART INC.", date(2025, 1, 31)),
}
_NONFRACTION = re.compile(rb"<ix:nonFraction\b", re.IGNORECASE)
_NONNUMERIC = re.compile(rb"<ix:nonNumeric\b", re.IGNORECASE)


def _real(sec_10k_dir, name):
    path = sec_10k_dir / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path.read_bytes()


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_filing_facts_and_dei(sec_10k_dir, name):
    raw = _real(sec_10k_dir, name)
    assert is_inline_xbrl(raw)
    t0 = time.perf_counter()
    r = extract_facts(raw)
    ms = (time.perf_counter() - t0) * 1000
    numeric = [f for f in r.facts if f.numeric]
    num_rejects = [x for x in r.rejects if x.detail.startswith("ix:nonFraction")]
    n_nonfraction = len(_NONFRACTION.findall(raw))
    print(f"{name}: {len(raw) / 1e6:.1f} MB in {ms:.0f} ms; nonFraction {n_nonfraction}, numeric facts "
          f"{len(numeric)}, nonNumeric {len(_NONNUMERIC.findall(raw))}, text facts {len(r.facts) - len(numeric)}, "
          f"rejected {[(x.reason, x.detail) for x in r.rejects]}")
    assert len(numeric) == n_nonfraction - len(num_rejects)
    assert len(r.facts) + len(r.rejects) == n_nonfraction + len(_NONNUMERIC.findall(raw))
    assert len({f.fact_id for f in r.facts}) == len(r.facts)
    assert ms < 1000, f"{name} took {ms:.0f} ms"
    cik, company, period_end = REAL[name]
    meta = dei_metadata(r.dei)
    assert int(meta["company_id"]) == cik and meta["company_id"] == f"{cik:010d}"
    assert meta["company_name"] == company
    assert meta["period_end"] == period_end
    assert meta["form"] == "10-K"
    assert meta["ticker"] == name.split("-")[0].upper()
    # Every numeric fact has a period and a unit; nil facts are the only valueless ones.
    assert all(f.period_end is not None and f.unit for f in numeric)
    assert sum(f.value is None for f in numeric) == raw.count(b'xsi:nil="true"') - sum(
        1 for f in r.facts if not f.numeric and f.text_value is None)


def test_real_filings_without_inline_xbrl(sec_10k_dir):
    old = [p for p in sorted(sec_10k_dir.glob("*.html")) if p.name not in REAL]
    if not old:
        pytest.skip("no pre-inline-XBRL filings present")
    for p in old:
        raw = p.read_bytes()
        assert not is_inline_xbrl(raw), p.name
        assert extract_facts(raw) == XbrlResult()


# --------------------------------------------------------------------------- cross-check with ixbrlparse

def _ixbrlparse_disagreements(raw: bytes) -> tuple[int, list[str]]:
    """Compare every ix:nonFraction as ixbrlparse reads it with our fact of the same id."""
    import io
    import warnings

    from ixbrlparse import IXBRL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about the SEC formats it does not implement (text facts)
        theirs = IXBRL(io.BytesIO(raw), raise_on_error=False)
    ours = {f.fact_id: f for f in extract_facts(raw).facts if f.numeric}
    out = [f"ixbrlparse error: {e.error!r}" for e in theirs.errors]
    for n in theirs.numeric:
        fid = n.soup_tag.get("id")
        f = ours.pop(fid, None)
        if f is None:
            out.append(f"{fid}: ixbrlparse has {n.schema}:{n.name}, we have no numeric fact")
            continue
        if f"{n.schema}:{n.name}" != f.concept:
            out.append(f"{fid}: concept {n.schema}:{n.name} vs {f.concept}")
        if f.value is None:  # xsi:nil: ixbrlparse reads the empty text as 0
            if n.value not in (0, None) or not n.soup_tag.get("xsi:nil"):
                out.append(f"{fid}: nil here, ixbrlparse {n.value!r}")
        elif n.value is None or not math.isclose(n.value, f.value, rel_tol=1e-12, abs_tol=1e-12):
            out.append(f"{fid} {f.concept}: value {n.value!r} (ixbrlparse) vs {f.value!r} (shown {n.text!r})")
        c = n.context
        period = (None, c.instant) if c.instant else (c.startdate, c.enddate)
        if period != (f.period_start, f.period_end):
            out.append(f"{fid}: period {period} vs {(f.period_start, f.period_end)}")
        dims = {s["dimension"]: s["value"] for s in (c.segments or []) if "dimension" in s}
        if dims != json.loads(f.dimensions):
            out.append(f"{fid}: dimensions {dims} vs {f.dimensions}")
        # ixbrlparse keeps the first measure only (the numerator of a divide), with its prefix
        if (n.unit or "").rpartition(":")[2] != f.unit.split("/")[0]:
            out.append(f"{fid}: unit {n.unit!r} vs {f.unit!r}")
    out += [f"{fid}: we have {f.concept}, ixbrlparse has nothing" for fid in ours]
    return len(theirs.numeric), out


@pytest.mark.parametrize("name", ["aapl-10-k-2024-11-01.html"])
def test_cross_check_ixbrlparse_one_filing(sec_10k_dir, name):
    pytest.importorskip("ixbrlparse")
    n, bad = _ixbrlparse_disagreements(_real(sec_10k_dir, name))
    print(f"{name}: {n} numeric facts compared with ixbrlparse, {len(bad)} disagreements")
    assert n > 0 and not bad, "\n".join(bad[:50])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL))
def test_cross_check_ixbrlparse_all_filings(sec_10k_dir, name):
    pytest.importorskip("ixbrlparse")
    n, bad = _ixbrlparse_disagreements(_real(sec_10k_dir, name))
    print(f"{name}: {n} numeric facts compared with ixbrlparse, {len(bad)} disagreements")
    assert n > 0 and not bad, "\n".join(bad[:50])


def test_sample_corpus_dei_matches_its_sidecars():
    from etl.sample_corpus import generate_corpus

    for f in generate_corpus(n_companies=3, n_years=1, seed=3):  # XHTML and tag-soup styles
        r = extract_facts(f.html)
        assert not r.rejects, (f.file_name, r.rejects)
        assert sum(x.numeric for x in r.facts) == len(re.findall(r"<ix:nonFraction\b", f.html, re.IGNORECASE))
        meta = dei_metadata(r.dei)
        assert meta["company_id"] == f.sidecar["company_id"]
        assert meta["period_end"] == f.period_end and meta["form"] == "10-K"


def test_an_unexpected_error_rejects_one_fact_not_the_filing(monkeypatch):
    import etl.xbrl as xbrl

    def boom(_text):
        raise RuntimeError("reader bug")

    monkeypatch.setitem(xbrl._FORMATS, "numwordsen", (xbrl._NUM, boom))
    r = extract_facts(doc(nf("two", "ixt-sec:numwordsen") + nf("3", fid="f2")))
    assert [f.fact_id for f in r.facts] == ["f2"]
    assert r.rejects[0].reason == "internal_error" and r.rejects[0].detail.startswith("ix:nonFraction f1:")


def test_byte_order_mark_and_declared_encoding():
    html = doc(nf("1,234", "ixt:num-dot-decimal"))
    assert one("\ufeff" + html).value == one(b"\xef\xbb\xbf" + html.encode()).value == 1234.0
