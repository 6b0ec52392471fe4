"""Who reaches what: viewers download the published version and change nothing; panelists
and strangers never reach a report."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from panelists.views import SESSION_KEY
from reports import services
from reports.models import Recommendation, ReportVersion
from tests.reports.conftest import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(team: Team, fast_pdf: bytes, monkeypatch: pytest.MonkeyPatch) -> list[ReportVersion]:
    """v1 published, v2 ready but not published."""
    monkeypatch.setattr("reports.tasks.generate_report.delay", lambda version_id: None)
    v1 = services.report_build(version_id=services.report_request(study=team.study).pk)
    v2 = services.report_build(version_id=services.report_request(study=team.study).pk)
    services.report_publish(version=v1)
    return [v1, v2]


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _coordinator_urls(team: Team, rec: Recommendation) -> list[tuple[str, str]]:
    slug = team.study.slug
    return [
        ("get", reverse("recommendation-list", args=[slug])),
        ("get", reverse("recommendation-create", args=[slug])),
        ("post", reverse("recommendation-create", args=[slug])),
        ("get", reverse("recommendation-edit", args=[slug, rec.pk])),
        ("post", reverse("recommendation-edit", args=[slug, rec.pk])),
        ("post", reverse("recommendation-move", args=[slug, rec.pk])),
        ("get", reverse("recommendation-delete", args=[slug, rec.pk])),
        ("post", reverse("recommendation-delete", args=[slug, rec.pk])),
        ("get", reverse("report-versions", args=[slug])),
        ("post", reverse("report-generate", args=[slug])),
        ("get", reverse("report-version", args=[slug, 1])),
        ("get", reverse("report-status", args=[slug, 1])),
        ("post", reverse("report-publish", args=[slug, 2])),
        ("post", reverse("report-withdraw", args=[slug, 1])),
    ]


def test_a_viewer_sees_the_policy_space_with_the_published_version(
    team: Team, versions: list[ReportVersion]
) -> None:
    page = _client(team.viewer).get(reverse("policy-space", args=[team.study.slug]))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Report version 1" in html
    assert reverse("report-download", args=[team.study.slug, 1, "report.pdf"]) in html
    assert "/v2/" not in html
    assert "Recommendation number 1 on I01" in html
    assert "Action item 1 (en)" in html  # the results table


def test_a_viewer_downloads_every_file_of_the_published_version(
    team: Team, versions: list[ReportVersion]
) -> None:
    client = _client(team.viewer)
    for filename in ("report.pdf", "data.zip", "ratings.csv", "results.csv", "data.xlsx"):
        url = reverse("report-download", args=[team.study.slug, 1, filename])
        assert client.get(url).status_code == 200, filename


def test_a_viewer_gets_404_for_an_unpublished_version(
    team: Team, versions: list[ReportVersion]
) -> None:
    url = reverse("report-download", args=[team.study.slug, 2, "report.pdf"])

    assert _client(team.viewer).get(url).status_code == 404


def test_a_viewer_gets_404_on_every_coordinator_page_and_changes_nothing(
    team: Team, versions: list[ReportVersion]
) -> None:
    client = _client(team.viewer)
    rec = Recommendation.objects.filter(study=team.study).first()
    assert rec is not None
    before = (
        list(Recommendation.objects.filter(study=team.study).values_list("pk", "position")),
        list(ReportVersion.objects.filter(study=team.study).values_list("pk", "published_at")),
    )

    for method, url in _coordinator_urls(team, rec):
        response = getattr(client, method)(url, {"direction": "up", "title": "x", "text": "y"})
        assert response.status_code == 404, (method, url)

    after = (
        list(Recommendation.objects.filter(study=team.study).values_list("pk", "position")),
        list(ReportVersion.objects.filter(study=team.study).values_list("pk", "published_at")),
    )
    assert after == before


def test_the_older_links_give_a_viewer_the_published_files(
    team: Team, versions: list[ReportVersion]
) -> None:
    client = _client(team.viewer)
    slug = team.study.slug

    pdf = client.get(reverse("report-pdf", args=[slug]))
    assert pdf.status_code == 200 and pdf["Content-Disposition"].endswith(
        "-v1-" + _day(versions[0]) + '.pdf"'
    )
    ratings = client.get(reverse("export-ratings", args=[slug]))
    assert ratings.status_code == 200 and "-v1-" in ratings["Content-Disposition"]


def _day(version: ReportVersion) -> str:
    return str(version.stamp["generated_at"])[:10].replace("-", "")


def test_without_a_published_version_a_viewer_gets_nothing(team: Team) -> None:
    client = _client(team.viewer)
    slug = team.study.slug

    assert (
        "has not been published yet"
        in client.get(reverse("policy-space", args=[slug])).content.decode()
    )
    assert client.get(reverse("report-pdf", args=[slug])).status_code == 404
    assert client.get(reverse("export-results", args=[slug])).status_code == 404


def test_a_panelist_cannot_reach_the_report(team: Team, versions: list[ReportVersion]) -> None:
    client = Client()
    session = client.session
    session[SESSION_KEY] = team.study.panelists.first().pk  # type: ignore[union-attr]
    session.save()
    slug = team.study.slug

    for url in (
        reverse("policy-space", args=[slug]),
        reverse("report-pdf", args=[slug]),
        reverse("export-ratings", args=[slug]),
        reverse("report-download", args=[slug, 1, "report.pdf"]),
        reverse("report-download", args=[slug, 1, "data.zip"]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_a_user_with_no_role_in_the_study_gets_404(
    team: Team, versions: list[ReportVersion]
) -> None:
    client = _client(team.outsider)
    slug = team.study.slug

    assert client.get(reverse("policy-space", args=[slug])).status_code == 404
    url = reverse("report-download", args=[slug, 1, "report.pdf"])
    assert client.get(url).status_code == 404


def test_a_coordinator_downloads_any_ready_version_and_live_data(
    team: Team, versions: list[ReportVersion]
) -> None:
    client = _client(team.coordinator)
    slug = team.study.slug

    assert client.get(reverse("report-download", args=[slug, 2, "report.pdf"])).status_code == 200
    live = client.get(reverse("export-ratings", args=[slug]))
    assert live.status_code == 200 and "-v" not in live["Content-Disposition"]
    policy = client.get(reverse("policy-space", args=[slug])).content.decode()
    assert "as the policy team does" in policy
