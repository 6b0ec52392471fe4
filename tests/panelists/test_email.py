from __future__ import annotations

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from panelists import services, tasks
from panelists.models import EmailMessage
from tests.factories import make_study

pytestmark = pytest.mark.django_db


class BrokenBackend(BaseEmailBackend):
    def send_messages(self, email_messages: list[object]) -> int:
        raise ConnectionRefusedError("SMTP server down")


def queued_email() -> EmailMessage:
    panelist = make_study(n_panelists=1).panelists.get()
    round = panelist.study.rounds.create(number=1)
    return services.email_compose(panelist=panelist, round=round, kind="invitation", link="x")


def test_a_sent_email_is_recorded_as_sent(mailoutbox) -> None:
    email = queued_email()
    assert tasks.send_email.apply(args=[email.pk]).get() == "sent"
    email.refresh_from_db()
    assert (email.status, email.attempts, email.error) == ("sent", 1, "")
    assert email.sent_at is not None
    assert len(mailoutbox) == 1


def test_sending_twice_sends_once(mailoutbox) -> None:
    email = queued_email()
    tasks.send_email.apply(args=[email.pk])
    tasks.send_email.apply(args=[email.pk])
    assert len(mailoutbox) == 1


@override_settings(EMAIL_BACKEND="tests.panelists.test_email.BrokenBackend")
def test_a_failed_send_is_recorded_and_retried() -> None:
    email = queued_email()
    with pytest.raises(ConnectionRefusedError):
        services.email_send(email_id=email.pk)
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("queued", 1)
    assert "SMTP server down" in email.error


@override_settings(EMAIL_BACKEND="tests.panelists.test_email.BrokenBackend")
def test_a_send_that_keeps_failing_ends_as_failed() -> None:
    email = queued_email()
    result = tasks.send_email.apply(args=[email.pk], retries=tasks.send_email.max_retries)
    assert result.get() == "failed"
    email.refresh_from_db()
    assert email.status == "failed"
    assert "SMTP server down" in email.error
