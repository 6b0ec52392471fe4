"""Reads that feed the consensus engine: one query each, straight into DataFrames."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from django.db.models import Exists, OuterRef

from rounds import consensus
from rounds.models import Participation, Rating, Round, Study

RATING_COLUMNS = ["round", "panelist", "group", "item", "criterion", "value"]


def ratings_frame(
    *, study: Study, rounds: Iterable[int] | None = None, submitted_only: bool = True
) -> pd.DataFrame:
    """Ratings of a study as the §6 `ratings.csv` columns, sorted; one query.

    Only ratings of panelists who submitted the round count (``submitted_only``): answers
    saved in a wizard that was never submitted are kept but not analysed.
    """
    qs = Rating.objects.filter(round_item__round__study=study)
    if rounds is not None:
        qs = qs.filter(round_item__round__number__in=list(rounds))
    if submitted_only:
        submitted = Participation.objects.filter(
            panelist=OuterRef("panelist"),
            round=OuterRef("round_item__round"),
            status=Participation.Status.SUBMITTED,
        )
        qs = qs.filter(Exists(submitted))
    rows = qs.values_list(
        "round_item__round__number",
        "panelist__pseudonym",
        "panelist__group",
        "round_item__item__code",
        "criterion__code",
        "value",
    )
    frame = pd.DataFrame.from_records(list(rows), columns=RATING_COLUMNS)
    frame["round"] = frame["round"].astype("int64")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame.sort_values(["round", "item", "criterion", "panelist"], ignore_index=True)


def criterion_settings(study: Study) -> dict[str, consensus.CriterionSettings]:
    protocol = study.protocol
    return {c.code: c.settings(protocol) for c in study.criteria.all()}


def latest_round(study: Study) -> Round | None:
    return study.rounds.order_by("-number").first()
