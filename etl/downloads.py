"""One HTTP client for every downloader: rate limit, retries, resumable files.

    client = HttpClient(user_agent="Jane Doe jane@example.com", rate_per_s=10)
    data = client.get_bytes(url)                      # small bodies (JSON, HTML pages)
    result = client.download(url, Path("out/f.zip"))  # streamed to out/f.zip.part, renamed when complete

Design choices:

* Rate limit: a token bucket (`RateLimiter`) shared by every request the client
  makes, from any thread, retries included. Capacity 1 by default, so at rate r
  consecutive requests start at least 1/r s apart (SEC: at most 10 per second).
  Clock and sleep are injectable, so tests check the rate without waiting.
* Retries (`RetryPolicy`): on 429 and 5xx (a `Retry-After` header, in seconds
  or as an HTTP date, is honoured), on connection errors (refused, reset,
  closed before the status line, timeouts) and on truncated bodies (fewer bytes
  than `Content-Length`). Exponential backoff with jitter between attempts, at
  most `max_attempts` requests per file, then `DownloadError` with the last
  reason. Other 4xx answers are not retried: asking again changes nothing.
* Files are streamed to `<name>.part` in chunks (never held in memory) and
  renamed over `<name>` only when complete, so an interrupted run never leaves
  a half file under the final name. A later attempt or run resumes the `.part`
  with `Range: bytes=N-` (plus `If-Range` with the first response's ETag or
  Last-Modified, kept in `<name>.part.json`): a 206 appends, a 200 (no range
  support, or the remote file changed) restarts from zero.
* Completeness: size against `Content-Length` (or the `Content-Range` total),
  and sha256 computed while streaming; the caller records both (sidecar) so a
  re-run skips complete files without a request (`record_matches`).

Only the standard library (`urllib`); no process-wide state.
"""
from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

CHUNK_BYTES = 1 << 20           # 1 MiB per read/write
MAX_BODY_BYTES = 64 << 20       # get_bytes refuses larger bodies: use download()
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


class DownloadError(Exception):
    """A URL that could not be fetched: what, why, and whether retries were spent."""

    def __init__(self, url: str, reason: str, attempts: int = 1):
        self.url, self.reason, self.attempts = url, reason, attempts
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{url}: {reason}{tries}")


class _Retryable(Exception):
    """One failed attempt that may succeed when repeated."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


# --------------------------------------------------------------------------- rate limit

class RateLimiter:
    """Token bucket: `rate_per_s` tokens a second, at most `burst` stored.

    `acquire()` takes one token, sleeping until it is due. Waiting callers
    reserve their slot under the lock (the balance may go negative) and sleep
    outside it, so threads sharing one limiter are spaced, not serialised on
    the lock.
    """

    def __init__(self, rate_per_s: float, burst: int = 1, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self.rate_per_s, self.burst = float(rate_per_s), int(burst)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()

    def acquire(self) -> float:
        """Take one token; returns the seconds slept for it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate_per_s)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


# --------------------------------------------------------------------------- retries

@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5           # requests per URL, the first included
    backoff_s: float = 1.0          # delay before the 2nd attempt; doubles each time
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 300.0  # a longer Retry-After is cut to this

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max_s)
        d = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return d / 2 + rng.uniform(0, d / 2)          # "equal jitter": never ~0, never > d


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


# --------------------------------------------------------------------------- helpers

def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _part_meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to `path` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    """A JSON object from `path`, or None when missing or unreadable."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_matches(path: Path, record: dict | None, *, check_sha256: bool) -> bool:
    """Is `path` the complete file `record` (a sidecar with `size`, `sha256`) describes?"""
    if not record or not path.is_file():
        return False
    size = record.get("size")
    if not isinstance(size, int) or path.stat().st_size != size:
        return False
    if check_sha256:
        sha = record.get("sha256")
        return isinstance(sha, str) and file_sha256(path) == sha
    return True


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class DownloadResult:
    url: str
    path: Path
    size: int
    sha256: str
    attempts: int
    resumed_from: int = 0           # bytes of an earlier .part kept (0: fresh download)


@dataclass
class DownloadSummary:
    """What one run did, file by file; `failed` holds (what, reason)."""
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)        # already complete
    not_downloadable: list[tuple[str, str]] = field(default_factory=list)  # nothing to fetch, with reason
    failed: list[tuple[str, str]] = field(default_factory=list)
    bytes_downloaded: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self) -> list[str]:
        out = [
            f"downloaded        {len(self.downloaded)} ({self.bytes_downloaded} bytes)",
            f"already complete  {len(self.skipped)}",
        ]
        if self.not_downloadable:
            out.append(f"nothing to fetch  {len(self.not_downloadable)}")
            out += [f"  {what}: {why}" for what, why in self.not_downloadable]
        out.append(f"failed            {len(self.failed)}")
        out += [f"  {what}: {why}" for what, why in self.failed]
        return out


# --------------------------------------------------------------------------- client

class HttpClient:
    """HTTP GETs through one rate limiter with retries; see the module docstring."""

    def __init__(self, user_agent: str, *, rate_per_s: float = 10.0, burst: int = 1,
                 retry: RetryPolicy | None = None, timeout_s: float = 60.0,
                 chunk_bytes: int = CHUNK_BYTES,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None,
                 log: Callable[[str], None] | None = None):
        if not user_agent or not user_agent.strip():
            raise ValueError("user_agent is required (a name and an email for SEC)")
        self.user_agent = user_agent.strip()
        self.limiter = RateLimiter(rate_per_s, burst, clock=clock, sleep=sleep)
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self.chunk_bytes = chunk_bytes
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._log = log or (lambda msg: None)
        self._opener = urllib.request.build_opener()
        self._count_lock = threading.Lock()
        self.requests_sent = 0

    # -- one request ------------------------------------------------------

    def _open(self, url: str, headers: dict[str, str] | None = None, method: str = "GET"):
        """One rate-limited request. Returns the response for 2xx; raises
        `_Retryable` for 429/5xx/connection errors, `urllib.error.HTTPError`
        for other statuses, `DownloadError` for unusable URLs."""
        try:
            req = urllib.request.Request(url, method=method)
        except ValueError as e:                            # not a URL
            raise DownloadError(url, f"cannot request: {e}") from None
        req.add_header("User-Agent", self.user_agent)
        req.add_header("Accept-Encoding", "identity")   # bytes on disk == bytes counted
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        self.limiter.acquire()
        with self._count_lock:
            self.requests_sent += 1
        try:
            return self._opener.open(req, timeout=self.timeout_s)
        except urllib.error.HTTPError as e:
            retry_after = parse_retry_after(e.headers.get("Retry-After")) if e.headers else None
            e.close()
            if e.code == 429 or 500 <= e.code <= 599:
                raise _Retryable(f"HTTP {e.code} {e.reason}", retry_after) from None
            raise
        except urllib.error.URLError as e:
            if isinstance(e.reason, OSError):
                raise _Retryable(f"connection error: {e.reason}") from None
            raise DownloadError(url, f"cannot request: {e.reason}") from None
        except http.client.InvalidURL as e:
            raise DownloadError(url, f"cannot request: {e}") from None
        except (http.client.HTTPException, OSError) as e:   # RemoteDisconnected, resets, timeouts
            raise _Retryable(f"connection error: {type(e).__name__}: {e}") from None
        except ValueError as e:                            # e.g. a port that is not a number
            raise DownloadError(url, f"cannot request: {e}") from None

    def _http_error(self, url: str, e: urllib.error.HTTPError, attempts: int) -> DownloadError:
        hint = ""
        if e.code == 403:
            hint = ("; SEC answers 403 to requests without a declared User-Agent "
                    "(name and email) or above 10 requests per second")
        elif e.code == 404:
            hint = "; the server has no such file"
        return DownloadError(url, f"HTTP {e.code} {e.reason}{hint}", attempts)

    def _backoff(self, url: str, attempt: int, err: _Retryable) -> None:
        d = self.retry.delay(attempt, err.retry_after, self._rng)
        self._log(f"retry {attempt}/{self.retry.max_attempts - 1} in {d:.2f}s: {url}: {err.reason}")
        self._sleep(d)

    # -- small bodies -----------------------------------------------------

    def get_bytes(self, url: str, *, max_bytes: int = MAX_BODY_BYTES) -> bytes:
        """The whole body of a small resource (an index page, a JSON file), with retries."""
        last: _Retryable | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                resp = self._open(url)
            except _Retryable as e:
                last = e
            except urllib.error.HTTPError as e:
                raise self._http_error(url, e, attempt) from None
            else:
                try:
                    return self._read_all(url, resp, max_bytes)
                except _Retryable as e:
                    last = e
                finally:
                    resp.close()
            if attempt < self.retry.max_attempts:
                self._backoff(url, attempt, last)
        raise DownloadError(url, f"gave up: {last.reason}", self.retry.max_attempts)

    def _read_all(self, url: str, resp, max_bytes: int) -> bytes:
        expected = _content_length(resp)
        if expected is not None and expected > max_bytes:
            raise DownloadError(url, f"body of {expected} bytes is over the {max_bytes}-byte limit "
                                     "for in-memory reads; download it to a file instead")
        buf = bytearray()
        try:
            while chunk := resp.read(min(self.chunk_bytes, max_bytes + 1 - len(buf))):
                buf += chunk
                if len(buf) > max_bytes:
                    raise DownloadError(url, f"body is over the {max_bytes}-byte limit for in-memory reads")
        except (http.client.HTTPException, OSError) as e:
            raise _Retryable(f"connection lost after {len(buf)} bytes: {type(e).__name__}: {e}") from None
        if expected is not None and len(buf) != expected:
            raise _Retryable(f"truncated body: {len(buf)} of {expected} bytes (Content-Length)")
        return bytes(buf)

    def content_length(self, url: str) -> int | None:
        """`Content-Length` of a HEAD request (None when the server does not say)."""
        last: _Retryable | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                resp = self._open(url, method="HEAD")
            except _Retryable as e:
                last = e
            except urllib.error.HTTPError as e:
                raise self._http_error(url, e, attempt) from None
            else:
                with resp:
                    return _content_length(resp)
            if attempt < self.retry.max_attempts:
                self._backoff(url, attempt, last)
        raise DownloadError(url, f"gave up: {last.reason}", self.retry.max_attempts)

    # -- files ------------------------------------------------------------

    def download(self, url: str, dest: Path, *,
                 validate: Callable[[Path], str | None] | None = None,
                 before_rename: Callable[[DownloadResult], None] | None = None) -> DownloadResult:
        """Stream `url` to `dest` through `dest.part`, resuming a `.part` left by
        an earlier attempt or run. `validate(part)` may return a reason to reject
        the complete bytes (the `.part` is then deleted: a retry would fetch the
        same); `before_rename(result)` runs just before the rename (e.g. to write
        a sidecar first, so a file under its final name always has one)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part, meta_path = part_path(dest), _part_meta_path(dest)
        last: _Retryable | None = None
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                done = self._attempt(url, part, meta_path)
            except _Retryable as e:
                last = e
            except urllib.error.HTTPError as e:
                raise self._http_error(url, e, attempt) from None
            else:
                size, sha, kept = done
                if validate is not None:
                    problem = validate(part)
                    if problem:
                        _unlink(part, meta_path)
                        raise DownloadError(url, problem, attempt)
                result = DownloadResult(url, dest, size, sha, attempt, kept)
                if before_rename is not None:
                    before_rename(result)
                os.replace(part, dest)
                _unlink(meta_path)
                return result
            if attempt < self.retry.max_attempts:
                self._backoff(url, attempt, last)
        kept = part.stat().st_size if part.is_file() else 0
        resume = f"; {kept} bytes are kept in {part.name}, the next run resumes there" if kept else ""
        raise DownloadError(url, f"gave up: {last.reason}{resume}", self.retry.max_attempts)

    def _attempt(self, url: str, part: Path, meta_path: Path) -> tuple[int, str, int]:
        """One request that ends with `part` complete: (size, sha256, bytes resumed).
        Raises `_Retryable` when `part` is still incomplete."""
        offset = part.stat().st_size if part.is_file() else 0
        meta = read_json(meta_path) if offset else None
        if offset and (meta is None or meta.get("url") != url):
            offset = 0                                  # a .part of unknown origin: start again
        headers = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = meta.get("etag") or meta.get("last_modified")
            if validator and not str(validator).startswith("W/"):
                headers["If-Range"] = validator
        try:
            resp = self._open(url, headers)
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:
                total = _unsatisfied_total(e.headers.get("Content-Range"))
                if total is not None and total == offset and meta.get("total") in (None, total):
                    return offset, file_sha256(part), offset    # the .part was already complete
                _unlink(part, meta_path)
                raise _Retryable(f"HTTP 416: range {offset}- not satisfiable; restarting from zero") from None
            raise
        with resp:
            length = _content_length(resp)
            if resp.status == 206 and offset:
                m = _CONTENT_RANGE.match(resp.headers.get("Content-Range") or "")
                start = int(m.group(1)) if m else -1
                total = int(m.group(3)) if m and m.group(3) != "*" else None
                if start != offset or (meta.get("total") is not None and total != meta.get("total")):
                    _unlink(part, meta_path)
                    raise _Retryable(f"206 with Content-Range {resp.headers.get('Content-Range')!r} "
                                     f"does not continue byte {offset}; restarting from zero")
                h = hashlib.sha256()
                with open(part, "rb") as f:                 # hash what is kept, then append
                    while chunk := f.read(self.chunk_bytes):
                        h.update(chunk)
                mode, kept = "ab", offset
            elif 200 <= resp.status < 300:
                # 200: no range support, changed file (If-Range), or a fresh start
                total = length
                write_json_atomic(meta_path, {
                    "url": url, "total": total,
                    "etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified"),
                })
                h, mode, kept = hashlib.sha256(), "wb", 0
            else:
                raise _Retryable(f"unexpected HTTP {resp.status}")
            received = 0
            with open(part, mode) as f:
                while True:
                    try:
                        chunk = resp.read(self.chunk_bytes)
                    except (http.client.HTTPException, OSError) as e:   # not f.write: a full disk is no reason to retry
                        raise _Retryable(f"connection lost after {kept + received} bytes: "
                                         f"{type(e).__name__}: {e}") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    h.update(chunk)
                    received += len(chunk)
            if length is not None and received != length:
                raise _Retryable(f"truncated body: {received} of {length} bytes (Content-Length)")
            size = kept + received
            if total is not None and size != total:
                raise _Retryable(f"file is {size} bytes, the server said {total}")
            return size, h.hexdigest(), kept


def _content_length(resp) -> int | None:
    v = resp.headers.get("Content-Length")
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def _unsatisfied_total(content_range: str | None) -> int | None:
    m = _UNSATISFIED_RANGE.match(content_range or "")
    return int(m.group(1)) if m else None


def _unlink(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


__all__ = [
    "CHUNK_BYTES", "DownloadError", "DownloadResult", "DownloadSummary", "HttpClient",
    "RateLimiter", "RetryPolicy", "file_sha256", "parse_retry_after", "part_path",
    "read_json", "record_matches", "utc_now_iso", "write_json_atomic",
]
