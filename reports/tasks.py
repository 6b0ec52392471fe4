"""Celery tasks: thin, take primitive ids, call one service, own the retries."""

from __future__ import annotations

from celery import shared_task

from reports import services
from reports.models import ReportVersion


@shared_task(bind=True, acks_late=True, max_retries=0)
def generate_report(self: object, version_id: int) -> dict[str, object]:
    """Build a queued report version. Safe to run twice: the service claims the version."""
    try:
        version = services.report_build(version_id=version_id)
    except ReportVersion.DoesNotExist:
        return {"version": version_id, "status": "missing"}
    return {"version": version.pk, "status": version.status, "number": version.version}
