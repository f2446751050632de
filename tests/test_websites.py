"""Website crawls: reading (manifest, WARC), cleaning against the generator's
ground truth, the site document, statistics and their text block."""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pyarrow as pa
import pytest

from etl.documents import parse_filing
from etl.numbers import find_numbers
from etl.sanitize import TextBlock, html_to_blocks
from etl.site_corpus import (
    KEPT, PDF_SITE_INDEX, WARC_SITE_INDEX, SampleSite, generate_sites, write_site_folder, write_site_warc,
    write_sites,
)
from etl.websites import (
    DROP_REASONS, STATS_COLUMNS, CleanConfig, Page, Site, SiteRejected, clean_site, landing_key,
    normalise_line, page_lines, read_site, site_document_html, site_sidecar, stats_block, stats_row,
)
from featurestore.schemas import WEBSITE_STATS

SITES_3 = generate_sites(3, seed=0)
SITES_8 = generate_sites(8, seed=1)  # every industry catalog once
ALL_SITES = SITES_3 + SITES_8


def as_site(s: SampleSite) -> Site:
    return Site(s.site, s.company_id, [Page(p.url, p.html, p.fetched_at) for p in s.pages], s.snapshot)


@pytest.fixture(scope="module")
def results():
    return {s.site + str(i): (s, clean_site(as_site(s))) for i, s in enumerate(ALL_SITES)}


def test_generator_lines_are_what_the_sanitizer_reads():
    for s in ALL_SITES:
        for p in s.pages:
            if p.content_type.startswith("text/html"):
                assert page_lines(p.html) == p.lines, p.url


def test_generator_plants_every_kind_of_page():
    assert len({s.company_id for s in SITES_3}) == 3
    for i, s in enumerate(SITES_3):
        reasons = {p.expected for p in s.pages}
        assert {KEPT, "boilerplate_url", "empty", "near_duplicate", "low_density"} <= reasons
        assert ("not_html" in reasons) == (i == PDF_SITE_INDEX)
        assert sum(p.expected == KEPT for p in s.pages) >= 9
        # a template line is marked as such wherever it appears (boilerplate pages
        # and the template-only page repeat footer text as their content)
        assert s.template_lines and all(t for p in s.pages if p.expected not in ("boilerplate_url", "empty")
                                        for line, t in zip(p.lines, p.template) if line in s.template_lines)


def test_sites_use_the_sample_corpus_companies():
    from etl.sample_corpus import generate_corpus
    assert [s.company_id for s in SITES_3] == [f.company_id for f in generate_corpus(3, 1, seed=0)]


def test_clean_site_matches_ground_truth(results):
    for s, r in results.values():
        assert [c.url for c in r.kept] == s.expected_kept(), s.site
        assert r.dropped == {k: sorted(v) for k, v in s.expected_dropped().items()}, s.site
        assert list(r.dropped) == [k for k in DROP_REASONS if k in r.dropped]
        truth = {p.url: p for p in s.pages}
        for c in r.kept:
            assert c.lines == truth[c.url].kept_lines, c.url


def test_each_filter_removes_exactly_its_planted_pages(results):
    for s, r in results.values():
        for reason in ("boilerplate_url", "empty", "near_duplicate", "low_density"):
            planted = sorted(p.url for p in s.pages if p.expected == reason)
            assert r.dropped.get(reason, []) == planted, (s.site, reason)
        kinds = {p.url: p.kind for p in s.pages}
        assert {kinds[u] for u in r.dropped["low_density"]} == {"gallery", "downloads", "locations", "tag_archive"}
        assert {kinds[u] for u in r.dropped["near_duplicate"]} <= {"product_copy", "product_print"}


def test_diff_removes_template_lines_and_never_a_unique_line(results):
    for s, r in results.values():
        landing = s.landing
        assert r.landing_url == landing.url
        landing_norm = {normalise_line(x) for x in landing.lines}
        template = {normalise_line(x) for x in s.template_lines}
        kept = {c.url: c for c in r.kept}
        assert kept[landing.url].lines == landing.lines  # the landing page keeps its lines
        for p in s.pages:
            if p.url == landing.url or p.url not in r.densities and p.url not in r.dropped.get("empty", []):
                continue
            removed = r.removed_lines.get(p.url, [])
            assert all(normalise_line(x) in landing_norm for x in removed), p.url
            if p.expected == "empty":  # only template text, some of it in the page's main part
                assert removed == p.lines, p.url
                continue
            assert sorted(removed) == sorted(x for x, t in zip(p.lines, p.template) if t), p.url
            if p.url in kept:
                unique = [x for x in p.lines if normalise_line(x) not in landing_norm]
                assert kept[p.url].lines == unique, p.url  # every line unique to the page stays
                assert not {normalise_line(x) for x in kept[p.url].lines} & template


def test_densities_separate_kept_from_thin_pages(results):
    low = math.log(CleanConfig().min_density_ratio)
    for s, r in results.values():
        for p in s.pages:
            if p.url in r.densities:
                d = r.densities[p.url]
                if p.expected == KEPT:
                    assert d > low + 0.5, (p.url, d)
                else:
                    assert p.expected == "low_density" and d < low - 0.2, (p.url, d)


def test_strip_landing_template_option():
    for s in SITES_3:
        r = clean_site(as_site(s), CleanConfig(strip_landing_template=True))
        landing = next(c for c in r.kept if c.url == s.landing.url)
        assert landing.lines == [x for x, t in zip(s.landing.lines, s.landing.template) if not t]
        assert [c.url for c in r.kept] == s.expected_kept()


def test_url_patterns_are_configurable():
    s = SITES_3[0]
    r = clean_site(as_site(s), CleanConfig(drop_url_patterns=("gallery", "legal")))
    assert any(u.endswith("/gallery") for u in r.dropped["boilerplate_url"])
    assert not any("privacy-policy" in u for u in r.dropped["boilerplate_url"])  # no longer a pattern
    none = clean_site(as_site(s), CleanConfig(drop_url_patterns=(), min_density_ratio=0.0))
    assert "boilerplate_url" not in none.dropped and "low_density" not in none.dropped


def test_landing_key():
    urls = ["https://a.example/about", "https://a.example/?utm_source=x", "https://a.example/index.html",
            "https://a.example/products/x"]
    assert min(urls, key=landing_key) == "https://a.example/index.html"
    assert min(urls + ["https://a.example/"], key=landing_key) == "https://a.example/"


def test_stats_follow_the_schema(results):
    assert STATS_COLUMNS == tuple(c for c in WEBSITE_STATS.columns
                                  if c not in ("company_id", "site", "snapshot", "filing_id"))
    rows = []
    for s, r in results.values():
        st = r.stats
        assert tuple(st) == STATS_COLUMNS
        assert st["pages_seen"] == len(s.pages) and st["pages_kept"] == len(s.expected_kept())
        assert st["pages_dropped"] == st["pages_seen"] - st["pages_kept"]
        assert json.loads(st["dropped_by_reason"]) == {k: len(v) for k, v in s.expected_dropped().items()}
        assert st["text_chars"] == sum(len("\n".join(s_p.kept_lines)) for s_p in s.pages if s_p.expected == KEPT)
        assert 0 < st["text_html_ratio"] < 0.5 and 0 < st["median_density"] < 0.5 and st["density_iqr"] >= 0
        row = stats_row(r, "f" * 24)
        assert list(row) == WEBSITE_STATS.columns and row["snapshot"] == s.snapshot
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=WEBSITE_STATS.schema)
    assert table.num_rows == len(results)


def test_site_document_round_trips_through_the_filing_etl(results):
    s, r = next(iter(results.values()))
    doc = site_document_html(r)
    blocks = [b.text for b in html_to_blocks(doc) if isinstance(b, TextBlock)]
    assert blocks == [x for c in r.kept for x in (c.url, *c.lines)]
    parsed = parse_filing(doc.encode("utf-8"), Path(f"{s.site}.html"),
                          sidecar=json.dumps(site_sidecar(r)).encode())
    assert parsed.meta.source == "website" and parsed.meta.company_id == s.company_id
    assert parsed.meta.filed_at == s.snapshot
    assert parsed.chunks and any(n.kind == "percent" for n in parsed.numbers)
    assert any(n.kind == "year" for n in parsed.numbers)
    assert any(n.kind == "amount" and n.unit == "USD" and n.value >= 1e8 for n in parsed.numbers)  # revenue


def test_stats_block_tags_the_statistics_numbers(results):
    s, r = next(iter(results.values()))
    text = stats_block(r.stats, "0000320193", "3m-products.example")
    assert "<number>" in text and "0000320193" in text and "<number>0000320193" not in text
    assert "<number>3</number>m" not in text
    st = r.stats
    assert f"<number>{st['pages_kept']:,}</number> pages kept of <number>{st['pages_seen']:,}</number>" in text
    assert f"<number>{st['text_chars']:,}</number> characters" in text
    tagged = [t.split("</number>")[0] for t in text.split("<number>")[1:]]
    plain = text.replace("<number>", "").replace("</number>", "")
    head = plain.index(":")
    assert tagged == [n.raw for n in find_numbers(plain) if n.start > head]
    empty = dict(st, pages_kept=0, median_density=None, density_iqr=None, text_chars=0)
    assert "n/a" in stats_block(empty, "x", "y.example")


# --- reading ----------------------------------------------------------------------------------

def test_read_site_manifest_and_warc_give_the_same_site(tmp_path):
    s = SITES_3[WARC_SITE_INDEX]
    write_site_folder(s, tmp_path / "folder" / s.site)
    write_site_warc(s, tmp_path / "warc" / s.site / f"{s.site}.warc.gz")
    m = read_site(tmp_path / "folder" / s.site, {s.site: s.company_id})
    w = read_site(tmp_path / "warc" / s.site, {s.site: s.company_id})
    assert m == w  # the WARC's robots.txt, image, redirect and 404 are skipped
    assert m.site == s.site and m.company_id == s.company_id and m.snapshot == s.snapshot
    assert [p.url for p in m.pages] == [p.url for p in s.pages]
    assert m.pages[0].fetched_at.tzinfo is not None
    # a WARC file can be read directly too
    assert read_site(tmp_path / "warc" / s.site / f"{s.site}.warc.gz", {s.site: s.company_id}) == m


def test_write_sites_then_read_them(tmp_path):
    folders = write_sites(tmp_path, n_companies=3, seed=0, truth=True)
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert (folders[WARC_SITE_INDEX] / f"{folders[WARC_SITE_INDEX].name}.warc.gz").is_file()
    mapping = json.loads((tmp_path / "sites.json").read_text())
    seen = 0
    for folder in folders:
        t = truth[folder.name]
        if t["company_id"] is None:
            with pytest.raises(SiteRejected) as e:
                read_site(folder)
            assert e.value.reason == "no_company" and "sites.json" in e.value.detail
            continue
        site = read_site(folder)  # company from the manifest or from sites.json
        assert site.company_id == t["company_id"] == mapping[folder.name]
        r = clean_site(site)
        assert [c.url for c in r.kept] == t["expected_kept"]
        seen += 1
    assert seen == 3


def test_rejects(tmp_path):
    s = SITES_3[0]
    folder = write_site_folder(s, tmp_path / "a")
    manifest = json.loads((folder / "manifest.json").read_text())

    def reason(m: dict | str, company_map=None) -> str:
        (folder / "manifest.json").write_text(m if isinstance(m, str) else json.dumps(m))
        with pytest.raises(SiteRejected) as e:
            read_site(folder, company_map)
        return e.value.reason

    assert reason(dict(manifest, company_id=None)) == "no_company"
    assert reason("{not json") == "bad_manifest"
    assert reason(dict(manifest, pages="x")) == "bad_manifest"
    assert reason(dict(manifest, pages=[{"url": "https://x/", "file": "missing.html"}])) == "bad_manifest"
    assert reason(dict(manifest, pages=[{"url": "https://x/", "file": "../../etc/passwd"}])) == "bad_manifest"
    late = [{"url": "https://x/", "file": "index.html", "fetched_at": "soon"}]
    assert reason(dict(manifest, pages=late)) == "bad_manifest"
    assert reason(dict(manifest, pages=[])) == "no_pages"
    # a gzipped page file is read as its HTML
    (folder / "index.html.gz").write_bytes(gzip.compress((folder / "index.html").read_bytes()))
    gz = dict(manifest, pages=[dict(manifest["pages"][0], file="index.html.gz")])
    (folder / "manifest.json").write_text(json.dumps(gz))
    assert read_site(folder).pages[0].html == (folder / "index.html").read_bytes()
    # the caller's map supplies a missing company
    (folder / "manifest.json").write_text(json.dumps(dict(manifest, company_id=None)))
    assert read_site(folder, {s.site: "C1"}).company_id == "C1"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SiteRejected) as e:
        read_site(empty)
    assert e.value.reason == "no_pages"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.warc.gz").write_bytes(gzip.compress(b"this is not a warc record\r\n\r\n"))
    with pytest.raises(SiteRejected) as e:
        read_site(bad, {"x": "1"})
    assert e.value.reason == "bad_warc"
