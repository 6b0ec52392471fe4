"""Celery tasks: thin, take primitive ids, call one service. The report versions' state
lives in the database (`rounds.jobs`); a lost or repeated message is harmless."""

from __future__ import annotations

from celery import shared_task

from reports import services
from reports.models import ReportVersion


@shared_task(ignore_result=True)
def generate_report(version_id: int) -> str:
    """Build a queued report version. Safe to run twice: the service claims the version."""
    try:
        version = services.report_build(version_id=version_id)
    except ReportVersion.DoesNotExist:
        return "missing"
    return version.status


@shared_task(ignore_result=True)
def tick() -> int:
    """Run by Celery beat every minute: report versions left waiting or abandoned."""
    return services.reports_sweep()
