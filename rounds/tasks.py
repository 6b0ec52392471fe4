"""Celery tasks: thin, take primitive ids, call one service.

The database holds the state of every job (`rounds.jobs`); a message only tells a worker
that there is work. Retries are the job's, not Celery's: a lost or repeated message is
harmless, and the tick publishes again whatever waits.
"""

from __future__ import annotations

from celery import shared_task

from rounds import realtime, services


@shared_task(ignore_result=True)
def run_analysis(job_id: int) -> str:
    job = services.analysis_run(job_id=job_id)
    return job.status if job is not None else "missing"


@shared_task(ignore_result=True)
def tick() -> dict[str, int]:
    """Run by Celery beat every minute: scheduled openings, deadlines, stalled analyses."""
    return services.rounds_tick()


@shared_task(ignore_result=True)
def run_snapshot(snapshot_id: int) -> str:
    snapshot = realtime.snapshot_run(snapshot_id=snapshot_id)
    return snapshot.status if snapshot is not None else "missing"
