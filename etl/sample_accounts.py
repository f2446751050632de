"""A generated Companies House bulk zip of small-company accounts (demo and tests).

Each account is inline-XBRL XHTML in the shape of a UK micro-entity or small
company filing: a cover with the registered number, a balance sheet whose
values are `ix:nonFraction` facts in pounds (current and prior year), the
average number of employees and the directors' approval. Members are named as
the daily feed names them (`Prod223_<run>_<company number>_<YYYYMMDD>.html`)
inside `Accounts_Bulk_Data-YYYY-MM-DD.zip`, so the ingest takes company number,
period end and filing date from the names and checks them against the facts.
"""
from __future__ import annotations

import random
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

_NAMES = ["Harbour Lights Bakery", "Pennine Tooling", "Clyde Marine Services", "Foyle Digital",
          "Severn Valley Care", "Thames Courier", "Ashdown Joinery", "Lomond Outdoor"]
_SUFFIXES = ["Ltd", "Limited", "LLP"]
_PREFIXES = ["", "", "SC", "NI"]


@dataclass
class SampleAccount:
    member: str
    company_number: str
    company_name: str
    period_end: date
    html: str
    facts: dict[str, tuple[int, int]]   # concept -> (current, prior) in pounds
    employees: int


def _number(rng: random.Random) -> str:
    prefix = rng.choice(_PREFIXES)
    digits = 8 - len(prefix)
    return prefix + str(rng.randrange(10 ** (digits - 1), 10 ** digits)).zfill(digits)


def _money(v: int) -> str:
    return f"({abs(v):,})" if v < 0 else f"{v:,}"


def _fact(name: str, ctx: str, v: int) -> str:
    sign = ' sign="-"' if v < 0 else ""
    return (f'<ix:nonFraction name="core:{name}" contextRef="{ctx}" unitRef="GBP" decimals="0" '
            f'format="ixt:num-dot-decimal"{sign}>{abs(v):,}</ix:nonFraction>')


def _account(rng: random.Random, i: int, filed: date) -> SampleAccount:
    suffix = rng.choice(_SUFFIXES)
    number = _number(rng)
    if suffix == "LLP":  # partnerships are registered as OC/SO/NC numbers
        number = "OC" + number[-6:]
    name = f"{_NAMES[i % len(_NAMES)]} {suffix}"
    period_end = filed - timedelta(days=rng.randint(60, 270))
    prior_end = period_end.replace(year=period_end.year - 1)
    facts: dict[str, tuple[int, int]] = {}
    for concept, lo, hi in (("FixedAssets", 5_000, 400_000), ("CurrentAssets", 10_000, 900_000),
                            ("Creditors", 2_000, 300_000)):
        facts[concept] = (rng.randint(lo, hi), rng.randint(lo, hi))
    net = tuple(facts["FixedAssets"][k] + facts["CurrentAssets"][k] - facts["Creditors"][k] for k in (0, 1))
    facts["NetAssetsLiabilities"] = net  # type: ignore[assignment]
    employees = rng.randint(2, 48)
    rows = []
    for concept, label in (("FixedAssets", "Fixed assets"), ("CurrentAssets", "Current assets"),
                           ("Creditors", "Creditors: amounts falling due within one year"),
                           ("NetAssetsLiabilities", "Net assets")):
        cur, pri = facts[concept]
        shown_cur = _fact(concept, "cy", -cur if concept == "Creditors" else cur)
        shown_pri = _fact(concept, "py", -pri if concept == "Creditors" else pri)
        if concept == "Creditors":  # shown in brackets, stored positive with sign="-"
            shown_cur, shown_pri = f"({shown_cur})", f"({shown_pri})"
        rows.append(f"<tr><td>{label}</td><td>£</td><td>{shown_cur}</td><td>£</td><td>{shown_pri}</td></tr>")
    html = f"""<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:ix="http://www.xbrl.org/2013/inlineXBRL"
 xmlns:ixt="http://www.xbrl.org/inlineXBRL/transformation/2020-02-12"
 xmlns:xbrli="http://www.xbrl.org/2003/instance" xmlns:iso4217="http://www.xbrl.org/2003/iso4217"
 xmlns:bus="http://xbrl.frc.org.uk/cd/2023-01-01/business" xmlns:core="http://xbrl.frc.org.uk/fr/2023-01-01/core">
<head><title>{name} - Accounts</title></head><body>
<div style="display:none"><ix:header><ix:resources>
<xbrli:context id="cy"><xbrli:entity><xbrli:identifier scheme="http://www.companieshouse.gov.uk/">{number}</xbrli:identifier></xbrli:entity><xbrli:period><xbrli:instant>{period_end.isoformat()}</xbrli:instant></xbrli:period></xbrli:context>
<xbrli:context id="py"><xbrli:entity><xbrli:identifier scheme="http://www.companieshouse.gov.uk/">{number}</xbrli:identifier></xbrli:entity><xbrli:period><xbrli:instant>{prior_end.isoformat()}</xbrli:instant></xbrli:period></xbrli:context>
<xbrli:context id="dur"><xbrli:entity><xbrli:identifier scheme="http://www.companieshouse.gov.uk/">{number}</xbrli:identifier></xbrli:entity><xbrli:period><xbrli:startDate>{(prior_end + timedelta(days=1)).isoformat()}</xbrli:startDate><xbrli:endDate>{period_end.isoformat()}</xbrli:endDate></xbrli:period></xbrli:context>
<xbrli:unit id="GBP"><xbrli:measure>iso4217:GBP</xbrli:measure></xbrli:unit>
<xbrli:unit id="pure"><xbrli:measure>xbrli:pure</xbrli:measure></xbrli:unit>
</ix:resources></ix:header></div>
<div><p>Registered number: <ix:nonNumeric name="bus:UKCompaniesHouseRegisteredNumber" contextRef="dur">{number}</ix:nonNumeric></p>
<h1><ix:nonNumeric name="bus:EntityCurrentLegalOrRegisteredName" contextRef="dur">{name}</ix:nonNumeric></h1>
<p>Unaudited financial statements for the year ended <ix:nonNumeric name="bus:EndDateForPeriodCoveredByReport" contextRef="dur" format="ixt:date-day-monthname-year-en">{period_end.day} {period_end:%B %Y}</ix:nonNumeric></p></div>
<h2>Balance sheet</h2>
<table><tr><td></td><td colspan="2">{period_end.year}</td><td colspan="2">{prior_end.year}</td></tr>{''.join(rows)}</table>
<p>The average number of employees during the year was <ix:nonFraction name="core:AverageNumberEmployeesDuringPeriod" contextRef="dur" unitRef="pure" decimals="0">{employees}</ix:nonFraction>.</p>
<p>The directors approved these financial statements on {filed - timedelta(days=20):%d %B %Y}.</p>
</body></html>"""
    member = f"Prod223_{3400 + i}_{number}_{period_end:%Y%m%d}.html"
    return SampleAccount(member, number, name, period_end, html, facts, employees)


def generate_accounts(n: int = 6, filed: date = date(2025, 3, 3), seed: int = 0) -> list[SampleAccount]:
    rng = random.Random(seed)
    return [_account(rng, i, filed) for i in range(n)]


def write_bulk_zip(out_dir: Path, n: int = 6, filed: date = date(2025, 3, 3), seed: int = 0) -> Path:
    """`Accounts_Bulk_Data-<filed>.zip` with `n` accounts; deterministic for a seed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"Accounts_Bulk_Data-{filed.isoformat()}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for a in generate_accounts(n, filed, seed):
            info = zipfile.ZipInfo(a.member, date_time=(filed.year, filed.month, filed.day, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, a.html)
    return path
