"""Filing ETL: HTML in, clean number-tagged text, sections and chunks out.

Pure modules (no Ray, no I/O beyond what a caller hands in):
  sanitize.py      HTML -> document blocks (hidden content dropped, tables rebuilt)
  tables.py        one HTML table -> a clean grid of cell strings
  numbers.py       find and normalise numbers in a block of text
  chunking.py      blocks -> token-budgeted chunks with tagged text
  items.py         10-K / 10-Q item sections
  xbrl.py          inline XBRL facts; xbrl_coverage.py checks numbers against them
  metadata.py, cover.py   filing metadata: sidecar, file name, cover page
  edgar_submission.py     EDGAR full-submission .txt envelopes
  companies_house.py      bulk zips (safe extraction) and company identity
  websites.py, density.py site crawls: boilerplate, line diff, information density
  documents.py     one filing file (bytes) -> a `ParsedFiling` (composes the above)
  records.py       a parsed filing as Arrow rows of the store's tables
  sample_corpus.py, sample_accounts.py, site_corpus.py   generators with ground truth
I/O and Ray glue:
  file_ingest.py   one input (file, archive, site) -> outcome rows, under a time limit
  pipeline.py      the Ray Data ingest (read -> parse -> chunk -> driver writes)
  downloads.py, edgar_download.py, companies_house_download.py   HTTP downloaders

The document text contract (what `documents.parse_filing` produces and what the
sample corpus's ground truth describes):

* A document is a sequence of blocks; the document text is the blocks joined by
  "\\n\\n". Inside a block there are no blank lines.
* A prose block is the text of one block element (p, div, li, h1-h6 ...), with
  every run of whitespace (including non-breaking spaces) collapsed to one
  space and stripped. `<br>` is a line break ("\\n") inside the block.
* A table block has one line per kept row, cells joined by " | ", the line
  stripped. Grid rules (see tables.py): colspan/rowspan expanded; a cell that is
  only a currency symbol is prefixed to the next non-empty cell of its row
  ("$" + "1,234" -> "$1,234"); a cell that is only ")" "%" ")%" or "%)" is
  appended to the previous non-empty cell ("(1,234" + ")" -> "(1,234)"); a
  colspan cell's text stands in the first kept column it covers (others ""),
  a rowspan cell's text is repeated on every row it covers; rows and columns
  with no text are dropped.
* Footnote markers in `<sup>` ("(1)", "*", "†", "a") are dropped; hidden content
  (display:none, ix:header, script, style, head) is dropped.
* Numbers (numbers.py): `raw` is the whole surface form, including a currency
  symbol, parentheses or minus, "%" and a scale word: "$2.3 billion",
  "(1,234)", "$(1,234)", "46.2%", "—" (a dash alone in a table cell is 0).
  Dates "September 28, 2024" are one number of kind "date".
  `value` is signed (parentheses or a minus mean negative) and scaled:
  a scale word (thousand/million/billion/trillion) or, inside a table, the
  table's caption ("in millions", "$ in thousands"), except per-share values
  and percentages; percentages become fractions (25% -> 0.25).
  `kind` is one of amount, percent, per_share, count, year, date.
  `scale` is the power of ten applied (percent: -2). `unit` is USD/GBP/EUR for
  currency amounts, "percent" for percentages, else null.
"""

ETL_VERSION = "etl-0.1"
