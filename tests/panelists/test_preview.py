"""Preview as a panelist: the round's real rating pages, in a language of the study, for
coordinators only; nothing a preview does is recorded."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from rounds import services
from rounds.models import AuditEntry, Participation, Rating, Study
from tests.factories import make_study, run_round
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    return make_study(n_items=4, n_panelists=4)


def counts() -> tuple[int, int, int]:
    return Rating.objects.count(), Participation.objects.count(), AuditEntry.objects.count()


def test_a_draft_round_previews_in_dutch_and_records_nothing(study: Study) -> None:
    services.round_create(study=study)
    client = as_user(member(study, "coordinator"))
    before = counts()
    page = client.get(reverse("round-preview", args=[study.slug, 1]), {"language": "nl"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Voorvertoning als panellid (nl)" in html  # the page as a Dutch panelist sees it
    assert "Action item 1 (nl)" in html
    step = page.context["step"].name
    form = page.context["form"]
    data = {form.add_prefix(name): "7" for name in form.fields if name.startswith("r-")}
    url = reverse("round-preview-step", args=[study.slug, 1, step]) + "?language=nl"
    moved = client.post(url, data)
    assert moved.status_code == 302  # on to the next step
    errors = client.post(url, {})
    assert b"error-summary" in errors.content  # the errors show as a panelist sees them
    assert counts() == before


def test_round_two_previews_with_last_rounds_feedback(study: Study) -> None:
    run_round(study)
    client = as_user(member(study, "coordinator"))
    before = counts()
    url = reverse("round-preview", args=[study.slug, 2])
    html = client.get(url, {"language": "en"}).content.decode()
    assert "Last round: median" in html
    assert counts() == before


def test_only_the_studys_coordinators_can_preview(study: Study) -> None:
    services.round_create(study=study)
    viewer = as_user(member(study, "viewer"))
    assert viewer.get(reverse("round-preview", args=[study.slug, 1])).status_code == 404
    assert Client().get(reverse("round-preview", args=[study.slug, 1])).status_code == 302
