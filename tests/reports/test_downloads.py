"""Downloads carry the right content type and a meaningful file name; the status page
shows progress with and without JavaScript."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from reports import services
from reports.models import ReportVersion
from tests.reports.conftest import Team

pytestmark = pytest.mark.django_db

TYPES = {
    "report.pdf": ("application/pdf", "report", "pdf"),
    "data.zip": ("application/zip", "report", "zip"),
    "ratings.csv": ("text/csv; charset=utf-8", "ratings", "csv"),
    "results.csv": ("text/csv; charset=utf-8", "results", "csv"),
    "comments.csv": ("text/csv; charset=utf-8", "comments", "csv"),
    "codebook.csv": ("text/csv; charset=utf-8", "codebook", "csv"),
    "data.xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "data", "xlsx"
    ),
}  # fmt: skip


@pytest.fixture
def client(team: Team) -> Client:
    client = Client()
    client.force_login(team.coordinator)
    return client


@pytest.fixture
def ready(team: Team, fast_pdf: bytes, monkeypatch: pytest.MonkeyPatch) -> ReportVersion:
    monkeypatch.setattr("reports.tasks.generate_report.delay", lambda version_id: None)
    return services.report_build(version_id=services.report_request(study=team.study).pk)


@pytest.mark.parametrize("filename", list(TYPES))
def test_each_file_has_its_content_type_and_a_versioned_dated_name(
    filename: str, team: Team, client: Client, ready: ReportVersion
) -> None:
    content_type, what, ext = TYPES[filename]
    day = ready.stamp["generated_at"][:10].replace("-", "")

    response = client.get(reverse("report-download", args=[team.study.slug, 1, filename]))

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == (
        f'attachment; filename="{team.study.slug}-{what}-v1-{day}.{ext}"'
    )


def test_an_unknown_file_name_is_404(team: Team, client: Client, ready: ReportVersion) -> None:
    url = reverse("report-download", args=[team.study.slug, 1, "secrets.txt"])

    assert client.get(url).status_code == 404


def test_the_generate_button_queues_a_version_and_shows_its_progress(
    team: Team, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reports.tasks.generate_report.delay", lambda version_id: None)

    response = client.post(reverse("report-generate", args=[team.study.slug]), follow=True)

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("report-version", args=[team.study.slug, 1])
    assert '<progress id="progress-bar" max="100" value="0">' in html
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html
    assert reverse("report-status", args=[team.study.slug, 1]) in html


def test_the_status_endpoint_reports_progress_as_json(
    team: Team, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reports.tasks.generate_report.delay", lambda version_id: None)
    version = services.report_request(study=team.study)
    ReportVersion.objects.filter(pk=version.pk).update(
        status="running", progress=42, step="Laying out the pages"
    )

    data = client.get(reverse("report-status", args=[team.study.slug, 1])).json()

    assert data == {
        "version": 1, "status": "running", "status_label": "Generating", "progress": 42,
        "step": "Laying out the pages", "finished": False,
    }  # fmt: skip


def test_a_ready_version_page_lists_its_files_and_offers_to_publish(
    team: Team, client: Client, ready: ReportVersion
) -> None:
    html = client.get(reverse("report-version", args=[team.study.slug, 1])).content.decode()

    assert "<progress" not in html and "http-equiv" not in html
    for filename in TYPES:
        assert reverse("report-download", args=[team.study.slug, 1, filename]) in html
    assert reverse("report-publish", args=[team.study.slug, 1]) in html
    assert ready.stamp["protocol_hash"] in html


def test_publishing_from_the_page_replaces_the_button_with_withdraw(
    team: Team, client: Client, ready: ReportVersion
) -> None:
    response = client.post(reverse("report-publish", args=[team.study.slug, 1]), follow=True)

    html = response.content.decode()
    assert "the report the policy team sees" in html
    assert reverse("report-withdraw", args=[team.study.slug, 1]) in html


def test_the_report_link_sends_a_coordinator_to_generate_when_there_is_no_version(
    team: Team, client: Client
) -> None:
    response = client.get(reverse("report-pdf", args=[team.study.slug]))

    assert response.status_code == 302
    assert response["Location"] == reverse("report-versions", args=[team.study.slug])
