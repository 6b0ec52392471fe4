"""A study's team: invite a colleague (coordinator) or the policy team (viewers) by e-mail,
accept an invitation, change or remove a role. Every change is audited; a study always
keeps at least one owner."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from rounds.errors import DomainError
from rounds.models import Study, StudyInvitation, StudyMembership
from rounds.services import audit_record

logger = logging.getLogger(__name__)

INVITATION_DAYS = 14
Role = StudyMembership.Role


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return settings.SITE_URL + reverse("team-accept", args=[token])


def team_invite(*, study: Study, email: str, role: str, by: User) -> str:
    """Record an invitation and e-mail it once the transaction commits; returns its URL
    (shown once to the inviter, in case the e-mail does not arrive)."""
    if role not in Role.values:
        raise DomainError(_("Unknown role %(role)s.") % {"role": role})
    email = email.strip().lower()
    if study.memberships.filter(user__email__iexact=email).exists():
        raise DomainError(_("%(email)s is already in the team.") % {"email": email})
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = StudyInvitation.objects.create(
            study=study, email=email, role=role, token_hash=_hash(token), invited_by=by,
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )  # fmt: skip
        audit_record(study=study, action="team.invited", target=email, by=by, after={"role": role})
        url = invitation_url(token)
        transaction.on_commit(lambda: _send(invitation.pk, url))
    return url


def _send(invitation_id: int, url: str) -> None:
    """Send the invitation; a failure is kept on the row and shown on the team page."""
    invitation = StudyInvitation.objects.select_related("study", "invited_by").get(pk=invitation_id)
    study = invitation.study
    context = {
        "study": study.display_title,
        "role": invitation.get_role_display(),
        "inviter": invitation.invited_by.get_full_name() or invitation.invited_by.get_username()
        if invitation.invited_by
        else "",
        "url": url,
        "days": INVITATION_DAYS,
    }
    with translation.override(study.report_language):
        subject = _("Invitation to the team of “%(study)s”") % {"study": study.display_title}
        body = render_to_string("rounds/team_invitation_email.txt", context)
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])
    try:
        message.send()
    except Exception as exc:  # any transport error: recorded, never raised into a request
        logger.exception("Team invitation %s could not be sent", invitation_id)
        StudyInvitation.objects.filter(pk=invitation_id).update(email_error=str(exc)[:2000])
    else:
        StudyInvitation.objects.filter(pk=invitation_id).update(sent_at=timezone.now())


def invitation_for(token: str, *, now: datetime | None = None) -> StudyInvitation | None:
    """The pending, unexpired invitation of this token, or None."""
    now = now or timezone.now()
    found = (
        StudyInvitation.objects.select_related("study", "invited_by")
        .filter(token_hash=_hash(token), accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    return found if found is not None and found.expires_at > now else None


def invitation_accept(*, token: str, user: User) -> StudyMembership:
    with transaction.atomic():
        invitation = invitation_for(token)
        if invitation is None:
            raise DomainError(_("This invitation is no longer valid; ask for a new one."))
        locked = StudyInvitation.objects.select_for_update().get(pk=invitation.pk)
        if not locked.pending:
            raise DomainError(_("This invitation is no longer valid; ask for a new one."))
        membership, created = StudyMembership.objects.get_or_create(
            study=invitation.study, user=user, defaults={"role": invitation.role}
        )
        if not created and membership.role != Role.OWNER:
            membership.role = invitation.role
            membership.save(update_fields=["role"])
        locked.accepted_at, locked.accepted_by = timezone.now(), user
        locked.save(update_fields=["accepted_at", "accepted_by"])
        audit_record(
            study=invitation.study, action="team.joined", target=user.get_username(), by=user,
            after={"role": membership.role, "invitation": invitation.email},
        )  # fmt: skip
    return membership


def invitation_revoke(*, invitation: StudyInvitation, by: User) -> None:
    with transaction.atomic():
        StudyInvitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        audit_record(
            study=invitation.study, action="team.invitation_revoked", target=invitation.email,
            by=by,
        )  # fmt: skip


def membership_change(*, membership: StudyMembership, role: str, by: User) -> StudyMembership:
    if role not in Role.values:
        raise DomainError(_("Unknown role %(role)s.") % {"role": role})
    with transaction.atomic():
        _keep_an_owner(membership, losing=role != Role.OWNER)
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            study=membership.study, action="team.role_changed",
            target=membership.user.get_username(), by=by,
            before={"role": before}, after={"role": role},
        )  # fmt: skip
    return membership


def membership_remove(*, membership: StudyMembership, by: User) -> None:
    with transaction.atomic():
        _keep_an_owner(membership, losing=True)
        membership.delete()
        audit_record(
            study=membership.study, action="team.removed",
            target=membership.user.get_username(), by=by, before={"role": membership.role},
        )  # fmt: skip


def _keep_an_owner(membership: StudyMembership, *, losing: bool) -> None:
    if not losing or membership.role != Role.OWNER:
        return
    owners = StudyMembership.objects.select_for_update().filter(
        study_id=membership.study_id, role=Role.OWNER
    )
    if owners.count() <= 1:
        raise DomainError(_("A study needs at least one owner: make someone else owner first."))
