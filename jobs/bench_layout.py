"""Benchmark reading order from CSS positions (etl/layout.py) on real UK accounts.

None of the real accounts is absolutely positioned, so each one is rendered
that way here: its clean blocks in reading order (`sanitize.html_to_blocks`,
tables included) are laid out on A4-like pages of ~50 lines (a blank line
between blocks), prose wrapped at a measured width (Helvetica advance widths),
tables as rows with every cell at its column's left (columns 32 px apart; a
long text cell wraps inside its column), then written as absolutely
positioned HTML with

* one element per word (`word`: px units, page `div`s with `top` offsets, page
  order shuffled in the DOM) or one per line/cell (`line`: pt units, page `div`s
  `position:relative` in normal flow, no offsets);
* +-2 px of jitter on every top and left, about 1.5% of boxes drawn twice
  (+0.6 px: bold emulation), headings larger and sometimes centred, the DOM order
  of the boxes shuffled within each page, hidden content that must stay hidden.

`etl.layout.positioned_blocks` then reads it back and is scored against the
original document text (`documents.document_text`):
  tau    Kendall's tau of the recovered token order (tokens: whitespace-split
         words, the table separator "|" left out; the k-th occurrence of a token
         in the original maps to its k-th occurrence in the recovered text);
         target >= 0.98 per document; `cover` is the share of original tokens
         found at all.
  cells  share of the original tables' non-empty cells (tables of 2+ columns)
         found in the same row and column of the recovered table.
  ms/pg  milliseconds of `positioned_blocks` per rendered page (best of --repeat).
  tau DOM  the same tau for the DOM order (the rendered HTML read by
         `html_to_blocks` as if it flowed): how scrambled the input is.
Stress options (--jitter, --column-gap, --width-scale, --right-align) render
harder variants; the defaults are the benchmark.

Local:
    python -m jobs.bench_layout [--zip-dir ../shared/data/companies_house] [--repeat 3]

On a cluster (runs in the job's driver; the data folder must be there):
    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python -m jobs.bench_layout --zip-dir /shared/data/companies_house
"""
from __future__ import annotations

import argparse
import gc
import html as html_lib
import io
import os
import random
import re
import sys
import time
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from scipy.stats import kendalltau

from etl.documents import document_text
from etl.layout import is_positioned_layout, positioned_blocks
from etl.numbers import strip_markers
from etl.sanitize import Block, TableBlock, TextBlock, html_to_blocks

REPO = Path(__file__).resolve().parents[1]
TARGET_TAU = 0.98
HTML_NAMES = (".html", ".htm", ".xhtml")

# Helvetica advance widths (1/1000 em), the renderer's "true" glyph widths.
_HELVETICA = {
    " ": 278, "!": 278, '"': 355, "#": 556, "$": 556, "%": 889, "&": 667, "'": 191, "(": 333, ")": 333,
    "*": 389, "+": 584, ",": 278, "-": 333, ".": 278, "/": 278, ":": 278, ";": 278, "<": 584, "=": 584,
    ">": 584, "?": 556, "@": 1015, "[": 278, "]": 278, "_": 556, "£": 556, "€": 556, "—": 1000, "–": 556,
    "’": 222, "‘": 222, "“": 333, "”": 333, "…": 1000,
    "A": 667, "B": 667, "C": 722, "D": 722, "E": 667, "F": 611, "G": 778, "H": 722, "I": 278, "J": 500,
    "K": 667, "L": 556, "M": 833, "N": 722, "O": 778, "P": 667, "Q": 778, "R": 722, "S": 667, "T": 611,
    "U": 722, "V": 667, "W": 944, "X": 667, "Y": 667, "Z": 611,
    "a": 556, "b": 556, "c": 500, "d": 556, "e": 556, "f": 278, "g": 556, "h": 556, "i": 222, "j": 222,
    "k": 500, "l": 222, "m": 833, "n": 556, "o": 556, "p": 556, "q": 556, "r": 333, "s": 500, "t": 278,
    "u": 556, "v": 500, "w": 722, "x": 500, "y": 500, "z": 500,
}


def true_width(text: str, fs: float, bold: bool = False) -> float:
    w = sum(_HELVETICA.get(ch, 556) for ch in text) * fs / 1000
    return w * 1.06 if bold else w


# --------------------------------------------------------------------------- data

def default_zip_dir() -> Path:
    shared = os.environ.get("FILINGSTORE_SHARED_DATA")
    base = Path(shared) if shared else REPO.parent / "shared" / "data"
    return base / "companies_house"


def _walk_zip(zf: zipfile.ZipFile, prefix: str, out: list[tuple[str, str]], depth: int) -> None:
    for info in zf.infolist():
        name = info.filename
        if info.is_dir() or "__MACOSX" in name or Path(name).name.startswith("._"):
            continue
        data = zf.read(info)
        if name.lower().endswith(".zip") and depth < 2:
            try:
                _walk_zip(zipfile.ZipFile(io.BytesIO(data)), f"{prefix}{name}!", out, depth + 1)
            except zipfile.BadZipFile:
                continue
        elif name.lower().endswith(HTML_NAMES):
            out.append((f"{prefix}{name}", data.decode("utf-8", errors="replace")))


def read_accounts(zip_dir: Path) -> list[tuple[str, str]]:
    """(path inside the zips, HTML) of every account in the bulk zips, nested zips included."""
    out: list[tuple[str, str]] = []
    for path in sorted(Path(zip_dir).glob("*.zip")):
        with zipfile.ZipFile(path) as zf:
            _walk_zip(zf, f"{path.name}!", out, 0)
    return out


# --------------------------------------------------------------------------- renderer

BODY_FS = 13.0
HEAD_FS = 15.0
MARGIN_TOP = 60.0
MARGIN_LEFT = 70.0
TEXT_WIDTH = 600.0
LINES_PER_PAGE = 50
LABEL_SHARE = 0.6      # a table column other than the last wraps at this share of the measure
MIN_LAST_COLUMN = 120.0
DUPLICATE_SHARE = 0.015
_NUMERIC_CELL = re.compile(r"^[£$€(\-–—]*[\d,.]+\s*\)?%?$|^[-–—]$")


@dataclass(frozen=True)
class RenderOptions:
    """Knobs of the renderer; the defaults are the benchmark's, the others stress it."""
    jitter: float = 2.0          # +- px on every top and left
    column_gap: float = 32.0     # px between a table column's widest cell and the next column
    width_scale: float = 1.0     # glyph widths x this (another font than Helvetica)
    right_align: bool = False    # columns of amounts right-aligned (headers too)


@dataclass
class _VLine:
    pitch: float
    words: list[tuple[float, str, float, bool]]   # (x, text, font size, bold): one per box in `line` mode
    per_word: list[tuple[float, str, float, bool]]  # the same line as word boxes


@dataclass
class Rendered:
    html: str
    pages: int
    boxes: int


def _clean_blocks(blocks: list[Block]) -> list[Block]:
    out: list[Block] = []
    for b in blocks:
        if isinstance(b, TableBlock):
            out.append(TableBlock([[strip_markers(c)[0].strip() for c in row] for row in b.grid]))
        else:
            out.append(TextBlock(strip_markers(b.text)[0]))
    return out


class _Typesetter:
    def __init__(self, opts: RenderOptions, rng: random.Random):
        self.opts = opts
        self.rng = rng

    def width(self, text: str, fs: float, bold: bool = False) -> float:
        return true_width(text, fs, bold) * self.opts.width_scale

    def word_boxes(self, x0: float, text: str, fs: float, bold: bool) -> list[tuple[float, str, float, bool]]:
        out, x = [], x0
        space = self.width(" ", fs, bold)
        for w in text.split():
            out.append((x, w, fs, bold))
            x += self.width(w, fs, bold) + space
        return out

    def wrap(self, text: str, fs: float, bold: bool, width: float) -> list[str]:
        lines, cur, cur_w = [], [], 0.0
        space = self.width(" ", fs, bold)
        for w in text.split():
            ww = self.width(w, fs, bold)
            if cur and cur_w + space + ww > width + 0.01:
                lines.append(" ".join(cur))
                cur, cur_w = [w], ww
            else:
                cur_w = cur_w + space + ww if cur else ww
                cur.append(w)
        if cur:
            lines.append(" ".join(cur))
        return lines

    def line(self, cells: list[tuple[float, str, float, bool]], pitch: float) -> _VLine:
        per_word = [wb for x, t, fs, bold in cells for wb in self.word_boxes(x, t, fs, bold)]
        return _VLine(pitch, cells, per_word)

    def lines(self, blocks: list[Block]) -> list[_VLine | None]:
        """Visual lines in reading order; None is a blank line between blocks."""
        out: list[_VLine | None] = []
        body_pitch = round(BODY_FS * 1.25)
        for b in blocks:
            if out:
                out.append(None)
            if isinstance(b, TextBlock):
                heading = len(b.text.split()) <= 8 and not b.text.rstrip().endswith((".", ":"))
                fs, bold = (HEAD_FS, True) if heading else (BODY_FS, False)
                centred = heading and self.rng.random() < 0.3
                for part in b.text.split("\n"):
                    for line in self.wrap(part, fs, bold, TEXT_WIDTH):
                        w = self.width(line, fs, bold)
                        x = MARGIN_LEFT + (TEXT_WIDTH - w) / 2 if centred else MARGIN_LEFT
                        out.append(self.line([(x, line, fs, bold)], round(fs * 1.25)))
                continue
            grid = b.grid
            width = max((len(r) for r in grid), default=0)
            if width == 1:
                for row in grid:
                    for line in self.wrap(row[0], BODY_FS, False, TEXT_WIDTH):
                        out.append(self.line([(MARGIN_LEFT, line, BODY_FS, False)], body_pitch))
                continue
            # Column widths from the widest cell; a long text column wraps: a label
            # column at LABEL_SHARE of the measure, the last column at the right margin.
            natural = [max((self.width(r[c], BODY_FS) for r in grid if c < len(r)), default=0.0) for c in range(width)]
            col_w = [min(w, LABEL_SHARE * TEXT_WIDTH) for w in natural[:-1]]
            lefts = [MARGIN_LEFT]
            for c in range(width - 1):
                lefts.append(lefts[-1] + col_w[c] + self.opts.column_gap)
            col_w.append(max(MIN_LAST_COLUMN, min(natural[-1], MARGIN_LEFT + TEXT_WIDTH - lefts[-1])))
            # right_align: columns of mostly amounts are right-aligned, headers included
            numeric = [c > 0 and self.opts.right_align and 2 * sum(1 for r in grid if _NUMERIC_CELL.match(r[c]))
                       >= sum(1 for r in grid if r[c]) for c in range(width)]
            for row in grid:
                wrapped = [self.wrap(t, BODY_FS, False, col_w[c]) if t else [] for c, t in enumerate(row)]
                for k in range(max(len(w) for w in wrapped)):
                    cells = []
                    for c, w in enumerate(wrapped):
                        if k < len(w):
                            x = lefts[c]
                            if numeric[c]:
                                x += min(col_w[c], natural[c]) - self.width(w[k], BODY_FS)
                            cells.append((x, w[k], BODY_FS, False))
                    out.append(self.line(cells, body_pitch))
        return out


def _fmt(v: float, unit: str) -> str:
    return f"{v * 0.75:.2f}pt" if unit == "pt" else f"{v:.1f}px"


def render_positioned(blocks: list[Block], mode: str = "word", seed: int = 0,
                      opts: RenderOptions = RenderOptions()) -> Rendered:
    """Absolutely positioned HTML of `blocks` (see the module docstring for the two modes)."""
    rng = random.Random(seed)
    unit = "px" if mode == "word" else "pt"
    vlines = _Typesetter(opts, rng).lines(_clean_blocks(blocks))
    page_h = MARGIN_TOP * 2 + LINES_PER_PAGE * round(BODY_FS * 1.25)
    pages: list[list[str]] = [[]]
    y = MARGIN_TOP
    n_boxes = 0
    j = opts.jitter
    for vl in vlines:
        pitch = round(BODY_FS * 1.25) if vl is None else vl.pitch
        if y + pitch > page_h - MARGIN_TOP:
            pages.append([])
            y = MARGIN_TOP
            if vl is None:
                continue
        if vl is not None:
            for x, text, fs, bold in (vl.per_word if mode == "word" else vl.words):
                top = y + (pitch - fs * 1.2) / 2 + rng.uniform(-j, j)
                left = x + rng.uniform(-j, j)
                style = (f"position:absolute;top:{_fmt(top, unit)};left:{_fmt(left, unit)};"
                         f"font-size:{_fmt(fs, unit)}" + (";font-weight:bold" if bold else ""))
                el = f'<div style="{style}">{html_lib.escape(text)}</div>'
                pages[-1].append(el)
                n_boxes += 1
                if rng.random() < DUPLICATE_SHARE:  # drawn twice, a hair apart (bold emulation)
                    style2 = style.replace(f"top:{_fmt(top, unit)}", f"top:{_fmt(top + 0.3, unit)}").replace(
                        f"left:{_fmt(left, unit)}", f"left:{_fmt(left + 0.6, unit)}")
                    pages[-1].append(f'<div style="{style2}">{html_lib.escape(text)}</div>')
                    n_boxes += 1
        y += pitch
    if not pages[-1]:
        pages.pop()
    divs = []
    for i, els in enumerate(pages):
        rng.shuffle(els)
        if mode == "word":
            style = f"position:absolute;top:{_fmt(i * (page_h + 20), unit)};left:0;width:{_fmt(794, unit)};height:{_fmt(page_h, unit)}"
        else:
            style = f"position:relative;width:{_fmt(794, unit)};height:{_fmt(page_h, unit)};margin-bottom:{_fmt(20, unit)}"
        divs.append(f'<div class="page" style="{style}">{"".join(els)}</div>')
    if mode == "word":
        rng.shuffle(divs)
    html = ("<html><head><title>accounts</title><style>.page{background:#fff}</style></head><body>"
            '<div style="display:none"><ix:header><ix:hidden>hidden 999</ix:hidden></ix:header></div>'
            + "".join(divs) + "</body></html>")
    return Rendered(html, len(pages), n_boxes)


# --------------------------------------------------------------------------- scores

def tokens(blocks: list[Block]) -> list[str]:
    return [t for t in document_text(blocks)[0].split() if t != "|"]


def token_tau(original: list[str], recovered: list[str]) -> tuple[float, float]:
    """Kendall's tau of recovered positions over original positions, and coverage."""
    where: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(recovered):
        where[t].append(i)
    nxt: Counter = Counter()
    xs, ys = [], []
    for i, t in enumerate(original):
        k = nxt[t]
        occ = where.get(t)
        if occ is not None and k < len(occ):
            xs.append(i)
            ys.append(occ[k])
            nxt[t] += 1
    if len(xs) < 2:
        return (1.0 if original == recovered else 0.0), len(xs) / max(1, len(original))
    return float(kendalltau(xs, ys).statistic), len(xs) / len(original)


def _cells(grid: list[list[str]]) -> Counter:
    return Counter(c for row in grid for c in row if c)


def cell_accuracy(original: list[Block], recovered: list[Block]) -> tuple[int, int]:
    """(cells found at the same row and column, non-empty cells) over tables of 2+ columns."""
    rec = [b.grid for b in recovered if isinstance(b, TableBlock)]
    rec_cells = [_cells(g) for g in rec]
    found = total = 0
    for b in _clean_blocks(original):
        if not isinstance(b, TableBlock) or max((len(r) for r in b.grid), default=0) < 2:
            continue
        grid = b.grid
        want = _cells(grid)
        n = sum(want.values())
        total += n
        if not rec:
            continue
        best = max(range(len(rec)), key=lambda j: sum((want & rec_cells[j]).values()))
        other = rec[best]
        index = defaultdict(list)
        for j, row in enumerate(other):
            index[tuple(row)].append(j)
        offsets = {0} | {j - i for i, row in enumerate(grid) for j in index.get(tuple(row), [])}

        def score(dr: int) -> int:
            s = 0
            for i, row in enumerate(grid):
                j = i + dr
                if 0 <= j < len(other):
                    orow = other[j]
                    s += sum(1 for c, t in enumerate(row) if t and c < len(orow) and orow[c] == t)
            return s
        found += max(score(dr) for dr in offsets)
    return found, total


@dataclass
class Result:
    name: str
    mode: str
    pages: int
    boxes: int
    tau: float
    cover: float
    dom_tau: float          # the same score for the DOM order (the rendered HTML read as flow)
    cells_found: int
    cells_total: int
    ms_per_page: float
    detected: bool


def evaluate(name: str, html: str, mode: str, seed: int = 0, repeat: int = 1,
             opts: RenderOptions = RenderOptions()) -> Result:
    original = html_to_blocks(html)
    r = render_positioned(original, mode, seed, opts)
    best = float("inf")
    recovered: list[Block] = []
    for _ in range(max(1, repeat)):
        gc.collect()
        t0 = time.perf_counter()
        recovered = positioned_blocks(r.html)
        best = min(best, time.perf_counter() - t0)
    want = tokens(original)
    tau, cover = token_tau(want, tokens(recovered))
    dom_tau, _ = token_tau(want, tokens(html_to_blocks(r.html)))
    found, total = cell_accuracy(original, recovered)
    return Result(name, mode, r.pages, r.boxes, tau, cover, dom_tau, found, total,
                  1000 * best / max(1, r.pages), is_positioned_layout(r.html))


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zip-dir", type=Path, default=default_zip_dir())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jitter", type=float, default=RenderOptions.jitter, help="+- px on tops and lefts")
    ap.add_argument("--column-gap", type=float, default=RenderOptions.column_gap, help="px between table columns")
    ap.add_argument("--width-scale", type=float, default=RenderOptions.width_scale,
                    help="glyph widths x this (a font other than Helvetica)")
    ap.add_argument("--right-align", action="store_true", help="right-align columns of amounts")
    args = ap.parse_args(argv)
    opts = RenderOptions(args.jitter, args.column_gap, args.width_scale, args.right_align)
    docs = read_accounts(args.zip_dir)
    if not docs:
        print(f"no accounts found under {args.zip_dir}", file=sys.stderr)
        return 2
    print(f"render options: {opts}")
    header = (f"{'document':<44} {'pages':>5} {'boxes w/l':>10} {'tau word':>8} {'tau line':>8} {'cover':>6} "
              f"{'tau DOM':>7} {'cells word':>14} {'cells line':>14} {'ms/pg w':>7} {'ms/pg l':>7}")
    print(header)
    print("-" * len(header))
    results: list[tuple[Result, Result]] = []
    normal_false = 0
    for i, (name, html) in enumerate(docs):
        normal_false += not is_positioned_layout(html)
        w = evaluate(name, html, "word", args.seed + i, args.repeat, opts)
        ln = evaluate(name, html, "line", args.seed + i, args.repeat, opts)
        results.append((w, ln))
        short = name.rsplit("!", 1)[-1]
        short = short if len(short) <= 44 else "…" + short[-43:]
        print(f"{short:<44} {w.pages:>5} {f'{w.boxes}/{ln.boxes}':>10} {w.tau:>8.4f} {ln.tau:>8.4f} "
              f"{min(w.cover, ln.cover):>6.1%} {max(w.dom_tau, ln.dom_tau):>7.3f} "
              f"{f'{w.cells_found}/{w.cells_total} {_pct(w.cells_found, w.cells_total)}':>14} "
              f"{f'{ln.cells_found}/{ln.cells_total} {_pct(ln.cells_found, ln.cells_total)}':>14} "
              f"{w.ms_per_page:>7.2f} {ln.ms_per_page:>7.2f}")
    print("-" * len(header))
    all_r = [r for pair in results for r in pair]
    pages = sum(r.pages for r, _ in results)
    ms_w = sum(r.ms_per_page * r.pages for r, _ in results) / max(1, pages)
    ms_l = sum(r.ms_per_page * r.pages for _, r in results) / max(1, pages)
    cw = (sum(r.cells_found for r, _ in results), sum(r.cells_total for r, _ in results))
    cl = (sum(r.cells_found for _, r in results), sum(r.cells_total for _, r in results))
    print(f"{'TOTAL (' + str(len(docs)) + ' documents)':<44} {pages:>5} "
          f"{f'{sum(r.boxes for r, _ in results)}/{sum(r.boxes for _, r in results)}':>10} "
          f"{min(r.tau for r, _ in results):>8.4f} {min(r.tau for _, r in results):>8.4f} "
          f"{min(r.cover for r in all_r):>6.1%} {max(r.dom_tau for r in all_r):>7.3f} "
          f"{f'{cw[0]}/{cw[1]} {_pct(*cw)}':>14} {f'{cl[0]}/{cl[1]} {_pct(*cl)}':>14} {ms_w:>7.2f} {ms_l:>7.2f}")
    print(f"(TOTAL: tau and cover are the minimum over documents, tau DOM the maximum; "
          f"ms/pg over all pages; target tau >= {TARGET_TAU} per document)")
    below = [f"{r.name} [{r.mode}] {r.tau:.4f}" for r in all_r if r.tau < TARGET_TAU]
    print(f"documents below target: {len(below)}" + "".join(f"\n  {b}" for b in below))
    print(f"is_positioned_layout: real accounts false {normal_false}/{len(docs)}, "
          f"rendered true {sum(r.detected for r in all_r)}/{len(all_r)}")
    return 0 if not below else 1


if __name__ == "__main__":
    sys.exit(main())
