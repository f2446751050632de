"""Downloaders (EDGAR, Companies House) against a local fixture server.

The server (`ThreadingHTTPServer` on 127.0.0.1, port 0) serves the recorded
fixtures under tests/data/downloads/, supports Range/If-Range like a real
file server, counts every request, and injects faults per path, one per
request in order: "429:<retry-after>", "500", "503", "truncate" (Content-Length
larger than what is sent, then close), "close_after:<n>", "reset" (RST
mid-body), "drop" (close before any response). A guard refuses any connection
to a host other than 127.0.0.1/localhost, so no test can reach the internet.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import struct
import threading
import time
import zipfile
from collections import defaultdict
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from etl.companies_house_download import (
    CompaniesHouseConfig, bulk_file, bulk_files, download_companies_house, parse_links,
)
from etl.downloads import (
    DownloadError, HttpClient, RateLimiter, RetryPolicy, parse_retry_after, part_path,
)
from etl.edgar_download import (
    EdgarDownloadConfig, Filing, assign_names, download_edgar, file_name, form_slug, normalize_cik,
)
from etl.metadata import FilingMeta, filing_meta, sidecar_path
from jobs import download_companies_house as ch_job
from jobs import download_edgar as edgar_job

pytestmark = pytest.mark.timeout(60)

DATA = Path(__file__).parent / "data" / "downloads"
EDGAR = DATA / "edgar"
CH_PAGES = DATA / "companies_house"   # the recorded download pages (HTML)


def _ch_fixture_dir() -> Path:
    """The download pages plus three small bulk zips generated here (deterministic),
    so no archive is committed: the zips hold made-up accounts, not real filings."""
    import shutil
    import tempfile
    from datetime import date

    from etl.sample_accounts import write_bulk_zip
    import atexit
    out = Path(tempfile.mkdtemp(prefix="ch-fixture-"))
    atexit.register(shutil.rmtree, out, True)
    for page in CH_PAGES.glob("*.html"):
        shutil.copy(page, out / page.name)
    for day, seed in ((2, 11), (3, 12), (4, 13)):
        write_bulk_zip(out, n=2, filed=date(2024, 1, day), seed=seed)
    return out


CH = _ch_fixture_dir()
UA = "Filingstore Tests tests@example.com"

EXWD, NLH = 1999999, 1888888
EXWD_DOCS = {  # accession -> primary document (fixture file of the same name)
    "0001999999-24-000012": "exwd-20240928.htm",
    "0001999999-24-000009": "exwd-20240629.htm",
    "0001999999-24-000005": "exwd-20230930x10ka.htm",
    "0001999999-23-000020": "exwd-20230930.htm",
    "0001999999-15-000031": "exwd-20150926x10k.htm",
    "0001999999-14-000027": "exwd-20140927x10k.htm",
}
NLH_DOCS = {"0001888888-24-000004": "nlh-20240331.htm", "0001888888-24-000002": "nlh-20231231.htm"}


def doc_path(cik: int, accession: str, doc: str) -> str:
    return f"/Archives/edgar/data/{cik}/{accession.replace('-', '')}/{doc}"


# --------------------------------------------------------------------------- fixture server

class FixtureServer:
    def __init__(self):
        self.routes: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.no_range: set[str] = set()
        self.etags: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fixture = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def add(self, path: str, body: bytes, etag: str | None = None):
        self.routes[path] = body
        self.etags[path] = etag or '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    def count(self, path: str | None = None, method: str = "GET", prefix: str | None = None) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests
                       if m == method and (path is None or p == path) and (prefix is None or p.startswith(prefix)))

    def headers_of(self, path: str) -> list[dict]:
        with self.lock:
            return [h for _, p, h in self.requests if p == path]

    def next_fault(self, path: str) -> str | None:
        with self.lock:
            return self.faults[path].pop(0) if self.faults.get(path) else None


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):   # quiet
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool):
        srv: FixtureServer = self.server.fixture
        path = urlsplit(self.path).path
        with srv.lock:
            srv.requests.append((self.command, path, {k.lower(): v for k, v in self.headers.items()}))
        fault = srv.next_fault(path)
        self.close_connection = True
        if fault == "drop":
            return                                           # no status line at all
        if fault and fault.startswith("429"):
            self._empty(429, {"Retry-After": fault.partition(":")[2] or "0"})
            return
        if fault in ("500", "503"):
            self._empty(int(fault), {})
            return
        body = srv.routes.get(path)
        if body is None:
            self._empty(404, {})
            return
        status, payload, headers = 200, body, {"ETag": srv.etags[path], "Content-Type": _ctype(path)}
        if path not in srv.no_range:
            headers["Accept-Ranges"] = "bytes"
            rng = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if rng and rng.startswith("bytes=") and rng.endswith("-") and (if_range in (None, srv.etags[path])):
                start = int(rng[6:-1])
                if start >= len(body):
                    self._empty(416, {"Content-Range": f"bytes */{len(body)}"})
                    return
                status, payload = 206, body[start:]
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if head:
            return
        if fault == "truncate":
            self.wfile.write(payload[: len(payload) // 2])
        elif fault and fault.startswith("close_after:"):
            self.wfile.write(payload[: int(fault.split(":")[1])])
        elif fault == "reset":
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()                          # RST instead of FIN
        else:
            self.wfile.write(payload)

    def _empty(self, code: int, headers: dict):
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _ctype(path: str) -> str:
    return {"json": "application/json", "zip": "application/zip"}.get(path.rsplit(".", 1)[-1], "text/html")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """No proxies, and no connection anywhere but this machine."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", b"127.0.0.1"):
            raise AssertionError(f"test tried to reach {host!r}; only 127.0.0.1 is allowed")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def fixture_server() -> FixtureServer:
    """The recorded EDGAR and Companies House fixtures at their real paths, started."""
    s = FixtureServer()
    s.add(f"/submissions/CIK{EXWD:010d}.json", (EDGAR / f"CIK{EXWD:010d}.json").read_bytes())
    s.add(f"/submissions/CIK{EXWD:010d}-submissions-001.json",
          (EDGAR / f"CIK{EXWD:010d}-submissions-001.json").read_bytes())
    s.add(f"/submissions/CIK{NLH:010d}.json", (EDGAR / f"CIK{NLH:010d}.json").read_bytes())
    for cik, docs in ((EXWD, EXWD_DOCS), (NLH, NLH_DOCS)):
        for acc, doc in docs.items():
            s.add(doc_path(cik, acc, doc), (EDGAR / doc).read_bytes())
    for page in ("en_accountsdata.html", "en_monthlyaccountsdata.html", "historicmonthlyaccountsdata.html"):
        s.add(f"/{page}", (CH / page).read_bytes())
    for z in CH.glob("*.zip"):
        s.add(f"/{z.name}", z.read_bytes())
    # monthly archives: the same small recorded zips under the monthly names
    s.add("/Accounts_Monthly_Data-January2024.zip", (CH / "Accounts_Bulk_Data-2024-01-04.zip").read_bytes())
    s.add("/Accounts_Monthly_Data-December2023.zip", (CH / "Accounts_Bulk_Data-2024-01-03.zip").read_bytes())
    s.add("/Accounts_Monthly_Data-November2023.zip", (CH / "Accounts_Bulk_Data-2024-01-02.zip").read_bytes())
    s.add("/archive/Accounts_Monthly_Data-October2023.zip", (CH / "Accounts_Bulk_Data-2024-01-03.zip").read_bytes())
    s.thread.start()
    return s


@pytest.fixture
def server():
    s = fixture_server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    s.thread.join(timeout=5)


class Sleeps(list):
    """A sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast_client(max_attempts: int = 3, sleep=None, **kw) -> HttpClient:
    """No real waiting: burst large enough that the limiter never sleeps, backoff recorded."""
    return HttpClient(UA, rate_per_s=1000, burst=1000, timeout_s=5,
                      retry=RetryPolicy(max_attempts=max_attempts, backoff_s=0.01, backoff_max_s=0.1),
                      sleep=sleep if sleep is not None else Sleeps(), **kw)


def edgar_cfg(server, out, **kw) -> EdgarDownloadConfig:
    base = dict(ciks=[str(EXWD)], forms=["10-K", "10-Q"], out=out, user_agent=UA, since=date(2023, 1, 1),
                data_base_url=server.url, archive_base_url=server.url, workers=2)
    base.update(kw)
    return EdgarDownloadConfig(**base)


def ch_cfg(server, out, **kw) -> CompaniesHouseConfig:
    base = dict(since=date(2024, 1, 2), until=date(2024, 1, 3), out=out, base_url=server.url)
    base.update(kw)
    return CompaniesHouseConfig(**base)


def quiet(msg: str) -> None:
    pass


# --------------------------------------------------------------------------- rate limit

class FakeClock:
    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_rate_limiter_spaces_requests_at_the_rate():
    clock = FakeClock()
    lim = RateLimiter(10, clock=clock.now, sleep=clock.sleep)
    for _ in range(20):
        lim.acquire()
    assert 1.9 - 1e-9 <= clock.t <= 1.9 + 1e-9          # first at 0, then every 0.1 s

    clock = FakeClock()
    lim = RateLimiter(10, burst=5, clock=clock.now, sleep=clock.sleep)
    for _ in range(20):
        lim.acquire()
    assert clock.t == pytest.approx(1.5)                 # 5 at once, 15 more at 10/s

    clock.t += 60                                        # idle: the bucket refills to its burst, no more
    start = clock.t
    for _ in range(6):
        lim.acquire()
    assert clock.t - start == pytest.approx(0.1)


def test_one_rate_limit_covers_every_request_of_a_run(server, tmp_path):
    """20 requests (index reads and file downloads mixed) at 10/s: >= 1.9 s on the client's clock."""
    clock = FakeClock()
    client = HttpClient(UA, rate_per_s=10, clock=clock.now, sleep=clock.sleep)
    for i in range(10):
        client.get_bytes(server.url + f"/submissions/CIK{NLH:010d}.json")
        client.download(server.url + "/Accounts_Bulk_Data-2024-01-03.zip", tmp_path / f"{i}.zip")
    assert client.requests_sent == 20 == server.count()
    assert clock.t >= 1.9 - 1e-9


def test_rate_limit_is_shared_between_threads(server):
    client = HttpClient(UA, rate_per_s=40, timeout_s=5)
    url = server.url + f"/submissions/CIK{NLH:010d}.json"
    t0 = time.monotonic()
    threads = [threading.Thread(target=lambda: [client.get_bytes(url) for _ in range(4)]) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert server.count() == 12
    assert time.monotonic() - t0 >= 11 / 40 - 0.02


# --------------------------------------------------------------------------- retries

@pytest.mark.parametrize("retry_after, expected", [("0", 0.0), ("7", 7.0)])
def test_429_is_retried_after_retry_after(server, retry_after, expected):
    path = f"/submissions/CIK{EXWD:010d}.json"
    server.faults[path] = [f"429:{retry_after}"]
    sleeps = Sleeps()
    body = fast_client(sleep=sleeps).get_bytes(server.url + path)
    assert body == (EDGAR / f"CIK{EXWD:010d}.json").read_bytes()
    assert server.count(path) == 2
    assert sleeps == [expected]                          # the server's delay, not the backoff


def test_retry_after_as_http_date():
    now = datetime(2024, 1, 2, 10, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Tue, 02 Jan 2024 10:00:30 GMT", now) == 30.0
    assert parse_retry_after("Tue, 02 Jan 2024 09:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_5xx_is_retried_with_exponential_backoff_and_jitter(server):
    path = f"/submissions/CIK{EXWD:010d}.json"
    server.faults[path] = ["500", "503"]
    sleeps = Sleeps()
    fast_client(max_attempts=3, sleep=sleeps).get_bytes(server.url + path)
    assert server.count(path) == 3
    assert len(sleeps) == 2
    assert 0.005 <= sleeps[0] <= 0.01 and 0.01 <= sleeps[1] <= 0.02   # base 0.01, doubled, jittered


@pytest.mark.parametrize("fault", ["truncate", "reset", "drop"])
def test_broken_transfers_are_retried_and_resumed(server, tmp_path, fault):
    path = doc_path(EXWD, "0001999999-24-000012", "exwd-20240928.htm")
    server.faults[path] = [fault]
    want = (EDGAR / "exwd-20240928.htm").read_bytes()
    dest = tmp_path / "doc.htm"
    result = fast_client().download(server.url + path, dest)
    assert dest.read_bytes() == want
    assert result.size == len(want) and result.sha256 == hashlib.sha256(want).hexdigest()
    assert server.count(path) == 2
    second = server.headers_of(path)[1]
    half = len(want) // 2
    if fault == "drop":                                  # nothing arrived: a plain second request
        assert "range" not in second and result.resumed_from == 0
    elif fault == "truncate":                            # the half that arrived is kept
        assert second["range"] == f"bytes={half}-" and result.resumed_from == half
    else:                                                # a reset may discard bytes still in flight
        assert second.get("range") in (None, f"bytes={result.resumed_from}-")
        assert result.resumed_from in (0, half)
    assert not part_path(dest).exists()


def test_truncated_small_body_is_retried(server):
    path = f"/submissions/CIK{NLH:010d}.json"
    server.faults[path] = ["truncate"]
    assert fast_client().get_bytes(server.url + path) == (EDGAR / f"CIK{NLH:010d}.json").read_bytes()
    assert server.count(path) == 2


def test_gives_up_after_max_attempts_and_does_not_retry_404(server, tmp_path):
    path = doc_path(EXWD, "0001999999-24-000012", "exwd-20240928.htm")
    server.faults[path] = ["500"] * 10
    with pytest.raises(DownloadError, match=r"gave up: HTTP 500.*after 3 attempts"):
        fast_client(max_attempts=3).download(server.url + path, tmp_path / "doc.htm")
    assert server.count(path) == 3
    assert not (tmp_path / "doc.htm").exists()

    with pytest.raises(DownloadError, match="HTTP 404"):
        fast_client(max_attempts=3).download(server.url + "/nowhere.htm", tmp_path / "x.htm")
    assert server.count("/nowhere.htm") == 1


def test_in_memory_reads_are_bounded(server):
    with pytest.raises(DownloadError, match="limit"):
        fast_client().get_bytes(server.url + "/Accounts_Bulk_Data-2024-01-02.zip", max_bytes=1000)


# --------------------------------------------------------------------------- EDGAR

def test_edgar_job_downloads_documents_with_sidecars(server, tmp_path, capsys):
    out = tmp_path / "sec"
    rc = edgar_job.main(["--cik", str(EXWD), "--cik", f"CIK{NLH:010d}", "--forms", "10-K,10-Q",
                         "--include-amendments", "--since", "2023-01-01", "--out", str(out),
                         "--user-agent", UA, "--base-url", server.url, "--rate", "200"])
    assert rc == 0, capsys.readouterr()
    expected = {
        "exwd-10-k-2024-11-01.htm": "exwd-20240928.htm",
        "exwd-10-q-2024-08-02.htm": "exwd-20240629.htm",
        "exwd-10-k-a-2024-03-01.htm": "exwd-20230930x10ka.htm",
        "exwd-10-k-2023-11-03.htm": "exwd-20230930.htm",
        "0001888888-10-q-2024-05-10.htm": "nlh-20240331.htm",    # no ticker: the 10-digit CIK
        "0001888888-10-k-2024-03-15.htm": "nlh-20231231.htm",
    }
    docs = sorted(p.name for p in out.iterdir() if not p.name.endswith(".json"))
    assert docs == sorted(expected)                      # no 8-K, no 2022 10-K, no .part
    for name, fixture in expected.items():
        assert (out / name).read_bytes() == (EDGAR / fixture).read_bytes()
        assert sidecar_path(out / name).is_file()
    # the older index page (2009-2015) is outside --since: never requested
    assert server.count(f"/submissions/CIK{EXWD:010d}-submissions-001.json") == 0
    # every request declared the User-Agent
    assert len(server.requests) == 8
    assert {h.get("user-agent") for _, _, h in server.requests} == {UA}

    side = json.loads(sidecar_path(out / "exwd-10-k-a-2024-03-01.htm").read_text())
    body = (EDGAR / "exwd-20230930x10ka.htm").read_bytes()
    assert side.pop("downloaded_at")
    assert side == {
        "source": "sec", "company_id": "0001999999", "company_name": "Example Widgets Corp",
        "ticker": "EXWD", "form": "10-K/A", "filed_at": "2024-03-01", "period_end": "2023-09-30",
        "accession_number": "0001999999-24-000005", "accepted_at": "2024-03-01T16:15:44.000Z",
        "primary_document": "exwd-20230930x10ka.htm",
        "url": server.url + doc_path(EXWD, "0001999999-24-000005", "exwd-20230930x10ka.htm"),
        "size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
    }

    # the ingest's metadata reader takes the sidecars as written
    p = out / "exwd-10-k-2024-11-01.htm"
    assert filing_meta(p, sidecar_path(p).read_bytes()) == FilingMeta(
        source="sec", form="10-K", company_id="0001999999", company_name="Example Widgets Corp",
        ticker="EXWD", accession_number="0001999999-24-000012",
        period_end=date(2024, 9, 28), filed_at=date(2024, 11, 1))
    p = out / "0001888888-10-q-2024-05-10.htm"
    assert filing_meta(p, sidecar_path(p).read_bytes()) == FilingMeta(
        source="sec", form="10-Q", company_id="0001888888", company_name="Nameless Holdings LLC",
        ticker=None, accession_number="0001888888-24-000004",
        period_end=date(2024, 3, 31), filed_at=date(2024, 5, 10))

    # a second run fetches the two indexes and no document
    docs_before = server.count(prefix="/Archives/")
    rc = edgar_job.main(["--cik", f"{EXWD},{NLH}", "--forms", "10-K,10-Q", "--include-amendments",
                         "--since", "2023-01-01", "--out", str(out), "--user-agent", UA,
                         "--base-url", server.url, "--rate", "200"])
    assert rc == 0
    assert server.count(prefix="/Archives/") == docs_before
    assert "already complete  6" in capsys.readouterr().out


def test_edgar_resume_checks_size_and_sha256(server, tmp_path):
    out = tmp_path / "sec"
    cfg = edgar_cfg(server, out, forms=["10-K"])
    s = download_edgar(cfg, client=fast_client(), log=quiet)
    assert sorted(s.downloaded) == ["exwd-10-k-2023-11-03.htm", "exwd-10-k-2024-11-01.htm"]
    a, b = out / "exwd-10-k-2024-11-01.htm", out / "exwd-10-k-2023-11-03.htm"
    data = bytearray(a.read_bytes())
    data[-10] ^= 0x20                                     # same size, different bytes
    a.write_bytes(bytes(data))
    sidecar_path(b).unlink()                              # no sidecar: not known to be complete
    (out / "exwd-10-k-2023-11-03.htm.part").write_bytes(b"stale, of unknown origin")
    s = download_edgar(cfg, client=fast_client(), log=quiet)
    assert sorted(s.downloaded) == [b.name, a.name] and s.skipped == []
    assert a.read_bytes() == (EDGAR / "exwd-20240928.htm").read_bytes()
    assert b.read_bytes() == (EDGAR / "exwd-20230930.htm").read_bytes()
    s = download_edgar(cfg, client=fast_client(), log=quiet)
    assert s.downloaded == [] and sorted(s.skipped) == [b.name, a.name]
    assert server.count(prefix="/Archives/") == 4


def test_edgar_older_index_pages_and_filings_without_document(server, tmp_path):
    cfg = edgar_cfg(server, tmp_path, forms=["10-K"], since=date(2009, 1, 1), until=date(2015, 12, 31))
    s = download_edgar(cfg, client=fast_client(), log=quiet)
    assert server.count(f"/submissions/CIK{EXWD:010d}-submissions-001.json") == 1
    assert sorted(s.downloaded) == ["exwd-10-k-2014-11-03.htm", "exwd-10-k-2015-11-04.htm"]
    assert s.not_downloadable == [("0001999999 10-K 0000950123-09-061234", "the index names no primary document")]
    assert s.ok


def test_edgar_failures_are_listed_and_the_run_goes_on(server, tmp_path, capsys):
    del server.routes[doc_path(NLH, "0001888888-24-000002", "nlh-20231231.htm")]
    rc = edgar_job.main(["--cik", str(NLH), "--cik", "4242", "--forms", "10-K,10-Q", "--out", str(tmp_path),
                         "--user-agent", UA, "--base-url", server.url, "--rate", "200"])
    cap = capsys.readouterr()
    assert rc == 1
    assert (tmp_path / "0001888888-10-q-2024-05-10.htm").is_file()          # the others still came
    assert not (tmp_path / "0001888888-10-k-2024-03-15.htm").exists()
    assert "0001888888-10-k-2024-03-15.htm: " in cap.out and "HTTP 404" in cap.out
    assert "CIK 4242 index" in cap.out
    assert "2 download(s) failed" in cap.err


def test_edgar_requires_a_user_agent(server, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEC_USER_AGENT", raising=False)
    argv = ["--cik", str(NLH), "--forms", "10-Q", "--out", str(tmp_path), "--base-url", server.url]
    assert edgar_job.main(argv) == 2
    err = capsys.readouterr().err
    assert "SEC_USER_AGENT" in err and "--user-agent" in err
    assert server.requests == [] and not any(tmp_path.iterdir())

    monkeypatch.setenv("SEC_USER_AGENT", "Env Person env@example.com")
    assert edgar_job.main(argv + ["--rate", "200"]) == 0
    assert {h["user-agent"] for _, _, h in server.requests} == {"Env Person env@example.com"}


def test_edgar_job_argument_errors(tmp_path, capsys):
    base = ["--out", str(tmp_path), "--user-agent", UA]
    assert edgar_job.main(["--cik", "12345678901"] + base) == 2            # 11 digits
    assert edgar_job.main(["--cik", "1", "--since", "2024-13-01"] + base) == 2
    assert edgar_job.main(["--cik", "1", "--rate", "50"] + base) == 2      # above SEC's 10/s
    err = capsys.readouterr().err
    assert "12345678901" in err and "2024-13-01" in err and "10 requests per second" in err


def test_edgar_names():
    assert normalize_cik("CIK0000320193") == normalize_cik("0000320193") == normalize_cik(320193) == 320193
    assert form_slug("10-K/A") == "10-k-a" and form_slug("DEF 14A") == "def-14a"
    f = Filing(cik=320193, company_name="Apple Inc.", ticker="AAPL", form="10-K",
               filing_date=date(2024, 11, 1), report_date=date(2024, 9, 28),
               accession_number="0000320193-24-000123", primary_document="aapl-20240928.htm")
    assert file_name(f) == "aapl-10-k-2024-11-01.htm"
    brk = Filing(cik=1067983, company_name="Berkshire", ticker="BRK-A", form="10-Q",
                 filing_date=date(2023, 5, 1), report_date=None,
                 accession_number="0000950170-23-015000", primary_document="brka-20230331.HTM")
    assert file_name(brk) == "brk-a-10-q-2023-05-01.htm"
    from etl.metadata import from_file_name
    assert from_file_name(file_name(brk)).ticker == "BRK-A"
    # two 8-Ks on one day: the later accession is told apart
    a = Filing(320193, "Apple Inc.", "AAPL", "8-K", date(2024, 5, 2), None, "0000320193-24-000060", "a.htm")
    b = Filing(320193, "Apple Inc.", "AAPL", "8-K", date(2024, 5, 2), None, "0000320193-24-000061", "b.htm")
    assert assign_names([b, a]) == {"aapl-8-k-2024-05-02.htm": a,
                                    "aapl-8-k-2024-05-02-0000320193-24-000061.htm": b}


# --------------------------------------------------------------------------- Companies House

def test_download_page_links_are_parsed_not_guessed():
    base = "https://download.companieshouse.gov.uk/"
    links = parse_links((CH / "en_accountsdata.html").read_text(), base + "en_accountsdata.html")
    files = bulk_files(links)
    assert [(f.name, f.kind, f.first_day) for f in files] == [
        ("Accounts_Bulk_Data-2023-12-29.zip", "daily", date(2023, 12, 29)),
        ("Accounts_Bulk_Data-2024-01-02.zip", "daily", date(2024, 1, 2)),
        ("Accounts_Bulk_Data-2024-01-03.zip", "daily", date(2024, 1, 3)),
        ("Accounts_Bulk_Data-2024-01-04.zip", "daily", date(2024, 1, 4)),
    ]                                                    # page links, BasicCompanyData and mailto ignored
    assert all(f.url == base + f.name for f in files)    # "/Accounts…" and "Accounts…" both resolved
    hist = bulk_files(parse_links((CH / "historicmonthlyaccountsdata.html").read_text(),
                                  base + "historicmonthlyaccountsdata.html"))
    assert [(f.name, f.first_day, f.last_day) for f in hist] == [
        ("Accounts_Monthly_Data-JanuaryToDecember2009.zip", date(2009, 1, 1), date(2009, 12, 31)),
        ("Accounts_Monthly_Data-September2023.zip", date(2023, 9, 1), date(2023, 9, 30)),
        ("Accounts_Monthly_Data-October2023.zip", date(2023, 10, 1), date(2023, 10, 31)),
    ]
    assert hist[0].url == base + "archive/Accounts_Monthly_Data-JanuaryToDecember2009.zip"
    assert bulk_file(base + "Accounts_Monthly_Data-Smarch2024.zip") is None
    assert bulk_file(base + "Accounts_Bulk_Data-2024-02-30.zip") is None


def test_ch_job_downloads_daily_zips_and_skips_them_next_time(server, tmp_path, capsys):
    out = tmp_path / "ch"
    argv = ["--since", "2024-01-02", "--until", "2024-01-03", "--out", str(out), "--base-url", server.url,
            "--rate", "200"]
    assert ch_job.main(argv) == 0, capsys.readouterr()
    names = ["Accounts_Bulk_Data-2024-01-02.zip", "Accounts_Bulk_Data-2024-01-03.zip"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names + [n + ".json" for n in names])
    for n in names:
        body = (CH / n).read_bytes()
        assert (out / n).read_bytes() == body and zipfile.is_zipfile(out / n)
        rec = json.loads(sidecar_path(out / n).read_text())
        assert rec["size"] == len(body) and rec["sha256"] == hashlib.sha256(body).hexdigest()
        assert rec["url"] == f"{server.url}/{n}" and rec["covers_from"] == rec["covers_to"] == n[19:29]
        # a zip's record carries no filing metadata: nothing for the ingest to misapply
        assert filing_meta(out / n, sidecar_path(out / n).read_bytes()) == FilingMeta()
    assert server.count("/Accounts_Bulk_Data-2024-01-04.zip") == 0
    assert {h["user-agent"] for _, _, h in server.requests}.pop().startswith("filingstore/")

    assert ch_job.main(argv) == 0
    assert server.count(prefix="/Accounts_") == 2 and server.count(method="HEAD") == 0
    assert "already complete  2" in capsys.readouterr().out


def test_ch_monthly_reads_the_archive_page_only_when_needed(server, tmp_path):
    s = download_companies_house(ch_cfg(server, tmp_path, since=date(2023, 12, 15), until=date(2024, 1, 31),
                                        monthly=True), client=fast_client(), log=quiet)
    assert sorted(s.downloaded) == ["Accounts_Monthly_Data-December2023.zip", "Accounts_Monthly_Data-January2024.zip"]
    assert server.count("/historicmonthlyaccountsdata.html") == 0
    s = download_companies_house(ch_cfg(server, tmp_path, since=date(2023, 10, 1), until=date(2023, 11, 30),
                                        monthly=True), client=fast_client(), log=quiet)
    assert server.count("/historicmonthlyaccountsdata.html") == 1
    assert sorted(s.downloaded) == ["Accounts_Monthly_Data-November2023.zip", "Accounts_Monthly_Data-October2023.zip"]
    assert server.count("/archive/Accounts_Monthly_Data-October2023.zip") == 1
    assert server.count("/en_accountsdata.html") == 0


def test_ch_interrupted_download_resumes_with_range(server, tmp_path):
    big = "/Accounts_Bulk_Data-2024-01-02.zip"
    server.faults[big] = ["close_after:1000"]
    cfg = ch_cfg(server, tmp_path)
    s = download_companies_house(cfg, client=fast_client(max_attempts=1), log=quiet)    # "killed" midway
    assert [n for n, _ in s.failed] == ["Accounts_Bulk_Data-2024-01-02.zip"]
    assert f"truncated body: 1000 of {(CH / big[1:]).stat().st_size} bytes" in s.failed[0][1]
    assert s.downloaded == ["Accounts_Bulk_Data-2024-01-03.zip"]
    final = tmp_path / "Accounts_Bulk_Data-2024-01-02.zip"
    assert not final.exists() and part_path(final).stat().st_size == 1000          # no half file under the name

    s = download_companies_house(cfg, client=fast_client(), log=quiet)
    assert s.ok and s.downloaded == [final.name] and s.skipped == ["Accounts_Bulk_Data-2024-01-03.zip"]
    assert final.read_bytes() == (CH / final.name).read_bytes() and not part_path(final).exists()
    h = server.headers_of(big)
    assert len(h) == 2 and h[1]["range"] == "bytes=1000-" and h[1]["if-range"] == server.etags[big]
    assert server.count("/Accounts_Bulk_Data-2024-01-03.zip") == 1                   # complete: not fetched again

    download_companies_house(cfg, client=fast_client(), log=quiet)
    assert server.count(prefix="/Accounts_") == 3


def test_ch_resume_restarts_when_the_server_ignores_ranges(server, tmp_path):
    big = "/Accounts_Bulk_Data-2024-01-02.zip"
    server.faults[big] = ["close_after:1000"]
    server.no_range.add(big)
    cfg = ch_cfg(server, tmp_path, until=date(2024, 1, 2))
    assert not download_companies_house(cfg, client=fast_client(max_attempts=1), log=quiet).ok
    s = download_companies_house(cfg, client=fast_client(), log=quiet)
    assert s.ok and (tmp_path / big[1:]).read_bytes() == (CH / big[1:]).read_bytes()
    assert server.headers_of(big)[1]["range"] == "bytes=1000-"                        # asked, got a 200


def test_ch_resume_restarts_when_the_remote_file_changed(server, tmp_path):
    big = "/Accounts_Bulk_Data-2024-01-02.zip"
    server.faults[big] = ["close_after:1000"]
    cfg = ch_cfg(server, tmp_path, until=date(2024, 1, 2))
    download_companies_house(cfg, client=fast_client(max_attempts=1), log=quiet)
    server.add(big, (CH / "Accounts_Bulk_Data-2024-01-04.zip").read_bytes())         # republished: new ETag
    s = download_companies_house(cfg, client=fast_client(), log=quiet)
    assert s.ok and (tmp_path / big[1:]).read_bytes() == (CH / "Accounts_Bulk_Data-2024-01-04.zip").read_bytes()


def test_ch_complete_part_is_finished_from_a_416(server, tmp_path):
    """Interrupted between the last byte and the rename: the range is past the end."""
    name = "Accounts_Bulk_Data-2024-01-03.zip"
    body = (CH / name).read_bytes()
    part = part_path(tmp_path / name)
    part.write_bytes(body)
    (tmp_path / (name + ".part.json")).write_text(json.dumps(
        {"url": f"{server.url}/{name}", "total": len(body), "etag": server.etags["/" + name]}))
    s = download_companies_house(ch_cfg(server, tmp_path, since=date(2024, 1, 3)),
                                 client=fast_client(max_attempts=1), log=quiet)
    assert s.ok and (tmp_path / name).read_bytes() == body
    assert server.count("/" + name) == 1 and not part.exists()


def test_ch_not_a_zip_and_missing_files_fail_clearly(server, tmp_path, capsys):
    server.add("/Accounts_Bulk_Data-2024-01-03.zip", b"<html><body>Service unavailable</body></html>")
    rc = ch_job.main(["--since", "2023-12-29", "--until", "2024-01-04", "--out", str(tmp_path),
                      "--base-url", server.url, "--rate", "200", "--max-attempts", "2"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "Accounts_Bulk_Data-2023-12-29.zip: " in cap.out and "HTTP 404" in cap.out
    assert "Accounts_Bulk_Data-2024-01-03.zip: " in cap.out and "not a zip" in cap.out
    assert "2 download(s) failed" in cap.err
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".zip") == [
        "Accounts_Bulk_Data-2024-01-02.zip", "Accounts_Bulk_Data-2024-01-04.zip"]
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


def test_ch_zip_without_record_is_checked_by_head(server, tmp_path):
    name = "Accounts_Bulk_Data-2024-01-02.zip"
    shutil.copy(CH / name, tmp_path / name)
    s = download_companies_house(ch_cfg(server, tmp_path, until=date(2024, 1, 2)), client=fast_client(), log=quiet)
    assert s.skipped == [name] and s.downloaded == []
    assert server.count("/" + name, method="HEAD") == 1 and server.count("/" + name) == 0
    assert json.loads(sidecar_path(tmp_path / name).read_text())["size"] == (CH / name).stat().st_size


def test_ch_job_argument_errors(tmp_path, capsys):
    assert ch_job.main(["--out", str(tmp_path)]) == 2                                 # --since required
    assert ch_job.main(["--since", "2024-02-01", "--until", "2024-01-01", "--out", str(tmp_path)]) == 2
    assert "is after --until" in capsys.readouterr().err
