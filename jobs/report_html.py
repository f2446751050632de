"""HTML building blocks of the report (`jobs.report`): escaping, numbers, tables, figures, the page.

Design choices:
- One self-contained file: CSS inline in the page, figures as base64 PNG
  `data:` URIs, no scripts, no fonts or stylesheets fetched from anywhere, so
  the report can be mailed or archived and still opens offline.
- Everything is escaped unless it is `Html`, a `str` subclass that marks markup
  built here (the same idea as markupsafe's `Markup`). A filing's text, a
  model name or an error message therefore can never inject markup.
- Numbers are rounded for reading, never for storing: `fmt_num` keeps three
  significant digits (integers in full with separators), `fmt_compact` writes
  amounts as 1.23M / 4.5bn. Missing or non-finite values render as an en dash.
- matplotlib runs on the Agg backend (no display), imported on first use so
  the page primitives stay cheap to import.
- No store, model or Ray here: the section builders in `jobs.report` gather
  the data and call these functions.
"""
from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MISSING = "\u2013"   # en dash: a value that does not exist (never a zero)
ARROW = "\u2192"


class Html(str):
    """Markup built by this module: inserted as is, never escaped again."""

    __slots__ = ()


def esc(value: Any) -> Html:
    """`value` as text safe inside HTML (also inside attribute values); `Html` passes through."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    """Concatenate parts, escaping the ones that are not `Html`."""
    return Html(esc(sep).join(esc(p) for p in parts))


def tag(name: str, content: Any = "", **attrs: Any) -> Html:
    """`<name attrs>content</name>`; `class_` stands for `class`; None/False attributes are left out."""
    rendered = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        key = key.rstrip("_").replace("_", "-")
        rendered.append(f' {key}="{esc(value)}"')
    return Html(f"<{name}{''.join(rendered)}>{esc(content)}</{name}>")


def slug(text: str) -> str:
    """An id for an anchor: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


# --- numbers -----------------------------------------------------------------------

def _finite(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def fmt_num(x: Any, digits: int = 3) -> str:
    """A number for a table: integers in full (1,234,567), other values to `digits` significant digits."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    f = _finite(x)
    if f is None:
        return MISSING if x is None or isinstance(x, (int, float)) else str(x)
    if abs(f) >= 1000:  # whole units are precise enough for large values (amounts, token counts)
        return f"{f:,.0f}"
    if f == 0:
        return "0"
    if abs(f) >= 1e-4:
        # fixed notation with `digits` significant digits (0.0123, 12.3), no scientific form
        decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(f)))))
        return f"{f:.{decimals}f}"
    return f"{f:.{digits - 1}e}"


_SCALES = ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k"))


def fmt_compact(x: Any) -> str:
    """A value for inline reading: 1.23M, -4.5bn, 98.1k, 12.3, 0.0123; whole numbers below 10,000 in full
    (2023, 7, not 2.02k)."""
    f = _finite(x)
    if f is None:
        return MISSING
    a = abs(f)
    if a < 1e4 and f == int(f):
        return str(int(f))
    for scale, suffix in _SCALES:
        if a >= scale * 0.9995:  # 999,999 reads as 1.00M, not 1,000k
            return f"{f / scale:.3g}{suffix}"
    return fmt_num(f, 3)


def fmt_interval(value: Any) -> str:
    """`[est, lo, hi]` as "0.412 [0.301, 0.520]"; a bare number or `[est]` as the estimate alone."""
    if isinstance(value, Mapping):
        value = [value.get("est", value.get("value")), value.get("lo"), value.get("hi")]
    if isinstance(value, (list, tuple)):
        if not value:
            return MISSING
        est = fmt_num(value[0])
        if len(value) >= 3 and _finite(value[1]) is not None and _finite(value[2]) is not None:
            return f"{est} [{fmt_num(value[1])}, {fmt_num(value[2])}]"
        return est
    return fmt_num(value)


def fmt_time(value: Any) -> str:
    """A datetime as `YYYY-MM-DD HH:MM:SS UTC` (aware values converted), a date as ISO, None as a dash."""
    if value is None:
        return MISSING
    if hasattr(value, "astimezone") and getattr(value, "tzinfo", None) is not None:
        from datetime import timezone
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


# --- blocks ------------------------------------------------------------------------

def para(text: Any, class_: str | None = None) -> Html:
    return tag("p", text, class_=class_)


def note(text: Any, kind: str = "missing") -> Html:
    """A boxed remark; `missing` reads "Not available: ..." and is what a section shows without its input."""
    prefix = {"missing": "Not available: ", "error": "Could not build this part: ", "info": ""}[kind]
    return tag("p", join([tag("strong", prefix) if prefix else "", text]), class_=f"note {kind}")


def bullets(items: Iterable[Any]) -> Html:
    return tag("ul", join(tag("li", i) for i in items))


def kv_table(pairs: Iterable[tuple[Any, Any]], caption: str | None = None) -> Html:
    """A two-column key/value table (values through `fmt_num` when numeric)."""
    rows = [[k, v if isinstance(v, Html) else (fmt_num(v) if _finite(v) is not None else v)] for k, v in pairs]
    return table(["", ""], rows, caption=caption, header=False)


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], *, caption: str | None = None,
          header: bool = True, numeric: Sequence[bool] | None = None, row_classes: Sequence[str | None] | None = None
          ) -> Html:
    """A table; numbers are formatted with `fmt_num` and right-aligned, `Html` cells inserted as is.

    `numeric` forces right alignment per column; by default a column is numeric when all its
    non-empty cells are numbers.
    """
    rows = [list(r) for r in rows]
    ncol = len(headers)
    for i, r in enumerate(rows):
        if len(r) != ncol:
            raise ValueError(f"table row {i} has {len(r)} cells but there are {ncol} headers: {r!r}")
    if numeric is None:
        numeric = [all(isinstance(r[c], (int, float)) and not isinstance(r[c], bool)
                       for r in rows if r[c] is not None) and any(r[c] is not None for r in rows)
                   for c in range(ncol)]

    def cell(v: Any, c: int, name: str) -> Html:
        text = v if isinstance(v, Html) else (fmt_num(v) if isinstance(v, (int, float)) or v is None else str(v))
        return tag(name, text, class_="num" if numeric[c] else None)

    parts: list[Html] = []
    if caption:
        parts.append(tag("caption", caption))
    if header:
        parts.append(tag("thead", tag("tr", join(cell(h, c, "th") for c, h in enumerate(headers)))))
    body = []
    for i, r in enumerate(rows):
        cls = row_classes[i] if row_classes is not None else None
        body.append(tag("tr", join(cell(v, c, "td") for c, v in enumerate(r)), class_=cls))
    parts.append(tag("tbody", join(body)))
    return tag("div", tag("table", join(parts)), class_="table-wrap")


# --- figures -----------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # no display; must precede the pyplot import in a fresh process
    import matplotlib.pyplot as plt
    return plt


def figure_html(fig, alt: str, caption: str | None = None, dpi: int = 110) -> Html:
    """A matplotlib figure as an embedded PNG (base64 `data:` URI); the figure is closed."""
    plt = _pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    img = Html(f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">')
    return tag("figure", join([img, tag("figcaption", caption) if caption else ""]))


@dataclass
class Series:
    """One line of a line chart."""
    label: str
    x: Sequence[float]
    y: Sequence[float]
    dashed: bool = False
    markers: bool = False


def line_chart(series: Sequence[Series], *, xlabel: str, ylabel: str, title: str | None = None,
               alt: str, caption: str | None = None, logy: bool = False) -> Html:
    """Lines over a shared x axis; legend outside the axes so it never hides a curve."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    for s in series:
        pts = [(float(a), float(b)) for a, b in zip(s.x, s.y) if _finite(a) is not None and _finite(b) is not None]
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, ys, linestyle="--" if s.dashed else "-", marker="o" if s.markers else None,
                markersize=3, label=s.label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return figure_html(fig, alt, caption)


def scatter_chart(groups: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, xlabel: str, ylabel: str,
                  title: str | None = None, alt: str, caption: str | None = None, identity: bool = True) -> Html:
    """One colour per group of (x, y) points, with the identity line y = x over the shared range."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    lo, hi = math.inf, -math.inf
    for label, (xs, ys) in groups.items():
        pts = [(float(a), float(b)) for a, b in zip(xs, ys) if _finite(a) is not None and _finite(b) is not None]
        if not pts:
            continue
        px, py = zip(*pts)
        lo, hi = min(lo, *px, *py), max(hi, *px, *py)
        ax.scatter(px, py, s=14, alpha=0.7, label=f"{label} (n={len(pts)})")
    if identity and lo <= hi:
        pad = (hi - lo) * 0.05 or 1.0
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", linewidth=1, linestyle=":",
                label="y = x")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    return figure_html(fig, alt, caption)


# --- the page ----------------------------------------------------------------------

@dataclass
class Section:
    """One section of the report: a heading, a line saying what it shows and how to read it, its body."""
    title: str
    intro: str
    body: list[Html] = field(default_factory=list)
    available: bool = True     # False when the section's input was missing (its body says so)

    @property
    def anchor(self) -> str:
        return slug(self.title)

    def add(self, *parts: Html) -> Section:
        self.body.extend(parts)
        return self


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1.2em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2.2em;border-bottom:2px solid #ddd;padding-bottom:.2em}
h3{margin-top:1.6em;font-size:1.05em}h4{margin:1.2em 0 .3em;font-size:.95em;color:#444}
.meta{color:#666;font-size:.9em;margin:.1em 0}
p.intro{color:#333;background:#f6f8fa;border-left:4px solid #8aa4c8;padding:.5em .8em}
p.note{padding:.5em .8em;border-radius:4px}p.note.missing{background:#fff6e0;border:1px solid #e8c872}
p.note.error{background:#fde8e8;border:1px solid #e39b9b}p.note.info{background:#eef5ee;border:1px solid #a8cfa8}
.table-wrap{overflow-x:auto;margin:.6em 0}
table{border-collapse:collapse;font-size:.85em}th,td{border:1px solid #ddd;padding:.25em .55em;vertical-align:top}
th{background:#f0f2f5;text-align:left}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:.3em 0;color:#333}tr.baseline td{color:#555;font-style:italic}
figure{margin:.8em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
nav.toc{background:#f6f8fa;padding:.5em 1.2em;border-radius:4px}nav.toc li.na a{color:#999}
.filing{white-space:pre-wrap;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.8em;
background:#fcfcfc;border:1px solid #e5e5e5;padding:.8em;max-height:60em;overflow-y:auto}
.filing h4{font-family:system-ui,sans-serif;white-space:normal}
span.n{border-radius:3px;padding:0 .15em;white-space:nowrap}span.e0{background:#c9f0c9}span.e1{background:#e8f3b0}
span.e2{background:#ffd9a8}span.e3{background:#f9b5b5}span.e-skip{background:#eee;color:#666}
.legend span{margin-right:1em}
"""


def render_page(title: str, meta_lines: Sequence[Any], sections: Sequence[Section]) -> str:
    """The whole document: title, meta lines, a contents list, then every section."""
    toc = tag("nav", join([tag("strong", "Contents"), tag("ol", join(
        tag("li", join([tag("a", s.title, href=f"#{s.anchor}"), "" if s.available else " (not available)"]),
            class_=None if s.available else "na")
        for s in sections))]), class_="toc")
    body = [tag("h1", title), *[tag("p", m, class_="meta") for m in meta_lines], toc]
    for s in sections:
        body.append(tag("section", join([tag("h2", s.title, id=s.anchor), para(s.intro, "intro"), *s.body]),
                        id=f"section-{s.anchor}"))
    return ("<!DOCTYPE html>\n"
            + tag("html", join([
                tag("head", join([Html('<meta charset="utf-8">'),
                                  Html('<meta name="viewport" content="width=device-width, initial-scale=1">'),
                                  tag("title", title), Html(f"<style>{CSS}</style>")])),
                tag("body", join(body, "\n"))]), lang="en")
            + "\n")
