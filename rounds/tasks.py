"""Celery tasks: thin, take primitive ids, call one service, own the retries."""

from __future__ import annotations

from celery import shared_task

from rounds import services
from rounds.models import Round


@shared_task(bind=True, acks_late=True, max_retries=3, default_retry_delay=5)
def analyse_round(self: object, round_id: int) -> dict[str, object]:
    try:
        round = services.round_analyse(round_id=round_id)
    except Round.DoesNotExist:
        return {"round": round_id, "state": "missing", "version": 0}
    return {"round": round.pk, "state": round.state, "version": round.analysis_version}


@shared_task(acks_late=True)
def tick() -> dict[str, int]:
    """Run every minute by Celery beat: scheduled openings, deadlines, reminders."""
    return services.rounds_tick()
