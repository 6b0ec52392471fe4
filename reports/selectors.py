"""Reads for the report and the exports: a fixed number of queries whatever the size.

`report_data` fetches everything the PDF shows in about fifteen queries, however many
items, rounds, recommendations or ratings the study has; the frames are built straight
from `.values_list()` rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.db.models import OuterRef, Subquery

from reports.models import Recommendation, RecommendationItem
from rounds import consensus, csvio, dispositions, proposals, realtime, selectors
from rounds.anonymise import Scrubber
from rounds.models import (
    AuditEntry,
    Criterion,
    Item,
    ItemDecision,
    Panelist,
    Participation,
    ProposalRound,
    Protocol,
    Result,
    Round,
    RoundAnalysis,
    RoundItem,
    Snapshot,
    Study,
    StudyRecord,
)

COMMENT_COLUMNS = selectors.COMMENT_COLUMNS
PARTICIPATION_COLUMNS = ["round", "panelist", "group", "status"]
CHARACTERISTICS = ["age_band", "sex", "years_in_practice", "region", "practice_type"]
PANEL_COLUMNS = ["pseudonym", "group", "language", "characteristics_consent", *CHARACTERISTICS]


def results_frame(study: Study) -> pd.DataFrame:
    """Stored results of every analysed round as `results.csv` columns (plus margin, the
    item's decision and its basis)."""
    rows = Result.objects.filter(round__study=study).values_list("stats", "margin")
    records = [{**stats, "margin": margin} for stats, margin in rows]
    frame = pd.DataFrame.from_records(records, columns=[*csvio.RESULTS_COLUMNS, "margin"])
    return with_decisions(study, frame).sort_values(
        ["round", "item", "criterion"], ignore_index=True
    )


DECISION_COLUMNS = ["decision", "basis"]


def with_decisions(study: Study, results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with the item's decision after each round (as recorded, overrides
    included) and its basis: the clauses of the decision rule that decided the computed
    decision (`rounds.dispositions`), prefixed when a coordinator changed it. Two queries."""
    rows = ItemDecision.objects.filter(round__study=study).values_list(
        "round__number", "round_item__item__code", "decision", "computed"
    )
    recorded = pd.DataFrame.from_records(
        list(rows), columns=["round", "item", "recorded", "decision"]
    )
    if recorded.empty or results.empty:
        return results.assign(decision="", basis="")
    rule = Protocol.objects.get(study=study).decision_rule()
    explained = dispositions.explain_frame(results, recorded, rule)
    explained["recorded"] = recorded["recorded"].to_numpy()
    changed = explained["recorded"] != explained["decision"]
    explained.loc[changed, "basis"] = (
        "changed by the coordinator from " + explained["decision"] + " (" + explained["basis"] + ")"
    )[changed]
    explained["decision"] = explained["recorded"]
    merged = results.merge(
        explained[["round", "item", *DECISION_COLUMNS]], on=["round", "item"], how="left"
    )
    return merged.fillna({"decision": "", "basis": ""})


def participation_frame(study: Study) -> pd.DataFrame:
    """Who was invited to which round and whether they submitted; one query."""
    rows = Participation.objects.filter(round__study=study).values_list(
        "round__number", "panelist__pseudonym", "panelist__group", "status"
    )
    frame = pd.DataFrame.from_records(list(rows), columns=PARTICIPATION_COLUMNS)
    frame["round"] = frame["round"].astype("int64")
    return frame


@dataclass
class Attrition:
    """Round-1 ratings of the panelists who answered the last round (stayers) against those
    who did not (drop-outs): `overall` and `per_item` are the engine's statistics with
    round 1 = stayers and round 2 = drop-outs (none when either group is empty)."""

    first: int
    last: int
    stayers: set[str]
    dropouts: set[str]
    overall: pd.DataFrame | None = None
    per_item: pd.DataFrame | None = None


def attrition(
    ratings: pd.DataFrame, participation: pd.DataFrame, settings: dict[str, Any]
) -> Attrition | None:
    """Who dropped out between the first and the last round, and how they had rated in the
    first. None with fewer than two rounds."""
    rounds = sorted(set(participation["round"].tolist()))
    if len(rounds) < 2:
        return None
    first, last = rounds[0], rounds[-1]
    submitted = participation[participation["status"] == "submitted"]
    answered_first = set(submitted.loc[submitted["round"] == first, "panelist"])
    answered_last = set(submitted.loc[submitted["round"] == last, "panelist"])
    found = Attrition(first, last, answered_first & answered_last, answered_first - answered_last)
    if not found.stayers or not found.dropouts:
        return found
    rows = ratings[
        (ratings["round"] == first) & ratings["panelist"].isin(found.stayers | found.dropouts)
    ]
    tagged = rows.assign(round=rows["panelist"].isin(found.dropouts).astype("int64") + 1)
    found.per_item = consensus.describe(tagged, settings)
    found.overall = consensus.describe(tagged.assign(item="*"), settings)
    return found


@dataclass
class ReportData:
    """Everything the report shows, fetched once."""

    study: Study
    protocol: Protocol
    criteria: list[Criterion]
    items: list[Item]
    rounds: list[Round]
    round_items: dict[int, list[RoundItem]]  # item id → its round items, by round number
    results: dict[tuple[int, int], Result]  # (round item id, criterion id) → result
    decisions: dict[int, ItemDecision]  # round item id → decision
    analyses: dict[int, RoundAnalysis]  # round id → analysis
    ratings: pd.DataFrame  # ratings.csv columns, submitted ratings only
    participation: pd.DataFrame  # PARTICIPATION_COLUMNS
    panel: pd.DataFrame  # pseudonym, group, language
    comments: pd.DataFrame  # COMMENT_COLUMNS + value, scrubbed
    recommendations: list[Recommendation]
    recommendation_items: dict[int, list[Item]] = field(default_factory=dict)
    protocol_changes: list[AuditEntry] = field(default_factory=list)
    attrition: Attrition | None = None
    record: StudyRecord | None = None
    round0: proposals.Summary | None = None  # the proposals round, when the study had one
    snapshots: list[Snapshot] = field(default_factory=list)  # real-time mode only

    @property
    def items_by_id(self) -> dict[int, Item]:
        return {item.pk: item for item in self.items}


def report_data(study: Study, *, ratings: pd.DataFrame | None = None) -> ReportData:
    """Everything the report shows; ``ratings`` (the ratings.csv frame) when already read."""
    # Whether round 0 ran, in the same query (most studies have none: no query more).
    round0_state = ProposalRound.objects.filter(study=OuterRef("study")).values("state")[:1]
    protocol = Protocol.objects.annotate(round0_state=Subquery(round0_state)).get(study=study)
    protocol.study = study
    ran_round0 = getattr(protocol, "round0_state", None) not in (None, "draft")
    criteria = list(study.criteria.all())
    items = list(study.items.order_by("position", "code"))
    rounds = list(study.rounds.order_by("number"))
    # Labels fall back on the study's languages: share the one study, no query per row.
    for criterion in criteria:
        criterion.study = study
    for item in items:
        item.study = study
    for round in rounds:
        round.study = study
    rounds_by_id = {r.pk: r for r in rounds}
    round_items: dict[int, list[RoundItem]] = defaultdict(list)
    for ri in RoundItem.objects.filter(round__study=study).order_by("round__number", "position"):
        ri.round = rounds_by_id[ri.round_id]
        round_items[ri.item_id].append(ri)
    results = {
        (res.round_item_id, res.criterion_id): res
        for res in Result.objects.filter(round__study=study)
    }
    decisions = {d.round_item_id: d for d in ItemDecision.objects.filter(round__study=study)}
    analyses = {a.round_id: a for a in RoundAnalysis.objects.filter(round__study=study)}
    panel_rows = Panelist.objects.filter(study=study).values_list(*PANEL_COLUMNS, "name")
    panel = pd.DataFrame.from_records(list(panel_rows), columns=[*PANEL_COLUMNS, "name"])
    scrub = Scrubber(name for name in panel["name"] if name)
    panel = panel.drop(columns=["name"])
    recommendations = list(Recommendation.objects.filter(study=study).order_by("position", "id"))
    items_by_id = {item.pk: item for item in items}
    linked: dict[int, list[Item]] = defaultdict(list)
    for rec_id, item_id in RecommendationItem.objects.filter(
        recommendation__study=study
    ).values_list("recommendation_id", "item_id"):
        if item_id in items_by_id:
            linked[rec_id].append(items_by_id[item_id])
    audit = list(
        AuditEntry.objects.filter(study=study, action__in=["protocol.changed"]).order_by("at")
    )
    ratings = selectors.ratings_frame(study=study) if ratings is None else ratings
    participation = participation_frame(study)
    settings = {c.code: c.settings(protocol) for c in criteria}
    return ReportData(
        study=study,
        protocol=protocol,
        criteria=criteria,
        items=items,
        rounds=rounds,
        round_items=round_items,
        results=results,
        decisions=decisions,
        analyses=analyses,
        ratings=ratings,
        participation=participation,
        panel=panel,
        comments=selectors.comments_frame(study=study, scrub=scrub),
        snapshots=[s for r in rounds for s in realtime.snapshots_of(r)]
        if protocol.realtime
        else [],
        recommendations=recommendations,
        recommendation_items=dict(linked),
        protocol_changes=audit,
        attrition=attrition(ratings, participation, settings),
        record=StudyRecord.objects.filter(study=study).first(),
        round0=proposals.summary(study, scrub, study.report_language) if ran_round0 else None,
    )


def final_decisions(study: Study) -> dict[int, str]:
    """Each item's latest decision code (accepted, rejected, ...), by item id; one query."""
    rows = (
        ItemDecision.objects.filter(round__study=study)
        .order_by("round__number")
        .values_list("round_item__item_id", "decision")
    )
    return dict(rows)
