"""The coordinator's round 0 page: add, open and close the proposals round; read every
proposal and answer in one place; accept (reworded, with duplicates merged in), merge or
decline each proposal with a reason its proposer reads. Owners and coordinators only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rounds import access, proposals
from rounds.errors import DomainError
from rounds.forms import ReminderScheduleForm
from rounds.models import Proposal, ProposalAnswer, ProposalRound, Round, Study


def _study(request: HttpRequest, slug: str) -> Study:
    return access.get_study_for_user(request.user, slug, access.RUN)


def _back(study: Study) -> HttpResponse:
    return redirect("round0", slug=study.slug)


@login_required
def round0_page(request: HttpRequest, slug: str) -> HttpResponse:
    return _page(request, _study(request, slug))


def _page(request: HttpRequest, study: Study, retry: Retry | None = None) -> HttpResponse:
    """The page; with ``retry``, a refused decision's form open again with what was typed."""
    proposal_round = ProposalRound.objects.filter(study=study).first()
    round_1 = study.rounds.filter(number=1).first()
    context: dict[str, object] = {
        "study": study,
        "proposal_round": proposal_round,
        "can_add": round_1 is None or round_1.state == Round.State.DRAFT,
        "decisions_open": round_1 is None or round_1.state == Round.State.DRAFT,
    }
    if proposal_round is not None:
        context.update(_proposals_context(study, proposal_round, retry))
    return render(request, "rounds/round0.html", context, status=400 if retry else 200)


@dataclass(frozen=True)
class Retry:
    """A decision the service refused, with what the coordinator typed."""

    number: int
    action: str
    post: QueryDict


def _proposals_context(
    study: Study, proposal_round: ProposalRound, retry: Retry | None
) -> dict[str, object]:
    all_proposals = list(proposal_round.proposals.select_related("panelist", "item", "merged_into"))
    for p in all_proposals:
        again = retry if retry is not None and retry.number == p.number else None
        p.form = _typed(p, study, again)  # type: ignore[attr-defined]
    answers = ProposalAnswer.objects.filter(proposal_round=proposal_round).exclude(text="")
    sections = []
    for domain in proposals.domains(study):
        sections.append({
            "label": domain.label(study, None),
            "proposals": [p for p in all_proposals if p.domain == domain.key],
            "answers": [a.text for a in answers.order_by("pk") if a.domain == domain.key],
        })  # fmt: skip
    standing = [p for p in all_proposals if p.status in ("pending", "accepted")]
    reminders = list(proposal_round.reminders.all())
    return {
        "not_answered": len(proposals.not_answered(proposal_round)),
        "reminders": reminders,
        "reminder_form": ReminderScheduleForm(
            initial={"days_before": ", ".join(str(r.days_before) for r in reminders)}
        ),
        "sections": sections,
        "standing": standing,
        "flow": proposals.flow(proposal_round),
        "pending": sum(p.status == Proposal.Status.PENDING for p in all_proposals),
        "study_languages": study.languages,
    }


def _typed(proposal: Proposal, study: Study, retry: Retry | None) -> dict[str, object]:
    """The values of a proposal's decision forms: what was typed when a decision was
    refused, else the defaults (its number as code, its text in the language it was
    written in)."""
    if retry is None:
        wording = [(code, proposal.text if proposal.language == code else "")
                   for code in study.languages]  # fmt: skip
        return {"open": "", "code": proposal.label, "wording": wording, "reason": "",
                "also": [], "into": ""}  # fmt: skip
    post = retry.post
    return {
        "open": retry.action,
        "code": post.get("code", ""),
        "wording": [(code, post.get(f"text_{code}", "")) for code in study.languages],
        "reason": post.get("reason", ""),
        "also": [int(n) for n in post.getlist("also") if n.isdigit()],
        "into": post.get("into", ""),
    }


# --------------------------------------------------------------------------- round 0 itself


def _add(request: HttpRequest, study: Study) -> str:
    proposals.proposal_round_add(study=study, by=request.user)
    return _("Round 0 is added: write its question if you like, then open it.")


def _round(study: Study) -> ProposalRound:
    found = ProposalRound.objects.filter(study=study).first()
    if found is None:
        raise DomainError(_("This study has no round 0."))
    return found


def _remove(request: HttpRequest, study: Study) -> str:
    proposals.proposal_round_remove(proposal_round=_round(study), by=request.user)
    return _("Round 0 is removed.")


def _question(request: HttpRequest, study: Study) -> str:
    texts = {code: request.POST.get(f"question_{code}", "") for code in study.languages}
    proposals.proposal_round_set_question(proposal_round=_round(study), texts=texts,
                                          by=request.user)  # fmt: skip
    return _("The question is saved.")


def _deadline(request: HttpRequest, study: Study) -> datetime | None:
    raw = request.POST.get("closes_at", "").strip()
    if not raw:
        return None
    parsed = parse_datetime(raw)
    if parsed is None:
        raise DomainError(_("Give the deadline as a date and a time, e.g. 2026-03-01 18:00."))
    return parsed.replace(tzinfo=ZoneInfo(study.time_zone)) if parsed.tzinfo is None else parsed


def _open(request: HttpRequest, study: Study) -> str:
    proposals.proposal_round_open(
        proposal_round=_round(study), closes_at=_deadline(request, study), by=request.user
    )
    return _("Round 0 is open; the invitations are on their way.")


def _close(request: HttpRequest, study: Study) -> str:
    proposals.proposal_round_close(proposal_round=_round(study), by=request.user)
    return _("Round 0 is closed. Decide on the remaining proposals before round 1 opens.")


ROUND_ACTIONS: dict[str, Callable[[HttpRequest, Study], str]] = {
    "add": _add, "remove": _remove, "question": _question, "open": _open, "close": _close,
}  # fmt: skip


@login_required
@require_POST
def round0_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    study = _study(request, slug)
    handler = ROUND_ACTIONS.get(action)
    try:
        if handler is None:
            raise DomainError(_("Unknown action."))
        messages.success(request, handler(request, study))
    except DomainError as exc:
        messages.error(request, str(exc))
    return _back(study)


# --------------------------------------------------------------------------- decisions


def _proposal(study: Study, number: int | str) -> Proposal:
    try:
        found = Proposal.objects.select_related("proposal_round__study").filter(
            proposal_round__study=study, number=int(number)
        )
    except ValueError:
        found = Proposal.objects.none()
    first = found.first()
    if first is None:
        raise DomainError(_("There is no such proposal in this study."))
    return first


def _accept(request: HttpRequest, proposal: Proposal) -> str:
    study = proposal.proposal_round.study
    texts = {code: request.POST.get(f"text_{code}", "") for code in study.languages}
    also = [_proposal(study, n) for n in request.POST.getlist("also")]
    item = proposals.proposal_accept(
        proposal=proposal, code=request.POST.get("code", ""), texts=texts,
        reason=request.POST.get("reason", ""), also=also, by=request.user,
    )  # fmt: skip
    return _("%(label)s is accepted: item %(code)s of round 1, proposed by the panel.") % {
        "label": proposal.label, "code": item.code,
    }  # fmt: skip


def _merge(request: HttpRequest, proposal: Proposal) -> str:
    study = proposal.proposal_round.study
    into = _proposal(study, request.POST.get("into", ""))
    proposals.proposal_merge(proposal=proposal, into=into,
                             reason=request.POST.get("reason", ""), by=request.user)  # fmt: skip
    return _("%(label)s is merged with %(into)s.") % {"label": proposal.label, "into": into.label}


def _decline(request: HttpRequest, proposal: Proposal) -> str:
    proposals.proposal_decline(proposal=proposal, reason=request.POST.get("reason", ""),
                               by=request.user)  # fmt: skip
    return _("%(label)s is declined; its proposer will read your reason.") % {
        "label": proposal.label
    }


def _reopen(request: HttpRequest, proposal: Proposal) -> str:
    item = proposal.item if proposal.status == Proposal.Status.ACCEPTED else None
    proposals.proposal_reopen(proposal=proposal, by=request.user)
    if item is not None:
        return _("%(label)s waits for a decision again; item %(code)s is removed from round 1.") % {
            "label": proposal.label, "code": item.code,
        }  # fmt: skip
    return _("%(label)s waits for a decision again.") % {"label": proposal.label}


PROPOSAL_ACTIONS: dict[str, Callable[[HttpRequest, Proposal], str]] = {
    "accept": _accept, "merge": _merge, "decline": _decline, "reopen": _reopen,
}  # fmt: skip


@login_required
@require_POST
def proposal_action(request: HttpRequest, slug: str, number: int, action: str) -> HttpResponse:
    study = _study(request, slug)
    handler = PROPOSAL_ACTIONS.get(action)
    try:
        if handler is None:
            raise DomainError(_("Unknown action."))
        messages.success(request, handler(request, _proposal(study, number)))
    except DomainError as exc:
        messages.error(request, str(exc))
        if action in ("accept", "merge", "decline"):  # keep what was typed
            return _page(request, study, Retry(number, action, request.POST))
    return redirect(f"{reverse('round0', args=[study.slug])}#proposal-{number}")
