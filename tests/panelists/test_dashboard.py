"""The round dashboard: totals that mean what they say, a panel table that follows them,
and per-panelist actions (resend, show the link, a new link, revoke), each recorded."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from panelists import links
from panelists.models import EmailMessage, PersonalLink
from rounds import services
from rounds.models import AuditEntry, Participation, Round, Study
from tests.factories import make_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    return make_study(n_items=2, n_panelists=4)


@pytest.fixture
def coordinator(study: Study) -> Client:
    return as_user(member(study, "coordinator"))


@pytest.fixture
def round(study: Study, django_capture_on_commit_callbacks) -> Round:
    round = services.round_create(study=study)
    with django_capture_on_commit_callbacks(execute=False):
        services.round_open(round=round)
    return round


def test_opened_counts_everyone_who_opened_even_after_submitting(
    study: Study, coordinator: Client, round: Round
) -> None:
    now = timezone.now()
    Participation.objects.filter(round=round).update(status="submitted", opened_at=now)
    status = coordinator.get(reverse("round-status", args=[study.slug, 1])).json()
    assert status["counts"]["opened"] == 4
    page = coordinator.get(reverse("round-detail", args=[study.slug, 1])).content.decode()
    assert 'data-count="opened">4<' in page


def test_the_status_feed_carries_each_panelists_status_for_the_table(
    study: Study, coordinator: Client, round: Round
) -> None:
    Participation.objects.filter(round=round, panelist__pseudonym="P002").update(
        status="in_progress", last_activity_at=timezone.now()
    )
    status = coordinator.get(reverse("round-status", args=[study.slug, 1])).json()
    assert status["panelists"]["P002"]["label"] == "In progress"
    assert status["panelists"]["P001"]["label"] == "Invited"
    assert status["panelists"]["P001"]["last_activity"] == "—"


def action(study: Study, pseudonym: str, name: str) -> str:
    return reverse("panelist-action", args=[study.slug, 1, pseudonym, name])


def test_the_dashboard_never_shows_a_personal_link_by_default(
    study: Study, coordinator: Client, round: Round
) -> None:
    url = links.link_for(study.panelists.get(pseudonym="P001"))
    page = coordinator.get(reverse("round-detail", args=[study.slug, 1])).content.decode()
    assert url not in page
    assert "/p/" not in page


def test_showing_a_link_takes_a_click_and_is_recorded(
    study: Study, coordinator: Client, round: Round
) -> None:
    panelist = study.panelists.get(pseudonym="P001")
    response = coordinator.post(action(study, "P001", "link"))
    assert response.status_code == 200
    assert links.link_for(panelist) in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert AuditEntry.objects.filter(action="link.shown", target="P001").count() == 1
    assert coordinator.get(action(study, "P001", "link")).status_code == 405


def test_resending_the_invitation_queues_it_again_and_is_recorded(
    study: Study, coordinator: Client, round: Round, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = coordinator.post(action(study, "P002", "resend"), follow=True)
    assert b"The invitation to P002 is sent again." in response.content
    invitations = EmailMessage.objects.filter(panelist__pseudonym="P002", kind="invitation")
    assert invitations.count() == 2
    assert AuditEntry.objects.filter(action="email.resent", target="P002").exists()


def test_a_new_link_ends_the_old_one(study: Study, coordinator: Client, round: Round) -> None:
    panelist = study.panelists.get(pseudonym="P003")
    old = links.link_for(panelist)
    coordinator.post(action(study, "P003", "reissue"))
    assert links.link_for(panelist) != old
    assert links.link_resolve(old.rsplit("/p/", 1)[1].strip("/")).panelist is None
    assert AuditEntry.objects.filter(action="link.reissued", target="P003").exists()


def test_revoking_ends_every_link(study: Study, coordinator: Client, round: Round) -> None:
    panelist = study.panelists.get(pseudonym="P004")
    links.link_for(panelist)
    coordinator.post(action(study, "P004", "revoke"))
    assert not PersonalLink.objects.filter(panelist=panelist, revoked_at__isnull=True).exists()
    assert AuditEntry.objects.filter(action="link.revoked", target="P004").exists()


def test_the_e_mail_history_is_in_each_row(study: Study, coordinator: Client, round: Round) -> None:
    page = coordinator.get(reverse("round-detail", args=[study.slug, 1])).content.decode()
    row = page[page.index('id="panelist-P001"') :]
    row = row[: row.index("</tr>")]
    assert "Invitation: Queued" in row


def test_a_viewer_cannot_act_on_a_panelist(study: Study, round: Round) -> None:
    viewer = as_user(member(study, "viewer"))
    assert viewer.post(action(study, "P001", "link")).status_code == 404
    assert not AuditEntry.objects.filter(action="link.shown").exists()


def test_the_invalid_link_page_promises_no_reply_path_that_does_not_exist(
    study: Study, client: Client
) -> None:
    Study.objects.filter(pk=study.pk).update(contact_email="")
    html = client.get("/p/not-a-real-token/").content.decode()
    assert "reply to the invitation e-mail" not in html
    assert "write to the person who invited you" in html
