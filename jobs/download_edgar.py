"""Download EDGAR primary documents (10-K, 10-Q, ...) with metadata sidecars.

Local:
    SEC_USER_AGENT="Jane Doe jane@example.com" \\
    python -m jobs.download_edgar --cik 320193 --cik 789019 --forms 10-K,10-Q \\
        --since 2020-01-01 --out data/sec

On a cluster (runs on the driver; --out must be storage the ingest can read):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.download_edgar --cik 320193 --forms 10-K --since 2020-01-01 \\
            --out /shared/filings/sec --user-agent "Jane Doe jane@example.com"

Then ingest:  python -m jobs.ingest --input data/sec --store stores/main

Files are named `<ticker or 10-digit CIK>-<form>-<filing date>.htm`
(`aapl-10-k-2024-11-01.htm`, amendments `aapl-10-k-a-…`), each with a sidecar
`<file>.json` (company_id, company_name, ticker, form, filed_at, period_end,
accession_number, and size/sha256). SEC requires a User-Agent naming you and
an email (--user-agent or SEC_USER_AGENT) and at most 10 requests per second.
Re-running skips complete files and resumes partial ones.

Exit status: 0 all selected documents are complete, 1 some failed (listed at
the end; re-run to retry them), 2 bad arguments or no User-Agent.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from jobs.cli_types import iso_date, positive_int, report_downloads
from etl.edgar_download import (
    SEC_ARCHIVE_URL, SEC_DATA_URL, SEC_MAX_RATE_PER_S, EdgarDownloadConfig, download_edgar, normalize_cik,
)

UA_ENV = "SEC_USER_AGENT"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m jobs.download_edgar", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cik", action="append", required=True,
                    help="company CIK (320193 or 0000320193); repeat or separate with commas")
    ap.add_argument("--forms", default="10-K", help="comma-separated forms, exact (default %(default)s)")
    ap.add_argument("--include-amendments", action="store_true", help="also take FORM/A of every form")
    ap.add_argument("--since", type=iso_date, default=None, help="first filing date, YYYY-MM-DD (default: all)")
    ap.add_argument("--until", type=iso_date, default=None, help="last filing date, YYYY-MM-DD (default: all)")
    ap.add_argument("--out", type=Path, required=True, help="folder for documents and sidecars (created)")
    ap.add_argument("--user-agent", default=None,
                    help=f'"Name email" declared to SEC (default: ${UA_ENV}); required by SEC')
    ap.add_argument("--base-url", default=None,
                    help=f"serve both {SEC_DATA_URL} and {SEC_ARCHIVE_URL} from this URL (a mirror, tests)")
    ap.add_argument("--rate", type=float, default=SEC_MAX_RATE_PER_S,
                    help="requests per second, all requests together (default and SEC maximum %(default)s)")
    ap.add_argument("--max-attempts", type=positive_int, default=5,
                    help="requests per file before it is reported failed (default %(default)s)")
    ap.add_argument("--workers", type=positive_int, default=4,
                    help="documents fetched at once, sharing the rate limit (default %(default)s)")
    return ap


def parse_args(argv: list[str] | None = None) -> EdgarDownloadConfig:
    ap = build_parser()
    a = ap.parse_args(argv)
    ciks = [c.strip() for arg in a.cik for c in arg.split(",") if c.strip()]
    for c in ciks:
        try:
            normalize_cik(c)
        except ValueError as e:
            ap.error(str(e))
    forms = [f.strip().upper() for f in a.forms.split(",") if f.strip()]
    if not forms:
        ap.error("--forms names no form (e.g. --forms 10-K,10-Q)")
    if a.since and a.until and a.since > a.until:
        ap.error(f"--since {a.since} is after --until {a.until}")
    if not a.rate > 0:
        ap.error("--rate must be > 0")
    if a.base_url is None and a.rate > SEC_MAX_RATE_PER_S:
        ap.error(f"--rate {a.rate} is above SEC's limit of {SEC_MAX_RATE_PER_S:g} requests per second")
    ua = (a.user_agent if a.user_agent is not None else os.environ.get(UA_ENV, "")).strip()
    if not ua:
        ap.exit(2, f"{ap.prog}: error: SEC requires a declared User-Agent with your name and email. "
                   f'Pass --user-agent "Jane Doe jane@example.com" or set {UA_ENV}="Jane Doe jane@example.com".\n')
    if "@" not in ua:
        print(f"warning: User-Agent {ua!r} has no email address; SEC asks for a name and an email",
              file=sys.stderr)
    return EdgarDownloadConfig(
        ciks=ciks, forms=forms, out=a.out, user_agent=ua, since=a.since, until=a.until,
        include_amendments=a.include_amendments,
        data_base_url=a.base_url or SEC_DATA_URL, archive_base_url=a.base_url or SEC_ARCHIVE_URL,
        rate_per_s=a.rate, max_attempts=a.max_attempts, workers=a.workers,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
    except SystemExit as e:          # argparse: usage errors (2), --help (0)
        return int(e.code or 0)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    summary = download_edgar(cfg, log=log)
    return report_downloads(f"EDGAR download into {cfg.out}:", summary, "retry")


if __name__ == "__main__":
    sys.exit(main())
