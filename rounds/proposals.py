"""Round 0, the proposals round: its life (add, open, close), the panel's answers and
proposals (saved as they are typed), and the coordinator's decisions on each proposal.

An accepted proposal becomes an item of round 1 with source "proposed by the panel" and its
proposal numbers as reference (never the proposer); merged proposals follow the one they
joined; a declined one keeps the reason, which its proposer reads on their own page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rounds import signals
from rounds.errors import DomainError, TransitionError
from rounds.models import Item, Panelist, Round, Study, translated
from rounds.proposal_models import (
    ANSWER_MAX,
    REASON_MAX,
    TEXT_MAX,
    Proposal,
    ProposalAnswer,
    ProposalConsent,
    ProposalRound,
)
from rounds.services import Actor, audit_record
from rounds.services import proposal_round_close as proposal_round_close
from rounds.services import proposal_rounds_tick as proposal_rounds_tick

# --------------------------------------------------------------------------- domains


@dataclass(frozen=True)
class Domain:
    """A domain of the study's items: `key` is its name in the report language (what is
    stored with answers and proposals), `names` its name per language."""

    key: str
    names: dict[str, str]

    def label(self, study: Study, language: str | None) -> str:
        return translated(self.names, language, study.fallbacks) or _("General")


def domains(study: Study) -> list[Domain]:
    """The study's domains in item order; one general domain when the items have none."""
    found: dict[str, Domain] = {}
    for names in study.items.order_by("position", "code").values_list("domain", flat=True):
        key = translated(names, study.report_language, study.fallbacks)
        if key not in found:
            found[key] = Domain(key=key, names=dict(names or {}))
    return list(found.values()) or [Domain(key="", names={})]


def domain_names(study: Study) -> dict[str, dict[str, str]]:
    return {d.key: d.names for d in domains(study)}


# --------------------------------------------------------------------------- the round


def proposal_round_add(*, study: Study, by: Actor = None) -> ProposalRound:
    """Give a study a round 0, before round 1 opens."""
    if study.rounds.exclude(state=Round.State.DRAFT).exists():
        raise TransitionError(_("Round 1 has opened; a round 0 can only come before it."))
    with transaction.atomic():
        found, created = ProposalRound.objects.get_or_create(study=study)
        if created:
            audit_record(study=study, action="round0.added", target="round 0", by=by)
    return found


def proposal_round_remove(*, proposal_round: ProposalRound, by: Actor = None) -> None:
    if proposal_round.state != ProposalRound.State.DRAFT:
        raise TransitionError(_("Round 0 has opened; it stays part of the study."))
    with transaction.atomic():
        study = proposal_round.study
        proposal_round.delete()
        audit_record(study=study, action="round0.removed", target="round 0", by=by)


def proposal_round_set_question(
    *, proposal_round: ProposalRound, texts: dict[str, str], by: Actor = None
) -> ProposalRound:
    clean = {code: (texts.get(code) or "").strip() for code in proposal_round.study.languages}
    clean = {code: text for code, text in clean.items() if text}
    if any(len(text) > 500 for text in clean.values()):
        raise DomainError(_("Keep the question under 500 characters."))
    with transaction.atomic():
        before = dict(proposal_round.question)
        proposal_round.question = clean
        proposal_round.save(update_fields=["question"])
        audit_record(
            study=proposal_round.study, action="round0.question", target="round 0", by=by,
            before=before, after=clean,
        )  # fmt: skip
    return proposal_round


def proposal_round_open(
    *,
    proposal_round: ProposalRound,
    closes_at: datetime | None = None,
    by: Actor = None,
    now: datetime | None = None,
    notify: bool = True,
) -> ProposalRound:
    """Open round 0 to every panelist of the study; with ``notify``, each is invited by
    e-mail (recorded in this transaction, sent once it commits)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = ProposalRound.objects.select_for_update().select_related("study")
        proposal_round = locked.get(pk=proposal_round.pk)
        study = proposal_round.study
        if proposal_round.state != ProposalRound.State.DRAFT:
            raise TransitionError(_("Round 0 is already open or closed."))
        if study.rounds.exclude(state=Round.State.DRAFT).exists():
            raise TransitionError(_("Round 1 has opened; round 0 can no longer open."))
        if closes_at is not None and closes_at <= now:
            raise TransitionError(_("The round's deadline is in the past; move it first."))
        panel = list(
            Panelist.objects.filter(study=study, erased_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        if not panel:
            raise TransitionError(_("The study has no panelists yet; import the panel first."))
        proposal_round.state = ProposalRound.State.OPEN
        proposal_round.opened_at = now
        proposal_round.closes_at = closes_at
        proposal_round.invited = len(panel)
        proposal_round.save(update_fields=["state", "opened_at", "closes_at", "invited"])
        if notify:
            signals.proposals_invitations_requested.send(
                sender=ProposalRound, proposal_round=proposal_round, panelist_ids=panel
            )
        audit_record(
            study=study, action="round0.opened", target="round 0", by=by,
            after={"closes_at": closes_at.isoformat() if closes_at else None,
                   "invited": len(panel)},
        )  # fmt: skip
    return proposal_round


def not_answered(proposal_round: ProposalRound) -> list[int]:
    """The panelists invited to round 0 (the panel when it opened and those added while it
    took proposals, not erased since) who have neither answered an open question nor made a
    proposal: whom a reminder reaches (reminders go out only while round 0 takes proposals,
    so every panelist of the study then was invited)."""
    if proposal_round.opened_at is None:
        return []
    answered = Q(proposal_answers__proposal_round=proposal_round) & ~Q(proposal_answers__text="")
    proposed = Q(proposals__proposal_round=proposal_round)
    invited = Panelist.objects.filter(study_id=proposal_round.study_id, erased_at__isnull=True)
    if proposal_round.closes_at is not None:
        invited = invited.filter(created_at__lte=proposal_round.closes_at)
    return list(
        invited.exclude(pk__in=Panelist.objects.filter(answered | proposed).values("pk"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def consent_given(proposal_round: ProposalRound, panelist: Panelist) -> bool:
    return ProposalConsent.objects.filter(proposal_round=proposal_round, panelist=panelist).exists()


def consent_give(
    *, proposal_round: ProposalRound, panelist: Panelist, now: datetime | None = None
) -> None:
    """Record a panelist's consent, asked at round 0's first visit like round 1's welcome
    page asks it; round 1 takes it over when it opens (`rounds.services.round_open`)."""
    if not takes_answers(proposal_round):
        raise TransitionError(_("Round 0 is closed; your saved answers and proposals are kept."))
    ProposalConsent.objects.get_or_create(
        proposal_round=proposal_round, panelist=panelist,
        defaults={"consented_at": now or timezone.now()},
    )  # fmt: skip


def takes_answers(proposal_round: ProposalRound | None, now: datetime | None = None) -> bool:
    if proposal_round is None or proposal_round.state != ProposalRound.State.OPEN:
        return False
    now = now or timezone.now()
    return proposal_round.closes_at is None or proposal_round.closes_at > now


# --------------------------------------------------------------------------- the panel


@dataclass(frozen=True)
class Answer:
    """A panelist's answer to a domain's open question; ``field`` names its form field."""

    domain: str
    text: str
    field: str = ""


@dataclass(frozen=True)
class Draft:
    """A proposal as typed by a panelist: new (pk None), or a change to one of theirs.
    ``field`` is the prefix of its form fields (``<field>text``, ``<field>reason``)."""

    domain: str
    text: str
    reason: str
    pk: int | None = None
    withdraw: bool = False
    field: str = ""


class ProposalProblems(DomainError):
    """What is wrong with what a panelist typed, per form field; the rest was saved."""

    def __init__(self, problems: dict[str, str], made: int = 0) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems
        self.made = made


def check_draft(draft: Draft, known_domains: set[str]) -> dict[str, str]:
    """The problems of one draft, keyed by form field (its prefix + text/reason/domain)."""
    if draft.withdraw:
        return {}
    problems: dict[str, str] = {}
    prefix, text, reason = draft.field, draft.text.strip(), draft.reason.strip()
    if draft.domain not in known_domains:
        problems[prefix + "domain"] = _("Choose one of the study's domains.")
    if not text and reason and draft.pk is None:
        problems[prefix + "text"] = _("Write the action you propose, or clear the reason.")
    elif len(text) > TEXT_MAX:
        problems[prefix + "text"] = _(
            "Keep the proposed action under %(n)d characters (it has %(len)d)."
        ) % {"n": TEXT_MAX, "len": len(text)}
    elif text and len(text) < 10:
        problems[prefix + "text"] = _(
            "Describe the action in a full sentence (at least 10 characters)."
        )
    if text and not reason:
        problems[prefix + "reason"] = _(
            "Say in a few words why this action matters; the coordinators read it."
        )
    elif len(reason) > REASON_MAX:
        problems[prefix + "reason"] = _(
            "Keep the reason under %(n)d characters (it has %(len)d)."
        ) % {"n": REASON_MAX, "len": len(reason)}
    return problems


def panel_save(
    *,
    proposal_round: ProposalRound,
    panelist: Panelist,
    answers: list[Answer],
    drafts: list[Draft],
    language: str = "",
) -> int:
    """Save a panelist's answers and proposals in round 0, like the rating pages: what is
    sound is saved; if anything is not, `ProposalProblems` names each problem per field
    (after the rest is saved, with ``made`` new proposals). Returns how many proposals were
    made. Emptying an undecided proposal's text withdraws it."""
    if not takes_answers(proposal_round):
        raise TransitionError(_("Round 0 is closed; your saved answers and proposals are kept."))
    known = {d.key for d in domains(proposal_round.study)}
    problems: dict[str, str] = {}
    for answer in answers:
        if answer.domain not in known:
            problems[answer.field] = _("Choose one of the study's domains.")
        elif len(answer.text.strip()) > ANSWER_MAX:
            problems[answer.field] = _(
                "Keep your answer under %(n)d characters (it has %(len)d)."
            ) % {"n": ANSWER_MAX, "len": len(answer.text.strip())}
    mine = {p.pk: p for p in Proposal.objects.filter(proposal_round=proposal_round,
                                                     panelist=panelist)}  # fmt: skip
    sound: list[Draft] = []
    for draft in drafts:
        if draft.pk is not None and draft.pk not in mine:
            problems[draft.field + "text"] = _("This proposal is not yours.")
        elif draft.pk is None or mine[draft.pk].status == Proposal.Status.PENDING:
            found = check_draft(draft, known)
            problems.update(found)
            if not found:
                sound.append(draft)
    with transaction.atomic():
        for answer in answers:
            if answer.field in problems:
                continue
            ProposalAnswer.objects.update_or_create(
                proposal_round=proposal_round, panelist=panelist, domain=answer.domain,
                defaults={"text": answer.text.strip()},
            )  # fmt: skip
        made = _save_drafts(proposal_round, panelist, sound, mine, language)
    if problems:
        raise ProposalProblems(problems, made=made)
    return made


def _save_drafts(
    proposal_round: ProposalRound,
    panelist: Panelist,
    drafts: list[Draft],
    mine: dict[int, Proposal],
    language: str,
) -> int:
    made = 0
    for draft in drafts:
        text, reason = draft.text.strip(), draft.reason.strip()
        if draft.pk is None:
            if text:
                _proposal_create(proposal_round, panelist, draft.domain, text, reason, language)
                made += 1
            continue
        proposal = mine[draft.pk]
        if proposal.status != Proposal.Status.PENDING:
            continue
        if draft.withdraw or not text:
            proposal.delete()
        elif (proposal.text, proposal.reason, proposal.domain) != (text, reason, draft.domain):
            proposal.text, proposal.reason, proposal.domain = text, reason, draft.domain
            proposal.save(update_fields=["text", "reason", "domain", "updated_at"])
    return made


def _proposal_create(
    proposal_round: ProposalRound,
    panelist: Panelist,
    domain: str,
    text: str,
    reason: str,
    language: str,
) -> Proposal:
    # Numbers are never reused: lock the round row while taking the next one.
    ProposalRound.objects.select_for_update().filter(pk=proposal_round.pk).first()
    top = Proposal.objects.filter(proposal_round=proposal_round).aggregate(top=Max("number"))
    return Proposal.objects.create(
        proposal_round=proposal_round, number=(top["top"] or 0) + 1, panelist=panelist,
        domain=domain, text=text, reason=reason, language=language,
    )  # fmt: skip


# --------------------------------------------------------------------------- decisions


def _decidable(proposal: Proposal) -> Round | None:
    """Round 1 (a draft) if it exists; raise if decisions can no longer change it."""
    study = proposal.proposal_round.study
    if proposal.proposal_round.state == ProposalRound.State.DRAFT:
        raise TransitionError(_("Round 0 has not opened yet."))
    round_1 = study.rounds.filter(number=1).first()
    if round_1 is not None and round_1.state != Round.State.DRAFT:
        raise TransitionError(_("Round 1 has opened; decisions on proposals are final."))
    if proposal.status != Proposal.Status.PENDING:
        raise TransitionError(
            _("%(label)s is already decided (%(status)s).")
            % {"label": proposal.label, "status": proposal.get_status_display()}
        )
    return round_1


def _need_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise DomainError(_("Give a reason; the proposer reads it on their own page."))
    if len(reason) > REASON_MAX:
        raise DomainError(_("Keep the reason under %(n)d characters.") % {"n": REASON_MAX})
    return reason


def proposal_accept(
    *,
    proposal: Proposal,
    code: str,
    texts: dict[str, str],
    reason: str = "",
    also: list[Proposal] | None = None,
    by: Actor = None,
) -> Item:
    """Make the proposal (reworded in every language: ``texts``) an item of round 1 with
    the lineage "proposed by the panel". ``also``: similar pending proposals merged into it."""
    from rounds import item_services

    round_1 = _decidable(proposal)
    also = [p for p in (also or []) if p.pk != proposal.pk]
    for other in also:
        if other.proposal_round_id != proposal.proposal_round_id:
            raise DomainError(_("Merge only proposals of the same round 0."))
        _decidable(other)
    study = proposal.proposal_round.study
    numbers = [proposal.label, *(p.label for p in also)]
    domain = domain_names(study).get(proposal.domain, {})
    now = timezone.now()
    with transaction.atomic():
        if round_1 is not None:
            item = item_services.item_add(
                round=round_1, code=code, texts=texts, domain=domain, by=by, reason=reason,
                action="item.proposed", source=Item.Source.PANEL,
                reference=_reference(numbers),
            ).item  # fmt: skip
        else:
            item = item_services.item_create(
                study=study, code=code, texts=texts, domain=domain, by=by, reason=reason,
                action="item.proposed", source=Item.Source.PANEL,
                reference=_reference(numbers),
            )  # fmt: skip
        Proposal.objects.filter(pk=proposal.pk).update(
            status=Proposal.Status.ACCEPTED, item=item, decision_reason=reason.strip(),
            decided_at=now, decided_by=_user(by),
        )  # fmt: skip
        for other in also:
            _merge(other, proposal, reason or _("Merged with a similar proposal."), by, now)
        audit_record(
            study=study, action="proposal.accepted", target=proposal.label, by=by,
            after={"item": item.code, "merged": numbers[1:]}, reason=reason,
        )  # fmt: skip
    proposal.refresh_from_db()
    return item


def _reference(numbers: list[str]) -> str:
    return _("Round 0 proposal %(numbers)s") % {"numbers": ", ".join(numbers)}


def _user(by: Actor) -> object | None:
    return by if getattr(by, "is_authenticated", False) else None


def _merge(proposal: Proposal, into: Proposal, reason: str, by: Actor, now: datetime) -> None:
    Proposal.objects.filter(pk=proposal.pk).update(
        status=Proposal.Status.MERGED, merged_into=into, decision_reason=reason.strip(),
        decided_at=now, decided_by=_user(by),
    )  # fmt: skip
    audit_record(
        study=into.proposal_round.study, action="proposal.merged", target=proposal.label,
        by=by, after={"into": into.label}, reason=reason,
    )  # fmt: skip


def proposal_merge(
    *, proposal: Proposal, into: Proposal, reason: str = "", by: Actor = None
) -> Proposal:
    """Fold a duplicate into another proposal (pending or accepted): it shares that one's
    fate, and its proposer reads which one and why."""
    _decidable(proposal)
    if into.pk == proposal.pk or into.proposal_round_id != proposal.proposal_round_id:
        raise DomainError(_("Choose another proposal of this round 0 to merge with."))
    if into.status not in (Proposal.Status.PENDING, Proposal.Status.ACCEPTED):
        raise DomainError(
            _("%(label)s was declined or merged itself; merge with a proposal that stands.")
            % {"label": into.label}
        )
    reason = reason.strip() or _("It says the same as %(label)s.") % {"label": into.label}
    with transaction.atomic():
        _merge(proposal, into, reason, by, timezone.now())
        if into.item_id is not None:
            Item.objects.filter(pk=into.item_id).update(
                reference=_reference(
                    [into.label, *(p.label for p in into.merged.order_by("number"))]
                )
            )
    proposal.refresh_from_db()
    return proposal


def proposal_decline(*, proposal: Proposal, reason: str, by: Actor = None) -> Proposal:
    _decidable(proposal)
    reason = _need_reason(reason)
    with transaction.atomic():
        Proposal.objects.filter(pk=proposal.pk).update(
            status=Proposal.Status.DECLINED, decision_reason=reason,
            decided_at=timezone.now(), decided_by=_user(by),
        )  # fmt: skip
        audit_record(
            study=proposal.proposal_round.study, action="proposal.declined",
            target=proposal.label, by=by, reason=reason,
        )  # fmt: skip
    proposal.refresh_from_db()
    return proposal


def proposal_reopen(*, proposal: Proposal, by: Actor = None) -> Proposal:
    """Undo a merge, a decline or an acceptance while round 1 has not opened. Undoing an
    acceptance removes the item it became (nobody has rated it yet); the proposals merged
    into it stay merged with it, and come back with it if it is accepted again."""
    decided = (Proposal.Status.MERGED, Proposal.Status.DECLINED, Proposal.Status.ACCEPTED)
    if proposal.status not in decided:
        raise DomainError(_("Only a decided proposal can be reconsidered."))
    round_1 = proposal.proposal_round.study.rounds.filter(number=1).first()
    if round_1 is not None and round_1.state != Round.State.DRAFT:
        raise TransitionError(_("Round 1 has opened; decisions on proposals are final."))
    with transaction.atomic():
        before: dict[str, str] = {"status": proposal.status, "reason": proposal.decision_reason}
        item = proposal.item if proposal.status == Proposal.Status.ACCEPTED else None
        Proposal.objects.filter(pk=proposal.pk).update(
            status=Proposal.Status.PENDING, merged_into=None, item=None, decision_reason="",
            decided_at=None, decided_by=None,
        )  # fmt: skip
        if item is not None:
            before["item"] = item.code
            item.delete()  # with its place in the draft round 1
        audit_record(
            study=proposal.proposal_round.study, action="proposal.reopened",
            target=proposal.label, by=by, before=before,
        )  # fmt: skip
    proposal.refresh_from_db()
    return proposal


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Flow:
    """Round 0 in the participant flow."""

    invited: int
    answered: int
    proposals: int
    accepted: int
    merged: int
    declined: int
    items: int


def flow(proposal_round: ProposalRound) -> Flow:
    """Invited, who answered (an answer or a proposal), proposals made and their fates, and
    the items of round 1 they became; three queries."""
    answered = Panelist.objects.filter(
        Q(proposal_answers__proposal_round=proposal_round) & ~Q(proposal_answers__text="")
        | Q(proposals__proposal_round=proposal_round)
    ).distinct()
    counts = proposal_round.proposals.aggregate(
        total=Count("pk"),
        accepted=Count("pk", filter=Q(status=Proposal.Status.ACCEPTED)),
        merged=Count("pk", filter=Q(status=Proposal.Status.MERGED)),
        declined=Count("pk", filter=Q(status=Proposal.Status.DECLINED)),
        items=Count("item", distinct=True),
    )
    return Flow(
        invited=proposal_round.invited,
        answered=answered.count(),
        proposals=counts["total"],
        accepted=counts["accepted"],
        merged=counts["merged"],
        declined=counts["declined"],
        items=counts["items"],
    )


# --------------------------------------------------------------------------- for the report


@dataclass(frozen=True)
class Row:
    """A proposal as the report and the exports show it: a number, never its proposer's
    name (``panelist`` is the pseudonym, for the data files only); texts scrubbed."""

    label: str
    panelist: str
    domain: str
    text: str
    reason: str
    status: str
    outcome: str
    decision_reason: str
    item: str


@dataclass(frozen=True)
class Summary:
    opened_at: datetime | None
    closed_at: datetime | None
    flow: Flow
    rows: list[Row]


def summary(study: Study, scrub: Callable[[str], str], language: str) -> Summary | None:
    """Round 0 of a study for the report (None when it has none, or it never opened)."""
    found = ProposalRound.objects.filter(study=study).first()
    if found is None or found.state == ProposalRound.State.DRAFT:
        return None
    labels = {d.key: d.label(study, language) for d in domains(study)}
    rows = []
    for p in found.proposals.select_related("panelist", "item", "merged_into__item"):
        item = p.outcome_item
        rows.append(Row(
            label=p.label, panelist=p.panelist.pseudonym,
            domain=labels.get(p.domain, p.domain), text=scrub(p.text), reason=scrub(p.reason),
            status=p.status, outcome=str(p.get_status_display()),
            decision_reason=scrub(p.decision_reason), item=item.code if item else "",
        ))  # fmt: skip
    return Summary(found.opened_at, found.closed_at, flow(found), rows)
