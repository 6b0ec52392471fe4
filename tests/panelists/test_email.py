"""E-mail delivery: recorded in one INSERT, rendered and sent by a worker, each message at
most once, retried while the server refuses, failed with its reason after the last try."""

from __future__ import annotations

from datetime import timedelta
from smtplib import SMTPRecipientsRefused
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.test import override_settings
from django.utils import timezone

from panelists import services, tasks
from panelists.links import REDACTED
from panelists.models import EmailMessage
from rounds import services as round_services
from rounds.models import Round, Study
from tests.factories import make_study

pytestmark = pytest.mark.django_db

OPENS = []


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses connections."""

    def open(self) -> bool:
        raise ConnectionRefusedError("SMTP server down")

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError("SMTP server down")


class CountingBackend(LocmemBackend):
    def open(self) -> bool:
        OPENS.append(1)
        return True


class RecipientRefusingBackend(LocmemBackend):
    def send_messages(self, email_messages: Any) -> int:
        raise SMTPRecipientsRefused({"x@example.org": (550, b"No such user")})


def open_round(n_panelists: int = 3) -> Round:
    study = make_study(n_items=2, n_panelists=n_panelists)
    Study.objects.filter(pk=study.pk).update(
        contact_name="Dr Coordinator", contact_email="coord@example.org"
    )
    round = round_services.round_create(study=study)
    return round_services.round_open(round=round, notify=False)


def queue(round: Round, kind: str = "invitation") -> list[int]:
    return services.emails_record(
        round=round, panelist_ids=list(round.study.panelists.values_list("pk", flat=True)),
        kind=kind,
    )  # fmt: skip


def test_a_queued_email_is_sent_and_recorded_as_sent(mailoutbox) -> None:
    ids = queue(open_round(n_panelists=1))
    assert services.emails_send_batch() == 1
    email = EmailMessage.objects.get(pk=ids[0])
    assert (email.status, email.attempts, email.error) == ("sent", 1, "")
    assert email.sent_at is not None
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.reply_to == ["coord@example.org"]
    assert "Dr Coordinator via Delphi" in message.from_email
    assert email.subject == message.subject


def test_sending_twice_sends_once(mailoutbox) -> None:
    queue(open_round(n_panelists=2))
    services.emails_send_batch()
    assert services.emails_send_batch() == 0
    assert len(mailoutbox) == 2


def test_the_stored_email_keeps_no_personal_link(mailoutbox) -> None:
    ids = queue(open_round(n_panelists=1))
    services.emails_send_batch()
    sent = mailoutbox[0].body
    token = sent.split("/p/", 1)[1].split("/", 1)[0]
    assert len(token) >= 43
    email = EmailMessage.objects.get(pk=ids[0])
    assert token not in email.body_text
    assert REDACTED in email.body_text
    assert email.body_html == ""


def test_a_reminder_carries_the_same_live_link_as_the_invitation(mailoutbox) -> None:
    round = open_round(n_panelists=1)
    queue(round, "invitation")
    services.emails_send_batch()
    queue(round, "reminder")
    services.emails_send_batch()
    invitation, reminder = (m.body for m in mailoutbox)
    link = next(line for line in invitation.splitlines() if "/p/" in line).strip()
    assert link in reminder


def test_a_panel_is_sent_in_batches_over_one_connection_each(settings) -> None:
    settings.EMAIL_BACKEND = "tests.panelists.test_email.CountingBackend"
    OPENS.clear()
    mail.outbox = []
    queue(open_round(n_panelists=250))
    tasks.send_emails.apply()
    assert len(mail.outbox) == 250
    assert len(OPENS) == 3  # batches of 100
    assert EmailMessage.objects.filter(status="sent").count() == 250


@override_settings(EMAIL_BACKEND="tests.panelists.test_email.RefusingBackend")
def test_a_refusing_server_delays_the_emails_and_keeps_them_queued() -> None:
    ids = queue(open_round(n_panelists=2))
    assert services.emails_send_batch() == 0
    for email in EmailMessage.objects.filter(pk__in=ids):
        assert (email.status, email.attempts) == ("queued", 1)
        assert "SMTP server down" in email.error
        assert email.lease_until is not None and email.lease_until > timezone.now()
    assert services.emails_send_batch() == 0  # not before the retry delay


def test_emails_go_out_once_the_server_accepts_again(mailoutbox) -> None:
    ids = queue(open_round(n_panelists=2))
    with override_settings(EMAIL_BACKEND="tests.panelists.test_email.RefusingBackend"):
        services.emails_send_batch()
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        services.emails_send_batch()
    assert len(mailoutbox) == 2
    assert set(EmailMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"sent"}


@override_settings(EMAIL_BACKEND="tests.panelists.test_email.RefusingBackend")
def test_an_email_that_keeps_failing_ends_as_failed_with_its_reason() -> None:
    ids = queue(open_round(n_panelists=1))
    later = timezone.now()
    for _ in range(services.email_policy().max_attempts):
        later += timedelta(hours=2)
        with time_machine.travel(later):
            services.emails_send_batch()
    email = EmailMessage.objects.get(pk=ids[0])
    assert email.status == "failed"
    assert email.attempts == services.email_policy().max_attempts
    assert "SMTP server down" in email.error


@override_settings(EMAIL_BACKEND="tests.panelists.test_email.RecipientRefusingBackend")
def test_a_refused_recipient_fails_at_once() -> None:
    ids = queue(open_round(n_panelists=1))
    services.emails_send_batch()
    email = EmailMessage.objects.get(pk=ids[0])
    assert (email.status, email.attempts) == ("failed", 1)
    assert "No such user" in email.error


def test_an_email_left_sending_by_a_dead_worker_is_never_sent_again(mailoutbox) -> None:
    ids = queue(open_round(n_panelists=1))
    EmailMessage.objects.filter(pk=ids[0]).update(
        status="sending", attempts=1, lease_owner="dead-host:1",
        lease_until=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    services.emails_sweep()
    services.emails_send_batch()
    email = EmailMessage.objects.get(pk=ids[0])
    assert email.status == "failed"
    assert "may or may not have arrived" in email.error
    assert mailoutbox == []


def test_a_dead_workers_batch_is_taken_over_when_its_lease_expires(mailoutbox) -> None:
    ids = queue(open_round(n_panelists=3))
    EmailMessage.objects.filter(pk__in=ids).update(
        lease_owner="dead-host:1", lease_until=timezone.now() + timedelta(minutes=5)
    )
    assert services.emails_send_batch() == 0  # still leased to the dead worker
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert services.emails_send_batch() == 3
    assert len(mailoutbox) == 3


def test_the_sweep_wakes_the_workers_for_emails_never_sent_to_them(monkeypatch) -> None:
    ids = queue(open_round(n_panelists=2))  # on_commit never ran: nothing was published
    woken: list[int] = []
    monkeypatch.setattr(tasks.send_emails, "delay", lambda: woken.append(1))
    assert services.emails_sweep()["waiting"] == 2
    assert woken == [1]
    assert all(e.dispatched_at is not None for e in EmailMessage.objects.filter(pk__in=ids))
    assert services.emails_sweep()["waiting"] == 0  # published recently: not again yet


def test_each_message_of_a_batch_carries_its_own_name_and_link_escaped_in_html(
    mailoutbox,
) -> None:
    round = open_round(n_panelists=3)
    first, second, _third = round.study.panelists.order_by("pseudonym")
    first.name, first.language = "Zoë <Peeters> & Co", "en"
    first.save()
    second.name, second.language = "", "en"
    second.save()
    queue(round)
    services.emails_send_batch()
    by_address = {m.to[0]: m for m in mailoutbox}
    one, two = by_address[first.email], by_address[second.email]
    assert "Dear Zoë <Peeters> & Co," in one.body
    assert "Dear Zoë &lt;Peeters&gt; &amp; Co," in one.alternatives[0][0]
    assert f"Dear {second.pseudonym}," in two.body
    links = [next(w for w in m.body.split() if "/p/" in w) for m in (one, two)]
    assert links[0] != links[1]
    assert links[0] in one.alternatives[0][0] and links[1] in two.alternatives[0][0]
