"""E-mail to the panel: invitations, reminders and confirmations, as durable jobs.

Recording an e-mail is one row (bulk for a whole panel) in the transaction that asks for
it; the workers render and send it later, in batches over one SMTP connection. A batch is
claimed with a lease (``queued`` rows leased to one worker), each message is marked
``sending`` just before its SMTP conversation and ``sent`` right after, so no message is
ever sent twice: one found ``sending`` after its worker died is marked failed (it may have
arrived) for the coordinator to resend. A refusing or unreachable SMTP server puts the
messages back in the queue with a growing delay; the tick publishes whatever waits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr
from html import escape
from smtplib import SMTPRecipientsRefused, SMTPResponseException
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from panelists import links, texts
from panelists.models import EmailMessage, EmailTemplate
from rounds import jobs, proposals
from rounds.errors import TransitionError
from rounds.models import (
    Panelist,
    Participation,
    ProposalRound,
    Round,
    ScheduledReminder,
    Study,
)
from rounds.proposal_models import ProposalReminder
from rounds.services import Actor, audit_record

logger = logging.getLogger(__name__)

EMAIL = "email"
BATCH = 100
MAX_WAKEUPS = 8
WITH_LINK = {EmailMessage.Kind.INVITATION, EmailMessage.Kind.REMINDER}


def email_policy() -> jobs.Policy:
    return jobs.policy(EMAIL, lease=300, max_attempts=5)


# --------------------------------------------------------------------------- recording


def emails_record(*, round: Round | None, panelist_ids: Sequence[int], kind: str) -> list[int]:
    """Queue one e-mail of ``kind`` per panelist (one INSERT); the workers are woken up once
    the transaction commits."""
    rows = EmailMessage.objects.bulk_create(
        EmailMessage(panelist_id=pk, round=round, kind=kind) for pk in panelist_ids
    )
    ids = [row.pk for row in rows]
    if ids:
        _wake_on_commit(ids)
    return ids


def _wake_on_commit(ids: list[int]) -> None:
    from panelists import tasks

    wakeups = min(math.ceil(len(ids) / BATCH), MAX_WAKEUPS)
    jobs.publish_on_commit(
        lambda: [tasks.send_emails.delay() for _ in range(wakeups)], model=EmailMessage, pks=ids
    )


def invitations_record(*, round: Round, panelist_ids: Sequence[int]) -> list[int]:
    return emails_record(round=round, panelist_ids=panelist_ids, kind=EmailMessage.Kind.INVITATION)


def email_resend(*, email: EmailMessage, by: Actor = None) -> EmailMessage:
    """Send a panelist's e-mail again (a coordinator's decision, e.g. after a failure)."""
    with transaction.atomic():
        ids = emails_record(round=email.round, panelist_ids=[email.panelist_id], kind=email.kind)
        audit_record(
            study=email.panelist.study, action="email.resent", target=email.panelist.pseudonym,
            by=by, after={"kind": email.kind},
        )  # fmt: skip
    return EmailMessage.objects.get(pk=ids[0])


# --------------------------------------------------------------------------- sending


def emails_send_batch(*, limit: int = BATCH) -> int:
    """Claim up to ``limit`` due e-mails, render and send them over one SMTP connection.
    Returns how many were claimed, or 0 when there is nothing to do or the mail server
    failed (the e-mails wait for a retry; keep calling only while this is positive)."""
    ids = _claim_batch(limit)
    if not ids:
        return 0
    emails = list(
        EmailMessage.objects.filter(pk__in=ids)
        .select_related("panelist__study", "round")
        .order_by("pk")
    )
    urls = links.links_for({e.panelist_id for e in emails if e.kind in WITH_LINK})
    backend = get_connection(fail_silently=False)
    try:
        backend.open()
    except Exception as exc:
        logger.warning("The mail server could not be reached: %s", exc)
        _give_back(ids, exc, counted=True)
        return 0
    sender = _Sender(backend)
    try:
        for index, email in enumerate(emails):
            if not sender.deliver(email, urls.get(email.panelist_id)):
                _give_back([e.pk for e in emails[index + 1 :]], None, counted=False)
                return 0
    finally:
        sender.flush()
        backend.close()
    return len(ids)


def _claim_batch(limit: int) -> list[int]:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    with transaction.atomic():
        due = EmailMessage.objects.filter(free, status=EmailMessage.Status.QUEUED).order_by("pk")
        if db_connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("pk", flat=True)[:limit])
        EmailMessage.objects.filter(pk__in=ids).update(
            lease_owner=jobs.worker_id(), lease_until=now + email_policy().lease
        )
    return ids


class _Sender:
    """Sends claimed e-mails one by one over one connection. Each message is marked
    "sending" (committed) before its SMTP conversation; its "sent" is committed together
    with the next message's "sending" (one commit per message, not two), or at the end."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.cache: Skeletons = {}
        self.sent: tuple[EmailMessage, dict[str, object]] | None = None

    def flush(self) -> None:
        if self.sent is not None:
            _finish(self.sent[0], EmailMessage.Status.SENT, **self.sent[1])
            self.sent = None

    def deliver(self, email: EmailMessage, url: str | None) -> bool:
        """Send one claimed e-mail; False when the server failed and the batch should stop."""
        mine = EmailMessage.objects.filter(
            pk=email.pk, status=EmailMessage.Status.QUEUED, lease_owner=jobs.worker_id()
        )
        with transaction.atomic():
            self.flush()
            if not mine.update(status=EmailMessage.Status.SENDING, attempts=F("attempts") + 1):
                return True  # another worker took it over meanwhile
        message = compose(email, url, self.cache)
        try:
            self.backend.send_messages([message])
        except SMTPRecipientsRefused as exc:
            _finish(email, EmailMessage.Status.FAILED, error=_error(exc))
            return True
        except Exception as exc:
            permanent = isinstance(exc, SMTPResponseException) and 500 <= exc.smtp_code < 600
            _retry_or_fail(email, exc, permanent=permanent)
            return permanent
        self.sent = (
            email,
            {
                "subject": str(message.subject),
                "body_text": links.redact(str(message.body), [url] if url else []),
                "sent_at": timezone.now(),
            },
        )
        return True


def _finish(email: EmailMessage, status: str, **fields: object) -> None:
    EmailMessage.objects.filter(pk=email.pk, status=EmailMessage.Status.SENDING).update(
        status=status, lease_owner="", lease_until=None, **fields
    )


def _retry_or_fail(email: EmailMessage, exc: Exception, *, permanent: bool) -> None:
    attempts = email.attempts + 1
    if permanent or attempts >= email_policy().max_attempts:
        _finish(email, EmailMessage.Status.FAILED, error=_error(exc))
        return
    EmailMessage.objects.filter(pk=email.pk, status=EmailMessage.Status.SENDING).update(
        status=EmailMessage.Status.QUEUED,
        lease_owner="",
        lease_until=timezone.now() + jobs.backoff(attempts),
        error=_error(exc),
    )


def _give_back(ids: list[int], exc: Exception | None, *, counted: bool) -> None:
    """Return claimed e-mails to the queue: after a connection failure (an attempt each,
    retried later; failed after the last attempt), or untouched when a batch stops."""
    if not ids:
        return
    mine = EmailMessage.objects.filter(
        pk__in=ids, status=EmailMessage.Status.QUEUED, lease_owner=jobs.worker_id()
    )
    if not counted:
        mine.update(lease_owner="", lease_until=None)
        return
    error = _error(exc) if exc else ""
    last = email_policy().max_attempts - 1
    mine.filter(attempts__gte=last).update(
        status=EmailMessage.Status.FAILED, attempts=F("attempts") + 1, lease_owner="",
        lease_until=None, error=error,
    )  # fmt: skip
    for attempts in set(mine.values_list("attempts", flat=True)):
        mine.filter(attempts=attempts).update(
            attempts=attempts + 1,
            lease_owner="",
            lease_until=timezone.now() + jobs.backoff(attempts + 1),
            error=error,
        )


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


# --------------------------------------------------------------------------- composing


# Placeholders rendered into a skeleton of each message, then replaced per panelist: the
# templates are rendered once per (kind, language, round), not once per message.
NAME, LINK = "\x00name\x00", "\x00link\x00"


@dataclass(frozen=True)
class Skeleton:
    subject: str
    text: str
    html: str

    def fill(self, name: str, url: str | None) -> tuple[str, str, str]:
        link = url or ""
        return (
            self.subject.replace(NAME, name),
            self.text.replace(NAME, name).replace(LINK, link),
            self.html.replace(NAME, escape(name)).replace(LINK, escape(link)),
        )


Skeletons = dict[tuple[str, str, int | None, int], Skeleton]


def skeleton(email: EmailMessage, cache: Skeletons | None = None) -> Skeleton:
    """The message of this kind, in the panelist's language, for this round, with the
    panelist's name and link left as placeholders."""
    panelist, round = email.panelist, email.round
    study = panelist.study
    key = (email.kind, panelist.language, email.round_id, study.pk)
    if cache is not None and key in cache:
        return cache[key]
    anyone = SimpleNamespace(name=NAME, pseudonym=NAME, language=panelist.language)
    with translation.override(panelist.language):
        context = {
            "panelist": anyone,
            "study": study,
            "round": round,
            "link": LINK,
            "deadline": _deadline_text(round, study),
            "title": study.text("title", panelist.language),
            "purpose": study.text("description", panelist.language),
        }
        custom = EmailTemplate.objects.filter(
            study=study, kind=email.kind, language=panelist.language
        ).first()
        subject = render_to_string(f"panelists/email/{email.kind}_subject.txt", context)
        found = (
            _custom_skeleton(custom, panelist, round)
            if custom
            else Skeleton(
                subject=" ".join(subject.split()),
                text=render_to_string(f"panelists/email/{email.kind}.txt", context),
                html=render_to_string(f"panelists/email/{email.kind}.html", context),
            )
        )
    if cache is not None:
        cache[key] = found
    return found


def compose(
    email: EmailMessage, url: str | None, cache: Skeletons | None = None
) -> EmailMultiAlternatives:
    """The message as it goes out, in the panelist's language (the only place the personal
    link appears in clear)."""
    panelist = email.panelist
    study = panelist.study
    subject, text, html = skeleton(email, cache).fill(panelist.name or panelist.pseudonym, url)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=_sender(study),
        to=[panelist.email],
        reply_to=[study.contact_email] if study.contact_email else None,
        headers={"Message-ID": f"<delphi-email-{email.pk}@{_domain()}>"},
    )
    message.attach_alternative(html, "text/html")
    return message


def _custom_skeleton(custom: EmailTemplate, panelist: Panelist, round: Round | None) -> Skeleton:
    """A study's own text as a skeleton: the name and the link stay placeholders."""
    values = {**placeholder_values(panelist, round, LINK), "name": NAME}
    text = texts.fill(custom.body, values)
    return Skeleton(
        subject=" ".join(texts.fill(custom.subject, values).split()),
        text=text,
        html=str(texts.as_html(text, LINK, panelist.language)),
    )


def placeholder_values(panelist: Panelist, round: Round | None, url: str | None) -> dict[str, str]:
    """The values of a study's own e-mail text, in the active language."""
    study = panelist.study
    contact = ""
    if study.contact_email:
        contact = _("Questions: %(name)s <%(email)s>") % {
            "name": study.contact_name,
            "email": study.contact_email,
        }
    return {
        "name": panelist.name or panelist.pseudonym,
        "study": study.text("title", panelist.language),
        "round": _round_number(round, study),
        "link": url or "",
        "deadline": _deadline_text(round, study),
        "contact": contact,
    }


def _sender(study: Study) -> str:
    """ "<coordinator or study> via Delphi" <DEFAULT_FROM_EMAIL>: the name says who writes."""
    name = study.contact_name or study.text("title", study.report_language)
    address = str(settings.DEFAULT_FROM_EMAIL)
    if "<" in address:
        return address
    return formataddr((_("%(name)s via Delphi") % {"name": name[:60]}, address))


def _domain() -> str:
    address = str(settings.DEFAULT_FROM_EMAIL)
    return address.rsplit("@", 1)[-1].strip(">") or "localhost"


def _deadline_text(round: Round | None, study: Study) -> str:
    """The deadline in the active language and the study's time zone; an e-mail without a
    round is one of round 0, whose deadline is its own (empty when it has none)."""
    if round is not None:
        closes_at = round.closes_at
    else:
        closes_at = (
            ProposalRound.objects.filter(study=study).values_list("closes_at", flat=True).first()
        )
    if closes_at is None:
        return ""
    local = closes_at.astimezone(ZoneInfo(study.time_zone))
    return f"{date_format(local, 'DATETIME_FORMAT')} ({study.time_zone})"


def _round_number(round: Round | None, study: Study) -> str:
    if round is not None:
        return str(round.number)
    return "0" if ProposalRound.objects.filter(study=study).exists() else ""


# --------------------------------------------------------------------------- the tick


def emails_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Mark failed what a dead worker left half-sent, and wake the workers up when e-mails
    wait with no message on its way (a broker outage, a lost message, a dead worker)."""
    now = now or timezone.now()
    interrupted = EmailMessage.objects.filter(
        status=EmailMessage.Status.SENDING, lease_until__lte=now
    ).update(
        status=EmailMessage.Status.FAILED,
        lease_owner="",
        lease_until=None,
        error=_(
            "The worker stopped while sending this e-mail, so it may or may not have arrived; "
            "it is not sent again automatically. Resend it if the panelist did not get it."
        ),
    )
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    stale = Q(dispatched_at__isnull=True) | Q(
        dispatched_at__lte=now - email_policy().republish_after
    )
    waiting = list(
        EmailMessage.objects.filter(free, stale, status=EmailMessage.Status.QUEUED).values_list(
            "pk", flat=True
        )
    )
    if waiting:
        from panelists import tasks

        wakeups = min(math.ceil(len(waiting) / BATCH), MAX_WAKEUPS)
        jobs.publish(
            lambda: [tasks.send_emails.delay() for _ in range(wakeups)],
            model=EmailMessage,
            pks=waiting,
        )
    return {"interrupted": interrupted, "waiting": len(waiting)}


# --------------------------------------------------------------------------- reminders


def reminders_send(*, round: Round, by: Actor = None, reason: str = "") -> int:
    """Queue a reminder, with the panelist's live link, to everyone taking part in the round
    who has not submitted it."""
    if round.state != Round.State.OPEN:
        raise TransitionError(_("Reminders go out only while a round is open."))
    with transaction.atomic():
        pending = (
            Participation.objects.filter(round=round)
            .exclude(status=Participation.Status.SUBMITTED)
            .values_list("panelist_id", flat=True)
        )
        ids = emails_record(
            round=round, panelist_ids=list(pending), kind=EmailMessage.Kind.REMINDER
        )
        audit_record(
            study=round.study, action="reminder.sent", target=str(round), by=by,
            after={"recipients": len(ids)}, reason=reason,
        )  # fmt: skip
    return len(ids)


def reminders_schedule(*, round: Round, days_before: Iterable[int], by: Actor = None) -> None:
    """Send reminders automatically this many days before the deadline (e.g. [7, 2])."""
    days = sorted({d for d in days_before if d > 0}, reverse=True)
    with transaction.atomic():
        round.reminders.filter(sent_at__isnull=True).exclude(days_before__in=days).delete()
        for d in days:
            ScheduledReminder.objects.get_or_create(round=round, days_before=d)
        audit_record(
            study=round.study, action="reminder.scheduled", target=str(round), by=by,
            after={"days_before": days},
        )  # fmt: skip


def proposal_reminders_send(
    *, proposal_round: ProposalRound, by: Actor = None, reason: str = ""
) -> int:
    """Queue a reminder of round 0, with the panelist's live link, to every invited panelist
    who has neither answered an open question nor made a proposal."""
    if not proposals.takes_answers(proposal_round):
        raise TransitionError(_("Reminders go out only while round 0 is open."))
    with transaction.atomic():
        ids = emails_record(
            round=None,
            panelist_ids=proposals.not_answered(proposal_round),
            kind=EmailMessage.Kind.REMINDER,
        )
        audit_record(
            study=proposal_round.study, action="reminder.sent", target="round 0", by=by,
            after={"recipients": len(ids)}, reason=reason,
        )  # fmt: skip
    return len(ids)


def proposal_reminders_schedule(
    *, proposal_round: ProposalRound, days_before: Iterable[int], by: Actor = None
) -> None:
    """Remind round 0's panel automatically this many days before its deadline."""
    days = sorted({d for d in days_before if d > 0}, reverse=True)
    with transaction.atomic():
        proposal_round.reminders.filter(sent_at__isnull=True).exclude(days_before__in=days).delete()
        for d in days:
            ProposalReminder.objects.get_or_create(proposal_round=proposal_round, days_before=d)
        audit_record(
            study=proposal_round.study, action="reminder.scheduled", target="round 0", by=by,
            after={"days_before": days},
        )  # fmt: skip


def reminders_due(*, now: datetime | None = None) -> int:
    """Send the scheduled reminders that are due, of rating rounds and of round 0; each is
    claimed and its e-mails recorded in one transaction, so a reminder is sent once, or
    not yet."""
    now = now or timezone.now()
    return _rating_reminders_due(now) + _proposal_reminders_due(now)


def _proposal_reminders_due(now: datetime) -> int:
    due = ProposalReminder.objects.filter(
        sent_at__isnull=True,
        proposal_round__state=ProposalRound.State.OPEN,
        proposal_round__closes_at__gt=now,
    ).select_related("proposal_round__study")
    sent = 0
    for reminder in due:
        closes_at = reminder.proposal_round.closes_at
        assert closes_at is not None
        if closes_at - timedelta(days=reminder.days_before) > now:
            continue
        with transaction.atomic():
            claimed = ProposalReminder.objects.filter(pk=reminder.pk, sent_at__isnull=True).update(
                sent_at=now
            )
            if claimed:
                proposal_reminders_send(
                    proposal_round=reminder.proposal_round,
                    reason=f"scheduled: {reminder.days_before} days before the deadline",
                )
                sent += 1
    return sent


def _rating_reminders_due(now: datetime) -> int:
    due = ScheduledReminder.objects.filter(
        sent_at__isnull=True, round__state=Round.State.OPEN, round__closes_at__gt=now
    ).select_related("round__study")
    sent = 0
    for reminder in due:
        assert reminder.round.closes_at is not None
        if reminder.round.closes_at - timedelta(days=reminder.days_before) > now:
            continue
        with transaction.atomic():
            claimed = ScheduledReminder.objects.filter(pk=reminder.pk, sent_at__isnull=True).update(
                sent_at=now
            )
            if claimed:
                reminders_send(
                    round=reminder.round,
                    reason=f"scheduled: {reminder.days_before} days before the deadline",
                )
                sent += 1
    return sent


# --------------------------------------------------------------------------- core events


def on_invitations_requested(*, round: Round, panelist_ids: Sequence[int], **_: object) -> None:
    invitations_record(round=round, panelist_ids=panelist_ids)


def on_proposals_invitations_requested(
    *, proposal_round: ProposalRound, panelist_ids: Sequence[int], **_: object
) -> None:
    """Round 0 opens: an invitation without a round (the e-mail names round 0)."""
    emails_record(round=None, panelist_ids=panelist_ids, kind=EmailMessage.Kind.INVITATION)


def on_round_submitted(*, round: Round, panelist: Panelist, **_: object) -> None:
    emails_record(round=round, panelist_ids=[panelist.pk], kind=EmailMessage.Kind.CONFIRMATION)
