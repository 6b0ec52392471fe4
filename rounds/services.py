"""The round lifecycle: every write that changes a study's state goes through here.

draft → open → closed → analysed. Round 1 opening locks the protocol; closing queues the
analysis (a Celery task) once the transaction commits; the analysis writes results and item
decisions, then either prepares the next round with the items that reached no decision or
finishes the study, following the protocol's stopping rule.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rounds import consensus, jobs, realtime, selectors, signals
from rounds.design import design_hash
from rounds.errors import (
    AnalysisImpossibleError,
    DomainError,
    ProtocolLockedError,
    TransitionError,
)
from rounds.models import (
    AnalysisJob,
    AuditEntry,
    ItemDecision,
    Panelist,
    Participation,
    ProposalRound,
    Protocol,
    Rating,
    Result,
    Round,
    RoundAnalysis,
    RoundItem,
    Snapshot,
    Study,
)
from rounds.proposal_models import ProposalConsent
from rounds.version import __version__

logger = logging.getLogger(__name__)

Actor = User | AnonymousUser | None


def audit_record(
    *,
    study: Study,
    action: str,
    target: str = "",
    by: Actor = None,
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEntry:
    return AuditEntry.objects.create(
        study=study,
        at=timezone.now(),
        actor=by if isinstance(by, User) else None,
        action=action,
        target=target,
        before=before,
        after=after,
        reason=reason,
    )


def protocol_hash(protocol: Protocol) -> str:
    """The design hash (`rounds.design`: SHA-256 of the study file's canonical form) of the
    study as it stood when round 1 opened and the protocol locked; until then, as it stands."""
    return protocol.locked_design_hash or design_hash(protocol.study)


def protocol_update(
    *, protocol: Protocol, changes: dict[str, Any], by: Actor = None, reason: str = ""
) -> Protocol:
    """Change protocol settings; once locked, only with a reason, and always audited."""
    if protocol.is_locked and not reason.strip():
        raise ProtocolLockedError(
            _("The protocol was locked when round 1 opened; give a reason for this change.")
        )
    before = {name: getattr(protocol, name) for name in changes}
    for name, value in changes.items():
        setattr(protocol, name, value)
    protocol.full_clean()
    with transaction.atomic():
        protocol.save()
        audit_record(
            study=protocol.study,
            action="protocol.changed",
            target="protocol",
            by=by,
            before=before,
            after=changes,
            reason=reason,
        )
    return protocol


def round_create(
    *,
    study: Study,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    by: Actor = None,
) -> Round:
    """A new draft round: round 1 takes every item, later rounds the carried-over ones."""
    if study.status == Study.Status.FINISHED:
        raise TransitionError(_("The study is finished; no new round can be added."))
    previous = selectors.latest_round(study)
    if previous is not None and previous.state != Round.State.ANALYSED:
        raise TransitionError(
            _("Round %(n)d must be closed and analysed before the next round is created.")
            % {"n": previous.number}
        )
    number = 1 if previous is None else previous.number + 1
    if number > 1 and study.protocol.realtime:
        raise TransitionError(_("A real-time study has one open period, not several rounds."))
    if number > study.protocol.max_rounds:
        raise TransitionError(
            _("The protocol allows at most %(n)d rounds.") % {"n": study.protocol.max_rounds}
        )
    with transaction.atomic():
        new = Round.objects.create(
            study=study, number=number, opens_at=opens_at, closes_at=closes_at
        )
        if previous is None:
            RoundItem.objects.bulk_create(
                RoundItem(round=new, item=item, text=item.text, position=item.position)
                for item in study.items.all()
            )
        else:
            carried = previous.round_items.filter(
                decision__decision=ItemDecision.Decision.CARRIED
            ).select_related("item")
            RoundItem.objects.bulk_create(
                RoundItem(round=new, item=ri.item, text=ri.text, position=ri.position)
                for ri in carried
            )
        audit_record(study=study, action="round.created", target=str(new), by=by)
    return new


def round_open(
    *,
    round: Round,
    by: Actor = None,
    now: datetime | None = None,
    notify: bool = True,
    closes_at: datetime | None = None,
) -> Round:
    """Open a draft round to the panel; opening round 1 locks the protocol. A `closes_at`
    given here sets the deadline in the same step (else the scheduled one stays).

    Every panelist of the study takes part. With ``notify``, each is invited: the
    invitations are recorded in this transaction (`signals.invitations_requested`) and
    sent by the workers once it commits."""
    now = now or timezone.now()
    with transaction.atomic():
        round = Round.objects.select_for_update().select_related("study").get(pk=round.pk)
        study = round.study
        if closes_at is not None:
            round.closes_at = closes_at
        _check_can_open(round, now)
        round.state = Round.State.OPEN
        round.opened_at = now
        round.save(update_fields=["state", "opened_at", "closes_at"])
        if round.number == 1:
            _protocol_lock(study, now)
            Study.objects.filter(pk=study.pk).update(status=Study.Status.RUNNING)
        panel = list(
            Panelist.objects.filter(study=study, erased_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        consented = _round_0_consents(study) if round.number == 1 else {}
        Participation.objects.bulk_create(
            [Participation(panelist_id=pk, round=round, consented_at=consented.get(pk))
             for pk in panel],
            ignore_conflicts=True,
        )  # fmt: skip
        if notify:
            signals.invitations_requested.send(sender=Round, round=round, panelist_ids=panel)
        audit_record(
            study=study,
            action="round.opened",
            target=str(round),
            by=by,
            after={"closes_at": round.closes_at.isoformat() if round.closes_at else None},
        )
    return round


def _round_0_consents(study: Study) -> dict[int, datetime]:
    """The consents given in round 0, by panelist: round 1 does not ask them again."""
    return dict(
        ProposalConsent.objects.filter(proposal_round__study=study).values_list(
            "panelist_id", "consented_at"
        )
    )


def _protocol_lock(study: Study, now: datetime) -> None:
    """Lock the protocol, keeping the design hash of the study as it stands (round 1 open)."""
    unlocked = Protocol.objects.filter(study=study, locked_at__isnull=True)
    if unlocked.exists():
        unlocked.update(locked_at=now, locked_design_hash=design_hash(study))


def _check_can_open(round: Round, now: datetime) -> None:
    study = round.study
    if round.state != Round.State.DRAFT:
        raise TransitionError(
            _("Round %(n)d is %(state)s; only a draft round can be opened.")
            % {"n": round.number, "state": round.get_state_display()}
        )
    if study.status == Study.Status.FINISHED:
        raise TransitionError(_("The study is finished; its rounds cannot be reopened."))
    open_round_0 = ProposalRound.objects.filter(study=study).exclude(
        state=ProposalRound.State.CLOSED
    )
    if round.number == 1 and open_round_0.exists():
        raise TransitionError(_("Close round 0 (the proposals round) before round 1 opens."))
    if not round.round_items.exists():
        raise TransitionError(_("Round %(n)d has no items to rate.") % {"n": round.number})
    if not study.criteria.exists():
        raise TransitionError(_("The study has no criteria to rate items on."))
    if not study.panelists.exists():
        raise TransitionError(_("The study has no panelists yet; import the panel first."))
    if round.closes_at is not None and round.closes_at <= now:
        raise TransitionError(_("The round's deadline is in the past; move it first."))


def panel_join_open_round(*, study: Study, panelist_ids: list[int]) -> Round | None:
    """Panelists added while a round is open take part in it and are invited to it; added
    while round 0 takes proposals, they are invited to propose (and counted as invited)."""
    _panel_join_round_0(study=study, panelist_ids=panelist_ids)
    round = study.rounds.filter(state=Round.State.OPEN).first()
    if round is None or not panelist_ids:
        return None
    Participation.objects.bulk_create(
        [Participation(panelist_id=pk, round=round) for pk in panelist_ids],
        ignore_conflicts=True,
    )
    signals.invitations_requested.send(sender=Round, round=round, panelist_ids=panelist_ids)
    return round


def _panel_join_round_0(*, study: Study, panelist_ids: list[int]) -> None:
    if not panelist_ids:
        return
    now = timezone.now()
    taking = (
        ProposalRound.objects.select_for_update()
        .filter(study=study, state=ProposalRound.State.OPEN)
        .filter(Q(closes_at__isnull=True) | Q(closes_at__gt=now))
        .first()
    )
    if taking is None:
        return
    taking.invited = F("invited") + len(panelist_ids)
    taking.save(update_fields=["invited"])
    taking.refresh_from_db(fields=["invited"])
    signals.proposals_invitations_requested.send(
        sender=ProposalRound, proposal_round=taking, panelist_ids=panelist_ids
    )


def round_close(*, round: Round, by: Actor = None, now: datetime | None = None) -> Round:
    """Close an open round and queue its analysis (a durable job, published on commit)."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = Round.objects.filter(pk=round.pk, state=Round.State.OPEN).update(
            state=Round.State.CLOSED, closed_at=now
        )
        round.refresh_from_db()
        if claimed != 1:
            raise TransitionError(
                _("Round %(n)d is %(state)s; only an open round can be closed.")
                % {"n": round.number, "state": round.get_state_display()}
            )
        audit_record(study=round.study, action="round.closed", target=str(round), by=by)
        if round.study.protocol.realtime:
            realtime.snapshot_request(round=round, at=now, kind=Snapshot.Kind.CLOSE)
        analysis_request(round=round, by=by)
    return round


def round_reopen(
    *, round: Round, closes_at: datetime, by: Actor = None, now: datetime | None = None
) -> Round:
    """Open a closed round again with a new deadline, as long as it has not been analysed
    (e.g. nobody submitted it in time). Saved answers are kept."""
    now = now or timezone.now()
    if closes_at <= now:
        raise TransitionError(_("The new deadline is in the past; choose a later time."))
    with transaction.atomic():
        reopened = Round.objects.filter(pk=round.pk, state=Round.State.CLOSED).update(
            state=Round.State.OPEN, closes_at=closes_at, closed_at=None
        )
        round.refresh_from_db()
        if reopened != 1:
            raise TransitionError(
                _("Round %(n)d is %(state)s; only a closed round that was not analysed can "
                  "be reopened.") % {"n": round.number, "state": round.get_state_display()}
            )  # fmt: skip
        round.analysis_jobs.filter(
            status__in=[AnalysisJob.Status.QUEUED, AnalysisJob.Status.FAILED]
        ).delete()
        audit_record(
            study=round.study, action="round.reopened", target=str(round), by=by,
            after={"closes_at": closes_at.isoformat()},
        )  # fmt: skip
    return round


ANALYSIS = "analysis"


def analysis_policy() -> jobs.Policy:
    return jobs.policy(ANALYSIS, lease=300, max_attempts=3)


def analysis_request(*, round: Round, by: Actor = None, force: bool = False) -> AnalysisJob:
    """Queue the analysis of a closed (or, with ``force``, an analysed) round. A request
    while one is already waiting or running returns that one."""
    from rounds import tasks  # tasks import services: keep the cycle out of import time

    if round.state not in (Round.State.CLOSED, Round.State.ANALYSED):
        raise TransitionError(_("Only a closed round can be analysed."))
    pending = round.analysis_jobs.filter(
        status__in=[AnalysisJob.Status.QUEUED, AnalysisJob.Status.RUNNING]
    ).first()
    if pending is not None:
        return pending
    job = AnalysisJob.objects.create(
        round=round,
        force=force or round.state == Round.State.ANALYSED,
        requested_by=by if isinstance(by, User) else None,
    )
    job_id = job.pk
    jobs.publish_on_commit(
        lambda: tasks.run_analysis.delay(job_id), model=AnalysisJob, pks=[job_id]
    )
    return job


def analysis_run(*, job_id: int) -> AnalysisJob | None:
    """What a worker does with an analysis job: claim it, analyse, record the outcome.

    The results and the job's "done" commit together, so a worker killed at any point
    leaves either nothing or everything; the tick gives a dead worker's job to another."""
    if not jobs.claim(AnalysisJob, pk=job_id, policy=analysis_policy()):
        return AnalysisJob.objects.filter(pk=job_id).first()
    job = AnalysisJob.objects.select_related("round__study").get(pk=job_id)
    _pause_for_fault_tests()
    try:
        with transaction.atomic():
            round_analyse(round_id=job.round_id, force=job.force)
            if not jobs.finish(AnalysisJob, pk=job.pk, finished_at=timezone.now()):
                raise TransitionError("lost the lease on the analysis job")
    except AnalysisImpossibleError as exc:
        jobs.fail(AnalysisJob, pk=job.pk, reason=str(exc), finished_at=timezone.now())
        audit_record(
            study=job.round.study, action="round.analysis_failed", target=str(job.round),
            after={"reason": str(exc)},
        )  # fmt: skip
    except Exception as exc:
        logger.exception("analysis of %s failed", job.round)
        reason = f"{type(exc).__name__}: {exc}"
        if job.attempts + 1 >= analysis_policy().max_attempts:
            jobs.fail(AnalysisJob, pk=job.pk, reason=reason, finished_at=timezone.now())
        else:
            jobs.retry_later(AnalysisJob, pk=job.pk, reason=reason, delay=jobs.backoff(1))
    return AnalysisJob.objects.filter(pk=job_id).first()


def _pause_for_fault_tests() -> None:
    """Hold a claimed job for a while, so a test can kill the worker in the middle of it."""
    seconds = float(getattr(settings, "DELPHI_JOB_PAUSE_SECONDS", 0) or 0)
    if seconds:
        time.sleep(seconds)


def round_analyse(*, round_id: int, force: bool = False) -> Round:
    """Compute and store a closed round's results. Idempotent: a second run changes nothing
    (or, with ``force``, replaces the results with identical ones under a new version).

    Raises AnalysisImpossibleError when there is nothing to analyse (nobody submitted)."""
    with transaction.atomic():
        round = Round.objects.select_for_update().select_related("study").get(pk=round_id)
        if round.state == Round.State.ANALYSED and not force:
            return round
        if round.state not in (Round.State.CLOSED, Round.State.ANALYSED):
            raise TransitionError(
                _("Round %(n)d is %(state)s; only a closed round can be analysed.")
                % {"n": round.number, "state": round.get_state_display()}
            )
        study = round.study
        _check_analysable(round)
        numbers = [n for n in (round.number - 1, round.number) if n >= 1]
        ratings = selectors.ratings_frame(study=study, rounds=numbers)
        try:
            analysis = consensus.analyse(
                ratings, selectors.criterion_settings(study), study.protocol.decision_rule()
            )
        except ValueError as exc:
            raise AnalysisImpossibleError(
                _("Round %(n)d cannot be analysed: %(problem)s")
                % {"n": round.number, "problem": exc}
            ) from exc
        _store_results(round, analysis)
        _store_decisions(round, analysis.decisions)
        now = timezone.now()
        round.state = Round.State.ANALYSED
        round.analysed_at = now
        round.analysis_version += 1
        round.save(update_fields=["state", "analysed_at", "analysis_version"])
        RoundAnalysis.objects.update_or_create(
            round=round,
            defaults={
                "version": round.analysis_version,
                "computed_at": now,
                "kendall": _records(analysis.kendall[analysis.kendall["round"] == round.number]),
                "protocol_hash": protocol_hash(study.protocol),
                "data_checksum": selectors.data_checksum(ratings[ratings["round"] == round.number]),
                "software_version": __version__,
            },
        )
        audit_record(study=study, action="round.analysed", target=str(round))
        study_advance(study=study, after=round)
    return round


def _check_analysable(round: Round) -> None:
    if round.study.protocol.realtime:  # every saved answer counts (rounds.realtime)
        submitted = Rating.objects.filter(round_item__round=round).exists()
    else:
        submitted = Participation.objects.filter(
            round=round, status=Participation.Status.SUBMITTED
        ).exists()
    if not submitted:
        raise AnalysisImpossibleError(
            _(
                "Nobody submitted round %(n)d, so there is nothing to analyse. Reopen the "
                "round with a new deadline, or end the study."
            )
            % {"n": round.number}
        )


def study_advance(*, study: Study, after: Round) -> None:
    """Apply the stopping rule after a round's analysis: finish, or prepare the next round."""
    carried = after.decisions.filter(decision=ItemDecision.Decision.CARRIED).count()
    # A real-time study has one open period: its close is the end.
    if carried and after.number < study.protocol.max_rounds and not study.protocol.realtime:
        if not study.rounds.filter(number=after.number + 1).exists():
            round_create(study=study)
        return
    after.decisions.filter(decision=ItemDecision.Decision.CARRIED).update(
        decision=ItemDecision.Decision.NO_CONSENSUS, computed=ItemDecision.Decision.NO_CONSENSUS
    )
    study_finish(study=study)


def study_finish(*, study: Study, by: Actor = None) -> Study:
    if study.status == Study.Status.FINISHED:
        return study
    if study.rounds.exclude(state=Round.State.ANALYSED).exists():
        raise TransitionError(_("Every round must be analysed before the study is finished."))
    study.status = Study.Status.FINISHED
    study.finished_at = timezone.now()
    study.save(update_fields=["status", "finished_at"])
    audit_record(study=study, action="study.finished", target=study.slug, by=by)
    return study


def _clean(value: Any) -> Any:
    """JSON-safe scalars: NaN/NA become None, numpy types become Python types."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    if isinstance(value, tuple):
        return [_clean(v) for v in value]
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _store_results(round: Round, analysis: consensus.Analysis) -> None:
    results = analysis.results[analysis.results["round"] == round.number]
    stability = analysis.stability
    if len(stability):
        stability = stability[stability["round"] == round.number]
    stability_by_key = {(r["item"], r["criterion"]): r for r in _records(stability)}
    all_rules = analysis.all_rules[analysis.all_rules["round"] == round.number]
    rules_by_key = {(r["item"], r["criterion"]): r for r in _records(all_rules)}
    round_items = {ri.item.code: ri for ri in round.round_items.select_related("item")}
    criteria = {c.code: c for c in round.study.criteria.all()}
    Result.objects.filter(round=round).delete()
    rows = []
    for rec in _records(results):
        key = (rec["item"], rec["criterion"])
        if rec["item"] not in round_items or rec["criterion"] not in criteria:
            continue
        rows.append(
            Result(
                round=round,
                round_item=round_items[rec["item"]],
                criterion=criteria[rec["criterion"]],
                **{f: rec[f] for f in _RESULT_FIELDS},
                rand_class=rec["rand_class"] or "",
                margin=rec["margin"],
                counts=rec["counts"],
                stats={k: v for k, v in rec.items() if k != "counts"},
                stability=_without_keys(stability_by_key.get(key, {})),
                all_rules=_without_keys(rules_by_key.get(key, {})),
            )
        )
    Result.objects.bulk_create(rows)


_RESULT_FIELDS = (
    "n", "n_missing", "mean", "sd", "median", "q1", "q3", "iqr",
    "pct_low", "pct_mid", "pct_high", "rule", "consensus",
)  # fmt: skip


def _without_keys(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in {"round", "item", "criterion"}}


def _store_decisions(round: Round, decisions: pd.DataFrame) -> None:
    """Write each item's computed decision; keep a coordinator's recorded override."""
    computed = {
        rec["item"]: rec["decision"]
        for rec in _records(decisions[decisions["round"] == round.number])
    }
    existing = {d.round_item_id: d for d in ItemDecision.objects.filter(round=round)}
    for ri in round.round_items.select_related("item"):
        value = computed.get(ri.item.code, ItemDecision.Decision.CARRIED)
        decision = existing.get(ri.pk)
        if decision is None:
            ItemDecision.objects.create(round=round, round_item=ri, computed=value, decision=value)
        elif decision.computed != value:
            decision.computed = value
            if not decision.override_reason:
                decision.decision = value
            decision.save(update_fields=["computed", "decision"])


def round_schedule(
    *,
    round: Round,
    opens_at: datetime | None,
    closes_at: datetime | None,
    by: Actor = None,
    now: datetime | None = None,
) -> Round:
    """Set when a draft round opens and closes; the periodic tick does the rest."""
    now = now or timezone.now()
    if round.state != Round.State.DRAFT:
        raise TransitionError(_("Only a draft round can be scheduled; move its deadline instead."))
    if closes_at is not None and closes_at <= (opens_at or now):
        raise TransitionError(_("The deadline must come after the opening time."))
    if opens_at is not None and opens_at < now - timedelta(minutes=1):
        raise TransitionError(_("The opening time is in the past; choose a later time."))
    before = _times(round)
    round.opens_at, round.closes_at = opens_at, closes_at
    with transaction.atomic():
        round.save(update_fields=["opens_at", "closes_at"])
        audit_record(
            study=round.study, action="round.scheduled", target=str(round), by=by,
            before=before, after=_times(round),
        )  # fmt: skip
    return round


def round_set_deadline(
    *, round: Round, closes_at: datetime, by: Actor = None, now: datetime | None = None
) -> Round:
    """Move the deadline of a draft or open round (extend it, usually)."""
    now = now or timezone.now()
    if round.state not in (Round.State.DRAFT, Round.State.OPEN):
        raise TransitionError(_("The round is closed; its deadline can no longer move."))
    if closes_at <= now:
        raise TransitionError(_("The new deadline is in the past; choose a later time."))
    before = _times(round)
    round.closes_at = closes_at
    with transaction.atomic():
        round.save(update_fields=["closes_at"])
        audit_record(
            study=round.study, action="round.deadline_moved", target=str(round), by=by,
            before=before, after=_times(round),
        )  # fmt: skip
    return round


def _times(round: Round) -> dict[str, str | None]:
    return {
        "opens_at": round.opens_at.isoformat() if round.opens_at else None,
        "closes_at": round.closes_at.isoformat() if round.closes_at else None,
    }


def rounds_tick(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic job: open scheduled rounds, close rounds at their deadline, and see to
    the analyses (publish again those whose message or worker was lost). Safe to run
    concurrently: every change claims its row first."""
    now = now or timezone.now()
    done = {"opened": 0, "closed": 0, "analyses": 0}
    for round in Round.objects.filter(state=Round.State.DRAFT, opens_at__lte=now):
        try:
            round_open(round=round, now=now)
            done["opened"] += 1
        except TransitionError as exc:
            logger.warning("Scheduled opening of %s refused: %s", round, exc)
    for round in Round.objects.filter(state=Round.State.OPEN, closes_at__lte=now):
        try:
            round_close(round=round, now=now)
            done["closed"] += 1
        except TransitionError:
            pass  # closed by someone else meanwhile
    done["analyses"] = analyses_sweep(now=now)
    done["round0_closed"] = proposal_rounds_tick(now=now)
    done["snapshots"] = realtime.snapshots_tick(now=now)
    return done


def proposal_round_close(
    *, proposal_round: ProposalRound, by: Actor = None, now: datetime | None = None
) -> ProposalRound:
    """Close an open round 0 (by hand, or at its deadline); the rest is in rounds.proposals."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = ProposalRound.objects.filter(
            pk=proposal_round.pk, state=ProposalRound.State.OPEN
        ).update(state=ProposalRound.State.CLOSED, closed_at=now)
        if not claimed:
            raise TransitionError(_("Round 0 is not open."))
        proposal_round.refresh_from_db()
        audit_record(study=proposal_round.study, action="round0.closed", target="round 0", by=by)
    return proposal_round


def proposal_rounds_tick(*, now: datetime | None = None) -> int:
    """Close every round 0 whose deadline has passed."""
    now = now or timezone.now()
    closed = 0
    for proposal_round in ProposalRound.objects.filter(
        state=ProposalRound.State.OPEN, closes_at__lte=now
    ).select_related("study"):
        try:
            proposal_round_close(proposal_round=proposal_round, now=now)
        except TransitionError:
            continue  # closed by someone else meanwhile
        closed += 1
    return closed


def analyses_sweep(*, now: datetime | None = None) -> int:
    """Queue an analysis for a closed round that has none (closed before jobs existed), and
    publish again the analyses that wait unclaimed or whose worker died."""
    from rounds import tasks

    for round in Round.objects.filter(state=Round.State.CLOSED).exclude(
        analysis_jobs__status__in=[
            AnalysisJob.Status.QUEUED, AnalysisJob.Status.RUNNING, AnalysisJob.Status.FAILED
        ]
    ):  # fmt: skip
        with transaction.atomic():
            analysis_request(round=round)
    swept = jobs.sweep(
        AnalysisJob, policy=analysis_policy(), send=lambda pk: tasks.run_analysis.delay(pk),
        now=now,
    )  # fmt: skip
    return len(swept.published)


def decision_override(
    *, decision: ItemDecision, value: str, reason: str, by: Actor = None
) -> ItemDecision:
    """A coordinator's recorded override of an item's disposition (a reason is required)."""
    if not reason.strip():
        raise DomainError(_("Give a reason for overriding the computed decision."))
    if value not in ItemDecision.Decision.values:
        raise DomainError(_("Unknown decision %(value)s.") % {"value": value})
    round = decision.round
    next_round = round.study.rounds.filter(number=round.number + 1).first()
    if next_round is not None and next_round.state != Round.State.DRAFT:
        raise TransitionError(
            _("The next round has opened; decisions of round %(n)d can no longer change.")
            % {"n": round.number}
        )
    before = decision.decision
    with transaction.atomic():
        decision.decision = value
        decision.override_reason = reason.strip()
        decision.overridden_by = by if isinstance(by, User) else None
        decision.save(update_fields=["decision", "override_reason", "overridden_by"])
        if next_round is not None:
            _sync_next_round(decision, next_round)
        audit_record(
            study=round.study, action="decision.overridden", target=str(decision.round_item),
            by=by, before={"decision": before}, after={"decision": value}, reason=reason,
        )  # fmt: skip
    return decision


def _sync_next_round(decision: ItemDecision, next_round: Round) -> None:
    """Put an item into the draft next round, or take it out, after its decision changed."""
    ri = decision.round_item
    present = next_round.round_items.filter(item_id=ri.item_id)
    if decision.decision == ItemDecision.Decision.CARRIED:
        if not present.exists():
            RoundItem.objects.create(
                round=next_round, item_id=ri.item_id, text=ri.text, position=ri.position
            )
    else:
        present.delete()


def _unanswered(round: Round) -> bool:
    """A closed round that nobody submitted: it cannot be analysed, and need not be."""
    return (
        round.state == Round.State.CLOSED
        and not round.participations.filter(status=Participation.Status.SUBMITTED).exists()
    )


def study_end_after_round(*, study: Study, by: Actor = None, reason: str = "") -> Study:
    """End a study by the coordinators' decision once its last round is analysed (e.g. the
    remaining items will not converge), or closed unanswered: no further round; the draft
    the analysis prepared for the next round, never shown to the panel, is removed. Items
    still carried over stay undecided. The study is then finished, like `study_finish`."""
    if not reason.strip():
        raise DomainError(_("Give the reason for ending the study; the report states it."))
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.status == Study.Status.FINISHED:
            raise TransitionError(_("The study is already finished."))
        rounds = list(study.rounds.order_by("number"))
        drafts = [r for r in rounds if r.state == Round.State.DRAFT]
        ran = [r for r in rounds if r.state != Round.State.DRAFT and not _unanswered(r)]
        if not ran or any(r.state != Round.State.ANALYSED for r in ran):
            raise TransitionError(
                _("A study can end only once its last round is closed and analysed.")
            )
        for draft in drafts:
            draft.delete()
        study.status = Study.Status.FINISHED
        study.finished_at = timezone.now()
        study.save(update_fields=["status", "finished_at"])
        audit_record(
            study=study, action="study.ended", target=study.slug, by=by, reason=reason,
            after={"after_round": ran[-1].number, "drafts_removed": len(drafts)},
        )  # fmt: skip
    return study
