"""Companies House bulk zips: archive protections (crafted zips) and identity (real zips)."""
from __future__ import annotations

import io
import struct
import zipfile
from datetime import date
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from etl.companies_house import (
    FORM_ACCOUNTS, FORM_CIC_REPORT, SEP, ArchiveError, ArchiveEntry, ArchiveLimits, ChFiling, _Budget, _Refused,
    _read_limited, bulk_file_date, filing_metadata, group_parts, identity_from_facts, identity_from_name,
    is_archive, iter_archive, normalize_company_number, reconcile_identity, sidecar,
)
from etl.xbrl import Fact

CH_DIR = SHARED_DATA / "companies_house"
MiB = 1024 * 1024
HTML = b"<html><body><p>Balance sheet as at 31 December 2022: 1,234 GBP.</p></body></html>"


def make_zip(path: Path, members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return path


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def by_member(entries: list[ArchiveEntry]) -> dict[str, ArchiveEntry]:
    return {e.virtual_path.split(SEP, 1)[1]: e for e in entries}


# --------------------------------------------------------------------------- names

def test_bulk_file_date():
    assert bulk_file_date("Accounts_Bulk_Data-2023-03-02.zip") == date(2023, 3, 2)
    assert bulk_file_date("/data/x/Accounts_Bulk_Data-2025-05-03.zip") == date(2025, 5, 3)
    assert bulk_file_date("Accounts_Bulk_Data-2023-02-30.zip") is None
    assert bulk_file_date("Accounts_Monthly_Data-April2023.zip") is None
    assert bulk_file_date("Prod223_3384_09355500_20221231.html") is None


def test_is_archive(tmp_path):
    assert is_archive(Path("a/Accounts_Bulk_Data-2023-03-02.ZIP"))
    assert not is_archive(Path("Prod223_3384_09355500_20221231.html"))


def test_identity_from_name():
    assert identity_from_name("Prod223_3384_SC720321_20230131.html") == {
        "company_id": "SC720321", "period_end": date(2023, 1, 31)}
    assert identity_from_name("dir/Prod223_3384_00225951_20241031.html")["company_id"] == "00225951"
    vpath = "b.zip::Prod223_3951_15052776_20240831_CIC.zip::CIC-15052776/cic34/cicReport.xhtml"
    assert identity_from_name(vpath) == {"company_id": "15052776", "period_end": date(2024, 8, 31)}
    assert identity_from_name("aapl-10-k-2024-11-01.html") == {}
    assert identity_from_name("Prod223_3384_SC720321_20231331.html") == {}  # no month 13
    assert identity_from_name("README.txt") == {}


def test_normalize_company_number():
    assert normalize_company_number("1234567") == "01234567"
    assert normalize_company_number("01234567") == "01234567"
    assert normalize_company_number("sc 12345") == "SC012345"
    assert normalize_company_number("NI681295") == "NI681295"
    assert normalize_company_number("OC437536") == "OC437536"
    assert normalize_company_number("123456789") is None
    assert normalize_company_number("ABC12345") is None
    assert normalize_company_number("") is None


def _fact(concept, text=None, end=None, dims="{}", value=None, unit=None):
    return Fact("f", concept, value, text, unit, None, None, end, dims)


def test_identity_from_facts_and_reconcile():
    facts = [
        _fact("frs-core:Equity", value=1.0, unit="GBP", end=date(2022, 12, 31)),
        _fact("bus:UKCompaniesHouseRegisteredNumber", "1234567", date(2022, 12, 31), dims='{"a":"b"}'),
        _fact("bus:UKCompaniesHouseRegisteredNumber", " 1234567 ", date(2022, 12, 31)),
        _fact("bus:EntityCurrentLegalOrRegisteredName", "ACME  WIDGETS\nLIMITED", date(2022, 12, 31)),
        _fact("bus:EndDateForPeriodCoveredByReport", "2022-12-31", date(2022, 12, 31)),
    ]
    got = identity_from_facts(facts)
    assert got == {"company_id": "1234567", "company_name": "ACME WIDGETS LIMITED",
                   "period_end": date(2022, 12, 31)}
    # no cover date: the latest context end
    assert identity_from_facts(facts[:1] + [_fact("x:Y", value=2.0, unit="GBP", end=date(2023, 1, 1))]) == {
        "period_end": date(2023, 1, 1)}
    assert identity_from_facts([]) == {}

    merged, conflicts = reconcile_identity(identity_from_name("Prod223_1_01234567_20221231.html"), got)
    assert conflicts == []  # 01234567 and 1234567 are one number once normalised
    assert merged == {"company_id": "01234567", "company_name": "ACME WIDGETS LIMITED",
                      "period_end": date(2022, 12, 31)}

    merged, conflicts = reconcile_identity(
        identity_from_name("Prod223_1_SC000001_20221130.html"), got)
    assert merged["company_id"] == "SC000001" and merged["period_end"] == date(2022, 11, 30)  # the name wins
    assert conflicts == ["company number in file name SC000001 != 1234567 in XBRL",
                         "period end in file name 2022-11-30 != 2022-12-31 in XBRL"]
    # nothing in the name: the facts fill in (normalised)
    merged, conflicts = reconcile_identity({}, got)
    assert merged["company_id"] == "01234567" and conflicts == []


# --------------------------------------------------------------------------- protections

def test_zip_slip_names_are_refused(tmp_path):
    bad = ["../evil.html", "/etc/abs.html", "C:/win.html", "c:rel.html", "a/../../b.html",
           "..\\win\\x.html", "\\\\server\\share\\x.html"]
    z = make_zip(tmp_path / "slip.zip", {**{n: HTML for n in bad}, "ok.html": HTML})
    entries = list(iter_archive(z))
    got = {e.member: e for e in entries}
    assert set(got) == set(bad) | {"ok.html"}  # zipfile kept every name as written
    for n in bad:
        assert got[n].reason == "zip_slip" and got[n].data is None, n
        assert n in got[n].detail
    assert got["ok.html"].data == HTML and got["ok.html"].reason is None
    assert not list(tmp_path.glob("**/*.html")) and not Path("/etc/abs.html").exists()


def test_zip_bomb_300mb_of_zeros_is_refused_without_inflating(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:  # streamed: 1 MiB in memory at a time
        with zf.open("zeros.html", "w", force_zip64=True) as w:
            chunk = bytes(MiB)
            for _ in range(300):
                w.write(chunk)
        zf.writestr("ok.html", HTML)
    assert path.stat().st_size < 1 * MiB
    got = by_member(list(iter_archive(path)))
    assert got["zeros.html"].reason == "zip_bomb" and got["zeros.html"].data is None
    assert "ratio" in got["zeros.html"].detail
    assert got["ok.html"].data == HTML
    # a bigger ratio allowance still stops it: 300 MiB is over a 64 MiB member limit
    got = by_member(list(iter_archive(path, ArchiveLimits(max_ratio=1e9, max_member_bytes=64 * MiB))))
    assert got["zeros.html"].reason == "too_large"


def test_size_limits_small(tmp_path):
    z = make_zip(tmp_path / "z.zip", {"a.html": HTML * 100, "b.html": HTML * 100, "c.html": HTML})
    # member limit
    got = by_member(list(iter_archive(z, ArchiveLimits(max_member_bytes=len(HTML) * 50))))
    assert got["a.html"].reason == "too_large" and got["c.html"].data == HTML
    # total limit: a fits, b would pass the total, c still fits
    got = by_member(list(iter_archive(z, ArchiveLimits(max_total_bytes=len(HTML) * 150))))
    assert got["a.html"].ok and got["b.html"].reason == "too_large" and got["c.html"].ok
    assert "max_total_bytes" in got["b.html"].detail
    # ratio, checked from a small size on
    got = by_member(list(iter_archive(z, ArchiveLimits(max_ratio=5, ratio_min_bytes=1024))))
    assert got["a.html"].reason == "zip_bomb" and got["c.html"].ok


def _patch_central_size(data: bytes, name: bytes, new_size: int) -> bytes:
    i = data.index(b"PK\x01\x02")  # the first central directory header
    while data[i + 46:i + 46 + len(name)] != name:
        i = data.index(b"PK\x01\x02", i + 4)
    return data[:i + 24] + struct.pack("<I", new_size) + data[i + 28:]


def test_lying_header_cannot_inflate_past_its_declared_size(tmp_path):
    big = bytes(8 * MiB)
    raw = zip_bytes({"liar.html": big, "ok.html": HTML})
    p = tmp_path / "liar.zip"
    p.write_bytes(_patch_central_size(raw, b"liar.html", 1000))  # "1000 bytes", really 8 MiB
    got = by_member(list(iter_archive(p)))
    assert got["liar.html"].reason == "bad_member" and got["liar.html"].data is None  # CRC fails at 1000
    assert got["ok.html"].data == HTML


def test_bytes_are_counted_while_reading():
    """Defence in depth: a stream that gives more than any header said is cut off."""
    lim = ArchiveLimits(max_member_bytes=4 * MiB)
    with pytest.raises(_Refused) as e:
        _read_limited(io.BytesIO(bytes(5 * MiB)), 5 * MiB, _Budget(lim))
    assert e.value.reason == "too_large"
    with pytest.raises(_Refused) as e:
        _read_limited(io.BytesIO(bytes(3 * MiB)), 1000, _Budget(lim))
    assert e.value.reason == "zip_bomb"
    budget = _Budget(ArchiveLimits(max_total_bytes=3 * MiB), inflated=2 * MiB)
    with pytest.raises(_Refused) as e:
        _read_limited(io.BytesIO(b"x" * (2 * MiB)), 2 * MiB, budget)
    assert e.value.reason == "too_large"
    budget = _Budget(lim)
    assert _read_limited(io.BytesIO(b"abc"), 3, budget) == b"abc" and budget.inflated == 3


def test_nested_depth_5(tmp_path):
    inner = zip_bytes({"l5.html": HTML})
    for level in (4, 3, 2, 1):
        inner = zip_bytes({f"l{level}.html": HTML, f"l{level + 1}.zip": inner})
    z = make_zip(tmp_path / "deep.zip", {"l0.html": HTML, "l1.zip": inner})
    entries = list(iter_archive(z))
    ok = [e.member for e in entries if e.ok]
    assert ok == ["l0.html", "l1.html", "l2.html", "l3.html"]
    deep = [e for e in entries if not e.ok]
    assert [e.reason for e in deep] == ["nested_too_deep"]
    assert deep[0].virtual_path.endswith("deep.zip::l1.zip::l2.zip::l3.zip::l4.zip")
    # depth 5 allowed: everything
    assert [e.member for e in iter_archive(z, ArchiveLimits(max_depth=5)) if e.ok][-1] == "l5.html"


def test_corrupted_member_is_refused_and_the_rest_loads(tmp_path):
    body = b"".join(b"<p>row %d: %d GBP</p>" % (i, i * 7919 % 100003) for i in range(3000))
    raw = bytearray(zip_bytes({"a.html": HTML, "bad.html": body, "z.html": HTML}))
    zf = zipfile.ZipFile(io.BytesIO(bytes(raw)))
    info = zf.getinfo("bad.html")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for off in range(start + info.compress_size // 2, start + info.compress_size // 2 + 16):
        raw[off] ^= 0xFF
    p = tmp_path / "corrupt.zip"
    p.write_bytes(bytes(raw))
    got = by_member(list(iter_archive(p)))
    assert got["bad.html"].reason == "bad_member" and got["bad.html"].data is None
    assert "corrupt" in got["bad.html"].detail
    assert got["a.html"].data == HTML and got["z.html"].data == HTML


def test_corrupt_outer_zip_raises_archive_error(tmp_path):
    p = tmp_path / "Accounts_Bulk_Data-2023-03-02.zip"
    p.write_bytes(b"this is not a zip at all" * 10)
    with pytest.raises(ArchiveError) as e:
        list(iter_archive(p))
    assert e.value.reason == "bad_archive" and str(p) in e.value.detail
    good = zip_bytes({"a.html": HTML * 50, "b.html": HTML * 50})
    p.write_bytes(good[: len(good) // 2])  # truncated download
    with pytest.raises(ArchiveError) as e:
        list(iter_archive(p))
    assert e.value.reason == "bad_archive"
    with pytest.raises(ArchiveError) as e:
        list(iter_archive(tmp_path / "missing.zip"))
    assert e.value.reason == "unreadable"


def test_macosx_clutter_is_skipped_and_non_filings_are_refused(tmp_path):
    z = make_zip(tmp_path / "Accounts_Bulk_Data-2024-01-05.zip", {
        "docs/": b"",
        "__MACOSX/._Prod223_1_01234567_20231231.html": b"\x00\x05\x16\x07resource fork",
        "__MACOSX/docs/._README.txt": b"\x00\x05\x16\x07",
        "docs/._hidden.html": b"\x00\x05\x16\x07",
        ".DS_Store": b"\x00\x00\x00\x01Bud1",
        "README.txt": b"read me",
        "logo.png": b"\x89PNG....",
        "Prod223_1_01234567_20231231.html": HTML,
    })
    entries = list(iter_archive(z))
    assert [(e.member, e.reason) for e in entries] == [
        ("README.txt", "not_a_filing"), ("logo.png", "not_a_filing"),
        ("Prod223_1_01234567_20231231.html", None),
    ]
    assert all(e.bulk_date == date(2024, 1, 5) for e in entries)
    assert ".txt file is not a filing" in entries[0].detail


def test_member_count_limit(tmp_path):
    z = make_zip(tmp_path / "many.zip", {f"m{i}.html": HTML for i in range(6)})
    with pytest.raises(ArchiveError) as e:
        list(iter_archive(z, ArchiveLimits(max_members=5)))
    assert e.value.reason == "too_many_members"
    nested = make_zip(tmp_path / "n.zip", {"a.html": HTML, "inner.zip": zip_bytes({f"m{i}.html": HTML for i in range(6)})})
    got = by_member(list(iter_archive(nested, ArchiveLimits(max_members=5))))
    assert got["inner.zip"].reason == "too_many_members" and got["a.html"].ok


def test_odd_members(tmp_path):
    p = tmp_path / "odd.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("locked.html", HTML)
        zf.writestr("notazip.zip", b"PK but not really")
        zf.writestr("a.html", HTML)
        with pytest.warns(UserWarning):
            zf.writestr("a.html", b"<p>second copy</p>")
    raw = bytearray(buf.getvalue())
    raw[6] |= 0x1  # the first local header and its central directory entry say "encrypted"
    cd = raw.index(b"PK\x01\x02")
    raw[cd + 8] |= 0x1
    p.write_bytes(bytes(raw))
    entries = list(iter_archive(p))
    assert [(e.member, e.reason) for e in entries] == [
        ("locked.html", "bad_member"), ("notazip.zip", "bad_member"), ("a.html", None), ("a.html", "bad_member"),
    ]
    assert entries[2].data == HTML and "encrypted" in entries[0].detail


def test_group_parts_links_cic_parts(tmp_path):
    cic = zip_bytes({
        "CIC-15052776/accounts/": b"",
        "CIC-15052776/accounts/financialStatement.xhtml": HTML,
        "CIC-15052776/cic34/cicReport.xhtml": b"<html><body><p>Community report</p></body></html>",
    })
    z = make_zip(tmp_path / "Accounts_Bulk_Data-2025-05-03.zip", {
        "Prod223_3951_15052776_20240831_CIC.zip": cic,
        "Prod223_3951_00225951_20241031.html": HTML,
        "notes.txt": b"x",
    })
    items = list(group_parts(iter_archive(z)))
    assert [type(i).__name__ for i in items] == ["ChFiling", "ChFiling", "ChFiling", "ArchiveEntry"]
    filings = [i for i in items if isinstance(i, ChFiling)]
    assert [i.reason for i in items if isinstance(i, ArchiveEntry)] == ["not_a_filing"]
    stmt, report, plain = filings
    assert (stmt.form, report.form, plain.form) == (FORM_ACCOUNTS, FORM_CIC_REPORT, FORM_ACCOUNTS)
    for f in (stmt, report):
        assert f.meta == {"source": "companies_house", "form": f.form, "company_id": "15052776",
                          "period_end": date(2024, 8, 31), "filed_at": date(2025, 5, 3)}
        assert f.group == f"{z}{SEP}Prod223_3951_15052776_20240831_CIC.zip"
    assert stmt.related == (report.virtual_path,) and report.related == (stmt.virtual_path,)
    assert plain.group is None and plain.related == () and plain.meta["company_id"] == "00225951"
    assert report.name == "CIC-15052776/cic34/cicReport.xhtml"
    assert sidecar(report.meta) == (b'{"company_id": "15052776", "filed_at": "2025-05-03", "form": "CIC34", '
                                    b'"period_end": "2024-08-31", "source": "companies_house"}')


# --------------------------------------------------------------------------- real bulk zips

@pytest.fixture(scope="module")
def ch_entries() -> list[ArchiveEntry]:
    if not CH_DIR.is_dir():
        pytest.skip(f"Companies House zips not found at {CH_DIR} (set FILINGSTORE_SHARED_DATA to ../shared/data)")
    out: list[ArchiveEntry] = []
    for z in sorted(CH_DIR.glob("Accounts_Bulk_Data-*.zip")):
        assert is_archive(z)
        out.extend(iter_archive(z))
    return out


def test_real_bulk_zips(ch_entries, capsys):
    from etl.documents import parse_filing
    from etl.metadata import filing_meta
    from etl.xbrl import extract_facts

    assert all(e.ok for e in ch_entries), [(e.virtual_path, e.reason, e.detail) for e in ch_entries if not e.ok]
    assert len(ch_entries) == 12
    assert not any("__MACOSX" in e.virtual_path for e in ch_entries)
    filings = list(group_parts(ch_entries))
    assert len(filings) == 12 and all(isinstance(f, ChFiling) for f in filings)
    rows, conflicts_seen = [], []
    for f in filings:
        facts = extract_facts(f.data).facts
        from_name, from_facts = identity_from_name(f.virtual_path), identity_from_facts(facts)
        meta, conflicts = filing_metadata(f, facts)
        conflicts_seen += [f"{f.virtual_path}: {c}" for c in conflicts]
        parsed = parse_filing(f.data, Path(f.name), sidecar(meta))
        assert parsed.text.strip()
        assert parsed.meta == filing_meta(Path(f.name), sidecar(meta))
        assert parsed.meta.source == "companies_house" and parsed.meta.company_id == from_name["company_id"]
        assert parsed.meta.filed_at == bulk_file_date(f.virtual_path.split(SEP)[0])
        n_numeric = sum(x.numeric for x in facts)
        has_nonfraction = b"ix:nonFraction" in f.data
        assert has_nonfraction == (n_numeric > 0)
        rows.append((f.virtual_path.split("companies_house/")[-1], from_name["company_id"], from_name["period_end"],
                     from_facts.get("company_id"), from_facts.get("period_end"), not conflicts,
                     n_numeric, len(parsed.text), f.form, meta.get("company_name")))
    with capsys.disabled():
        print("\nvirtual path | company | period end | XBRL company | XBRL period end | agree | numeric facts "
              "| text chars | form | name")
        for r in rows:
            print(" | ".join(str(x) for x in r))
        for c in conflicts_seen:
            print("CONFLICT", c)
    assert conflicts_seen == []
    # every account has numeric facts except the CIC report, which is narrative only
    no_numbers = [r[0] for r in rows if r[6] == 0]
    assert len(no_numbers) == 1 and no_numbers[0].endswith("cic34/cicReport.xhtml")
    cic = [f for f in filings if f.group]
    assert sorted(f.form for f in cic) == [FORM_ACCOUNTS, FORM_CIC_REPORT]
    assert {(f.meta["company_id"], f.meta["period_end"]) for f in cic} == {("15052776", date(2024, 8, 31))}
