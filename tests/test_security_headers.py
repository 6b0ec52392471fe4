"""Content-Security-Policy on every page, no inline script or style in the templates, and
friendly error pages when DEBUG is off."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from panelists import links
from rounds import services
from rounds.models import StudyMembership
from tests.factories import make_study

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# E-mails are not web pages, and the PDF's HTML is read by WeasyPrint only: CSP does not apply.
NOT_PAGES = ("panelists/email/", "reports/pdf/")

EXPECTED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}


def directives(header: str) -> dict[str, str]:
    parts = [p.strip().split(" ", 1) for p in header.split(";") if p.strip()]
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def assert_policy(response) -> None:
    found = directives(response["Content-Security-Policy"])
    for name, value in EXPECTED.items():
        assert found.get(name) == value, (name, found.get(name))


@pytest.mark.django_db
def test_a_coordinator_page_has_the_policy(client: Client) -> None:
    study = make_study()
    user = User.objects.create_user("c")
    StudyMembership.objects.create(study=study, user=user, role="coordinator")
    client.force_login(user)
    assert_policy(client.get(reverse("study-detail", args=[study.slug])))


@pytest.mark.django_db
def test_a_panelist_page_has_the_policy(client: Client) -> None:
    study = make_study()
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    client.get(urlsplit(links.link_issue(panelist=study.panelists.first())).path)
    assert_policy(client.get("/p/"))


def pages() -> list[Path]:
    return [
        p
        for p in TEMPLATES.rglob("*.html")
        if not str(p.relative_to(TEMPLATES)).startswith(NOT_PAGES)
    ]


def test_no_template_has_an_inline_script_or_event_handler() -> None:
    assert pages()
    for path in pages():
        html = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, f"inline script in {path}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler in {path}"
        assert "javascript:" not in html, path


def test_no_template_has_an_inline_style() -> None:
    for path in pages():
        html = path.read_text(encoding="utf-8")
        assert "<style" not in html, f"style element in {path}"
        assert not re.search(r"\sstyle\s*=", html), f"style attribute in {path}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "Page not found"), ("fr", "Page introuvable"), ("nl", "Pagina niet gevonden")],
)
def test_a_missing_page_is_friendly_in_each_language(settings, language: str, text: str) -> None:
    settings.DEBUG = False
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert text in response.content.decode()
    assert_policy(response)


@pytest.mark.django_db
def test_a_server_error_is_friendly(settings) -> None:
    settings.DEBUG = False
    request = RequestFactory().get("/")
    response = server_error(request)
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert "Nothing you saved before is lost" in response.content.decode()
