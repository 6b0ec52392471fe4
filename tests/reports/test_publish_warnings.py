"""Publishing warns when the report is interim (study running) or nobody can read it, and
the PDF's title page says "interim" until the study is finished."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from reports import pdf, services
from reports.models import ReportVersion
from rounds.models import Study, StudyMembership
from tests.reports.conftest import Team


@pytest.fixture
def client(team: Team) -> Client:
    client = Client()
    client.force_login(team.coordinator)
    return client


@pytest.fixture
def ready(team: Team, fast_pdf: bytes, monkeypatch: pytest.MonkeyPatch) -> ReportVersion:
    monkeypatch.setattr("reports.tasks.generate_report.delay", lambda version_id: None)
    return services.report_build(version_id=services.report_request(study=team.study).pk)


def running(study: Study) -> None:
    Study.objects.filter(pk=study.pk).update(status=Study.Status.RUNNING)


def test_a_running_study_warns_and_publishes_only_when_confirmed(
    team: Team, client: Client, ready: ReportVersion
) -> None:
    running(team.study)
    url = reverse("report-version", args=[team.study.slug, 1])
    assert "this is an interim report" in client.get(url).content.decode()
    publish = reverse("report-publish", args=[team.study.slug, 1])
    response = client.post(publish, follow=True)
    assert b"Tick the box" in response.content
    ready.refresh_from_db()
    assert ready.published_at is None
    client.post(publish, {"confirmed": "yes"})
    ready.refresh_from_db()
    assert ready.published_at is not None


def test_it_warns_when_no_viewer_can_see_the_report(
    team: Team, client: Client, ready: ReportVersion
) -> None:
    StudyMembership.objects.filter(role=StudyMembership.Role.VIEWER).delete()
    html = client.get(reverse("report-version", args=[team.study.slug, 1])).content.decode()
    assert "Nobody can see it yet" in html


def test_a_finished_study_with_viewers_publishes_without_a_warning(
    team: Team, client: Client, ready: ReportVersion
) -> None:
    html = client.get(reverse("report-version", args=[team.study.slug, 1])).content.decode()
    assert "Before you publish" not in html


def test_the_title_page_says_interim_while_the_study_runs(team: Team) -> None:
    assert "final report" in pdf.report_html(team.study)
    running(team.study)
    team.study.refresh_from_db()
    html = pdf.report_html(team.study)
    assert "interim report" in html and "final report" not in html
