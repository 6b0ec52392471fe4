"""The coordinator's reading of a round's results: one row per item with its statistics per
criterion, its decision and the panel's comments; counts, filters and sorting for the
results page, and the same rows beside the items of the next round. A fixed number of
queries whatever the number of items."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from rounds.models import ItemDecision, Rating, Result, Round, RoundItem, translated

FRAGILE_MARGIN = 2  # a margin of 1 or 2: the verdict hangs on very few votes

SORTS = {
    "position": _("Order of the questionnaire"),
    "code": _("Code"),
    "median": _("Median, highest first"),
    "margin": _("Margin, most fragile first"),
}


@dataclass(frozen=True)
class Comment:
    criterion: str
    pseudonym: str
    text: str


@dataclass
class Row:
    round_item: RoundItem
    domain: str
    results: list[Result] = field(default_factory=list)
    decision: ItemDecision | None = None
    comments: list[Comment] = field(default_factory=list)
    basis: str = ""  # the decision rule's clauses that decided it (rounds.explain)

    @property
    def fragile(self) -> bool:
        return any(r.margin is not None and r.margin <= FRAGILE_MARGIN for r in self.results)

    @property
    def unstable(self) -> bool:
        return any(r.stability and not r.stability.get("stable", True) for r in self.results)

    @property
    def disposition(self) -> str:
        return self.decision.decision if self.decision else ""

    @property
    def first_median(self) -> float:
        return next((r.median for r in self.results if r.median is not None), float("-inf"))

    @property
    def least_margin(self) -> int:
        margins = [r.margin for r in self.results if r.margin is not None]
        return min(margins) if margins else 10**6


@dataclass(frozen=True)
class Filters:
    domain: str = ""
    decision: str = ""
    fragile: bool = False
    unstable: bool = False
    commented: bool = False
    sort: str = "position"

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        sort = query.get("sort", "position")
        return cls(
            domain=query.get("domain", ""),
            decision=query.get("decision", ""),
            fragile=query.get("fragile") == "1",
            unstable=query.get("unstable") == "1",
            commented=query.get("commented") == "1",
            sort=sort if sort in SORTS else "position",
        )

    def keep(self, row: Row) -> bool:
        return (
            (not self.domain or row.domain == self.domain)
            and (not self.decision or row.disposition == self.decision)
            and (not self.fragile or row.fragile)
            and (not self.unstable or row.unstable)
            and (not self.commented or bool(row.comments))
        )


ITEMS_PER_PAGE = 50


@dataclass
class Overview:
    rows: list[Row]
    shown: list[Row]
    counts: Counter[str]
    domains: list[str]
    page: Page[Row] | None = None

    @property
    def fragile(self) -> int:
        return sum(row.fragile for row in self.rows)


def round_rows(round: Round, items: Iterable[int] | None = None) -> list[Row]:
    """Every item of an analysed round (or those of `items`, by item id) with its results,
    decision and comments."""
    chosen = Result.objects.filter(round=round)
    if items is not None:
        chosen = chosen.filter(round_item__item_id__in=list(items))
    results = chosen.select_related("round_item__item", "criterion").order_by(
        "round_item__position", "round_item__item__code", "criterion__position"
    )
    decisions = {d.round_item_id: d for d in ItemDecision.objects.filter(round=round)}
    study = round.study
    rows: dict[int, Row] = {}
    for result in results:
        ri = result.round_item
        ri.round = round
        ri.item.study = study
        result.criterion.study = study
        row = rows.get(ri.pk)
        if row is None:
            row = rows[ri.pk] = Row(ri, ri.item.domain_label(), decision=decisions.get(ri.pk))
        row.results.append(result)
    for round_item_id, comment in _comments(round).items():
        if round_item_id in rows:
            rows[round_item_id].comments = comment
    return list(rows.values())


def _comments(round: Round) -> dict[int, list[Comment]]:
    rows = (
        Rating.objects.filter(round_item__round=round)
        .exclude(comment="")
        .values_list("round_item_id", "criterion__name", "panelist__pseudonym", "comment")
        .order_by("round_item_id", "criterion__position", "panelist__pseudonym")
    )
    fallbacks, language = round.study.fallbacks, get_language()
    out: dict[int, list[Comment]] = defaultdict(list)
    for round_item_id, name, pseudonym, text in rows:
        criterion = translated(name, language, fallbacks)
        out[round_item_id].append(Comment(criterion, pseudonym, text))
    return out


def overview(round: Round, filters: Filters, page: Any = 1) -> Overview:
    rows = round_rows(round)
    counts: Counter[str] = Counter(row.disposition for row in rows if row.disposition)
    shown = [row for row in rows if filters.keep(row)]
    if filters.sort == "code":
        shown.sort(key=lambda r: r.round_item.item.code)
    elif filters.sort == "median":
        shown.sort(key=lambda r: -r.first_median)
    elif filters.sort == "margin":
        shown.sort(key=lambda r: r.least_margin)
    domains = sorted({row.domain for row in rows if row.domain})
    shown_page = Paginator(shown, ITEMS_PER_PAGE).get_page(page)  # counts stay over all rows
    return Overview(rows=rows, shown=shown, counts=counts, domains=domains, page=shown_page)


def previous_rows(round: Round, items: Iterable[int] | None = None) -> dict[int, Row]:
    """For the items of a draft round: the previous round's row of each, by item id."""
    previous = Round.objects.filter(
        study_id=round.study_id, number=round.number - 1, state=Round.State.ANALYSED
    ).first()
    if previous is None:
        return {}
    return {row.round_item.item_id: row for row in round_rows(previous, items)}
