"""Real-time mode in the core: the rating history, what counts, snapshots and stability, and
the one open period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import IntegrityError, InternalError, ProgrammingError, connection, transaction

from rounds import answers, realtime, services
from rounds.errors import TransitionError
from rounds.models import (
    Criterion,
    Panelist,
    Rating,
    RatingChange,
    RatingChangeIsAppendOnly,
    Round,
    RoundItem,
    Snapshot,
    Study,
)
from tests.factories import make_study

pytestmark = pytest.mark.django_db

OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def realtime_study(n_panelists: int = 6) -> Study:
    study = make_study(n_items=2, n_panelists=n_panelists)
    study.protocol.realtime = True
    study.protocol.save(update_fields=["realtime"])
    return study


def open_period(study: Study, days: int = 7) -> Round:
    round = services.round_create(study=study, closes_at=OPENED + timedelta(days=days))
    with time_machine.travel(OPENED, tick=False):
        return services.round_open(round=round, notify=False)


def rate(panelist: Panelist, round: Round, value: int | None, *, at: datetime) -> None:
    """The panelist rates every item on every criterion `value`, at `at`."""
    cells = [
        answers.Answer(ri.pk, c.pk, value)
        for ri in RoundItem.objects.filter(round=round)
        for c in Criterion.objects.filter(study_id=round.study_id)
    ]
    round.refresh_from_db()
    answers.ratings_save(panelist=panelist, round=round, answers=cells, now=at)


def first_cell(round: Round) -> tuple[RoundItem, Criterion]:
    ri = RoundItem.objects.filter(round=round).order_by("position").first()
    criterion = Criterion.objects.filter(study_id=round.study_id).order_by("position").first()
    assert ri is not None and criterion is not None
    return ri, criterion


def test_it_keeps_every_change_of_a_rating_with_its_time() -> None:
    study = realtime_study()
    round = open_period(study)
    panelist = study.panelists.get(pseudonym="P001")
    ri, criterion = first_cell(round)
    times = [OPENED + timedelta(hours=h) for h in (1, 2, 3)]
    for value, at in zip([4, 4, 8], times, strict=True):
        answers.ratings_save(
            panelist=panelist, round=round, answers=[answers.Answer(ri.pk, criterion.pk, value)],
            now=at,
        )  # fmt: skip
    history = list(
        RatingChange.objects.filter(panelist=panelist).values_list("value", "at").order_by("at")
    )
    # The unchanged second save adds nothing; the rating itself holds the latest value.
    assert history == [(4, times[0]), (8, times[2])]
    assert Rating.objects.get(panelist=panelist, round_item=ri, criterion=criterion).value == 8


def test_a_classic_study_keeps_no_history() -> None:
    study = make_study(n_items=2, n_panelists=2)
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    rate(study.panelists.first(), round, 5, at=datetime.now(UTC))
    assert RatingChange.objects.count() == 0


def test_the_history_cannot_be_changed() -> None:
    study = realtime_study()
    round = open_period(study)
    rate(study.panelists.first(), round, 5, at=OPENED + timedelta(hours=1))
    change = RatingChange.objects.first()
    assert change is not None
    with pytest.raises(RatingChangeIsAppendOnly):
        RatingChange.objects.update(value=1)
    change.value = 1
    with pytest.raises(RatingChangeIsAppendOnly), transaction.atomic():
        change.save()
    with pytest.raises(RatingChangeIsAppendOnly):
        change.delete()
    with pytest.raises(RatingChangeIsAppendOnly):
        RatingChange.objects.filter(pk=change.pk).delete()
    assert RatingChange.objects.get(pk=change.pk).value == 5


def test_deleting_the_study_takes_its_history_along_and_leaves_the_others() -> None:
    kept = realtime_study()
    rate(kept.panelists.first(), open_period(kept), 5, at=OPENED + timedelta(hours=1))
    gone = realtime_study()
    rate(gone.panelists.first(), open_period(gone), 5, at=OPENED + timedelta(hours=1))
    before = RatingChange.objects.filter(round_item__round__study=kept).count()
    gone.delete()
    assert before > 0
    assert RatingChange.objects.count() == before


def test_erasing_a_panelist_keeps_their_history() -> None:
    from rounds.privacy import panelist_erase

    study = realtime_study()
    round = open_period(study)
    panelist = study.panelists.get(pseudonym="P001")
    rate(panelist, round, 5, at=OPENED + timedelta(hours=1))
    rate(panelist, round, 7, at=OPENED + timedelta(hours=2))
    history = list(RatingChange.objects.filter(panelist=panelist).values_list("pk", "value", "at"))
    assert panelist_erase(panelist=panelist, reason="asked")
    assert Panelist.objects.get(pk=panelist.pk).name == ""
    assert (
        list(RatingChange.objects.filter(panelist=panelist).values_list("pk", "value", "at"))
        == history
    )


postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only"
)
REFUSED = (InternalError, ProgrammingError, IntegrityError)


@postgresql
def test_postgresql_refuses_update_and_delete_of_the_history_in_raw_sql() -> None:
    study = realtime_study()
    rate(study.panelists.first(), open_period(study), 5, at=OPENED + timedelta(hours=1))
    change = RatingChange.objects.first()
    assert change is not None
    for sql in [
        "UPDATE rounds_ratingchange SET value = 1 WHERE id = %s",
        "DELETE FROM rounds_ratingchange WHERE id = %s",
    ]:
        with (
            pytest.raises(REFUSED, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [change.pk])
    assert RatingChange.objects.get(pk=change.pk).value == 5


@postgresql
def test_postgresql_lets_only_the_named_study_take_its_history() -> None:
    study = realtime_study()
    rate(study.panelists.first(), open_period(study), 5, at=OPENED + timedelta(hours=1))
    other = make_study()
    change = RatingChange.objects.first()
    assert change is not None
    setting = "SELECT set_config('delphi.deleting_studies', %s, true)"
    with (
        pytest.raises(REFUSED, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(setting, [str(other.pk)])
        cursor.execute("DELETE FROM rounds_ratingchange WHERE id = %s", [change.pk])
    assert RatingChange.objects.filter(pk=change.pk).exists()


def test_a_panelist_revises_until_the_deadline_and_is_refused_after_it() -> None:
    study = realtime_study()
    round = open_period(study, days=2)
    panelist = study.panelists.first()
    rate(panelist, round, 3, at=OPENED + timedelta(hours=1))
    rate(panelist, round, 6, at=OPENED + timedelta(days=1, hours=23))
    with pytest.raises(answers.RoundClosedError) as refused:
        rate(panelist, round, 9, at=OPENED + timedelta(days=2, minutes=1))
    assert "What you saved before is kept" in str(refused.value)
    values = set(Rating.objects.filter(panelist=panelist).values_list("value", flat=True))
    assert values == {6}
    assert RatingChange.objects.filter(value=9).count() == 0


def test_every_saved_answer_counts_without_a_submission() -> None:
    study = realtime_study()
    round = open_period(study)
    for panelist in study.panelists.all()[:3]:
        rate(panelist, round, 7, at=OPENED + timedelta(hours=1))
    live = realtime.live_statistics(round)
    ri, criterion = first_cell(round)
    assert live.cells[(ri.pk, criterion.pk)].n == 3
    assert live.cells[(ri.pk, criterion.pk)].result.median == 7


def test_the_close_analyses_the_saved_answers_and_ends_the_study() -> None:
    study = realtime_study()
    round = open_period(study)
    for panelist in study.panelists.all():
        rate(panelist, round, 8, at=OPENED + timedelta(hours=1))
    with time_machine.travel(OPENED + timedelta(days=3), tick=False):
        services.round_close(round=round)
    services.analysis_run(job_id=round.analysis_jobs.get().pk)
    round.refresh_from_db()
    study.refresh_from_db()
    assert round.state == Round.State.ANALYSED
    assert study.status == Study.Status.FINISHED
    assert set(round.results.values_list("n", flat=True)) == {6}
    with pytest.raises(TransitionError):
        services.round_create(study=study)


def test_the_tick_takes_a_daily_snapshot_once_and_the_close_takes_one(
    django_capture_on_commit_callbacks: object,
) -> None:
    study = realtime_study()
    round = open_period(study, days=5)
    panel = list(study.panelists.order_by("pseudonym"))
    for p in panel:
        rate(p, round, 2, at=OPENED + timedelta(hours=2))
    day2 = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    realtime.snapshots_tick(now=day2 + timedelta(minutes=1))
    realtime.snapshots_tick(now=day2 + timedelta(minutes=2))  # a second tick adds nothing
    assert list(Snapshot.objects.values_list("at", "kind")) == [(day2, "daily")]
    # The next day half the panel moves up; then the period closes.
    for p in panel[:3]:
        rate(p, round, 8, at=day2 + timedelta(hours=10))
    with time_machine.travel(day2 + timedelta(days=1, hours=12), tick=False):
        services.round_close(round=round)
    for snapshot in Snapshot.objects.order_by("at"):
        realtime.snapshot_run(snapshot_id=snapshot.pk)
    daily, close = realtime.snapshots_of(round)
    assert close.kind == Snapshot.Kind.CLOSE
    assert {r["median"] for r in daily.results} == {2}
    assert {r["median"] for r in close.results} == {5}  # 2,2,2,8,8,8
    assert daily.stability == []  # nothing before the first snapshot
    change = close.stability[0]
    assert change["pct_change"] == pytest.approx(50.0)
    assert change["stable"] is False
    assert change["n_paired"] == 6


def test_a_snapshot_computed_late_shows_the_answers_as_at_its_moment() -> None:
    study = realtime_study()
    round = open_period(study)
    panelist = study.panelists.first()
    rate(panelist, round, 3, at=OPENED + timedelta(hours=1))
    midnight = datetime(2026, 3, 3, tzinfo=UTC)
    snapshot = realtime.snapshot_request(round=round, at=midnight, kind=Snapshot.Kind.DAILY)
    rate(panelist, round, 9, at=midnight + timedelta(hours=5))  # after the snapshot's moment
    realtime.snapshot_run(snapshot_id=snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.DONE
    assert {r["median"] for r in snapshot.results} == {3}


def test_movements_give_the_median_per_snapshot() -> None:
    study = realtime_study()
    round = open_period(study)
    panel = list(study.panelists.all())
    for p in panel:
        rate(p, round, 4, at=OPENED + timedelta(hours=1))
    first = realtime.snapshot_request(round=round, at=datetime(2026, 3, 3, tzinfo=UTC),
                                      kind=Snapshot.Kind.DAILY)  # fmt: skip
    for p in panel:
        rate(p, round, 7, at=datetime(2026, 3, 3, 8, tzinfo=UTC))
    second = realtime.snapshot_request(round=round, at=datetime(2026, 3, 4, tzinfo=UTC),
                                       kind=Snapshot.Kind.DAILY)  # fmt: skip
    for s in (first, second):
        realtime.snapshot_run(snapshot_id=s.pk)
    moved = realtime.movements(realtime.snapshots_of(round))
    assert [m.medians for m in moved] == [[4, 7]] * 4
    assert all(m.pct_change == pytest.approx(100.0) for m in moved)


def test_the_study_file_carries_the_mode_and_classic_files_do_not_mention_it() -> None:
    from django.contrib.auth.models import User

    from rounds.design import design_document
    from rounds.studyfile.create import study_create_from_file
    from rounds.studyfile.writer import study_file

    classic = make_study(n_items=2, n_panelists=2)
    assert "realtime" not in design_document(classic)["protocol"]
    study = realtime_study()
    assert design_document(study)["protocol"]["realtime"] is True
    copy = study_create_from_file(
        data=study_file(study), by=User.objects.create_user("owner"), slug="copy-of-it"
    )
    assert copy.protocol.realtime is True


def test_the_mode_cannot_change_once_round_1_has_opened() -> None:
    from rounds.forms import ProtocolForm

    study = make_study(n_items=2, n_panelists=2)
    protocol = study.protocol
    data = {
        name: getattr(protocol, name)
        for name in ProtocolForm.Meta.fields
        if getattr(protocol, name) is not False
    }
    before = ProtocolForm({**data, "realtime": "on"}, instance=protocol)
    assert before.is_valid(), before.errors
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    protocol.refresh_from_db()
    after = ProtocolForm({**data, "realtime": "on", "reason": "why not"}, instance=protocol)
    assert not after.is_valid()
    assert "cannot change afterwards" in str(after.errors["realtime"])


def test_stale_statistics_are_computed_again_by_one_request_at_a_time() -> None:
    from django.core.cache import cache

    study = realtime_study()
    round = open_period(study)
    panel = list(study.panelists.all())
    ri, criterion = first_cell(round)
    realtime.live_forget(round)
    with time_machine.travel(OPENED + timedelta(hours=1), tick=False) as clock:
        rate(panel[0], round, 7, at=OPENED + timedelta(hours=1))
        assert realtime.live_statistics(round).cells[(ri.pk, criterion.pk)].n == 1
        rate(panel[1], round, 7, at=OPENED + timedelta(hours=1))
        clock.shift(realtime.LIVE_SECONDS + 1)
        # Another request is computing them: this one reads the previous numbers.
        assert cache.add(f"delphi:live:{round.pk}:{round.opened_at.timestamp()}:lock", 1)
        assert realtime.live_statistics(round).cells[(ri.pk, criterion.pk)].n == 1
        cache.delete(f"delphi:live:{round.pk}:{round.opened_at.timestamp()}:lock")
        assert realtime.live_statistics(round).cells[(ri.pk, criterion.pk)].n == 2
