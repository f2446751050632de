"""The bundled default, end to end: sample corpus -> ingest -> what is in the store.

The sample corpus: generated 10-Ks (several companies and years, inline XBRL,
EDGAR-style tables), a generated Companies House bulk zip, and generated crawls
of the same companies' websites (one of them a WARC, one without a company,
which ends in `rejects`).

Local (what `make demo` runs):
    python -m jobs.demo --out demo

On a cluster (the output folder must be on storage the driver can write):
    ray job submit --address http://HEAD:8265 --working-dir . -- python -m jobs.demo --out /shared/demo

Re-running regenerates the same corpus and leaves the store unchanged.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from etl.pipeline import IngestConfig, run_ingest
from etl.sample_accounts import write_bulk_zip
from etl.sample_corpus import write_corpus
from etl.site_corpus import write_sites
from featurestore import Store
from jobs.ray_session import init_ray, shutdown_ray


def _print_table(title: str, tbl) -> None:
    print(f"\n{title}")
    cols = tbl.column_names
    rows = [[("" if v is None else str(v)) for v in r.values()] for r in tbl.to_pylist()]
    widths = [min(60, max([len(c)] + [len(r[i]) for r in rows])) for i, c in enumerate(cols)]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  " + "  ".join(v[:w].ljust(w) for v, w in zip(r, widths)))


def show_store(store: Store) -> None:
    _print_table("tables", store.sql(
        "SELECT 'filings' AS tbl, count(*) AS n_rows FROM filings UNION ALL "
        "SELECT 'facts', count(*) FROM facts UNION ALL SELECT 'website_stats', count(*) FROM website_stats UNION ALL "
        "SELECT 'sections', count(*) FROM sections UNION ALL SELECT 'chunks', count(*) FROM chunks UNION ALL "
        "SELECT 'numbers', count(*) FROM numbers UNION ALL SELECT 'rejects', count(*) FROM rejects"))
    _print_table("filings", store.sql(
        "SELECT f.source, f.company_id, f.ticker, f.form, f.company_name, f.period_end, f.filed_at, "
        "count(DISTINCT c.section_id) AS sections, count(c.chunk_id) AS chunks "
        "FROM filings f LEFT JOIN chunks c USING (filing_id) GROUP BY ALL ORDER BY f.source DESC, f.company_id, f.filed_at"))
    _print_table("facts by filer (inline XBRL)", store.sql(
        "SELECT f.source, f.company_name, count(*) AS facts, count(x.value) AS numeric "
        "FROM facts x JOIN filings f USING (filing_id) GROUP BY ALL ORDER BY facts DESC LIMIT 6"))
    _print_table("website statistics joined to the same companies' filings (SQL)", store.sql(
        "SELECT w.company_id, w.site, w.pages_seen, w.pages_kept, w.dropped_by_reason, "
        "round(w.median_density, 3) AS median_density, count(f.filing_id) AS sec_filings "
        "FROM website_stats w LEFT JOIN filings f ON f.company_id = w.company_id AND f.source = 'sec' "
        "GROUP BY ALL ORDER BY w.company_id"))
    _print_table("numbers by kind", store.sql(
        "SELECT kind, count(*) AS n, min(value) AS min_value, max(value) AS max_value "
        "FROM numbers GROUP BY kind ORDER BY n DESC"))
    _print_table("largest amounts (SQL over numbers joined to filings)", store.sql(
        "SELECT f.ticker, f.period_end, n.raw, n.value, n.unit FROM numbers n JOIN filings f USING (filing_id) "
        "WHERE n.kind = 'amount' ORDER BY n.value DESC LIMIT 5"))
    sample = store.sql(
        "SELECT chunk_id, text FROM chunks WHERE text LIKE '%in millions%' AND text LIKE '%|%' "
        "ORDER BY chunk_id LIMIT 1")
    if sample.num_rows:
        print("\na chunk with a financial table (numbers tagged):")
        print("  " + sample["text"][0].as_py()[:900].replace("\n", "\n  "))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("demo"), help="folder for corpus/ and store/")
    ap.add_argument("--companies", type=int, default=4)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster")
    a = ap.parse_args(argv)

    corpus, store_dir = a.out / "corpus", a.out / "store"
    paths = write_corpus(corpus / "sec", n_companies=a.companies, n_years=a.years, seed=a.seed)
    bulk = write_bulk_zip(corpus / "companies_house", n=6, seed=a.seed)
    sites = write_sites(corpus / "websites", n_companies=min(a.companies, 3), seed=a.seed)
    print(f"sample corpus: {len(paths)} 10-K filings in {corpus / 'sec'}, a Companies House bulk zip {bulk}, "
          f"{len(sites)} crawled sites in {corpus / 'websites'}")
    init_ray(a.num_cpus)
    try:
        summaries = {
            "filings": run_ingest(IngestConfig(inputs=[corpus / "sec", corpus / "companies_house"], store=store_dir)),
            "websites": run_ingest(IngestConfig(inputs=[corpus / "websites"], store=store_dir, source="website")),
        }
    finally:
        shutdown_ray()
    for what, summary in summaries.items():
        print(f"\ningest of the {what} into {store_dir}:")
        for line in summary.lines():
            print("  " + line)
    show_store(Store(store_dir))
    print(f"\nstore: {store_dir} (open {store_dir / 'filingstore.duckdb'} with any DuckDB client)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
