"""Reads for the coordinator's live dashboard of a round: a fixed number of queries."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from panelists.models import EmailMessage
from rounds.models import Participation, Rating, Round

STATUSES = [s.value for s in Participation.Status]
SECONDS_PER_RATING_FLOOR = 2.0  # faster than this on average is not plausible reading


@dataclass
class Progress:
    """Participations by current status, plus how many have opened the round at all (a
    panelist who opened and then submitted is "submitted" now, and still counts as opened)."""

    label: str
    counts: dict[str, int] = field(default_factory=dict)
    opened: int = 0

    @property
    def invited(self) -> int:
        return sum(self.counts.values())

    @property
    def submitted(self) -> int:
        return self.counts.get(Participation.Status.SUBMITTED, 0)

    @property
    def rate(self) -> float:
        return 100.0 * self.submitted / self.invited if self.invited else 0.0

    def get(self, status: str) -> int:
        return self.counts.get(status, 0)


@dataclass
class PanelistRow:
    participation: Participation
    failed_emails: int
    flags: list[str]
    emails: list[EmailMessage] = field(default_factory=list)


OPENED = Q(opened_at__isnull=False) | ~Q(status=Participation.Status.INVITED)


def round_progress(round: Round) -> tuple[Progress, list[Progress]]:
    """Invited / opened / in progress / submitted, overall and per stakeholder group."""
    rows = (
        Participation.objects.filter(round=round)
        .values_list("panelist__group", "status")
        .annotate(n=Count("pk"), opened=Count("pk", filter=OPENED))
    )
    overall = Progress(_("All panelists"))
    groups: dict[str, Progress] = {}
    for group, status, n, opened in rows:
        progress = groups.setdefault(group or "", Progress(group or _("(no group)")))
        for p in (overall, progress):
            p.counts[status] = p.counts.get(status, 0) + n
            p.opened += opened
    return overall, [groups[g] for g in sorted(groups)]


def panelist_rows(round: Round) -> list[PanelistRow]:
    participations = list(
        Participation.objects.filter(round=round)
        .select_related("panelist")
        .annotate(
            failed=Count(
                "panelist__emails",
                filter=Q(
                    panelist__emails__round=round,
                    panelist__emails__status=EmailMessage.Status.FAILED,
                ),
            )
        )
        .order_by("panelist__pseudonym")
    )
    flags = quality_flags(round, participations)
    history: dict[int, list[EmailMessage]] = defaultdict(list)
    for email in EmailMessage.objects.filter(round=round).only(
        "panelist_id", "kind", "status", "created_at", "sent_at", "error"
    ):
        history[email.panelist_id].append(email)
    return [
        PanelistRow(p, p.failed, flags.get(p.panelist_id, []), history.get(p.panelist_id, []))
        for p in participations
    ]


def quality_flags(
    round: Round, participations: Sequence[Participation] | None = None
) -> dict[int, list[str]]:
    """Data-quality flags per panelist: the same rating for every item, or a completion
    too fast to have read the items."""
    values: dict[tuple[int, int], Counter[int | None]] = defaultdict(Counter)
    counts: Counter[int] = Counter()
    rows = Rating.objects.filter(round_item__round=round).values_list(
        "panelist_id", "criterion_id", "value"
    )
    for panelist_id, criterion_id, value in rows:
        values[(panelist_id, criterion_id)][value] += 1
        counts[panelist_id] += 1
    flags: dict[int, list[str]] = defaultdict(list)
    same = _("Same rating for every item")
    for (panelist_id, _criterion), seen in values.items():
        uniform = sum(seen.values()) >= 5 and len(seen) == 1 and None not in seen
        if uniform and same not in flags[panelist_id]:
            flags[panelist_id].append(same)
    for p in participations if participations is not None else round.participations.all():
        seconds = _duration(p.opened_at, p.submitted_at)
        n = counts.get(p.panelist_id, 0)
        if seconds is not None and n and seconds / n < SECONDS_PER_RATING_FLOOR:
            flags[p.panelist_id].append(
                _("Completed in %(s)d s for %(n)d ratings") % {"s": seconds, "n": n}
            )
    return dict(flags)


def _duration(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def failed_emails(round: Round) -> list[EmailMessage]:
    return list(
        EmailMessage.objects.filter(round=round, status=EmailMessage.Status.FAILED)
        .select_related("panelist")
        .order_by("-created_at")
    )


def email_counts(round: Round) -> dict[str, int]:
    """E-mails of the round by status: queued, sending, sent, failed."""
    rows = EmailMessage.objects.filter(round=round).values_list("status").annotate(n=Count("pk"))
    counts = {status: 0 for status in EmailMessage.Status.values}
    counts.update({status: n for status, n in rows})
    return counts
