"""A small server-side SVG chart: bars and a line over months, with numbers on both axes.

``participation_chart`` is a pure function (data and already-translated words in, markup out).
The SVG needs no script and no ``style`` attribute (the Content-Security-Policy allows neither):
colours are presentation attributes (``fill``, ``stroke``), all with at least 4.5:1 contrast
against the chart's own white background, and the two series differ by shape (bars, a line
with round markers) as well as by colour. ``role="img"`` with ``aria-labelledby`` naming its
``<title>`` and ``<desc>`` makes it one image for assistive technology; pages show the same
numbers in a table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 330
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 44, 52
INK = "#1b1f24"  # 16:1 on white
AXIS = "#57606a"  # 6.3:1
GRID = "#d0d7de"  # gridlines only: decorative, the numbers are on the axis
BAR = "#0b4f8a"  # 8.6:1
LINE = "#9a4a00"  # 6.6:1
BACKGROUND = "#ffffff"


@dataclass(frozen=True)
class Point:
    label: str  # e.g. the month's short name
    sublabel: str  # e.g. the year
    bars: int
    line: int


def nice_step(maximum: int, ticks: int = 5) -> int:
    """The smallest step of 1, 2 or 5 × 10^k that covers ``maximum`` in at most ``ticks``
    steps."""
    rough = max(maximum, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    for factor in (1, 2, 5, 10):
        step = int(factor * magnitude)
        if step * ticks >= maximum:
            return max(step, 1)
    return int(10 * magnitude)  # pragma: no cover — factor 10 always covers


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def participation_chart(points: Sequence[Point], *, title: str, desc: str, bars_label: str,
                        line_label: str, id_prefix: str = "chart") -> Markup:
    """Bars (``bars``) and a line (``line``) per point, one shared count axis."""
    top_value = max([p.bars for p in points] + [p.line for p in points] + [1])
    step = nice_step(top_value)
    y_max = step * math.ceil(top_value / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_h

    def y(value: int) -> float:
        return bottom - value / y_max * plot_h

    slot = plot_w / max(len(points), 1)
    bar_w = slot * 0.56
    title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} '
           f'{HEIGHT}" role="img" aria-labelledby="{title_id} {desc_id}" '
           f'font-family="system-ui, sans-serif" font-size="12">',
           f'<title id="{title_id}">{escape(title)}</title>',
           f'<desc id="{desc_id}">{escape(desc)}</desc>',
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="{BACKGROUND}" '
           f'stroke="{GRID}"/>']
    # Legend: a bar swatch and a line with its marker, each with its words.
    out += [f'<rect x="{LEFT}" y="14" width="14" height="14" fill="{BAR}"/>',
            f'<text x="{LEFT + 20}" y="26" fill="{INK}">{escape(bars_label)}</text>',
            f'<line x1="{LEFT + 220}" y1="21" x2="{LEFT + 246}" y2="21" stroke="{LINE}" '
            'stroke-width="3"/>',
            f'<circle cx="{LEFT + 233}" cy="21" r="4.5" fill="{BACKGROUND}" stroke="{LINE}" '
            'stroke-width="2.5"/>',
            f'<text x="{LEFT + 254}" y="26" fill="{INK}">{escape(line_label)}</text>']
    # Count axis: gridlines and numbers.
    for value in range(0, y_max + 1, step):
        out.append(f'<line x1="{LEFT}" y1="{_num(y(value))}" x2="{WIDTH - RIGHT}" '
                   f'y2="{_num(y(value))}" stroke="{GRID}" stroke-width="1"/>')
        out.append(f'<text x="{LEFT - 8}" y="{_num(y(value) + 4)}" text-anchor="end" '
                   f'fill="{AXIS}">{value}</text>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="{AXIS}"/>')
    out.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" '
               f'stroke="{AXIS}"/>')
    centres = [LEFT + slot * (i + 0.5) for i in range(len(points))]
    for cx, point in zip(centres, points, strict=True):
        if point.bars:
            out.append(f'<rect x="{_num(cx - bar_w / 2)}" y="{_num(y(point.bars))}" '
                       f'width="{_num(bar_w)}" height="{_num(bottom - y(point.bars))}" '
                       f'fill="{BAR}"/>')
        out.append(f'<text x="{_num(cx)}" y="{bottom + 18}" text-anchor="middle" '
                   f'fill="{AXIS}">{escape(point.label)}'
                   f'<tspan x="{_num(cx)}" dy="15">{escape(point.sublabel)}</tspan></text>')
    if points:
        path = " ".join(f"{_num(cx)},{_num(y(p.line))}" for cx, p in zip(centres, points,
                                                                         strict=True))
        out.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="3" '
                   'stroke-linejoin="round"/>')
        for cx, point in zip(centres, points, strict=True):
            out.append(f'<circle cx="{_num(cx)}" cy="{_num(y(point.line))}" r="4.5" '
                       f'fill="{BACKGROUND}" stroke="{LINE}" stroke-width="2.5"/>')
    # Bar values last, over the line, with a white halo so that a marker never hides them.
    for cx, point in zip(centres, points, strict=True):
        if point.bars:
            out.append(f'<text x="{_num(cx)}" y="{_num(y(point.bars) - 5)}" '
                       f'text-anchor="middle" fill="{INK}" font-size="11" stroke="{BACKGROUND}" '
                       f'stroke-width="3" paint-order="stroke">{point.bars}</text>')
    out.append("</svg>")
    # Every text in it went through escape(); the rest is our own numbers and attributes.
    return Markup("\n".join(out))  # noqa: S704
