"""Writes on the panelist side: personal links, e-mails, saving ratings, submitting a round."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from panelists.models import EmailMessage, PersonalLink
from rounds.errors import DomainError
from rounds.models import Criterion, Panelist, Participation, Rating, Round, RoundItem, Study

LinkStatus = Literal["ok", "unknown", "expired", "revoked"]


class RoundClosedError(DomainError):
    """The round is not open (any more): nothing was saved."""


class InvalidAnswerError(DomainError):
    """An answer that does not belong to this panelist's round, or is off the scale."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_issue(*, panelist: Panelist, expires_at: datetime | None = None) -> str:
    """A new personal link (the full URL). The token is 256 random bits; only its hash is kept."""
    token = secrets.token_urlsafe(32)
    PersonalLink.objects.create(
        panelist=panelist, token_hash=hash_token(token), expires_at=expires_at
    )
    return settings.SITE_URL + reverse("panelist-link", kwargs={"token": token})


def link_revoke_all(*, panelist: Panelist) -> int:
    return PersonalLink.objects.filter(panelist=panelist, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


@dataclass(frozen=True)
class LinkResolution:
    status: LinkStatus
    panelist: Panelist | None = None
    study: Study | None = None


def link_resolve(token: str, *, now: datetime | None = None) -> LinkResolution:
    now = now or timezone.now()
    link = (
        PersonalLink.objects.select_related("panelist__study")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if link is None:
        return LinkResolution("unknown")
    study = link.panelist.study
    if link.revoked_at is not None:
        return LinkResolution("revoked", study=study)
    if study.status == Study.Status.FINISHED or (link.expires_at and link.expires_at <= now):
        return LinkResolution("expired", study=study)
    PersonalLink.objects.filter(pk=link.pk).update(last_used_at=now)
    return LinkResolution("ok", panelist=link.panelist, study=study)


def participation_for(panelist: Panelist, round: Round) -> Participation:
    participation, _created = Participation.objects.get_or_create(panelist=panelist, round=round)
    return participation


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


def ratings_save(
    *,
    panelist: Panelist,
    round: Round,
    answers: Iterable[Answer],
    questions: Questions | None = None,
    now: datetime | None = None,
) -> int:
    """Upsert answers (last write wins); refuse them all if one is not this panelist's to give.

    `questions` spares two queries when the caller has already loaded the questionnaire."""
    answers = list(answers)
    now = now or timezone.now()
    with transaction.atomic():
        round = _round_for_saving(round.pk)
        ensure_round_open(round, now)
        _check_answers(questions or Questions.of(round), answers)
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


def round_submit(*, panelist: Panelist, round: Round) -> Participation:
    """Mark the round submitted and send a confirmation; answers stay editable until it closes."""
    from panelists import tasks

    with transaction.atomic():
        round = Round.objects.select_for_update().get(pk=round.pk)
        ensure_round_open(round)
        participation = participation_for(panelist, round)
        first_time = participation.status != Participation.Status.SUBMITTED
        now = timezone.now()
        participation.status = Participation.Status.SUBMITTED
        participation.submitted_at = now
        participation.last_activity_at = now
        participation.save(update_fields=["status", "submitted_at", "last_activity_at"])
        if first_time:
            email = email_compose(
                panelist=panelist, round=round, kind=EmailMessage.Kind.CONFIRMATION
            )
            transaction.on_commit(lambda: tasks.send_email.delay(email.pk))
    return participation


def email_compose(
    *, panelist: Panelist, round: Round | None, kind: str, link: str | None = None
) -> EmailMessage:
    """Render an e-mail in the panelist's language and record it as queued."""
    study = panelist.study
    with translation.override(panelist.language):
        context = {
            "panelist": panelist,
            "study": study,
            "round": round,
            "link": link,
            "deadline": _deadline_text(round, study),
            "title": study.text("title", panelist.language),
            "purpose": study.text("description", panelist.language),
        }
        subject = render_to_string(f"panelists/email/{kind}_subject.txt", context).strip()
        text = render_to_string(f"panelists/email/{kind}.txt", context)
        html = render_to_string(f"panelists/email/{kind}.html", context)
    return EmailMessage.objects.create(
        panelist=panelist,
        round=round,
        kind=kind,
        subject=" ".join(subject.split()),
        body_text=text,
        body_html=html,
    )


def _deadline_text(round: Round | None, study: Study) -> str:
    if round is None or round.closes_at is None:
        return ""
    local = round.closes_at.astimezone(ZoneInfo(study.time_zone))
    return f"{date_format(local, 'DATETIME_FORMAT')} ({study.time_zone})"


def invitations_queue(
    *,
    round: Round,
    kind: str = EmailMessage.Kind.INVITATION,
    panelists: Iterable[Panelist] | None = None,
) -> int:
    """Queue an e-mail with a fresh personal link to every panelist of the round's study
    (or to `panelists`). Reminders (kind="reminder") go to those who have not submitted only.
    """
    from panelists import tasks

    panel = Panelist.objects.filter(study_id=round.study_id)
    if panelists is not None:
        panel = panel.filter(pk__in=[p.pk for p in panelists])
    if kind == EmailMessage.Kind.REMINDER:
        panel = panel.exclude(
            participations__round=round,
            participations__status=Participation.Status.SUBMITTED,
        )
    ids = []
    for panelist in panel:
        link = link_issue(panelist=panelist)
        ids.append(email_compose(panelist=panelist, round=round, kind=kind, link=link).pk)
    transaction.on_commit(lambda: [tasks.send_email.delay(pk) for pk in ids])
    return len(ids)


def email_send(*, email_id: int) -> EmailMessage | None:
    """Send a queued e-mail once; a failure is recorded and re-raised for the task to retry."""
    claimed = EmailMessage.objects.filter(pk=email_id, status=EmailMessage.Status.QUEUED).update(
        attempts=F("attempts") + 1
    )
    email = EmailMessage.objects.select_related("panelist").filter(pk=email_id).first()
    if not claimed or email is None:
        return email
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.panelist.email],
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    try:
        message.send()
    except Exception as exc:
        EmailMessage.objects.filter(pk=email_id).update(error=f"{type(exc).__name__}: {exc}")
        raise
    EmailMessage.objects.filter(pk=email_id).update(
        status=EmailMessage.Status.SENT, sent_at=timezone.now(), error=""
    )
    email.refresh_from_db()
    return email


def email_mark_failed(*, email_id: int) -> None:
    EmailMessage.objects.filter(pk=email_id, status=EmailMessage.Status.QUEUED).update(
        status=EmailMessage.Status.FAILED
    )
