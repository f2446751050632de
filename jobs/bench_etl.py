"""Benchmark the filing ETL on real 10-Ks: speed against the HTML-parse floor, and XBRL coverage.

Single process, no Ray. For each filing the bytes are read once, then timed
(best of --repeat runs, `time.perf_counter`):
  floor  bare selectolax: `LexborHTMLParser(raw.decode("utf-8", "replace")).body.text()`
  ETL    `etl.documents.parse_filing(raw, path)`: decode, sanitize, tables, numbers, chunks
and reported as milliseconds per MB of HTML (1 MB = 10^6 bytes) and as the ratio
ETL / floor. Target: the TOTAL ratio within 5x.

For each inline-XBRL filing it also prints the share of visible `ix:nonFraction`
values that a number of `parse_filing` has (same magnitude after `scale`; see
etl/xbrl_coverage.py), target >= 98%, for the numbers of the whole document,
for the numbers that reach the store (those inside chunks), and with the
`ix:nonFraction` tags stripped first ("heuristics only": how the ETL does on a
filing without inline XBRL), with the first misses of each so a developer sees
what fails.

Local:
    python -m jobs.bench_etl [--data ../shared/data/sec/10-K] [--repeat 3] [--json bench.json]
    make bench-etl

On a cluster (runs in the job's driver process; the data folder must be there):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.bench_etl --data /shared/data/sec/10-K --json /shared/bench/etl.json
"""
from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from etl.documents import HTML_SUFFIXES, decode_html, parse_filing
from etl.xbrl_coverage import TARGET as COVERAGE_TARGET
from etl.xbrl_coverage import Coverage, coverage, ix_facts, strip_ix_tags
from etl.xbrl import extract_facts, is_inline_xbrl

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 5.0
MISSES_SHOWN = 5


def default_data_dir() -> Path:
    shared = os.environ.get("FILINGSTORE_SHARED_DATA")
    base = Path(shared) if shared else REPO.parent / "shared" / "data"
    return base / "sec" / "10-K"


def best_time(fn, repeat: int) -> float:
    """Smallest wall time of `repeat` calls of `fn`, in seconds."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def floor_parse(html_bytes: bytes) -> str:
    """The bare parse-and-text floor the ETL is measured against."""
    return LexborHTMLParser(html_bytes.decode("utf-8", "replace")).body.text()


@dataclass
class FileResult:
    name: str
    n_bytes: int
    floor_s: float
    etl_s: float
    facts_s: float            # the inline-XBRL fact extraction inside etl_s, timed alone
    n_numbers: int
    n_chunks: int
    facts_nil: int = 0
    cov: Coverage | None = None            # numbers of the whole document
    cov_store: Coverage | None = None      # numbers inside chunks (what the store gets)
    cov_heuristic: Coverage | None = None  # ix:nonFraction tags stripped first
    heuristic_s: float = 0.0

    @property
    def mb(self) -> float:
        return self.n_bytes / 1e6

    @property
    def inline_xbrl(self) -> bool:
        return self.cov is not None and self.cov.facts > 0

    def as_dict(self) -> dict:
        d = {
            "file": self.name, "bytes": self.n_bytes, "mb": self.mb,
            "floor_s": self.floor_s, "etl_s": self.etl_s, "xbrl_facts_s": self.facts_s,
            "floor_ms_per_mb": 1e3 * self.floor_s / self.mb, "etl_ms_per_mb": 1e3 * self.etl_s / self.mb,
            "ratio": self.etl_s / self.floor_s, "numbers": self.n_numbers, "chunks": self.n_chunks,
            "inline_xbrl": self.inline_xbrl,
        }
        if self.inline_xbrl:
            d["xbrl"] = {
                "nil_facts": self.facts_nil,
                "document": self.cov.as_dict(),
                "store": self.cov_store.as_dict(),
                "heuristics_only": self.cov_heuristic.as_dict(),
                "heuristics_only_parse_s": self.heuristic_s,
            }
        return d


def find_filings(data: Path) -> list[Path]:
    return sorted(p for p in data.iterdir() if p.is_file() and p.name.lower().endswith(HTML_SUFFIXES))


def bench_file(path: Path, repeat: int, with_coverage: bool = True) -> FileResult:
    raw = path.read_bytes()
    html_bytes = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    floor_s = best_time(lambda: floor_parse(html_bytes), repeat)
    parsed = None

    def etl():
        nonlocal parsed
        parsed = parse_filing(raw, path)

    etl_s = best_time(etl, repeat)
    html_text, _ = decode_html(html_bytes)
    facts_s = best_time(lambda: extract_facts(html_text), repeat) if is_inline_xbrl(html_text) else 0.0
    res = FileResult(path.name, len(raw), floor_s, etl_s, facts_s, len(parsed.numbers), len(parsed.chunks))
    if not with_coverage:
        return res
    facts, res.facts_nil = ix_facts(html_bytes)
    if not facts:
        return res
    res.cov = coverage(facts, parsed.numbers)
    res.cov_store = coverage(facts, [n for c in parsed.chunks for n, _, _ in c.numbers])
    html, _ = decode_html(html_bytes)
    stripped = strip_ix_tags(html).encode("utf-8")
    t0 = time.perf_counter()
    bare = parse_filing(stripped, path)
    res.heuristic_s = time.perf_counter() - t0
    res.cov_heuristic = coverage(facts, bare.numbers)
    return res


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def speed_table(results: list[FileResult]) -> tuple[list[str], dict]:
    """ms/MB of the whole ETL and of its XBRL fact extraction, against the floor.

    "core" is the ETL without the fact extraction (sanitise, tables, numbers,
    sections, chunks): the part the 5x target was set for before facts joined.
    """
    w = max([len(r.name) for r in results] + [5])
    lines = [f"{'file':<{w}}  {'MB':>6}  {'floor ms/MB':>11}  {'ETL ms/MB':>9}  {'ratio':>6}  "
             f"{'facts ms/MB':>11}  {'core ratio':>10}"]
    for r in results:
        lines.append(f"{r.name:<{w}}  {r.mb:6.2f}  {1e3 * r.floor_s / r.mb:11.1f}  "
                     f"{1e3 * r.etl_s / r.mb:9.1f}  {r.etl_s / r.floor_s:5.1f}x  "
                     f"{1e3 * r.facts_s / r.mb:11.1f}  {(r.etl_s - r.facts_s) / r.floor_s:9.1f}x")
    mb = sum(r.mb for r in results)
    floor_s = sum(r.floor_s for r in results)
    etl_s = sum(r.etl_s for r in results)
    facts_s = sum(r.facts_s for r in results)
    ratio = etl_s / floor_s
    core_ratio = (etl_s - facts_s) / floor_s
    lines.append(f"{'TOTAL':<{w}}  {mb:6.2f}  {1e3 * floor_s / mb:11.1f}  {1e3 * etl_s / mb:9.1f}  {ratio:5.1f}x  "
                 f"{1e3 * facts_s / mb:11.1f}  {core_ratio:9.1f}x")
    met = ratio <= TARGET_RATIO
    lines.append(f"total: floor {floor_s:.3f} s, ETL {etl_s:.3f} s (of which XBRL facts {facts_s:.3f} s) for "
                 f"{mb:.2f} MB; target ETL within {TARGET_RATIO:g}x of the floor: "
                 f"{'MET' if met else 'NOT MET'} ({ratio:.1f}x; {core_ratio:.1f}x without fact extraction)")
    total = {"mb": mb, "floor_s": floor_s, "etl_s": etl_s, "xbrl_facts_s": facts_s,
             "floor_ms_per_mb": 1e3 * floor_s / mb, "etl_ms_per_mb": 1e3 * etl_s / mb, "ratio": ratio,
             "core_ratio": core_ratio, "target_ratio": TARGET_RATIO, "met": met}
    return lines, total


def coverage_table(results: list[FileResult]) -> tuple[list[str], dict]:
    xs = [r for r in results if r.inline_xbrl]
    if not xs:
        return ["no inline-XBRL filings (no visible ix:nonFraction facts): coverage not measured"], {}
    w = max(len(r.name) for r in xs)
    lines = [
        "XBRL coverage: visible ix:nonFraction facts whose |value| (after scale) a parse_filing number has",
        f"  document = all numbers of the parse; store = numbers inside chunks; heuristics only = "
        f"ix:nonFraction tags stripped before parsing; nil = empty (xsi:nil) facts, not counted",
        f"{'file':<{w}}  {'facts':>5}  {'nil':>3}  {'document':>8}  {'store':>7}  {'signed':>7}  "
        f"{'words cov/exact':>15}  {'heuristics only':>15}",
    ]
    agg = {"facts": 0, "covered": 0, "store": 0, "heuristic": 0}
    all_met = True
    for r in xs:
        c, cs, ch = r.cov, r.cov_store, r.cov_heuristic
        met = c.share >= COVERAGE_TARGET and cs.share >= COVERAGE_TARGET
        all_met &= met
        words = f"{c.words_covered}/{c.words_exact} of {c.words}"
        lines.append(f"{r.name:<{w}}  {c.facts:5d}  {r.facts_nil:3d}  {_pct(c.share):>8}  {_pct(cs.share):>7}  "
                     f"{_pct(c.signed / c.facts):>7}  {words:>15}  {_pct(ch.share):>15}"
                     f"{'' if met else '  < target'}")
        agg["facts"] += c.facts
        agg["covered"] += c.covered
        agg["store"] += cs.covered
        agg["heuristic"] += ch.covered
    n = agg["facts"]
    lines.append(f"{'TOTAL':<{w}}  {n:5d}  {'':>3}  {_pct(agg['covered'] / n):>8}  {_pct(agg['store'] / n):>7}  "
                 f"{'':>7}  {'':>15}  {_pct(agg['heuristic'] / n):>15}")
    lines.append(f"target >= {COVERAGE_TARGET:.0%} on each inline-XBRL filing (document and store): "
                 f"{'MET' if all_met else 'NOT MET'}")
    summary = {"target": COVERAGE_TARGET, "met": all_met, "facts": n,
               "document_share": agg["covered"] / n, "store_share": agg["store"] / n,
               "heuristics_only_share": agg["heuristic"] / n}
    return lines, summary


def misses_report(results: list[FileResult], limit: int = MISSES_SHOWN) -> list[str]:
    lines: list[str] = []
    for r in results:
        if not r.inline_xbrl:
            continue
        for label, cov in (("with XBRL hints", r.cov), ("store (chunks)", r.cov_store),
                           ("heuristics only", r.cov_heuristic)):
            if not cov.misses:
                continue
            reasons = ", ".join(f"{k} {v}" for k, v in cov.reasons().items())
            lines.append(f"{r.name} [{label}]: {len(cov.misses)} missed ({reasons}); "
                         f"first {min(limit, len(cov.misses))}:")
            for m, why in zip(cov.misses[:limit], cov.why):
                word = " word" if m.is_word else ""
                lines.append(f"    shown={m.shown!r} scale={m.scale} format={m.fmt or '-'}{word} "
                             f"value={m.value:g} {m.name}")
                lines.append(f"      {m.context}")
                lines.append(f"      -> {why}")
    return lines or ["no misses"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.bench_etl", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_data_dir(),
                    help="folder of filing HTML files (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per file; the best counts (default 3)")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    ap.add_argument("--no-coverage", action="store_true", help="time only; skip the XBRL coverage")
    ap.add_argument("--check", action="store_true", help="exit 1 if a target is not met")
    a = ap.parse_args(argv)
    if not a.data.is_dir():
        print(f"error: data folder {a.data} does not exist. Pass --data DIR (a folder of 10-K .htm/.html "
              f"files, e.g. ../shared/data/sec/10-K) or set FILINGSTORE_SHARED_DATA to the shared data folder.",
              file=sys.stderr)
        return 2
    paths = find_filings(a.data)
    if not paths:
        print(f"error: no .htm/.html files in {a.data}; pass --data DIR with filings in it", file=sys.stderr)
        return 2
    print(f"ETL benchmark: {len(paths)} filings in {a.data}, best of {a.repeat}, single process")
    results = [bench_file(p, a.repeat, with_coverage=not a.no_coverage) for p in paths]
    speed_lines, speed = speed_table(results)
    print()
    print("\n".join(speed_lines))
    cov_summary: dict = {}
    if not a.no_coverage:
        cov_lines, cov_summary = coverage_table(results)
        print()
        print("\n".join(cov_lines))
        print()
        print("\n".join(misses_report(results)))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({
            "data": str(a.data), "repeat": a.repeat, "files": [r.as_dict() for r in results],
            "total": speed, "coverage": cov_summary,
        }, indent=2, default=str))
        print(f"\nwrote {a.json}")
    ok = speed["met"] and cov_summary.get("met", True)
    return 1 if (a.check and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
