"""The generated Companies House bulk zip reads back exactly through the ETL."""
from __future__ import annotations

from pathlib import Path

from etl.companies_house import identity_from_facts, identity_from_name, iter_archive
from etl.documents import parse_filing
from etl.sample_accounts import generate_accounts, write_bulk_zip


def test_bulk_zip_is_deterministic(tmp_path):
    a = write_bulk_zip(tmp_path / "a", n=3, seed=5).read_bytes()
    b = write_bulk_zip(tmp_path / "b", n=3, seed=5).read_bytes()
    assert a == b


def test_accounts_parse_with_facts_and_identity(tmp_path):
    zpath = write_bulk_zip(tmp_path, n=4, seed=1)
    truth = {a.member: a for a in generate_accounts(4, seed=1)}
    entries = list(iter_archive(zpath))
    assert len(entries) == 4 and all(e.ok for e in entries)
    for e in entries:
        acct = truth[e.member]
        doc = parse_filing(e.data, Path(e.member))
        numeric = {f.concept.split(":")[1]: f.value for f in doc.facts if f.value is not None and f.period_end == acct.period_end}
        assert numeric["NetAssetsLiabilities"] == acct.facts["NetAssetsLiabilities"][0]
        assert numeric["Creditors"] == -acct.facts["Creditors"][0]  # sign="-"
        assert numeric["AverageNumberEmployeesDuringPeriod"] == acct.employees
        by_name, by_facts = identity_from_name(e.virtual_path), identity_from_facts(doc.facts)
        assert by_name["company_id"] == by_facts["company_id"] == acct.company_number
        assert by_name["period_end"] == by_facts["period_end"] == acct.period_end
        # the balance sheet values are in the text as numbers, brackets read as negatives
        values = {n.value for n in doc.numbers}
        assert acct.facts["FixedAssets"][0] in values and -acct.facts["Creditors"][1] in values
