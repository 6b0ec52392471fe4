"""Privacy: comment moderation, a panelist's data (access requests), erasure and retention.

- A coordinator can hide a comment: it leaves the panel's feedback and every export (the one
  comment selector, `rounds.selectors.comments_frame`, skips hidden ones); the rating counts.
- A panelist's data can be exported (JSON, or CSV for the ratings) for an access request:
  the core's part here, the layers above add theirs (e-mails, links) through the signal
  `rounds.signals.panelist_data_requested`.
- Erasing a panelist blanks the e-mail address and the name, scrubs them from every comment
  of the study, and sends `panelist_erased` (the panelists app revokes the links and clears
  the stored e-mails); the pseudonym, group and ratings stay, so no analysis changes.
- Retention: DELPHI_RETENTION_DAYS after a study ends, its panelists are erased by the tick.

Every write is recorded in the study's audit log.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from rounds.anonymise import Scrubber
from rounds.csvio import safe_cell
from rounds.errors import DomainError
from rounds.models import (
    HiddenComment,
    Panelist,
    Participation,
    Proposal,
    ProposalAnswer,
    Rating,
    Round,
    Study,
)
from rounds.services import Actor, audit_record
from rounds.signals import panelist_data_requested, panelist_erased

ERASED_DOMAIN = "erased.invalid"  # reserved: never delivered


# Moderation -------------------------------------------------------------------------------


def _comment_target(rating: Rating) -> str:
    ri = rating.round_item
    return (
        f"{rating.panelist.pseudonym} {ri.item.code} {rating.criterion.code} "
        f"round {ri.round.number}"
    )


def comment_of(study: Study, rating_id: int) -> Rating:
    """A commented rating of `study`, or a DomainError that says so."""
    rating = (
        Rating.objects.select_related(
            "panelist", "criterion", "round_item__item", "round_item__round"
        )
        .filter(pk=rating_id, round_item__round__study=study)
        .exclude(comment="")
        .first()
    )
    if rating is None:
        raise DomainError(_("This comment is not in this study. Reload the list of comments."))
    return rating


def comment_hide(*, rating: Rating, by: Actor = None, reason: str = "") -> bool:
    """Hide the comment from the feedback and the exports; False if it already was."""
    with transaction.atomic():
        _hidden, created = HiddenComment.objects.get_or_create(
            rating=rating,
            defaults={
                "hidden_at": timezone.now(),
                "hidden_by": by if isinstance(by, User) else None,
                "reason": reason,
            },
        )
        if created:
            audit_record(
                study=rating.panelist.study, action="comment.hidden",
                target=_comment_target(rating), by=by, reason=reason,
            )  # fmt: skip
    return created


def comment_show(*, rating: Rating, by: Actor = None, reason: str = "") -> bool:
    """Show a hidden comment again; False if it was not hidden."""
    with transaction.atomic():
        deleted, _counts = HiddenComment.objects.filter(rating=rating).delete()
        if deleted:
            audit_record(
                study=rating.panelist.study, action="comment.shown",
                target=_comment_target(rating), by=by, reason=reason,
            )  # fmt: skip
    return bool(deleted)


@dataclass(frozen=True)
class CommentRow:
    rating_id: int
    pseudonym: str
    item: str
    criterion: str
    value: int | None
    comment: str
    hidden: bool


def round_comments(round: Round) -> list[CommentRow]:
    """Every comment of the round, for the coordinator (hidden ones too, marked), scrubbed
    of e-mail addresses and names like everything else the coordinators' pages show."""
    names = Panelist.objects.filter(study=round.study).exclude(name="")
    scrub = Scrubber(names.values_list("name", flat=True))
    rows = (
        Rating.objects.filter(round_item__round=round)
        .exclude(comment="")
        .order_by("round_item__position", "criterion__position", "panelist__pseudonym")
        .values_list(
            "pk", "panelist__pseudonym", "round_item__item__code", "criterion__code", "value",
            "comment", "hidden__id",
        )
    )  # fmt: skip
    return [
        CommentRow(pk, pseudonym, item, criterion, value, scrub(comment), hidden is not None)
        for pk, pseudonym, item, criterion, value, comment, hidden in rows
    ]


# A panelist's data ------------------------------------------------------------------------


def panelist_by_pseudonym(study: Study, pseudonym: str) -> Panelist:
    panelist = Panelist.objects.filter(study=study, pseudonym=pseudonym.strip().upper()).first()
    if panelist is None:
        raise DomainError(_("This study has no panelist %(pseudonym)s.") % {"pseudonym": pseudonym})
    return panelist


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ratings(panelist: Panelist) -> QuerySet[Rating]:
    return (
        Rating.objects.filter(panelist=panelist)
        .select_related("round_item__round", "round_item__item", "criterion")
        .order_by("round_item__round__number", "round_item__position", "criterion__position")
    )


def panelist_data(panelist: Panelist) -> dict[str, Any]:
    """Everything the platform holds about the panelist, for an access request."""
    hidden = set(
        HiddenComment.objects.filter(rating__panelist=panelist).values_list("rating_id", flat=True)
    )
    data: dict[str, Any] = {
        "study": panelist.study.slug,
        "panelist": {
            "pseudonym": panelist.pseudonym,
            "email": panelist.email,
            "name": panelist.name,
            "language": panelist.language,
            "group": panelist.group,
            "created_at": _when(panelist.created_at),
            "erased_at": _when(panelist.erased_at),
        },
        "participations": [
            {
                "round": p.round.number,
                "status": p.status,
                "consented_at": _when(p.consented_at),
                "submitted_at": _when(p.submitted_at),
                "last_activity_at": _when(p.last_activity_at),
            }
            for p in Participation.objects.filter(panelist=panelist)
            .select_related("round")
            .order_by("round__number")
        ],
        "ratings": [
            {
                "round": r.round_item.round.number,
                "item": r.round_item.item.code,
                "criterion": r.criterion.code,
                "value": r.value,
                "comment": r.comment,
                "comment_hidden": r.pk in hidden,
                "updated_at": _when(r.updated_at),
            }
            for r in _ratings(panelist)
        ],
        "round_0": {
            "answers": [
                {"domain": a.domain, "text": a.text, "updated_at": _when(a.updated_at)}
                for a in ProposalAnswer.objects.filter(panelist=panelist).order_by("pk")
            ],
            "proposals": [
                {
                    "number": p.label, "domain": p.domain, "text": p.text, "reason": p.reason,
                    "status": p.status, "decision_reason": p.decision_reason,
                    "created_at": _when(p.created_at),
                }
                for p in Proposal.objects.filter(panelist=panelist).order_by("number")
            ],
        },
    }  # fmt: skip
    for _receiver, section in panelist_data_requested.send(sender=Panelist, panelist=panelist):
        if isinstance(section, dict):
            data.update(section)
    return data


RATING_CSV_COLUMNS = ["round", "item", "criterion", "value", "comment", "updated_at"]


def panelist_ratings_csv(panelist: Panelist) -> bytes:
    """The panelist's ratings and comments as CSV (cells safe for spreadsheets)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RATING_CSV_COLUMNS)
    for row in panelist_data(panelist)["ratings"]:
        cells = ["" if row[c] is None else str(row[c]) for c in RATING_CSV_COLUMNS]
        writer.writerow([safe_cell(cell) for cell in cells])
    return buffer.getvalue().encode("utf-8")


def panelist_export_record(*, panelist: Panelist, by: Actor = None, what: str) -> None:
    """Record in the audit log that a panelist's data left the platform."""
    audit_record(
        study=panelist.study, action="panelist.exported", target=panelist.pseudonym, by=by,
        after={"format": what},
    )  # fmt: skip


# Erasure and retention --------------------------------------------------------------------


def panelist_erase(*, panelist: Panelist, by: Actor = None, reason: str = "") -> bool:
    """Erase the panelist's e-mail address and name (from the panel and from every comment
    of the study), revoke their links and clear their stored e-mails; the pseudonym, group
    and ratings stay. False if they were already erased."""
    with transaction.atomic():
        panelist = Panelist.objects.select_for_update().get(pk=panelist.pk)
        if panelist.erased_at is not None:
            return False
        _scrub_comments(panelist)
        panelist.email = f"{panelist.pseudonym.lower()}@{ERASED_DOMAIN}"
        panelist.name = ""
        panelist.erased_at = timezone.now()
        panelist.save(update_fields=["email", "name", "erased_at"])
        panelist_erased.send(sender=Panelist, panelist=panelist)
        audit_record(
            study=panelist.study, action="panelist.erased", target=panelist.pseudonym, by=by,
            reason=reason,
        )  # fmt: skip
    return True


def _scrub_comments(panelist: Panelist) -> None:
    scrub = Scrubber([panelist.name] if panelist.name else [])
    email = panelist.email.casefold()
    ratings = Rating.objects.filter(round_item__round__study=panelist.study).exclude(comment="")
    changed = []
    for rating in ratings.only("pk", "comment"):
        text = scrub(rating.comment)
        if email and email in text.casefold():
            text = text.replace(panelist.email, "[e-mail removed]")
        if text != rating.comment:
            rating.comment = text
            changed.append(rating)
    Rating.objects.bulk_update(changed, ["comment"], batch_size=500)
    _scrub_round_0(panelist, scrub)


def _scrub_round_0(panelist: Panelist, scrub: Scrubber) -> None:
    """The same for round 0's free texts (answers, proposals and the reasons given)."""
    email = panelist.email

    def clean(text: str) -> str:
        text = scrub(text)
        return text.replace(email, "[e-mail removed]") if email else text

    study = panelist.study
    answers = list(ProposalAnswer.objects.filter(panelist__study=study).exclude(text=""))
    for answer in answers:
        answer.text = clean(answer.text)
    ProposalAnswer.objects.bulk_update(answers, ["text"], batch_size=500)
    names = ["text", "reason", "decision_reason"]
    made = list(Proposal.objects.filter(proposal_round__study=study))
    for proposal in made:
        for name in names:
            setattr(proposal, name, clean(getattr(proposal, name)))
    Proposal.objects.bulk_update(made, names, batch_size=500)


def retention_due(now: datetime | None = None) -> QuerySet[Panelist]:
    """Panelists not yet erased of studies that ended DELPHI_RETENTION_DAYS ago or more."""
    days = int(settings.DELPHI_RETENTION_DAYS)
    if days <= 0:
        return Panelist.objects.none()
    limit = (now or timezone.now()) - timedelta(days=days)
    return Panelist.objects.filter(
        erased_at__isnull=True,
        study__status=Study.Status.FINISHED,
        study__finished_at__lte=limit,
    ).order_by("study_id", "pseudonym")


def retention_apply(*, now: datetime | None = None, limit: int = 500) -> int:
    """Erase the panelists whose retention period is over (at most `limit` per call; the
    tick calls again a minute later). Returns how many were erased."""
    days = int(settings.DELPHI_RETENTION_DAYS)
    reason = f"retention: {days} days after the study ended (DELPHI_RETENTION_DAYS)"
    erased = 0
    for panelist in retention_due(now)[:limit]:
        erased += panelist_erase(panelist=panelist, reason=reason)
    return erased
