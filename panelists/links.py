"""Personal links: how a panelist, who has no account, is recognised.

A link is ``<site>/p/<token>/``, the token 256 bits that only the server can compute: it is
an HMAC of a random nonce under a key derived from ``SECRET_KEY``. The database keeps the
nonce and the SHA-256 of the token, never the token; neither alone opens anything, and an
e-mail stored after sending keeps a redacted link. Because the server can compute the token
again, a reminder carries the same live link as the invitation rather than minting another.

A link stops working when it is revoked (by a coordinator, or when reissued), when it
expires, or when the study ends; the session it opened ends at the next request too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from panelists.models import PersonalLink
from rounds.models import Panelist, Study
from rounds.services import Actor, audit_record

LinkStatus = Literal["ok", "unknown", "expired", "revoked"]
REDACTED = "[personal link removed]"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key() -> bytes:
    return hashlib.sha256(b"delphi.personal-link:" + settings.SECRET_KEY.encode()).digest()


def token_of(nonce: str) -> str:
    digest = hmac.new(_key(), nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def url_of(token: str) -> str:
    return settings.SITE_URL + reverse("panelist-link", kwargs={"token": token})


def _new_link(panelist_id: int, expires_at: datetime | None = None) -> PersonalLink:
    nonce = secrets.token_hex(16)
    return PersonalLink(
        panelist_id=panelist_id,
        nonce=nonce,
        token_hash=hash_token(token_of(nonce)),
        expires_at=expires_at,
    )


def link_issue(*, panelist: Panelist, expires_at: datetime | None = None) -> str:
    """A new personal link (the full URL); earlier links stay valid."""
    link = _new_link(panelist.pk, expires_at)
    link.save()
    return url_of(token_of(link.nonce))


def _live(now: datetime) -> Q:
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def links_for(panelist_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, str]:
    """Each panelist's live link (the newest one the server can compute), issuing one where
    there is none. A fixed number of queries whatever the number of panelists."""
    now = now or timezone.now()
    wanted = set(panelist_ids)
    found: dict[int, str] = {}
    rows = (
        PersonalLink.objects.filter(_live(now), panelist_id__in=wanted)
        .exclude(nonce="")
        .order_by("panelist_id", "-created_at", "-id")
        .values_list("panelist_id", "nonce", "token_hash")
    )
    for panelist_id, nonce, token_hash in rows:
        token = token_of(nonce)
        if panelist_id not in found and hash_token(token) == token_hash:  # same SECRET_KEY
            found[panelist_id] = url_of(token)
    missing = [_new_link(pk) for pk in sorted(wanted - found.keys())]
    PersonalLink.objects.bulk_create(missing)
    for link in missing:
        found[link.panelist_id] = url_of(token_of(link.nonce))
    return found


def link_for(panelist: Panelist) -> str:
    return links_for([panelist.pk])[panelist.pk]


def link_revoke_all(*, panelist: Panelist, by: Actor = None, reason: str = "") -> int:
    """End every link of the panelist, and so the sessions they opened."""
    with transaction.atomic():
        n = PersonalLink.objects.filter(panelist=panelist, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if by is not None:
            audit_record(
                study=panelist.study, action="link.revoked", target=panelist.pseudonym, by=by,
                after={"links": n}, reason=reason,
            )  # fmt: skip
    return n


def link_reissue(*, panelist: Panelist, by: Actor = None, reason: str = "") -> str:
    """Revoke the panelist's links and issue a new one (e.g. a forwarded invitation)."""
    with transaction.atomic():
        link_revoke_all(panelist=panelist)
        url = link_issue(panelist=panelist)
        audit_record(
            study=panelist.study, action="link.reissued", target=panelist.pseudonym, by=by,
            reason=reason,
        )  # fmt: skip
    return url


@dataclass(frozen=True)
class LinkResolution:
    status: LinkStatus
    panelist: Panelist | None = None
    study: Study | None = None
    link_id: int | None = None


def link_resolve(token: str, *, now: datetime | None = None) -> LinkResolution:
    now = now or timezone.now()
    link = (
        PersonalLink.objects.select_related("panelist__study")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if link is None:
        return LinkResolution("unknown")
    status = _status(link, now)
    if status != "ok":
        return LinkResolution(status, study=link.panelist.study)
    PersonalLink.objects.filter(pk=link.pk).update(last_used_at=now)
    return LinkResolution("ok", panelist=link.panelist, study=link.panelist.study, link_id=link.pk)


def _status(link: PersonalLink, now: datetime) -> LinkStatus:
    if link.revoked_at is not None:
        return "revoked"
    finished = link.panelist.study.status == Study.Status.FINISHED
    if finished or (link.expires_at is not None and link.expires_at <= now):
        return "expired"
    return "ok"


def session_link(link_id: int | None, *, now: datetime | None = None) -> PersonalLink | None:
    """The link a panelist's session was opened with, with its panelist, study and protocol,
    unless it was revoked or has expired (one query): that ends the session at once. (When
    the study ends, the session stays, to show the study's last page.)"""
    if link_id is None:
        return None
    link = (
        PersonalLink.objects.select_related("panelist__study__protocol").filter(pk=link_id).first()
    )
    if link is None or link.revoked_at is not None:
        return None
    if link.expires_at is not None and link.expires_at <= (now or timezone.now()):
        return None
    return link


def redact(text: str, urls: Iterable[str]) -> str:
    for url in urls:
        text = text.replace(url, f"{settings.SITE_URL}/p/{REDACTED}/")
    return text
