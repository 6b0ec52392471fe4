from __future__ import annotations

import hashlib
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from panelists import links
from panelists.models import PersonalLink
from rounds.models import Study
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def _path(link: str) -> str:
    return urlsplit(link).path


def test_it_stores_only_a_hash_of_the_token() -> None:
    panelist = make_study().panelists.first()
    link = links.link_issue(panelist=panelist)
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 random bits, URL-safe base64
    stored = PersonalLink.objects.get(panelist=panelist)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash


def test_opening_a_link_starts_a_session_and_drops_the_token_from_the_address(
    client: Client,
) -> None:
    panelist = make_study().panelists.first()
    link = links.link_issue(panelist=panelist)
    response = client.get(_path(link))
    assert response.status_code == 302
    assert response["Location"] == "/p/"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert client.session["panelist_id"] == panelist.pk


def test_a_wrong_link_gets_a_friendly_page(client: Client) -> None:
    response = client.get("/p/not-a-real-token-at-all-0123456789abcdefghijkl/")
    assert response.status_code == 404
    assert b"We do not recognise this link" in response.content


def test_a_revoked_link_names_the_coordinator(client: Client) -> None:
    study = make_study()
    Study.objects.filter(pk=study.pk).update(
        contact_name="Dr Coordinator", contact_email="coord@example.org"
    )
    panelist = study.panelists.first()
    link = links.link_issue(panelist=panelist)
    links.link_revoke_all(panelist=panelist)
    response = client.get(_path(link))
    assert response.status_code == 410
    assert b"no longer valid" in response.content
    assert b"coord@example.org" in response.content
    assert "panelist_id" not in client.session


def test_a_link_expires_when_the_study_ends(client: Client) -> None:
    study = make_study()
    link = links.link_issue(panelist=study.panelists.first())
    Study.objects.filter(pk=study.pk).update(status=Study.Status.FINISHED)
    response = client.get(_path(link))
    assert response.status_code == 410
    assert b"expired" in response.content


def test_a_reissued_link_works_and_the_revoked_one_does_not(client: Client) -> None:
    panelist = make_study().panelists.first()
    old = links.link_issue(panelist=panelist)
    links.link_revoke_all(panelist=panelist)
    new = links.link_issue(panelist=panelist)
    assert client.get(_path(old)).status_code == 410
    assert client.get(_path(new)).status_code == 302


def test_pages_without_a_session_ask_for_the_link(client: Client) -> None:
    for url in ["/p/", "/p/rate/", "/p/review/", "/p/thanks/"]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"open your personal link" in response.content


def test_delphi_links_prints_a_working_link_per_panelist(client: Client) -> None:
    study = make_study(n_panelists=3)
    out = StringIO()
    call_command("delphi_links", study.slug, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["P001", "P002", "P003"]
    _pseudonym, email, link = lines[1].split("\t")
    assert email == study.panelists.get(pseudonym="P002").email
    client.get(_path(link))
    assert client.session["panelist_id"] == study.panelists.get(pseudonym="P002").pk


def test_delphi_links_names_an_unknown_study() -> None:
    with pytest.raises(CommandError, match="No study with slug 'nope'"):
        call_command("delphi_links", "nope")
