"""Work survives anything: a worker killed in the middle of a job, a broker that is down, a
mail server that refuses. Each job finishes exactly once, a little later, and every request
that caused one succeeds. Run on the filesystem broker and on Redis (see conftest)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from panelists import links
from panelists.models import EmailMessage
from reports import services as report_services
from reports.models import ReportVersion
from rounds import services
from rounds.models import (
    AnalysisJob,
    AuditEntry,
    Participation,
    Rating,
    Result,
    Round,
    RoundAnalysis,
    Study,
)
from tests.factories import default_ratings, make_study, run_round
from tests.faults.conftest import Broker, Sink, Workers, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.faults]


def open_round(study: Study, *, notify: bool = False) -> Round:
    round = services.round_create(study=study)
    round.closes_at = timezone.now() + timedelta(days=7)
    round.save(update_fields=["closes_at"])
    return services.round_open(round=round, notify=notify)


def submitted_round(n_panelists: int = 8) -> Round:
    """Round 1 open, every panelist's ratings saved and submitted; not closed yet."""
    study = make_study(n_items=4, n_panelists=n_panelists)
    round = open_round(study)
    rate = default_ratings(seed=1)
    criteria = list(study.criteria.all())
    with transaction.atomic():
        Rating.objects.bulk_create(
            Rating(round_item=ri, criterion=c, panelist=p, value=rate(p, ri, c))
            for ri in round.round_items.all()
            for c in criteria
            for p in study.panelists.all()
        )
        Participation.objects.filter(round=round).update(status=Participation.Status.SUBMITTED)
    return round


def coordinator(study: Study) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(f"coord-{study.pk}", "c@example.org", "x"))
    return client


def emails_settled() -> bool:
    """No e-mail is waiting or being sent any more."""
    return not EmailMessage.objects.filter(status__in=["queued", "sending"]).exists()


def delivered_once(sink: Sink, emails: list[EmailMessage]) -> None:
    counts = sink.counts()
    assert all(n == 1 for n in counts.values()), f"sent twice: {counts.most_common(3)}"
    for email in emails:
        assert counts[f"<delphi-email-{email.pk}@localhost>"] == 1, email


# --------------------------------------------------------------------------- killed workers


def test_a_worker_killed_during_an_analysis_is_replaced_and_the_round_analysed_once(
    broker: Broker, workers: Workers
) -> None:
    round = submitted_round()
    first = workers.start(pause=60)
    services.round_close(round=round)  # publishes on commit, to the test's broker
    job = round.analysis_jobs.get()
    wait_for(lambda: AnalysisJob.objects.filter(pk=job.pk, status="running").exists())
    workers.kill(first)

    workers.start()
    wait_for(lambda: Round.objects.filter(pk=round.pk, state="analysed").exists())

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 2)
    assert RoundAnalysis.objects.get(round=round).version == 1
    assert Result.objects.filter(round=round).count() == 4 * 2
    assert AuditEntry.objects.filter(study=round.study, action="round.analysed").count() == 1


def test_a_worker_killed_during_a_report_is_replaced_and_one_version_is_built(
    broker: Broker, workers: Workers
) -> None:
    study = make_study(n_items=4, n_panelists=6)
    run_round(study)
    first = workers.start(pause=60)
    version = report_services.report_request(study=study)
    running = ReportVersion.objects.filter(pk=version.pk, status="running")
    wait_for(running.exists, what="the first worker builds the report")
    workers.kill(first)

    workers.start()
    done = ReportVersion.objects.filter(pk=version.pk, status="done")
    wait_for(done.exists, 120, what="another worker builds the report")

    version.refresh_from_db()
    assert version.attempts == 2
    assert ReportVersion.objects.filter(study=study).count() == 1
    assert version.pdf.size > 1000


def test_a_worker_killed_during_an_email_batch_sends_no_email_twice_and_loses_none(
    broker: Broker, sending_workers: Workers, smtp_sink: Sink
) -> None:
    smtp_sink.delay = 0.05  # 150 messages take several seconds: time to kill the worker
    study = make_study(n_items=2, n_panelists=150)
    first = sending_workers.start()
    open_round(study, notify=True)
    wait_for(lambda: len(smtp_sink.received) >= 20)
    sending_workers.kill(first)

    sending_workers.start()
    wait_for(emails_settled, timeout=120)

    emails = list(EmailMessage.objects.filter(round__study=study))
    assert len(emails) == 150
    counts = smtp_sink.counts()
    assert all(n == 1 for n in counts.values()), f"sent twice: {counts.most_common(3)}"
    sent = [e for e in emails if e.status == "sent"]
    interrupted = [e for e in emails if e.status == "failed"]
    for email in sent:
        assert counts[f"<delphi-email-{email.pk}@localhost>"] == 1
    # At most the one message whose SMTP conversation the kill cut short: it is marked
    # failed, with a reason, and never sent again automatically.
    assert len(interrupted) <= 1
    assert all("may or may not have arrived" in e.error for e in interrupted)
    assert len(sent) + len(interrupted) == 150


# --------------------------------------------------------------------------- broker outage


def test_with_the_broker_down_opening_and_submitting_succeed_and_emails_follow_once(
    broker: Broker, sending_workers: Workers, smtp_sink: Sink
) -> None:
    study = make_study(n_items=2, n_panelists=5)
    round = services.round_create(study=study)
    round.closes_at = timezone.now() + timedelta(days=7)
    round.save(update_fields=["closes_at"])
    broker.stop()

    url = reverse("round-action", args=[study.slug, 1, "open"])
    response = coordinator(study).post(url, {"confirmed": "yes"})  # past the confirmation
    assert response.status_code == 302
    round.refresh_from_db()
    assert round.state == "open"
    assert EmailMessage.objects.filter(round=round, dispatched_at__isnull=True).count() == 5

    panelist = study.panelists.get(pseudonym="P001")
    Rating.objects.bulk_create(
        Rating(round_item=ri, criterion=c, panelist=panelist, value=7)
        for ri in round.round_items.all()
        for c in study.criteria.all()
    )
    browser = Client()
    browser.get(urlsplit(links.link_issue(panelist=panelist)).path)
    response = browser.post(reverse("panelist-submit"))
    assert (response.status_code, response["Location"]) == (302, reverse("panelist-thanks"))
    assert Participation.objects.get(round=round, panelist=panelist).status == "submitted"

    broker.start()
    sending_workers.start()
    wait_for(emails_settled, timeout=60)

    emails = list(EmailMessage.objects.filter(round=round))
    assert sorted(e.kind for e in emails) == ["confirmation"] + ["invitation"] * 5
    assert {e.status for e in emails} == {"sent"}
    delivered_once(smtp_sink, emails)


# --------------------------------------------------------------------------- mail server


def test_a_refusing_mail_server_delays_the_emails_and_none_is_lost_or_doubled(
    broker: Broker, sending_workers: Workers, smtp_sink: Sink
) -> None:
    smtp_sink.refusing = True
    study = make_study(n_items=2, n_panelists=6)
    sending_workers.start()
    round = open_round(study, notify=True)
    wait_for(lambda: smtp_sink.refused >= 2)
    waiting = EmailMessage.objects.filter(round=round, status="queued", attempts__gte=1)
    wait_for(lambda: waiting.exists())
    assert "421" in waiting.first().error

    smtp_sink.refusing = False
    wait_for(emails_settled, timeout=60)
    emails = list(EmailMessage.objects.filter(round=round))
    assert {e.status for e in emails} == {"sent"}
    delivered_once(smtp_sink, emails)


# --------------------------------------------------------------------------- no submissions


def test_a_round_nobody_submitted_ends_its_analysis_with_a_visible_reason(
    broker: Broker, workers: Workers
) -> None:
    study = make_study(n_items=2, n_panelists=4)
    round = open_round(study)
    workers.start()
    services.round_close(round=round)
    job = round.analysis_jobs.get()
    wait_for(lambda: AnalysisJob.objects.filter(pk=job.pk, status="failed").exists())

    client = coordinator(study)
    page = client.get(reverse("round-detail", args=[study.slug, 1])).content.decode()
    assert "The analysis could not be completed" in page
    assert "Nobody submitted round 1" in page
    assert "Try the analysis again" in page
    deadline = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    url = reverse("round-action", args=[study.slug, 1, "reopen"])
    assert client.post(url, {"closes_at": deadline}).status_code == 302
    round.refresh_from_db()
    assert round.state == "open"
