"""Cover-page metadata for filings without XBRL cover facts."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from etl.cover import cover_metadata
from etl.documents import parse_filing


def test_old_style_cover():
    text = ("UNITED STATES\n\nFORM 10-K\n\n[X] | ANNUAL REPORT\n\nFor the fiscal year ended June 30, 1999.\n\n"
            "Commission file number 0-18443\n\nMEDICIS PHARMACEUTICAL CORPORATION\n\n"
            "(Exact name of registrant as specified in its charter)")
    assert cover_metadata(text) == {"form": "10-K", "period_end": date(1999, 6, 30),
                                    "company_name": "MEDICIS PHARMACEUTICAL CORPORATION"}


def test_amendment_and_upper_case_period():
    text = "FORM 10-K/A\n\nFOR THE FISCAL YEAR ENDED DECEMBER 31, 2015 or"
    assert cover_metadata(text) == {"form": "10-K/A", "period_end": date(2015, 12, 31)}


def test_nothing_is_invented():
    assert cover_metadata("Quarterly newsletter of a company.") == {}


@pytest.mark.parametrize("name,form,period,company", [
    ("0000950153-99-001234.html", "10-K", date(1999, 6, 30), "MEDICIS PHARMACEUTICAL CORPORATION"),
    ("0001193125-10-073212.html", "10-K", date(2009, 12, 31), "GAINSCO, INC."),
    ("0001376474-16-000635.html", "10-K", date(2015, 12, 31), "COMMONWEALTH INCOME & GROWTH FUND V"),
])
def test_real_pre_xbrl_covers(sec_10k_dir, name, form, period, company):
    p = sec_10k_dir / name
    meta = parse_filing(p.read_bytes(), Path(name)).meta
    assert (meta.form, meta.period_end, meta.company_name) == (form, period, company)
    assert meta.accession_number == name[:-5]
