"""Durable background work: every job is a database row first; the broker only wakes workers.

A job row has a status (queued → running → done, or failed with the reason), an attempt
count and a lease. A worker claims a job with a conditional UPDATE, so two workers never
run it at once; it owns the job until ``lease_until``, renews the lease while it works and
records the outcome. If a worker is killed, its lease expires and the scheduler's tick
publishes the job again; the next worker takes it over (one more attempt), until
``max_attempts`` is reached and the job is marked failed with a reason the user sees.

Messages are published after the transaction commits, and a broker that cannot be reached
never fails the request that caused the job: the job stays queued with no ``dispatched_at``
and the tick publishes it once the broker is back. A message delivered twice is harmless,
because only one claim succeeds.

Each model that is a job inherits :class:`Job` and names its status values (an e-mail says
"sending" and "sent" where a report says "running" and "done").
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


class Job(models.Model):
    """The fields every durable job has; subclasses define ``status`` with these values."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    lease_owner = models.CharField(_("claimed by"), max_length=120, blank=True)
    lease_until = models.DateTimeField(
        _("claimed until"),
        null=True,
        blank=True,
        help_text=_("While queued: not before this time (a retry waits). While running: "
                    "the worker's lease; past it, another worker takes the job over."),
    )  # fmt: skip
    dispatched_at = models.DateTimeField(_("last sent to the workers"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        abstract = True


J = TypeVar("J", bound=Job)


@dataclass(frozen=True)
class Policy:
    """How long a claim lasts, how often a job is tried, and when an unclaimed queued job is
    published again (its message may have been lost)."""

    lease: timedelta
    max_attempts: int = 3
    republish_after: timedelta = timedelta(minutes=2)


def policy(name: str, *, lease: int, max_attempts: int = 3) -> Policy:
    """A policy whose lease can be shortened in settings (``DELPHI_JOB_LEASES``), e.g. by
    the fault tests, so that a killed worker's job is taken over within seconds."""
    leases: dict[str, int] = getattr(settings, "DELPHI_JOB_LEASES", {})
    seconds = int(leases.get(name, leases.get("default", lease)))
    republish = int(getattr(settings, "DELPHI_JOB_REPUBLISH_SECONDS", 120))
    return Policy(timedelta(seconds=seconds), max_attempts, timedelta(seconds=republish))


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimable(model: type[Job], now: datetime) -> Q:
    # Job subclasses define ``status``; mypy's Django plugin only sees the abstract fields.
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    return (Q(status=model.QUEUED) & free) | Q(status=model.RUNNING, lease_until__lte=now)


def claim(model: type[Job], *, pk: int, policy: Policy, now: datetime | None = None) -> bool:
    """Take the job: queued (and not waiting for a retry), or running with an expired lease
    (its worker died). True for exactly one caller."""
    now = now or timezone.now()
    claimed = (
        model._default_manager.filter(_claimable(model, now), pk=pk)
        .filter(attempts__lt=policy.max_attempts)
        .update(  # type: ignore[misc]
            status=model.RUNNING,
            attempts=F("attempts") + 1,
            lease_owner=worker_id(),
            lease_until=now + policy.lease,
        )
    )
    return claimed == 1


def mine(model: type[Job], pk: int) -> models.QuerySet[Any]:
    """The job, if this process still holds its lease."""
    return model._default_manager.filter(  # type: ignore[misc]
        pk=pk, status=model.RUNNING, lease_owner=worker_id()
    )


def renew(model: type[Job], *, pk: int, policy: Policy, **fields: Any) -> bool:
    """Extend this worker's lease (long jobs call it as they progress)."""
    return mine(model, pk).update(lease_until=timezone.now() + policy.lease, **fields) == 1


def finish(model: type[Job], *, pk: int, **fields: Any) -> bool:
    return mine(model, pk).update(status=model.DONE, lease_until=None, error="", **fields) == 1


def fail(model: type[Job], *, pk: int, reason: str, **fields: Any) -> bool:
    return (
        mine(model, pk).update(status=model.FAILED, lease_until=None, error=reason[:4000], **fields)
        == 1
    )


def retry_later(model: type[Job], *, pk: int, reason: str, delay: timedelta) -> bool:
    """Give the job back to the queue, not to be claimed before ``delay`` has passed."""
    return (
        mine(model, pk).update(
            status=model.QUEUED,
            lease_owner="",
            lease_until=timezone.now() + delay,
            error=reason[:4000],
        )
        == 1
    )


def backoff(attempts: int, *, base: float | None = None) -> timedelta:
    """30 s, 60 s, 120 s ... (``DELPHI_RETRY_BASE_SECONDS`` sets the first wait)."""
    first = base if base is not None else float(getattr(settings, "DELPHI_RETRY_BASE_SECONDS", 30))
    return timedelta(seconds=first * 2 ** max(attempts - 1, 0))


def publish(
    send: Callable[[], Any], *, model: type[Job] | None = None, pks: Iterable[int] = ()
) -> bool:
    """Send a message to the workers now; on failure log it and return False. The job stays
    queued, and the tick publishes it again once the broker answers."""
    try:
        send()
    except Exception:
        logger.warning(
            "The broker could not be reached; the job stays queued and the next tick "
            "publishes it again.",
            exc_info=True,
        )
        return False
    ids = list(pks)
    if model is not None and ids:
        model._default_manager.filter(pk__in=ids).update(dispatched_at=timezone.now())
    return True


def publish_on_commit(
    send: Callable[[], Any], *, model: type[Job] | None = None, pks: Iterable[int] = ()
) -> None:
    """Publish once the current transaction has committed (never inside it)."""
    ids = list(pks)
    transaction.on_commit(lambda: publish(send, model=model, pks=ids), robust=True)


@dataclass
class Sweep:
    published: list[int]
    gave_up: int


def sweep(
    model: type[J],
    *,
    policy: Policy,
    send: Callable[[int], Any],
    queryset: models.QuerySet[J] | None = None,
    now: datetime | None = None,
    limit: int = 500,
) -> Sweep:
    """What the tick does for one kind of job: fail those whose workers died too often,
    and publish again those that wait unclaimed (message lost, never sent, or a dead
    worker's lease expired)."""
    now = now or timezone.now()
    rows = queryset if queryset is not None else model._default_manager.all()
    dead = Q(status=model.RUNNING, lease_until__lte=now)
    gave_up = rows.filter(dead, attempts__gte=policy.max_attempts).update(
        status=model.FAILED,
        lease_until=None,
        error=_stopped_message(policy.max_attempts),
    )
    unpublished = Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=now - policy.republish_after)
    waiting = (
        Q(status=model.QUEUED)
        & (Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        & unpublished
    )
    due = list(rows.filter(dead | waiting).order_by("pk").values_list("pk", flat=True)[:limit])
    published = [pk for pk in due if publish(partial(send, pk), model=model, pks=[pk])]
    if gave_up or published:
        logger.info("%s: published %d again, %d failed", model.__name__, len(published), gave_up)
    return Sweep(published, gave_up)


def _stopped_message(attempts: int) -> str:
    return str(
        _(
            "The worker stopped %(n)d times while working on this job (killed, out of memory "
            "or restarted), so it was not tried again. Start it again when the cause is fixed."
        )
        % {"n": attempts}
    )
