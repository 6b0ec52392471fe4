"""The setup wizard's review step offers a round 0; ticking it creates the study with one."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from rounds.models import ProposalRound, Study
from tests.rounds.test_setup_wizard import (
    ACCEPTABILITY,
    ITEMS_CSV,
    PANEL_CSV,
    PRIORITY,
    Wizard,
    page,
    redirects_to,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def wizard(client: Client) -> Wizard:
    user = User.objects.create_user("coordinator", is_staff=True)
    client.force_login(user)
    return Wizard(client, user)


def _to_review(wizard: Wizard) -> None:
    assert redirects_to(wizard.basics(), "criteria")
    assert redirects_to(wizard.criteria(ACCEPTABILITY, PRIORITY), "protocol")
    assert redirects_to(wizard.protocol(), "items")
    assert redirects_to(wizard.upload("items", ITEMS_CSV, "items.csv"), "panel")
    assert redirects_to(wizard.upload("panel", PANEL_CSV, "panel.csv"), "review")


def test_ticking_round_0_on_the_review_creates_the_study_with_a_draft_round_0(
    wizard: Wizard,
) -> None:
    _to_review(wizard)
    assert "Start with a round 0" in page(wizard.get("review"))
    done = wizard.post("review", {"round_0": "on"})
    wizard.client.get(done.url)
    study = Study.objects.get()
    assert ProposalRound.objects.get(study=study).state == ProposalRound.State.DRAFT


def test_without_the_tick_there_is_no_round_0(wizard: Wizard) -> None:
    _to_review(wizard)
    wizard.client.get(wizard.post("review", {}).url)
    assert Study.objects.count() == 1 and not ProposalRound.objects.exists()
