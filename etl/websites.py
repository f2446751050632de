"""Crawled company websites -> clean page text, one document per site snapshot,
and site statistics.

Input is one folder per crawled site: HTML pages plus `manifest.json`

    {"site": "acme.example", "company_id": "...",
     "pages": [{"url": ..., "file": "relative/path.html", "fetched_at": "YYYY-MM-DDTHH:MM:SSZ"}]}

or WARC files (`*.warc`, `*.warc.gz`: 2xx `response` records with an HTML
content type). The company comes from the manifest, else the caller's
`company_map` {site: company_id}, else `sites.json` (same shape) in the
folder's parent. A site that cannot be used raises `SiteRejected`, which the
pipeline turns into a `rejects` row.

`clean_site` keeps the pages worth reading, in order (each step records a
drop reason):
1. `boilerplate_url`: legal, privacy, cookie, careers, login ... pages by URL
   (`CleanConfig.drop_url_patterns`, regexes matched at the start of a path
   segment). Non-HTML bodies (a PDF saved as a page) go as `not_html`, pages
   the parser cannot read as `unparseable`.
2. landing-page diff: a page's text lines (etl.sanitize blocks, one line per
   text line or table row) that also occur on the site's landing page (the
   URL with the shortest path, `/` or `/index.html`), compared by
   whitespace-collapsed, case-folded text, are header, footer and navigation:
   they are removed. A line that is not on the landing page is never removed.
   The landing page keeps all its lines (`strip_landing_template` removes
   from it the lines found on half or more of the other pages). Pages left
   without text: `empty`.
3. `near_duplicate`: Jaccard similarity of word 5-gram shingles of the
   remaining text >= `near_duplicate_threshold` with a page kept before it
   (URL order: `/p` keeps, `/p?utm_source=x` and `/p/print` go).
4. `low_density`: information density (etl.density: zlib ratio against
   natural prose of the same length, as a log ratio) below
   log(`min_density_ratio`): image galleries, link lists, repeated templates.

`site_document_html` turns the kept pages into one HTML document that the
filing ETL (sanitize -> numbers -> chunks) reads as one filing with source
"website"; `stats_row` gives the `website_stats` row and `stats_block` the
statistics as number-tagged text for the models.
"""
from __future__ import annotations

import gzip
import html as htmlmod
import json
import math
import re
import statistics
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from etl.density import DensityCurve, information_density
from etl.numbers import find_numbers, format_tagged, strip_markers
from etl.sanitize import TableBlock, TextBlock, collapse_ws, html_to_blocks
from featurestore.schemas import WEBSITE_STATS

SOURCE = "website"
FORM = "website"
MANIFEST = "manifest.json"
COMPANY_MAP = "sites.json"
WARC_SUFFIXES = (".warc", ".warc.gz")

# Drop reasons, in the order the steps run.
BOILERPLATE_URL = "boilerplate_url"
NOT_HTML = "not_html"
UNPARSEABLE = "unparseable"
EMPTY = "empty"
NEAR_DUPLICATE = "near_duplicate"
LOW_DENSITY = "low_density"
DROP_REASONS = (BOILERPLATE_URL, NOT_HTML, UNPARSEABLE, EMPTY, NEAR_DUPLICATE, LOW_DENSITY)

# website_stats columns a SiteResult's `stats` holds (the rest identify the row).
_ROW_KEYS = ("company_id", "site", "snapshot", "filing_id")
STATS_COLUMNS = tuple(c for c in WEBSITE_STATS.columns if c not in _ROW_KEYS)

DEFAULT_DROP_URL_PATTERNS = (
    "legal", "privacy", "cookie", "terms", "tos(?:$|[/.?#-])", "gdpr", "disclaimer", "imprint", "impressum",
    "accessibility", "sitemap", "log-?in", "log-?out", "sign-?in", "sign-?up", "register", "wp-admin",
    "wp-login", "careers", "jobs", "cart", "checkout", "my-?account", "password", "unsubscribe",
)
SHINGLE_WORDS = 5

_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
_BINARY_MAGIC = (b"%PDF", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")
_INDEX_FILE = re.compile(r"/(?:index|default|home)\.(?:html?|php|aspx?)$", re.IGNORECASE)


class SiteRejected(Exception):
    """A crawled site that cannot be used; `reason` and `detail` go to `rejects`.

    Reasons: no_company, no_pages, bad_manifest, bad_warc."""

    def __init__(self, reason: str, detail: str, stage: str = "read"):
        super().__init__(f"{stage}/{reason}: {detail}")
        self.stage = stage
        self.reason = reason
        self.detail = detail


@dataclass
class Page:
    url: str
    html: bytes
    fetched_at: datetime | None


@dataclass
class Site:
    site: str
    company_id: str | None
    pages: list[Page]
    snapshot: date | None  # the crawl's date: the latest fetched_at


@dataclass(frozen=True)
class CleanConfig:
    drop_url_patterns: tuple[str, ...] = DEFAULT_DROP_URL_PATTERNS
    min_density_ratio: float = 0.4
    near_duplicate_threshold: float = 0.9
    # Off by default (the landing page keeps all its lines): when on, the landing
    # page also loses the lines found on at least half of the other pages read
    # (its own header, footer and cookie banner), so the site document holds them nowhere.
    strip_landing_template: bool = False


@dataclass
class CleanPage:
    url: str
    lines: list[str]  # kept text lines after the landing-page diff
    density: float

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class SiteResult:
    kept: list[CleanPage]
    dropped: dict[str, list[str]]  # reason -> urls, reasons in DROP_REASONS order
    stats: dict                    # the website_stats columns in STATS_COLUMNS
    site: str = ""
    company_id: str | None = None
    snapshot: date | None = None
    landing_url: str | None = None
    removed_lines: dict[str, list[str]] = field(default_factory=dict)  # url -> lines the diff removed
    densities: dict[str, float] = field(default_factory=dict)          # url -> density, every page scored


# --- reading --------------------------------------------------------------------

def _parse_time(value, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        t = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise SiteRejected("bad_manifest", f"{where}: fetched_at {value!r} is not an ISO time "
                           f"(YYYY-MM-DDTHH:MM:SSZ)") from None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _load_company_map(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SiteRejected("bad_manifest", f"{path} is not a readable JSON object {{site: company_id}} ({e})") from None
    if not isinstance(data, dict):
        raise SiteRejected("bad_manifest", f"{path} must be a JSON object {{site: company_id}}")
    return data


def _company_for(site: str, own: str | None, company_map: dict | None, map_dirs: list[Path]) -> str | None:
    if own not in (None, ""):
        return str(own)
    keys = (site, site.removeprefix("www."), f"www.{site}")
    maps = [company_map] if company_map else []
    maps += [_load_company_map(d / COMPANY_MAP) for d in map_dirs if (d / COMPANY_MAP).is_file()]
    for m in maps:
        for k in keys:
            if m.get(k) not in (None, ""):
                return str(m[k])
    return None


def _finish(site: str, company_id: str | None, pages: list[Page], where: Path) -> Site:
    if not pages:
        raise SiteRejected("no_pages", f"{where}: no HTML pages found; re-crawl the site or drop the folder")
    if company_id is None:
        raise SiteRejected("no_company", f"{where}: site {site!r} has no company: set company_id in its "
                           f"{MANIFEST}, or map it in {COMPANY_MAP} beside the site folders")
    # One page per URL (the latest fetch), in URL order.
    latest: dict[str, Page] = {}
    for p in pages:
        prev = latest.get(p.url)
        if prev is None or (p.fetched_at or datetime.min.replace(tzinfo=timezone.utc)) >= (
                prev.fetched_at or datetime.min.replace(tzinfo=timezone.utc)):
            latest[p.url] = p
    ordered = [latest[u] for u in sorted(latest)]
    times = [p.fetched_at for p in ordered if p.fetched_at is not None]
    return Site(site, company_id, ordered, max(times).date() if times else None)


def _read_manifest(folder: Path, company_map: dict | None) -> Site:
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SiteRejected("bad_manifest", f"{path} is not valid JSON ({e}); rewrite it") from None
    if not isinstance(data, dict) or not isinstance(data.get("pages"), list):
        raise SiteRejected("bad_manifest", f"{path} must be an object with a 'pages' list")
    pages: list[Page] = []
    root = folder.resolve()
    for i, entry in enumerate(data["pages"]):
        where = f"{path} pages[{i}]"
        if not (isinstance(entry, dict) and isinstance(entry.get("url"), str) and isinstance(entry.get("file"), str)):
            raise SiteRejected("bad_manifest", f"{where} needs string 'url' and 'file' fields")
        file = (folder / entry["file"]).resolve()
        if not file.is_relative_to(root):
            raise SiteRejected("bad_manifest", f"{where}: file {entry['file']!r} lies outside the site folder")
        try:
            body = file.read_bytes()
        except OSError as e:
            raise SiteRejected("bad_manifest", f"{where}: cannot read {entry['file']!r} ({e.strerror}); "
                               "re-crawl the page or remove it from the manifest") from None
        if body[:2] == b"\x1f\x8b":  # a page stored gzipped (page.html.gz)
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as e:
                raise SiteRejected("bad_manifest", f"{where}: {entry['file']!r} is a corrupt gzip file ({e}); "
                                   "re-crawl the page") from None
        pages.append(Page(entry["url"], body, _parse_time(entry.get("fetched_at"), where)))
    site = data.get("site") or (Counter(_host(p.url) for p in pages).most_common(1)[0][0] if pages else folder.name)
    if not isinstance(site, str):
        raise SiteRejected("bad_manifest", f"{path}: 'site' must be a host name string")
    company = _company_for(site, data.get("company_id"), company_map, [folder.parent])
    return _finish(site, company, pages, folder)


def _read_warcs(paths: list[Path]) -> list[Page]:
    try:
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed
    except ImportError:  # pragma: no cover - warcio is a dependency
        raise SiteRejected("bad_warc", "reading WARC files needs warcio: pip install 'warcio>=1.7'") from None
    pages: list[Page] = []
    for path in paths:
        records = 0
        try:
            with open(path, "rb") as f:
                for rec in ArchiveIterator(f):
                    records += 1
                    if not str(rec.format).startswith("warc"):  # warcio reads any text as a legacy ARC record
                        raise SiteRejected("bad_warc", f"{path}: not a WARC file (record {records} reads as "
                                           f"{rec.format!r}); re-fetch it or drop it")
                    if rec.rec_type != "response" or rec.http_headers is None:
                        continue
                    status = rec.http_headers.get_statuscode() or ""
                    ctype = (rec.http_headers.get_header("Content-Type") or "").lower()
                    if not status.startswith("2") or "html" not in ctype:
                        continue
                    url = rec.rec_headers.get_header("WARC-Target-URI")
                    if not url:
                        continue
                    body = rec.content_stream().read()
                    when = _parse_time(rec.rec_headers.get_header("WARC-Date"), f"{path} {url}")
                    pages.append(Page(url, body, when))
        except (ArchiveLoadFailed, OSError, EOFError, ValueError) as e:
            raise SiteRejected("bad_warc", f"{path}: not a readable WARC file ({e}); re-fetch or drop it") from None
        if records == 0:
            raise SiteRejected("bad_warc", f"{path}: no WARC records in the file; re-fetch or drop it")
    return pages


def read_site(folder: Path | str, company_map: dict | None = None) -> Site:
    """One crawled site from a folder (manifest.json + pages, or WARC files) or
    one WARC file. Raises SiteRejected (no_company, no_pages, bad_manifest, bad_warc)."""
    folder = Path(folder)
    if folder.is_file() and folder.name.endswith(WARC_SUFFIXES):
        warcs, map_dirs = [folder], [folder.parent, folder.parent.parent]
    elif (folder / MANIFEST).is_file():
        return _read_manifest(folder, company_map)
    elif folder.is_dir():
        warcs = sorted(p for p in folder.iterdir() if p.name.endswith(WARC_SUFFIXES))
        map_dirs = [folder.parent]
        if not warcs:
            raise SiteRejected("no_pages", f"{folder}: no {MANIFEST} and no *.warc / *.warc.gz files; "
                               "is this a site folder?")
    else:
        raise SiteRejected("no_pages", f"{folder} does not exist")
    pages = _read_warcs(warcs)
    site = Counter(_host(p.url) for p in pages).most_common(1)[0][0] if pages else folder.name
    return _finish(site, _company_for(site, None, company_map, map_dirs), pages, folder)


# --- page text --------------------------------------------------------------------

def decode_page(raw: bytes) -> str | None:
    """HTML text of a page body; None for binary content (PDF, images, archives)."""
    head = raw[:4096]
    if head.lstrip().startswith(_BINARY_MAGIC):
        return None
    if sum(1 for b in head if b < 9 or 13 < b < 32) > len(head) * 0.01:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    m = _CHARSET_RE.search(head)
    if m:
        try:
            return raw.decode(m.group(1).decode("ascii", "replace"))
        except (LookupError, UnicodeDecodeError):
            pass
    return raw.decode("cp1252", errors="replace")


def page_lines(html: str | bytes) -> list[str]:
    """A page's visible text as lines: one per text line of a block, one per table row."""
    lines: list[str] = []
    for b in html_to_blocks(html):
        if isinstance(b, TextBlock):
            for line in strip_markers(b.text)[0].split("\n"):
                line = collapse_ws(line)
                if line:
                    lines.append(line)
        elif isinstance(b, TableBlock):
            for row in b.grid:
                line = collapse_ws(" | ".join(strip_markers(c)[0] for c in row))
                if line:
                    lines.append(line)
    return lines


def normalise_line(line: str) -> str:
    """What the landing-page diff compares: whitespace collapsed, case folded."""
    return collapse_ws(line).casefold()


def landing_key(url: str) -> tuple:
    """Sort key that puts a site's landing page first: fewest path segments
    (`/index.html` counts as `/`), no query, shortest, then the URL."""
    parts = urlsplit(url)
    path = _INDEX_FILE.sub("/", parts.path or "/")
    segments = [s for s in path.split("/") if s]
    return (len(segments), bool(parts.query), len(path) + len(parts.query), url)


def _url_matcher(patterns: tuple[str, ...]) -> re.Pattern | None:
    if not patterns:
        return None
    return re.compile("(?:^|/)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")", re.IGNORECASE)


def shingles(text: str, k: int = SHINGLE_WORDS) -> set:
    words = text.casefold().split()
    if len(words) <= k:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


# --- cleaning ---------------------------------------------------------------------------

def _quantile(sorted_xs: list[float], q: float) -> float:
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def clean_site(site: Site, config: CleanConfig = CleanConfig(), curve: DensityCurve | None = None) -> SiteResult:
    """Keep a site's informative pages (see the module docstring for the steps)."""
    curve = curve or DensityCurve.load()
    dropped: dict[str, list[str]] = {r: [] for r in DROP_REASONS}
    pages = sorted(site.pages, key=lambda p: p.url)
    html_bytes = sum(len(p.html) for p in pages)

    # 1. boilerplate by URL; binary bodies
    matcher = _url_matcher(config.drop_url_patterns)
    texts: dict[str, list[str]] = {}
    for p in pages:
        parts = urlsplit(p.url)
        if matcher is not None and matcher.search(parts.path or "/"):
            dropped[BOILERPLATE_URL].append(p.url)
            continue
        html = decode_page(p.html)
        if html is None:
            dropped[NOT_HTML].append(p.url)
            continue
        try:
            texts[p.url] = page_lines(html)
        except RecursionError:  # nesting too deep for the parser: one bad page never stops the site
            dropped[UNPARSEABLE].append(p.url)

    # 2. landing-page diff
    landing = min(texts, key=landing_key) if texts else None
    landing_lines = {normalise_line(x) for x in texts[landing]} if landing else set()
    remaining: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}
    landing_template: set[str] = set()
    if landing and config.strip_landing_template and len(texts) > 2:
        counts = Counter(n for url, lines in texts.items() if url != landing
                         for n in {normalise_line(x) for x in lines})
        landing_template = {n for n in landing_lines if counts[n] >= 0.5 * (len(texts) - 1)}
    for url, lines in texts.items():
        if url == landing:
            keep = [x for x in lines if normalise_line(x) not in landing_template]
            gone = [x for x in lines if normalise_line(x) in landing_template]
        else:
            keep = [x for x in lines if normalise_line(x) not in landing_lines]
            gone = [x for x in lines if normalise_line(x) in landing_lines]
        if gone:
            removed[url] = gone
        if keep:
            remaining[url] = keep
        else:
            dropped[EMPTY].append(url)

    # 3. near-duplicates: compare with the pages kept so far, in URL order
    t = config.near_duplicate_threshold
    reps: list[tuple[str, set]] = []
    distinct: list[str] = []
    for url in remaining:  # texts (hence remaining) are in URL order
        sh = shingles("\n".join(remaining[url]))
        n = len(sh)
        dup = any(t * len(s) <= n <= len(s) / t and jaccard(sh, s) >= t for _, s in reps) if t <= 1 else False
        if dup:
            dropped[NEAR_DUPLICATE].append(url)
        else:
            reps.append((url, sh))
            distinct.append(url)

    # 4. information density
    floor = math.log(config.min_density_ratio) if config.min_density_ratio > 0 else -math.inf
    kept: list[CleanPage] = []
    densities: dict[str, float] = {}
    for url in distinct:
        d = information_density("\n".join(remaining[url]), curve)
        densities[url] = d
        if d < floor:
            dropped[LOW_DENSITY].append(url)
        else:
            kept.append(CleanPage(url, remaining[url], d))

    dropped = {r: urls for r, urls in dropped.items() if urls}
    text_bytes = sum(len(c.text.encode("utf-8")) for c in kept)
    ds = sorted(c.density for c in kept)
    stats = {
        "pages_seen": len(pages),
        "pages_kept": len(kept),
        "pages_dropped": len(pages) - len(kept),
        "dropped_by_reason": json.dumps({r: len(u) for r, u in dropped.items()}, sort_keys=True),
        "text_html_ratio": text_bytes / html_bytes if html_bytes else 0.0,
        "median_density": statistics.median(ds) if ds else None,
        "density_iqr": _quantile(ds, 0.75) - _quantile(ds, 0.25) if ds else None,
        "text_chars": sum(len(c.text) for c in kept),
    }
    assert tuple(stats) == STATS_COLUMNS, "stats must follow WEBSITE_STATS"
    return SiteResult(kept, dropped, stats, site.site, site.company_id, site.snapshot, landing, removed, densities)


# --- outputs ----------------------------------------------------------------------------------

def site_document_html(result: SiteResult) -> str:
    """The kept pages as one HTML document: a heading per page URL, then its
    lines as paragraphs. `etl.sanitize.html_to_blocks` reads it back as the
    blocks [url, *lines] per page."""
    esc = htmlmod.escape
    title = esc(f"{result.site} website snapshot {result.snapshot.isoformat() if result.snapshot else ''}".strip())
    out = [f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head><body>\n']
    for page in result.kept:
        out.append(f"<h2>{esc(page.url)}</h2>\n")
        out.extend(f"<p>{esc(line)}</p>\n" for line in page.lines)
    out.append("</body></html>\n")
    return "".join(out)


def site_sidecar(result: SiteResult) -> dict:
    """Filing metadata for the site document (the sidecar shape etl.metadata reads)."""
    snap = result.snapshot.isoformat() if result.snapshot else None
    return {"source": SOURCE, "form": FORM, "company_id": result.company_id, "period_end": snap, "filed_at": snap}


def stats_row(result: SiteResult, filing_id: str | None) -> dict:
    """The `website_stats` row of a cleaned site (columns in schema order)."""
    row = {"company_id": result.company_id, "site": result.site, "snapshot": result.snapshot,
           "filing_id": filing_id, **result.stats}
    return {c: row[c] for c in WEBSITE_STATS.columns}


def _fmt(x: float | None, places: int = 2) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{places}f}"


def stats_block(stats: dict, company_id: str, site: str) -> str:
    """The site statistics as a short text block, numbers tagged `<number>…</number>`
    as in chunks (only the statistics' numbers: digits in the site name or the
    company id are not tagged)."""
    by_reason = json.loads(stats.get("dropped_by_reason") or "{}")
    reasons = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in sorted(by_reason.items()))
    med = stats.get("median_density")
    ratio = math.exp(med) if med is not None and math.isfinite(med) else None
    head = f"Website {site} of company {company_id}: "
    body = (f"{stats['pages_kept']:,} pages kept of {stats['pages_seen']:,} crawled, "
            f"{stats['pages_dropped']:,} dropped" + (f" ({reasons})" if reasons else "") + ". "
            f"Kept text is {stats['text_chars']:,} characters, {_fmt(100 * stats['text_html_ratio'], 1)}% of the HTML. "
            f"Median information density is {_fmt(ratio)} times that of natural prose "
            f"(log ratio {_fmt(med)}, interquartile range {_fmt(stats.get('density_iqr'))}).")
    text = head + body
    nums = [n for n in find_numbers(text) if n.start >= len(head)]
    return format_tagged(text, nums)[0]
