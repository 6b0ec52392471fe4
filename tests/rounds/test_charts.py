"""The SVG charts: well-formed, accessible, faithful to the numbers, and free of Django."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rounds.charts import (
    DASH,
    Box,
    compact_histogram_svg,
    flow_svg,
    histogram_svg,
    matrix_labels,
    priority_matrix,
    priority_matrix_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[2]
COUNTS = [0, 1, 0, 2, 3, 5, 12, 20, 16]  # n = 59, as in the KCE panel


def _histogram(**overrides: object) -> ET.Element:
    kwargs: dict[str, object] = {
        "scale_min": 1,
        "median": 8.0,
        "q1": 7.0,
        "q3": 9.0,
        "highlight": 6,
        "bands": (3, 7),
    }
    kwargs.update(overrides)
    return ET.fromstring(histogram_svg(COUNTS, **kwargs))  # type: ignore[arg-type]


def _bars(svg: ET.Element) -> list[ET.Element]:
    return [r for r in svg.iter(f"{SVG}rect") if "bar" in (r.get("class") or "").split()]


def test_it_draws_one_bar_per_scale_point() -> None:
    svg = _histogram()

    assert [bar.get("data-point") for bar in _bars(svg)] == [str(p) for p in range(1, 10)]


def test_it_writes_each_count_above_its_bar() -> None:
    texts = [t.text for t in _histogram().iter(f"{SVG}text")]

    for count in COUNTS:
        assert str(count) in texts


def test_it_draws_taller_bars_for_larger_counts() -> None:
    heights = {b.get("data-point"): float(b.get("height") or 0) for b in _bars(_histogram())}

    assert heights["8"] > heights["7"] > heights["6"] > heights["1"] == 0


def test_it_marks_the_panelists_own_rating_by_more_than_colour() -> None:
    bars = _bars(_histogram(highlight=6))
    own = [b for b in bars if "own" in (b.get("class") or "")]
    others = [b for b in bars if b not in own]

    assert [b.get("data-point") for b in own] == ["6"]
    assert own[0].get("fill", "").startswith("url(#")  # a hatch pattern
    assert own[0].get("stroke")  # and an outline
    assert all(b.get("fill") != own[0].get("fill") and not b.get("stroke") for b in others)


def test_it_highlights_nothing_without_a_previous_rating() -> None:
    bars = _bars(_histogram(highlight=None))

    assert len({b.get("fill") for b in bars}) == 1


def test_it_summarises_n_median_and_iqr_in_title_and_description() -> None:
    svg = _histogram(title="Acceptability")

    assert svg.get("role") == "img"
    assert svg.findtext(f"{SVG}title") == "Acceptability"
    desc = svg.findtext(f"{SVG}desc") or ""
    assert f"n = 59, median 8, IQR 7{DASH}9" in desc
    assert "your rating: 6" in desc


def test_it_labels_the_chart_by_its_title_and_description() -> None:
    svg = _histogram()
    ids = {el.get("id") for el in svg if el.tag in {f"{SVG}title", f"{SVG}desc"}}

    assert set((svg.get("aria-labelledby") or "").split()) == ids


def test_it_uses_the_callers_translated_words() -> None:
    labels = {"median": "médiane", "IQR": "EIQ", "your rating": "votre note"}
    svg = _histogram(median=6.5, q1=5.25, q3=7.75, labels=labels)

    desc = svg.findtext(f"{SVG}desc") or ""
    assert "médiane 6.5" in desc
    assert f"EIQ 5.25{DASH}7.75" in desc
    assert "votre note: 6" in desc


def test_it_writes_numbers_with_the_callers_decimal_mark() -> None:
    svg = _histogram(median=6.5, q1=5.25, q3=7.75, labels={"decimal_separator": ","})

    assert f"median 6,5, IQR 5,25{DASH}7,75" in (svg.findtext(f"{SVG}desc") or "")


def test_it_draws_the_iqr_band_and_the_median_line_where_they_fall() -> None:
    svg = _histogram(median=8.0, q1=7.0, q3=9.0)
    bars = {b.get("data-point"): b for b in _bars(svg)}
    median = next(line for line in svg.iter(f"{SVG}line") if line.get("class") == "median")

    centre = float(bars["8"].get("x") or 0) + float(bars["8"].get("width") or 0) / 2
    assert abs(float(median.get("x1") or 0) - centre) < 0.2


def test_it_omits_median_and_iqr_when_nobody_rated() -> None:
    svg = ET.fromstring(histogram_svg([0] * 9, scale_min=1, median=None, q1=None, q3=None))

    assert svg.findtext(f"{SVG}desc", "").startswith("n = 0")
    assert "median" not in (svg.findtext(f"{SVG}desc") or "")
    assert not [line for line in svg.iter(f"{SVG}line") if line.get("class") == "median"]


def test_it_escapes_markup_in_every_text() -> None:
    text = histogram_svg(
        COUNTS, scale_min=1, median=8, q1=7, q3=9, title="A <b> & C", labels={"median": "<m&>"}
    )
    svg = ET.fromstring(text)

    assert svg.findtext(f"{SVG}title") == "A <b> & C"
    assert "<m&> 8" in (svg.findtext(f"{SVG}desc") or "")
    assert "<b>" not in text


def test_two_charts_on_one_page_do_not_share_pattern_ids() -> None:
    first = _histogram(highlight=6)
    second = _histogram(highlight=7)

    def ids(svg: ET.Element) -> set[str]:
        return {el.get("id") or "" for el in svg.iter() if el.get("id")}

    assert not ids(first) & ids(second)


def test_the_priority_matrix_places_each_item_and_both_thresholds() -> None:
    points = [("A1", 8.0, 7.0), ("A2", 8.0, 7.0), ("B<3>", 5.5, 3.0)]
    svg = ET.fromstring(
        priority_matrix_svg(
            points, x_threshold=7, y_threshold=7, x_label="Acceptability", y_label="Priority & co"
        )
    )

    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "A1, A2" in texts and "B<3>" in texts and "Priority & co" in texts
    points_drawn = [c for c in svg.iter() if (c.get("class") or "").startswith("point")]
    assert len(points_drawn) == 2
    assert len([x for x in svg.iter(f"{SVG}line") if x.get("class") == "threshold"]) == 2
    assert "B<3>: Acceptability 5.5, Priority & co 3" in (svg.findtext(f"{SVG}desc") or "")


def _dense_points(seed: int, n: int) -> list[tuple[str, float, float]]:
    """Medians on the half-point grid of a 1-9 scale, crowded in the high corner."""
    rng = random.Random(seed)
    return [
        (f"{rng.choice('PC')}{i:02d}", rng.choice([6, 6.5, 7, 7.5, 8, 8.5]),
         rng.choice([5, 5.5, 6, 6.5, 7, 7.5, 8]))
        for i in range(n)
    ]  # fmt: skip


@pytest.mark.parametrize("seed", range(12))
def test_no_two_matrix_labels_overlap_each_other_or_a_marker(seed: int) -> None:
    points = _dense_points(seed, 12 + 4 * seed)
    kinds = {code: ["accepted", "no_consensus", "rejected"][i % 3] for i, (code, _x, _y)
             in enumerate(points)}  # fmt: skip
    area = Box(44, 12, 468, 406)
    placed = [(c, 44 + (x - 1) / 8 * 424, 12 + 394 - (y - 1) / 8 * 394) for c, x, y in points]

    labels = matrix_labels(placed, area, kinds)

    boxes = [label.box for label in labels]
    assert all(b.inside(area) for b in boxes)
    for i, a in enumerate(boxes):
        assert not any(a.intersects(b) for b in boxes[i + 1 :])
    marks = {(round(x, 1), round(y, 1)) for _c, x, y in placed}
    for box in boxes:
        assert not any(Box(x - 4.5, y - 4.5, x + 4.5, y + 4.5).intersects(box) for x, y in marks)
    assert sorted(c for label in labels for c in label.codes) == sorted(c for c, _x, _y in points)


def test_the_matrix_gives_each_disposition_its_own_marker_and_a_legend() -> None:
    points = [("A1", 8.0, 8.0), ("A2", 8.0, 8.0), ("R1", 2.0, 2.0), ("N1", 8.0, 6.0)]
    kinds = {"A1": "accepted", "A2": "rejected", "R1": "rejected", "N1": "no_consensus"}
    matrix = priority_matrix(
        points, x_threshold=6.5, y_threshold=6.5, x_label="x", y_label="y",
        dispositions=kinds, labels={"no_consensus": "no consensus (final round)"},
    )  # fmt: skip
    svg = ET.fromstring(matrix.svg)

    classes = [
        el.get("class") or "" for el in svg.iter() if (el.get("class") or "").startswith("point")
    ]
    # two markers at (8, 8) side by side, one each elsewhere, three in the legend
    assert sorted(classes).count("point rejected") == 3
    assert sorted(classes).count("point accepted") == 2
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "no consensus (final round)" in texts and "A1, A2" in texts
    assert "N1: x 8, y 6, no consensus (final round)" in (svg.findtext(f"{SVG}desc") or "")


def test_the_flow_diagram_has_a_box_per_round_and_arrows_between() -> None:
    svg = ET.fromstring(flow_svg([("Round 1", 59, 52), ("Round 2", 59, 47)]))

    assert len([r for r in svg.iter(f"{SVG}rect") if r.get("class") == "box"]) == 2
    assert len([x for x in svg.iter(f"{SVG}line") if x.get("marker-end")]) == 1
    assert "Round 2: invited 59, responded 47 (80%)" in (svg.findtext(f"{SVG}desc") or "")


def test_the_chart_module_loads_no_django() -> None:
    code = (
        "import sys, rounds.charts; "
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')); "
        "print(','.join(loaded)); sys.exit(1 if loaded else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, f"rounds.charts imported Django: {done.stdout}{done.stderr}"


def test_the_flow_diagram_notes_drop_outs_since_the_previous_round() -> None:
    svg = ET.fromstring(flow_svg([("Round 1", 59, 59), ("Round 2", 59, 53)], dropouts=[None, 6]))

    desc = svg.findtext(f"{SVG}desc") or ""
    assert "Round 1: invited 59, responded 59 (100%);" in desc
    assert "Round 2: invited 59, responded 53 (90%), 6 dropped out" in desc
    assert any("6 dropped out" in (t.text or "") for t in svg.iter(f"{SVG}text"))


def _compact(**overrides: object) -> ET.Element:
    kwargs: dict[str, object] = {
        "scale_min": 1,
        "median": 8.0,
        "q1": 7.0,
        "q3": 9.0,
        "bands": (3, 7),
        "title": "P06: Acceptability, round 2",
    }
    kwargs.update(overrides)
    return ET.fromstring(compact_histogram_svg(COUNTS, **kwargs))  # type: ignore[arg-type]


def test_the_compact_histogram_draws_the_bars_in_one_path_of_few_elements() -> None:
    svg = _compact()

    bars = [p for p in svg.iter(f"{SVG}path") if p.get("class") == "bars"]
    assert len(bars) == 1
    assert (bars[0].get("d") or "").count("M") == sum(1 for c in COUNTS if c)
    assert len(list(svg.iter())) < 12  # a PDF renderer pays per element


def test_the_compact_histogram_describes_every_count_for_screen_readers() -> None:
    svg = _compact()

    assert svg.get("role") == "img"
    assert (svg.findtext(f"{SVG}title") or "").startswith("P06: Acceptability, round 2. n = 59")
    desc = svg.findtext(f"{SVG}desc") or ""
    assert f"n = 59, median 8, IQR 7{DASH}9" in desc
    assert "1: 0, 2: 1, 3: 0, 4: 2, 5: 3, 6: 5, 7: 12, 8: 20, 9: 16" in desc


def test_the_compact_histogram_places_each_scale_point_under_its_bar() -> None:
    svg = _compact()
    labels = [t for t in svg.iter(f"{SVG}text")]

    assert len(labels) == 1 and labels[0].text == "123456789"
    xs = [float(x) for x in (labels[0].get("x") or "").split()]
    assert len(xs) == 9 and all(b > a for a, b in itertools.pairwise(xs))


def test_the_compact_histogram_writes_two_digit_points_one_by_one() -> None:
    svg = ET.fromstring(
        compact_histogram_svg([1] * 11, scale_min=0, median=5, q1=3, q3=7, title="0-10")
    )

    assert [t.text for t in svg.iter(f"{SVG}text")] == [str(v) for v in range(11)]


def test_two_compact_charts_with_different_keys_do_not_share_ids() -> None:
    first, second = _compact(key="sheet-1"), _compact(key="sheet-2")

    assert first.get("aria-labelledby") != second.get("aria-labelledby")
