"""Reading order for absolutely positioned HTML, rebuilt from the CSS positions.

Some accounts software writes every line, word or table cell as its own
`position:absolute` element (top/left in px, pt, em, mm ..., often inside
positioned page containers), in whatever DOM order it likes. The design this
project started from printed such HTML to PDF and ran OCR; this module reads the
positions from the CSS instead and returns the same `TextBlock`/`TableBlock`s
as `sanitize.html_to_blocks`, so the rest of the ETL is unchanged.

    is_positioned_layout(html) -> bool        cheap source count, then a parse
    positioned_blocks(html) -> list[Block]
    blocks_if_positioned(html) -> list[Block] | None   both, parsing once

Steps (sorts and sweeps; nothing compares all the boxes of a document pairwise):
1. boxes: each positioned element's own text (the text not inside a positioned
   descendant) becomes one box per line, at its absolute position. Offsets of
   positioned ancestors add up; `position:relative` containers that hold
   positioned children stack in normal flow (pages written one after another
   with no `top`); `bottom` counts up from a sized container. Styles come from
   the inline `style` and simple class rules (`.c{...}`) in `<style>`;
   font-size, em and % resolve against the ancestors. Hidden content goes,
   inline-XBRL facts become sanitize's markers.
2. widths: no box has a width, so it is estimated from its characters (a
   per-character-class table in em) times the font size, calibrated per
   document from adjacent word boxes (next left - left = width + space).
3. pages: positioned containers at the outermost level that has several,
   ordered by their top; without containers, big vertical jumps split pages.
4. lines: boxes sorted by vertical middle, swept into lines with a tolerance of
   half a line height (a few px of jitter stays in its line); in a line, boxes
   sorted by left; the same text drawn twice at (almost) the same place is
   dropped (bold emulation, shadows).
5. phrases: boxes of a line closer than the document's word gap (measured:
   median gap + 4 robust sigmas, about one em) are one phrase.
6. runs: consecutive lines join one run while the pitch stays under 1.45x the
   typical line pitch, the font size holds and no phrase of the new line
   crosses a column edge of the run (nor a phrase of the previous line one of
   the new line's edges). Column edges ("stops") are the lefts phrases share,
   or the rights that short items (amounts) share. An indentation change or a
   paragraph gap therefore starts a new run.
7. blocks: a run whose lines share two or more stops (or a short run with a
   line of widely spaced phrases) is a table: rows are lines, cells are the
   phrases in each column (a left-aligned header and right-aligned amounts
   under it are one column), a line that only continues a wrapped cell joins
   it, and `tables.build_grid` applies the grid rules. If every column holds
   prose (several words per cell) it is multi-column text instead, read column
   by column. Any other run is one paragraph (lines joined by spaces).
8. pages join: a table continued at the top of the next page (same columns),
   a table's first or last row alone on a page, and a sentence running over
   the page break are merged back.

Limits: widths are estimates, so columns closer than ~1.5 em, or fonts far
from the width table with too few word boxes to calibrate on, blur; a
centred or ragged column (not sharing a left or a right edge) is not a
column; rows are lines, so a wrapped label with its amounts on its first line
leaves its second line as a row of its own; rotated text (`transform`) and
hyphenation are not handled; flow text outside positioned elements goes
before or after the positioned content, not between.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from itertools import groupby
from dataclasses import dataclass, field
from statistics import median

from selectolax.lexbor import LexborHTMLParser, LexborNode

from etl.html_source import NOT_GIVEN, NotGiven, lower_of
from etl.sanitize import TableBlock, TextBlock, collapse_ws, remove_outermost
from etl.tables import RawCell, build_grid, visible

Block = TextBlock | TableBlock

MIN_ABSOLUTE = 5          # fewer `position:absolute` than this: not a positioned layout
MIN_TAG_SHARE = 0.05      # ... nor fewer than this share of the source's tags ("<" count)
POSITIONED_SHARE = 0.5    # share of visible characters that must sit in positioned boxes
ROOT_FONT_PX = 16.0
_ROOT_EM = 13.0           # a typical body font size (px), for widths counted in em
PAGE_W_PX = 794.0         # A4 at 96 dpi: the reference for % offsets with no sized container
PAGE_H_PX = 1123.0
PARAGRAPH_GAP = 1.45      # a line pitch over this many typical pitches starts a new block
PHRASE_GAP_EM = 1.0       # boxes closer than this (estimated) are one phrase, unless measured
STRONG_MARGIN_EM = 0.2    # a phrase this much further than that from the one before may start a column
WIDE_GAP_EM = 1.5         # a lone line whose phrases are all this far apart is a table row
RIGHT_ALIGNED_EM = 10.0   # items up to this wide may align on their right edge (amounts)
WRAPPED_WORDS = 5         # a cell line this long that reaches its column's edge may wrap on
PROSE_WORDS = 4           # columns whose cells have this many words (median) are text columns

BLOCK = "\x05"
SEGMENT = "\x06"          # where a top-level positioned element stood (flow text before/after)
LINE_BREAK = "\x07"

_BLOCK_TAG_RE = re.compile(
    r"</?(?:p|div|h[1-6]|li|ul|ol|dl|dt|dd|blockquote|section|article|header|footer|center|pre|address"
    r"|figure|figcaption|caption|form|fieldset|nav|aside|main|hr|table|tr)\b",
    re.IGNORECASE,
)
_CELL_TAG_RE = re.compile(r"<t[dh]\b", re.IGNORECASE)
_BR_RE = re.compile(r"<br\b[^>]*>", re.IGNORECASE)
_INPUT_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f]")
_ABSOLUTE_RE = re.compile(r"position\s*:\s*(?:absolute|fixed)", re.IGNORECASE)
_STYLE_OPEN_RE = re.compile(r"<style\b[^>]*>", re.IGNORECASE)
_CLASS_ABSOLUTE_RE = re.compile(r"\{[^{}]*position\s*:\s*(?:absolute|fixed)", re.IGNORECASE)
_DECL_RE = re.compile(r"([A-Za-z-]+)\s*:\s*([^;]*)")
_LENGTH_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-z%]*)$")
_FONT_SIZE_IN_FONT_RE = re.compile(r"(?:^|\s)([+-]?(?:\d+\.?\d*|\.\d+)(?:px|pt|em|rem|%|pc|mm|cm|in))(?:\s*/\s*(\S+))?")
_RULE_RE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_CLASS_SELECTOR_RE = re.compile(r"^[A-Za-z0-9]*\.([A-Za-z0-9_-]+)$")
_COMMENT_RE = re.compile(r"/\*.*?\*/", re.DOTALL)
_STYLE_BLOCK_RE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_HIDDEN_SELECTOR = ("head,script,style,noscript,template,ix\\:header,xbrli\\:context,"
                    "[style*='none' i],[style*='hidden' i],[hidden]")
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_TERMINAL = (".", ":", "!", "?", ";")
_AMOUNT_RE = re.compile(r"^[(\-–—£$€]*\d[\d,.]*\)?%?$|^[-–—]$")

_ABS_UNITS = {"": 1.0, "px": 1.0, "pt": 96 / 72, "pc": 16.0, "in": 96.0, "cm": 96 / 2.54,
              "mm": 96 / 25.4, "q": 96 / 101.6}
_FONT_KEYWORDS = {"xx-small": 9.0, "x-small": 10.0, "small": 13.0, "medium": 16.0, "large": 18.0,
                  "x-large": 24.0, "xx-large": 32.0, "xxx-large": 48.0}
_STYLE_PROPS = frozenset({"position", "top", "left", "bottom", "right", "width", "height", "font-size",
                          "font", "line-height", "display", "visibility"})

# Advance widths in em by character class (sans-serif text faces are within ~10%
# of these); a per-document factor calibrates them (see _calibrate).
_NARROW = frozenset("ijlI.,:;'!|()[]{}/\\`ftr-‘’\u00a0")
_WIDE = frozenset("mwMW@%…—")
_WIDTH_CACHE: dict[str, float] = {}


def _char_em(ch: str) -> float:
    w = _WIDTH_CACHE.get(ch)
    if w is None:
        if ch == " ":
            w = 0.28
        elif ch in _NARROW:
            w = 0.29
        elif ch in _WIDE:
            w = 0.86
        elif ch.isdigit():
            w = 0.556
        elif ch.isupper():
            w = 0.69
        else:
            w = 0.52
        _WIDTH_CACHE[ch] = w
    return w


def text_em(text: str) -> float:
    """Estimated advance width of `text` in em (markers excluded)."""
    return sum(_char_em(ch) for ch in text)


# --------------------------------------------------------------------------- CSS

def _declarations(style: str) -> dict[str, str]:
    out = {}
    for k, v in _DECL_RE.findall(style):
        k = k.lower()
        if k in _STYLE_PROPS:
            out[k] = v.strip().lower().replace("!important", "").strip()
    return out


def _class_rules(html: str) -> dict[str, dict[str, str]]:
    """Declarations of simple class selectors (`.c`, `div.c`) in <style> blocks."""
    rules: dict[str, dict[str, str]] = {}
    for css in _STYLE_BLOCK_RE.findall(html):
        for selectors, body in _RULE_RE.findall(_COMMENT_RE.sub("", css)):
            decls = _declarations(body)
            if not decls:
                continue
            for sel in selectors.split(","):
                m = _CLASS_SELECTOR_RE.match(sel.strip().rsplit("}", 1)[-1].strip())
                if m:
                    rules.setdefault(m.group(1), {}).update(decls)
    return rules


def _length(value: str | None, fs: float, ref: float | None = None) -> float | None:
    """A CSS length in px; None when absent, `auto` or unresolvable."""
    if not value:
        return None
    m = _LENGTH_RE.match(value)
    if not m:
        return None
    n = float(m.group(1))
    unit = m.group(2)
    scale = _ABS_UNITS.get(unit)
    if scale is not None:
        return n * scale
    if unit == "em":
        return n * fs
    if unit == "rem":
        return n * ROOT_FONT_PX
    if unit in ("ex", "ch"):
        return n * fs * 0.5
    if unit == "%":
        return n * ref / 100 if ref is not None else None
    if unit == "vh":
        return n * PAGE_H_PX / 100
    if unit == "vw":
        return n * PAGE_W_PX / 100
    return None


def _font_size(decls: dict[str, str], parent_fs: float) -> float:
    value = decls.get("font-size")
    if value is None and "font" in decls:
        m = _FONT_SIZE_IN_FONT_RE.search(decls["font"])
        value = m.group(1) if m else None
    if value is None:
        return parent_fs
    if value in _FONT_KEYWORDS:
        return _FONT_KEYWORDS[value]
    if value == "smaller":
        return parent_fs / 1.2
    if value == "larger":
        return parent_fs * 1.2
    px = _length(value, parent_fs, parent_fs)
    return px if px is not None and px > 0 else parent_fs


def _line_height(decls: dict[str, str], fs: float) -> float | None:
    value = decls.get("line-height")
    if value is None and "font" in decls:
        m = _FONT_SIZE_IN_FONT_RE.search(decls["font"])
        value = m.group(2) if m and m.group(2) else None
    if not value or value == "normal":
        return None
    try:
        return float(value) * fs  # unitless: a multiple of the font size
    except ValueError:
        px = _length(value, fs, fs)
        return px if px is not None and px > 0 else None


# --------------------------------------------------------------------------- boxes

@dataclass(slots=True)
class _El:
    """One positioned element (or relative container candidate)."""
    node: LexborNode
    parent: int
    absolute: bool
    fs: float
    lh: float | None
    left: float | None
    top: float | None
    right: float | None
    bottom: float | None
    width: float | None
    height: float | None
    children: list[int] = field(default_factory=list)
    text_fs: float | None = None
    lines: list[str] = field(default_factory=list)
    kept: bool = True
    h: float = 0.0
    lx: float = 0.0
    ly: float = 0.0
    gx: float = 0.0
    gy: float = 0.0


@dataclass(slots=True)
class Box:
    """One line of text at an absolute position (px, top-left origin)."""
    text: str           # may hold inline-XBRL markers
    x: float
    y: float
    fs: float
    lh: float
    order: int          # DOM order: the last tie-break
    width_cap: float | None = None
    em: float = 0.0     # estimated width in em
    w: float = 0.0      # estimated width in px (after calibration)
    page: int = 0
    amount: bool = False  # looks like an amount (may be right-aligned)

    @property
    def mid(self) -> float:
        return self.y + self.lh / 2


@dataclass
class Collected:
    boxes: list[Box]
    leading: list[str]      # flow text (not positioned) before the first positioned element
    trailing: list[str]     # flow text after it
    pages: list[tuple[float, float]]  # (top, bottom) of page containers, in reading order


def _hidden(node: LexborNode, rules: dict[str, dict[str, str]]) -> bool:
    tag = node.tag or ""
    if tag in ("head", "script", "style", "noscript", "template", "ix:header", "xbrli:context"):
        return True
    attrs = node.attributes
    if "hidden" in attrs and tag != "input":
        return True
    if _HIDDEN_STYLE_RE.search(attrs.get("style") or ""):
        return True
    if rules and attrs.get("class"):
        for c in (attrs.get("class") or "").split():
            r = rules.get(c)
            if r and (r.get("display") == "none" or r.get("visibility") == "hidden"):
                return True
    return False


def _prepare(html: str | bytes) -> tuple[LexborHTMLParser, dict[str, dict[str, str]]]:
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    html = _INPUT_CONTROLS.sub("", html)
    rules = _class_rules(html) if "<style" in html.lower() else {}
    marked = _BLOCK_TAG_RE.sub(BLOCK + "\\g<0>", html)
    marked = _CELL_TAG_RE.sub(" \\g<0>", marked)
    tree = LexborHTMLParser(_BR_RE.sub(LINE_BREAK, marked))
    hidden_sel = _HIDDEN_SELECTOR + (",[class]" if any(
        r.get("display") == "none" or r.get("visibility") == "hidden" for r in rules.values()) else "")
    remove_outermost([n for n in tree.css(hidden_sel) if _hidden(n, rules)])
    # Inline-XBRL facts become the marker text sanitize uses (numbers.strip_markers reads it).
    facts = tree.css("ix\\:nonfraction")
    for n in reversed(facts):
        a = n.attributes
        text = visible(n.text(deep=True) or "")
        n.replace_with(f"\x01{a.get('scale') or 0}|{a.get('format') or ''}\x02{text}\x03")
    return tree, rules


def _split_lines(text: str) -> list[str]:
    out = []
    for part in text.replace(LINE_BREAK, BLOCK).split(BLOCK):
        t = collapse_ws(part)
        if t and visible(t).strip():
            out.append(t)
    return out


def collect_boxes(html: str | bytes) -> Collected:
    """Every positioned text line with its absolute position, and the flow text."""
    tree, rules = _prepare(html)
    root = tree.body or tree.root
    if root is None:
        return Collected([], [], [], [])
    selector = "[style],[class]" if rules else "[style]"
    els: list[_El] = []
    # mem_id -> (font size, index of the nearest positioned element at or above it)
    info: dict[int, tuple[float, int]] = {}
    for node in root.css(selector):
        mid = node.mem_id
        if mid in info:
            continue  # matched twice by the selector list
        attrs = node.attributes
        decls: dict[str, str] = {}
        if rules:
            for c in (attrs.get("class") or "").split():
                r = rules.get(c)
                if r:
                    decls.update(r)
        style = attrs.get("style")
        if style:
            decls.update(_declarations(style))
        p = node.parent
        while p is not None and p.mem_id not in info:
            p = p.parent
        parent_fs, anc = info[p.mem_id] if p is not None else (ROOT_FONT_PX, -1)
        fs = _font_size(decls, parent_fs) if decls else parent_fs
        position = decls.get("position", "")
        if position in ("absolute", "fixed", "relative"):
            cw = ch = None
            if anc >= 0:
                cw, ch = els[anc].width, els[anc].height
            cw = cw if cw is not None else PAGE_W_PX
            ch = ch if ch is not None else PAGE_H_PX
            el = _El(node, anc, position != "relative", fs, _line_height(decls, fs),
                     _length(decls.get("left"), fs, cw), _length(decls.get("top"), fs, ch),
                     _length(decls.get("right"), fs, cw), _length(decls.get("bottom"), fs, ch),
                     _length(decls.get("width"), fs, cw), _length(decls.get("height"), fs, ch))
            idx = len(els)
            els.append(el)
            if anc >= 0:
                els[anc].children.append(idx)
            info[mid] = (fs, idx)
        else:
            info[mid] = (fs, anc)
            if anc >= 0 and ("font-size" in decls or "font" in decls) and els[anc].text_fs is None:
                els[anc].text_fs = fs  # a styled span inside a box sets the box's text size

    # A relative element that positions nothing is an inline nudge, not a box.
    for i in range(len(els) - 1, -1, -1):
        el = els[i]
        if not el.absolute and not el.children:
            el.kept = False
            if el.parent >= 0:
                els[el.parent].children.remove(i)

    # Own text, innermost first: a processed element leaves the tree.
    for el in reversed(els):
        if not el.kept:
            continue
        el.lines = _split_lines(el.node.text(deep=True, separator="") or "")
        if el.parent < 0:
            el.node.replace_with(SEGMENT)
        else:
            el.node.decompose()

    def lh_of(el: _El) -> float:
        return el.lh if el.lh is not None else 1.2 * (el.text_fs or el.fs)

    # Heights and local positions, children before parents (reverse DOM order).
    def place(children: list[int], parent_h: float | None, own_h: float) -> float:
        cursor = own_h
        extent = own_h
        for ci in children:
            c = els[ci]
            if c.left is not None:
                c.lx = c.left
            elif c.right is not None:
                c.lx = -c.right - (c.width or 0.0)
            if c.absolute and c.top is not None:
                c.ly = c.top
            elif c.absolute and c.bottom is not None:
                c.ly = (parent_h - c.bottom - c.h) if parent_h is not None else -(c.bottom + c.h)
            else:  # relative, or absolute at its static position: in the flow
                c.ly = cursor + (c.top if c.top is not None else -(c.bottom or 0.0))
                cursor += c.h
            extent = max(extent, c.ly + c.h)
        return extent

    for el in reversed(els):
        if not el.kept:
            continue
        own_h = len(el.lines) * lh_of(el)
        extent = place(el.children, el.height, own_h) if el.children else own_h
        el.h = el.height if el.height is not None else extent
    top_level = [i for i, el in enumerate(els) if el.kept and el.parent < 0]
    place(top_level, None, 0.0)
    for el in els:  # parents come first in DOM order
        if not el.kept:
            continue
        if el.parent >= 0:
            par = els[el.parent]
            if el.left is None and el.right is not None and par.width is not None:
                el.lx = par.width - el.right - (el.width or 0.0)
            el.gx, el.gy = par.gx + el.lx, par.gy + el.ly
        else:
            el.gx, el.gy = el.lx, el.ly

    boxes: list[Box] = []
    for i, el in enumerate(els):
        if not el.kept or not el.lines:
            continue
        fs = el.text_fs or el.fs
        lh = lh_of(el)
        cap = el.width if len(el.lines) == 1 else None
        for k, line in enumerate(el.lines):
            boxes.append(Box(line, el.gx, el.gy + k * lh, fs, lh, len(boxes), cap))

    # Page containers: the outermost level of positioned containers with several members.
    level = [i for i in top_level if els[i].children]
    while len(level) == 1:
        level = [c for c in els[level[0]].children if els[c].children]
    pages = sorted(((els[i].gy, els[i].gy + els[i].h) for i in level), key=lambda p: p[0]) if len(level) > 1 else []

    text = root.text(deep=True, separator="") or ""
    head, _, tail = text.partition(SEGMENT)
    leading = _flow_blocks(head)
    trailing = _flow_blocks(tail.replace(SEGMENT, BLOCK))
    return Collected(boxes, leading, trailing, pages)


def _flow_blocks(text: str) -> list[str]:
    out = []
    for part in text.split(BLOCK):
        lines = [collapse_ws(x) for x in part.split(LINE_BREAK)]
        t = "\n".join(x for x in lines if visible(x).strip())
        if t:
            out.append(t)
    return out


# --------------------------------------------------------------------------- layout

@dataclass(slots=True)
class _Phrase:
    boxes: list[Box]
    left: float
    right: float
    fs: float
    strong: bool = True     # first in its line or after a clear gap: it may start a column

    def text(self) -> str:
        return _join(self.boxes)


@dataclass(slots=True)
class _Line:
    boxes: list[Box]
    y: float
    lh: float
    fs: float
    phrases: list[_Phrase] = field(default_factory=list)

    @property
    def left(self) -> float:
        return self.boxes[0].x

    @property
    def right(self) -> float:
        return max(b.x + b.w for b in self.boxes)


@dataclass(slots=True)
class _Ctx:
    pitch: float            # typical distance between the tops of consecutive lines
    gap_em: float           # boxes closer than this are one phrase
    strong_em: float        # a phrase this far from the one before may start a column


@dataclass(slots=True)
class _Stop:
    """A column edge: the phrases that start at one left, or end at one right (numbers)."""
    lsum: float
    rsum: float
    n: int
    lo: float               # leftmost and rightmost extent of its phrases
    hi: float
    support: int = 1        # lines with a phrase here
    last: int = 0           # the last of those lines
    wmax: float = 0.0       # the widest of its phrases

    @property
    def left(self) -> float:
        return self.lsum / self.n

    @property
    def right(self) -> float:
        return self.rsum / self.n

    def hit(self, left: float, right: float, fs: float) -> bool:
        """Does a phrase or box with these edges belong to this column?"""
        tol = _tol(fs)
        if abs(left - self.left) <= tol:
            return True
        # Right-aligned: short items (amounts) ending at the right edge of a column of short items.
        w = right - left
        limit = RIGHT_ALIGNED_EM * fs
        return (w <= limit and self.wmax <= limit and abs(right - self.right) <= tol + 0.05 * w
                and left < self.hi)

    def take(self, left: float, right: float, line: int) -> None:
        self.lsum += left
        self.rsum += right
        self.n += 1
        self.lo = min(self.lo, left)
        self.hi = max(self.hi, right)
        self.wmax = max(self.wmax, right - left)
        if line != self.last:
            self.support += 1
            self.last = line


def _new_stop(left: float, right: float, line: int = 0) -> _Stop:
    return _Stop(left, right, 1, left, right, 1, line, right - left)


@dataclass(slots=True)
class _Cell:
    left: float
    right: float
    text: str
    fs: float
    first_w: float          # estimated width of its first word
    words: int
    line_words: int = 0     # words on its last line


@dataclass
class _Out:
    block: Block
    left: float
    fs: float
    stops: list[list[_Stop]] = field(default_factory=list)  # a table's columns
    rows: list[list[_Cell]] = field(default_factory=list)
    lines: list[_Line] = field(default_factory=list)


def _join(boxes: list[Box]) -> str:
    parts = [boxes[0].text]
    for a, b in zip(boxes, boxes[1:]):
        # Glyph-per-element output: single characters that touch are one word.
        if len(a.text) == 1 and len(b.text) == 1 and b.x - (a.x + a.w) < 0.15 * b.fs:
            parts.append(b.text)
        else:
            parts.append(" " + b.text)
    return "".join(parts)


def _lines(boxes: list[Box]) -> list[_Line]:
    """Boxes -> lines: a sweep over the vertical middles; duplicates dropped."""
    boxes = sorted(boxes, key=lambda b: (b.mid, b.x, b.order))
    groups: list[list[Box]] = []
    cur: list[Box] = []
    anchor = anchor_lh = 0.0
    for b in boxes:
        if cur and b.mid - anchor <= 0.5 * max(anchor_lh, b.lh):
            cur.append(b)
        else:
            cur = [b]
            groups.append(cur)
            anchor, anchor_lh = b.mid, b.lh
    # A line cut by a jittered box at the tolerance's edge: rejoin groups whose middles agree.
    merged: list[list[Box]] = []
    mids: list[float] = []
    for g in groups:
        m = median(b.mid for b in g)
        if merged and m - mids[-1] < 0.5 * max(b.lh for b in g):
            merged[-1].extend(g)
            mids[-1] = median(b.mid for b in merged[-1])
        else:
            merged.append(g)
            mids.append(m)
    lines = []
    for g in merged:
        g.sort(key=lambda b: (b.x, b.order))
        kept: list[Box] = []
        for b in g:
            if any(k.text == b.text and abs(k.x - b.x) < 0.5 * b.fs for k in kept[-3:]):
                continue  # the same text drawn twice
            kept.append(b)
        main = max(kept, key=lambda b: len(b.text))
        lines.append(_Line(kept, min(b.y for b in kept), max(b.lh for b in kept), main.fs))
    return lines


def _calibrate(lines: list[_Line]) -> float:
    """Factor on the width table from adjacent single-word boxes: next.left - left = width + space."""
    ratios = []
    for ln in lines:
        bs = ln.boxes
        for a, b in zip(bs, bs[1:]):
            if " " in a.text or len(a.text) < 2 or a.em <= 0:
                continue
            r = (b.x - a.x - 0.28 * a.fs) / (a.em * a.fs)
            if 0.6 < r < 1.6:
                ratios.append(r)
        if len(ratios) > 4000:
            break
    return min(1.3, max(0.75, median(ratios))) if len(ratios) >= 8 else 1.0


def _phrase_gap(lines: list[_Line]) -> float:
    """The gap (em) above which boxes are separate phrases: the word space plus its noise.

    From the gaps between adjacent boxes of a line (word boxes: one space each,
    off by the width estimate's error): median + max(0.45 em, 4 robust sigmas).
    """
    gaps = []
    for ln in lines:
        bs = ln.boxes
        for a, b in zip(bs, bs[1:]):
            g = (b.x - a.x - a.w) / b.fs
            if -1.0 < g < 1.5:
                gaps.append(g)
        if len(gaps) > 4000:
            break
    if len(gaps) < 30:
        return PHRASE_GAP_EM
    med = median(gaps)
    mad = median(abs(g - med) for g in gaps)
    return min(1.5, max(0.6, med + max(0.45, 4 * 1.4826 * mad)))


def _phrases(line: _Line, ctx: _Ctx) -> None:
    out: list[_Phrase] = []
    cur: _Phrase | None = None
    for b in line.boxes:
        right = b.x + b.w
        gap = b.x - cur.right if cur is not None else 0.0
        if cur is not None and gap < ctx.gap_em * b.fs:
            cur.boxes.append(b)
            cur.right = max(cur.right, right)
        else:
            cur = _Phrase([b], b.x, right, b.fs, cur is None or gap >= ctx.strong_em * b.fs)
            out.append(cur)
    line.phrases = out


def _tol(fs: float) -> float:
    return max(6.0, 0.6 * fs)


def _box_hits(b: Box, s: _Stop) -> bool:
    """A box inside a phrase starts a column: it starts at a column's left, or is an
    amount ending at a right-aligned column's right."""
    if abs(b.x - s.left) <= _tol(b.fs):
        return True
    return b.amount and s.hit(b.x, b.x + b.w, b.fs)


def _crosses(ph: _Phrase, s: _Stop) -> bool:
    """The phrase runs over the column edge without belonging to that column or a box starting there."""
    if s.hit(ph.left, ph.right, ph.fs):
        return False
    x = s.lo
    if ph.left >= x - _tol(ph.fs):
        return False
    if ph.right <= x + 0.5 * ph.fs + 0.15 * ph.boxes[-1].w:
        return False
    return not any(_box_hits(b, s) for b in ph.boxes[1:])


class _Run:
    """Consecutive compatible lines and the column edges (stops) of their phrases."""

    def __init__(self, lines: list[_Line] | None = None):
        self.lines: list[_Line] = []
        self.stops: list[_Stop] = []
        self.prose: bool | None = None  # cached _prose_columns
        for ln in lines or ():
            self.add(ln)

    def add(self, line: _Line) -> None:
        self.prose = None
        n = len(self.lines)
        self.lines.append(line)
        for ph in line.phrases:
            if not ph.strong:
                continue
            for s in self.stops:
                if s.hit(ph.left, ph.right, ph.fs):
                    s.take(ph.left, ph.right, n)
                    break
            else:
                self.stops.append(_new_stop(ph.left, ph.right, n))

    def supported(self) -> list[_Stop]:
        return sorted((s for s in self.stops if s.support >= 2), key=lambda s: s.lo)

    def accepts(self, line: _Line, ctx: _Ctx) -> bool:
        prev = self.lines[-1]
        ref = min(ctx.pitch, 1.3 * max(prev.lh, line.lh))
        if line.y - prev.y > PARAGRAPH_GAP * ref:
            return False
        if abs(line.fs - prev.fs) > 0.12 * max(line.fs, prev.fs):
            return False
        if any(_crosses(ph, s) for ph in line.phrases for s in self.stops):
            # A paragraph's first line may be indented: its second line starts left of it.
            return (len(self.lines) == 1 and len(prev.phrases) == 1 and len(line.phrases) == 1
                    and prev.left - 4 * line.fs < line.left < prev.left
                    and line.right >= prev.right - 2 * line.fs)
        edges = [_new_stop(q.left, q.right) for q in line.phrases if q.strong]
        return not any(_crosses(ph, s) for ph in prev.phrases for s in edges)


def _split_at_stops(line: _Line, stops: list[_Stop]) -> list[_Phrase]:
    """Phrases of a line, also cut where a box starts (or a short box ends) at a column stop."""
    if not stops:
        return line.phrases
    out = []
    for ph in line.phrases:
        cur = None
        for b in ph.boxes:
            if cur is None or any(_box_hits(b, s) for s in stops):
                cur = _Phrase([b], b.x, b.x + b.w, b.fs)
                out.append(cur)
            else:
                cur.boxes.append(b)
                cur.right = max(cur.right, b.x + b.w)
    return out


def _cell(ph: _Phrase) -> _Cell:
    text = ph.text()
    first = ph.boxes[0]
    words = visible(first.text).split()
    first_w = first.w * (len(words[0]) / max(1, len(visible(first.text)))) if words else 0.0
    n = len(visible(text).split())
    return _Cell(ph.left, ph.right, text, ph.fs, first_w, n, n)


_Col = list[_Stop]  # one table column: its left-aligned and right-aligned edges


def _columns(stops: list[_Stop]) -> list[_Col]:
    """Stops grouped into columns: a left edge (headers) and a right edge (amounts)
    of short items whose extents overlap are one column."""
    cols: list[_Col] = []
    lo = hi = 0.0
    short = False
    for s in sorted(stops, key=lambda s: s.lo):
        s_short = s.wmax <= RIGHT_ALIGNED_EM * _ROOT_EM
        # Extents up to the mean right edge: one over-long item does not make a column overlap the next.
        if cols and short and s_short and min(hi, s.right) - max(lo, s.lo) >= 0.3 * min(hi - lo, s.right - s.lo) > 0:
            cols[-1].append(s)
            hi = max(hi, s.right)
        else:
            cols.append([s])
            lo, hi, short = s.lo, s.right, s_short
    return cols


def _column(left: float, right: float, fs: float, cols: list[_Col]) -> int:
    """Index of the column an item belongs to (columns in left-to-right order)."""
    tol = _tol(fs)
    for i, col in enumerate(cols):
        if any(abs(left - s.left) <= tol for s in col):
            return i
    for i, col in enumerate(cols):
        if any(s.hit(left, right, fs) for s in col):
            return i
    best, best_overlap = -1, 0.0
    for i, col in enumerate(cols):
        overlap = min(right, max(s.hi for s in col)) - max(left, min(s.lo for s in col))
        if overlap > best_overlap:
            best, best_overlap = i, overlap
    if best >= 0:
        return best
    return max(0, bisect_right([min(s.lo for s in col) for col in cols], left + tol) - 1)


def _grid_rows(rows: list[list[_Cell]], stops: list[_Col]) -> list[list[RawCell]]:
    """Cells placed in the columns of their stops; a wrapped cell's next lines join it.

    A line whose only cell continues the previous row's last cell, where that
    cell's last line has several words and ran to the column's right edge (the
    rightmost any cell of the column reaches, less the next word), is that
    cell's next line, unless a sentence ended there and a capital follows.
    """
    placed: list[dict[int, _Cell]] = []
    colmax = [0.0] * len(stops)
    for cells in rows:
        row: dict[int, _Cell] = {}
        for c in cells:
            k = _column(c.left, c.right, c.fs, stops)
            if k in row:
                o = row[k]
                row[k] = _Cell(o.left, max(o.right, c.right), f"{o.text} {c.text}", o.fs, o.first_w,
                               o.words + c.words, o.line_words + c.line_words)
            else:
                row[k] = c
            colmax[k] = max(colmax[k], row[k].right)
        placed.append(row)
    table: list[dict[int, _Cell]] = []
    for row in placed:
        if table and len(row) == 1:
            (k, c), = row.items()
            prev = table[-1]
            p = prev.get(k)
            if (p is not None and max(prev) == k and p.line_words >= WRAPPED_WORDS
                    and p.right >= colmax[k] - c.first_w - c.fs
                    and not (visible(p.text).rstrip().endswith(_TERMINAL) and visible(c.text)[:1].isupper())):
                prev[k] = _Cell(p.left, c.right, f"{p.text} {c.text}", p.fs, p.first_w, p.words + c.words, c.line_words)
                continue
        table.append(dict(row))
    return [[RawCell(row[k].text) if k in row else RawCell("") for k in range(len(stops))] for row in table]


def _emit(run: _Run, ctx: _Ctx, depth: int, out: list[_Out]) -> None:
    lines = run.lines
    supported = run.supported()
    if len(supported) >= 2 and len(lines) > 1:
        # Lines that run over a column stop (prose above or below a table) are not rows.
        spanning = [any(_crosses(ph, s) for ph in ln.phrases for s in supported) for ln in lines]
        if any(spanning) and not all(spanning):
            for _, group in groupby(zip(lines, spanning), key=lambda t: t[1]):
                _emit(_Run([ln for ln, _ in group]), ctx, depth, out)
            return
        if all(spanning):  # every line runs over the stops: prose with chance alignments
            _emit_text(lines, out)
            return
    stops = _columns(run.stops)
    cells = [_split_at_stops(ln, supported) for ln in lines]
    multi = sum(1 for c in cells if len(c) > 1)

    def wide(c: list[_Phrase]) -> bool:
        return len(c) > 1 and all(b.left - a.right >= WIDE_GAP_EM * b.fs for a, b in zip(c, c[1:])) and (
            len(lines) <= 3 or all(any(s.hit(p.left, p.right, p.fs) for s in supported) for p in c[1:]))

    if (len(supported) >= 2 and multi >= 2) or (len(stops) >= 2 and any(wide(c) for c in cells)):
        if depth == 0 and _prose_columns(run):
            _emit_columns(lines, supported, ctx, depth, out)
            return
        rows = [[_cell(ph) for ph in c] for c in cells]
        grid = build_grid(_grid_rows(rows, stops))
        if grid:
            out.append(_Out(TableBlock(grid), lines[0].left, lines[0].fs, stops, rows))
        return
    _emit_text(lines, out)


def _emit_text(lines: list[_Line], out: list[_Out]) -> None:
    text = " ".join(" ".join(ph.text() for ph in ln.phrases) for ln in lines)
    out.append(_Out(TextBlock(text), lines[0].left, lines[0].fs, lines=lines))


def _prose_columns(run: _Run) -> bool:
    """Two or more column stops whose cells are mostly several words: text columns."""
    if run.prose is None:
        run.prose = _is_prose_columns(run)
    return run.prose


def _is_prose_columns(run: _Run) -> bool:
    stops = run.supported()
    if len(stops) < 2:
        return False
    words: list[list[int]] = [[] for _ in stops]
    for ln in run.lines:
        for ph in _split_at_stops(ln, stops):
            words[_column(ph.left, ph.right, ph.fs, [[s] for s in stops])].append(len(visible(ph.text()).split()))
    return all(w and median(w) >= PROSE_WORDS for w in words)


def _emit_columns(lines: list[_Line], stops: list[_Stop], ctx: _Ctx, depth: int, out: list[_Out]) -> None:
    """Multi-column text: each column's boxes are laid out on their own, left to right."""
    per_col: list[list[Box]] = [[] for _ in stops]
    for ln in lines:
        for ph in _split_at_stops(ln, stops):
            per_col[_column(ph.left, ph.right, ph.fs, [[s] for s in stops])].extend(ph.boxes)
    for boxes in per_col:
        if boxes:
            _layout(boxes, ctx, depth + 1, out)


def _layout(boxes: list[Box], ctx: _Ctx, depth: int, out: list[_Out], lines: list[_Line] | None = None) -> None:
    if lines is None:
        lines = _lines(boxes)
        for ln in lines:
            _phrases(ln, ctx)
    runs: list[_Run] = []
    for ln in lines:
        if runs and runs[-1].accepts(ln, ctx):
            runs[-1].add(ln)
        else:
            runs.append(_Run([ln]))
    # Text columns interrupted by a gap in both columns at once are still one region.
    merged: list[_Run] = []
    for r in runs:
        if merged and depth == 0 and _prose_columns(merged[-1]) and _prose_columns(r) and _same_stops(
                merged[-1].supported(), r.supported()):
            for ln in r.lines:
                merged[-1].add(ln)
        else:
            merged.append(r)
    for r in merged:
        _emit(r, ctx, depth, out)


def _same_stops(a: list[_Stop], b: list[_Stop]) -> bool:
    return len(a) == len(b) and all(abs(x.left - y.left) <= 2 * _tol(ROOT_FONT_PX) for x, y in zip(a, b))


def _pitch(lines: list[_Line]) -> float:
    """The typical line pitch: the lowest cluster of distances between consecutive lines."""
    deltas = sorted(b.y - a.y for a, b in zip(lines, lines[1:]) if b.y - a.y >= 0.75 * a.lh)
    if not deltas:
        return median(ln.lh for ln in lines) if lines else 19.2
    low = deltas[len(deltas) // 10]
    return median(d for d in deltas if d <= 1.3 * low)


def _assign_pages(boxes: list[Box], pages: list[tuple[float, float]]) -> int:
    """Page index per box; returns the page count."""
    if pages:
        starts = [p[0] for p in pages]
        for b in boxes:
            b.page = max(0, bisect_right(starts, b.mid) - 1)
        return len(pages)
    if not boxes:
        return 0
    order = sorted(boxes, key=lambda b: b.y)
    fs = median(b.fs for b in order)
    page = 0
    bottom = order[0].y
    for b in order:
        if b.y - bottom > 5 * fs:  # a jump bigger than any paragraph gap: next page
            page += 1
        b.page = page
        bottom = max(bottom, b.y + b.lh)
    return page + 1


def _union_stops(a: list[_Col], b: list[_Col], fs: float) -> list[_Col] | None:
    """Columns of a table continued on the next page, or None when the columns differ."""
    def same(x: _Col, y: _Col) -> bool:
        return any(p.hit(q.left, q.right, fs) or q.hit(p.left, p.right, fs) for p in x for q in y)
    matched = sum(1 for y in b if any(same(x, y) for x in a))
    if matched < 2 or (matched < len(b) and matched < len(a)):
        return None
    out = [list(x) + [q for y in b if same(x, y) for q in y] for x in a]
    out += [list(y) for y in b if not any(same(x, y) for x in a)]
    return sorted(out, key=lambda col: min(s.lo for s in col))


def _rows_of_table(lines: list[_Line], stops: list[_Col]) -> list[list[_Cell]] | None:
    """A short text block's lines as rows of a table with these stops (None if they do not fit)."""
    if len(lines) > 2:
        return None
    rows = []
    off_margin = False
    for ln in lines:
        for ph in ln.phrases:
            k = next((i for i, col in enumerate(stops) if any(s.hit(ph.left, ph.right, ph.fs) for s in col)), None)
            if k is None or any(_crosses(ph, s) for col in stops for s in col):
                return None
            off_margin |= k > 0
        rows.append([_cell(ph) for ph in ln.phrases])
    return rows if off_margin else None


def _merge_across_pages(a: _Out, b: _Out) -> bool:
    """Join the first block of a page to the last of the page before when it continues it:
    a table with the same columns, a table's first or last row alone on its page, or a
    sentence that goes on."""
    ta, tb = isinstance(a.block, TableBlock), isinstance(b.block, TableBlock)
    if ta and tb:
        stops = _union_stops(a.stops, b.stops, b.fs)
        if stops is None:
            return False
        a.stops, a.rows = stops, a.rows + b.rows
    elif tb and a.lines and (rows := _rows_of_table(a.lines, b.stops)) is not None:
        a.stops, a.rows = b.stops, rows + b.rows
    elif ta and b.lines and (rows := _rows_of_table(b.lines, a.stops)) is not None:
        a.rows = a.rows + rows
    elif not ta and not tb:
        first = b.block.text.lstrip()[:1]
        if (abs(a.left - b.left) <= _tol(b.fs) and abs(a.fs - b.fs) <= 0.12 * b.fs
                and not visible(a.block.text).rstrip().endswith(_TERMINAL) and first.islower()):
            a.block = TextBlock(f"{a.block.text} {b.block.text}")
            a.lines = a.lines + b.lines
            return True
        return False
    else:
        return False
    a.block = TableBlock(build_grid(_grid_rows(a.rows, a.stops)))
    a.lines = []
    return True


def layout_blocks(collected: Collected) -> tuple[list[Block], int]:
    """Blocks in reading order from collected boxes; also returns the page count."""
    boxes = collected.boxes
    for b in boxes:
        v = visible(b.text)
        b.em = text_em(v)
        b.amount = bool(_AMOUNT_RE.match(v))
    n_pages = _assign_pages(boxes, collected.pages)
    by_page: list[list[Box]] = [[] for _ in range(n_pages)]
    for b in boxes:
        by_page[b.page].append(b)
    all_lines = [_lines(p) for p in by_page]
    flat = [ln for page in all_lines for ln in page]
    factor = _calibrate(flat)
    for b in boxes:
        w = b.em * b.fs * factor
        b.w = min(w, b.width_cap) if b.width_cap else w
    gap = _phrase_gap(flat)
    ctx = _Ctx(_pitch(flat), gap, gap + STRONG_MARGIN_EM)
    for ln in flat:
        _phrases(ln, ctx)
    outs: list[_Out] = []
    for page, page_lines in zip(by_page, all_lines):
        if not page:
            continue
        page_out: list[_Out] = []
        _layout(page, ctx, 0, page_out, page_lines)
        if outs and page_out and _merge_across_pages(outs[-1], page_out[0]):
            page_out.pop(0)
        outs.extend(page_out)
    blocks: list[Block] = [TextBlock(t) for t in collected.leading]
    blocks.extend(o.block for o in outs)
    blocks.extend(TextBlock(t) for t in collected.trailing)
    return blocks, n_pages


# --------------------------------------------------------------------------- API

def _absolute_count(html: str, enough: int) -> int:
    n = 0
    for _ in _ABSOLUTE_RE.finditer(html):
        n += 1
        if n >= enough:
            break
    return n


def _maybe_positioned(html: str, low: str | None | NotGiven = NOT_GIVEN) -> bool:
    """The cheap test, on the source string: enough `position:absolute` both in
    number and as a share of the tags (a positioned layout has one per word or
    line; a Workiva 10-K has a few dozen among 10^5 tags), or a class rule that
    positions. `low` is `aligned_lower(html)` when the caller has it already."""
    low = lower_of(html, low)
    if any(_CLASS_ABSOLUTE_RE.search(css) for css in _style_sheets(html, low)):
        return True
    # str.count is a C scan on the lower-case text; it bounds the (case-blind) regex count from above
    lower = low if low is not None else html.lower()
    bound = lower.count("absolute") + lower.count("fixed")
    if bound < MIN_ABSOLUTE:
        return False  # decided without counting the tags
    need = max(MIN_ABSOLUTE, int(MIN_TAG_SHARE * html.count("<")))
    if bound < need:
        return False
    return _absolute_count(html, need) >= need


def _style_open_tags(html: str, low: str | None):
    """`_STYLE_OPEN_RE.finditer(html)`, tried only where "<style" occurs.

    On an aligned lower-case copy (html_source.aligned_lower) a match can only
    start where the copy holds "<style", which str.find locates at memchr
    speed; the case-insensitive scan of the whole source was the cost.
    """
    if low is None:
        yield from _STYLE_OPEN_RE.finditer(html)
        return
    i = low.find("<style")
    while i >= 0:
        m = _STYLE_OPEN_RE.match(html, i)
        if m is not None:
            yield m
            i = low.find("<style", m.end())
        else:
            i = low.find("<style", i + 1)


def _style_sheets(html: str, low: str | None) -> list[str]:
    """The text of the document's <style> elements (class rules live only there).

    `low` is `aligned_lower(html)`, computed once by the caller."""
    out = []
    for m in _style_open_tags(html, low):
        end = html.find("</", m.end())
        out.append(html[m.end(): end if end >= 0 else len(html)])
    return out


def _mostly_positioned(c: Collected) -> bool:
    positioned = sum(len(visible(b.text)) for b in c.boxes)
    flow = sum(len(visible(t)) for t in c.leading + c.trailing)
    return positioned > 0 and positioned >= POSITIONED_SHARE * (positioned + flow)


def is_positioned_layout(html: str | bytes) -> bool:
    """True when most visible text sits in absolutely positioned elements.

    Cheap first: fewer than MIN_ABSOLUTE `position:absolute` in the source (and
    no class rule that positions) is a normal document, decided without parsing.
    Otherwise the document is parsed and its positioned characters counted.
    """
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    return _maybe_positioned(html) and _mostly_positioned(collect_boxes(html))


def positioned_blocks(html: str | bytes) -> list[Block]:
    """Blocks of an absolutely positioned document, in reading order.

    Same block types as `sanitize.html_to_blocks`: a paragraph per run of lines,
    a `TableBlock` per aligned multi-column run; inline-XBRL facts carry the
    same markers. Flow text outside positioned elements is kept before (or
    after) the positioned content, in DOM order.
    """
    return layout_blocks(collect_boxes(html))[0]


def blocks_if_positioned(html: str | bytes, low: str | None | NotGiven = NOT_GIVEN) -> list[Block] | None:
    """`positioned_blocks(html)` when `is_positioned_layout(html)`, else None; parses once.

    For the parser's dispatch:
        blocks = blocks_if_positioned(html)
        if blocks is None:
            blocks = html_to_blocks(html)
    `low`, for a str `html`, is `html_source.aligned_lower(html)` when the
    caller has computed it already.
    """
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
        low = NOT_GIVEN
    if not _maybe_positioned(html, low):
        return None
    c = collect_boxes(html)
    return layout_blocks(c)[0] if _mostly_positioned(c) else None
