"""The summary for policy readers, written on its own page and shown in the policy space."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rounds.models import AuditEntry
from tests.factories import make_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


def test_the_coordinator_writes_the_policy_summary_per_language() -> None:
    study = make_study(languages=("fr", "en"))
    client = as_user(member(study, "coordinator"))
    url = reverse("study-texts", args=[study.slug])
    assert client.get(url).status_code == 200
    client.post(url, {"text_fr": "Résumé pour les décideurs.", "text_en": " "})
    study.refresh_from_db()
    assert study.policy_summary == {"fr": "Résumé pour les décideurs."}
    assert AuditEntry.objects.filter(action="study.policy_summary_changed").exists()
