"""Companies House bulk accounts: zip archives in, filing bytes and their identity out.

Pure: reads the archive it is given, never extracts to disk, imports no Ray.
The daily bulk file `Accounts_Bulk_Data-YYYY-MM-DD.zip` holds one inline XBRL
document per set of accounts, named by the feed

    Prod223_<run>_<company number>_<period end YYYYMMDD>.html

and, for community interest companies (CICs), a nested zip named the same way
(`Prod223_3951_15052776_20240831_CIC.zip`) that holds two XHTML parts:
`<dir>/accounts/financialStatement.xhtml` and `<dir>/cic34/cicReport.xhtml`.

Reading archives (`iter_archive`)
* Every member comes out as an `ArchiveEntry` named by a virtual path: the
  outer zip's path and the member names, joined with "::"
  ("…/Accounts_Bulk_Data-2025-05-03.zip::Prod223_…_CIC.zip::CIC-…/cic34/cicReport.xhtml").
  An entry has `data` (the member's bytes) or, when it is refused, `reason`
  and `detail`, which the pipeline writes to `rejects`; one bad member never
  stops the rest of the archive. Only an outer archive that cannot be opened at
  all raises `ArchiveError(reason, detail)`.
* Skipped silently, because they are not content: directories, macOS clutter
  (anything under `__MACOSX/`, AppleDouble resource forks `._*`, `.DS_Store`).
  Every other member that is not a filing (a README.txt, a PDF, an XBRL
  instance `.xml`) is a refused entry with reason "not_a_filing"; its bytes
  are never inflated.
* Filings are members ending in .html, .htm or .xhtml; members ending in .zip
  are opened in memory and walked the same way.
* Protections (reasons in brackets):
  - [zip_slip] a name that is absolute ("/etc/x", "\\\\server\\x"), has a drive
    letter ("C:…") or a ".." component, or holds a NUL byte. Nothing is ever
    written to disk, so such a name cannot escape; it is refused because only
    a crafted archive has one.
  - [too_large] a member declared or found larger than `max_member_bytes`, or
    one that would take the archive's inflated total past `max_total_bytes`.
  - [zip_bomb] a member whose uncompressed/compressed ratio is over
    `max_ratio` (checked for members of at least `ratio_min_bytes`, so a tiny
    very compressible file is not refused).
  - [too_many_members] a (nested) zip whose member count, read from the end
    record before the member list is built, would take the walk past
    `max_members`; for the outer zip this is an `ArchiveError`.
  - [nested_too_deep] a zip nested more than `max_depth` levels below the
    outer archive (the real CIC zip is level 1).
  - [bad_member] a member that cannot be read: corrupt or truncated data, CRC
    mismatch, encrypted, unknown compression, a nested .zip that is not a zip,
    or a name repeated in one zip (only the first is read).
  Sizes are checked twice: the declared sizes before a member is opened, and
  the bytes actually inflated, counted while reading in 1 MiB pieces, since
  headers can lie. (Python's zipfile also stops at the declared size and then
  fails the CRC, so a lying header ends as "bad_member".)
* `bulk_date` is the date in the outermost archive's name: the day the public
  could see the accounts (the point-in-time `filed_at`). Other names (the
  monthly archives) give None: nothing is invented.

Identity
* `identity_from_name` reads the company number (as written) and period end
  from the feed's name; for a member of a nested zip, the innermost component
  of the virtual path that follows the pattern (the CIC zip's name).
* `identity_from_facts` reads the cover facts every UK taxonomy (uk-bus:,
  bus:, frs-bus: prefixes) writes: UKCompaniesHouseRegisteredNumber,
  EntityCurrentLegalOrRegisteredName, EndDateForPeriodCoveredByReport (else
  BalanceSheetDate, else the latest context end date).
* `reconcile_identity` merges the two. The file name wins: Companies House
  writes it from its own register, while the XBRL is typed by the filer's
  software. Company numbers are compared normalised (8 characters, the digits
  zero-padded after any letter prefix: "1234567" -> "01234567", "SC 12345"
  -> "SC012345"), and the merged `company_id` is the normalised number.

CIC parts: two linked filings, not one
`group_parts` (a generator of `ChFiling`s, refused entries passed through)
makes each part its own filing: the financial statement (form
"AA", the Companies House code for annual accounts) and the CIC report (form
"CIC34", its own statutory form). Both carry the same company_id, period_end
and filed_at, and `group` (the nested zip's virtual path) with `related` (the
other parts' virtual paths) links them. Why not one concatenated document:
each part is a complete XHTML document with its own ix:header, and context ids
repeat between them, so gluing them together makes invalid XML whose facts
could resolve against the wrong part's contexts; separate filings keep each
part's bytes, content hash (and so re-run idempotency) and facts exact, match
the store's grain ("one filed document"), and keep the statement's numbers
apart from the report's narrative. A query that wants "the CIC's accounts"
joins on company_id and period_end (or filters form = 'CIC34').
"""
from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

SOURCE = "companies_house"
FORM_ACCOUNTS = "AA"       # Companies House filing type of annual accounts
FORM_CIC_REPORT = "CIC34"  # community interest company report

SEP = "::"
MiB = 1024 * 1024
GiB = 1024 * MiB
FILING_SUFFIXES = (".html", ".htm", ".xhtml")
ARCHIVE_SUFFIXES = (".zip",)
_READ_CHUNK = MiB

_BULK_NAME = re.compile(r"^Accounts_Bulk_Data-(\d{4})-(\d{2})-(\d{2})\.zip$", re.IGNORECASE)
# Prod223_3384_SC720321_20230131.html, Prod223_3951_15052776_20240831_CIC.zip
_FEED_NAME = re.compile(
    r"^Prod\d+_(?P<run>\d+)_(?P<company>[A-Z]{0,2}\d{1,8})_(?P<date>\d{8})(?:_[A-Z0-9]+)?"
    r"\.(?:html?|xhtml|xml|zip)$",
    re.IGNORECASE,
)
_COMPANY_NUMBER = re.compile(r"^([A-Z]{0,2})(\d+)$")
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(Exception):
    """An outer archive that cannot be read at all (not a zip, truncated, too many members)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 200_000          # members listed, over the whole walk (nested zips included)
    max_member_bytes: int = 256 * MiB   # one member, uncompressed
    max_total_bytes: int = 8 * GiB      # everything inflated in one walk
    max_ratio: float = 200.0            # uncompressed / compressed, per member
    max_depth: int = 3                  # zips nested below the outer archive
    ratio_min_bytes: int = MiB          # the ratio is checked for members at least this big


@dataclass
class ArchiveEntry:
    virtual_path: str
    data: bytes | None
    reason: str | None = None
    detail: str | None = None
    bulk_date: date | None = None

    @property
    def ok(self) -> bool:
        return self.data is not None

    @property
    def member(self) -> str:
        """The innermost member name ("CIC-15052776/cic34/cicReport.xhtml")."""
        return self.virtual_path.rsplit(SEP, 1)[-1]


# --------------------------------------------------------------------------- names

def bulk_file_date(name: str) -> date | None:
    """2023-03-02 for ".../Accounts_Bulk_Data-2023-03-02.zip"; None for any other name."""
    m = _BULK_NAME.match(_basename(name))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def is_archive(path: Path) -> bool:
    """A path the pipeline should walk with `iter_archive` (by its suffix: .zip)."""
    return Path(path).name.lower().endswith(ARCHIVE_SUFFIXES)


def _basename(name: str) -> str:
    return re.split(r"[/\\]", name)[-1]


def identity_from_name(name: str) -> dict:
    """{"company_id": as written, "period_end": date} from a feed name; {} otherwise.

    Takes a file name, a path, or a virtual path ("a.zip::b_CIC.zip::x/y.xhtml"),
    whose components are tried innermost first.
    """
    for part in reversed(name.split(SEP)):
        m = _FEED_NAME.match(_basename(part))
        if not m:
            continue
        d = m.group("date")
        try:
            period_end = date(int(d[:4]), int(d[4:6]), int(d[6:]))
        except ValueError:
            continue
        return {"company_id": m.group("company"), "period_end": period_end}
    return {}


def normalize_company_number(text: str | None) -> str | None:
    """Companies House's 8-character form: digits zero-padded after any letter prefix
    ("1234567" -> "01234567", "sc 12345" -> "SC012345"); None if it is not one."""
    if not text:
        return None
    s = re.sub(r"\s+", "", text).upper()
    m = _COMPANY_NUMBER.match(s)
    if not m or len(s) > 8:
        return None
    prefix, digits = m.groups()
    return prefix + digits.zfill(8 - len(prefix))


# --------------------------------------------------------------------------- facts

def _local(concept: str) -> str:
    return concept.rpartition(":")[2]


def _first(facts: list, local: str):
    """The first non-nil fact of this local name, preferring ones without dimensions."""
    found = [f for f in facts if _local(f.concept) == local and (f.text_value or "").strip()]
    plain = [f for f in found if f.dimensions in ("", "{}")]
    return (plain or found or [None])[0]


def _fact_date(f) -> date | None:
    try:
        return date.fromisoformat(f.text_value.strip()[:10])
    except (ValueError, AttributeError):
        return f.period_end


def identity_from_facts(facts: list) -> dict:
    """{"company_id", "company_name", "period_end"} from a filing's XBRL facts
    (`etl.xbrl.Fact`s); a key is left out when the facts do not give it."""
    out: dict = {}
    number = _first(facts, "UKCompaniesHouseRegisteredNumber")
    if number is not None:
        out["company_id"] = " ".join(number.text_value.split())
    name = _first(facts, "EntityCurrentLegalOrRegisteredName")
    if name is not None:
        out["company_name"] = " ".join(name.text_value.split())
    period_end = None
    for local in ("EndDateForPeriodCoveredByReport", "BalanceSheetDate"):
        f = _first(facts, local)
        if f is not None:
            period_end = _fact_date(f)
            if period_end:
                break
    if period_end is None:
        ends = [f.period_end for f in facts if f.period_end is not None]
        period_end = max(ends) if ends else None
    if period_end is not None:
        out["period_end"] = period_end
    return out


def reconcile_identity(from_name: dict, from_facts: dict) -> tuple[dict, list[str]]:
    """Merged identity (the file name wins, the facts fill gaps) and the conflicts
    between the two, in words."""
    conflicts: list[str] = []
    merged: dict = {}
    a, b = from_name.get("company_id"), from_facts.get("company_id")
    na, nb = normalize_company_number(a), normalize_company_number(b)
    if a and b and (na or a.upper()) != (nb or b.upper()):
        conflicts.append(f"company number in file name {a} != {b} in XBRL")
    if a and na is None:
        conflicts.append(f"company number {a!r} in file name is not a Companies House number")
    if b and nb is None:
        conflicts.append(f"company number {b!r} in XBRL is not a Companies House number")
    company_id = (na or a) if a else (nb or b)
    if company_id:
        merged["company_id"] = company_id
    if from_facts.get("company_name"):
        merged["company_name"] = from_facts["company_name"]
    pa_, pb = from_name.get("period_end"), from_facts.get("period_end")
    if pa_ and pb and pa_ != pb:
        conflicts.append(f"period end in file name {pa_.isoformat()} != {pb.isoformat()} in XBRL")
    if pa_ or pb:
        merged["period_end"] = pa_ or pb
    return merged, conflicts


# --------------------------------------------------------------------------- archives

def _unsafe_name(name: str) -> str | None:
    """Why a member name could escape an extraction folder, or None."""
    if "\x00" in name:
        return "holds a NUL byte"
    if name.startswith(("/", "\\")):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    if any(p == ".." for p in re.split(r"[/\\]", name)):
        return "has a '..' component"
    return None


def _is_clutter(name: str) -> bool:
    parts = [p for p in re.split(r"[/\\]", name) if p]
    if not parts:
        return True
    return "__MACOSX" in parts or parts[-1].startswith("._") or parts[-1] == ".DS_Store"


def _declared_entries(fp: BinaryIO) -> int | None:
    """The member count the end-of-central-directory record declares (zip64 too), read
    before zipfile builds its member list; None when the record cannot be found."""
    try:
        fp.seek(0, io.SEEK_END)
        size = fp.tell()
        tail_len = min(size, 22 + 65535)
        fp.seek(size - tail_len)
        tail = fp.read(tail_len)
        i = tail.rfind(b"PK\x05\x06")
        if i < 0 or len(tail) < i + 22:
            return None
        entries = struct.unpack("<H", tail[i + 10:i + 12])[0]
        if entries != 0xFFFF or i < 20 or tail[i - 20:i - 16] != b"PK\x06\x07":
            return entries
        offset = struct.unpack("<Q", tail[i - 12:i - 4])[0]
        fp.seek(offset)
        rec = fp.read(56)
        if rec[:4] != b"PK\x06\x06":
            return None
        return struct.unpack("<Q", rec[32:40])[0]
    except (OSError, ValueError, struct.error):
        return None
    finally:
        try:
            fp.seek(0)
        except (OSError, ValueError):
            pass


class _Refused(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Budget:
    limits: ArchiveLimits
    members: int = 0
    inflated: int = 0


def _check_declared(info: zipfile.ZipInfo, budget: _Budget) -> None:
    lim = budget.limits
    if info.flag_bits & 0x1:
        raise _Refused("bad_member", "the member is encrypted; password-protected data cannot be read")
    size, csize = info.file_size, info.compress_size
    if size >= lim.ratio_min_bytes and size > lim.max_ratio * max(csize, 1):
        raise _Refused("zip_bomb", f"declared to inflate {csize} bytes to {size} "
                                   f"(ratio {size / max(csize, 1):.0f} > {lim.max_ratio:g}); "
                                   "refused as a likely zip bomb")
    if size > lim.max_member_bytes:
        raise _Refused("too_large", f"declared size {size} bytes is over the {lim.max_member_bytes}-byte "
                                    "member limit (ArchiveLimits.max_member_bytes)")
    if budget.inflated + size > lim.max_total_bytes:
        raise _Refused("too_large", f"reading its {size} declared bytes would take the archive past "
                                    f"{lim.max_total_bytes} inflated bytes (ArchiveLimits.max_total_bytes)")


def _read_limited(stream: BinaryIO, compressed: int, budget: _Budget) -> bytes:
    """All of `stream`, counting the bytes as they come: the sizes a header declares
    are not trusted."""
    lim = budget.limits
    out = bytearray()
    while True:
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            break
        out += chunk
        n = len(out)
        if n > lim.max_member_bytes:
            raise _Refused("too_large", f"inflated past the {lim.max_member_bytes}-byte member limit "
                                        "while reading (its header understated the size)")
        if n >= lim.ratio_min_bytes and n > lim.max_ratio * max(compressed, 1):
            raise _Refused("zip_bomb", f"{compressed} compressed bytes inflated past {n} while reading "
                                       f"(ratio > {lim.max_ratio:g}); refused as a likely zip bomb")
        if budget.inflated + n > lim.max_total_bytes:
            raise _Refused("too_large", f"the archive inflated past {lim.max_total_bytes} bytes in all "
                                        "while reading (ArchiveLimits.max_total_bytes)")
    budget.inflated += len(out)
    return bytes(out)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> bytes:
    _check_declared(info, budget)
    try:
        with zf.open(info) as stream:
            return _read_limited(stream, info.compress_size, budget)
    except _Refused:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
            NotImplementedError, ValueError, struct.error) as e:
        raise _Refused("bad_member", f"cannot read the member: {type(e).__name__}: {e}; "
                                     "the archive is corrupt or truncated, re-download it") from None


def _check_count(fp: BinaryIO, budget: _Budget, what: str) -> None:
    declared = _declared_entries(fp)
    if declared is not None and budget.members + declared > budget.limits.max_members:
        raise _Refused("too_many_members",
                       f"{what} declares {declared} members, over the {budget.limits.max_members}-member "
                       "limit (ArchiveLimits.max_members)")


def _walk(zf: zipfile.ZipFile, prefix: str, depth: int, budget: _Budget,
          bulk: date | None) -> Iterator[ArchiveEntry]:
    infos = zf.infolist()
    budget.members += len(infos)
    if budget.members > budget.limits.max_members:  # the end record understated the count
        raise _Refused("too_many_members", f"{len(infos)} members take the walk past the "
                                           f"{budget.limits.max_members}-member limit")
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        vpath = f"{prefix}{SEP}{name}"

        def refused(reason: str, detail: str) -> ArchiveEntry:
            return ArchiveEntry(vpath, None, reason, f"{name}: {detail}", bulk)

        why = _unsafe_name(name)
        if why:
            yield refused("zip_slip", f"the member name {why}; only a crafted archive has one, "
                                      "so the member is refused")
            continue
        if info.is_dir() or _is_clutter(name):
            continue
        if name in seen:
            yield refused("bad_member", "the name appears twice in the zip; only the first is read")
            continue
        seen.add(name)
        lower = name.lower()
        if lower.endswith(ARCHIVE_SUFFIXES):
            if depth >= budget.limits.max_depth:
                yield refused("nested_too_deep", f"a zip nested {depth + 1} levels deep, more than the "
                                                 f"{budget.limits.max_depth} allowed (ArchiveLimits.max_depth)")
                continue
            try:
                data = _read_member(zf, info, budget)
                buf = io.BytesIO(data)
                _check_count(buf, budget, "the nested zip")
                try:
                    inner = zipfile.ZipFile(buf)
                except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as e:
                    raise _Refused("bad_member", f"a .zip member that is not a readable zip ({e})") from None
                with inner:
                    yield from _walk(inner, vpath, depth + 1, budget, bulk)
            except _Refused as r:
                yield refused(r.reason, r.detail)
            continue
        if not lower.endswith(FILING_SUFFIXES):
            suffix = Path(lower).suffix or "(no suffix)"
            yield refused("not_a_filing", f"a {suffix} file is not a filing; Companies House accounts are "
                                          f"inline XBRL {', '.join(FILING_SUFFIXES)} documents")
            continue
        try:
            data = _read_member(zf, info, budget)
        except _Refused as r:
            yield refused(r.reason, r.detail)
            continue
        yield ArchiveEntry(vpath, data, None, None, bulk)


def iter_archive(path: Path, limits: ArchiveLimits = ArchiveLimits()) -> Iterator[ArchiveEntry]:
    """Every member of a (bulk) zip as an `ArchiveEntry`, nested zips walked in memory.

    Raises `ArchiveError` when the outer archive cannot be opened or lists too
    many members (a generator: it raises on the first `next()`, not on the call);
    everything wrong with a member is a refused entry instead.
    """
    path = Path(path)
    bulk = bulk_file_date(path.name)
    budget = _Budget(limits)
    try:
        fp = open(path, "rb")
    except OSError as e:
        raise ArchiveError("unreadable", f"{path}: cannot open the archive: {e}") from None
    with fp:
        try:
            _check_count(fp, budget, str(path))
        except _Refused as r:
            raise ArchiveError(r.reason, r.detail) from None
        try:
            zf = zipfile.ZipFile(fp)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as e:
            raise ArchiveError("bad_archive", f"{path} is not a readable zip ({type(e).__name__}: {e}); "
                                              "it is corrupt or truncated: re-download it") from None
        with zf:
            try:
                yield from _walk(zf, str(path), 0, budget, bulk)
            except _Refused as r:  # only the outer listing raises here
                raise ArchiveError(r.reason, f"{path}: {r.detail}") from None


# --------------------------------------------------------------------------- filings

@dataclass
class ChFiling:
    """One filing to parse: `parse_filing(data, Path(name), sidecar(meta))`."""
    virtual_path: str           # the `path` of its filings/rejects rows
    data: bytes
    name: str                   # the innermost member name
    form: str                   # "AA" (accounts) or "CIC34" (CIC report)
    meta: dict                  # FilingMeta fields known before parsing: source, form, company_id, period_end, filed_at
    group: str | None = None    # the nested zip's virtual path, for parts of one submission
    related: tuple[str, ...] = field(default_factory=tuple)  # the other parts' virtual paths


def _form_of(member: str) -> str:
    parts = [p.lower() for p in re.split(r"[/\\]", member) if p]
    if "cic34" in parts[:-1] or (parts and parts[-1].startswith("cicreport")):
        return FORM_CIC_REPORT
    return FORM_ACCOUNTS


def group_parts(entries: Iterable[ArchiveEntry]) -> Iterator[ChFiling | ArchiveEntry]:
    """Entries -> one `ChFiling` per readable document, refused entries passed through
    as they are (for `rejects`), in archive order.

    The parts of one nested zip (a CIC's statement and report) become linked
    filings (see the module docstring). Streaming: since `iter_archive` gives a
    nested zip's members one after another, only the current nested zip's
    parts are held, never the whole bulk file.
    """
    pending: list[ChFiling] = []

    def flush() -> Iterator[ChFiling]:
        for f in pending:
            f.related = tuple(o.virtual_path for o in pending if o is not f)
        yield from pending
        pending.clear()

    for e in entries:
        if not e.ok:
            yield e
            continue
        container, _, member = e.virtual_path.rpartition(SEP)
        group = container if SEP in container else None  # inside a zip inside the outer archive
        if pending and pending[0].group != group:
            yield from flush()
        form = _form_of(member)
        meta = {"source": SOURCE, "form": form, **identity_from_name(e.virtual_path)}
        if e.bulk_date is not None:
            meta["filed_at"] = e.bulk_date
        f = ChFiling(e.virtual_path, e.data, member, form, meta, group)
        if group is None:
            yield f
        else:
            pending.append(f)
    yield from flush()


def filing_metadata(filing: ChFiling, facts: list) -> tuple[dict, list[str]]:
    """The filing's metadata once its XBRL facts are known: name and facts reconciled
    (company_name comes from the facts), plus the conflicts in words."""
    merged, conflicts = reconcile_identity(identity_from_name(filing.virtual_path), identity_from_facts(facts))
    meta = {**filing.meta, **merged}
    return meta, conflicts


def sidecar(meta: dict) -> bytes:
    """`meta` as the sidecar JSON `etl.documents.parse_filing` takes (dates ISO)."""
    return json.dumps({k: (v.isoformat() if isinstance(v, date) else v) for k, v in meta.items()
                       if v not in (None, "")}, sort_keys=True).encode()
