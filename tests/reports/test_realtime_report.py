"""The report of a real-time study: its methods describe the mode, and the stability chapter
shows how the medians moved from snapshot to snapshot."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from reports.pdf import report_html
from rounds import realtime, services
from rounds.models import Snapshot, Study
from tests.reports.helpers import finished_study
from tests.rounds.test_realtime import OPENED, open_period, rate, realtime_study

pytestmark = pytest.mark.django_db


def _text(page: str, chapter: str) -> str:
    part = page.split(f'id="{chapter}"')[1].split('<section class="chapter"')[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", part)).split())


@pytest.fixture
def study() -> Study:
    """Six panelists rate 4 on day 1; by day 2, three of them moved to 8; then it closes."""
    study = realtime_study()
    round = open_period(study, days=3)
    panel = list(study.panelists.order_by("pseudonym"))
    for p in panel:
        rate(p, round, 4, at=OPENED + timedelta(hours=1))
    day2 = datetime(2026, 3, 3, tzinfo=UTC)
    realtime.snapshots_tick(now=day2 + timedelta(minutes=1))
    for p in panel[:3]:
        rate(p, round, 8, at=day2 + timedelta(hours=9))
    with time_machine.travel(day2 + timedelta(hours=20), tick=False):
        services.round_close(round=round)
    services.analysis_run(job_id=round.analysis_jobs.get().pk)
    for snapshot in Snapshot.objects.order_by("at"):
        realtime.snapshot_run(snapshot_id=snapshot.pk)
    study.refresh_from_db()
    return study


def test_the_methods_describe_the_real_time_mode(study: Study) -> None:
    text = _text(report_html(study), "methods")
    assert "Real-time mode" in text
    assert "could revise their ratings at any time until the deadline" in text
    assert "(2 snapshots)" in text


def test_the_stability_chapter_shows_the_median_at_each_snapshot(study: Study) -> None:
    text = _text(report_html(study), "stability")
    assert "How the answers moved (real-time mode)" in text
    assert "I01 Acceptability 4 6 50.0%" in text  # 4,4,4,4,4,4 then 4,4,4,8,8,8
    assert "4 distributions were not stable" in text


def test_a_classic_report_says_nothing_of_the_mode() -> None:
    page = report_html(finished_study(n_items=2, n_panelists=6))
    assert "Real-time mode" not in page
    assert "How the answers moved" not in page
