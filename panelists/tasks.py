"""Celery tasks of the panel: thin wrappers that own the retries."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from panelists import services


@shared_task(bind=True, acks_late=True, max_retries=4, default_retry_delay=30)
def send_email(self: Any, email_id: int) -> str:
    try:
        email = services.email_send(email_id=email_id)
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            services.email_mark_failed(email_id=email_id)
            return "failed"
        raise self.retry(exc=exc, countdown=2**self.request.retries * 10) from exc
    return email.status if email is not None else "missing"
