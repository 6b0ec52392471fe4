from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from pypdf import PdfReader

from rounds import consensus
from rounds.csvio import RESULTS_COLUMNS, read_ratings_csv
from rounds.models import Participation, Round, Study
from tests.conftest import start_worker
from tests.reports.layout import overprinted

pytestmark = [pytest.mark.slow]

NUMERIC = ["n", "n_missing", "mean", "sd", "median", "q1", "q3", "iqr", "p30", "p70", "ipr",
           "iprcp", "ai", "ipras", "di", "pct_low", "pct_mid", "pct_high"]  # fmt: skip


@dataclass(frozen=True)
class DemoRun:
    out: Path
    kce: dict[str, Any]
    live_states: dict[int, str]
    live_closes_at: object
    settings: dict[str, consensus.CriterionSettings]


@pytest.fixture(scope="module")
def demo(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DemoRun]:
    """Run `delphi_demo` once for the module, with a real worker, and note what it built."""
    out = tmp_path_factory.mktemp("demo")
    with django_db_blocker.unblock(), start_worker():
        call_command("delphi_demo", "--out", str(out), "--external-worker")
        study = Study.objects.get(slug="kce-burnout-gp")
        submitted = Participation.objects.filter(round__study=study, status="submitted")
        kce = {
            "simulated": study.is_simulated,
            "status": study.status,
            "panelists": study.panelists.count(),
            "groups": set(study.panelists.values_list("group", flat=True)),
            "states": list(study.rounds.values_list("state", flat=True)),
            "submitted": [submitted.filter(round__number=n).count() for n in (1, 2)],
            "items": study.items.count(),
            "dutch_p02": study.items.get(code="P02").text.get("nl"),
            "languages": set(study.languages),
            "recommendations": study.recommendations.count(),
            "published": study.report_versions.filter(published_at__isnull=False).count(),
            "viewers": list(study.memberships.values_list("user__username", "role")),
        }
        live = Study.objects.get(slug="demo-live")
        run = DemoRun(
            out=out,
            kce=kce,
            live_states=dict(live.rounds.values_list("number", "state")),
            live_closes_at=live.rounds.get(number=2).closes_at,
            settings={c.code: c.settings() for c in study.criteria.all()},
        )
        yield run
        Study.objects.filter(slug__in=["kce-burnout-gp", "demo-live"]).delete()


def test_the_demo_keeps_no_personal_link_in_a_file(demo: DemoRun) -> None:
    from django.conf import settings

    info = (settings.VAR_DIR / "demo.json").read_text(encoding="utf-8")
    assert "/p/" not in info
    assert '"panelist_link": "/demo/panelist/"' in info


def test_the_demo_writes_its_three_files(demo: DemoRun) -> None:
    assert sorted(p.name for p in demo.out.iterdir()) == [
        "ratings.csv",
        "report.pdf",
        "results.csv",
    ]


def test_the_kce_replay_runs_two_rounds_with_59_gps_and_some_drop_outs(demo: DemoRun) -> None:
    kce = demo.kce
    assert kce["simulated"]
    assert kce["status"] == Study.Status.FINISHED
    assert kce["panelists"] == 59
    assert kce["groups"] == {"solo practice", "group practice"}
    assert kce["states"] == ["analysed", "analysed"]
    assert kce["submitted"] == [59, 53]
    assert kce["items"] == 29
    assert kce["dutch_p02"] == "Elke huisarts heeft zijn eigen huisarts"
    assert kce["languages"] == {"fr", "nl", "en"}
    assert kce["recommendations"] == 14
    assert kce["published"] == 1  # the policy team has a report to open
    assert kce["viewers"] == [("policy", "viewer")]


def test_the_live_demo_has_round_1_analysed_and_round_2_open(demo: DemoRun) -> None:
    assert demo.live_states == {1: Round.State.ANALYSED, 2: Round.State.OPEN}
    assert demo.live_closes_at is not None


def test_results_csv_agrees_with_ratings_csv_under_the_methods(demo: DemoRun) -> None:
    ratings = read_ratings_csv(demo.out / "ratings.csv", consensus.Scale())
    expected = consensus.describe(ratings, demo.settings)[list(RESULTS_COLUMNS)]
    written = pd.read_csv(demo.out / "results.csv", keep_default_na=False)
    assert list(written.columns[: len(RESULTS_COLUMNS)]) == list(RESULTS_COLUMNS)
    assert len(written) == len(expected)
    merged = written.merge(expected, on=["round", "item", "criterion"], suffixes=("", "_x"))
    assert len(merged) == len(expected)
    for column in NUMERIC:
        got = pd.to_numeric(merged[column].replace("", np.nan))
        want = pd.to_numeric(merged[f"{column}_x"])
        assert np.allclose(got, want, atol=1e-6, equal_nan=True), column
    for column in ["consensus", "rule", "rand_class"]:
        assert (merged[column].astype(str) == merged[f"{column}_x"].fillna("").astype(str)).all()


def test_the_report_pdf_opens_and_shows_the_numbers(demo: DemoRun) -> None:
    reader = PdfReader(demo.out / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Simulated data" in text
    results = pd.read_csv(demo.out / "results.csv")
    first = results.iloc[0]
    assert first["item"] in text
    assert f"{first['median']:g}" in text
    for code in results["item"].unique():
        assert code in text, code


def test_the_demo_is_identical_when_run_again(
    demo: DemoRun, tmp_path_factory: pytest.TempPathFactory, celery_worker_process: object
) -> None:
    again = tmp_path_factory.mktemp("again")
    call_command("delphi_demo", "--out", str(again), "--external-worker")
    assert (again / "ratings.csv").read_bytes() == (demo.out / "ratings.csv").read_bytes()
    assert (again / "results.csv").read_bytes() == (demo.out / "results.csv").read_bytes()


def _final(results: pd.DataFrame) -> pd.DataFrame:
    """Each item's last round: its decision and, per criterion, its statistics."""
    last = results.groupby("item")["round"].transform("max")
    return results[results["round"] == last].set_index(["item", "criterion"])


def test_the_replay_agrees_with_what_the_kce_report_says(demo: DemoRun) -> None:
    final = _final(pd.read_csv(demo.out / "results.csv", keep_default_na=False))

    def decision(code: str) -> str:
        return str(final.loc[(code, "acceptability"), "decision"])

    def stat(code: str, criterion: str, column: str) -> float:
        return float(final.loc[(code, criterion), column])

    assert decision("P02") == "accepted"  # accepted by the Delphi respondents
    for code in ["P04", "P12", "P13", "P17", "P18", "P20"]:  # called priorities
        assert stat(code, "priority", "median") >= 7 and decision(code) == "accepted", code
    assert stat("P21", "priority", "median") < 7 and decision("P21") != "accepted"
    flexible, specialised = ["C01", "C02", "C03"], ["C04", "C05"]
    assert all(decision(code) == "accepted" for code in flexible)
    assert all(decision(code) != "accepted" for code in specialised)
    for criterion in ["acceptability", "priority"]:
        lowest = min(stat(c, criterion, "pct_high") for c in flexible)
        assert lowest > max(stat(c, criterion, "pct_high") for c in specialised), criterion


def test_panelists_keep_their_views_between_rounds(demo: DemoRun) -> None:
    ratings = pd.read_csv(demo.out / "ratings.csv").dropna(subset=["value"])
    pairs = ratings[ratings["round"] == 1].merge(
        ratings[ratings["round"] == 2], on=["panelist", "item", "criterion"]
    )
    correlations = [
        np.corrcoef(g["value_x"], g["value_y"])[0, 1]
        for _p, g in pairs.groupby("panelist")
        if g["value_x"].std() > 0 and g["value_y"].std() > 0
    ]
    assert np.median(correlations) > 0.6
    assert len(correlations) >= 50


def test_most_distributions_are_stable_between_the_two_rounds(demo: DemoRun) -> None:
    text = "\n".join(page.extract_text() for page in PdfReader(demo.out / "report.pdf").pages)
    found = re.search(
        r"(\d+) of (\d+) ratings distributions .* were stable", " ".join(text.split())
    )

    assert found is not None
    stable, compared = int(found[1]), int(found[2])
    assert compared >= 20 and stable / compared >= 0.6


def test_the_demo_report_prints_no_text_over_other_text(demo: DemoRun) -> None:
    assert overprinted((demo.out / "report.pdf").read_bytes()) == []


def test_the_demo_report_describes_its_simulation_and_the_kce_record(demo: DemoRun) -> None:
    text = " ".join(
        " ".join(page.extract_text() for page in PdfReader(demo.out / "report.pdf").pages).split()
    )

    assert "How the ratings were simulated" in text
    assert "moves halfway towards the round-1 median" in text
    assert "ULB-Erasme ethics committee approved" in text
    assert "Funding not recorded" in text
