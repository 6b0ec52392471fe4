"""Deadlines and scheduled reminders, with time frozen (time-machine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from panelists import services as panel_services
from panelists.models import EmailMessage
from rounds import answers, services
from rounds.errors import TransitionError
from rounds.models import Participation, Round
from tests.factories import make_study

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def scheduled_round(opens_in: timedelta, closes_in: timedelta) -> Round:
    study = make_study(n_items=2, n_panelists=3)
    round = services.round_create(study=study)
    with time_machine.travel(T0, tick=False):
        return services.round_schedule(
            round=round, opens_at=T0 + opens_in, closes_at=T0 + closes_in
        )


def test_a_scheduled_round_opens_at_its_time_and_not_before(
    django_capture_on_commit_callbacks,
) -> None:
    round = scheduled_round(timedelta(hours=2), timedelta(days=10))
    with time_machine.travel(T0 + timedelta(hours=1, minutes=59), tick=False):
        assert services.rounds_tick()["opened"] == 0
    round.refresh_from_db()
    assert round.state == Round.State.DRAFT
    with (
        time_machine.travel(T0 + timedelta(hours=2), tick=False),
        django_capture_on_commit_callbacks(execute=False),
    ):
        assert services.rounds_tick()["opened"] == 1
        assert services.rounds_tick()["opened"] == 0  # a second tick changes nothing
    round.refresh_from_db()
    assert round.state == Round.State.OPEN
    assert round.opened_at == T0 + timedelta(hours=2)
    assert EmailMessage.objects.filter(round=round, kind="invitation").count() == 3


def test_a_round_closes_at_its_deadline_and_queues_the_analysis(
    django_capture_on_commit_callbacks,
) -> None:
    round = scheduled_round(timedelta(0), timedelta(days=3))
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=False):
        services.rounds_tick()
    with time_machine.travel(T0 + timedelta(days=3) - timedelta(seconds=1), tick=False):
        assert services.rounds_tick()["closed"] == 0
    with (
        time_machine.travel(T0 + timedelta(days=3), tick=False),
        django_capture_on_commit_callbacks(execute=False) as callbacks,
    ):
        assert services.rounds_tick()["closed"] == 1
    round.refresh_from_db()
    assert round.state == Round.State.CLOSED
    assert len(callbacks) == 1  # the analysis task


def test_reminders_go_out_7_and_2_days_before_the_deadline_once_each(
    django_capture_on_commit_callbacks,
) -> None:
    round = scheduled_round(timedelta(0), timedelta(days=14))
    panel_services.reminders_schedule(round=round, days_before=[7, 2])
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=False):
        services.rounds_tick()
    Participation.objects.filter(round=round, panelist__pseudonym="P001").update(
        status=Participation.Status.SUBMITTED
    )
    sent_on = []
    for day in range(15):
        moment = T0 + timedelta(days=day, hours=1)
        with (
            time_machine.travel(moment, tick=False),
            django_capture_on_commit_callbacks(execute=False),
        ):
            services.rounds_tick()
            if panel_services.reminders_due():
                sent_on.append(day)
    assert sent_on == [7, 12]
    reminders = EmailMessage.objects.filter(round=round, kind="reminder")
    assert reminders.count() == 2 * 2  # two non-completers, twice
    assert not reminders.filter(panelist__pseudonym="P001").exists()


def test_a_schedule_with_the_deadline_before_the_opening_is_refused() -> None:
    study = make_study(n_items=2, n_panelists=3)
    round = services.round_create(study=study)
    with time_machine.travel(T0, tick=False), pytest.raises(TransitionError, match="after the"):
        services.round_schedule(
            round=round, opens_at=T0 + timedelta(days=2), closes_at=T0 + timedelta(days=1)
        )


def test_a_rating_after_the_deadline_is_refused_politely() -> None:
    round = scheduled_round(timedelta(0), timedelta(days=1))
    with time_machine.travel(T0, tick=False):
        services.round_open(round=round, notify=False)
    panelist = round.study.panelists.first()
    criterion = round.study.criteria.first()
    ri = round.round_items.first()
    answer = answers.Answer(ri.pk, criterion.pk, 7)
    with time_machine.travel(T0 + timedelta(hours=23), tick=False):
        answers.ratings_save(panelist=panelist, round=round, answers=[answer])
    late = answers.Answer(ri.pk, criterion.pk, 2)
    with (
        time_machine.travel(T0 + timedelta(days=1, seconds=1), tick=False),
        pytest.raises(answers.RoundClosedError, match="What you saved before is kept"),
    ):
        answers.ratings_save(panelist=panelist, round=round, answers=[late])
    assert list(panelist.ratings.values_list("value", flat=True)) == [7]
