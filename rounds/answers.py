"""The panel's answers: taking part in a round, saving ratings, submitting.

These are the core's writes on the panelist side; the rating pages (`panelists`) call them.
A submitted round is complete by construction: `round_submit` refuses a participation with
answers missing, whatever page or client asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Case, F, Max, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rounds import signals
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


def ratings_save(
    *,
    panelist: Panelist,
    round: Round,
    answers: Iterable[Answer],
    questions: Questions | None = None,
    now: datetime | None = None,
    expected: datetime | None = None,
) -> int:
    """Upsert answers (last write wins); refuse them all if one is not this panelist's to give.

    `questions` spares two queries when the caller has already loaded the questionnaire.
    `expected`: the newest `updated_at` of these cells' stored answers when the page was
    shown (`datetime.min` in UTC if none was stored); if a newer one is stored now,
    `StaleAnswersError` is raised and nothing is saved (one more query)."""
    answers = list(answers)
    now = now or timezone.now()
    with transaction.atomic():
        round = _round_for_saving(round.pk)
        ensure_round_open(round, now)
        _check_answers(questions or Questions.of(round), answers)
        if expected is not None:
            _check_not_stale(panelist, answers, expected)
        rows = [
            Rating(
                panelist=panelist,
                round_item_id=a.round_item_id,
                criterion_id=a.criterion_id,
                value=a.value,
                comment=a.comment,
                updated_at=now,
            )
            for a in answers
        ]
        Rating.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["panelist", "round_item", "criterion"],
            update_fields=["value", "comment", "updated_at"],
        )
        started = Q(status__in=[Participation.Status.INVITED, Participation.Status.OPENED])
        updated = Participation.objects.filter(panelist=panelist, round=round).update(
            last_activity_at=now,
            status=Case(
                When(started, then=Value(Participation.Status.IN_PROGRESS)),
                default=F("status"),
            ),
        )
        if not updated:
            Participation.objects.create(
                panelist=panelist, round=round, status=Participation.Status.IN_PROGRESS,
                last_activity_at=now,
            )  # fmt: skip
    return len(rows)


def _check_not_stale(panelist: Panelist, answers: list[Answer], expected: datetime) -> None:
    newest = Rating.objects.filter(
        panelist=panelist, round_item_id__in={a.round_item_id for a in answers}
    ).aggregate(newest=Max("updated_at"))["newest"]
    if newest is not None and newest > expected:
        raise StaleAnswersError(newest)


def _round_for_saving(round_id: int) -> Round:
    """The round, share-locked on PostgreSQL: saves do not wait for each other, but closing
    the round (an UPDATE of this row) waits for the saves in flight, so none lands after it."""
    if connection.vendor == "postgresql":
        table = Round._meta.db_table
        return Round.objects.raw(f"SELECT * FROM {table} WHERE id = %s FOR SHARE", [round_id])[0]
    return Round.objects.get(pk=round_id)


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
