"""The panelist's pages: personal link, welcome, rating wizard, review, submit, thanks."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from formtools.wizard.storage.base import BaseStorage
from formtools.wizard.views import NamedUrlSessionWizardView

from panelists import links, questionnaire
from panelists.forms import DONT_KNOW, StepForm, comment_name, rating_name, read_posted
from rounds import answers, realtime
from rounds.models import Panelist, Participation, ProposalRound, Round, Study
from rounds.proposals import takes_answers as takes_proposals
from rounds.throttle import client_ip, link_throttle

logger = logging.getLogger(__name__)

SESSION_KEY = "panelist_id"
LINK_KEY = "panelist_link_id"


def _current_panelist(request: HttpRequest) -> Panelist | None:
    """The panelist of this session, while the link that opened it is valid (revoking or
    expiring the link ends the session at once). A POST records a change of language;
    a GET writes nothing."""
    if request.session.get(SESSION_KEY) is None:
        return None
    link = links.session_link(request.session.get(LINK_KEY))
    if link is None or link.panelist_id != request.session.get(SESSION_KEY):
        request.session.flush()
        return None
    panelist = link.panelist
    language = translation.get_language()
    if request.method == "POST" and language != panelist.language:
        Panelist.objects.filter(pk=panelist.pk).update(language=language)
        panelist.language = language
    return panelist


def _saving_context(request: HttpRequest) -> Participation | None:
    """For a save, in one query: the session's panelist's participation in the study's open
    round, with the round, panelist, study and protocol, provided the link that opened the
    session is still live and the round still takes answers. None in any other case: the
    caller then takes the slow path, which says what is wrong."""
    panelist_id, link_id = request.session.get(SESSION_KEY), request.session.get(LINK_KEY)
    if panelist_id is None or link_id is None:
        return None
    now = timezone.now()
    found = (
        Participation.objects.select_related("round", "panelist__study__protocol")
        .filter(
            Q(panelist__links__expires_at__isnull=True) | Q(panelist__links__expires_at__gt=now),
            panelist_id=panelist_id,
            panelist__links__id=link_id,
            panelist__links__revoked_at__isnull=True,
        )
        .filter(Q(round__closes_at__isnull=True) | Q(round__closes_at__gt=now))
        .filter(round__state=Round.State.OPEN)
        .order_by("-round__number")
        .first()
    )
    if found is None:
        return None
    found.round.study = found.panelist.study  # texts and checks read the loaded study
    if translation.get_language() != found.panelist.language:
        Panelist.objects.filter(pk=panelist_id).update(language=translation.get_language())
        found.panelist.language = translation.get_language()
    return found


def _no_session(request: HttpRequest) -> HttpResponse:
    return render(request, "panelists/no_session.html", status=403)


def _open_round(study: Study) -> Round | None:
    return study.rounds.filter(state=Round.State.OPEN).order_by("-number").first()


def _is_open(round: Round) -> bool:
    return round.closes_at is None or round.closes_at > timezone.now()


@never_cache
def link_open(request: HttpRequest, token: str) -> HttpResponse:
    """Open a personal link: start a session, record that the panelist opened the open round
    (the only write a panelist's GET makes), then leave the token out of the address bar.
    Too many unknown links from one address block it for a while (guessing is pointless
    anyway: 256 bits), whatever link it tries next."""
    throttle, address = link_throttle(), client_ip(request) or "unknown"
    if throttle.blocked(address):
        context = {"reason": "throttled", "minutes": max(1, throttle.window // 60)}
        response = render(request, "panelists/link_invalid.html", context, status=429)
        response["Retry-After"] = str(throttle.window)
        response["Referrer-Policy"] = "no-referrer"
        return response
    resolution = links.link_resolve(token)
    if resolution.panelist is None:
        if resolution.status == "unknown":
            throttle.fail(address)
        status = 404 if resolution.status == "unknown" else 410
        context = {"reason": resolution.status, "study": resolution.study}
        response = render(request, "panelists/link_invalid.html", context, status=status)
    else:
        request.session.cycle_key()
        request.session[SESSION_KEY] = resolution.panelist.pk
        request.session[LINK_KEY] = resolution.link_id
        round = _open_round(resolution.panelist.study)
        if round is not None and _is_open(round):
            answers.participation_opened(panelist=resolution.panelist, round=round)
        response = redirect("panelist-home")
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            resolution.panelist.language,
            samesite="Lax",
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        )
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    panelist = _current_panelist(request)
    if panelist is None:
        return _no_session(request)
    study = panelist.study
    round = _open_round(study)
    proposed = panelist.proposals.count()  # round 0: a way to one's own proposals
    if round is None or not _is_open(round):
        if takes_proposals(ProposalRound.objects.filter(study=study).first()):
            return redirect("panelist-proposals")
        last = study.rounds.order_by("-number").first()
        finished = study.status == Study.Status.FINISHED
        return render(
            request,
            "panelists/closed.html",
            {"study": study, "round": last, "finished": finished, "proposed": proposed},
        )
    participation = answers.participation_of(panelist, round)
    q = questionnaire.build(panelist, round, participation)
    context = {
        "study": study,
        "round": round,
        "participation": participation,
        "questionnaire": q,
        "needs_consent": round.number == 1 and participation.consented_at is None,
        "purpose": study.text("description"),
        "changes": questionnaire.changes(round, panelist.language),
        "proposed": proposed,
    }
    return render(request, "panelists/welcome.html", context)


PanelView = Callable[[HttpRequest, Panelist, Round], HttpResponse]


def in_open_round(view: PanelView) -> Callable[[HttpRequest], HttpResponse]:
    """The panelist of this session and their open round, or a friendly way out."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        panelist = _current_panelist(request)
        if panelist is None:
            return _no_session(request)
        round = _open_round(panelist.study)
        if round is None or not _is_open(round):
            if request.method == "POST":
                messages.error(request, _("This round is closed; your saved answers are kept."))
            return redirect("panelist-home")
        return view(request, panelist, round)

    return wrapper


@require_POST
@in_open_round
def consent(request: HttpRequest, panelist: Panelist, round: Round) -> HttpResponse:
    if request.POST.get("consent") != "yes":
        messages.error(request, _("Please tick the box to agree before you start."))
        return redirect("panelist-home")
    answers.participation_consent(participation=answers.participation_for(panelist, round))
    return redirect("panelist-rate")


class _RequestStorage(BaseStorage):
    """Wizard state for one request only. Answers live in the database, so another device
    or a new session continues from the same answers, and the session is not rewritten on
    every save; the current step comes from the URL or the posted management form."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.init_data()

    def set_step_data(self, step: str, cleaned_data: Any) -> None:
        return None


class RatingWizard(NamedUrlSessionWizardView):
    form_list = [("placeholder", forms.Form)]
    template_name = "panelists/step.html"
    storage_name = f"{__name__}._RequestStorage"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        found = _saving_context(request) if request.method == "POST" else None
        if found is not None:  # the common case of a save, in one query
            panelist, round, participation = found.panelist, found.round, found
        else:
            current = _current_panelist(request)
            if current is None:
                return _no_session(request)
            panelist = current
            open_round = _open_round(current.study)
            if open_round is None or not _is_open(open_round):
                if request.method == "POST":
                    messages.error(
                        request,
                        _(
                            "This round closed; your last answers were not saved. "
                            "What you saved before is kept."
                        ),
                    )
                return redirect("panelist-home")
            round = open_round
            if request.method == "POST":
                participation = answers.participation_for(panelist, round)
            else:
                participation = answers.participation_of(panelist, round)
        if round.number == 1 and participation.consented_at is None:
            return redirect("panelist-home")
        self.panelist, self.round = panelist, round
        # Saving a step needs neither last round's feedback (unless a comment rule depends
        # on it) nor the stored answers: a page shown again reads both afresh (render).
        posting = request.method == "POST"
        feedback = not posting or panelist.study.protocol.require_comment_outside_iqr
        self.questionnaire = questionnaire.build(
            panelist, round, participation, feedback=feedback, answers=not posting
        )
        self._posted_form: tuple[str, forms.Form] | None = None
        if not self.questionnaire.steps:
            return redirect("panelist-home")
        # The steps come from the database: one per domain, named from primary keys. The
        # form list is formtools' public per-instance setting, read by get_form_list().
        steps = self.questionnaire.steps
        self.form_list = OrderedDict((s.name, StepForm) for s in steps)  # type: ignore[assignment]
        return super().dispatch(request, *args, **kwargs)

    def get_prefix(self, request: HttpRequest, *args: Any, **kwargs: Any) -> str:
        return f"rating-{self.round.pk}"

    def get_form_kwargs(self, step: str | None = None) -> dict[str, Any]:
        return {"step": self.questionnaire.step(step or self.steps.current),
                "protocol": self.panelist.study.protocol}  # fmt: skip

    def get_form_initial(self, step: str) -> dict[str, Any]:
        found = self.questionnaire.step(step)
        return questionnaire.as_initial(found) if found else {}

    def get(self, *args: Any, **kwargs: Any) -> HttpResponse:
        if kwargs.get("step") is None:
            q = self.questionnaire
            if all(s.complete for s in q.steps) and q.participation.status == "submitted":
                return redirect("panelist-review")
            return redirect(self.get_step_url(q.first_incomplete.name))
        return super().get(*args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        posted = self.request.POST.get(f"{self.prefix}-current_step", "")
        step = self.questionnaire.step(posted)
        if step is None:
            messages.error(
                self.request,
                _(
                    "This page was out of date and nothing was saved from it; "
                    "your earlier answers are kept. Please check this step and save again."
                ),
            )
            return redirect("panelist-rate")
        self.storage.current_step = step.name
        protocol = self.panelist.study.protocol
        # Without a comment rule, the posted values alone say what to save and whether the
        # step is complete: no form is built unless the page has to be shown again.
        fast = not protocol.require_comment_outside_iqr
        if fast:
            posted = read_posted(step, self.request.POST, self.get_form_prefix(step.name), protocol)
            given = posted.answers
        else:
            given = self.get_form(step.name, data=self.request.POST).answers(  # type: ignore[attr-defined]
                partial=True
            )
        q = self.questionnaire
        questions = answers.Questions(
            frozenset(e.round_item.pk for s in q.steps for e in s.entries),
            {c.pk: c for c in q.criteria},
        )
        try:
            answers.ratings_save(
                panelist=self.panelist,
                round=self.round,
                answers=given,
                questions=questions,
                expected=_seen(self.request.POST.get(SEEN_FIELD)),
                participation=self.questionnaire.participation,
            )
        except answers.InvalidAnswerError as exc:
            messages.error(self.request, str(exc))
            return redirect(self.get_step_url(step.name))
        except answers.RoundClosedError as exc:
            messages.error(self.request, str(exc))
            return redirect("panelist-home")
        except answers.StaleAnswersError as exc:
            # The typed answers stay in the (bound) form; the page shows the stored ones.
            return self.render(self.get_form(step.name, data=self.request.POST), conflict=exc)
        except DatabaseError:
            logger.exception("Saving a step failed")
            form = self.get_form(step.name, data=self.request.POST)
            return self.render(form, save_failed=True)
        goto = self.request.POST.get("wizard_goto_step")
        if goto == step.name:
            messages.success(self.request, _("Your answers are saved."))
        if fast and goto and goto in self.form_list:
            return redirect(self.get_step_url(goto))
        if fast and not goto and posted.complete:
            following = self.get_next_step(step.name)
            return redirect(self.get_step_url(following) if following else "panelist-review")
        return super().post(*args, **kwargs)

    def get_form(self, step: str | None = None, data: Any = None, files: Any = None) -> forms.Form:
        """Build the posted step's form once per request (it has one field per rating)."""
        step = step or self.steps.current
        if data is not None and data is self.request.POST:
            if self._posted_form is None or self._posted_form[0] != step:
                self._posted_form = (step, super().get_form(step, data, files))
            return self._posted_form[1]
        return super().get_form(step, data, files)

    def render(self, form: forms.Form | None = None, **kwargs: Any) -> HttpResponse:
        q = self.questionnaire
        stale = not q.with_feedback or not q.with_answers
        if stale and not kwargs.get("save_failed"):
            q = self.questionnaire  # a POST that shows the step again: read it afresh
            self.questionnaire = questionnaire.build(self.panelist, self.round, q.participation)
        return super().render(form, **kwargs)

    def process_step(self, form: forms.Form) -> dict[str, Any]:
        # Already saved in post(); the session keeps no answers.
        return {}

    def render_done(self, form: forms.Form, **kwargs: Any) -> HttpResponse:
        return redirect("panelist-review")

    def get_context_data(self, form: forms.Form, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(form=form, **kwargs)
        q = self.questionnaire
        step = q.step(self.steps.current)
        context.update(
            study=self.panelist.study,
            round=self.round,
            questionnaire=q,
            step=step,
            protocol=self.panelist.study.protocol,
            error_summary=_error_summary(form, step) if form.is_bound and step else [],
            seen_field=SEEN_FIELD,
            seen=self.request.POST.get(SEEN_FIELD, "")
            if kwargs.get("save_failed")
            else _seen_value(step),
            save_failed=kwargs.get("save_failed", False),
            conflict=_conflict(form, step) if step and kwargs.get("conflict") else None,
            live_every=realtime.POLL_SECONDS,
            live_digest=questionnaire.live_digest(q, step)
            if step and q.with_feedback and self.panelist.study.protocol.realtime
            else "",
        )
        return context


SEEN_FIELD = "answers_seen"
NOTHING_STORED = "none"


def _seen_value(step: questionnaire.Step | None) -> str:
    """The hidden field's value: when the step's stored answers last changed as shown."""
    newest = step.newest if step else None
    return newest.isoformat() if newest else NOTHING_STORED


def _seen(raw: str | None) -> datetime | None:
    """`expected` for the save: None (no check) for a page sent without the field."""
    if not raw:
        return None
    if raw == NOTHING_STORED:
        return datetime.min.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ConflictCell:
    code: str
    criterion: str
    stored: str
    typed: str


def _conflict(form: forms.Form, step: questionnaire.Step) -> list[ConflictCell]:
    """Each question whose stored answer differs from the one typed on this page."""
    out = []
    for entry in step.entries:
        for cell in entry.cells:
            typed = str(form.data.get(form.add_prefix(rating_name(entry, cell)), "") or "")
            stored = (
                "" if not cell.answered else DONT_KNOW if cell.value is None else str(cell.value)
            )
            if typed != stored:
                out.append(
                    ConflictCell(
                        entry.round_item.item.code, cell.criterion.text(),
                        _answer_label(stored), _answer_label(typed),
                    )
                )  # fmt: skip
    return out


def _stored(cell: questionnaire.Cell) -> str:
    if not cell.answered:
        return ""
    return DONT_KNOW if cell.value is None else str(cell.value)


def _answer_label(value: str) -> str:
    if not value:
        return "—"
    return _("Don't know") if value == DONT_KNOW else value


def _error_summary(form: forms.Form, step: questionnaire.Step) -> list[tuple[str, str]]:
    """(anchor, message) for each problem of the step, in page order: the page opens on
    this list, so the panelist sees at once what is missing and can jump to it."""
    out = []
    for entry in step.entries:
        code = entry.round_item.item.code
        for cell in entry.cells:
            for name in (rating_name(entry, cell), comment_name(entry, cell)):
                if name not in form.errors:
                    continue
                field = form[name]
                anchor = f"{field.auto_id}_0" if name == rating_name(entry, cell) else field.auto_id
                message = " ".join(str(e) for e in form.errors[name])
                out.append((f"#{anchor}", f"{code} – {cell.criterion.text()}: {message}"))
    return out


@never_cache
@require_GET
def live_feedback(request: HttpRequest, step: str) -> JsonResponse:
    """Real-time mode: the feedback of the cells of one step, as HTML fragments keyed by
    "<round item>-<criterion>", for the page to swap in without a reload."""
    panelist = _current_panelist(request)
    if panelist is None:
        return JsonResponse({"open": False, "cells": {}}, status=403)
    round = _open_round(panelist.study)
    protocol = panelist.study.protocol
    if round is None or not _is_open(round) or not protocol.realtime:
        return JsonResponse({"open": False, "cells": {}})
    live = questionnaire.live_step(panelist, round, step)
    if live is None:
        return JsonResponse({"open": True, "cells": {}}, status=404)
    if request.GET.get("v") == live.digest:  # nothing changed since the page's last fetch
        return JsonResponse({"open": True, "v": live.digest, "cells": {}})
    cells = _live_fragments(panelist, round, live)
    return JsonResponse({"open": True, "v": live.digest, "cells": cells})


def _live_fragments(
    panelist: Panelist, round: Round, live: questionnaire.LiveStep
) -> dict[str, str]:
    """Each cell's feedback fragment. A fragment depends on the panel's answers (their
    digest), the language, whether the panelist has rated the cell and, for the comments
    of the others, whether they commented it: rendered once and shared through the cache
    by every panelist in the same case (200 panelists polling every few seconds)."""
    language = translation.get_language()
    keys = {
        f"delphi:livefrag:{round.pk}:{live.version}:{language}:{f.name}:{f.state}:{f.author}":
        f.name
        for f in live.cells
    }  # fmt: skip
    found = cache.get_many(list(keys))
    missing_names = {name for key, name in keys.items() if key not in found}
    missing = {}
    if missing_names:
        protocol = panelist.study.protocol
        entries = questionnaire.live_entries(panelist, round, live, missing_names)
        for key, name in keys.items():
            if key not in found:
                entry, cell = entries[name]
                context = {"entry": entry, "cell": cell, "protocol": protocol}
                missing[key] = render_to_string("panelists/_live_feedback.html", context)
        cache.set_many(missing, realtime.LIVE_SECONDS * 3)
    return {name: found.get(key) or missing[key] for key, name in keys.items()}


@never_cache
@in_open_round
def review(request: HttpRequest, panelist: Panelist, round: Round) -> HttpResponse:
    participation = answers.participation_of(panelist, round)
    q = questionnaire.build(panelist, round, participation)
    missing = q.total - q.answered
    context = {"study": panelist.study, "round": round, "questionnaire": q, "missing": missing}
    return render(request, "panelists/review.html", context)


@require_POST
@in_open_round
def submit(request: HttpRequest, panelist: Panelist, round: Round) -> HttpResponse:
    try:
        answers.round_submit(panelist=panelist, round=round)
    except answers.IncompleteError as exc:
        messages.error(request, str(exc))
        return redirect("panelist-review")
    except answers.RoundClosedError as exc:
        messages.error(request, str(exc))
        return redirect("panelist-home")
    return redirect("panelist-thanks")


@never_cache
def thanks(request: HttpRequest) -> HttpResponse:
    panelist = _current_panelist(request)
    if panelist is None:
        return _no_session(request)
    round = panelist.study.rounds.order_by("-number").first()
    participation = (
        Participation.objects.filter(panelist=panelist, round=round).first() if round else None
    )
    context = {"study": panelist.study, "round": round, "participation": participation}
    return render(request, "panelists/thanks.html", context)


# ------------------------------------------------------------ preview as a panelist


def preview_panelist(round: Round, language: str) -> Panelist:
    """A panelist that exists only for this page: never saved, with no answers, so the
    preview reads the real questionnaire and writes nothing."""
    panelist = Panelist(
        pk=-1, study=round.study, pseudonym="P000", name=_("Preview"), language=language
    )
    panelist._state.adding = False  # lets the questionnaire's queries filter on pk -1
    return panelist


@dataclass(frozen=True)
class _PreviewSteps:
    """What the step template reads from formtools' `wizard.steps`."""

    current: str
    step1: int
    count: int
    prev: str | None
    next: str | None


def preview_step(
    request: HttpRequest, round: Round, language: str, step_name: str | None
) -> HttpResponse:
    """The rating step `step_name` as a panelist in `language` sees it. A POST only moves
    between steps or shows the form's errors: a preview records nothing."""
    panelist = preview_panelist(round, language)
    participation = Participation(panelist=panelist, round=round)
    with translation.override(language):
        q = questionnaire.build(panelist, round, participation)
        if not q.steps:
            messages.error(request, _("This round has no items to preview."))
            return redirect("round-detail", slug=round.study.slug, number=round.number)
        names = [s.name for s in q.steps]
        step = q.step(step_name or names[0]) or q.steps[0]
        index = names.index(step.name)
        steps = _PreviewSteps(
            step.name, index + 1, len(names),
            names[index - 1] if index else None,
            names[index + 1] if index + 1 < len(names) else None,
        )  # fmt: skip
        data = request.POST if request.method == "POST" else None
        form = StepForm(data, step=step, protocol=round.study.protocol,
                        prefix=step.name)  # fmt: skip
        if request.method == "POST":
            target = request.POST.get("wizard_goto_step") or (steps.next if form.is_valid() else "")
            if target == "" and form.is_valid():
                messages.success(request, _("End of the preview: nothing was saved."))
                return redirect("round-detail", slug=round.study.slug, number=round.number)
            if target:
                return redirect(_preview_url(round, language, target))
        context = {
            "study": round.study, "round": round, "questionnaire": q, "step": step,
            "form": form, "wizard": {"steps": steps, "management_form": ""},
            "protocol": round.study.protocol, "preview": True, "preview_language": language,
            "error_summary": _error_summary(form, step) if form.is_bound else [],
            "seen_field": SEEN_FIELD, "seen": NOTHING_STORED, "conflict": None,
        }  # fmt: skip
        return render(request, "panelists/step.html", context)


def _preview_url(round: Round, language: str, step: str) -> str:
    path = reverse("round-preview-step", args=[round.study.slug, round.number, step])
    return f"{path}?language={language}"
