"""Coordinator POSTs with tampered ids get a clear message, never a 500."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from rounds.models import AuditEntry, RoundItem
from tests.factories import make_study, run_round
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("action", ["drop", "reword", "merge", "split"])
@pytest.mark.parametrize("value", ["abc", "", "1.5", "-1", "99999999999999999999999", "\x00"])
def test_a_tampered_round_item_gets_a_message_not_a_500(action: str, value: str) -> None:
    study = make_study(n_items=4, n_panelists=6)
    run_round(study)
    coordinator = as_user(member(study, "coordinator"))
    before = (AuditEntry.objects.count(), RoundItem.objects.count())
    url = f"/studies/{study.slug}/rounds/2/items/{action}/"
    data = {"round_item": value, "merge": [value, value], "reason": "r"}
    response = coordinator.post(url, data)
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts, "a message says what went wrong"
    if action in ("drop", "reword"):
        assert "Choose an item of round 2 from the list" in " ".join(texts)
    assert (AuditEntry.objects.count(), RoundItem.objects.count()) == before


def test_the_finding_round_item_abc_on_drop(client: Client) -> None:
    study = make_study(n_items=4, n_panelists=6)
    run_round(study)
    coordinator = as_user(member(study, "coordinator"))
    url = f"/studies/{study.slug}/rounds/2/items/drop/"
    assert coordinator.post(url, {"round_item": "abc"}).status_code == 302
