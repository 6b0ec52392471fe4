"""Small studies built through the ORM and the real round services, for tests.

`make_study` creates a study with two 1-9 criteria (acceptability, priority), items and a
panel; `run_round` puts the next round to the panel, writes submitted ratings, closes it and runs
its analysis job in-process (as a worker would), and returns the analysed round.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

from django.db import transaction
from django.utils import timezone

from rounds import services
from rounds.models import (
    Criterion,
    Item,
    Panelist,
    Participation,
    Protocol,
    Rating,
    Round,
    RoundItem,
    Study,
)

RatingsFn = Callable[[Panelist, RoundItem, Criterion], int | None]
"""A panelist's rating of a round item on a criterion; None means "don't know"."""

_serial = itertools.count(1)

CRITERIA = {
    "acceptability": {"en": "Acceptability", "fr": "Acceptabilité", "nl": "Aanvaardbaarheid"},
    "priority": {"en": "Priority", "fr": "Priorité", "nl": "Prioriteit"},
}


def make_study(
    *,
    n_items: int = 4,
    n_panelists: int = 8,
    languages: Sequence[str] = ("fr", "nl", "en"),
    simulated: bool = False,
    seed: int = 0,
) -> Study:
    """A draft study: protocol with defaults, two criteria, items I01.., panelists P001.."""
    serial = next(_serial)
    languages = list(languages)
    with transaction.atomic():
        study = Study.objects.create(
            slug=f"test-study-{seed}-{serial}",
            title={code: f"Test study {serial} ({code})" for code in languages},
            languages=languages,
            report_language="en" if "en" in languages else languages[0],
            is_simulated=simulated,
        )
        Protocol.objects.create(study=study)
        for position, (code, name) in enumerate(CRITERIA.items()):
            Criterion.objects.create(study=study, code=code, name=name, position=position)
        Item.objects.bulk_create(
            Item(
                study=study,
                code=f"I{i + 1:02d}",
                position=i,
                domain={code: f"Domain {i % 2 + 1} ({code})" for code in languages},
                text={code: f"Action item {i + 1} ({code})" for code in languages},
            )
            for i in range(n_items)
        )
        Panelist.objects.bulk_create(
            Panelist(
                study=study,
                pseudonym=f"P{i + 1:03d}",
                email=f"p{i + 1:03d}@{study.slug}.test.invalid",
                language=languages[i % len(languages)],
                group="solo practice" if i % 2 else "group practice",
            )
            for i in range(n_panelists)
        )
    study.refresh_from_db()
    return study


def run_round(study: Study, ratings_fn: RatingsFn | None = None, *, seed: int = 0) -> Round:
    """Open the study's next round, have every panelist submit, close and analyse it."""
    round = _next_round(study)
    services.round_open(round=round, notify=False)
    rate = ratings_fn or default_ratings(seed=seed + round.number)
    panel = list(study.panelists.order_by("pseudonym"))
    criteria = list(study.criteria.all())
    round_items = list(round.round_items.select_related("item").order_by("position"))
    ratings = [
        Rating(round_item=ri, criterion=c, panelist=p, value=rate(p, ri, c))
        for ri in round_items
        for c in criteria
        for p in panel
    ]
    now = timezone.now()
    with transaction.atomic():
        Rating.objects.bulk_create(ratings)
        Participation.objects.filter(round=round).update(
            status=Participation.Status.SUBMITTED, opened_at=now, submitted_at=now
        )
    services.round_close(round=round)
    services.analysis_run(job_id=round.analysis_jobs.get().pk)
    round.refresh_from_db()
    study.refresh_from_db()
    return round


def default_ratings(*, seed: int = 0) -> RatingsFn:
    """Items by position: 0 liked (7-9), 1 disliked (1-3), 2 split (1-9), 3 lukewarm (4-7)."""
    rng = random.Random(seed)
    ranges = [(7, 9), (1, 3), (1, 9), (4, 7)]

    def rate(panelist: Panelist, round_item: RoundItem, criterion: Criterion) -> int | None:
        low, high = ranges[round_item.position % len(ranges)]
        return rng.randint(low, high)

    return rate


def _next_round(study: Study) -> Round:
    latest = study.rounds.order_by("-number").first()
    if latest is not None and latest.state == Round.State.DRAFT:
        return latest  # the analysis of the previous round already prepared it
    return services.round_create(study=study)
