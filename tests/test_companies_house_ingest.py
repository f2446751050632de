"""Companies House bulk zips through the Ray ingest, into a real store."""
from __future__ import annotations

import io
import zipfile

import duckdb
import pytest

from conftest import SHARED_DATA
from etl.pipeline import IngestConfig, run_ingest

pytestmark = pytest.mark.ray
CH_DIR = SHARED_DATA / "companies_house"

ACCOUNT = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:ix="http://www.xbrl.org/2013/inlineXBRL"
 xmlns:xbrli="http://www.xbrl.org/2003/instance" xmlns:bus="http://xbrl.frc.org.uk/cd/2021-01-01/business"
 xmlns:core="http://xbrl.frc.org.uk/fr/2021-01-01/core" xmlns:iso4217="http://www.xbrl.org/2003/iso4217">
<head><title>Accounts</title></head><body>
<div style="display:none"><ix:header><ix:resources>
<xbrli:context id="c1"><xbrli:entity><xbrli:identifier scheme="http://www.companieshouse.gov.uk/">{number}</xbrli:identifier></xbrli:entity>
<xbrli:period><xbrli:instant>2023-03-31</xbrli:instant></xbrli:period></xbrli:context>
<xbrli:unit id="GBP"><xbrli:measure>iso4217:GBP</xbrli:measure></xbrli:unit>
</ix:resources></ix:header></div>
<p><ix:nonNumeric name="bus:EntityCurrentLegalOrRegisteredName" contextRef="c1">Widget Makers Ltd</ix:nonNumeric></p>
<p>Company number <ix:nonNumeric name="bus:UKCompaniesHouseRegisteredNumber" contextRef="c1">{number}</ix:nonNumeric></p>
<table><tr><td>Net assets</td><td>£</td><td><ix:nonFraction name="core:NetAssetsLiabilities" contextRef="c1" unitRef="GBP" decimals="0" format="ixt:num-dot-decimal">{assets}</ix:nonFraction></td></tr></table>
</body></html>"""


def bulk_zip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def counts(store_dir):
    con = duckdb.connect(str(store_dir / "filingstore.duckdb"), read_only=True)
    try:
        filings = con.execute("SELECT path, source, form, company_id, company_name, period_end, filed_at FROM filings ORDER BY path").fetchall()
        rejects = con.execute("SELECT path, stage, reason, item FROM rejects ORDER BY path, item").fetchall()
        facts = con.execute("SELECT count(*) FROM facts").fetchone()[0]
    finally:
        con.close()
    return filings, rejects, facts


def test_generated_bulk_zip_members_become_filings_or_rejects(ray_cluster, tmp_path):
    z = tmp_path / "Accounts_Bulk_Data-2023-04-03.zip"
    bulk_zip(z, {
        "Prod223_0001_01234567_20230331.html": ACCOUNT.format(number="01234567", assets="1,200").encode(),
        "Prod223_0001_SC765432_20230331.html": ACCOUNT.format(number="SC999999", assets="950").encode(),
        "__MACOSX/._Prod223_0001_01234567_20230331.html": b"\x00\x05\x16\x07",
        "README.txt": b"not a filing",
    })
    s = run_ingest(IngestConfig(inputs=[tmp_path], store=tmp_path / "store", progress=False, workers=1))
    filings, rejects, facts = counts(tmp_path / "store")
    assert s.filings_written == 2 and facts == 6  # per account: name, number, net assets
    by_number = {f[3]: f for f in filings}
    good = by_number["01234567"]
    assert good[1] == "companies_house" and good[4] == "Widget Makers Ltd"
    assert str(good[5]) == "2023-03-31" and str(good[6]) == "2023-04-03"  # filed_at: the bulk file's date
    # the second account's XBRL disagrees with its file name: kept, the conflict recorded
    assert any(r[1:3] == ("identity", "identity_conflict") and "SC765432" in r[0] for r in rejects)
    assert any(r[0].endswith("::README.txt") and r[1:3] == ("archive", "not_a_filing") for r in rejects)
    again = run_ingest(IngestConfig(inputs=[tmp_path], store=tmp_path / "store", progress=False, workers=1))
    assert again.filings_written == 0
    assert counts(tmp_path / "store") == (filings, rejects, facts)


def test_real_bulk_zips(ray_cluster, tmp_path):
    if not CH_DIR.is_dir():
        pytest.skip(f"Companies House bulk zips not found at {CH_DIR}")
    s = run_ingest(IngestConfig(inputs=[CH_DIR], store=tmp_path / "store", progress=False, workers=2))
    filings, rejects, facts = counts(tmp_path / "store")
    assert len(filings) == 12 and not [r for r in rejects if r[1] != "identity"]
    assert not rejects, rejects
    assert all(f[1] == "companies_house" and f[3] and f[5] and f[6] for f in filings)
    forms = sorted(f[2] for f in filings)
    assert forms.count("CIC34") == 1 and forms.count("AA") == 11
    assert facts > 200
