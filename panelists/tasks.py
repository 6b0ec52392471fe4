"""Celery tasks of the panel: thin. The e-mails' state lives in the database; a message
only wakes a worker up, so a lost or repeated one is harmless."""

from __future__ import annotations

import time

from celery import shared_task

from panelists import services
from rounds import jobs, privacy

SLICE_SECONDS = 60.0


@shared_task(ignore_result=True)
def send_emails() -> int:
    """Send due e-mails batch after batch for up to a minute; the tick wakes a worker up
    again if any are left."""
    started, total = time.monotonic(), 0
    while True:
        claimed = services.emails_send_batch()
        total += claimed
        if not claimed:
            return total
        if time.monotonic() - started > SLICE_SECONDS:
            jobs.publish(send_emails.delay)  # let other tasks in between, then go on
            return total


@shared_task(ignore_result=True)
def tick() -> dict[str, int]:
    """Run by Celery beat every minute: due reminders, e-mails left waiting, and the
    panelists whose retention period is over (DELPHI_RETENTION_DAYS) erased."""
    reminders = services.reminders_due()
    erased = privacy.retention_apply()
    return {"reminders": reminders, "erased": erased, **services.emails_sweep()}
