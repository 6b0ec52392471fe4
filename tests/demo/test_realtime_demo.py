"""The real-time demo study: open, with three days of simulated answers, their history and
the snapshots of the past midnights."""

from __future__ import annotations

import numpy as np
import pytest

from demo.realtime import PANEL, build_realtime_demo
from rounds import realtime
from rounds.models import Rating, RatingChange, Round, Snapshot

pytestmark = pytest.mark.django_db


def test_the_real_time_demo_is_open_with_history_and_snapshots() -> None:
    study = build_realtime_demo(np.random.default_rng(165))
    round = study.rounds.get()
    assert study.protocol.realtime
    assert round.state == Round.State.OPEN
    cells = Rating.objects.filter(round_item__round=round).count()
    assert cells == PANEL * 6 * 2
    revisions = RatingChange.objects.filter(round_item__round=round).count() - cells
    # A rating moves halfway to the median with probability 0.35; some round back to themselves.
    assert cells * 0.1 < revisions < cells * 0.35
    snapshots = realtime.snapshots_of(round)
    assert len(snapshots) >= 2
    assert all(s.status == Snapshot.Status.DONE and s.results for s in snapshots)
    assert any(row["pct_change"] for row in snapshots[-1].stability)
    table = realtime.live_table(round)
    assert len(table) == 12 and all(row.result and row.result.n == PANEL for row in table)


def test_building_it_again_replaces_it() -> None:
    build_realtime_demo(np.random.default_rng(1))
    again = build_realtime_demo(np.random.default_rng(1))
    assert again.rounds.count() == 1
    assert RatingChange.objects.filter(round_item__round__study=again).count() > 0
