"""10-K / 10-Q item segmentation: document text + blocks -> contiguous `Section`s.

Pure and fast (a few ms per filing): every regex runs on the first few hundred
characters of a block, never over the whole text once per item.

Output contract
* Sections cover the text contiguously, in document order: every character
  belongs to exactly one section. Section boundaries are block starts (so
  chunks, which snap to blocks, never straddle two sections).
* Text before the first item (cover page, table of contents) is the section
  `"cover"` (omitted when empty).
* 10-K ids are the item labels: "1", "1A", ... "16" (plus the supplementary
  "4A"/"X" executive-officer items and 10-KSB's "8A"/"8B" where a filer uses
  them). 10-Q ids carry the part: "I-1" ... "I-4", "II-1", "II-1A", ... "II-6".
* Ids are unique and, on the heading paths, in canonical order (an
  out-of-order or repeated match is a cross-reference, TOC line or running
  header, so it is skipped; the first qualifying heading of an item wins).
* A filing with no recognisable items (or a form this module does not know) is
  one section `WHOLE_DOCUMENT_SECTION` ("document").

How the traps are handled
* Table of contents: a block with three or more lines that start with an item
  label (a TOC or cross-reference index table, or a `<br>` list) yields no
  headings. Heading candidates whose title ends in a page number ("Business 3")
  or that sit in a tight run of three or more label blocks with no text between
  them weigh little, so the real headings later in the body win.
* Cross-references: a heading must *start* its block ("see Item 1A" mid-text is
  never a candidate); a label followed by "," "(" ".02" or a lower-case word
  ("Item 7 of this report ...") is a mention, not a heading. A block longer
  than a heading counts only when its first sentence is the item's standard
  title ("Item 8. Financial Statements and Supplementary Data. The ...").
* Combined headings "Items 1 and 2. Business and Properties" (also "1, 1A and
  2", "10 through 14"): the first id gets the section; every further id is a
  zero-length section at the end of it (title "... (combined with Item 1)"), so
  each item exists in `sections` and is scored as found, and no text is
  duplicated.
* Split headings: a block that is only the label ("Item 7.") takes its title
  from the next block when that is short.
* Spacing and case: "ITEM 1A.RISK FACTORS", "Item 1A:", "Item\\u00a01A",
  "ITEM 7 —", "Item10.Directors", "Part II, Item 5.", "Item 9A(T)" (-> "9A").
* Headings without the word "Item": when labels give fewer than three items,
  short standalone blocks that are a standard item title ("Risk Factors",
  "Management's Discussion and Analysis of ...") are matched, in order.
* Cross-reference index (GE/Intel/McDonald's style): the index table maps items
  to the annual-report section titles; each item starts at the first heading
  block (outside the index) that is one of the names its row gives (or its
  standard title). These sections follow the document's order, which is the
  annual report's, so ids need not be in canonical order there (the filer's
  own index says which text is which item). If too few names are found the
  result falls back to one section.
* Exhibit-13 incorporation ("Item 8 ... incorporated by reference to Exhibit
  13"): the heading is an ordinary heading, so the item is a short section.
* A PART heading right before an item heading ("PART II" then "Item 5.")
  starts that item's section rather than ending the previous one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from etl.chunking import Span

WHOLE_DOCUMENT_SECTION = "document"
COVER_SECTION = "cover"

MAX_HEADING_CHARS = 160      # a heading's title (or a long block's first sentence) is at most this long
_SCAN_CHARS = 400             # how much of a block the label regex ever sees


@dataclass(frozen=True)
class Section:
    section_id: str
    title: str
    start: int  # offsets in the document text
    end: int


@dataclass(frozen=True)
class ItemDef:
    section_id: str           # "1A" (10-K) or "II-1A" (10-Q)
    title: str                # the standard title
    keywords: tuple[str, ...]  # normalised phrases; a title containing one "looks right"
    exact: tuple[str, ...] = ()   # normalised titles that alone make a heading without "Item"
    prefix: tuple[str, ...] = ()  # normalised title starts that do the same


_MDA = "managements discussion and analysis"
_QQ = "quantitative and qualitative disclosure"

ITEMS_10K: tuple[ItemDef, ...] = (
    ItemDef("1", "Business", ("business",), exact=("business", "description of business")),
    ItemDef("1A", "Risk Factors", ("risk factors",), exact=("risk factors",)),
    ItemDef("1B", "Unresolved Staff Comments", ("unresolved staff",), prefix=("unresolved staff comments",)),
    ItemDef("1C", "Cybersecurity", ("cybersecurity", "cyber security"), exact=("cybersecurity",)),
    ItemDef("2", "Properties", ("properties", "property"), exact=("properties", "description of property",
                                                                  "description of properties")),
    ItemDef("3", "Legal Proceedings", ("legal proceedings",), exact=("legal proceedings",)),
    ItemDef("4", "Mine Safety Disclosures", ("mine safety", "submission of matters", "vote of security holders"),
            prefix=("mine safety disclosure", "submission of matters to a vote")),
    ItemDef("4A", "Executive Officers of the Registrant", ("executive officers",),
            prefix=("executive officers of the registrant",)),
    ItemDef("X", "Information About Our Executive Officers", ("executive officers",),
            prefix=("information about our executive officers",)),
    ItemDef("5", "Market for Registrant's Common Equity, Related Stockholder Matters and Issuer Purchases of "
                 "Equity Securities", ("market for", "market information"),
            prefix=("market for registrant", "market for the registrant", "market for our common",
                    "market for common")),
    ItemDef("6", "[Reserved]", ("selected financial data", "selected consolidated financial data"),
            prefix=("selected financial data", "selected consolidated financial data")),
    ItemDef("7", "Management's Discussion and Analysis of Financial Condition and Results of Operations",
            (_MDA, "management discussion and analysis", "plan of operation"),
            prefix=(_MDA, "management discussion and analysis")),
    ItemDef("7A", "Quantitative and Qualitative Disclosures About Market Risk", ("market risk",), prefix=(_QQ,)),
    ItemDef("8", "Financial Statements and Supplementary Data", ("financial statements",),
            exact=("financial statements",), prefix=("financial statements and supplementary data",)),
    ItemDef("8A", "Controls and Procedures", ("controls and procedures",)),
    ItemDef("8B", "Other Information", ("other information",)),
    ItemDef("9", "Changes in and Disagreements with Accountants on Accounting and Financial Disclosure",
            ("disagreements with accountants", "changes in and disagreements"),
            prefix=("changes in and disagreements with accountants",)),
    ItemDef("9A", "Controls and Procedures", ("controls and procedures",), exact=("controls and procedures",)),
    ItemDef("9B", "Other Information", ("other information",), exact=("other information",)),
    ItemDef("9C", "Disclosure Regarding Foreign Jurisdictions that Prevent Inspections", ("foreign jurisdiction",),
            prefix=("disclosure regarding foreign jurisdictions",)),
    ItemDef("10", "Directors, Executive Officers and Corporate Governance", ("directors",),
            prefix=("directors executive officers and corporate governance", "directors and executive officers")),
    ItemDef("11", "Executive Compensation", ("executive compensation",), exact=("executive compensation",)),
    ItemDef("12", "Security Ownership of Certain Beneficial Owners and Management and Related Stockholder Matters",
            ("security ownership",), prefix=("security ownership of certain beneficial owners",)),
    ItemDef("13", "Certain Relationships and Related Transactions, and Director Independence",
            ("certain relationships", "related transactions"), prefix=("certain relationships and related",)),
    # Before 2003 Item 14 was "Exhibits, Financial Statement Schedules and Reports on Form 8-K".
    ItemDef("14", "Principal Accountant Fees and Services", ("accountant fees", "accounting fees", "exhibits"),
            prefix=("principal accountant fees", "principal accounting fees",
                    "exhibits financial statement schedules and reports on form 8 k")),
    ItemDef("15", "Exhibits and Financial Statement Schedules", ("exhibit",),
            prefix=("exhibits and financial statement schedules", "exhibits financial statement schedules",
                    "exhibit and financial statement schedules")),
    ItemDef("16", "Form 10-K Summary", ("summary",), prefix=("form 10 k summary",)),
)

ITEMS_10Q: tuple[ItemDef, ...] = (
    ItemDef("I-1", "Financial Statements", ("financial statements", "financial information"),
            exact=("financial statements", "financial statements unaudited",
                   "condensed consolidated financial statements",
                   "condensed consolidated financial statements unaudited")),
    ItemDef("I-2", "Management's Discussion and Analysis of Financial Condition and Results of Operations",
            (_MDA, "management discussion and analysis"), prefix=(_MDA,)),
    ItemDef("I-3", "Quantitative and Qualitative Disclosures About Market Risk", ("market risk",), prefix=(_QQ,)),
    ItemDef("I-4", "Controls and Procedures", ("controls and procedures",), exact=("controls and procedures",)),
    ItemDef("II-1", "Legal Proceedings", ("legal proceedings",), exact=("legal proceedings",)),
    ItemDef("II-1A", "Risk Factors", ("risk factors",), exact=("risk factors",)),
    ItemDef("II-2", "Unregistered Sales of Equity Securities and Use of Proceeds",
            ("unregistered sales", "use of proceeds", "repurchases"), prefix=("unregistered sales of equity",)),
    ItemDef("II-3", "Defaults Upon Senior Securities", ("defaults upon senior",), prefix=("defaults upon senior",)),
    ItemDef("II-4", "Mine Safety Disclosures", ("mine safety", "submission of matters"),
            prefix=("mine safety disclosure", "submission of matters to a vote")),
    ItemDef("II-5", "Other Information", ("other information",), exact=("other information",)),
    ItemDef("II-6", "Exhibits", ("exhibit",), exact=("exhibits",), prefix=("exhibits and reports on form",)),
)

_DEFS = {"10-K": {d.section_id: d for d in ITEMS_10K}, "10-Q": {d.section_id: d for d in ITEMS_10Q}}
_GENERIC_TITLES = ("reserved", "not applicable", "none", "omitted", "intentionally left blank")


# --- small text helpers ---------------------------------------------------------

_APOSTROPHES = str.maketrans({"’": "", "'": "", "‘": "", "`": "", "ʼ": ""})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize_title(s: str) -> str:
    """Lower case, apostrophes dropped, every other non-alphanumeric run one space."""
    return _NON_ALNUM.sub(" ", s.lower().translate(_APOSTROPHES)).strip()


def title_looks_right(section_id: str, title: str, form: str | None = "10-K") -> bool:
    """True when `title` holds a key phrase of the item's standard title (or says it is reserved)."""
    d = _DEFS[_form_kind(form) or "10-K"].get(section_id)
    if d is None:
        return False
    n = normalize_title(title)
    return any(k in n for k in d.keywords) or any(g in n for g in _GENERIC_TITLES)


_ID = r"(?:\d{1,2}[A-Ca-c]?|X)(?![0-9A-Za-z])"
_LABEL = re.compile(
    r"[\s|*•·]{0,4}"
    r"(?:PART\s*(?P<part>IV|III|II|I)(?![A-Za-z0-9])[\s,.:;|—–-]*)?"
    r"ITEMS?\s*(?P<ids>" + _ID + r"(?:\s*(?:,\s*(?:and\s+)?|and\s|&|through\s|to\s|–|—|-)\s*(?:ITEMS?\s*)?" + _ID + r")*)"
    r"(?P<t>\s*\(T\))?",
    re.IGNORECASE,
)
_ID_IN_LABEL = re.compile(r"\d{1,2}[A-Ca-c]?(?![0-9A-Za-z])|(?<![A-Za-z])X(?![A-Za-z])", re.IGNORECASE)
_MORE_ITEMS = re.compile(r"(?:\band|&|,)\s+ITEMS?\s*(\d{1,2}[A-C]?|X)(?![0-9A-Za-z])", re.IGNORECASE)
_RANGE_WORD = re.compile(r"through|to|–|—|-", re.IGNORECASE)
_PART = re.compile(r"[\s|]*PART\s*(IV|III|II|I)(?![A-Za-z0-9])", re.IGNORECASE)
_AFTER_LABEL_OK = frozenset(" \t\n.:;—–-|)\u00a0\u2002\u2003\u2009")
_TITLE_LEAD = " \t\n.:;—–-|)\u00a0\u2002\u2003\u2009"
_TRAILING_PAGE = re.compile(r"(?:^|[\s|]+)(?:pages?\s+)?\d{1,3}(?:\s*[-–]\s*\d{1,3})?\s*$", re.IGNORECASE)
# what may stand between two lines of a list: page numbers ("12", "ii", "F-1", "Page 3")
_PAGE_NUMBER = re.compile(r"(?:page\s*)?(?:\d{1,3}|[ivxlc]{1,6}|[A-Z]-\d{1,3})(?:\s*[-–]\s*\d{1,3})?|Page",
                          re.IGNORECASE)
_SENTENCE_CUT = re.compile(r"[.:;](?=\s+[A-Z“\"(])|\n|\s[—–]\s")


# every label in item order (10-Q labels are a subset); ranges expand over it
_LABEL_ORDER = [d.section_id for d in ITEMS_10K]


def _form_kind(form: str | None) -> str | None:
    if form is None:
        return "10-K"
    f = form.upper().replace(" ", "").replace("_", "-")
    if f.startswith(("10-Q", "10Q")):
        return "10-Q"
    if f.startswith(("10-K", "10K")):
        return "10-K"
    return None


def _defs_for(kind: str) -> tuple[ItemDef, ...]:
    return ITEMS_10Q if kind == "10-Q" else ITEMS_10K


def _first_alpha_upper(s: str) -> bool:
    for ch in s:
        if ch.isalpha():
            return ch.isupper()
    return True


# --- candidates --------------------------------------------------------------------

@dataclass
class _Option:
    block: int                # index of the heading block
    ids: list[str]            # section ids, in canonical order (several for a combined heading)
    ranks: list[int]
    title: str
    weight: float             # per id
    strong: bool              # a body heading, not a TOC-like line
    last_block: int = -1      # the block holding the title (the next one for a split heading)
    prev: _Option | None = None


@dataclass
class _Label:
    ids: list[str]            # raw item labels ("1A", "9A"), already expanded for ranges
    part: str | None
    title: str                # title text on the heading line(s) ("" when only the label)
    has_page: bool            # the title ends in a page number (a TOC line)


def _parse_label(head: str) -> _Label | None:
    """The item label that starts `head`, when `head` reads as a heading (not a mention)."""
    m = _LABEL.match(head)
    if m is None:
        return None
    rest = head[m.end():]
    if rest and rest[0] not in _AFTER_LABEL_OK:
        return None          # "Item 14(a)(1)", "Item 1A, Risk Factors, describes", "Item 7's"
    if re.match(r"\.\d", rest):
        return None          # "Item 2.02" (8-K numbering)
    raw_ids = [x.upper() for x in _ID_IN_LABEL.findall(m.group("ids"))]
    connectors = _ID_IN_LABEL.split(m.group("ids"))[1:-1]
    ids: list[str] = []
    for k, x in enumerate(raw_ids):
        if k and _RANGE_WORD.search(connectors[k - 1] or "") and ids and ids[-1] in _LABEL_ORDER and x in _LABEL_ORDER:
            a, b = _LABEL_ORDER.index(ids[-1]), _LABEL_ORDER.index(x)
            # a range only over the plain items between the two ends (4A/X/8A/8B are never implied)
            ids.extend(i for i in _LABEL_ORDER[a + 1:b] if i not in ("4A", "X", "8A", "8B") and "-" not in i)
        ids.append(x)
    lines = rest.split("\n")
    first = lines[0].lstrip(_TITLE_LEAD).strip(" |")
    if not first and len(lines) > 1:      # "Item 7.<br>Management's Discussion ..."
        first = lines[1].lstrip(_TITLE_LEAD).strip(" |")
    if first and not _first_alpha_upper(first[:40]):
        return None          # "Item 7 of this report", "Items 10 and 11 are incorporated"
    title = first.replace(" | ", " ").strip()
    if "tem" in title.lower():  # "ITEM 1. BUSINESS AND ITEM 2. PROPERTIES"
        ids.extend(x.upper() for x in _MORE_ITEMS.findall(title) if x.upper() not in ids)
    has_page = bool(title) and (title.isdigit() or bool(_TRAILING_PAGE.search(title)))
    if has_page:
        title = _TRAILING_PAGE.sub("", title).strip()
    part = m.group("part").upper() if m.group("part") else None
    return _Label(ids, part, title, has_page)


def _block_is_list(b: str) -> bool:
    """Three or more lines of the block start with an item label: a TOC or index table."""
    if "\n" not in b or (b.count("Item") + b.count("ITEM") + b.count("item")) < 3:
        return False
    n = 0
    for line in b.split("\n"):
        if "tem" in line[:40].lower() and _LABEL.match(line[:_SCAN_CHARS]):
            n += 1
            if n >= 3:
                return True
    return False


class _Doc:
    """Per-block facts shared by the strategies."""

    def __init__(self, text: str, blocks: list[Span], kind: str):
        self.text = text
        self.blocks = blocks
        self.kind = kind
        self.defs = _defs_for(kind)
        self.order = [d.section_id for d in self.defs]
        self.rank = {sid: i for i, sid in enumerate(self.order)}
        self.lists: set[int] = set()           # TOC / index blocks
        self.parts: dict[int, str] = {}        # block index -> "I".."IV" for PART heading blocks
        self.labels: dict[int, _Label] = {}
        for i, sp in enumerate(blocks):
            head = text[sp.start:min(sp.end, sp.start + _SCAN_CHARS)]
            if "\n" in head and _block_is_list(text[sp.start:sp.end]):
                self.lists.add(i)
                continue
            low = head[:60].lower()
            if "item" not in low and "part" not in low:
                continue
            if "item" in low:
                lab = _parse_label(head)
                if lab is not None:
                    self.labels[i] = lab
                    continue
            if sp.end - sp.start <= 100:
                pm = _PART.match(head)
                if pm and _first_alpha_upper(head[pm.end():pm.end() + 40]):
                    self.parts[i] = pm.group(1).upper()

    def block_text(self, i: int) -> str:
        sp = self.blocks[i]
        return self.text[sp.start:sp.end]

    def block_len(self, i: int) -> int:
        sp = self.blocks[i]
        return sp.end - sp.start

    def section_ids(self, raw_ids: list[str], part: str | None) -> list[list[str]]:
        """Alternatives of section ids for raw labels (10-Q: one per possible part)."""
        if self.kind != "10-Q":
            ids = sorted({x for x in raw_ids if x in self.rank}, key=self.rank.__getitem__)
            return [ids] if ids else []
        parts = [part] if part in ("I", "II") else ["I", "II"]
        out = []
        for p in parts:
            ids = sorted({f"{p}-{x}" for x in raw_ids if f"{p}-{x}" in self.rank}, key=self.rank.__getitem__)
            if ids:
                out.append(ids)
        return out


def _label_options(doc: _Doc) -> list[_Option]:
    text, blocks = doc.text, doc.blocks
    opts: list[_Option] = []
    part: str | None = None
    label_blocks = sorted(set(doc.labels) | set(doc.parts))
    for i in label_blocks:
        if i in doc.parts:
            part = doc.parts[i]
            continue
        lab = doc.labels[i]
        if lab.part:
            part = lab.part
        title = lab.title
        weight = 1.0
        last = i
        if not title:
            nxt = i + 1
            if (nxt < len(blocks) and nxt not in doc.labels and nxt not in doc.parts and nxt not in doc.lists
                    and doc.block_len(nxt) <= MAX_HEADING_CHARS):
                cand = doc.block_text(nxt).replace(" | ", " ").replace("\n", " ").strip()
                if cand and not cand.isdigit() and _first_alpha_upper(cand[:40]):
                    title = cand
                    weight = 0.9
                    last = nxt
            if not title:
                weight = 0.6
        elif len(title) > MAX_HEADING_CHARS:
            # a long block: a heading only if its first sentence is the item's standard title
            cut = _SENTENCE_CUT.search(title)
            first = title[:cut.start()] if cut else title[:MAX_HEADING_CHARS + 1]
            if len(first) > MAX_HEADING_CHARS:
                continue
            alts = doc.section_ids(lab.ids, part)
            if not any(title_looks_right(a[0], first, doc.kind) for a in alts):
                continue
            title = first.strip()
        for ids in doc.section_ids(lab.ids, part):
            w = weight
            if title and weight == 1.0 and not title_looks_right(ids[0], title, doc.kind):
                w = 0.8
            if lab.has_page:
                w = 0.05
            opts.append(_Option(i, ids, [doc.rank[x] for x in ids], title, w, w >= 0.5, last))
    _damp_tight_runs(doc, opts)
    return opts


def _damp_tight_runs(doc: _Doc, opts: list[_Option]) -> None:
    """Three or more candidates with no text between them read as a list (a TOC of short blocks)."""
    blocks = sorted({o.block for o in opts})
    if len(blocks) < 3:
        return
    first_rank: dict[int, int] = {}
    last_rank: dict[int, int] = {}
    title_end = {o.block: max(o.block, o.last_block) for o in opts}
    for o in opts:
        first_rank[o.block] = min(first_rank.get(o.block, o.ranks[0]), o.ranks[0])
        last_rank[o.block] = min(last_rank.get(o.block, o.ranks[-1]), o.ranks[-1])
    tight_next = {}
    for a, b in zip(blocks, blocks[1:]):
        between = range(title_end[a] + 1, b)
        # a list goes on in order; numbering that starts again is the next list (or the body)
        tight_next[a] = first_rank[b] > last_rank[a] and len(between) <= 3 and all(
            k in doc.parts or _PAGE_NUMBER.fullmatch(doc.text[doc.blocks[k].start:doc.blocks[k].end])
            for k in between)
    run: list[int] = [blocks[0]]
    damp: set[int] = set()
    for a, b in zip(blocks, blocks[1:]):
        if tight_next[a]:
            run.append(b)
        else:
            if len(run) >= 3:
                damp.update(run)
            run = [b]
    if len(run) >= 3:
        damp.update(run)
    for o in opts:
        if o.block in damp:
            o.weight *= 0.3
            o.strong = o.weight >= 0.5


def _best_chain(opts: list[_Option], n_ranks: int) -> list[_Option]:
    """Max-weight sequence strictly increasing in block and in rank (earliest wins ties)."""
    best: list[tuple[float, _Option | None]] = [(0.0, None)] * n_ranks
    i = 0
    opts = sorted(opts, key=lambda o: o.block)
    while i < len(opts):
        j = i
        while j < len(opts) and opts[j].block == opts[i].block:
            j += 1
        updates = []
        for o in opts[i:j]:
            r1, r2 = o.ranks[0], o.ranks[-1]
            base, prev = 0.0, None
            for r in range(r1):
                if best[r][1] is not None and best[r][0] > base:
                    base, prev = best[r]
            updates.append((r2, base + o.weight * len(o.ids), o, prev))
        for r2, val, o, prev in updates:
            if best[r2][1] is None or val > best[r2][0] + 1e-9:
                o.prev = prev
                best[r2] = (val, o)
        i = j
    end = None
    top = 0.0
    for val, o in best:
        if o is not None and val > top + 1e-9:
            top, end = val, o
    chain = []
    while end is not None:
        chain.append(end)
        end = end.prev
    return chain[::-1]


def _title_options(doc: _Doc) -> list[_Option]:
    """Short standalone blocks that are a standard item title (headings without "Item")."""
    opts = []
    for i, sp in enumerate(doc.blocks):
        if sp.end - sp.start > MAX_HEADING_CHARS or i in doc.lists:
            continue
        raw = doc.text[sp.start:sp.end]
        if "\n" in raw or not raw[:1].isalnum() and raw[:1] not in "[(“\"":
            continue
        has_page = bool(_TRAILING_PAGE.search(raw)) and not raw.strip().isdigit()
        if has_page:
            raw = _TRAILING_PAGE.sub("", raw)
        n = normalize_title(raw)
        if not n or not raw.strip()[:1].isupper():
            continue
        for d in doc.defs:
            hit = n in d.exact or any(n.startswith(p) and len(n) <= len(p) + 90 for p in d.prefix)
            if hit:
                w = 0.05 if has_page else 1.0
                opts.append(_Option(i, [d.section_id], [doc.rank[d.section_id]], raw.strip(), w, w >= 0.5))
                break
    _damp_tight_runs(doc, opts)
    return opts


# --- cross-reference index ------------------------------------------------------------

_PAGE_CELL = re.compile(r"^(?:pages?\s*)?[\d\s,;–—\-]*(?:and\s+[\d\s,–\-]+)?$", re.IGNORECASE)
_NAME_NOISE = re.compile(r"^(?:see|refer to)\s+|\s*(?:,|;)?\s*(?:on\s+)?pages?\s+[\d\s,–\-and]+$", re.IGNORECASE)


def _index_options(doc: _Doc) -> list[tuple[int, list[str], str]]:
    """(heading block, [section id], title) per item, read from a cross-reference index table."""
    if doc.kind != "10-K" or not doc.lists:
        return []
    names: dict[str, list[str]] = {}
    for i in sorted(doc.lists):
        current: str | None = None
        for line in doc.block_text(i).split("\n"):
            cells = [c.strip() for c in line.split(" | ")]
            label_at = None
            for k, c in enumerate(cells[:3]):
                if "tem" in c[:12].lower():
                    m = _LABEL.match(c)
                    if m:
                        label_at = k
                        ids = [x.upper() for x in _ID_IN_LABEL.findall(m.group("ids"))]
                        current = ids[0] if ids and ids[0] in doc.rank else None
                        rest = c[m.end():].lstrip(_TITLE_LEAD)
                        if rest:
                            cells[k] = rest
                            label_at = None
                        break
            if current is None:
                continue
            bucket = names.setdefault(current, [])
            for k, c in enumerate(cells):
                if k == label_at or not c or _PAGE_CELL.match(c) or _PART.fullmatch(c):
                    continue
                for piece in re.split(r";|\s•\s", c):
                    piece = _NAME_NOISE.sub("", piece.strip(" “”\"'.:")).strip(" “”\"'.:")
                    n = normalize_title(piece)
                    if len(n) >= 4 and not any(g == n for g in _GENERIC_TITLES):
                        bucket.append(n)
    if len(names) < 2:
        return []
    first_list, last_list = min(doc.lists), max(doc.lists)
    headings: dict[str, list[int]] = {}
    for i, sp in enumerate(doc.blocks):
        if i in doc.lists or sp.end - sp.start > MAX_HEADING_CHARS:
            continue
        raw = doc.text[sp.start:sp.end]
        if "\n" in raw:
            continue
        headings.setdefault(normalize_title(_TRAILING_PAGE.sub("", raw)), []).append(i)
    std = {d.section_id: d for d in doc.defs}
    out = []
    used: set[int] = set()
    for sid in doc.order:
        if sid not in names:
            continue
        cands = list(names[sid]) + list(std[sid].exact) + [normalize_title(std[sid].title)]
        where = []
        for n in cands:
            hits = headings.get(n, [])
            after = [h for h in hits if h > last_list]
            pick = after[0] if after else (hits[0] if hits and hits[0] < first_list else None)
            if pick is not None and pick not in used:
                where.append(pick)
        if where:
            b = min(where)
            used.add(b)
            out.append((b, [sid], doc.block_text(b).strip()))
    return out


# --- sections --------------------------------------------------------------------------

def _sections(doc: _Doc, heads: list[tuple[int, list[str], str]]) -> list[Section]:
    text, blocks = doc.text, doc.blocks
    heads = sorted(heads, key=lambda h: (h[0], doc.rank[h[1][0]]))
    starts = []
    for b, _, _ in heads:
        s = blocks[b].start
        if b - 1 in doc.parts and (not starts or blocks[b - 1].start > starts[-1]):
            s = blocks[b - 1].start
        starts.append(s)
    out: list[Section] = []
    if starts[0] > 0:
        out.append(Section(COVER_SECTION, "Cover page and table of contents", 0, starts[0]))
    std = {d.section_id: d.title for d in doc.defs}
    for k, ((_, ids, title), s) in enumerate(zip(heads, starts)):
        e = starts[k + 1] if k + 1 < len(heads) else len(text)
        title = title or std[ids[0]]
        out.append(Section(ids[0], title, s, e))
        for other in ids[1:]:
            out.append(Section(other, f"{title} (combined with Item {ids[0].split('-')[-1]})", e, e))
    return out


def find_items(text: str, blocks: list[Span], form: str | None = "10-K") -> list[Section]:
    """Split a 10-K (or 10-Q) into item sections that cover `text` contiguously.

    `blocks` are the document's block spans (etl.documents: blocks joined by
    "\\n\\n"). Returns one `WHOLE_DOCUMENT_SECTION` section when no items are
    recognised or the form is neither a 10-K nor a 10-Q.
    """
    whole = [Section(WHOLE_DOCUMENT_SECTION, "Whole document", 0, len(text))]
    kind = _form_kind(form)
    if kind is None or not blocks or not text:
        return whole
    doc = _Doc(text, blocks, kind)
    n_ranks = len(doc.order)

    def strong(chain: list[_Option]) -> int:
        return sum(len(o.ids) for o in chain if o.strong)

    chain = _best_chain(_label_options(doc), n_ranks)
    if any(o.strong for o in chain):   # a TOC line ("Item 1. Business 3") never starts a section
        chain = [o for o in chain if o.weight >= 0.1]
    best = [(o.block, o.ids, o.title) for o in chain]
    score = strong(chain)
    if score < 3:
        tchain = _best_chain(_title_options(doc), n_ranks)
        index = _index_options(doc)
        if len(index) > max(score, strong(tchain)) and len(index) >= 2:
            best, score = index, len(index)
        elif strong(tchain) > score:
            best, score = [(o.block, o.ids, o.title) for o in tchain], strong(tchain)
    if score < 2:
        return whole
    return _sections(doc, best)


def section_tuples(sections: list[Section]) -> list[tuple[str, str, Span]]:
    """(section_id, title, Span) triples, the shape `ParsedFiling.sections` holds."""
    return [(s.section_id, s.title, Span(s.start, s.end)) for s in sections]
