"""Check a store's `numbers` against the filers' own inline-XBRL tagging.

For every filing in the store whose document has inline XBRL (read again from
`filings.path`: HTML, gzip'd HTML or an EDGAR full-submission `.txt`), prints
the visible `ix:nonFraction` facts (outside `ix:header`/hidden), how many a
`numbers` row of that filing covers (same magnitude after `scale`, percentages
as fractions, and a `raw` that shows the fact's text), the coverage, and the
covered facts whose XBRL sign (`sign="-"`) differs from the store's signed
value (parentheses), listed apart. Then one SUMMARY line. The logic lives in
`etl/xbrl_coverage.py`; this job reads the store and the files and prints.

Exit status: 0; 1 when a filing's coverage is below --min-coverage (percent,
default 0 = never); 2 on usage errors (no store, unknown --filing). A file that
is gone, changed since ingest or unreadable is listed under "not checked".

Local:
    python -m jobs.check_numbers --store stores/main [--filing ID] [--min-coverage 98] [--json check.json]

On a cluster (runs in the job's driver; the store and the filings' paths must be there):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.check_numbers --store /shared/stores/main --min-coverage 98
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from etl.documents import FilingRejected
from etl.edgar_submission import SubmissionError
from etl.xbrl_coverage import (
    STATUS_CHANGED, STATUS_CHECKED, STATUS_MISSING, STATUS_NO_IXBRL, STATUS_UNREADABLE,
    FilingReport, StoreNumber, check_tagging, exit_status, has_inline_facts, ix_facts,
    primary_document, report_lines, summary_line,
)
from featurestore import CHUNKS, FILINGS, NUMBERS, Store


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m jobs.check_numbers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, type=Path, help="store folder (holds filingstore.duckdb)")
    ap.add_argument("--filing", action="append", default=None, metavar="ID",
                    help="check only this filing_id (repeatable; default: every filing)")
    ap.add_argument("--min-coverage", type=float, default=0.0, metavar="PCT",
                    help="exit 1 when a filing's coverage is below PCT percent (default 0: never)")
    ap.add_argument("--json", type=Path, default=None, metavar="OUT",
                    help="also write the per-filing results (first misses and sign disagreements) as JSON")
    ap.add_argument("--base", type=Path, default=None, metavar="DIR",
                    help="folder that relative filings.path values are resolved against "
                         "(default: the current folder; ingest stores paths as it was given them)")
    ap.add_argument("--show-signs", type=int, default=3, metavar="N",
                    help="sign disagreements printed per filing (default 3; all go to --json)")
    a = ap.parse_args(argv)
    if not 0.0 <= a.min_coverage <= 100.0:
        ap.error(f"--min-coverage {a.min_coverage:g} is not a percentage; give a number from 0 to 100")
    return a


def _store_numbers(store: Store, filing_id: str) -> list[StoreNumber]:
    """The filing's `numbers` rows in document order (chunk seq, then offset in the chunk)."""
    where = "filing_id = ?"
    chunks = store.read(CHUNKS, ["chunk_id", "seq"], where, [filing_id])
    seq = dict(zip(chunks["chunk_id"].to_pylist(), chunks["seq"].to_pylist()))
    rows = store.read(NUMBERS, ["chunk_id", "char_start", "raw", "value"], where, [filing_id]).to_pylist()
    rows.sort(key=lambda r: (seq.get(r["chunk_id"], -1), r["char_start"]))
    return [StoreNumber(r["raw"] or "", r["value"]) for r in rows]


def check_filing(store: Store, filing: dict, base: Path | None) -> FilingReport:
    """Read one filing's document again and check the store's numbers against its facts."""
    fid, stored_path = filing["filing_id"], filing["path"] or ""
    report = FilingReport(fid, stored_path, STATUS_CHECKED)
    path = Path(stored_path)
    if base is not None and not path.is_absolute():
        path = base / path
    if not stored_path or not path.is_file():
        report.status = STATUS_MISSING
        report.detail = (f"{path} does not exist; relative paths are resolved against "
                         f"{base or 'the current folder'} (pass --base DIR: the folder the ingest ran in)")
        return report
    try:
        raw = path.read_bytes()
    except OSError as e:
        report.status, report.detail = STATUS_UNREADABLE, f"cannot read {path}: {e}"
        return report
    sha = filing.get("content_sha256")
    if sha and hashlib.sha256(raw).hexdigest() != sha:
        report.status = STATUS_CHANGED
        report.detail = "its content differs from what was ingested; re-run jobs.ingest on it"
        return report
    try:
        document = primary_document(raw)
    except (FilingRejected, SubmissionError) as e:
        report.status, report.detail = STATUS_UNREADABLE, str(e)
        return report
    if not has_inline_facts(document):
        report.status = STATUS_NO_IXBRL
        return report
    try:
        facts, nil = ix_facts(document)
    except (ValueError, RecursionError) as e:  # lxml: empty or undecodable document
        report.status, report.detail = STATUS_UNREADABLE, f"lxml could not parse the document: {e}"
        return report
    if not facts and not nil:
        report.status = STATUS_NO_IXBRL
        return report
    report.check = check_tagging(facts, _store_numbers(store, fid), nil)
    return report


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        store = Store(a.store)
    except FileNotFoundError:
        print(f"check_numbers: no store at {a.store} ({a.store / 'filingstore.duckdb'} does not exist); "
              f"build one with: python -m jobs.ingest --input FILINGS --store {a.store}", file=sys.stderr)
        return 2
    filings = store.read(FILINGS, ["filing_id", "path", "content_sha256"]).to_pylist()
    if a.filing:
        known = {f["filing_id"] for f in filings}
        unknown = [x for x in a.filing if x not in known]
        if unknown:
            print(f"check_numbers: no filing {unknown} in {a.store}; run without --filing to see "
                  f"every filing with its filing_id", file=sys.stderr)
            return 2
        filings = [f for f in filings if f["filing_id"] in set(a.filing)]
    filings.sort(key=lambda f: (f["path"] or "", f["filing_id"]))
    reports = [check_filing(store, f, a.base) for f in filings]

    print(f"store {a.store}: {len(filings)} filing(s); a fact is covered by a numbers row of its filing with "
          f"the same magnitude (relative 1e-9, percentages as fractions) whose raw text shows the fact's text")
    for line in report_lines(reports, a.min_coverage, signs_shown=a.show_signs):
        print(line)
    summary = summary_line(reports, a.min_coverage)
    print(summary)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({
            "store": str(a.store), "min_coverage": a.min_coverage, "summary": summary,
            "filings": [r.as_dict() for r in reports],
        }, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return exit_status(reports, a.min_coverage)


if __name__ == "__main__":
    sys.exit(main())
