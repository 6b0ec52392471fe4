"""The report states its statistical caveats: Kendall's W rests on complete cases (m is
printed), the many stability p-values are Holm-adjusted (or said to be uncorrected), and the
drop-outs' per-item figures carry their n."""

from __future__ import annotations

import re

import pytest

from reports.pdf import report_html
from rounds.models import Result, RoundAnalysis, Study
from tests.reports.helpers import finished_study

pytestmark = pytest.mark.django_db


def _text(html: str, section: str) -> str:
    part = html.split(f'id="{section}"')[1].split('<section class="chapter"')[0]
    return " ".join(re.sub(r"<[^>]+>", " ", part).split())


@pytest.fixture
def study() -> Study:
    return finished_study(n_items=4, n_panelists=10, dropouts=2)


def test_kendalls_w_prints_m_and_says_it_uses_complete_cases_only(study: Study) -> None:
    analysis = RoundAnalysis.objects.get(round__study=study, round__number=1)
    analysis.kendall = [
        {"round": 1, "criterion": "acceptability", "w": 0.61, "m": 8, "n_items": 4,
         "n_panelists": 10},
    ]  # fmt: skip
    analysis.save()

    text = _text(report_html(study), "stability")

    assert "W uses complete cases only" in text
    assert "m (complete cases) left out" in text
    assert re.search(r"1 Acceptability 0\.610 8 2 4", text)


def test_stability_p_values_are_said_to_be_uncorrected_without_holm(study: Study) -> None:
    for result in Result.objects.filter(round__study=study, round__number=2):
        held = {k: v for k, v in result.stability.items() if not k.endswith("_holm")}
        Result.objects.filter(pk=result.pk).update(stability=held)  # an analysis from before

    text = _text(report_html(study), "stability")

    assert "not corrected" in text
    assert re.search(r"n \d+ · Wilcoxon p", text)


def test_stability_prints_holm_adjusted_p_values_when_the_analysis_has_them(
    study: Study,
) -> None:
    for result in Result.objects.filter(round__study=study, round__number=2):
        if result.stability:
            result.stability = {**result.stability, "wilcoxon_p_holm": 0.5, "mcnemar_p_holm": 1.0}
            result.save()

    text = _text(report_html(study), "stability")

    assert "adjusted by Holm's method" in text
    assert "[0.500] · McNemar p" in text and "[1.000]" in text


def test_the_drop_outs_figures_per_item_print_their_n(study: Study) -> None:
    text = _text(report_html(study), "attrition")

    header = "Item Criterion n, stayed n, dropped out median, stayed"
    assert header in text
    assert re.search(r"I0\d (Acceptability|Priority) 8 2 ", text)
    assert (
        "with 2 drop-outs, one rating more or less in the high band moves theirs by about 50"
        in (text)
    )
