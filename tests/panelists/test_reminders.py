"""Reminders reach everyone who has not submitted the open round, in every round."""

from __future__ import annotations

import pytest

from panelists import services as panel_services
from panelists.models import EmailMessage
from rounds import services
from rounds.models import Participation, Round
from tests.factories import make_study, run_round

pytestmark = pytest.mark.django_db


def _open_round_two() -> Round:
    study = make_study(n_items=4, n_panelists=6)
    run_round(study)  # everyone submits round 1
    round2 = study.rounds.get(number=2)
    return services.round_open(round=round2, notify=False)


def test_it_reminds_round_one_submitters_who_have_not_submitted_round_two(
    django_capture_on_commit_callbacks,
) -> None:
    round2 = _open_round_two()
    done = list(round2.study.panelists.order_by("pseudonym")[:2])
    Participation.objects.filter(round=round2, panelist__in=done).update(
        status=Participation.Status.SUBMITTED
    )
    with django_capture_on_commit_callbacks(execute=False):
        count = panel_services.reminders_send(round=round2)
    reminded = set(
        EmailMessage.objects.filter(round=round2, kind="reminder").values_list(
            "panelist__pseudonym", flat=True
        )
    )
    assert count == 4
    assert reminded == {"P003", "P004", "P005", "P006"}
