"""What the database holds about a personal link opens nothing; the command line revokes
and reissues links, recorded in the audit log."""

from __future__ import annotations

from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from panelists import links
from panelists.models import PersonalLink
from rounds.models import AuditEntry
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def _token(url: str) -> str:
    return urlsplit(url).path.split("/")[2]


def test_nothing_read_from_the_database_opens_a_link(client: Client) -> None:
    panelist = make_study().panelists.first()
    url = links.link_issue(panelist=panelist)
    row = PersonalLink.objects.get(panelist=panelist)
    stored = [row.nonce, row.token_hash, str(row.pk)]
    for value in stored:
        assert value != _token(url)
        response = client.get(f"/p/{value}/")
        assert response.status_code == 404, value
        assert "panelist_id" not in client.session
    # Every text column of every link row, and every stored e-mail, lacks the token.
    dumped = " ".join(str(v) for v in PersonalLink.objects.values().first().values())
    assert _token(url) not in dumped
    assert client.get(urlsplit(url).path).status_code == 302  # the real one still works


def test_the_command_line_revokes_a_link_and_its_session(client: Client) -> None:
    study = make_study(n_panelists=3)
    panelist = study.panelists.get(pseudonym="P002")
    url = links.link_for(panelist)
    assert client.get(urlsplit(url).path).status_code == 302
    assert client.get("/p/").status_code == 200
    out = StringIO()
    call_command(
        "delphi_links", study.slug, "--revoke", "p002", "--reason", "forwarded", stdout=out
    )
    assert "P002\trevoked (1 link(s))" in out.getvalue()
    assert client.get("/p/").status_code == 403  # the session ended at once
    assert Client().get(urlsplit(url).path).status_code == 410
    entry = AuditEntry.objects.get(study=study, action="link.revoked")
    assert (entry.target, entry.reason, entry.after) == ("P002", "forwarded", {"links": 1})


def test_the_command_line_reissues_a_link(client: Client) -> None:
    study = make_study(n_panelists=3)
    panelist = study.panelists.get(pseudonym="P001")
    old = links.link_for(panelist)
    out = StringIO()
    call_command("delphi_links", study.slug, "--reissue", "P001", stdout=out)
    pseudonym, _email, new = out.getvalue().strip().split("\t")
    assert pseudonym == "P001" and new != old
    assert client.get(urlsplit(old).path).status_code == 410
    assert client.get(urlsplit(new).path).status_code == 302
    assert AuditEntry.objects.filter(study=study, action="link.reissued", target="P001").exists()


def test_the_command_line_names_unknown_pseudonyms_and_changes_nothing() -> None:
    study = make_study(n_panelists=2)
    url = links.link_for(study.panelists.first())
    with pytest.raises(CommandError, match="no panelist P009"):
        call_command("delphi_links", study.slug, "--revoke", "P001", "P009")
    assert Client().get(urlsplit(url).path).status_code == 302
    assert not AuditEntry.objects.filter(action="link.revoked").exists()


def test_an_email_address_cannot_start_a_formula_in_the_output() -> None:
    study = make_study(n_panelists=1)
    study.panelists.update(email="=cmd@example.org")
    out = StringIO()
    call_command("delphi_links", study.slug, stdout=out)
    assert out.getvalue().split("\t")[1] == "'=cmd@example.org"


def test_the_language_cookie_set_by_a_link_is_secure_in_production(
    client: Client, settings: object
) -> None:
    settings.LANGUAGE_COOKIE_SECURE = True  # type: ignore[attr-defined]  # as with HTTPS on
    panelist = make_study().panelists.first()
    response = client.get(urlsplit(links.link_issue(panelist=panelist)).path)
    cookie = response.cookies["django_language"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    switched = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert switched.cookies["django_language"]["secure"]
