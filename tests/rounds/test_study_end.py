"""Ending a study by decision after an analysed round."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rounds import services
from rounds.errors import DomainError, TransitionError
from rounds.models import AuditEntry, Round, Study
from tests.factories import make_study, run_round
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


def test_it_finishes_the_study_and_removes_the_prepared_draft() -> None:
    study = make_study(n_items=4, n_panelists=6)
    run_round(study)
    assert study.rounds.filter(state=Round.State.DRAFT).exists()  # carried-over items
    services.study_end_after_round(study=study, reason="The rest will not converge.")
    study.refresh_from_db()
    assert study.status == Study.Status.FINISHED and study.finished_at is not None
    assert list(study.rounds.values_list("state", flat=True)) == [Round.State.ANALYSED]
    entry = AuditEntry.objects.get(study=study, action="study.ended")
    assert entry.reason == "The rest will not converge."
    assert entry.after == {"after_round": 1, "drafts_removed": 1}


def test_it_refuses_while_a_round_is_open() -> None:
    study = make_study()
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    with pytest.raises(TransitionError):
        services.study_end_after_round(study=study, reason="Enough.")
    study.refresh_from_db()
    assert study.status == Study.Status.RUNNING


def test_it_needs_a_reason() -> None:
    study = make_study()
    run_round(study)
    with pytest.raises(DomainError, match="Give the reason"):
        services.study_end_after_round(study=study, reason=" ")


def test_the_study_page_ends_the_study() -> None:
    study = make_study()
    run_round(study)
    client = as_user(member(study, "coordinator"))
    page = client.get(reverse("study-detail", args=[study.slug])).content.decode()
    assert "End the study after this round" in page
    response = client.post(
        reverse("study-end", args=[study.slug]), {"reason": "Done."}, follow=True
    )
    assert b"The study is finished." in response.content
    assert b"End the study after this round" not in response.content
    study.refresh_from_db()
    assert study.status == Study.Status.FINISHED


def test_it_ends_after_a_round_that_nobody_answered() -> None:
    study = make_study()
    run_round(study)
    round_2 = study.rounds.get(number=2)
    services.round_open(round=round_2, notify=False)
    services.round_close(round=round_2)
    services.study_end_after_round(study=study, reason="Nobody answered round 2.")
    study.refresh_from_db()
    assert study.status == Study.Status.FINISHED
    entry = AuditEntry.objects.get(study=study, action="study.ended")
    assert entry.after["after_round"] == 1
