"""An authorization walk over every URL the project serves.

Every named URL (Django's admin and static files aside) must be listed here with who may
use it; a new URL fails `test_every_url_is_classified` until it is. Then each URL is tried,
GET and POST, by everyone who may not use it (nobody logged in, a panelist's session, a
viewer of the study, a coordinator of another study, staff without a role): coordinator
pages send the anonymous to the login page and answer 404 to the others (a study's existence
is not revealed), panelist pages answer 403 without a panelist session; nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from panelists import links
from panelists.models import EmailMessage, PersonalLink
from reports import services as report_services
from reports.models import Recommendation, ReportVersion
from rounds.models import AuditEntry, HiddenComment, Panelist, Rating, Round, Study
from tests.reports.helpers import finished_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db

RUN, VIEW, PANELIST, STAFF, PUBLIC = "run", "view", "panelist", "staff", "public"


@dataclass(frozen=True)
class World:
    study: Study
    rating: Rating
    recommendation: Recommendation


Urls = Callable[[World], list[tuple[str, str]]]


def _s(w: World) -> str:
    return w.study.slug


def both(name: str, *args: Callable[[World], object]) -> tuple[str, Urls]:
    return name, lambda w: [(m, reverse(name, args=[a(w) for a in args])) for m in ("get", "post")]


def post(name: str, *args: Callable[[World], object]) -> tuple[str, Urls]:
    return name, lambda w: [("post", reverse(name, args=[a(w) for a in args]))]


def get(name: str, *args: Callable[[World], object]) -> tuple[str, Urls]:
    return name, lambda w: [("get", reverse(name, args=[a(w) for a in args]))]


def one(_w: World) -> int:
    return 1


def rec(w: World) -> int:
    return w.recommendation.pk


# Who may use each URL, and how to build it.
URLS: dict[str, tuple[str, Urls]] = {
    name: (audience, urls)
    for audience, entries in {
        RUN: [
            both("study-detail", _s), both("audit-log", _s), both("protocol-edit", _s),
            both("import-upload", _s, lambda w: "items"), post("round-create", _s),
            both("round-results", _s, one), both("round-items", _s, one),
            post("round-item-action", _s, one, lambda w: "drop"),
            post("decision-override", _s, one, lambda w: w.study.rounds.get(
                number=1).decisions.first().pk),
            post("round-action", _s, one, lambda w: "close"),
            both("round-detail", _s, one), get("round-status", _s, one),
            post("round-remind", _s, one), post("round-reminder-schedule", _s, one),
            both("recommendation-list", _s), both("recommendation-create", _s),
            both("recommendation-edit", _s, rec), post("recommendation-move", _s, rec),
            both("recommendation-delete", _s, rec), both("report-versions", _s),
            post("report-generate", _s), both("report-version", _s, one),
            get("report-status", _s, one), post("report-publish", _s, one),
            post("report-withdraw", _s, one),
            both("round-comments", _s, one), post("comment-hide", _s, lambda w: w.rating.pk),
            post("comment-show", _s, lambda w: w.rating.pk), both("study-privacy", _s),
            both("study-record", _s),
            post("panelist-action", _s, one, lambda w: "P001", lambda w: "revoke"),
            both("email-templates", _s), get("round-preview", _s, one),
            get("round-preview-step", _s, one, lambda w: "d1"), post("study-contact", _s),
            post("study-end", _s), get("team", _s), both("study-texts", _s),
            post("round-introduction", _s, one), post("team-member", _s, one, lambda w: "remove"),
            post("team-invitation-revoke", _s, one),
            get("panelist-export", _s, lambda w: "P001", lambda w: "json"),
            get("panelist-export", _s, lambda w: "P001", lambda w: "csv"),
            post("panelist-erase", _s, lambda w: "P001"), get("study-file", _s),
            get("round0", _s), post("round0-action", _s, lambda w: "add"),
            post("proposal-action", _s, one, lambda w: "decline"),
            post("round0-remind", _s), post("round0-reminder-schedule", _s),
        ],
        VIEW: [both("policy-space", _s), get("report-download", _s, one, lambda w: "report.pdf"),
               get("report-pdf", _s), get("export-ratings", _s), get("export-results", _s)],
        STAFF: [both("study-setup"), both("study-setup-step", lambda w: "basics"),
                both("study-from-file"), both("study-from-file-review"),
                both("password_change"), get("password_change_done"),
                both("two-step"), both("two-step-verify")],
        PANELIST: [both("panelist-home"), post("panelist-consent"), both("panelist-rate"),
                   both("panelist-rate-step", lambda w: "d1"), both("panelist-review"),
                   get("panelist-live", lambda w: "d1"),
                   post("panelist-submit"), both("panelist-thanks"),
                   both("panelist-proposals")],
        PUBLIC: [get("healthz"), get("home"), get("demo-visitor"), get("login"), post("logout"),
                 post("set_language"), get("password_reset"), get("password_reset_done"),
                 get("password_reset_complete"),
                 get("password_reset_confirm", lambda w: "MQ", lambda w: "set-password"),
                 get("panelist-link", lambda w: "not-a-token"),
                 get("team-accept", lambda w: "not-a-token")],
    }.items()
    for name, urls in entries
}  # fmt: skip


def _names(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if not route.startswith("admin/"):
                yield from _names(pattern.url_patterns, route)
        elif pattern.name:
            yield pattern.name


def test_every_url_is_classified() -> None:
    served = set(_names(get_resolver().url_patterns))
    assert served - URLS.keys() == set(), "classify the new URLs in URLS"
    assert URLS.keys() - served == set(), "remove the URLs that no longer exist"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    from reports import pdf

    monkeypatch.setattr(pdf, "html_to_pdf", lambda html, **options: b"%PDF-1.7\n%%EOF\n")
    monkeypatch.setattr("reports.tasks.generate_report.delay", lambda version_id: None)
    study = finished_study()
    version = report_services.report_build(
        version_id=report_services.report_request(study=study).pk
    )
    report_services.report_publish(version=version)
    rating = Rating.objects.filter(round_item__round__study=study).exclude(comment="").first()
    assert rating is not None
    return World(study, rating, Recommendation.objects.filter(study=study).first())


def _state() -> tuple[int, ...]:
    return (
        AuditEntry.objects.count(), Round.objects.count(), Recommendation.objects.count(),
        ReportVersion.objects.count(), HiddenComment.objects.count(),
        Panelist.objects.filter(erased_at__isnull=False).count(),
        EmailMessage.objects.count(), PersonalLink.objects.filter(revoked_at__isnull=False).count(),
    )  # fmt: skip


def _outsiders(world: World) -> dict[str, Client]:
    other = make_other_study()
    panelist = Client()
    url = links.link_issue(panelist=world.study.panelists.first())
    panelist.get(urlsplit(url).path)
    return {
        "anonymous": Client(),
        "panelist": panelist,
        "viewer": as_user(member(world.study, "viewer")),
        "coordinator of another study": as_user(member(other, "coordinator")),
        "staff without a role": as_user(User.objects.create_user("staff", is_staff=True)),
    }


def make_other_study() -> Study:
    from tests.factories import make_study

    return make_study()


def test_nobody_without_a_role_reaches_a_coordinator_or_viewer_url(world: World) -> None:
    outsiders = _outsiders(world)
    before = _state()
    for _name, (audience, urls) in URLS.items():
        if audience not in (RUN, VIEW):
            continue
        for method, url in urls(world):
            for who, client in outsiders.items():
                if audience == VIEW and who == "viewer":
                    continue
                response = getattr(client, method)(url)
                if who in ("anonymous", "panelist"):
                    assert response.status_code == 302, (who, method, url)
                    assert response["Location"].startswith("/accounts/login/"), (who, url)
                else:
                    assert response.status_code == 404, (who, method, url, response.status_code)
    assert _state() == before


def test_a_viewer_reads_the_policy_space_and_the_published_files_only(world: World) -> None:
    viewer = as_user(member(world.study, "viewer"))
    for _name, (audience, urls) in URLS.items():
        if audience == VIEW:
            for method, url in urls(world):
                if method == "get":
                    assert viewer.get(url).status_code == 200, url


def test_panelist_pages_need_a_panelist_session(world: World) -> None:
    coordinator = as_user(member(world.study, "coordinator"))
    before = _state()
    for name, (audience, urls) in URLS.items():
        if audience != PANELIST:
            continue
        for method, url in urls(world):
            for client in (Client(), coordinator):
                response = getattr(client, method)(url)
                assert response.status_code == 403, (name, method, url, response.status_code)
    assert _state() == before


def test_staff_pages_send_the_anonymous_and_panelists_to_the_login(world: World) -> None:
    outsiders = _outsiders(world)
    for _name, (audience, urls) in URLS.items():
        if audience != STAFF:
            continue
        for method, url in urls(world):
            for who in ("anonymous", "panelist"):
                response = getattr(outsiders[who], method)(url)
                assert response.status_code == 302, (who, url)
                assert response["Location"].startswith("/accounts/login/"), (who, url)


def test_the_coordinator_reaches_every_page_without_an_error(world: World) -> None:
    coordinator = as_user(member(world.study, "coordinator"))
    for _name, (audience, urls) in URLS.items():
        if audience not in (RUN, VIEW):
            continue
        for method, url in urls(world):
            if method == "get":
                response = coordinator.get(url)
                assert response.status_code in (200, 302), (url, response.status_code)


def test_public_pages_answer_without_an_error(world: World) -> None:
    for _name, (audience, urls) in URLS.items():
        if audience != PUBLIC:
            continue
        for method, url in urls(world):
            response = getattr(Client(), method)(url)
            assert response.status_code < 500, (url, response.status_code)
