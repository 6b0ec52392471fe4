"""A finished two-round study for the report tests: drop-outs, comments, recommendations.

Built on `tests.factories` and the real round services. Panelists have names and e-mail
addresses, and some comments quote them, so that the privacy tests have something to find.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from reports import services
from reports.models import Recommendation
from rounds import services as round_services
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
from tests.factories import default_ratings, make_study, run_round

NAMES = [
    "Anne Dupont",
    "Bart Peeters",
    "Chloé Lambert",
    "Dirk Janssens",
    "Emma Willems",
    "Farid Benali",
    "Greet Maes",
    "Hugo Claes",
    "Ines Dubois",
    "Jan Wouters",
    "Karin Mertens",
    "Luc Jacobs",
]
JUSTIFICATION = "Kept from the literature review, which supports it strongly."
COMMENTS = [
    "Only if it stays confidential; ask Anne Dupont, she knows (anne.dupont@example.org).",
    "Too vague as worded. Mail me at bart.peeters@practice.example.be",
    "Useful, but who pays for it?",
]


def finished_study(
    *,
    n_items: int = 4,
    n_panelists: int = 10,
    dropouts: int = 2,
    languages: Sequence[str] = ("fr", "nl", "en"),
    simulated: bool = False,
    n_recommendations: int = 2,
) -> Study:
    """Round 1 with every panelist; round 2 (the items without a decision) without the last
    ``dropouts`` panelists, after which the study finishes (at most two rounds); comments on
    every third rating; recommendation i rests on items i and i + 1."""
    study = make_study(
        n_items=n_items, n_panelists=n_panelists, languages=languages, simulated=simulated
    )
    Protocol.objects.filter(study=study).update(max_rounds=2)
    for panelist, name in zip(study.panelists.order_by("pseudonym"), NAMES, strict=False):
        Panelist.objects.filter(pk=panelist.pk).update(name=name)
    run_round(study, default_ratings(seed=3))
    _comment(study, round_number=1)
    study.refresh_from_db()
    second = study.rounds.filter(number=2).first()
    if second is not None:
        panel = list(study.panelists.order_by("pseudonym"))[: n_panelists - dropouts]
        _run_round_with(second, panel)
        _comment(study, round_number=2)
    for i in range(n_recommendations):
        items = list(Item.objects.filter(study=study).order_by("position")[i : i + 2])
        services.recommendation_create(
            study=study,
            title=f"Recommendation number {i + 1} on {items[0].code}",
            text=f"Act on **{items[0].code}**.\n\nA second paragraph <script>x</script>.",
            actors=["individual", "health_system"],
            implementation_notes="Pilot for a year, then evaluate.",
            items=items,
            justification=JUSTIFICATION,
        )
    return Study.objects.select_related("protocol").get(pk=study.pk)


def _run_round_with(round: Round, panel: list[Panelist]) -> None:
    round_services.round_open(round=round, notify=False)
    rate = default_ratings(seed=round.number + 10)
    criteria = list(Criterion.objects.filter(study=round.study))
    round_items = list(RoundItem.objects.filter(round=round).select_related("item"))
    ratings = [
        Rating(round_item=ri, criterion=c, panelist=p, value=rate(p, ri, c))
        for ri in round_items
        for c in criteria
        for p in panel
    ]
    with transaction.atomic():
        Rating.objects.bulk_create(ratings)
        Participation.objects.filter(round=round, panelist__in=panel).update(
            status=Participation.Status.SUBMITTED, submitted_at=timezone.now()
        )
    round_services.round_close(round=round)
    round_services.round_analyse(round_id=round.pk)


def _comment(study: Study, *, round_number: int) -> None:
    """A comment on every third rating of the round, cycling through COMMENTS."""
    ratings = Rating.objects.filter(
        round_item__round__study=study, round_item__round__number=round_number
    ).order_by("id")
    for i, rating in enumerate(ratings[::3]):
        Rating.objects.filter(pk=rating.pk).update(comment=COMMENTS[i % len(COMMENTS)])


def zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def recommendations(study: Study) -> list[Recommendation]:
    return list(Recommendation.objects.filter(study=study).order_by("position"))
