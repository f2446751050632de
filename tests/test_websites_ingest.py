"""Crawled sites through the Ray ingest: one filing per site snapshot plus website_stats."""
from __future__ import annotations

import pytest

from etl.pipeline import IngestConfig, run_ingest
from etl.sample_corpus import write_corpus
from etl.site_corpus import write_sites
from featurestore import Store

pytestmark = pytest.mark.ray


def test_sites_become_filings_and_stats_joinable_to_filings(ray_cluster, tmp_path):
    store_dir = tmp_path / "store"
    write_corpus(tmp_path / "sec", n_companies=3, n_years=1, seed=0)
    write_sites(tmp_path / "sites", n_companies=3, seed=0)
    run_ingest(IngestConfig(inputs=[tmp_path / "sec"], store=store_dir, progress=False, workers=2))
    s = run_ingest(IngestConfig(inputs=[tmp_path / "sites"], store=store_dir, source="website",
                                progress=False, workers=2))
    assert s.filings_written == 3 and dict(s.rejects) == {"read/no_company": 1}
    store = Store(store_dir)
    joined = store.sql(
        "SELECT w.company_id, w.site, w.pages_seen, w.pages_kept, w.pages_dropped, w.median_density, "
        "f.source AS site_source, count(DISTINCT g.filing_id) AS sec_filings "
        "FROM website_stats w JOIN filings f ON f.filing_id = w.filing_id "
        "JOIN filings g ON g.company_id = w.company_id AND g.source = 'sec' GROUP BY ALL ORDER BY 1").to_pylist()
    assert len(joined) == 3
    for r in joined:
        assert r["site_source"] == "website" and r["sec_filings"] == 1
        assert r["pages_kept"] == 10 and r["pages_seen"] == r["pages_kept"] + r["pages_dropped"]
        assert r["median_density"] > 0
    chunks = store.sql("SELECT c.text FROM chunks c JOIN filings f USING (filing_id) WHERE f.source = 'website'")
    text = "\n".join(chunks["text"].to_pylist())
    assert "<number>" in text
    # kept pages are in the site document under their URL; boilerplate and thin pages are not
    assert "acme-robotics.example/about" in text and "acme-robotics.example/investors" in text
    for dropped in ("/privacy-policy", "/cookie-policy", "/login", "/careers", "/sitemap", "/gallery"):
        assert f"acme-robotics.example{dropped}" not in text, dropped
    again = run_ingest(IngestConfig(inputs=[tmp_path / "sites"], store=store_dir, source="website",
                                    progress=False, workers=2))
    assert again.filings_written == 0 and again.skipped_known == 3
    assert store.count("website_stats") == 3
