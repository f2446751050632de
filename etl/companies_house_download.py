"""Download Companies House bulk accounts files (zips of iXBRL accounts).

The files are whatever the download pages link to; dates come from the link
names, never from a calendar guess:

* daily:   `en_accountsdata.html` -> `Accounts_Bulk_Data-YYYY-MM-DD.zip`
  (the page keeps only recent weeks);
* monthly: `en_monthlyaccountsdata.html` -> `Accounts_Monthly_Data-MonthYYYY.zip`
  (last 12 months), and, only when the dates reach further back,
  `historicmonthlyaccountsdata.html` -> `archive/Accounts_Monthly_Data-…zip`
  (incl. whole years: `…-JanuaryToDecember2009.zip`).

A file is kept when the days it covers meet `since`..`until`. Each is streamed
(1 MiB chunks) to `<name>.part`, resumed with a Range request where the server
supports it, checked to be a zip (its central directory opens) and renamed
into place; beside it `<name>.json` records url, size and sha256, so a re-run
skips complete files without a request. A zip found without that record is
checked against the server's Content-Length (one HEAD request).
"""
from __future__ import annotations

import calendar
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

from etl.downloads import (
    DownloadError, DownloadResult, DownloadSummary, HttpClient, RetryPolicy,
    file_sha256, read_json, record_matches, utc_now_iso, write_json_atomic,
)
from etl.metadata import sidecar_path

CH_BASE_URL = "https://download.companieshouse.gov.uk"
DAILY_PAGE = "en_accountsdata.html"
MONTHLY_PAGE = "en_monthlyaccountsdata.html"
HISTORIC_MONTHLY_PAGE = "historicmonthlyaccountsdata.html"
DEFAULT_USER_AGENT = "filingstore/0.1 (Companies House bulk accounts downloader; Python urllib)"

_DAILY = re.compile(r"^Accounts_Bulk_Data-(\d{4}-\d{2}-\d{2})\.zip$", re.IGNORECASE)
_MONTHLY = re.compile(r"^Accounts_Monthly_Data-([A-Za-z]+)(\d{4})\.zip$", re.IGNORECASE)
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}


@dataclass(frozen=True)
class BulkFile:
    name: str
    url: str
    kind: str            # "daily" or "monthly"
    first_day: date      # days whose accounts the file holds
    last_day: date

    def overlaps(self, since: date | None, until: date | None) -> bool:
        return (since is None or self.last_day >= since) and (until is None or self.first_day <= until)


@dataclass
class CompaniesHouseConfig:
    since: date
    out: Path
    until: date | None = None
    monthly: bool = False                # monthly archives instead of the daily files
    base_url: str = CH_BASE_URL
    user_agent: str = DEFAULT_USER_AGENT
    rate_per_s: float = 10.0
    max_attempts: int = 5


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href.strip())


def parse_links(html: str, page_url: str) -> list[str]:
    """Absolute URLs of the page's `<a href>` links, in page order."""
    p = _Links()
    p.feed(html)
    p.close()
    return [urljoin(page_url, h) for h in p.hrefs]


def bulk_file(url: str) -> BulkFile | None:
    """The bulk file a link points to, or None for any other link."""
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    m = _DAILY.match(name)
    if m:
        try:
            d = date.fromisoformat(m.group(1))
        except ValueError:
            return None
        return BulkFile(name, url, "daily", d, d)
    m = _MONTHLY.match(name)
    if m:
        span = _month_span(m.group(1).lower())
        if span is None:
            return None
        year, (first, last) = int(m.group(2)), span
        return BulkFile(name, url, "monthly", date(year, first, 1),
                        date(year, last, calendar.monthrange(year, last)[1]))
    return None


def _month_span(words: str) -> tuple[int, int] | None:
    """'october' -> (10, 10); 'januarytodecember' -> (1, 12); anything else -> None.
    ("October" holds "to": split only where both halves are month names.)"""
    if words in _MONTHS:
        return _MONTHS[words], _MONTHS[words]
    for i in range(len(words)):
        if words.startswith("to", i) and words[:i] in _MONTHS and words[i + 2:] in _MONTHS:
            first, last = _MONTHS[words[:i]], _MONTHS[words[i + 2:]]
            return (first, last) if first <= last else None
    return None


def bulk_files(links: Iterable[str]) -> list[BulkFile]:
    """Bulk files among the links, each name once, oldest first."""
    seen: dict[str, BulkFile] = {}
    for url in links:
        f = bulk_file(url)
        if f is not None and f.name not in seen:
            seen[f.name] = f
    return sorted(seen.values(), key=lambda f: (f.first_day, f.last_day, f.name))


def _page(client: HttpClient, url: str) -> list[BulkFile]:
    body = client.get_bytes(url)
    return bulk_files(parse_links(body.decode("utf-8", errors="replace"), url))


def list_bulk_files(client: HttpClient, cfg: CompaniesHouseConfig,
                    log: Callable[[str], None] = print) -> list[BulkFile]:
    """The files of the configured kind the download pages list (all dates)."""
    base = cfg.base_url.rstrip("/") + "/"
    kind = "monthly" if cfg.monthly else "daily"
    page_url = urljoin(base, MONTHLY_PAGE if cfg.monthly else DAILY_PAGE)
    files = [f for f in _page(client, page_url) if f.kind == kind]
    if cfg.monthly and (not files or cfg.since < files[0].first_day):
        files += [f for f in _page(client, urljoin(base, HISTORIC_MONTHLY_PAGE)) if f.kind == kind]
        files = bulk_files(f.url for f in files)
    if not files:
        raise DownloadError(page_url, f"the page links to no {kind} accounts files "
                                      "(Accounts_Bulk_Data-YYYY-MM-DD.zip / Accounts_Monthly_Data-MonthYYYY.zip); "
                                      "has its layout changed?")
    if cfg.since < files[0].first_day:
        more = "" if cfg.monthly else "; older accounts are in the monthly files: add --monthly"
        log(f"note: the pages list {kind} files from {files[0].first_day} only{more}")
    return files


def _zip_problem(path: Path) -> str | None:
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(40)
        return f"the downloaded file is not a zip (no central directory); it starts {head!r}"
    return None


def _record(f: BulkFile, size: int, sha256: str) -> dict:
    return {"url": f.url, "file_name": f.name, "kind": f.kind,
            "covers_from": f.first_day.isoformat(), "covers_to": f.last_day.isoformat(),
            "size": size, "sha256": sha256, "downloaded_at": utc_now_iso()}


def is_complete(client: HttpClient, f: BulkFile, dest: Path) -> bool:
    """Complete by the size recorded beside it; a zip without a record is
    compared with the server's Content-Length (and recorded when it matches)."""
    if not dest.is_file():
        return False
    record = read_json(sidecar_path(dest))
    if record is not None:
        return record.get("file_name") == f.name and record_matches(dest, record, check_sha256=False)
    size = client.content_length(f.url)
    if size is None or size != dest.stat().st_size or _zip_problem(dest):
        return False
    write_json_atomic(sidecar_path(dest), _record(f, size, file_sha256(dest)))
    return True


def download_bulk_file(client: HttpClient, f: BulkFile, out: Path) -> DownloadResult:
    dest = out / f.name
    return client.download(
        f.url, dest, validate=_zip_problem,
        before_rename=lambda r: write_json_atomic(sidecar_path(dest), _record(f, r.size, r.sha256)),
    )


def make_client(cfg: CompaniesHouseConfig, log: Callable[[str], None] | None = None) -> HttpClient:
    return HttpClient(cfg.user_agent, rate_per_s=cfg.rate_per_s,
                      retry=RetryPolicy(max_attempts=cfg.max_attempts), log=log)


def download_companies_house(cfg: CompaniesHouseConfig, client: HttpClient | None = None,
                             log: Callable[[str], None] = print) -> DownloadSummary:
    """Fetch the listed bulk files that meet `since`..`until` into `cfg.out`,
    one after another; a file that fails is listed in `summary.failed` and the
    run goes on."""
    client = client or make_client(cfg, log)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = DownloadSummary()
    try:
        files = list_bulk_files(client, cfg, log)
    except DownloadError as e:
        summary.failed.append(("download page", str(e)))
        log(f"FAILED download page: {e}")
        return summary
    chosen = [f for f in files if f.overlaps(cfg.since, cfg.until)]
    log(f"{len(files)} files listed, {len(chosen)} between {cfg.since} and {cfg.until or 'now'}")
    for f in chosen:
        try:
            if is_complete(client, f, out / f.name):
                summary.skipped.append(f.name)
                continue
            result = download_bulk_file(client, f, out)
        except DownloadError as e:
            summary.failed.append((f.name, str(e)))
            log(f"FAILED {f.name}: {e}")
            continue
        summary.downloaded.append(f.name)
        summary.bytes_downloaded += result.size
        how = f", resumed at byte {result.resumed_from}" if result.resumed_from else ""
        log(f"downloaded {f.name} ({result.size} bytes{how})")
    return summary
