"""The panel's answers: taking part in a round, saving ratings, submitting.

These are the core's writes on the panelist side; the rating pages (`panelists`) call them.
A submitted round is complete by construction: `round_submit` refuses a participation with
answers missing, whatever page or client asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from django.db import connection, transaction
from django.db.models import Case, F, Q, Subquery, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rounds import realtime, signals
from rounds.errors import DomainError
from rounds.models import Criterion, Panelist, Participation, Rating, Round, RoundItem


class RoundClosedError(DomainError):
    """The round is not open (any more): nothing was saved."""


class InvalidAnswerError(DomainError):
    """An answer that does not belong to this panelist's round, or is off the scale."""


class StaleAnswersError(DomainError):
    """Newer answers were saved (from another tab or device) after the page that sent these
    was shown: nothing was saved, so that neither set overwrites the other unseen."""

    def __init__(self, newest: datetime) -> None:
        self.newest = newest
        super().__init__(
            _(
                "Newer answers to these questions were saved from another page or device "
                "after this page was opened. Nothing was saved: choose which answers to keep."
            )
        )


class IncompleteError(DomainError):
    """A submission with answers still missing."""

    def __init__(self, missing: int) -> None:
        self.missing = missing
        super().__init__(
            ngettext(
                "%(n)d answer is still missing; complete it before you submit.",
                "%(n)d answers are still missing; complete them before you submit.",
                missing,
            )
            % {"n": missing}
        )


def participation_for(panelist: Panelist, round: Round) -> Participation:
    participation, _created = Participation.objects.get_or_create(panelist=panelist, round=round)
    return participation


def participation_of(panelist: Panelist, round: Round) -> Participation:
    """The panelist's participation in the round, without writing anything: an unsaved one
    when there is none yet (the first save or consent records it)."""
    found = Participation.objects.filter(panelist=panelist, round=round).first()
    return found or Participation(panelist=panelist, round=round)


def participation_opened(*, panelist: Panelist, round: Round) -> None:
    """The panelist opened their link while the round is open (recorded once)."""
    participation_touch(participation=participation_for(panelist, round), opened=True)


def participation_touch(*, participation: Participation, opened: bool = False) -> None:
    now = timezone.now()
    updates: dict[str, object] = {"last_activity_at": now}
    if opened and participation.opened_at is None:
        updates["opened_at"] = now
    if participation.status == Participation.Status.INVITED:
        updates["status"] = Participation.Status.OPENED
    Participation.objects.filter(pk=participation.pk).update(**updates)


def participation_consent(*, participation: Participation) -> None:
    if participation.consented_at is None:
        Participation.objects.filter(pk=participation.pk).update(consented_at=timezone.now())


def ensure_round_open(round: Round, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if round.state != Round.State.OPEN or (round.closes_at is not None and round.closes_at <= now):
        raise RoundClosedError(
            _("This round closed; your answers were not saved. What you saved before is kept.")
        )


@dataclass(frozen=True)
class Answer:
    round_item_id: int
    criterion_id: int
    value: int | None
    comment: str = ""


@dataclass(frozen=True)
class Questions:
    """What a round asks: its round item ids and the study's criteria, by id."""

    round_item_ids: frozenset[int]
    criteria: dict[int, Criterion]

    @classmethod
    def of(cls, round: Round) -> Questions:
        return cls(
            frozenset(RoundItem.objects.filter(round=round).values_list("pk", flat=True)),
            {c.pk: c for c in Criterion.objects.filter(study_id=round.study_id)},
        )

    @property
    def total(self) -> int:
        return len(self.round_item_ids) * len(self.criteria)


# A participation's last activity is recorded at most this often by saves (the dashboard
# shows it to the minute), so that saves in a row write only the ratings.
ACTIVITY_RESOLUTION = timedelta(seconds=60)


def ratings_save(
    *,
    panelist: Panelist,
    round: Round,
    answers: Iterable[Answer],
    questions: Questions | None = None,
    now: datetime | None = None,
    expected: datetime | None = None,
    participation: Participation | None = None,
    history: bool | None = None,
) -> int:
    """Upsert answers (last write wins); refuse them all if one is not this panelist's to give.

    In a real-time study (or with ``history``) each answer that is new or changed is also
    appended to the rating history with the time of the save (`rounds.realtime`).

    `questions` spares two queries when the caller has already loaded the questionnaire, and
    `participation` (as loaded for this request) lets a save skip recording an activity
    recorded less than a minute ago. `expected`: the newest `updated_at` of these cells'
    stored answers when the page was shown (`datetime.min` in UTC if none was stored); if a
    newer one is stored now, `StaleAnswersError` is raised and nothing is saved.

    On PostgreSQL the whole save is one statement: the round share-locked and checked open,
    the staleness check, the upsert and the participation's activity."""
    answers = list(answers)
    now = now or timezone.now()
    _check_answers(questions or Questions.of(round), answers)
    touch = _needs_touch(participation, now)
    if history is None:
        history = round.study.protocol.realtime
    with transaction.atomic():
        cells = [(a.round_item_id, a.criterion_id) for a in answers]
        before = realtime.history_before(panelist, cells) if history else None
        if connection.vendor == "postgresql":
            touched = _save_in_one_statement(panelist, round, answers, now, expected, touch)
        else:
            touched = _save_step_by_step(panelist, round, answers, now, expected, touch)
        if touch and not touched:
            Participation.objects.get_or_create(
                panelist=panelist, round=round,
                defaults={"status": Participation.Status.IN_PROGRESS, "last_activity_at": now},
            )  # fmt: skip
        if before is not None:
            given = [(a.round_item_id, a.criterion_id, a.value) for a in answers]
            realtime.history_record(panelist=panelist, before=before, given=given, now=now)
    return len(answers)


def _needs_touch(participation: Participation | None, now: datetime) -> bool:
    if participation is None or participation.pk is None:
        return True
    if participation.status in (Participation.Status.INVITED, Participation.Status.OPENED):
        return True
    last = participation.last_activity_at
    return last is None or now - last >= ACTIVITY_RESOLUTION


_ONE_STATEMENT = """
WITH open_round AS (
    SELECT id FROM {round} WHERE id = %(round)s AND state = 'open'
        AND (closes_at IS NULL OR closes_at > %(now)s)
    FOR SHARE
), newest AS (
    SELECT max(updated_at) AS at FROM {rating}
    WHERE %(check)s AND panelist_id = %(panelist)s AND round_item_id = ANY(%(items)s)
), go AS (
    SELECT 1 FROM open_round, newest WHERE newest.at IS NULL OR newest.at <= %(expected)s
), saved AS (
    INSERT INTO {rating} (round_item_id, criterion_id, panelist_id, value, comment, updated_at)
    SELECT a.round_item, a.criterion, %(panelist)s, a.value, a.comment, %(now)s
    FROM unnest(%(items)s::bigint[], %(criteria)s::bigint[], %(values)s::smallint[],
                %(comments)s::text[]) AS a(round_item, criterion, value, comment)
    WHERE EXISTS (SELECT 1 FROM go)
    ON CONFLICT (panelist_id, round_item_id, criterion_id) DO UPDATE
        SET value = EXCLUDED.value, comment = EXCLUDED.comment, updated_at = EXCLUDED.updated_at
    RETURNING 1
), touched AS (
    UPDATE {participation} SET last_activity_at = %(now)s,
        status = CASE WHEN status IN ('invited', 'opened') THEN 'in_progress' ELSE status END
    WHERE panelist_id = %(panelist)s AND round_id = %(round)s AND %(touch)s
        AND EXISTS (SELECT 1 FROM go)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM open_round), (SELECT at FROM newest),
       (SELECT count(*) FROM saved), (SELECT count(*) FROM touched)
"""


def _save_in_one_statement(
    panelist: Panelist,
    round: Round,
    answers: list[Answer],
    now: datetime,
    expected: datetime | None,
    touch: bool,
) -> bool:
    sql = _ONE_STATEMENT.format(
        round=Round._meta.db_table,
        rating=Rating._meta.db_table,
        participation=Participation._meta.db_table,
    )
    params: dict[str, Any] = {
        "round": round.pk,
        "panelist": panelist.pk,
        "now": now,
        "check": expected is not None,
        "expected": expected or now,
        "touch": touch,
        "items": [a.round_item_id for a in answers],
        "criteria": [a.criterion_id for a in answers],
        "values": [a.value for a in answers],
        "comments": [a.comment for a in answers],
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        is_open, newest, _saved, touched = cursor.fetchone()
    if not is_open:
        raise_closed()
    if expected is not None and newest is not None and newest > expected:
        raise StaleAnswersError(newest)
    return bool(touched)


def _save_step_by_step(
    panelist: Panelist,
    round: Round,
    answers: list[Answer],
    now: datetime,
    expected: datetime | None,
    touch: bool,
) -> bool:
    """The same save for SQLite (whose writes are serialised by the transaction itself)."""
    newest_rating = (
        Rating.objects.filter(
            panelist=panelist, round_item_id__in={a.round_item_id for a in answers}
        )
        .order_by("-updated_at")
        .values("updated_at")[:1]
    )
    state = (
        Round.objects.filter(pk=round.pk)
        .annotate(newest=Subquery(newest_rating))
        .values_list("state", "closes_at", "newest")
        .first()
    )
    if state is None or state[0] != Round.State.OPEN or (state[1] and state[1] <= now):
        raise_closed()
    newest = state[2]
    if expected is not None and newest is not None and newest > expected:
        raise StaleAnswersError(newest)
    Rating.objects.bulk_create(
        [
            Rating(panelist=panelist, round_item_id=a.round_item_id, criterion_id=a.criterion_id,
                   value=a.value, comment=a.comment, updated_at=now)
            for a in answers
        ],
        update_conflicts=True,
        unique_fields=["panelist", "round_item", "criterion"],
        update_fields=["value", "comment", "updated_at"],
    )  # fmt: skip
    if not touch:
        return False
    started = Q(status__in=[Participation.Status.INVITED, Participation.Status.OPENED])
    return bool(
        Participation.objects.filter(panelist=panelist, round=round).update(
            last_activity_at=now,
            status=Case(
                When(started, then=Value(Participation.Status.IN_PROGRESS)),
                default=F("status"),
            ),
        )
    )


def raise_closed() -> NoReturn:
    raise RoundClosedError(
        _("This round closed; your answers were not saved. What you saved before is kept.")
    )


def _check_answers(questions: Questions, answers: list[Answer]) -> None:
    item_ids, criteria = questions.round_item_ids, questions.criteria
    for a in answers:
        criterion = criteria.get(a.criterion_id)
        if a.round_item_id not in item_ids or criterion is None:
            raise InvalidAnswerError(
                _("This form does not match your questionnaire; reload the page and try again.")
            )
        if a.value is not None and not criterion.scale_min <= a.value <= criterion.scale_max:
            raise InvalidAnswerError(
                _("%(value)s is not on the scale %(min)s–%(max)s.")
                % {"value": a.value, "min": criterion.scale_min, "max": criterion.scale_max}
            )


def missing_answers(*, panelist: Panelist, round: Round, questions: Questions) -> int:
    """How many (item, criterion) cells of the round this panelist has not answered yet
    ("don't know" is an answer)."""
    answered = Rating.objects.filter(
        panelist=panelist,
        round_item_id__in=questions.round_item_ids,
        criterion_id__in=list(questions.criteria),
    ).count()
    return questions.total - answered


def round_submit(*, panelist: Panelist, round: Round) -> Participation:
    """Mark the round submitted once every answer is given; answers stay editable until the
    round closes. The first submission asks for a confirmation e-mail
    (`signals.round_submitted`, recorded in this transaction)."""
    with transaction.atomic():
        round = Round.objects.select_for_update().get(pk=round.pk)
        ensure_round_open(round)
        missing = missing_answers(panelist=panelist, round=round, questions=Questions.of(round))
        if missing:
            raise IncompleteError(missing)
        participation = participation_for(panelist, round)
        first_time = participation.status != Participation.Status.SUBMITTED
        now = timezone.now()
        participation.status = Participation.Status.SUBMITTED
        participation.submitted_at = now
        participation.last_activity_at = now
        participation.save(update_fields=["status", "submitted_at", "last_activity_at"])
        if first_time:
            signals.round_submitted.send(sender=Round, round=round, panelist=panelist)
    return participation
