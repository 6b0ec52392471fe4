"""The real-time demo study `demo-realtime`: one open period instead of rounds.

Twenty simulated GPs rate six items of the KCE list over the first two days of a period
opened three days ago; afterwards each rating moves halfway towards the panel's median with
probability 0.35 (as in the round-based demo), at a random moment of the third day. Every
change is in the rating history, and the snapshots at the past midnights are computed, so
the coordinator sees the live statistics and the snapshots at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from django.utils import timezone

from demo.kce import _create_panel, _create_study, _live_profile, load_items
from rounds import answers, realtime, services
from rounds.models import Criterion, Panelist, Round, RoundItem, Snapshot, Study

REALTIME_SLUG = "demo-realtime"
REALTIME_TITLE = {
    "fr": "Démo : Delphi en temps réel (données simulées)",
    "nl": "Demo: realtime-Delphi (gesimuleerde gegevens)",
    "en": "Demo: a real-time Delphi (simulated data)",
}
PANEL = 20
MOVE_PROBABILITY = 0.35


def build_realtime_demo(rng: np.random.Generator) -> Study:
    """Replace the real-time demo study and simulate its first three days."""
    Study.objects.filter(slug=REALTIME_SLUG).delete()
    rows = [row for row in load_items() if row["code"].startswith("P")][10:16]
    study = _create_study(REALTIME_SLUG, REALTIME_TITLE, rows, max_rounds=1)
    study.protocol.realtime = True
    study.protocol.show_groups = False
    study.protocol.save(update_fields=["realtime", "show_groups"])
    members = _create_panel(study, PANEL, rng)
    now = timezone.now().replace(microsecond=0)
    opened = now - timedelta(days=3)
    round = services.round_create(study=study, closes_at=now + timedelta(days=7))
    round = services.round_open(round=round, notify=False)
    Round.objects.filter(pk=round.pk).update(opened_at=opened)
    round.refresh_from_db()
    _simulate(round, members, _live_profile(study, rng), opened, rng)
    midnight = realtime.day_start(opened) + timedelta(days=1)
    while midnight < now:
        snapshot = realtime.snapshot_request(round=round, at=midnight, kind=Snapshot.Kind.DAILY)
        realtime.snapshot_run(snapshot_id=snapshot.pk)
        midnight += timedelta(days=1)
    return study


def _simulate(
    round: Round,
    members: list[Panelist],
    profile: dict[tuple[str, str], float],
    opened: datetime,
    rng: np.random.Generator,
) -> None:
    cells = [(ri, c) for ri in RoundItem.objects.filter(round=round).select_related("item")
             for c in Criterion.objects.filter(study_id=round.study_id)]  # fmt: skip
    leniency = rng.normal(0, 0.7, size=len(members))
    given: dict[tuple[int, int, int], int] = {}
    for i in np.argsort(rng.uniform(size=len(members))):
        at = opened + timedelta(hours=float(rng.uniform(0.5, 44)))
        first = []
        for ri, c in cells:
            mu = profile[(ri.item.code, c.code)] + leniency[i]
            value = int(np.clip(round_half(mu + rng.normal(0, 1.0)), 1, 9))
            given[(int(i), ri.pk, c.pk)] = value
            first.append(answers.Answer(ri.pk, c.pk, value))
        answers.ratings_save(panelist=members[i], round=round, answers=first, now=at)
    medians = {
        (ri.pk, c.pk): float(np.median([given[(i, ri.pk, c.pk)] for i in range(len(members))]))
        for ri, c in cells
    }
    for i, member in enumerate(members):
        moved = []
        for ri, c in cells:
            before = given[(i, ri.pk, c.pk)]
            if rng.uniform() < MOVE_PROBABILITY and before != medians[(ri.pk, c.pk)]:
                after = int(round_half((before + medians[(ri.pk, c.pk)]) / 2))
                moved.append(answers.Answer(ri.pk, c.pk, after))
        if moved:
            at = opened + timedelta(hours=float(rng.uniform(49, 70)))
            answers.ratings_save(panelist=member, round=round, answers=moved, now=at)


def round_half(value: float) -> float:
    """Half away from zero (numpy rounds halves to even)."""
    return float(np.floor(value + 0.5))
