"""Reads that feed the consensus engine: one query each, straight into DataFrames."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from typing import Any

import pandas as pd
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Collate

from rounds import consensus, csvio
from rounds.anonymise import Scrubber
from rounds.models import Panelist, Proposal, Rating, Round, Study

RATING_COLUMNS = ["round", "panelist", "group", "item", "criterion", "value"]
_TEXT_COLUMNS = ("panelist", "group", "item", "criterion")


def counted_rows(
    *, study: Study, rounds: Iterable[int] | None = None, submitted_only: bool = True
) -> QuerySet[Rating, tuple[Any, ...]]:
    """The ratings of a study as rows of the public `ratings.csv` columns, in its order
    (round, item, criterion, panelist; codepoint order, whatever the database's collation).

    Only ratings of panelists who submitted the round count (``submitted_only``): answers
    saved in a questionnaire that was never submitted are kept but not analysed (in a
    real-time study every saved answer counts: `RatingQuerySet.counted_in`)."""
    qs = Rating.objects.counted_in(study) if submitted_only else Rating.objects.all()
    qs = qs.filter(round_item__round__study=study)
    if rounds is not None:
        qs = qs.filter(round_item__round__number__in=list(rounds))
    return qs.values_list(
        "round_item__round__number",
        "panelist__pseudonym",
        "panelist__group",
        "round_item__item__code",
        "criterion__code",
        "value",
    ).order_by(
        "round_item__round__number",
        *(Collate(code, _byte_order()) for code in _CODES),
    )


_CODES = ("round_item__item__code", "criterion__code", "panelist__pseudonym")


def _byte_order() -> str:
    """A collation that sorts by codepoint, as Python does, whatever the database's locale."""
    return "C" if connection.vendor == "postgresql" else "BINARY"


def ratings_frame(
    *, study: Study, rounds: Iterable[int] | None = None, submitted_only: bool = True
) -> pd.DataFrame:
    """The ratings of a study as a DataFrame of the `ratings.csv` columns, in its order; one
    query. On PostgreSQL the rows come through COPY, straight into typed columns (no Python
    object per row): what closing a round of a million ratings spends its time on.

    Whichever the database, the columns are typed as the engine reads fastest (and as its
    benchmark feeds it): round int64, value float64 (NaN for don't know), the codes and the
    group categorical with their categories in codepoint order, as the rows are sorted."""
    rows = counted_rows(study=study, rounds=rounds, submitted_only=submitted_only)
    if connection.vendor == "postgresql":
        return _frame_by_copy(rows)
    frame = pd.DataFrame.from_records(list(rows), columns=RATING_COLUMNS)
    frame["round"] = frame["round"].astype("int64")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame.astype(dict.fromkeys(_TEXT_COLUMNS, "category"))


def _frame_by_copy(rows: QuerySet[Rating, tuple[Any, ...]]) -> pd.DataFrame:
    sql, params = rows.query.sql_with_params()
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
            for block in copy:
                buffer.write(block)
    buffer.seek(0)
    # Codes repeat a million times over a few thousand values: categories hold each once
    # (a tenth of the memory of one string object per row, and the engine's fast path).
    text = dict.fromkeys(_TEXT_COLUMNS, "category")
    frame = pd.read_csv(
        buffer,
        names=RATING_COLUMNS,
        dtype={"round": "int64", "value": "float64", **text},
        keep_default_na=False,
        na_values={"value": [""]},
        engine="c",
    )
    return frame


def criterion_settings(study: Study) -> dict[str, consensus.CriterionSettings]:
    protocol = study.protocol
    return {c.code: c.settings(protocol) for c in study.criteria.all()}


def latest_round(study: Study) -> Round | None:
    return study.rounds.order_by("-number").first()


def data_checksum(ratings: pd.DataFrame) -> str:
    """SHA-256 of these ratings as `ratings.csv` writes them (the one writer, so anyone can
    check it with `sha256sum` on the file)."""
    return hashlib.sha256(csvio.ratings_csv(ratings)).hexdigest()


COMMENT_COLUMNS = ["round", "panelist", "item", "criterion", "comment"]


def panel_scrubber(study: Study) -> Scrubber:
    """A scrubber for this study's comments: e-mail addresses and the panelists' names."""
    names = Panelist.objects.filter(study=study).exclude(name="").values_list("name", flat=True)
    return Scrubber(names)


PROPOSAL_COLUMNS = ["number", "panelist", "domain", "text", "reason", "status", "item",
                    "decision_reason"]  # fmt: skip


def proposals_frame(*, study: Study, scrub: Scrubber | None = None) -> pd.DataFrame:
    """Round 0's proposals (rounds.proposals) in one query: number, proposer's pseudonym
    (never a name), domain, texts scrubbed of names and e-mail addresses, status, the code of
    the item it became (itself or through the proposal it was merged with), reason given."""
    scrub = scrub or panel_scrubber(study)
    rows = (
        Proposal.objects.filter(proposal_round__study=study)
        .order_by("number")
        .values_list("number", "panelist__pseudonym", "domain", "text", "reason", "status",
                     "item__code", "merged_into__item__code", "decision_reason")
    )  # fmt: skip
    records = [
        (f"R0-{n:02d}", who, domain, scrub(text), scrub(why), status, own or joined or "",
         scrub(decided))
        for n, who, domain, text, why, status, own, joined, decided in rows
    ]  # fmt: skip
    return pd.DataFrame.from_records(records, columns=PROPOSAL_COLUMNS)


def comments_frame(
    *,
    study: Study,
    rounds: Iterable[int] | None = None,
    scrub: Scrubber | None = None,
) -> pd.DataFrame:
    """The comments that count (submitted ratings, not hidden by a coordinator), pseudonymous
    and scrubbed of names and e-mail addresses, with the rating given: what the panel's
    feedback and every export show.

    Columns: round, panelist (pseudonym), item (code), criterion (code), comment, value."""
    scrub = scrub or panel_scrubber(study)
    qs = Rating.objects.counted_in(study).filter(round_item__round__study=study)
    qs = qs.exclude(comment="")
    qs = qs.filter(hidden__isnull=True)  # moderated away (rounds.privacy)
    if rounds is not None:
        qs = qs.filter(round_item__round__number__in=list(rounds))
    rows = qs.values_list(
        "round_item__round__number",
        "panelist__pseudonym",
        "round_item__item__code",
        "criterion__code",
        "comment",
        "value",
    )
    frame = pd.DataFrame.from_records(list(rows), columns=[*COMMENT_COLUMNS, "value"])
    frame["comment"] = [scrub(text).strip() for text in frame["comment"]]
    frame = frame[frame["comment"] != ""]
    return frame.sort_values(["round", "item", "criterion", "panelist"], ignore_index=True)
