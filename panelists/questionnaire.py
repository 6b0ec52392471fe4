"""What one panelist sees in one round: steps of items, saved answers and feedback.

Built in a fixed number of queries whatever the number of items.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.cache import cache

from rounds import realtime, selectors
from rounds.models import (
    Criterion,
    Panelist,
    Participation,
    Rating,
    Result,
    Round,
    RoundItem,
    Study,
    translated,
)


@dataclass
class GroupFeedback:
    group: str
    n: int
    counts: list[int]


@dataclass
class Feedback:
    result: Result
    own_previous: int | None
    comments: list[str]
    groups: list[GroupFeedback]
    groups_hidden: bool


@dataclass
class Cell:
    """One criterion of one item: the panelist's answer and the previous round's feedback."""

    criterion: Criterion
    value: int | None = None
    answered: bool = False
    comment: str = ""
    feedback: Feedback | None = None
    updated_at: datetime | None = None
    # Real-time mode: the panel's answers now (after the panelist's own first rating), or
    # waiting for the smallest group size to be reached.
    live: Feedback | None = None
    live_waiting: bool = False


@dataclass
class Entry:
    round_item: RoundItem
    cells: list[Cell]
    previous_text: str = ""


@dataclass
class Step:
    name: str
    domain: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(cell.answered for entry in self.entries for cell in entry.cells)

    @property
    def newest(self) -> datetime | None:
        """When this step's stored answers last changed (None: nothing stored yet)."""
        times = [c.updated_at for e in self.entries for c in e.cells if c.updated_at]
        return max(times) if times else None


@dataclass
class Questionnaire:
    round: Round
    panelist: Panelist
    participation: Participation
    criteria: list[Criterion]
    steps: list[Step]
    with_feedback: bool = True
    with_answers: bool = True
    live_version: str = ""  # real-time mode: the digest of the live statistics shown

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    @property
    def first_incomplete(self) -> Step:
        return next((s for s in self.steps if not s.complete), self.steps[-1])

    @property
    def answered(self) -> int:
        return sum(c.answered for s in self.steps for e in s.entries for c in e.cells)

    @property
    def total(self) -> int:
        return sum(len(e.cells) for s in self.steps for e in s.entries)


def build(
    panelist: Panelist,
    round: Round,
    participation: Participation,
    *,
    feedback: bool = True,
    answers: bool = True,
) -> Questionnaire:
    """The panelist's questionnaire; without `feedback` the previous round is not read,
    without `answers` the stored answers are not (saving a step needs neither: two queries
    then, whatever the number of items)."""
    study = round.study
    language = panelist.language
    criteria = list(Criterion.objects.filter(study=study).order_by("position", "code"))
    round_items = list(
        RoundItem.objects.filter(round=round).select_related("item").order_by("position", "pk")
    )
    # Share the loaded study: texts fall back through it, and must not query per item.
    for criterion in criteria:
        criterion.study = study
    for ri in round_items:
        ri.round = round
        ri.item.study = study
    stored = Rating.objects.filter(panelist=panelist, round_item__round=round) if answers else []
    saved = {(r.round_item_id, r.criterion_id): r for r in stored}
    realtime_mode = study.protocol.realtime  # one open period: no previous round to read
    by_cell, previous_texts = (
        _feedback(panelist, round) if feedback and not realtime_mode else ({}, {})
    )
    newest = max((r.updated_at for r in saved.values()), default=None)
    live = _live(panelist, round, criteria, newest) if feedback and realtime_mode else None
    steps: dict[str, Step] = {}
    for ri in round_items:
        key = _step_key(ri, study)
        step = steps.get(key)
        if step is None:
            step = steps[key] = Step(name=f"d{ri.pk}", domain=ri.item.domain_label(language))
        cells = []
        for criterion in criteria:
            rating = saved.get((ri.pk, criterion.pk))
            cells.append(
                Cell(
                    criterion=criterion,
                    value=rating.value if rating else None,
                    answered=rating is not None,
                    comment=rating.comment if rating else "",
                    updated_at=rating.updated_at if rating else None,
                    feedback=by_cell.get((ri.item_id, criterion.pk)),
                )
            )
        previous_text = previous_texts.get(ri.item_id, {})
        changed = previous_text and previous_text != ri.text
        entry = Entry(
            round_item=ri,
            cells=cells,
            previous_text=_text(previous_text, language, study.fallbacks) if changed else "",
        )
        step.entries.append(entry)
        if live is not None:
            for cell in cells:
                _set_live(cell, live.get((ri.pk, cell.criterion.pk)), panelist, study)
    ordered = list(steps.values())
    if study.protocol.randomise_items:
        shuffle = random.Random(f"{round.pk}:{panelist.pk}")
        for step in ordered:
            shuffle.shuffle(step.entries)
    return Questionnaire(round, panelist, participation, criteria, ordered, feedback, answers,
                         live.version if live else "")  # fmt: skip


def live_digest(q: Questionnaire, step: Step) -> str:
    """What the live feedback of `step` shows, as a digest: the page sends back the one it
    has, and a fetch whose digest has not changed renders nothing."""
    own = [(e.round_item.pk, c.criterion.pk, c.answered, c.value, c.comment)
           for e in step.entries for c in e.cells]  # fmt: skip
    return _digest(q.live_version, q.panelist.language, own)


def _digest(version: str, language: str, own: list[tuple[int, int, bool, Any, str]]) -> str:
    # Sorted: the order of the items on the page (shuffled per panelist) does not count.
    text = repr((version, language, sorted(own)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _step_key(ri: RoundItem, study: Study) -> str:
    """The step a round item is on: its domain (the items of one domain form one step)."""
    return ri.item.domain_label(study.report_language) or "-"


# ------------------------------------------------------------------ the live feedback fetch
# A page in real-time mode asks every few seconds for the feedback of its step. The fetch
# builds no questionnaire: the step's round items and the study's criteria come from the
# cache (they cannot change once the round has opened), the panelist's own answers from one
# query of plain values, the statistics from their cache; model instances are made only for
# the fragments not yet rendered.


@dataclass(frozen=True)
class LiveFragment:
    """One cell of the step, as the fetch needs it: its name ("<round item>-<criterion>"),
    and what its fragment depends on besides the statistics and the language."""

    name: str
    round_item_id: int
    criterion_id: int
    state: str  # "live": the panel's answers; "wait": below the smallest group; "False"
    author: int  # the panelist's id if the fragment leaves out their own comment, else 0
    value: int | None
    comment: str


@dataclass(frozen=True)
class LiveStep:
    """The live feedback of one step for one panelist: the statistics' version, the digest
    the page sends back, and the step's cells."""

    version: str
    digest: str
    cells: list[LiveFragment]
    cached: dict[str, Any]  # the live statistics it was computed from (realtime.live_cached)


LAYOUT_SECONDS = 600


def _layout(round: Round, study: Study) -> dict[str, Any]:
    """The round's steps (name -> round item ids) and the study's criterion ids, cached: a
    round's items and criteria cannot change once it has opened."""
    opened = round.opened_at.timestamp() if round.opened_at else 0
    key = f"delphi:livelayout:{round.pk}:{opened}"
    data = cache.get(key)
    if data is None:
        steps: dict[str, list[int]] = {}
        round_items = RoundItem.objects.filter(round=round).select_related("item")
        for ri in round_items.order_by("position", "pk"):
            ri.item.study = study
            steps.setdefault(_step_key(ri, study), []).append(ri.pk)
        criteria = Criterion.objects.filter(study=study).order_by("position", "code")
        data = {
            "steps": {f"d{ids[0]}": ids for ids in steps.values()},
            "criteria": list(criteria.values_list("pk", flat=True)),
        }
        cache.set(key, data, LAYOUT_SECONDS)
    return data


def live_step(panelist: Panelist, round: Round, name: str) -> LiveStep | None:
    """What the feedback fetch of step `name` needs, in one query when the caches are warm
    (the panelist's own answers). None: no such step in this round."""
    study = panelist.study
    layout = _layout(round, study)
    round_items = layout["steps"].get(name)
    if round_items is None:
        return None
    own = {
        (ri, crit): (value, comment, updated)
        for ri, crit, value, comment, updated in Rating.objects.filter(
            panelist=panelist, round_item__round=round
        )
        .order_by()
        .values_list("round_item_id", "criterion_id", "value", "comment", "updated_at")
    }
    newest = max((updated for _v, _c, updated in own.values()), default=None)
    if panelist.pk is None or panelist.pk < 0:  # a coordinator's preview: nobody rated yet
        cached: dict[str, Any] = {"version": "", "cells": {}}
    else:
        cached = realtime.live_cached(round, fresh_after=newest)
    least = study.protocol.min_group_size
    cells, answers = [], []
    for ri in round_items:
        for crit in layout["criteria"]:
            mine = own.get((ri, crit))
            value, comment = (mine[0], mine[1]) if mine else (None, "")
            answers.append((ri, crit, mine is not None, value, comment))
            found = cached["cells"].get((ri, crit))
            if mine is None:
                state = "False"
            elif found is None or found[0]["n"] < least:
                state = "wait"
            else:
                state = "live"
            author = panelist.pk if state == "live" and comment else 0
            cells.append(LiveFragment(f"{ri}-{crit}", ri, crit, state, author, value, comment))
    version = str(cached["version"])
    return LiveStep(version, _digest(version, panelist.language, answers), cells, cached)


def live_entries(
    panelist: Panelist, round: Round, step: LiveStep, names: set[str]
) -> dict[str, tuple[Entry, Cell]]:
    """The entry and cell of each named fragment of `step`, to render it (the fragments not
    found in the cache): as `build` makes them, from the same statistics."""
    study = panelist.study
    criteria = {c.pk: c for c in Criterion.objects.filter(study=study)}
    for criterion in criteria.values():
        criterion.study = study
    live = realtime.live_from(round, step.cached, criteria.values())
    out = {}
    for f in step.cells:
        if f.name not in names:
            continue
        cell = Cell(criterion=criteria[f.criterion_id], value=f.value,
                    answered=f.state != "False", comment=f.comment)  # fmt: skip
        _set_live(cell, live.get((f.round_item_id, f.criterion_id)), panelist, study)
        # The fragment reads only the round item's id.
        entry = Entry(round_item=RoundItem(pk=f.round_item_id, round=round), cells=[cell])
        out[f.name] = (entry, cell)
    return out


def _live(
    panelist: Panelist, round: Round, criteria: list[Criterion], newest: datetime | None
) -> realtime.Live:
    """The panel's answers now, with the panelist's own last save (`newest`) in them."""
    if panelist.pk is None or panelist.pk < 0:  # a coordinator's preview: nobody rated yet
        return realtime.Live("", {})
    return realtime.live_statistics(round, criteria, fresh_after=newest)


def _set_live(
    cell: Cell, found: realtime.LiveCell | None, panelist: Panelist, study: Study
) -> None:
    """The panel's answers now, shown once the panelist has rated the cell and at least the
    smallest group size has (the same threshold that keeps groups anonymous)."""
    if not cell.answered:
        return
    protocol = study.protocol
    if found is None or found.n < protocol.min_group_size:
        cell.live_waiting = True
        return
    comments = found.comments_of_others(panelist.pk) if protocol.show_comments else []
    # No own rating in it: the panelist's choice is the checked point right below, and a
    # fragment without it is the same for every panelist, so it is rendered once (views).
    cell.live = Feedback(
        result=found.result, own_previous=None, comments=comments, groups=[],
        groups_hidden=False,
    )  # fmt: skip


def _text(texts: dict[str, str], language: str, fallbacks: list[str]) -> str:
    return translated(texts, language, fallbacks)


def _feedback(
    panelist: Panelist, round: Round
) -> tuple[dict[tuple[int, int], Feedback], dict[int, dict[str, str]]]:
    """Feedback from the previous round, keyed by (item id, criterion id)."""
    previous = Round.objects.filter(
        study_id=round.study_id, number=round.number - 1, state=Round.State.ANALYSED
    ).first()
    if previous is None:
        return {}, {}
    protocol = round.study.protocol
    results = {
        (r.round_item.item_id, r.criterion_id): r
        for r in Result.objects.filter(round=previous).select_related(
            "round_item__item", "criterion"
        )
    }
    texts = dict(RoundItem.objects.filter(round=previous).values_list("item_id", "text"))
    rows = (
        Rating.objects.counted()
        .filter(round_item__round=previous)
        .values_list("round_item__item_id", "criterion_id", "panelist_id", "panelist__group",
                     "value")
    )  # fmt: skip
    own: dict[tuple[int, int], int | None] = {}
    groups: dict[tuple[int, int], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for item_id, criterion_id, panelist_id, group, value in rows:
        key = (item_id, criterion_id)
        if panelist_id == panelist.pk:
            own[key] = value
        if value is not None:
            groups[key][group or ""].append(value)
    comments = _comments(round.study, previous, results) if protocol.show_comments else {}
    feedback = {}
    for key, result in results.items():
        group_feedback, hidden = _groups(groups.get(key, {}), result, protocol.min_group_size)
        feedback[key] = Feedback(
            result=result,
            own_previous=own.get(key) if protocol.show_own_rating else None,
            comments=sorted(comments.get(key, [])),
            groups=group_feedback if protocol.show_groups else [],
            groups_hidden=hidden and protocol.show_groups,
        )
    return feedback, texts


def _comments(
    study: Study, previous: Round, results: dict[tuple[int, int], Result]
) -> dict[tuple[int, int], list[str]]:
    """The previous round's comments by (item id, criterion id), scrubbed as in the exports."""
    keys = {(r.round_item.item.code, r.criterion.code): key for key, r in results.items()}
    frame = selectors.comments_frame(study=study, rounds=[previous.number])
    comments: dict[tuple[int, int], list[str]] = defaultdict(list)
    columns = (frame["item"], frame["criterion"], frame["comment"])
    for item, criterion, text in zip(*columns, strict=True):
        key = keys.get((item, criterion))
        if key is not None:
            comments[key].append(text)
    return comments


def _groups(
    values: dict[str, list[int]], result: Result, min_size: int
) -> tuple[list[GroupFeedback], bool]:
    """Per-group distributions, all or none: showing some groups and the total would reveal
    a small group by subtraction."""
    if len(values) < 2:
        return [], False
    if any(len(v) < min_size for v in values.values()):
        return [], True
    width = len(result.counts)
    low = result.criterion.scale_min
    out = []
    for group, vals in sorted(values.items()):
        counts = [0] * width
        for v in vals:
            if 0 <= v - low < width:
                counts[v - low] += 1
        out.append(GroupFeedback(group=group, n=len(vals), counts=counts))
    return out, False


def as_initial(step: Step) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for entry in step.entries:
        for cell in entry.cells:
            name = f"r-{entry.round_item.pk}-{cell.criterion.pk}"
            if cell.answered:
                initial[name] = "dk" if cell.value is None else str(cell.value)
            initial[f"c-{entry.round_item.pk}-{cell.criterion.pk}"] = cell.comment
    return initial


@dataclass
class Changes:
    """What changed since the last round, for the panel (from round 2)."""

    previous: int
    introduction: str
    accepted: list[str]
    rejected: list[str]
    dropped: list[str]
    reworded: list[str]
    to_rate: int


def changes(round: Round, language: str) -> Changes | None:
    """Items decided or dropped after the last round, and items reworded since, by label."""
    if round.number < 2:
        return None
    previous = Round.objects.filter(
        study_id=round.study_id, number=round.number - 1, state=Round.State.ANALYSED
    ).first()
    if previous is None:
        return None
    study = round.study
    now = {ri.item_id: ri for ri in RoundItem.objects.filter(round=round).select_related("item")}
    before = list(
        RoundItem.objects.filter(round=previous)
        .select_related("item", "decision")
        .order_by("position", "pk")
    )
    out = Changes(round.number - 1, _text(round.introduction or {}, language, study.fallbacks),
                  [], [], [], [], len(now))  # fmt: skip
    for ri in before:
        label = f"{ri.item.code} {_text(ri.text, language, study.fallbacks)}"
        decision = getattr(ri, "decision", None)
        verdict = decision.decision if decision else ""
        if verdict == "accepted":
            out.accepted.append(label)
        elif verdict == "rejected":
            out.rejected.append(label)
        elif ri.item_id not in now:
            out.dropped.append(label)
        elif now[ri.item_id].text != ri.text:
            out.reworded.append(
                f"{ri.item.code} {_text(now[ri.item_id].text, language, study.fallbacks)}"
            )
    return out
