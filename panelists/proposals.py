"""Round 0 for the panelist: answer the open question of each domain, propose new actions,
and later read what the coordinators decided about one's own proposals (never anyone
else's: the page shows only the panelist's own)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from panelists import views
from rounds import proposals
from rounds.errors import DomainError
from rounds.models import Panelist, Proposal, ProposalAnswer, ProposalRound, translated


@dataclass
class Section:
    """One domain on the page: its open question, answer, the panelist's proposals in it,
    a blank proposal, and the items already on the list there."""

    index: int
    domain: proposals.Domain
    label: str
    answer: str = ""
    mine: list[Proposal] = field(default_factory=list)
    new_text: str = ""
    new_reason: str = ""
    items: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _attach(sections: list[Section], problems: dict[str, str]) -> None:
    """Each problem beside its field: section errors by field name, proposals' on them."""
    for s in sections:
        prefix = f"d{s.index}-"
        s.errors = {k[len(prefix) :]: v for k, v in problems.items() if k.startswith(prefix)}
        for p in s.mine:
            mine = f"p{p.pk}-"
            p.errors = {k[len(mine) :]: v for k, v in problems.items() if k.startswith(mine)}  # type: ignore[attr-defined]


def _round_0(panelist: Panelist) -> ProposalRound | None:
    return (
        ProposalRound.objects.filter(study=panelist.study)
        .exclude(state=ProposalRound.State.DRAFT)
        .first()
    )


def _sections(proposal_round: ProposalRound, panelist: Panelist) -> list[Section]:
    study, language = proposal_round.study, translation.get_language()
    answers = dict(
        ProposalAnswer.objects.filter(proposal_round=proposal_round, panelist=panelist).values_list(
            "domain", "text"
        )
    )
    sections = [
        Section(i, d, d.label(study, language), answer=answers.get(d.key, ""))
        for i, d in enumerate(proposals.domains(study))
    ]
    by_key = {s.domain.key: s for s in sections}
    mine = Proposal.objects.filter(proposal_round=proposal_round, panelist=panelist)
    for proposal in mine.select_related("item", "merged_into__item").order_by("number"):
        by_key.get(proposal.domain, sections[0]).mine.append(proposal)
    for item in study.items.exclude(source="panel").order_by("position", "code"):
        key = translated(item.domain, study.report_language, study.fallbacks)
        if key in by_key:
            by_key[key].items.append(item.label(language))
    return sections


def _read(request: HttpRequest, sections: list[Section]) -> tuple[list, list]:
    """The answers and drafts posted, and the sections holding what was typed."""
    post = request.POST
    answers, drafts = [], []
    for s in sections:
        s.answer = post.get(f"d{s.index}-answer", s.answer)
        answers.append(proposals.Answer(s.domain.key, s.answer, f"d{s.index}-answer"))
        s.new_text, s.new_reason = (
            post.get(f"d{s.index}-text", ""),
            post.get(f"d{s.index}-reason", ""),
        )
        drafts.append(proposals.Draft(s.domain.key, s.new_text, s.new_reason,
                                      field=f"d{s.index}-"))  # fmt: skip
        for p in s.mine:
            if p.status != Proposal.Status.PENDING or f"p{p.pk}-text" not in post:
                continue
            p.text, p.reason = post.get(f"p{p.pk}-text", ""), post.get(f"p{p.pk}-reason", "")
            withdraw = post.get(f"p{p.pk}-withdraw") == "yes"
            drafts.append(proposals.Draft(p.domain, p.text, p.reason, pk=p.pk,
                                          withdraw=withdraw, field=f"p{p.pk}-"))  # fmt: skip
    return answers, drafts


def _retyped(
    request: HttpRequest, sections: list[Section], problems: dict[str, str]
) -> list[Section]:
    """The page as saved, with what was typed back in every field that was not saved."""
    post = request.POST
    for s in sections:
        if f"d{s.index}-answer" in problems:
            s.answer = post.get(f"d{s.index}-answer", "")
        if any(k.startswith(f"d{s.index}-") and k != f"d{s.index}-answer" for k in problems):
            s.new_text = post.get(f"d{s.index}-text", "")
            s.new_reason = post.get(f"d{s.index}-reason", "")
        for p in s.mine:
            if any(k.startswith(f"p{p.pk}-") for k in problems):
                p.text = post.get(f"p{p.pk}-text", p.text)
                p.reason = post.get(f"p{p.pk}-reason", p.reason)
    return sections


@never_cache
def proposals_page(request: HttpRequest) -> HttpResponse:
    panelist = views._current_panelist(request)
    if panelist is None:
        return views._no_session(request)
    proposal_round = _round_0(panelist)
    if proposal_round is None:
        return redirect("panelist-home")
    sections = _sections(proposal_round, panelist)
    open_now = proposals.takes_answers(proposal_round)
    needs_consent = open_now and not proposals.consent_given(proposal_round, panelist)
    problems: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not open_now:
            messages.error(request, _("Round 0 is closed; your answers and proposals are kept."))
            return redirect("panelist-proposals")
        if needs_consent:
            return _consent(request, proposal_round, panelist)
        answers, drafts = _read(request, sections)
        try:
            made = proposals.panel_save(
                proposal_round=proposal_round, panelist=panelist, answers=answers,
                drafts=drafts, language=translation.get_language() or "",
            )  # fmt: skip
        except proposals.ProposalProblems as exc:
            problems, status = exc.problems, 400
            sections = _retyped(request, _sections(proposal_round, panelist), problems)
            _attach(sections, problems)
        except DomainError as exc:
            messages.error(request, str(exc))
            return redirect("panelist-proposals")
        else:
            messages.success(request, _saved_message(made))
            return redirect("panelist-proposals")
    context = {
        "study": panelist.study,
        "proposal_round": proposal_round,
        "open_now": open_now,
        "needs_consent": needs_consent,
        "sections": sections,
        "problems": problems,
        "question": translated(
            proposal_round.question, translation.get_language(), panelist.study.fallbacks
        )
        or _("What does this domain miss? What would help general practitioners most?"),
    }
    return render(request, "panelists/proposals.html", context, status=status)


def _consent(
    request: HttpRequest, proposal_round: ProposalRound, panelist: Panelist
) -> HttpResponse:
    """The first visit's consent, asked like round 1's; nothing is saved without it."""
    if request.POST.get("consent") != "yes":
        messages.error(request, _("Please tick the box to agree before you start."))
    else:
        try:
            proposals.consent_give(proposal_round=proposal_round, panelist=panelist)
        except DomainError as exc:
            messages.error(request, str(exc))
    return redirect("panelist-proposals")


def _saved_message(made: int) -> str:
    if made:
        return translation.ngettext(
            "Saved, with %(n)d new proposal. You can change it until round 0 closes.",
            "Saved, with %(n)d new proposals. You can change them until round 0 closes.",
            made,
        ) % {"n": made}
    return _("Saved. You can come back and change your answers until round 0 closes.")
