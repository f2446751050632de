"""Download EDGAR primary documents with the sidecars the ingest reads.

For each CIK:
1. the submissions index `https://data.sec.gov/submissions/CIK##########.json`:
   `filings.recent` holds parallel arrays (accessionNumber, filingDate,
   reportDate, form, primaryDocument, ...); older filings are in the pages
   listed under `filings.files` (same arrays at the top level), fetched only
   when their `filingFrom`..`filingTo` span meets the requested dates;
2. filings are kept by form (exact match, `10-K/A` only when asked for) and
   filing date;
3. each primary document comes from
   `https://www.sec.gov/Archives/edgar/data/<cik>/<accession without dashes>/<primaryDocument>`
   and is saved as `<ticker or 10-digit cik>-<form>-<filingDate><suffix>`
   (`exwd-10-k-2024-11-01.htm`, `exwd-10-k-a-2024-03-01.htm`), the name style
   `etl.metadata.from_file_name` reads, with a sidecar `<file>.json`:
   source, company_id (10-digit CIK), company_name, ticker, form, filed_at,
   period_end (reportDate), accession_number, plus url, primary_document,
   size and sha256 for resuming.

The sidecar is written before the document is renamed into place, so a
document under its final name always has one. A re-run skips a document whose
sidecar names the same accession and whose size and sha256 match, without a
request. Two selected filings that would get the same name (two 8-Ks on one
day) are told apart: the later accession gets `-<accession>` before the suffix.

SEC's fair-access rules: a declared User-Agent (name and email), at most 10
requests per second; the caller's `HttpClient` enforces both.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

from etl.downloads import (
    DownloadError, DownloadResult, DownloadSummary, HttpClient, RetryPolicy,
    read_json, record_matches, utc_now_iso, write_json_atomic,
)
from etl.metadata import sidecar_path

SEC_DATA_URL = "https://data.sec.gov"
SEC_ARCHIVE_URL = "https://www.sec.gov"
SEC_MAX_RATE_PER_S = 10.0
_CIK = re.compile(r"^(?:CIK)?0*(\d{1,10})$", re.IGNORECASE)
_ACCESSION = re.compile(r"^\d{10}-\d{2}-\d{6}$")
_COLUMNS = ("accessionNumber", "filingDate", "reportDate", "form", "primaryDocument")


class EdgarIndexError(ValueError):
    """A submissions JSON that does not have the expected shape."""


@dataclass(frozen=True)
class Filing:
    cik: int
    company_name: str | None
    ticker: str | None
    form: str
    filing_date: date
    report_date: date | None
    accession_number: str
    primary_document: str
    accepted_at: str | None = None

    @property
    def company_id(self) -> str:
        return f"{self.cik:010d}"


@dataclass
class EdgarDownloadConfig:
    ciks: list[str]
    forms: list[str]
    out: Path
    user_agent: str
    since: date | None = None
    until: date | None = None
    include_amendments: bool = False     # 10-K also selects 10-K/A
    data_base_url: str = SEC_DATA_URL
    archive_base_url: str = SEC_ARCHIVE_URL
    rate_per_s: float = SEC_MAX_RATE_PER_S
    max_attempts: int = 5
    workers: int = 4                     # documents fetched concurrently (one shared rate limit)


def normalize_cik(value: str | int) -> int:
    """'320193', '0000320193' or 'CIK0000320193' -> 320193."""
    m = _CIK.match(str(value).strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"CIK {value!r} is not a number of at most 10 digits (e.g. 320193 or 0000320193)")
    return int(m.group(1))


def submissions_url(base: str, cik: int) -> str:
    return f"{base.rstrip('/')}/submissions/CIK{cik:010d}.json"


def document_url(base: str, filing: Filing) -> str:
    return (f"{base.rstrip('/')}/Archives/edgar/data/{filing.cik}/"
            f"{filing.accession_number.replace('-', '')}/{filing.primary_document}")


def _date_or_none(value) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def filings_from_columns(cols: dict, *, cik: int, company_name: str | None,
                         ticker: str | None) -> list[Filing]:
    """Filings from EDGAR's parallel arrays (`filings.recent` or an older page)."""
    if not isinstance(cols, dict):
        raise EdgarIndexError(f"filings for CIK {cik} are a {type(cols).__name__}, not an object of arrays")
    missing = [c for c in ("accessionNumber", "filingDate", "form") if not isinstance(cols.get(c), list)]
    if missing:
        raise EdgarIndexError(f"filings for CIK {cik} lack the arrays {missing}")
    n = len(cols["accessionNumber"])
    for c in _COLUMNS + ("acceptanceDateTime",):
        if c in cols and isinstance(cols[c], list) and len(cols[c]) != n:
            raise EdgarIndexError(f"filings for CIK {cik}: array {c} has {len(cols[c])} entries, "
                                  f"accessionNumber has {n}")

    def col(name, i):
        v = cols.get(name)
        return v[i] if isinstance(v, list) else None

    out = []
    for i in range(n):
        acc, filed = str(col("accessionNumber", i) or ""), _date_or_none(col("filingDate", i))
        if not _ACCESSION.match(acc) or filed is None:
            raise EdgarIndexError(f"filings for CIK {cik}, entry {i}: accession {acc!r} or "
                                  f"filing date {col('filingDate', i)!r} is malformed")
        out.append(Filing(
            cik=cik, company_name=company_name, ticker=ticker, form=str(col("form", i) or "").strip(),
            filing_date=filed, report_date=_date_or_none(col("reportDate", i)),
            accession_number=acc, primary_document=str(col("primaryDocument", i) or "").strip(),
            accepted_at=col("acceptanceDateTime", i) or None,
        ))
    return out


def _overlaps(lo: date | None, hi: date | None, since: date | None, until: date | None) -> bool:
    if since is not None and hi is not None and hi < since:
        return False
    if until is not None and lo is not None and lo > until:
        return False
    return True


def list_filings(client: HttpClient, cik: int, *, data_base_url: str = SEC_DATA_URL,
                 since: date | None = None, until: date | None = None) -> list[Filing]:
    """Every filing of `cik` in the index (older pages only where they meet the dates)."""
    url = submissions_url(data_base_url, cik)
    data = _json(client, url)
    filings_obj = data.get("filings")
    if not isinstance(filings_obj, dict):
        raise EdgarIndexError(f"{url}: no 'filings' object; is this an EDGAR submissions file?")
    tickers = data.get("tickers") or []
    ticker = str(tickers[0]).strip() if tickers and str(tickers[0]).strip() else None
    name = (data.get("name") or "").strip() or None
    out = filings_from_columns(filings_obj.get("recent") or {}, cik=cik, company_name=name, ticker=ticker)
    for page in filings_obj.get("files") or []:
        if not isinstance(page, dict) or not page.get("name"):
            continue
        if not _overlaps(_date_or_none(page.get("filingFrom")), _date_or_none(page.get("filingTo")),
                         since, until):
            continue
        page_url = f"{data_base_url.rstrip('/')}/submissions/{PurePosixPath(page['name']).name}"
        out += filings_from_columns(_json(client, page_url), cik=cik, company_name=name, ticker=ticker)
    seen, unique = set(), []
    for f in out:
        if f.accession_number not in seen:
            seen.add(f.accession_number)
            unique.append(f)
    return unique


def _json(client: HttpClient, url: str) -> dict:
    body = client.get_bytes(url)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EdgarIndexError(f"{url}: not JSON ({e}); the first bytes are {body[:60]!r}") from None
    if not isinstance(data, dict):
        raise EdgarIndexError(f"{url}: a JSON {type(data).__name__}, not an object")
    return data


def select_filings(filings: Iterable[Filing], forms: Iterable[str], *, since: date | None = None,
                   until: date | None = None, include_amendments: bool = False) -> list[Filing]:
    wanted = {f.strip().upper() for f in forms if f.strip()}
    if include_amendments:
        wanted |= {f + "/A" for f in wanted if not f.endswith("/A")}
    return [f for f in filings
            if f.form.upper() in wanted
            and (since is None or f.filing_date >= since)
            and (until is None or f.filing_date <= until)]


def form_slug(form: str) -> str:
    """'10-K' -> '10-k', '10-K/A' -> '10-k-a', 'DEF 14A' -> 'def-14a'."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9.]+", "-", form.lower())).strip("-")


def file_name(filing: Filing, *, disambiguate: bool = False) -> str:
    who = re.sub(r"[^a-z0-9.-]+", "-", filing.ticker.lower()) if filing.ticker else filing.company_id
    suffix = PurePosixPath(filing.primary_document).suffix.lower() or ".htm"
    extra = f"-{filing.accession_number}" if disambiguate else ""
    return f"{who}-{form_slug(filing.form)}-{filing.filing_date.isoformat()}{extra}{suffix}"


def assign_names(filings: Iterable[Filing]) -> dict[str, Filing]:
    """File name -> filing; on a clash the earliest accession keeps the plain name."""
    names: dict[str, Filing] = {}
    for f in sorted(filings, key=lambda f: (f.cik, f.accession_number)):
        name = file_name(f)
        names[file_name(f, disambiguate=True) if name in names else name] = f
    return names


def sidecar_record(filing: Filing, *, url: str, size: int, sha256: str) -> dict:
    """The sidecar: `etl.metadata` fields first, then what resuming needs."""
    return {
        "source": "sec",
        "company_id": filing.company_id,
        "company_name": filing.company_name,
        "ticker": filing.ticker.upper() if filing.ticker else None,
        "form": filing.form,
        "filed_at": filing.filing_date.isoformat(),
        "period_end": filing.report_date.isoformat() if filing.report_date else None,
        "accession_number": filing.accession_number,
        "accepted_at": filing.accepted_at,
        "primary_document": filing.primary_document,
        "url": url,
        "size": size,
        "sha256": sha256,
        "downloaded_at": utc_now_iso(),
    }


def is_complete(path: Path, filing: Filing) -> bool:
    record = read_json(sidecar_path(path))
    return (record is not None and record.get("accession_number") == filing.accession_number
            and record_matches(path, record, check_sha256=True))


def download_filing(client: HttpClient, filing: Filing, dest: Path, *,
                    archive_base_url: str = SEC_ARCHIVE_URL) -> DownloadResult:
    url = document_url(archive_base_url, filing)

    def write_sidecar(result: DownloadResult) -> None:
        write_json_atomic(sidecar_path(dest), sidecar_record(filing, url=url, size=result.size,
                                                             sha256=result.sha256))

    return client.download(url, dest, before_rename=write_sidecar)


def make_client(cfg: EdgarDownloadConfig, log: Callable[[str], None] | None = None) -> HttpClient:
    return HttpClient(cfg.user_agent, rate_per_s=cfg.rate_per_s,
                      retry=RetryPolicy(max_attempts=cfg.max_attempts), log=log)


def download_edgar(cfg: EdgarDownloadConfig, client: HttpClient | None = None,
                   log: Callable[[str], None] = print) -> DownloadSummary:
    """Fetch the selected primary documents of every CIK into `cfg.out`.

    A CIK whose index cannot be read and a document that cannot be fetched
    become entries of `summary.failed`; the run goes on with the rest."""
    client = client or make_client(cfg, log)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = DownloadSummary()
    selected: list[Filing] = []
    for raw_cik in cfg.ciks:
        try:
            cik = normalize_cik(raw_cik)
            filings = list_filings(client, cik, data_base_url=cfg.data_base_url,
                                   since=cfg.since, until=cfg.until)
        except (DownloadError, EdgarIndexError, ValueError) as e:
            summary.failed.append((f"CIK {raw_cik} index", str(e)))
            log(f"FAILED index of CIK {raw_cik}: {e}")
            continue
        chosen = select_filings(filings, cfg.forms, since=cfg.since, until=cfg.until,
                                include_amendments=cfg.include_amendments)
        log(f"CIK {cik:010d}: {len(filings)} filings in the index, {len(chosen)} selected")
        selected += chosen

    todo: list[tuple[str, Filing]] = []
    for f in selected:
        if not f.primary_document:
            summary.not_downloadable.append((f"{f.company_id} {f.form} {f.accession_number}",
                                             "the index names no primary document"))
    for name, f in assign_names(f for f in selected if f.primary_document).items():
        if is_complete(out / name, f):
            summary.skipped.append(name)
        else:
            todo.append((name, f))

    def fetch(item):
        name, f = item
        try:
            return name, download_filing(client, f, out / name, archive_base_url=cfg.archive_base_url), None
        except DownloadError as e:
            return name, None, str(e)

    with ThreadPoolExecutor(max_workers=max(1, cfg.workers)) as pool:
        for name, result, err in pool.map(fetch, todo):
            if err is None:
                summary.downloaded.append(name)
                summary.bytes_downloaded += result.size
                how = f", resumed at byte {result.resumed_from}" if result.resumed_from else ""
                log(f"downloaded {name} ({result.size} bytes{how})")
            else:
                summary.failed.append((name, err))
                log(f"FAILED {name}: {err}")
    return summary
