"""The sample corpus: deterministic, realistic HTML whose ground truth is self-consistent."""
from __future__ import annotations

import json
import math
import re

import pytest
from selectolax.lexbor import LexborHTMLParser

from etl.sample_corpus import ITEMS, generate_corpus, write_corpus

_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus()


def _truth(f) -> tuple:
    return (f.file_name, f.html, f.sidecar, f.items, f.numbers, f.tables, f.blocks)


def _hidden(node) -> bool:
    while node is not None:
        if _DISPLAY_NONE.search(node.attributes.get("style") or ""):
            return True
        node = node.parent
    return False


def _visible_text(html: str) -> str:
    """All visible text, whitespace-collapsed (an independent reading of the HTML)."""
    tree = LexborHTMLParser(html)
    doomed = [n for n in tree.css("head, script, style, sup")]
    doomed += [n for n in tree.css("[style]") if _DISPLAY_NONE.search(n.attributes.get("style") or "")]
    for n in doomed:
        if not any(_hidden(p) or p.tag in ("head", "script", "style") for p in _ancestors(n)):
            n.decompose()
    return " ".join((tree.body.text(deep=True, separator="") or "").split())


def _ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def test_deterministic_per_seed():
    a, b = generate_corpus(2, 2, seed=7), generate_corpus(2, 2, seed=7)
    assert [_truth(f) for f in a] == [_truth(f) for f in b]
    c = generate_corpus(2, 2, seed=8)
    assert [f.html for f in a] != [f.html for f in c]
    assert [f.numbers for f in a] != [f.numbers for f in c]


def test_corpus_shape_and_sidecars(corpus):
    assert len(corpus) == 12
    assert len({f.file_name for f in corpus}) == 12
    assert len({f.company_id for f in corpus}) == 4
    for f in corpus:
        assert f.file_name == f"{f.ticker.lower()}-10-k-{f.filed_at.isoformat()}.html"
        assert f.sidecar == {
            "company_id": f.company_id, "company_name": f.company_name, "ticker": f.ticker, "form": "10-K",
            "filed_at": f.filed_at.isoformat(), "period_end": f.period_end.isoformat(),
            "accession_number": f.sidecar["accession_number"],
        }
        assert re.fullmatch(r"\d{10}", f.company_id)
        assert re.fullmatch(rf"{f.company_id}-\d\d-\d{{6}}", f.sidecar["accession_number"])
        assert f.period_end < f.filed_at and f.period_end.year == f.fiscal_year


def test_html_has_the_edgar_idioms(corpus):
    styles = set()
    for f in corpus:
        html = f.html
        tree = LexborHTMLParser(html)
        assert tree.body is not None and tree.css("table")
        assert "ix:nonFraction" in html
        for needle in ("ix:header", "colspan=", "rowspan=", "<sup", "<script", "<style", "page-break"):
            assert needle in html.lower(), (f.file_name, needle)
        assert len(_DISPLAY_NONE.findall(html)) >= 2
        styles.add(("<DIV" in html, "&nbsp;" in html, "&#160;" in html))
    assert len(styles) >= 3, "the house styles differ"


def test_blocks_and_numbers_agree(corpus):
    for f in corpus:
        assert all(b and b == b.strip() and "\n\n" not in b for b in f.blocks)
        assert not any(re.fullmatch(r"\d+", b) for b in f.blocks), "page footers are not text"
        text = f.text
        pos = 0
        for n in f.numbers:
            i = text.find(n.raw, pos)
            assert i >= 0, (f.file_name, n)
            pos = i + len(n.raw)
        # every table is one block, in order
        table_blocks = [b for b in f.blocks if any(b == t.text for t in f.tables)]
        assert table_blocks == [t.text for t in f.tables]


def test_items_in_order(corpus):
    for f in corpus:
        assert [i for i, _ in f.items] == [i for _, i, _ in ITEMS]
        for item_id, title in f.items:
            assert any(re.match(rf"item {item_id}\.\s+{re.escape(title)}$", b, re.IGNORECASE) for b in f.blocks)


def test_prose_blocks_are_in_the_visible_html(corpus):
    for f in corpus[:4]:  # one per house style
        visible = _visible_text(f.html)
        for b in f.blocks:
            if "|" not in b and "\n" not in b:
                assert b in visible, (f.file_name, b)
        assert "Draft" not in visible and "filingPages" not in visible


def test_visible_ix_facts_match_numbers(corpus):
    for f in corpus:
        values = [abs(n.value) for n in f.numbers]
        tree = LexborHTMLParser(f.html)
        facts = [n for n in tree.css("ix\\:nonfraction") if not _hidden(n)]
        assert len(facts) > 100
        for fact in facts:
            a, shown = fact.attributes, fact.text().strip()
            if a.get("format") == "ixt:fixed-zero":
                v = 0.0
            else:
                v = float(shown.replace(",", "")) * 10 ** int(a.get("scale") or 0)
            assert any(math.isclose(v, x, rel_tol=1e-9, abs_tol=1e-12) for x in values), (f.file_name, shown)


def test_number_kinds_follow_the_contract(corpus):
    for f in corpus:
        kinds = {n.kind for n in f.numbers}
        assert kinds == {"amount", "percent", "per_share", "count", "year", "date"}
        for n in f.numbers:
            if n.kind == "percent":
                assert n.raw.endswith("%") and n.scale == -2 and n.unit == "percent"
            elif n.kind == "per_share":
                assert n.scale == 0 and n.unit == "USD" and n.raw.lstrip("$(").replace(".", "").rstrip(")").isdigit()
            elif n.kind == "year":
                assert re.fullmatch(r"(19|20)\d\d", n.raw) and n.value == float(n.raw)
            elif n.kind == "date":
                assert int(n.value) == int(n.raw[-4:]) and n.scale == 0
            elif n.kind == "amount":
                assert n.unit == "USD"
            if n.raw.startswith(("(", "$(")):  # parentheses mean negative
                assert n.value < 0
        assert "10-K" not in {n.raw for n in f.numbers}
        dashes = [n for n in f.numbers if n.raw == "—"]
        assert dashes and all(n.value == 0.0 and n.kind == "amount" and n.scale in (3, 6) for n in dashes)


def test_statement_values_are_scaled_by_caption(corpus):
    f = corpus[0]
    table = next(t for t in f.tables if t.rows[-1][0] == "Diluted earnings per share")
    net_sales = next(r for r in table.rows if r[0] == "Net sales")
    raw = net_sales[1]
    n = next(n for n in f.numbers if n.raw == raw and n.kind == "amount")
    assert n.value == float(raw.lstrip("$").replace(",", "")) * 10 ** n.scale and n.scale in (3, 6)
    eps = table.rows[-1][1]
    e = next(n for n in f.numbers if n.raw == eps)
    assert e.kind == "per_share" and abs(e.value) == float(eps.strip("$()"))


def test_write_corpus(tmp_path):
    paths = write_corpus(tmp_path, n_companies=2, n_years=1, seed=3, truth=True)
    assert len(paths) == 2 and all(p.suffix == ".html" and p.exists() for p in paths)
    for p in paths:
        side = json.loads(p.with_name(p.name + ".json").read_text())
        assert side["form"] == "10-K" and p.name.startswith(side["ticker"].lower())
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert set(truth) == {p.name for p in paths}
    assert paths[0].read_text(encoding="utf-8") == generate_corpus(2, 1, seed=3)[0].html
