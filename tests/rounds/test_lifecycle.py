from __future__ import annotations

import time

import pytest
from django.db import IntegrityError, transaction

from rounds import consensus, selectors, services
from rounds.errors import ProtocolLockedError, TransitionError
from rounds.models import AuditEntry, ItemDecision, Participation, Rating, Result, Round, Study
from tests.factories import make_study, run_round

pytestmark = pytest.mark.django_db


def test_it_locks_the_protocol_when_round_1_opens() -> None:
    study = make_study()
    round = services.round_create(study=study)
    assert study.protocol.locked_at is None
    services.round_open(round=round, notify=False)
    study.refresh_from_db()
    assert study.protocol.locked_at is not None
    assert study.status == Study.Status.RUNNING


def test_it_refuses_to_open_a_round_twice() -> None:
    study = make_study()
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    with pytest.raises(TransitionError, match="only a draft round can be opened"):
        services.round_open(round=round, notify=False)


def test_it_refuses_to_close_a_draft_round() -> None:
    round = services.round_create(study=make_study())
    with pytest.raises(TransitionError, match="only an open round can be closed"):
        services.round_close(round=round)
    round.refresh_from_db()
    assert round.state == Round.State.DRAFT


def test_it_refuses_to_analyse_an_open_round() -> None:
    study = make_study()
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    with pytest.raises(TransitionError, match="only a closed round can be analysed"):
        services.round_analyse(round_id=round.pk)


def test_it_refuses_a_second_round_before_the_first_is_analysed() -> None:
    study = make_study()
    services.round_create(study=study)
    with pytest.raises(TransitionError, match="closed and analysed"):
        services.round_create(study=study)


def test_it_refuses_a_round_without_panelists() -> None:
    study = make_study(n_panelists=0)
    round = services.round_create(study=study)
    with pytest.raises(TransitionError, match="no panelists"):
        services.round_open(round=round, notify=False)


def test_analysing_twice_leaves_one_correct_result() -> None:
    study = make_study(n_items=4)
    round = run_round(study)
    first = list(Result.objects.filter(round=round).order_by("pk").values("median", "consensus"))
    services.round_analyse(round_id=round.pk)
    services.round_analyse(round_id=round.pk, force=True)
    round.refresh_from_db()
    again = list(Result.objects.filter(round=round).order_by("pk").values("median", "consensus"))
    assert Result.objects.filter(round=round).count() == 4 * 2
    assert ItemDecision.objects.filter(round=round).count() == 4
    assert again == first
    assert round.analysis_version == 2
    assert round.analysis.version == 2


def test_stored_results_agree_with_the_engine() -> None:
    study = make_study(n_items=4, n_panelists=11)
    round = run_round(study)
    ratings = selectors.ratings_frame(study=study, rounds=[1])
    expected = consensus.describe(ratings, selectors.criterion_settings(study))
    for res in Result.objects.filter(round=round).select_related("round_item__item", "criterion"):
        row = expected[
            (expected["item"] == res.round_item.item.code)
            & (expected["criterion"] == res.criterion.code)
        ].iloc[0]
        assert res.n == row["n"]
        assert res.median == pytest.approx(row["median"])
        assert res.consensus == row["consensus"]
        assert res.stats["pct_high"] == pytest.approx(row["pct_high"])


def test_it_carries_undecided_items_into_the_next_round() -> None:
    study = make_study(n_items=4)
    round1 = run_round(study)
    decisions = dict(
        ItemDecision.objects.filter(round=round1).values_list("round_item__item__code", "decision")
    )
    # I01 liked on both criteria, I02 disliked, I03 split, I04 lukewarm (see factories).
    assert decisions == {
        "I01": "accepted",
        "I02": "rejected",
        "I03": "carried",
        "I04": "carried",
    }
    round2 = study.rounds.get(number=2)
    assert round2.state == Round.State.DRAFT
    assert sorted(round2.round_items.values_list("item__code", flat=True)) == ["I03", "I04"]


def test_it_finishes_the_study_after_the_maximum_number_of_rounds() -> None:
    study = make_study(n_items=4)
    study.protocol.max_rounds = 2
    study.protocol.save()
    run_round(study)
    round2 = run_round(study)
    study.refresh_from_db()
    assert study.status == Study.Status.FINISHED
    assert not study.rounds.filter(number=3).exists()
    assert set(round2.decisions.values_list("decision", flat=True)) == {"no_consensus"}


def test_it_finishes_the_study_when_every_item_is_decided() -> None:
    study = make_study(n_items=2)  # I01 accepted, I02 rejected in round 1
    run_round(study)
    study.refresh_from_db()
    assert study.status == Study.Status.FINISHED
    assert study.rounds.count() == 1
    with pytest.raises(TransitionError, match="finished"):
        services.round_create(study=study)


def test_round_2_reports_stability_against_round_1() -> None:
    study = make_study(n_items=4)
    run_round(study)
    round2 = run_round(study)
    result = Result.objects.filter(round=round2).first()
    assert result is not None
    assert 0 <= result.stability["pct_change"] <= 100
    assert isinstance(result.stability["stable"], bool)


def test_only_submitted_answers_are_analysed() -> None:
    study = make_study(n_items=2, n_panelists=6)
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    panel = list(study.panelists.order_by("pseudonym"))
    ri = round.round_items.first()
    assert ri is not None
    criterion = study.criteria.first()
    for p in panel:
        Rating.objects.create(round_item=ri, criterion=criterion, panelist=p, value=9)
    Participation.objects.filter(round=round, panelist__in=panel[:4]).update(
        status=Participation.Status.SUBMITTED
    )
    frame = selectors.ratings_frame(study=study, rounds=[1])
    assert sorted(frame["panelist"]) == ["P001", "P002", "P003", "P004"]


def test_the_database_refuses_two_ratings_of_the_same_cell() -> None:
    study = make_study(n_items=1, n_panelists=1)
    round = services.round_create(study=study)
    ri = round.round_items.get()
    criterion = study.criteria.first()
    panelist = study.panelists.get()
    Rating.objects.create(round_item=ri, criterion=criterion, panelist=panelist, value=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(round_item=ri, criterion=criterion, panelist=panelist, value=6)


def test_a_locked_protocol_changes_only_with_a_reason() -> None:
    study = make_study()
    run_round(study)
    protocol = study.protocol
    protocol.refresh_from_db()
    with pytest.raises(ProtocolLockedError):
        services.protocol_update(protocol=protocol, changes={"max_rounds": 4})
    services.protocol_update(
        protocol=protocol, changes={"max_rounds": 4}, reason="Panel asked for a third round"
    )
    entry = AuditEntry.objects.filter(study=study, action="protocol.changed").get()
    assert entry.before == {"max_rounds": 3}
    assert entry.after == {"max_rounds": 4}
    assert entry.reason == "Panel asked for a third round"


def test_every_transition_is_in_the_audit_log() -> None:
    study = make_study(n_items=2)
    run_round(study)
    actions = list(AuditEntry.objects.filter(study=study).values_list("action", flat=True))
    assert actions == [
        "round.created",
        "round.opened",
        "round.closed",
        "round.analysed",
        "study.finished",
    ]


@pytest.mark.slow
def test_closing_a_round_runs_the_analysis_in_a_real_worker(celery_worker_process) -> None:
    study = make_study(n_items=4)
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    Rating.objects.bulk_create(
        Rating(round_item=ri, criterion=c, panelist=p, value=8)
        for ri in round.round_items.all()
        for c in study.criteria.all()
        for p in study.panelists.all()
    )
    Participation.objects.filter(round=round).update(status=Participation.Status.SUBMITTED)
    services.round_close(round=round)  # autocommit: the task is queued at once
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        round.refresh_from_db()
        if round.state == Round.State.ANALYSED:
            break
        time.sleep(0.2)
    assert round.state == Round.State.ANALYSED
    assert celery_worker_process.poll() is None  # the worker, not this process, did it
    assert Result.objects.filter(round=round).count() == 8
    assert set(round.decisions.values_list("decision", flat=True)) == {"accepted"}
