"""The round page's actions: opening with the deadline typed beside it, and confirming the
actions that cannot be undone (open: mails the panel and locks the protocol; close)."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.test import Client
from django.urls import reverse

from panelists.models import EmailMessage
from rounds import services
from rounds.models import AuditEntry, Round, Study
from tests.factories import make_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    return make_study(n_items=4, n_panelists=6)


@pytest.fixture
def coordinator(study: Study) -> Client:
    return as_user(member(study, "coordinator"))


def test_opening_now_keeps_the_deadline_typed_on_the_draft_round(
    study: Study, coordinator: Client, django_capture_on_commit_callbacks
) -> None:
    round = services.round_create(study=study)
    url = reverse("round-action", args=[study.slug, 1, "open"])
    with django_capture_on_commit_callbacks(execute=False):
        coordinator.post(url, {"closes_at": "2099-05-01T18:00", "confirmed": "yes"})
    round.refresh_from_db()
    assert round.state == Round.State.OPEN
    assert round.closes_at is not None
    assert round.closes_at.isoformat() == "2099-05-01T16:00:00+00:00"
    entry = AuditEntry.objects.get(study=study, action="round.opened")
    assert datetime.fromisoformat(entry.after["closes_at"]) == round.closes_at


def test_opening_with_a_deadline_in_the_past_is_refused_and_changes_nothing(
    study: Study, coordinator: Client
) -> None:
    round = services.round_create(study=study)
    url = reverse("round-action", args=[study.slug, 1, "open"])
    response = coordinator.post(
        url, {"closes_at": "2001-01-01T10:00", "confirmed": "yes"}, follow=True
    )
    assert b"deadline is in the past" in response.content
    round.refresh_from_db()
    assert round.state == Round.State.DRAFT and round.closes_at is None


def test_opening_asks_for_a_confirmation_that_says_what_happens(
    study: Study, coordinator: Client
) -> None:
    round = services.round_create(study=study)
    url = reverse("round-action", args=[study.slug, 1, "open"])
    response = coordinator.post(url, {"closes_at": "2099-05-01T18:00"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "6 panelists" in page and "locks the consensus protocol" in page
    assert 'name="confirmed" value="yes"' in page
    assert 'value="2099-05-01T18:00"' in page  # the typed deadline goes along
    round.refresh_from_db()
    assert round.state == Round.State.DRAFT
    assert not EmailMessage.objects.exists()


def test_closing_asks_for_a_confirmation(study: Study, coordinator: Client) -> None:
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    url = reverse("round-action", args=[study.slug, 1, "close"])
    response = coordinator.post(url)
    assert response.status_code == 200
    assert b"Close round 1 now?" in response.content
    round.refresh_from_db()
    assert round.state == Round.State.OPEN
    coordinator.post(url, {"confirmed": "yes"})
    round.refresh_from_db()
    assert round.state == Round.State.CLOSED


def test_the_close_button_is_not_the_pages_primary_action(
    study: Study, coordinator: Client
) -> None:
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    page = coordinator.get(reverse("round-detail", args=[study.slug, 1])).content.decode()
    close = page[: page.index("Close now and analyse")]
    button = close[close.rindex("<button") :]
    assert 'class="primary"' not in button
