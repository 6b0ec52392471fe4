"""Reads for the coordinator's live dashboard of a round: a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Max, Min, Q
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


PAGE_SIZE = 100


@dataclass
class PanelPage:
    """One page of a round's panel table, filtered by status and a search."""

    rows: list[PanelistRow]
    page: Page[Participation]
    status: str
    query: str


def panel_page(
    round: Round, *, status: str = "", query: str = "", page: Any = 1, details: bool = True
) -> PanelPage:
    """A page of the panel table (100 rows): a fixed number of queries, whatever the size
    of the panel, so the dashboard of 2,500 panelists is as quick as that of 10."""
    participations = Participation.objects.filter(round=round).select_related("panelist")
    if status in STATUSES:
        participations = participations.filter(status=status)
    if query.strip():
        text = query.strip()
        participations = participations.filter(
            Q(panelist__pseudonym__icontains=text)
            | Q(panelist__name__icontains=text)
            | Q(panelist__email__icontains=text)
            | Q(panelist__group__icontains=text)
        )
    paginator = Paginator(participations.order_by("panelist__pseudonym"), PAGE_SIZE)
    found = paginator.get_page(page)
    shown = list(found.object_list)
    rows = _rows(round, shown) if details else [PanelistRow(p, 0, []) for p in shown]
    return PanelPage(rows, found, status, query)


def panelist_rows(round: Round) -> list[PanelistRow]:
    """Every row of the panel table (small panels, tests and exports)."""
    participations = list(
        Participation.objects.filter(round=round)
        .select_related("panelist")
        .order_by("panelist__pseudonym")
    )
    return _rows(round, participations)


def _rows(round: Round, participations: list[Participation]) -> list[PanelistRow]:
    ids = [p.panelist_id for p in participations]
    flags = quality_flags(round, participations)
    history: dict[int, list[EmailMessage]] = defaultdict(list)
    emails = EmailMessage.objects.filter(round=round, panelist_id__in=ids).only(
        "panelist_id", "kind", "status", "created_at", "sent_at", "error"
    )
    for email in emails:
        history[email.panelist_id].append(email)
    return [
        PanelistRow(
            p,
            sum(e.status == EmailMessage.Status.FAILED for e in history.get(p.panelist_id, [])),
            flags.get(p.panelist_id, []),
            history.get(p.panelist_id, []),
        )
        for p in participations
    ]


def quality_flags(
    round: Round, participations: Sequence[Participation] | None = None
) -> dict[int, list[str]]:
    """Data-quality flags per panelist: the same rating for every item (at least five, on
    one criterion), or a completion too fast to have read the items. Counted by the
    database, for the given participations (or the whole round)."""
    # Both columns lead the ratings' unique index (panelist, round item, criterion): an index
    # scan, where a join to the round's items would read every rating of the study.
    items = list(round.round_items.values_list("pk", flat=True))
    ratings = Rating.objects.filter(round_item_id__in=items)
    chosen = list(participations) if participations is not None else None
    if chosen is not None:
        ratings = ratings.filter(panelist_id__in=[p.panelist_id for p in chosen])
    cells = ratings.values("panelist_id", "criterion_id").annotate(
        n=Count("pk"), valued=Count("value"), low=Min("value"), high=Max("value")
    )
    flags: dict[int, list[str]] = defaultdict(list)
    same = _("Same rating for every item")
    counts: dict[int, int] = defaultdict(int)
    for cell in cells:
        counts[cell["panelist_id"]] += cell["n"]
        uniform = cell["n"] >= 5 and cell["valued"] == cell["n"] and cell["low"] == cell["high"]
        if uniform and same not in flags[cell["panelist_id"]]:
            flags[cell["panelist_id"]].append(same)
    for p in chosen if chosen is not None else round.participations.all():
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
