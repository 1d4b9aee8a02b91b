"""Charts of the report as inline SVG: horizontal bars, one row per item, one bar per series.

No script is needed to read them: every bar carries its value as text, and the chart a ``<title>`` and
``<desc>``. Colours come from the stylesheet (classes ``s0``, ``s1`` …, a colour-blind-safe palette).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

#: Geometry of a chart, in SVG units (the chart scales with the page width).
WIDTH = 760.0
LABEL_WIDTH = 250.0
VALUE_WIDTH = 64.0
BAR_HEIGHT = 12.0
BAR_GAP = 2.0
ROW_GAP = 9.0
FONT = 12.0
LEGEND_LINE = 20.0
AXIS_HEIGHT = 22.0


@dataclass(frozen=True)
class Row:
    """One item of a chart (a category, a tier, a group …).

    Attributes
    ----------
    label
        What the row is called.
    values
        One value per series (None where it has none).
    lang
        The language of ``label`` when it is not the page's (e.g. a place name); empty otherwise.
    """

    label: str
    values: Sequence[float | None]
    lang: str = ""


def describe(rows: Sequence[Row], series: Sequence[str], value_text: Callable[[float], str]) -> str:
    """A chart's description for a screen reader: every row with its values in words."""
    parts = []
    for row in rows:
        values = ", ".join(
            f"{name} {value_text(v)}" if len(series) > 1 else value_text(v)
            for name, v in zip(series, row.values, strict=False)
            if v is not None and math.isfinite(v)
        )
        parts.append(f"{row.label}: {values or '–'}")
    return "; ".join(parts)


def bar_chart(
    ident: str,
    title: str,
    rows: Sequence[Row],
    series: Sequence[str],
    value_text: Callable[[float], str],
    domain: tuple[float, float] | None = None,
) -> str:
    """A horizontal bar chart as an ``<svg>`` element.

    Parameters
    ----------
    ident
        A unique id prefix for the chart's title and description.
    title
        What a screen reader announces first; the description that follows gives every figure in words
        (:func:`describe`).
    rows
        The items, top to bottom.
    series
        Names of the series, in the order of each row's values (a legend is drawn when there are two or more).
    value_text
        Writes a value as the reader sees it (``42.1%``).
    domain
        The axis range; by default from 0 (or the smallest negative value) to the largest value.

    Returns
    -------
    str
        The SVG markup.
    """
    values = [v for row in rows for v in row.values if v is not None and math.isfinite(v)]
    lo, hi = domain if domain is not None else (min([0.0, *values]), max([0.0, *values]))
    if hi <= lo:
        hi = lo + 1.0
    ticks = _ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    n = len(series)
    plot_x0 = LABEL_WIDTH
    plot_w = WIDTH - LABEL_WIDTH - VALUE_WIDTH

    def x_of(v: float) -> float:
        return plot_x0 + (v - lo) / (hi - lo) * plot_w

    row_h = n * BAR_HEIGHT + (n - 1) * BAR_GAP
    parts: list[str] = []
    top = 6.0
    if n > 1:
        x, line = plot_x0, 0
        for i, name in enumerate(series):
            width = 17 + _text_width(name) + 22
            if x > plot_x0 and x + width > WIDTH:
                x, line = plot_x0, line + 1
            ly = 4 + line * LEGEND_LINE
            parts.append(
                f'<rect class="s{i}" x="{x:.1f}" y="{ly:.1f}" width="12" height="12" rx="2"/>'
                f'<text class="legend" x="{x + 17:.1f}" y="{ly + 10.5:.1f}">{escape(name)}</text>'
            )
            x += width
        top = (line + 1) * LEGEND_LINE + 8
    y = top
    grid_top = top - 4
    for row in rows:
        lines = _wrap(row.label, LABEL_WIDTH - 12)
        lang = f' lang="{row.lang}"' if row.lang else ""
        mid = y + row_h / 2
        first = mid - (len(lines) - 1) * (FONT + 1) / 2 + FONT * 0.35
        tspans = "".join(
            f'<tspan x="{LABEL_WIDTH - 10:.1f}" y="{first + k * (FONT + 1):.1f}">{escape(line)}</tspan>'
            for k, line in enumerate(lines)
        )
        parts.append(f'<text class="row-label"{lang} text-anchor="end">{tspans}</text>')
        for i, value in enumerate(row.values):
            by = y + i * (BAR_HEIGHT + BAR_GAP)
            if value is None or not math.isfinite(value):
                parts.append(
                    f'<text class="value none" x="{x_of(max(lo, 0.0)) + 4:.1f}" '
                    f'y="{by + BAR_HEIGHT - 3:.1f}">–</text>'
                )
                continue
            x0, x1 = sorted((x_of(max(lo, 0.0)), x_of(value)))
            parts.append(
                f'<rect class="s{i}" x="{x0:.1f}" y="{by:.1f}" width="{max(x1 - x0, 0.8):.1f}" '
                f'height="{BAR_HEIGHT:.1f}"/>'
            )
            tx = x1 + 4 if value >= 0 else x0 - 4
            anchor = "start" if value >= 0 else "end"
            parts.append(
                f'<text class="value" x="{tx:.1f}" y="{by + BAR_HEIGHT - 3:.1f}" text-anchor="{anchor}">'
                f"{escape(value_text(value))}</text>"
            )
        y += max(row_h, len(lines) * (FONT + 1)) + ROW_GAP
    grid_bottom = y - ROW_GAP / 2
    axis: list[str] = []
    for t in ticks:
        tx = x_of(t)
        axis.append(
            f'<line class="{"zero" if t == 0 else "grid"}" x1="{tx:.1f}" y1="{grid_top:.1f}" '
            f'x2="{tx:.1f}" y2="{grid_bottom:.1f}"/>'
            f'<text class="tick" x="{tx:.1f}" y="{grid_bottom + 14:.1f}" text-anchor="middle">'
            f"{escape(value_text(t))}</text>"
        )
    height = grid_bottom + AXIS_HEIGHT
    description = describe(rows, series, value_text)
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH:.0f} {height:.1f}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(description)}</desc>' + "".join(axis) + "".join(parts) + "</svg>"
    )


def _ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering ``lo``..``hi`` (about ``target`` of them, 0 among them when in range)."""
    span = hi - lo
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    count = round((last - first) / step)
    return [round(first + k * step, 10) for k in range(count + 1)]


def _text_width(text: str) -> float:
    """Rough width of ``text`` at the chart's font size (wide characters count double)."""
    return sum(FONT if ord(ch) > 0x2E80 else FONT * 0.56 for ch in text)


def _wrap(text: str, width: float, max_lines: int = 2) -> list[str]:
    """``text`` broken into at most ``max_lines`` lines of about ``width`` units (the last one cut with …)."""
    if _text_width(text) <= width:
        return [text]
    words = text.split(" ") if " " in text else list(text)
    joiner = " " if " " in text else ""
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = current + joiner + word if current else word
        if _text_width(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    lines.append(current)
    if len(lines) > max_lines:
        rest = joiner.join(lines[max_lines - 1 :])
        while _text_width(rest + "…") > width and len(rest) > 1:
            rest = rest[:-1]
        lines = [*lines[: max_lines - 1], rest + "…"]
    return lines
