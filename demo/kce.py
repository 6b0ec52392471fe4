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
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from demo import simulation
from demo.proposals import build_round0_demo
from demo.recommendations import add_kce_recommendations
from reports import services as report_services
from reports.models import ReportVersion
from rounds import services
from rounds.errors import DomainError
from rounds.models import (
    Criterion,
    Item,
    Panelist,
    Participation,
    Protocol,
    Rating,
    Round,
    Study,
    StudyRecord,
)

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


KCE_PANEL = 59  # general practitioners rated the list (KCE Reports 165)
KCE_DROPOUTS = 6  # the report gives no response rates: an invented, modest attrition

# The panel's view of each item (acceptability, priority) on the 1-9 scale: the mean of
# the rating model before each panelist's lasting bias and the noise of each rating (see
# demo/simulation.py). Items the KCE report speaks of follow what it says; the others, on
# which it says nothing, get middling profiles and may end either way.
STATED: dict[str, tuple[float, float, str]] = {
    "P02": (8.2, 7.4, "accepted by the Delphi respondents"),
    "P04": (7.9, 8.0, "guaranteeing sickness and disability income: a priority"),
    "P12": (7.8, 7.5, "more realistic patient expectations: a priority action"),
    "P13": (7.9, 7.6, "more realistic patient expectations: a priority action"),
    "P17": (8.3, 8.1, "less administrative time: a priority"),
    "P18": (8.5, 8.3, "less administrative time: a priority"),
    "P20": (8.2, 8.0, "better out-of-hours services: a priority"),
    "P21": (6.6, 4.6, "stress-management techniques: not a priority"),
    "C01": (8.4, 7.6, "flexible, personalised help strongly favoured"),
    "C02": (8.2, 7.4, "flexible, personalised help strongly favoured"),
    "C03": (8.2, 7.5, "flexible, personalised help strongly favoured"),
    "C04": (6.1, 5.4, "less favoured than flexible help"),
    "C05": (5.6, 4.9, "less favoured than flexible help"),
}
UNSTATED: dict[str, tuple[float, float]] = {
    "P01": (6.4, 5.6), "P03": (7.2, 6.4), "P05": (7.4, 6.8), "P06": (7.0, 6.0),
    "P07": (7.3, 6.3), "P08": (7.5, 6.6), "P09": (6.3, 5.4), "P10": (6.8, 6.0),
    "P11": (6.5, 6.2), "P14": (7.6, 6.0), "P15": (7.8, 7.0), "P16": (7.4, 6.5),
    "P19": (7.6, 6.6), "C06": (7.4, 6.8), "C07": (7.3, 6.5), "C08": (7.1, 6.4),
}  # fmt: skip
KCE_PROFILE: dict[tuple[str, str], float] = {
    (code, criterion): float(values[i])
    for code, values in [*((c, v[:2]) for c, v in STATED.items()), *UNSTATED.items()]
    for i, criterion in enumerate(("acceptability", "priority"))
}
KCE_RECORD = {
    "items_origin": (
        "A literature review, about 40 interviews with general practitioners, an "
        "international comparison and a survey of Belgian support structures produced a "
        "preliminary list of action items (KCE Reports 165, 2011)."
    ),
    "eligibility": (
        "General practitioners 'tout venant': not selected for an interest in burnout."
    ),
    "recommendations_drafting": (
        "After the Delphi survey the research teams wrote 14 recommendation sheets."
    ),
    "recommendations_validation": (
        "The sheets were discussed with experts and stakeholders in a workshop on their "
        "feasibility; the final recommendations were formulated afterwards."
    ),
    "ethics": (
        "The ULB-Erasme ethics committee approved the qualitative parts of the study "
        "(interviews, Delphi survey) on 17 August 2010."
    ),
    "limitations": (
        "Possible selection of motivated general practitioners interested in the "
        "psychosocial side of the doctor-patient relationship: the panel may not represent "
        "all general practitioners. In this demo every rating is simulated (see the "
        "section 'How the ratings were simulated'), so no finding of this report is evidence "
        "about real general practitioners."
    ),
    "decision_rule_rationale": (
        "The KCE study rated acceptability and priority; the demo accepts an action the "
        "panel agrees is acceptable (75 % in the high band) and whose priority median "
        "reaches the high band, so that an accepted action is both acceptable and a priority."
    ),
}


@dataclass(frozen=True)
class DemoResult:
    kce: Study
    live: Study
    visitor: Panelist
    report: ReportVersion
    round0: Study | None = None


def load_items() -> list[dict[str, str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def build_demo(*, seed: int = 165, wait: Callable[[Round], None] | None = None) -> DemoResult:
    """Replace both demo studies; `wait` blocks until a closed round is analysed."""
    wait = wait or wait_for_analysis
    Study.objects.filter(slug__in=[KCE_SLUG, LIVE_SLUG]).delete()
    rng = np.random.default_rng(seed)
    kce = _create_study(KCE_SLUG, KCE_TITLE, load_items(), max_rounds=2)
    _record_kce(kce)
    gps = _create_panel(kce, KCE_PANEL, rng)
    panel = simulation.Panel.draw(len(gps), list(CRITERIA), rng)
    everyone = list(range(len(gps)))
    round1, first = _run_round(kce, gps, everyone, panel, KCE_PROFILE, rng, wait=wait)
    dropouts = set(rng.choice(len(gps), size=KCE_DROPOUTS, replace=False).tolist())
    stayers = [i for i in everyone if i not in dropouts]
    _run_round(kce, gps, stayers, panel, KCE_PROFILE, rng, wait=wait, previous=(round1, first))
    kce.refresh_from_db()
    add_kce_recommendations(kce)
    report = wait_for_report(report_services.report_request(study=kce))
    report_services.report_publish(version=report)

    live_items = [row for row in load_items() if row["code"].startswith("P")][:10]
    live = _create_study(LIVE_SLUG, LIVE_TITLE, live_items, max_rounds=3)
    members = _create_panel(live, 24, rng)
    visitor = members[0]
    Panelist.objects.filter(pk=visitor.pk).update(
        email=VISITOR_EMAIL, name="Demo visitor", language="en"
    )
    visitor.refresh_from_db()
    live_panel = simulation.Panel.draw(len(members), list(CRITERIA), rng)
    live_profile = _live_profile(live, rng)
    everyone = list(range(len(members)))
    _run_round(live, members, everyone, live_panel, live_profile, rng, wait=wait)
    round2 = live.rounds.filter(number=2).first()
    if round2 is None:
        raise DomainError("The live demo's round 1 decided every item; change the seed.")
    round2.closes_at = timezone.now() + timedelta(days=14)
    round2.save(update_fields=["closes_at"])
    services.round_open(round=round2)
    round0 = build_round0_demo(_create_study, load_items(), rng)
    return DemoResult(kce=kce, live=live, visitor=visitor, report=report, round0=round0)


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


def _record_kce(study: Study) -> None:
    """What the KCE report says about its design, for the report's methods; what it does not
    say (funding, piloting, the evidence given to the panel...) stays "not recorded"."""
    simulated = simulation.describe(KCE_PANEL, KCE_DROPOUTS, sorted(STATED))
    StudyRecord.objects.create(study=study, simulation=simulated, **KCE_RECORD)


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


def _live_profile(study: Study, rng: np.random.Generator) -> dict[tuple[str, str], float]:
    """The live demo's items: a mix of liked, contested and rejected ones, so that round 1
    leaves some to rate again."""
    profile: dict[tuple[str, str], float] = {}
    for code in study.items.order_by("position").values_list("code", flat=True):
        kind = rng.choice(["liked", "contested", "rejected"], p=[0.3, 0.6, 0.1])
        base = {"liked": 7.8, "contested": 6.0, "rejected": 2.8}[str(kind)]
        profile[(code, "acceptability")] = base + rng.normal(0, 0.3)
        profile[(code, "priority")] = base - 0.4 + rng.normal(0, 0.5)
    return profile


Ratings = dict[tuple[int, str, str], int | None]


def _run_round(
    study: Study,
    gps: list[Panelist],
    members: list[int],
    panel: simulation.Panel,
    profile: simulation.Profile,
    rng: np.random.Generator,
    *,
    wait: Callable[[Round], None],
    previous: tuple[Round, Ratings] | None = None,
) -> tuple[Round, Ratings]:
    """Open the next round, have ``members`` (indexes into ``gps``) rate it as the model
    says, close it and wait for its analysis."""
    round = (
        services.round_create(study=study)
        if previous is None
        else study.rounds.get(number=previous[0].number + 1)
    )
    services.round_open(round=round, notify=False)
    round_items = list(round.round_items.select_related("item").order_by("position"))
    cells = [(ri.item.code, c) for ri in round_items for c in CRITERIA]
    if previous is None:
        ratings = simulation.first_round(panel, members, cells, profile, rng)
    else:
        fed_back = {
            (res.round_item.item.code, res.criterion.code): res.median
            for res in previous[0].results.select_related("round_item__item", "criterion")
        }
        ratings = simulation.next_round(panel, members, cells, profile, previous[1], fed_back, rng)
    _save_ratings(round, round_items, [gps[i] for i in members], members, ratings)
    services.round_close(round=round)
    wait(round)
    return round, ratings


def _save_ratings(
    round: Round, round_items: list[Any], panelists: list[Panelist], members: list[int],
    ratings: Ratings,
) -> None:  # fmt: skip
    criteria = {c.code: c for c in round.study.criteria.all()}
    rows = [
        Rating(round_item=ri, criterion=criteria[code], panelist=panelist,
               value=ratings[(index, ri.item.code, code)])
        for ri in round_items
        for code in CRITERIA
        for panelist, index in zip(panelists, members, strict=True)
    ]  # fmt: skip
    now = timezone.now()
    with transaction.atomic():
        Rating.objects.bulk_create(rows, batch_size=2000)
        Participation.objects.filter(round=round, panelist__in=panelists).update(
            status=Participation.Status.SUBMITTED,
            opened_at=now,
            submitted_at=now,
            last_activity_at=now,
            consented_at=now,
        )
