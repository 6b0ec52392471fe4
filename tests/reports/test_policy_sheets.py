"""The policy space shows the recommendation sheets themselves, with the items behind each
and their verdicts in plain words, and the summary written for policy readers."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from reports import services
from reports.models import Recommendation, RecommendationItem
from rounds.models import Study
from tests.reports.conftest import Team


@pytest.fixture
def published(team: Team, fast_pdf: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    study = team.study
    Study.objects.filter(pk=study.pk).update(
        policy_summary={"en": "For the minister: two actions."}
    )
    rec = Recommendation.objects.create(study=study, title="Fund GP teams",
                                        text="Give **every** practice a nurse.")  # fmt: skip
    RecommendationItem.objects.create(recommendation=rec, item=study.items.get(code="I01"))
    monkeypatch.setattr("reports.tasks.generate_report.delay", lambda version_id: None)
    version = services.report_build(version_id=services.report_request(study=study).pk)
    services.report_publish(version=version)


def test_a_viewer_reads_the_sheets_in_plain_words(team: Team, published: None) -> None:
    client = Client()
    client.force_login(team.viewer)
    html = client.get(reverse("policy-space", args=[team.study.slug])).content.decode()
    assert "For the minister: two actions." in html
    assert "1. Fund GP teams" in html
    assert "<strong>every</strong>" in html
    assert "half of the panel between" in html and "rated it high" in html
    assert "I01" in html[html.index("Fund GP teams") :]
