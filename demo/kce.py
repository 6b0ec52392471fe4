"""The demo: a seeded replay of the KCE 165 Delphi design and a live study to click through.

Every rating here is simulated and labelled so wherever it is shown. The rounds run through
the real services; the analyses run in whatever Celery worker serves the broker.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.db import transaction
from django.utils import timezone

from demo.recommendations import add_kce_recommendations
from reports import services as report_services
from reports.models import ReportVersion
from rounds import services
from rounds.errors import DomainError
from rounds.models import Criterion, Item, Panelist, Participation, Protocol, Rating, Round, Study

FIXTURE = Path(__file__).resolve().parent / "data" / "kce165_action_items.csv"
KCE_SLUG = "kce-burnout-gp"
LIVE_SLUG = "demo-live"
VISITOR_EMAIL = "visitor@demo.invalid"

CRITERIA = {
    "acceptability": {
        "name": {"en": "Acceptability", "fr": "Acceptabilité", "nl": "Aanvaardbaarheid"},
        "question": {
            "en": "How acceptable is this action to you as a GP?",
            "fr": (
                "Dans quelle mesure cette action est-elle acceptable pour vous "
                "en tant que généraliste ?"
            ),
            "nl": "In welke mate is deze actie aanvaardbaar voor u als huisarts?",
        },
        "anchors": {
            "en": {"min": "Not acceptable at all", "max": "Fully acceptable"},
            "fr": {"min": "Pas du tout acceptable", "max": "Tout à fait acceptable"},
            "nl": {"min": "Helemaal niet aanvaardbaar", "max": "Volledig aanvaardbaar"},
        },
    },
    "priority": {
        "name": {"en": "Priority", "fr": "Priorité", "nl": "Prioriteit"},
        "question": {
            "en": "How urgently should this action be taken?",
            "fr": "Avec quelle urgence cette action devrait-elle être menée ?",
            "nl": "Hoe dringend moet deze actie worden ondernomen?",
        },
        "anchors": {
            "en": {"min": "Not a priority", "max": "Top priority"},
            "fr": {"min": "Pas prioritaire", "max": "Priorité absolue"},
            "nl": {"min": "Geen prioriteit", "max": "Hoogste prioriteit"},
        },
    },
}

KCE_TITLE = {
    "en": "Burnout among general practitioners: actions to take (simulated replay of KCE 165)",
    "fr": "Burnout des médecins généralistes : pistes d'action (réplique simulée du KCE 165)",
    "nl": "Burn-out bij huisartsen: actiepistes (gesimuleerde herhaling van KCE 165)",
}
LIVE_TITLE = {
    "en": "Demo: rate burnout actions yourself (simulated panel)",
    "fr": "Démo : évaluez vous-même des pistes d'action (panel simulé)",
    "nl": "Demo: beoordeel zelf actiepistes (gesimuleerd panel)",
}
DESCRIPTION = {
    "en": (
        "Which actions against burnout of general practitioners are acceptable, "
        "and how urgent are they?"
    ),
    "fr": (
        "Quelles actions contre le burnout des médecins généralistes sont acceptables, "
        "et avec quelle priorité ?"
    ),
    "nl": "Welke acties tegen burn-out bij huisartsen zijn aanvaardbaar, en hoe dringend zijn ze?",
}


@dataclass(frozen=True)
class DemoResult:
    kce: Study
    live: Study
    visitor: Panelist
    report: ReportVersion


def load_items() -> list[dict[str, str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def build_demo(*, seed: int = 165, wait: Callable[[Round], None] | None = None) -> DemoResult:
    """Replace both demo studies; `wait` blocks until a closed round is analysed."""
    wait = wait or wait_for_analysis
    Study.objects.filter(slug__in=[KCE_SLUG, LIVE_SLUG]).delete()
    rng = np.random.default_rng(seed)
    kce = _create_study(KCE_SLUG, KCE_TITLE, load_items(), max_rounds=2)
    gps = _create_panel(kce, 59, rng)
    profile = _item_profiles(kce, rng)
    round1 = _run_round(kce, gps, profile, rng, previous=None, wait=wait)
    dropouts = set(rng.choice(len(gps), size=6, replace=False).tolist())
    stayers = [p for i, p in enumerate(gps) if i not in dropouts]
    _run_round(kce, stayers, profile, rng, previous=round1, wait=wait)
    kce.refresh_from_db()
    add_kce_recommendations(kce)
    report = wait_for_report(report_services.report_request(study=kce))
    report_services.report_publish(version=report)

    live_items = [row for row in load_items() if row["code"].startswith("P")][:10]
    live = _create_study(LIVE_SLUG, LIVE_TITLE, live_items, max_rounds=3)
    panel = _create_panel(live, 24, rng)
    visitor = panel[0]
    Panelist.objects.filter(pk=visitor.pk).update(
        email=VISITOR_EMAIL, name="Demo visitor", language="en"
    )
    visitor.refresh_from_db()
    live_profile = _item_profiles(live, rng, mix=(0.3, 0.6, 0.1))
    _run_round(live, panel, live_profile, rng, previous=None, wait=wait)
    round2 = live.rounds.filter(number=2).first()
    if round2 is None:
        raise DomainError("The live demo's round 1 decided every item; change the seed.")
    round2.closes_at = timezone.now() + timedelta(days=14)
    round2.save(update_fields=["closes_at"])
    services.round_open(round=round2)
    return DemoResult(kce=kce, live=live, visitor=visitor, report=report)


def wait_for_analysis(round: Round, timeout: float = 180.0) -> None:
    """Poll until the worker has analysed the round (the task runs in another process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        round.refresh_from_db()
        if round.state == Round.State.ANALYSED:
            return
        time.sleep(0.2)
    raise DomainError(
        f"{round} was not analysed within {timeout:.0f} s: is a Celery worker running? "
        "Start one with: celery -A delphi worker --pool=solo"
    )


def wait_for_report(version: ReportVersion, timeout: float = 300.0) -> ReportVersion:
    """Poll until the worker has built the report version."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version.refresh_from_db()
        if version.status == ReportVersion.Status.DONE:
            return version
        if version.status == ReportVersion.Status.FAILED:
            raise DomainError(f"The demo report failed: {version.error}")
        time.sleep(0.3)
    raise DomainError(f"The demo report was not built within {timeout:.0f} s.")


def _create_study(
    slug: str, title: dict[str, str], rows: list[dict[str, str]], *, max_rounds: int
) -> Study:
    with transaction.atomic():
        study = Study.objects.create(
            slug=slug,
            title=title,
            description=DESCRIPTION,
            languages=["fr", "nl", "en"],
            report_language="en",
            time_zone="Europe/Brussels",
            is_simulated=True,
            contact_name="Demo coordinator",
            contact_email="coordinator@demo.invalid",
            minutes_per_round=10 if slug == LIVE_SLUG else 20,
        )
        Protocol.objects.create(
            study=study,
            accept_rule="acceptability = in AND priority.median >= 7",
            max_rounds=max_rounds,
            show_groups=True,
        )
        for position, (code, spec) in enumerate(CRITERIA.items()):
            Criterion.objects.create(study=study, code=code, position=position, **spec)
        Item.objects.bulk_create(
            Item(
                study=study,
                code=row["code"],
                position=position,
                domain={"fr": row["domain_fr"], "nl": row["domain_nl"], "en": row["domain_en"]},
                text={"fr": row["title_fr"], "nl": row["title_nl"], "en": row["title_en"]},
                metadata={
                    "stage": row["stage"],
                    "actors": [
                        actor
                        for actor in ("individual", "practice_training", "health_system")
                        if row[f"actor_{actor}"] == "1"
                    ],
                },
            )
            for position, row in enumerate(rows)
        )
    return study


def _create_panel(study: Study, size: int, rng: np.random.Generator) -> list[Panelist]:
    languages = rng.choice(["fr", "nl", "en"], size=size, p=[0.5, 0.45, 0.05])
    groups = rng.choice(["solo", "group"], size=size, p=[0.55, 0.45])
    return Panelist.objects.bulk_create(
        Panelist(
            study=study,
            pseudonym=f"P{i + 1:03d}",
            email=f"gp{i + 1:03d}@{study.slug}.demo.invalid",
            name=f"Simulated GP {i + 1}",
            language=str(languages[i]),
            group=f"{groups[i]} practice",
        )
        for i in range(size)
    )


def _item_profiles(
    study: Study, rng: np.random.Generator, mix: tuple[float, float, float] = (0.6, 0.3, 0.1)
) -> dict[tuple[str, str], float]:
    """A latent panel mean per item and criterion: most items liked, a few contested or not."""
    profile: dict[tuple[str, str], float] = {}
    for code in study.items.values_list("code", flat=True):
        kind = rng.choice(["consensus", "contested", "rejected"], p=list(mix))
        base = {"consensus": 7.6, "contested": 5.8, "rejected": 2.8}[str(kind)]
        profile[(code, "acceptability")] = base + rng.normal(0, 0.4)
        profile[(code, "priority")] = base - 0.5 + rng.normal(0, 0.7)
    return profile


def _run_round(
    study: Study,
    panel: list[Panelist],
    profile: dict[tuple[str, str], float],
    rng: np.random.Generator,
    *,
    previous: Round | None,
    wait: Callable[[Round], None],
) -> Round:
    round = (
        services.round_create(study=study)
        if previous is None
        else study.rounds.get(number=previous.number + 1)
    )
    services.round_open(round=round, notify=False)
    _write_ratings(round, panel, profile, rng, previous)
    services.round_close(round=round)
    wait(round)
    return round


def _write_ratings(
    round: Round,
    panel: list[Panelist],
    profile: dict[tuple[str, str], float],
    rng: np.random.Generator,
    previous: Round | None,
) -> None:
    """Round 1 draws from each item's profile; later rounds move towards the panel median."""
    criteria = list(round.study.criteria.all())
    medians: dict[tuple[str, str], float | None] = {}
    if previous is not None:
        for res in previous.results.select_related("round_item__item", "criterion"):
            medians[(res.round_item.item.code, res.criterion.code)] = res.median
    bias = {p.pk: rng.normal(0, 0.6) for p in panel}
    ratings = []
    for ri in round.round_items.select_related("item"):
        for criterion in criteria:
            key = (ri.item.code, criterion.code)
            for panelist in panel:
                if rng.random() < 0.03:
                    value = None
                else:
                    mu = profile[key] + bias[panelist.pk]
                    median = medians.get(key)
                    if median is not None:
                        mu = 0.5 * mu + 0.5 * median
                    spread = 1.4 if previous is None else 0.9
                    value = int(np.clip(round_half(rng.normal(mu, spread)), 1, 9))
                ratings.append(
                    Rating(round_item=ri, criterion=criterion, panelist=panelist, value=value)
                )
    now = timezone.now()
    with transaction.atomic():
        Rating.objects.bulk_create(ratings, batch_size=2000)
        Participation.objects.filter(round=round, panelist__in=panel).update(
            status=Participation.Status.SUBMITTED,
            opened_at=now,
            submitted_at=now,
            last_activity_at=now,
            consented_at=now,
        )


def round_half(x: float) -> float:
    return float(np.floor(x + 0.5))
