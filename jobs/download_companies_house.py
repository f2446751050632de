"""Download Companies House bulk accounts zips (daily, or monthly with --monthly).

Local:
    python -m jobs.download_companies_house --since 2024-01-01 --out data/companies_house
    python -m jobs.download_companies_house --since 2023-01-01 --until 2023-12-31 --monthly \\
        --out data/companies_house

On a cluster (runs on the driver; --out must be storage the ingest can read):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.download_companies_house --since 2024-01-01 --out /shared/filings/companies_house

The files are those linked from the download pages
(https://download.companieshouse.gov.uk/en_accountsdata.html, and
en_monthlyaccountsdata.html / historicmonthlyaccountsdata.html for --monthly)
whose dates meet --since..--until. Each zip is streamed to `<name>.part`,
resumed with an HTTP Range request after an interruption, checked to be a zip
and renamed into place, with `<name>.json` recording its url, size and sha256;
re-running skips complete files.

Exit status: 0 all selected files are complete, 1 some failed (listed at the
end; re-run to resume them), 2 bad arguments.
"""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from jobs.cli_types import iso_date, positive_int, report_downloads
from etl.companies_house_download import (
    CH_BASE_URL, DEFAULT_USER_AGENT, CompaniesHouseConfig, download_companies_house,
)


def parse_args(argv: list[str] | None = None) -> CompaniesHouseConfig:
    ap = argparse.ArgumentParser(prog="python -m jobs.download_companies_house", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--since", type=iso_date, required=True, help="first day, YYYY-MM-DD")
    ap.add_argument("--until", type=iso_date, default=None, help="last day, YYYY-MM-DD (default: today)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the zips (created)")
    ap.add_argument("--monthly", action="store_true",
                    help="the monthly archives (Accounts_Monthly_Data-MonthYYYY.zip) instead of the daily files")
    ap.add_argument("--base-url", default=CH_BASE_URL, help="site serving the pages and files (default %(default)s)")
    ap.add_argument("--user-agent", default=DEFAULT_USER_AGENT, help="User-Agent header (default %(default)r)")
    ap.add_argument("--rate", type=float, default=10.0, help="requests per second (default %(default)s)")
    ap.add_argument("--max-attempts", type=positive_int, default=5,
                    help="requests per file before it is reported failed (default %(default)s)")
    a = ap.parse_args(argv)
    until = a.until or date.today()
    if a.since > until:
        ap.error(f"--since {a.since} is after --until {until}")
    if not a.rate > 0:
        ap.error("--rate must be > 0")
    if not a.user_agent.strip():
        ap.error("--user-agent is empty")
    return CompaniesHouseConfig(since=a.since, until=until, out=a.out, monthly=a.monthly,
                                base_url=a.base_url, user_agent=a.user_agent, rate_per_s=a.rate,
                                max_attempts=a.max_attempts)


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    summary = download_companies_house(cfg, log=lambda msg: print(msg, flush=True))
    return report_downloads(f"Companies House download into {cfg.out}:", summary, "resume")


if __name__ == "__main__":
    sys.exit(main())
