"""No share is rounded across its threshold: 38 of 51 (74.51 %) under "at least 75 %" reads
74.5 %, never 75 %, in the report, on the coordinator's results page and in the policy space."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from reports import services
from reports.pdf import report_html
from rounds.models import Criterion, Panelist, Protocol, RoundItem, Study, StudyMembership
from tests.factories import make_study, run_round

pytestmark = pytest.mark.django_db


def _just_short_of_75_percent() -> Study:
    """One item; acceptability 38 of 51 in the high band (74.51 %), priority 7 for all."""
    study = make_study(n_items=1, n_panelists=51)
    Protocol.objects.filter(study=study).update(max_rounds=1)
    order = {p.pk: i for i, p in enumerate(study.panelists.order_by("pseudonym"))}

    def rate(panelist: Panelist, ri: RoundItem, criterion: Criterion) -> int:
        if criterion.code == "priority":
            return 7
        return 8 if order[panelist.pk] < 38 else 5

    run_round(study, rate)
    services.recommendation_create(
        study=study,
        title="Act",
        text="Act.",
        items=list(study.items.all()),
        justification="Kept for the test.",
    )
    return Study.objects.select_related("protocol").get(pk=study.pk)


def _client(study: Study, role: str) -> Client:
    user = User.objects.create_user(f"{role}-{study.pk}", password="x")
    StudyMembership.objects.create(study=study, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_the_report_prints_74_5_not_75_for_38_of_51() -> None:
    html = report_html(_just_short_of_75_percent())

    assert "74.5%" in html
    assert not re.search(r"\b75%, none", html)
    assert "74.5% in the high band, consensus none" in html


def test_the_results_page_prints_74_5() -> None:
    study = _just_short_of_75_percent()

    page = _client(study, "coordinator").get(reverse("round-results", args=[study.slug, 1]))

    cells = re.findall(r'<td class="num">([\d.]+)%</td>', page.content.decode())
    assert "74.5" in cells and "75" not in cells and "75.0" not in cells


def test_the_policy_space_prints_74_5(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reports.pdf.html_to_pdf", lambda html, **options: b"%PDF-1.7\n%%EOF\n")
    monkeypatch.setattr("reports.tasks.generate_report.delay", lambda version_id: None)
    study = _just_short_of_75_percent()
    version = services.report_build(version_id=services.report_request(study=study).pk)
    services.report_publish(version=version)

    page = _client(study, "viewer").get(reverse("policy-space", args=[study.slug]))

    html = page.content.decode()
    assert "74.5%" in html and "75%" not in html
