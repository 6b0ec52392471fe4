"""Recommendation sheets never contradict the panel: each shows the verdict of every item it
rests on, a sheet resting on an item the panel did not accept is flagged with its
justification, and the summary lists such sheets apart. Dispositions say what decided them."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from reports import services
from reports.models import Recommendation
from reports.pdf import report_html
from rounds.models import (
    Criterion,
    Item,
    Panelist,
    Protocol,
    RoundItem,
    Study,
    StudyMembership,
)
from tests.factories import make_study, run_round
from tests.reports.helpers import JUSTIFICATION, finished_study

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _sheet(html: str, number: int) -> str:
    start = html.index(f'id="rec-{number}"')
    end = html.find("<article", start + 1)
    return _text(html[start : end if end > 0 else None])


@pytest.fixture
def study() -> Study:
    """Recommendation 1 rests on I01 (accepted) and I02 (rejected), 2 on I02 and I03
    (rejected, no consensus; no justification recorded), 3 on I01 alone."""
    study = finished_study(n_recommendations=2)
    services.recommendation_create(
        study=study, title="Only what the panel accepted", text="x",
        items=[Item.objects.get(study=study, code="I01")],
    )  # fmt: skip
    Recommendation.objects.filter(study=study, position=2).update(justification="")
    return study


def test_each_sheet_shows_the_verdict_of_every_item_it_rests_on(study: Study) -> None:
    html = report_html(study)

    first = _sheet(html, 1)
    assert "The panel's verdict on the items this recommendation rests on" in first
    assert "I01 Action item 1 (en) Accepted (round 1)" in first
    assert "I02 Action item 2 (en) Rejected (round 1)" in first
    second = _sheet(html, 2)
    assert "I03 Action item 3 (en) No consensus (final round) (round 2)" in second


def test_a_sheet_resting_on_an_item_not_accepted_is_flagged_with_its_justification(
    study: Study,
) -> None:
    html = report_html(study)

    first = _sheet(html, 1)
    assert "Not supported by the panel: this recommendation rests on an item" in first
    assert "I02 rejected" in first
    assert JUSTIFICATION in first
    second = _sheet(html, 2)
    assert "rests on 2 items the panel did not accept" in second
    assert "No justification was recorded." in second
    assert "Not supported by the panel" not in _sheet(html, 3)


def test_the_summary_lists_the_recommendations_the_panel_supported_apart(study: Study) -> None:
    summary = _text(report_html(study).split('id="summary"')[1].split('id="methods"')[0])

    supported = summary.split("Supported by the panel")[1].split("Not supported")[0]
    others = summary.split("Not supported by the panel's verdicts")[1]
    assert "3. Only what the panel accepted" in supported
    assert "Recommendation number 1" not in supported
    assert "1. Recommendation number 1 on I01 (I02 rejected)" in others
    assert "2. Recommendation number 2 on I02" in others


def _p14() -> Study:
    """The KCE decision rule; one item 96 % acceptable (every rating 8) but with a priority
    median of 6, in a single round: no consensus, and only the priority is to blame."""
    study = make_study(n_items=1, n_panelists=25)
    Protocol.objects.filter(study=study).update(
        max_rounds=1, accept_rule="acceptability = in AND priority.median >= 7"
    )

    def rate(panelist: Panelist, ri: RoundItem, criterion: Criterion) -> int:
        return 8 if criterion.code == "acceptability" else 6

    run_round(study, rate)
    return Study.objects.select_related("protocol").get(pk=study.pk)


BASIS = "Priority: median 6, the rule asks ≥ 7; Acceptability: consensus “in”"


def test_the_report_says_which_criterion_left_an_item_without_consensus() -> None:
    text = _text(report_html(_p14()))

    deciding = BASIS.split(";")[0]
    assert f"No consensus (final round) (margin 13) {deciding} " in text
    assert f"No consensus (final round) ({BASIS}; decision margin 13)" in text


def test_the_results_page_says_which_criterion_decided_the_item() -> None:
    study = _p14()
    user = User.objects.create_user("coord-p14", password="x")
    StudyMembership.objects.create(study=study, user=user, role="coordinator")
    client = Client()
    client.force_login(user)

    page = client.get(reverse("round-results", args=[study.slug, 1])).content.decode()

    assert f"Decided by: {BASIS}" in _text(page)
