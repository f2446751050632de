"""Build the natural-prose density curve that etl.density scores pages against.

Reads a corpus of prose (HTML through etl.sanitize, text blocks only, no
tables; or plain text split at blank lines), keeps the prose blocks
(etl.density.PROSE_RULE), concatenates them one per line and records, at
log-spaced lengths from 100 B to 1 MB, the median zlib compressed/raw ratio of
windows starting at random line starts. The JSON says what it was built from,
the sample counts per length and the date. With `--validate N` it also holds
out every N-th file, builds a curve from the rest and records how flat the
density of the held-out prose is per length (the figures in `validation`).

Local:
    python -m jobs.build_density_curve --corpus ../shared/data/sec/10-K --out etl/data/density_curve.json \\
        --built-from "prose of the 11 real 10-K filings in shared/data/sec/10-K"

On a cluster (no Ray needed; it runs on the driver):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.build_density_curve --corpus /shared/prose --out /shared/density_curve.json
"""
from __future__ import annotations

import argparse
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from etl.density import (
    MAX_LENGTH, MIN_LENGTH, PROSE_RULE, ZLIB_LEVEL, build_curve, log_spaced_lengths, prose_blocks, window_ratios,
)

HTML_SUFFIXES = (".htm", ".html", ".xhtml", ".htm.gz", ".html.gz", ".xhtml.gz")
TEXT_SUFFIXES = (".txt", ".md", ".text", ".txt.gz")
VALIDATION_LENGTHS = (200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000)


def corpus_files(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*")
                                if f.is_file() and f.name.lower().endswith(HTML_SUFFIXES + TEXT_SUFFIXES)))
        elif p.is_file():
            files.append(p)
        else:
            raise SystemExit(f"--corpus {p}: no such file or folder")
    if not files:
        raise SystemExit(f"--corpus {' '.join(map(str, inputs))}: no .html/.htm/.xhtml/.txt/.md files found")
    return files


def read_prose(path: Path) -> list[str]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        import gzip
        raw = gzip.decompress(raw)
    name = path.name.lower().removesuffix(".gz")
    is_html = name.endswith((".htm", ".html", ".xhtml")) or raw[:2048].lstrip()[:1] == b"<"
    return prose_blocks(raw, is_html)


def validate(docs: dict[str, list[str]], every: int, lengths: list[int], samples: int, seed: int) -> dict:
    """Hold out every `every`-th file, build from the rest, score held-out windows."""
    names = sorted(docs)
    held = names[every - 1::every]
    train = [b for n in names if n not in held for b in docs[n]]
    test = "\n".join(b for n in held for b in docs[n]).encode("utf-8")
    curve = build_curve(train, lengths, samples, seed)
    rng = random.Random(seed + 1)
    buckets = []
    for length in VALIDATION_LENGTHS:
        ratios = window_ratios(test, length, 100, rng, curve.level)
        if not ratios:
            continue
        d = np.log(np.asarray(ratios) / curve.expected(length))
        buckets.append({"length": length, "n": len(ratios), "median": round(float(np.median(d)), 4),
                        "p10": round(float(np.percentile(d, 10)), 4), "p90": round(float(np.percentile(d, 90)), 4)})
    return {"held_out": held, "trained_on": len(names) - len(held), "held_out_bytes": len(test),
            "density_by_length": buckets,
            "max_abs_median": max(abs(b["median"]) for b in buckets) if buckets else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.build_density_curve", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="+", required=True, type=Path,
                    help="folders or files of HTML or plain-text prose")
    ap.add_argument("--out", required=True, type=Path, help="curve JSON to write")
    ap.add_argument("--built-from", default=None, help="what the corpus is, for the JSON's built_from field")
    ap.add_argument("--min-len", type=int, default=MIN_LENGTH)
    ap.add_argument("--max-len", type=int, default=MAX_LENGTH)
    ap.add_argument("--points", type=int, default=25, help="log-spaced lengths (default 25)")
    ap.add_argument("--samples", type=int, default=400, help="windows per length, fewer for long windows (default 400)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--validate", type=int, default=0, metavar="N",
                    help="also hold out every N-th file and record the held-out density per length")
    a = ap.parse_args(argv)

    files = corpus_files(a.corpus)
    docs = {f.name: read_prose(f) for f in files}
    blocks = [b for f in files for b in docs[f.name]]
    lengths = log_spaced_lengths(a.min_len, a.max_len, a.points)
    meta = {
        "built_from": a.built_from or f"prose of {len(files)} files under {', '.join(str(p) for p in a.corpus)}",
        "built_at": datetime.now(timezone.utc).date().isoformat(),
        "files": [f.name for f in files],
        "prose_rule": PROSE_RULE,
        "zlib_level": ZLIB_LEVEL,
        "samples_requested": a.samples,
    }
    curve = build_curve(blocks, lengths, a.samples, a.seed, meta=meta)
    if curve.lengths[-1] < lengths[-1]:
        print(f"warning: corpus ({curve.meta['corpus_bytes']} bytes) too short for lengths above "
              f"{curve.lengths[-1]}; the curve stops there", file=sys.stderr)
    if a.validate > 1:
        curve.meta["validation"] = validate(docs, a.validate, lengths, max(50, a.samples // 4), a.seed)
    curve.save(a.out)
    print(f"wrote {a.out}: {len(curve.lengths)} lengths {curve.lengths[0]}-{curve.lengths[-1]} B from "
          f"{curve.meta['corpus_bytes']:,} bytes of prose in {len(files)} files")
    for length, ratio in zip(curve.lengths, curve.ratios):
        print(f"  {length:>9,} B  ratio {ratio:.4f}")
    if "validation" in curve.meta:
        v = curve.meta["validation"]
        print(f"held-out check ({', '.join(v['held_out'])}): density median per length")
        for b in v["density_by_length"]:
            print(f"  {b['length']:>9,} B  median {b['median']:+.3f}  p10 {b['p10']:+.3f}  p90 {b['p90']:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
