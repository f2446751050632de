"""EDGAR full-submission envelopes: header metadata and the primary document."""
from __future__ import annotations

from datetime import date

import pytest

from etl.edgar_submission import SubmissionError, looks_like_submission, read_submission

HEADER = b"""<SEC-DOCUMENT>0000320193-24-000123.txt : 20241101
<SEC-HEADER>0000320193-24-000123.hdr.sgml : 20241101
ACCESSION NUMBER:\t\t0000320193-24-000123
CONFORMED SUBMISSION TYPE:\t10-K
PUBLIC DOCUMENT COUNT:\t\t95
CONFORMED PERIOD OF REPORT:\t20240928
FILED AS OF DATE:\t\t20241101
FILER:
\tCOMPANY DATA:
\t\tCOMPANY CONFORMED NAME:\t\t\tApple Inc.
\t\tCENTRAL INDEX KEY:\t\t\t0000320193
</SEC-HEADER>
"""


def envelope(*docs: tuple[str, bytes]) -> bytes:
    parts = [HEADER]
    for i, (typ, text) in enumerate(docs, 1):
        parts.append(b"<DOCUMENT>\n<TYPE>" + typ.encode() + b"\n<SEQUENCE>" + str(i).encode()
                     + b"\n<FILENAME>d" + str(i).encode() + b".htm\n<TEXT>\n" + text + b"\n</TEXT>\n</DOCUMENT>\n")
    return b"".join(parts) + b"</SEC-DOCUMENT>\n"


def test_primary_document_and_header_metadata():
    raw = envelope(("EX-21.1", b"<html><body>subs</body></html>"),
                   ("10-K", b"<html><body><p>Annual report</p></body></html>"))
    assert looks_like_submission(raw)
    sub = read_submission(raw)
    assert b"Annual report" in sub.document and sub.file_name == "d2.htm" and not sub.is_plain_text
    assert sub.meta == {
        "accession_number": "0000320193-24-000123", "form": "10-K", "period_end": date(2024, 9, 28),
        "filed_at": date(2024, 11, 1), "company_name": "Apple Inc.", "company_id": "0000320193",
    }


def test_plain_text_primary_document_becomes_paragraphs():
    raw = envelope(("10-K", b"ITEM 1. BUSINESS\n\nThe Company makes\nwidgets for $5.1 million.\n<PAGE>\nMore."))
    sub = read_submission(raw)
    assert sub.is_plain_text
    from etl.documents import document_text
    from etl.sanitize import html_to_blocks
    text = document_text(html_to_blocks(sub.document))[0]
    assert text == "ITEM 1. BUSINESS\n\nThe Company makes\nwidgets for $5.1 million.\n\nMore."


def test_envelope_without_primary_document_is_refused():
    raw = envelope(("EX-21.1", b"<html>subs</html>"), ("GRAPHIC", b"begin 644 x.jpg"))
    with pytest.raises(SubmissionError) as e:
        read_submission(raw)
    assert e.value.reason == "no_primary_document" and "EX-21.1" in e.value.detail


def test_not_an_envelope():
    assert not looks_like_submission(b"<html><body>x</body></html>")
    with pytest.raises(SubmissionError) as e:
        read_submission(b"<SEC-HEADER>x</SEC-HEADER>")
    assert e.value.reason == "no_documents"


def test_parse_filing_reads_the_envelope_and_its_metadata(tmp_path):
    from pathlib import Path
    from etl.documents import FilingRejected, parse_filing
    raw = envelope(("10-K", b"<html><body><p>Net sales were $391.0 billion.</p></body></html>"))
    doc = parse_filing(raw, Path("0000320193-24-000123.txt"))
    assert doc.text == "Net sales were $391.0 billion."
    assert (doc.meta.company_id, doc.meta.form, doc.meta.period_end) == ("0000320193", "10-K", date(2024, 9, 28))
    assert doc.meta.accession_number == "0000320193-24-000123"
    # a sidecar still has the last word
    doc = parse_filing(raw, Path("x.txt"), b'{"company_name": "Apple"}')
    assert doc.meta.company_name == "Apple" and doc.meta.company_id == "0000320193"
    with pytest.raises(FilingRejected) as e:
        parse_filing(envelope(("EX-99", b"<html>x</html>")), Path("y.txt"))
    assert (e.value.stage, e.value.reason) == ("parse", "no_primary_document")
