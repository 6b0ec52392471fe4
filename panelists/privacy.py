"""The panel's part of privacy requests (rounds.privacy): e-mails and links of a panelist."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from panelists.models import EmailMessage, PersonalLink
from rounds.models import Panelist


def on_panelist_data_requested(sender: object, *, panelist: Panelist, **kwargs: Any) -> dict:
    """The e-mails sent to the panelist (as stored: the personal link removed) and the
    dates of their links (never the link itself)."""
    emails = EmailMessage.objects.filter(panelist=panelist).order_by("created_at", "pk")
    links = PersonalLink.objects.filter(panelist=panelist).order_by("created_at", "pk")
    return {
        "emails": [
            {
                "kind": e.kind,
                "status": e.status,
                "round": e.round.number if e.round_id and e.round else None,
                "subject": e.subject,
                "body_text": e.body_text,
                "created_at": e.created_at.isoformat(),
                "sent_at": e.sent_at.isoformat() if e.sent_at else None,
            }
            for e in emails.select_related("round")
        ],
        "links": [
            {
                "created_at": link.created_at.isoformat(),
                "expires_at": link.expires_at.isoformat() if link.expires_at else None,
                "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
                "last_used_at": link.last_used_at.isoformat() if link.last_used_at else None,
            }
            for link in links
        ],
    }


def on_panelist_erased(sender: object, *, panelist: Panelist, **kwargs: Any) -> None:
    """Revoke every link (ending any session) and clear what the stored e-mails say; the
    e-mails not yet sent are cancelled."""
    now = timezone.now()
    PersonalLink.objects.filter(panelist=panelist, revoked_at__isnull=True).update(revoked_at=now)
    emails = EmailMessage.objects.filter(panelist=panelist)
    emails.filter(status=EmailMessage.Status.QUEUED).update(
        status=EmailMessage.Status.FAILED, error="cancelled: the panelist was erased"
    )
    emails.update(subject="", body_text="", body_html="")
    emails.exclude(error="cancelled: the panelist was erased").update(error="")
