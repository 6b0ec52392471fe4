"""Real-time mode: one open period instead of rounds (Gordon & Pease 2006; eDelphi, Surveylet).

A panelist who has rated an item sees the panel's current distribution and the others'
comments (once at least the protocol's smallest group size has rated it) and may revise
until the deadline. Every change is kept with its time (`RatingChange`), so the answers at
any moment can be rebuilt: the snapshots (daily while the period is open, and at its close)
are computed from that history by a durable job, and stability (METHODS §4) is computed
between consecutive snapshots, as it is between rounds.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from rounds import consensus, jobs, selectors
from rounds.models import (
    Criterion,
    Panelist,
    Rating,
    RatingChange,
    Result,
    Round,
    RoundItem,
    Snapshot,
)

logger = logging.getLogger(__name__)

# The live statistics of a round are computed at most this often per cache (each web
# process, or the shared cache): 200 panelists polling every few seconds then cost one
# query and one engine call per round every two seconds, not one each.
LIVE_SECONDS = 2
POLL_SECONDS = 5


# ------------------------------------------------------------------ the rating history


def history_before(
    panelist: Panelist, cells: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], int | None]:
    """The stored values of these (round item, criterion) cells, before a save."""
    cells = list(cells)
    items = {ri for ri, _c in cells}
    rows = Rating.objects.filter(panelist=panelist, round_item_id__in=items).values_list(
        "round_item_id", "criterion_id", "value"
    )
    return {(ri, c): v for ri, c, v in rows}


def history_record(
    *,
    panelist: Panelist,
    before: dict[tuple[int, int], int | None],
    given: Iterable[tuple[int, int, int | None]],
    now: datetime,
) -> int:
    """Append a history row for each answer that is new or changed its value."""
    rows = [
        RatingChange(round_item_id=ri, criterion_id=c, panelist=panelist, value=v, at=now)
        for ri, c, v in given
        if (ri, c) not in before or before[(ri, c)] != v
    ]
    RatingChange.objects.bulk_create(rows)
    return len(rows)


# ------------------------------------------------------------------ live statistics


@dataclass(frozen=True)
class LiveCell:
    """The panel's current answers to one (round item, criterion)."""

    result: Result  # unsaved: what the feedback templates read
    comments: list[tuple[int, str]]  # (panelist id, scrubbed text), hidden ones left out

    @property
    def n(self) -> int:
        return self.result.n

    def comments_of_others(self, panelist_id: int) -> list[str]:
        return sorted(text for pid, text in self.comments if pid != panelist_id)


@dataclass(frozen=True)
class Live:
    """The live statistics of a round by (round item id, criterion id), and their digest
    (`version`): the same digest, the same numbers."""

    version: str
    cells: dict[tuple[int, int], LiveCell]

    def get(self, key: tuple[int, int]) -> LiveCell | None:
        return self.cells.get(key)


def live_statistics(
    round: Round,
    criteria: Iterable[Criterion] | None = None,
    *,
    fresh_after: datetime | None = None,
) -> Live:
    """METHODS §2–3 of every (round item, criterion) of an open real-time round, over the
    answers saved so far; cached for `LIVE_SECONDS`. `criteria`: the study's, if loaded.
    `fresh_after`: the statistics must include what was saved then (a panelist's own last
    save, which their next page shows at once)."""
    return live_from(round, live_cached(round, fresh_after=fresh_after), criteria)


def live_cached(round: Round, *, fresh_after: datetime | None = None) -> dict[str, Any]:
    """The live statistics as cached, plain data: `version` and `cells`, (round item id,
    criterion id) -> (the Result's fields, [(panelist id, comment)]). What a feedback
    fetch reads when its fragments are already rendered: no query, no model."""
    return _cached(round, fresh_after.timestamp() if fresh_after else 0.0)


def live_from(
    round: Round, cached: dict[str, Any], criteria: Iterable[Criterion] | None = None
) -> Live:
    """The `Live` statistics of what `live_cached` returned."""
    if criteria is None:
        criteria = Criterion.objects.filter(study_id=round.study_id)
    by_pk = {c.pk: c for c in criteria}
    out = {}
    for (ri, crit), (record, comments) in cached["cells"].items():
        criterion = by_pk.get(crit)
        if criterion is None:
            continue
        result = Result(round=round, round_item_id=ri, criterion=criterion, **record)
        out[(ri, crit)] = LiveCell(result, comments)
    return Live(str(cached["version"]), out)


def _cached(round: Round, fresh_after: float = 0.0) -> dict[str, Any]:
    """The cached statistics, computed again once they are `LIVE_SECONDS` old by one request
    (the one that takes the lock): the others meanwhile read the previous ones, so a crowd
    of panelists polling at that moment does not compute them all at once. Computed again
    at once when older than `fresh_after` (a timestamp)."""
    key = _live_key(round)
    data = cache.get(key)
    stale = data is None or data["computed"] < fresh_after
    if not stale and data["computed"] + LIVE_SECONDS > time.time():
        return dict(data)
    if stale or cache.add(f"{key}:lock", 1, LIVE_SECONDS):
        started = time.time()
        cells = _live_data(round)
        version = hashlib.sha256(repr(sorted(cells.items())).encode()).hexdigest()[:16]
        data = {"cells": cells, "version": version, "computed": started}
        cache.set(key, data, LIVE_SECONDS * 30)
    return dict(data)


def live_forget(round: Round) -> None:
    """Drop the cached statistics (a test, or a page that must show a save at once)."""
    cache.delete_many([_live_key(round), f"{_live_key(round)}:lock"])


def _live_key(round: Round) -> str:
    opened = round.opened_at.timestamp() if round.opened_at else 0
    return f"delphi:live:{round.pk}:{opened}"


_RESULT_FIELDS = ("n", "n_missing", "mean", "sd", "median", "q1", "q3", "iqr", "pct_low",
                  "pct_mid", "pct_high", "rule", "consensus", "rand_class")  # fmt: skip


def _live_data(round: Round) -> dict[tuple[int, int], tuple[dict[str, Any], list[Any]]]:
    study = round.study
    rows = list(
        Rating.objects.filter(round_item__round=round).values_list(
            "round_item_id", "criterion__code", "criterion_id", "panelist_id", "value",
            "comment", "hidden__id",
        )
    )  # fmt: skip
    if not rows:
        return {}
    codes = {code: crit for _ri, code, crit, *_rest in rows}
    frame = pd.DataFrame(
        {
            "round": round.number,
            "item": [str(r[0]) for r in rows],
            "criterion": [r[1] for r in rows],
            "value": pd.array([r[4] for r in rows], dtype="Int64").astype("float64"),
        }
    )
    described = consensus.describe(frame, selectors.criterion_settings(study))
    scrub = selectors.panel_scrubber(study)
    comments: dict[tuple[int, int], list[Any]] = {}
    for ri, _code, crit, pid, _value, text, hidden in rows:
        if text and hidden is None:
            cleaned = scrub(text).strip()
            if cleaned:
                comments.setdefault((ri, crit), []).append((pid, cleaned))
    data = {}
    for record in described.to_dict("records"):
        key = (int(record["item"]), codes[record["criterion"]])
        stats = {name: _plain(record[name]) for name in _RESULT_FIELDS}
        stats["counts"] = [int(c) for c in record["counts"]]
        stats["rand_class"] = stats["rand_class"] or ""
        data[key] = (stats, comments.get(key, []))
    return data


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class LiveRow:
    """One line of the coordinator's live statistics."""

    code: str
    label: str
    criterion: str
    result: Result | None  # None: nobody has rated it yet


def live_table(round: Round) -> list[LiveRow]:
    """The coordinator's view of the panel's answers now: every (item, criterion) of the
    round, whatever its n (the smallest group size guards what panelists see)."""
    stats = live_statistics(round)
    study = round.study
    criteria = list(Criterion.objects.filter(study=study).order_by("position", "code"))
    round_items = RoundItem.objects.filter(round=round).select_related("item")
    rows = []
    for ri in round_items.order_by("position", "pk"):
        ri.round = round
        for criterion in criteria:
            criterion.study = study
            found = stats.get((ri.pk, criterion.pk))
            rows.append(
                LiveRow(ri.item.code, ri.label(), criterion.text(), found.result if found else None)
            )
    return rows


# ------------------------------------------------------------------ snapshots


def ratings_at(round: Round, at: datetime) -> pd.DataFrame:
    """The answers of a real-time round as they stood at `at`, rebuilt from the history:
    columns panelist, item (code), criterion (code), value."""
    rows = list(
        RatingChange.objects.filter(round_item__round=round, at__lte=at)
        .order_by("at", "id")
        .values_list("panelist_id", "round_item__item__code", "criterion__code", "value")
    )
    frame = pd.DataFrame.from_records(rows, columns=["panelist", "item", "criterion", "value"])
    frame = frame.drop_duplicates(["panelist", "item", "criterion"], keep="last")
    frame["panelist"] = frame["panelist"].astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame.reset_index(drop=True)


SNAPSHOT = "snapshot"


def snapshot_policy() -> jobs.Policy:
    return jobs.policy(SNAPSHOT, lease=120, max_attempts=3)


def snapshot_request(*, round: Round, at: datetime, kind: str) -> Snapshot:
    """Queue the snapshot of `round` as at `at` (one per moment: asking twice returns the
    first), published to the workers on commit."""
    from rounds import tasks

    with transaction.atomic():
        snapshot, created = Snapshot.objects.get_or_create(
            round=round, at=at, defaults={"kind": kind}
        )
        if created:
            pk = snapshot.pk
            jobs.publish_on_commit(lambda: tasks.run_snapshot.delay(pk), model=Snapshot, pks=[pk])
    return snapshot


def snapshot_run(*, snapshot_id: int) -> Snapshot | None:
    """What a worker does with a snapshot job: claim it, compute it, record it."""
    if not jobs.claim(Snapshot, pk=snapshot_id, policy=snapshot_policy()):
        return Snapshot.objects.filter(pk=snapshot_id).first()
    snapshot = Snapshot.objects.select_related("round__study__protocol").get(pk=snapshot_id)
    try:
        results, stability = snapshot_compute(snapshot)
        jobs.finish(
            Snapshot, pk=snapshot.pk, results=results, stability=stability,
            computed_at=timezone.now(),
        )  # fmt: skip
    except Exception as exc:
        logger.exception("snapshot %s failed", snapshot)
        jobs.fail(Snapshot, pk=snapshot.pk, reason=f"{type(exc).__name__}: {exc}")
    return Snapshot.objects.filter(pk=snapshot_id).first()


def snapshot_compute(snapshot: Snapshot) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """§2–3 of the answers as at the snapshot, and §4 against the snapshot before it (the
    engine compares them as it compares two rounds: 1 = before, 2 = this one)."""
    round = snapshot.round
    study = round.study
    settings = selectors.criterion_settings(study)
    now = ratings_at(round, snapshot.at).assign(round=2)
    previous = Snapshot.objects.filter(round=round, at__lt=snapshot.at).order_by("-at").first()
    results = consensus.describe(now, settings) if len(now) else pd.DataFrame()
    stability: list[dict[str, Any]] = []
    if previous is not None and len(now):
        before = ratings_at(round, previous.at).assign(round=1)
        if len(before):
            both = pd.concat([before, now], ignore_index=True)
            compared = consensus.compare_rounds(
                both, settings, 1, 2, stable_below=study.protocol.stable_below
            )
            stability = [
                {str(k): _plain(v) for k, v in row.items()} | {"since": previous.at.isoformat()}
                for row in compared.to_dict("records")
            ]
    keep = ("item", "criterion", "n", "median", "q1", "q3", "iqr", "pct_low", "pct_high",
            "consensus")  # fmt: skip
    return [{k: _plain(row[k]) for k in keep} for row in results.to_dict("records")], stability


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def snapshots_tick(*, now: datetime | None = None) -> int:
    """The tick's part: queue today's snapshot (as at midnight UTC) of every open real-time
    round opened before it, and publish again the snapshots that wait or whose worker died."""
    from rounds import tasks

    now = now or timezone.now()
    midnight = day_start(now)
    for round in Round.objects.filter(
        state=Round.State.OPEN, study__protocol__realtime=True, opened_at__lt=midnight
    ):
        if not Snapshot.objects.filter(round=round, at=midnight).exists():
            snapshot_request(round=round, at=midnight, kind=Snapshot.Kind.DAILY)
    swept = jobs.sweep(
        Snapshot, policy=snapshot_policy(), send=lambda pk: tasks.run_snapshot.delay(pk), now=now
    )
    return len(swept.published)


def snapshots_of(round: Round) -> list[Snapshot]:
    return list(Snapshot.objects.filter(round=round, status=Snapshot.Status.DONE).order_by("at"))


@dataclass(frozen=True)
class Movement:
    """How one (item, criterion)'s median moved over the snapshots (None: nobody yet)."""

    item: str
    criterion: str
    medians: list[float | None]
    pct_change: float | None  # between the last two snapshots
    stable: bool | None


def movements(snapshots: list[Snapshot]) -> list[Movement]:
    """Median per (item, criterion) per snapshot, with the last snapshot's stability."""
    keys: dict[tuple[str, str], None] = {}
    medians = []
    for snapshot in snapshots:
        by_key = {(r["item"], r["criterion"]): r["median"] for r in snapshot.results}
        keys.update(dict.fromkeys(by_key))
        medians.append(by_key)
    last = {(r["item"], r["criterion"]): r for r in (snapshots[-1].stability if snapshots else [])}
    out = []
    for key in sorted(keys):
        change = last.get(key, {})
        out.append(
            Movement(key[0], key[1], [m.get(key) for m in medians],
                     change.get("pct_change"), change.get("stable"))
        )  # fmt: skip
    return out
