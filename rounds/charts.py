"""Small, accessible inline SVG charts drawn from plain numbers.

Pure: standard library only, no Django (a test imports it in a fresh interpreter), so the
panelist feedback page, the PDF report and the offline tools draw the same pictures.
Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that state in
words what the picture shows; all text is XML-escaped. Callers pass translated words
through ``labels``, and the decimal mark of their language as ``labels["decimal_separator"]``.

Colours meet WCAG AA on white: text at least 4.5:1, bars and lines at least 3:1, and the
panelist's own rating is marked by a hatch pattern and a thick outline, not by colour alone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

INK = "#1a1a1a"  # text, 17:1 on white
MUTED = "#595959"  # secondary text, 7:1 on white
BAR = "#2f5488"  # 7.6:1 on white, 6:1 on the IQR band
OWN = "#a83c00"  # the panelist's own rating, 5.9:1 on white
IQR_FILL = "#dce6f2"
THRESHOLD = "#6b2c91"  # 8.5:1 on white
ACCEPT_FILL = "#e5f2e5"
DASH = "\u2013"  # an en dash, for ranges such as IQR 7 to 9
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"

DEFAULT_LABELS: dict[str, str] = {
    "median": "median",
    "iqr": "IQR",
    "your_rating": "your rating",
    "ratings": "ratings",
    "distribution": "Distribution of ratings",
    "priority_matrix": "Priority matrix",
    "participant_flow": "Participant flow",
    "invited": "invited",
    "responded": "responded",
    "dropped_out": "dropped out since the previous round",
    "accepted": "accepted",
    "rejected": "rejected",
    "no_consensus": "no consensus",
    "carried": "rated again",
    "undecided": "not decided",
    "decimal_separator": ".",
}


def histogram_svg(
    counts: Sequence[int],
    *,
    scale_min: int,
    median: float | None,
    q1: float | None,
    q3: float | None,
    highlight: int | None = None,
    bands: tuple[int, int] | None = None,
    width: int = 320,
    height: int = 120,
    title: str = "",
    labels: Mapping[str, str] | None = None,
    key: str = "",
) -> str:
    """The distribution of one (round, item, criterion): one bar per scale point.

    ``key`` makes the SVG's element ids unique on a page that shows identical charts.

    ``counts[i]`` is the number of ratings at scale point ``scale_min + i``. The IQR band
    covers the scale points from ``q1`` to ``q3`` (from the left edge of q1's bar to the right
    edge of q3's); the median is a vertical line. ``highlight`` is a scale point (the
    panelist's own previous rating); ``bands`` is ``(low_max, high_min)``, drawn as dotted
    dividers between the low, middle and high bands.
    """
    words = _labels(labels)
    n = sum(counts)
    top, bottom, side = 26.0, 16.0, 6.0
    plot_h = height - top - bottom
    slot = (width - 2 * side) / max(len(counts), 1)
    tallest = max([*counts, 1])

    def x_of(value: float) -> float:
        return side + (value - scale_min + 0.5) * slot

    uid = _uid("hist", counts, scale_min, median, q1, q3, highlight, bands, title, key)
    summary = _summary(n, median, q1, q3, words)
    described = [summary]
    if highlight is not None:
        described.append(f"{words['your_rating']}: {highlight}")
    described.append(", ".join(f"{scale_min + i}: {count}" for i, count in enumerate(counts)))
    parts = [
        _open_svg(width, height, uid, title or words["distribution"], "; ".join(described)),
        "<defs>",
        f'<pattern id="{uid}-own" patternUnits="userSpaceOnUse" width="5" height="5" '
        f'patternTransform="rotate(45)">'
        f'<rect width="5" height="5" fill="{OWN}"/>'
        f'<line x1="0" y1="0" x2="0" y2="5" stroke="#ffffff" stroke-width="2"/></pattern>',
        "</defs>",
    ]
    if q1 is not None and q3 is not None:
        left, right = x_of(q1) - slot / 2, x_of(q3) + slot / 2
        parts.append(
            f'<rect x="{left:.1f}" y="{top - 12:.1f}" width="{right - left:.1f}" '
            f'height="{plot_h + 12:.1f}" fill="{IQR_FILL}"/>'
        )
    if bands is not None:
        for edge in (bands[0] + 0.5, bands[1] - 0.5):
            parts.append(
                f'<line x1="{x_of(edge):.1f}" y1="{top - 12:.1f}" x2="{x_of(edge):.1f}" '
                f'y2="{top + plot_h:.1f}" stroke="{MUTED}" stroke-width="1" '
                f'stroke-dasharray="1 3"/>'
            )
    bar_w = slot * 0.7
    count_labels: list[str] = []
    for i, count in enumerate(counts):
        point = scale_min + i
        bar_h = (plot_h - 12) * count / tallest
        cx = x_of(point)
        y = top + plot_h - bar_h
        own = point == highlight
        style = (
            f'fill="url(#{uid}-own)" stroke="{INK}" stroke-width="2"' if own else f'fill="{BAR}"'
        )
        klass = "bar own" if own else "bar"
        parts.append(
            f'<rect class="{klass}" data-point="{point}" x="{cx - bar_w / 2:.1f}" '
            f'y="{y:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" {style}/>'
        )
        parts.append(_text(cx, height - 4, str(point), size=10, fill=INK, weight_bold=own))
        count_labels.append(_text(cx, y - 3, str(count), size=9, fill=INK, weight_bold=own))
    parts.append(
        f'<line x1="{side:.1f}" y1="{top + plot_h:.1f}" x2="{width - side:.1f}" '
        f'y2="{top + plot_h:.1f}" stroke="{INK}" stroke-width="1"/>'
    )
    if median is not None:
        mx = x_of(median)
        # A white casing keeps the dashed line visible where it crosses a dark bar.
        parts.append(
            f'<line x1="{mx:.1f}" y1="{top - 12:.1f}" x2="{mx:.1f}" y2="{top + plot_h:.1f}" '
            f'stroke="#ffffff" stroke-width="4"/>'
            f'<line class="median" x1="{mx:.1f}" y1="{top - 12:.1f}" x2="{mx:.1f}" '
            f'y2="{top + plot_h:.1f}" stroke="{INK}" stroke-width="2" stroke-dasharray="4 2"/>'
        )
    # Counts go last, on a white halo, so the median line never runs through a number.
    parts.extend(label.replace("<text ", _HALO, 1) + label for label in count_labels)
    parts.append(_histogram_legend(uid, words, median, q1, q3, highlight))
    parts.append("</svg>")
    return "".join(parts)


def compact_histogram_svg(
    counts: Sequence[int],
    *,
    scale_min: int,
    median: float | None,
    q1: float | None,
    q3: float | None,
    bands: tuple[int, int] | None = None,
    width: int = 240,
    height: int = 64,
    title: str = "",
    labels: Mapping[str, str] | None = None,
    key: str = "",
) -> str:
    """A small distribution for printed sheets: the bars as one path, the IQR band, the
    median line and the scale points, and nothing else (the caption gives the numbers).

    Built from a handful of SVG elements because a PDF renderer pays per element; the
    title and the description list every count for screen readers (a tagged PDF reads the
    title only). ``key`` tells apart the ids of
    identical charts drawn twice on one page or document."""
    words = _labels(labels)
    n = sum(counts)
    top, bottom, side = 4.0, 14.0, 4.0
    plot_h = height - top - bottom
    slot = (width - 2 * side) / max(len(counts), 1)
    tallest = max([*counts, 1])

    def x_of(value: float) -> float:
        return side + (value - scale_min + 0.5) * slot

    uid = _uid("mini", counts, scale_min, median, q1, q3, bands, title, key)
    desc = "; ".join([
        _summary(n, median, q1, q3, words),
        ", ".join(f"{scale_min + i}: {count}" for i, count in enumerate(counts)),
    ])  # fmt: skip
    base = top + plot_h
    # A PDF takes the <title> as the figure's alternate text: give it the numbers too.
    alt = f"{title or words['distribution']}. {desc}"
    parts = [_open_svg(width, height, uid, alt, desc)]
    if q1 is not None and q3 is not None:
        left, right = x_of(q1) - slot / 2, x_of(q3) + slot / 2
        parts.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
            f'height="{plot_h:.1f}" fill="{IQR_FILL}"/>'
        )
    bar_w = slot * 0.7
    bars = " ".join(
        f"M{x_of(scale_min + i) - bar_w / 2:.1f} {base:.1f}v-{plot_h * c / tallest:.1f}"
        f"h{bar_w:.1f}v{plot_h * c / tallest:.1f}z"
        for i, c in enumerate(counts)
        if c
    )
    axis = f"M{side:.1f} {base:.1f}H{width - side:.1f}"
    if bands is not None:
        for edge in (bands[0] + 0.5, bands[1] - 0.5):
            axis += f"M{x_of(edge):.1f} {top:.1f}V{base:.1f}"
    parts.append(f'<path class="bars" d="{bars}" fill="{BAR}"/>' if bars else "")
    parts.append(f'<path d="{axis}" stroke="{MUTED}" stroke-width="0.8" fill="none"/>')
    if median is not None:
        mx = x_of(median)
        parts.append(
            f'<path class="median" d="M{mx:.1f} {top:.1f}V{base:.1f}" stroke="{INK}" '
            f'stroke-width="1.6" stroke-dasharray="3 1.5"/>'
        )
    parts.append(_scale_labels(scale_min, len(counts), x_of, height - 3))
    parts.append("</svg>")
    return "".join(parts)


def _scale_labels(scale_min: int, points: int, x_of: Callable[[float], float], y: float) -> str:
    """The scale points under the bars: one text with a position per character when every
    label is a single digit (one element instead of one per point), else one text each."""
    values = range(scale_min, scale_min + points)
    if all(0 <= v <= 9 for v in values):
        half_digit = 0.318 * 9  # DejaVu Sans digits are 0.636 em wide; the font is 9 px
        xs = " ".join(f"{x_of(v) - half_digit:.1f}" for v in values)
        digits = "".join(str(v) for v in values)
        return f'<text x="{xs}" y="{y:.1f}" font-size="9" fill="{INK}">{digits}</text>'
    return "".join(_text(x_of(v), y, str(v), size=9, fill=INK) for v in values)


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in SVG user units."""

    x0: float
    y0: float
    x1: float
    y1: float

    def intersects(self, other: Box) -> bool:
        return (
            self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1
        )

    def inside(self, other: Box) -> bool:
        return (
            self.x0 >= other.x0
            and self.y0 >= other.y0
            and self.x1 <= other.x1
            and (self.y1 <= other.y1)
        )


@dataclass(frozen=True)
class MatrixLabel:
    """The label of the items at one place of the matrix: their codes, or a number that
    the legend resolves when the codes do not fit anywhere near the point."""

    codes: tuple[str, ...]
    x: float  # the point
    y: float
    lines: tuple[str, ...]
    box: Box
    number: int | None = None


# Marker shape by disposition, so that the disposition does not rest on colour alone.
MARKERS: dict[str, str] = {
    "accepted": "circle",
    "rejected": "cross",
    "no_consensus": "diamond",
    "carried": "square",
    "": "ring",
}
MATRIX_FONT = 9
_MARK_R = 4.5
_CODES_PER_LINE = 3
_MAX_CODES = 3  # more items at one place: a number and the legend


@dataclass(frozen=True)
class Matrix:
    svg: str
    labels: list[MatrixLabel]

    @property
    def numbered(self) -> list[MatrixLabel]:
        """The labels shown as numbers, for a legend beside the chart."""
        return sorted((lab for lab in self.labels if lab.number), key=lambda lab: lab.number or 0)


def priority_matrix_svg(*args: Any, **kwargs: Any) -> str:
    """The matrix's SVG alone (see `priority_matrix`)."""
    return priority_matrix(*args, **kwargs).svg


def priority_matrix(
    points: Sequence[tuple[str, float, float]],
    *,
    x_threshold: float,
    y_threshold: float,
    scale: tuple[int, int] = (1, 9),
    x_label: str,
    y_label: str,
    dispositions: Mapping[str, str] | None = None,
    width: int = 480,
    height: int = 480,
    title: str = "",
    labels: Mapping[str, str] | None = None,
) -> Matrix:
    """Each item as a point: acceptability median (x) against priority median (y).

    Dashed lines mark the thresholds; the quadrant above both is shaded. ``dispositions``
    (item code → accepted, rejected, no_consensus, carried) sets each marker's shape, and
    a legend under the plot names the shapes used (``labels`` gives their words). Items at
    the same place share one label; labels are placed where they overlap no other label
    and no marker (see `matrix_labels`); a label that fits nowhere becomes a number, which
    `matrix_labels` returns with its codes for a legend table beside the chart.
    """
    words = _labels(labels)
    kinds = dict(dispositions or {})
    lo, hi = scale
    legend_h = 22.0 if kinds else 0.0
    left, right, top, bottom = 44.0, 12.0, 12.0, 40.0 + legend_h
    plot_w, plot_h = width - left - right, height - top - bottom
    span = (hi - lo) or 1

    def px(value: float) -> float:
        return left + (value - lo) / span * plot_w

    def py(value: float) -> float:
        return top + plot_h - (value - lo) / span * plot_h

    sep = words["decimal_separator"]
    uid = _uid("matrix", points, x_threshold, y_threshold, scale, x_label, y_label, kinds)
    desc = "; ".join(
        f"{code}: {x_label} {_num(x, sep)}, {y_label} {_num(y, sep)}"
        + (f", {words.get(kinds[code], kinds[code])}" if kinds.get(code) else "")
        for code, x, y in points
    )
    parts = [_open_svg(width, height, uid, title or words["priority_matrix"], desc)]
    parts.append(
        f'<rect x="{px(x_threshold):.1f}" y="{top:.1f}" '
        f'width="{px(hi) - px(x_threshold):.1f}" height="{py(y_threshold) - top:.1f}" '
        f'fill="{ACCEPT_FILL}"/>'
    )
    grid = "".join(
        f"M{px(t):.1f} {top:.1f}V{top + plot_h:.1f}M{left:.1f} {py(t):.1f}H{left + plot_w:.1f}"
        for t in range(lo, hi + 1)
    )
    parts.append(f'<path d="{grid}" stroke="#e0e0e0" stroke-width="1" fill="none"/>')
    for tick in range(lo, hi + 1):
        parts.append(_text(px(tick), top + plot_h + 14, str(tick), size=10, fill=INK))
        parts.append(_text(left - 8, py(tick) + 3.5, str(tick), size=10, fill=INK, anchor="end"))
    parts.append(
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{plot_w:.1f}" height="{plot_h:.1f}" '
        f'fill="none" stroke="{INK}" stroke-width="1"/>'
    )
    parts.append(
        f'<line class="threshold" x1="{px(x_threshold):.1f}" y1="{top:.1f}" '
        f'x2="{px(x_threshold):.1f}" y2="{top + plot_h:.1f}" stroke="{THRESHOLD}" '
        f'stroke-width="1.5" stroke-dasharray="6 3"/>'
        f'<line class="threshold" x1="{left:.1f}" y1="{py(y_threshold):.1f}" '
        f'x2="{left + plot_w:.1f}" y2="{py(y_threshold):.1f}" stroke="{THRESHOLD}" '
        f'stroke-width="1.5" stroke-dasharray="6 3"/>'
    )
    parts.append(_text(left + plot_w / 2, top + plot_h + 32, x_label, size=11, fill=INK))
    parts.append(
        f'<text x="0" y="0" transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'font-family="{FONT}" font-size="11" fill="{INK}" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    area = Box(left, top, left + plot_w, top + plot_h)
    placed = [(code, px(x), py(y)) for code, x, y in points]
    marks = _marker_positions(placed, kinds)
    for (cx, cy), kind in marks:
        parts.append(_marker(cx, cy, kind))
    guides = [
        Box(px(x_threshold) - 1, top, px(x_threshold) + 1, top + plot_h),
        Box(left, py(y_threshold) - 1, left + plot_w, py(y_threshold) + 1),
    ]
    found = matrix_labels(placed, area, kinds, guides)
    parts.extend(_matrix_label(label) for label in found)
    if kinds:
        shown = sorted({kinds.get(code, "") for code, _x, _y in points}, key=_marker_rank)
        parts.append(_shape_legend(shown, words, width, height - 8))
    parts.append("</svg>")
    return Matrix("".join(parts), found)


def matrix_labels(
    points: Sequence[tuple[str, float, float]],
    area: Box,
    dispositions: Mapping[str, str] | None = None,
    guides: Sequence[Box] = (),
) -> list[MatrixLabel]:
    """Labels for ``points`` (code, x, y in SVG units) that overlap neither each other nor
    any marker and stay inside ``area``: for each place, in turn from the most crowded
    neighbourhood, the first free spot among eight directions at growing distances, off
    the ``guides`` (threshold lines) if it can be. A place with more than a few items, or
    whose codes fit nowhere, gets a number instead, resolved by a legend; numbers follow
    the reading order (top to bottom, left to right)."""
    kinds = dict(dispositions or {})
    groups = _groups(points, kinds)
    obstacles = [
        Box(cx - _MARK_R - 1, cy - _MARK_R - 1, cx + _MARK_R + 1, cy + _MARK_R + 1)
        for (cx, cy), _kind in _marker_positions(points, kinds)
    ]
    order = sorted(groups, key=lambda g: (len(g[0]) > _MAX_CODES, -_crowding(g, groups), g[1:]))
    labels: list[MatrixLabel] = []
    for codes, x, y in order:
        lines = _code_lines(codes)
        box = None if len(codes) > _MAX_CODES else _spot(x, y, lines, area, obstacles, guides)
        number = None
        if box is None:
            number, lines = 0, ("00",)  # numbered below; room for two digits
            box = _spot(x, y, lines, area, obstacles, guides, reach=6)
        if box is None:  # a pathological pile-up: keep the number on the point itself
            box = _label_box(x - _text_width(lines[0], MATRIX_FONT) / 2, y + _MARK_R + 1, lines)
        obstacles.append(box)
        labels.append(MatrixLabel(tuple(codes), x, y, lines, box, number))
    return _numbered(labels)


def _code_lines(codes: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        ", ".join(codes[i : i + _CODES_PER_LINE])
        + ("," if i + _CODES_PER_LINE < len(codes) else "")
        for i in range(0, len(codes), _CODES_PER_LINE)
    )


def _spot(
    x: float, y: float, lines: Sequence[str], area: Box, taken: list[Box],
    guides: Sequence[Box], reach: int = 4,
) -> Box | None:  # fmt: skip
    """A free spot off the guide lines if there is one, else one that crosses them."""
    return _free_spot(x, y, lines, area, [*taken, *guides], reach) or _free_spot(
        x, y, lines, area, taken, reach
    )


def _numbered(labels: list[MatrixLabel]) -> list[MatrixLabel]:
    """Number the labels that need a number in reading order."""
    numbered = sorted(
        (lab for lab in labels if lab.number is not None), key=lambda lab: (lab.y, lab.x)
    )
    numbers = {id(lab): i for i, lab in enumerate(numbered, start=1)}
    return [
        lab if lab.number is None else
        MatrixLabel(lab.codes, lab.x, lab.y, (str(numbers[id(lab)]),), lab.box, numbers[id(lab)])
        for lab in labels
    ]  # fmt: skip


def _groups(
    points: Sequence[tuple[str, float, float]], kinds: Mapping[str, str]
) -> list[tuple[list[str], float, float]]:
    """Items at one place, accepted first, then by code."""
    grouped: dict[tuple[float, float], list[str]] = {}
    for code, x, y in points:
        grouped.setdefault((round(x, 3), round(y, 3)), []).append(code)
    return [
        (sorted(codes, key=lambda c: (_marker_rank(kinds.get(c, "")), c)), x, y)
        for (x, y), codes in grouped.items()
    ]


def _marker_rank(kind: str) -> int:
    order = list(MARKERS)
    return order.index(kind) if kind in order else len(order)


def _marker_positions(
    points: Sequence[tuple[str, float, float]], kinds: Mapping[str, str]
) -> list[tuple[tuple[float, float], str]]:
    """One marker per disposition present at a place, side by side when there are several."""
    at: dict[tuple[float, float], list[str]] = {}
    for code, x, y in points:
        kind = kinds.get(code, "")
        present = at.setdefault((round(x, 3), round(y, 3)), [])
        if kind not in present:
            present.append(kind)
    marks: list[tuple[tuple[float, float], str]] = []
    step = 2 * _MARK_R + 2
    for (x, y), present in at.items():
        present.sort(key=_marker_rank)
        first = x - step * (len(present) - 1) / 2
        marks.extend(((first + i * step, y), kind) for i, kind in enumerate(present))
    return marks


def _crowding(group: tuple[list[str], float, float], groups: list[Any]) -> int:
    _codes, x, y = group
    return sum(len(c) for c, gx, gy in groups if abs(gx - x) < 60 and abs(gy - y) < 30)


def _label_box(x: float, top: float, lines: Sequence[str]) -> Box:
    width = max(_text_width(line, MATRIX_FONT) for line in lines)
    return Box(x, top, x + width, top + len(lines) * MATRIX_FONT * 1.2)


def _free_spot(
    x: float, y: float, lines: Sequence[str], area: Box, taken: list[Box], reach: int = 4
) -> Box | None:
    width = max(_text_width(line, MATRIX_FONT) for line in lines)
    height = len(lines) * MATRIX_FONT * 1.2
    gap = _MARK_R + 3
    for ring in range(reach):
        d = gap + ring * 10
        spots = [
            (x + d, y - height / 2),  # right
            (x - d - width, y - height / 2),  # left
            (x - width / 2, y - d - height),  # above
            (x - width / 2, y + d),  # below
            (x + d * 0.7, y - d * 0.7 - height),  # upper right
            (x - d * 0.7 - width, y - d * 0.7 - height),  # upper left
            (x + d * 0.7, y + d * 0.7),  # lower right
            (x - d * 0.7 - width, y + d * 0.7),  # lower left
        ]
        for sx, sy in spots:
            box = _label_box(sx, sy, lines)
            if box.inside(area) and not any(box.intersects(t) for t in taken):
                return box
    return None


def _matrix_label(label: MatrixLabel) -> str:
    """The label's lines on a white halo; a thin leader line when it sits away from its
    point, so that a reader knows which point it names."""
    box = label.box
    parts = []
    cx, cy = min(max(label.x, box.x0), box.x1), min(max(label.y, box.y0), box.y1)
    if math.hypot(cx - label.x, cy - label.y) > _MARK_R + 8:
        parts.append(
            f'<line x1="{label.x:.1f}" y1="{label.y:.1f}" x2="{cx:.1f}" y2="{cy:.1f}" '
            f'stroke="{MUTED}" stroke-width="0.6"/>'
        )
    for i, line in enumerate(label.lines):
        baseline = box.y0 + MATRIX_FONT * (1.2 * i + 0.95)
        text = _text(box.x0, baseline, line, size=MATRIX_FONT, fill=INK, anchor="start")
        klass = "label number" if label.number is not None else "label"
        text = text.replace("<text ", f'<text class="{klass}" ', 1)
        parts.append(text.replace("<text ", _HALO, 1) + text)
    return "".join(parts)


def _marker(cx: float, cy: float, kind: str) -> str:
    """A point's marker: its shape says the item's disposition."""
    r = _MARK_R
    shape = MARKERS.get(kind, "ring")
    common = f'class="point {kind or "undecided"}"'
    if shape == "circle":
        return (
            f'<circle {common} cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" fill="{BAR}" '
            f'stroke="#ffffff" stroke-width="1.2"/>'
        )
    if shape == "square":
        return (
            f'<rect {common} x="{cx - r + 0.5:.1f}" y="{cy - r + 0.5:.1f}" width="{2 * r - 1:.1f}" '
            f'height="{2 * r - 1:.1f}" fill="#ffffff" stroke="{BAR}" stroke-width="1.6"/>'
        )
    if shape == "diamond":
        return (
            f'<path {common} d="M{cx:.1f} {cy - r - 0.5:.1f}L{cx + r + 0.5:.1f} {cy:.1f}'
            f'L{cx:.1f} {cy + r + 0.5:.1f}L{cx - r - 0.5:.1f} {cy:.1f}z" fill="#ffffff" '
            f'stroke="{THRESHOLD}" stroke-width="1.6"/>'
        )
    if shape == "cross":
        return (
            f'<path {common} d="M{cx - r:.1f} {cy - r:.1f}L{cx + r:.1f} {cy + r:.1f}'
            f'M{cx - r:.1f} {cy + r:.1f}L{cx + r:.1f} {cy - r:.1f}" stroke="{OWN}" '
            f'stroke-width="2" fill="none"/>'
        )
    return (
        f'<circle {common} cx="{cx:.1f}" cy="{cy:.1f}" r="{r - 1}" fill="#ffffff" '
        f'stroke="{INK}" stroke-width="1.2"/>'
    )


def _shape_legend(kinds: Sequence[str], words: Mapping[str, str], width: int, y: float) -> str:
    """One line under the plot naming each marker shape shown."""
    entries = [(k, words.get(k or "undecided", k or "undecided")) for k in kinds]
    total = sum(_text_width(text, 9) + 26 for _k, text in entries)
    x = max((width - total) / 2, 4.0)
    parts = []
    for kind, text in entries:
        parts.append(_marker(x + _MARK_R, y - 3, kind))
        parts.append(_text(x + 2 * _MARK_R + 4, y, text, size=9, fill=INK, anchor="start"))
        x += _text_width(text, 9) + 26
    return "".join(parts)


def flow_svg(
    rows: Sequence[tuple[str, int, int]],
    *,
    dropouts: Sequence[int | None] | None = None,
    width: int = 480,
    title: str = "",
    labels: Mapping[str, str] | None = None,
    notes: Sequence[str | None] | None = None,
) -> str:
    """Participant flow: one box per round (label, invited, responded), arrows between.

    ``dropouts[i]``, when given and not None, is the number of panelists who answered the
    round before round i but not round i; it is written as a third line in the box.
    ``notes[i]``, when given and not None, is written as that line instead (e.g. round 0's
    proposals)."""
    words = _labels(labels)
    losses = list(dropouts or [None] * len(rows))
    losses += [None] * (len(rows) - len(losses))
    extra = list(notes or [None] * len(rows))
    extra += [None] * (len(rows) - len(extra))
    thirds = [
        note if note is not None else (None if loss is None else f"{loss} {words['dropped_out']}")
        for note, loss in zip(extra, losses, strict=True)
    ]
    box_h = 58.0 if any(third is not None for third in thirds) else 44.0
    gap, side = 26.0, 10.0
    height = int(side * 2 + len(rows) * box_h + max(len(rows) - 1, 0) * gap) or 1
    lines = []
    for (label, invited, responded), third in zip(rows, thirds, strict=True):
        line = (
            f"{label}: {words['invited']} {invited}, {words['responded']} {responded}"
            f" ({_pct(responded, invited)})"
        )
        if third is not None:
            line += f", {third}"
        lines.append(line)
    uid = _uid("flow", rows, thirds)
    parts = [
        _open_svg(width, height, uid, title or words["participant_flow"], "; ".join(lines)),
        f'<defs><marker id="{uid}-arrow" markerWidth="8" markerHeight="8" refX="4" refY="4" '
        f'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="{INK}"/></marker></defs>',
    ]
    box_w = width - 2 * side
    for i, ((label, invited, responded), third) in enumerate(zip(rows, thirds, strict=True)):
        y = side + i * (box_h + gap)
        parts.append(
            f'<rect class="box" x="{side:.1f}" y="{y:.1f}" width="{box_w:.1f}" '
            f'height="{box_h:.1f}" rx="4" fill="#ffffff" stroke="{BAR}" stroke-width="1.5"/>'
        )
        parts.append(_text(width / 2, y + 18, label, size=12, fill=INK, weight_bold=True))
        detail = (
            f"{words['invited']} {invited} · {words['responded']} {responded}"
            f" ({_pct(responded, invited)})"
        )
        parts.append(_text(width / 2, y + 34, detail, size=11, fill=INK))
        if third is not None:
            parts.append(_text(width / 2, y + 49, third, size=10, fill=MUTED))
        if i < len(rows) - 1:
            parts.append(
                f'<line x1="{width / 2:.1f}" y1="{y + box_h:.1f}" x2="{width / 2:.1f}" '
                f'y2="{y + box_h + gap - 6:.1f}" stroke="{INK}" stroke-width="1.5" '
                f'marker-end="url(#{uid}-arrow)"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


_HALO = '<text stroke="#ffffff" stroke-width="3" stroke-linejoin="round" '


def _labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """Defaults overridden by the caller's words; keys match loosely ("your rating")."""
    words = dict(DEFAULT_LABELS)
    for key, value in (labels or {}).items():
        words[key.strip().lower().replace(" ", "_")] = value
    return words


def _summary(
    n: int, median: float | None, q1: float | None, q3: float | None, words: Mapping[str, str]
) -> str:
    parts = [f"n = {n}"]
    if median is not None:
        parts.append(_median_text(median, words))
    if q1 is not None and q3 is not None:
        parts.append(_iqr_text(q1, q3, words))
    return ", ".join(parts)


def _median_text(median: float, words: Mapping[str, str]) -> str:
    return f"{words['median']} {_num(median, words['decimal_separator'])}"


def _iqr_text(q1: float, q3: float, words: Mapping[str, str]) -> str:
    sep = words["decimal_separator"]
    return f"{words['iqr']} {_num(q1, sep)}{DASH}{_num(q3, sep)}"


def _histogram_legend(
    uid: str,
    words: Mapping[str, str],
    median: float | None,
    q1: float | None,
    q3: float | None,
    highlight: int | None,
) -> str:
    """One line above the plot: shaded IQR, dashed median, hatched own rating."""
    parts: list[str] = []
    x = 6.0
    if q1 is not None and q3 is not None:
        parts.append(f'<rect x="{x}" y="3" width="12" height="9" fill="{IQR_FILL}"/>')
        text = _iqr_text(q1, q3, words)
        parts.append(_text(x + 15, 11, text, size=9, fill=INK, anchor="start"))
        x += 15 + _text_width(text, 9) + 10
    if median is not None:
        parts.append(
            f'<line x1="{x + 6}" y1="2" x2="{x + 6}" y2="13" stroke="{INK}" '
            f'stroke-width="2" stroke-dasharray="4 2"/>'
        )
        text = _median_text(median, words)
        parts.append(_text(x + 11, 11, text, size=9, fill=INK, anchor="start"))
        x += 11 + _text_width(text, 9) + 10
    if highlight is not None:
        parts.append(
            f'<rect x="{x}" y="3" width="10" height="9" fill="url(#{uid}-own)" '
            f'stroke="{INK}" stroke-width="1.5"/>'
        )
        text = f"{words['your_rating']} {highlight}"
        parts.append(_text(x + 14, 11, text, size=9, fill=INK, anchor="start"))
    return "".join(parts)


def _open_svg(width: int, height: int, uid: str, title: str, desc: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" font-family="{FONT}">'
        f'<title id="{uid}-title">{escape(title)}</title>'
        f'<desc id="{uid}-desc">{escape(desc)}</desc>'
    )


def _text(
    x: float,
    y: float,
    content: str,
    *,
    size: int,
    fill: str,
    anchor: str = "middle",
    weight_bold: bool = False,
) -> str:
    weight = ' font-weight="bold"' if weight_bold else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" '
        f'text-anchor="{anchor}"{weight}>{escape(content)}</text>'
    )


def _text_width(content: str, size: int) -> float:
    """A width for laying out labels, on the generous side: DejaVu Sans advances (in em)
    by kind of character, the widest of each kind rounded up."""
    return size * sum(_advance(ch) for ch in content)


def _advance(ch: str) -> float:
    if ch.isdigit():
        return 0.64
    if ch in " ,.;:'|!il":
        return 0.34
    if ch.isupper() or ch in "mw%&@":
        return 0.86 if ch in "MW%@" else 0.76
    return 0.64


def _num(value: float, sep: str = ".") -> str:
    """8.0 → "8", 6.5 → "6.5", 5.25 → "5.25" (or "5,25" with sep=",")."""
    return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", sep)


def _pct(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.0f}%" if whole else DASH


def _uid(kind: str, *args: object) -> str:
    """An id stable for the same drawing, distinct between drawings on one page."""
    return f"{kind}-" + hashlib.sha1(repr(args).encode(), usedforsecurity=False).hexdigest()[:8]
