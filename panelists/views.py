"""The panelist's pages: personal link, welcome, rating wizard, review, submit, thanks."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from formtools.wizard.storage.base import BaseStorage
from formtools.wizard.views import NamedUrlSessionWizardView

from panelists import links, questionnaire
from panelists.forms import StepForm
from rounds import answers
from rounds.models import Panelist, Participation, Round, Study

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


def _no_session(request: HttpRequest) -> HttpResponse:
    return render(request, "panelists/no_session.html", status=403)


def _open_round(study: Study) -> Round | None:
    return study.rounds.filter(state=Round.State.OPEN).order_by("-number").first()


def _is_open(round: Round) -> bool:
    return round.closes_at is None or round.closes_at > timezone.now()


@never_cache
def link_open(request: HttpRequest, token: str) -> HttpResponse:
    """Open a personal link: start a session, record that the panelist opened the open round
    (the only write a panelist's GET makes), then leave the token out of the address bar."""
    resolution = links.link_resolve(token)
    if resolution.panelist is None:
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
        response.set_cookie("django_language", resolution.panelist.language, samesite="Lax")
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    panelist = _current_panelist(request)
    if panelist is None:
        return _no_session(request)
    study = panelist.study
    round = _open_round(study)
    if round is None or not _is_open(round):
        last = study.rounds.order_by("-number").first()
        finished = study.status == Study.Status.FINISHED
        return render(
            request,
            "panelists/closed.html",
            {"study": study, "round": last, "finished": finished},
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
        panelist = _current_panelist(request)
        if panelist is None:
            return _no_session(request)
        round = _open_round(panelist.study)
        if round is None or not _is_open(round):
            if request.method == "POST":
                messages.error(
                    request,
                    _(
                        "This round closed; your last answers were not saved. "
                        "What you saved before is kept."
                    ),
                )
            return redirect("panelist-home")
        if request.method == "POST":
            participation = answers.participation_for(panelist, round)
        else:
            participation = answers.participation_of(panelist, round)
        if round.number == 1 and participation.consented_at is None:
            return redirect("panelist-home")
        self.panelist, self.round = panelist, round
        # Saving a step needs no feedback, unless a comment rule depends on it.
        feedback = request.method != "POST" or panelist.study.protocol.require_comment_outside_iqr
        self.questionnaire = questionnaire.build(panelist, round, participation, feedback=feedback)
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
        form = self.get_form(step.name, data=self.request.POST)
        q = self.questionnaire
        questions = answers.Questions(
            frozenset(e.round_item.pk for s in q.steps for e in s.entries),
            {c.pk: c for c in q.criteria},
        )
        try:
            answers.ratings_save(
                panelist=self.panelist,
                round=self.round,
                answers=form.answers(partial=True),  # type: ignore[attr-defined]
                questions=questions,
            )
        except answers.InvalidAnswerError as exc:
            messages.error(self.request, str(exc))
            return redirect(self.get_step_url(step.name))
        except answers.RoundClosedError as exc:
            messages.error(self.request, str(exc))
            return redirect("panelist-home")
        if self.request.POST.get("wizard_goto_step") == step.name:
            messages.success(self.request, _("Your answers are saved."))
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
        if not self.questionnaire.with_feedback:  # a POST that shows the step again
            q = self.questionnaire
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
        context.update(
            study=self.panelist.study,
            round=self.round,
            questionnaire=q,
            step=q.step(self.steps.current),
            protocol=self.panelist.study.protocol,
        )
        return context


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
