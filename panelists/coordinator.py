"""The coordinator's view of a round's panel: the round dashboard (who was invited, who
opened, who submitted, the e-mails and their state, reminders) and its live totals.

It lives here, above the core, because it shows the panel's e-mails; the round's own
actions (open, close, schedule, analyse) stay in `rounds.views`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.mail import send_mail
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from panelists import links, selectors, services, texts, views
from panelists.models import EmailMessage, EmailTemplate
from rounds import access, checks, realtime
from rounds.errors import DomainError
from rounds.forms import DeadlineForm, ReminderScheduleForm, ReopenForm, ScheduleForm
from rounds.models import Panelist, Participation, ProposalRound, Round, Study
from rounds.services import audit_record
from rounds.templatetags.delphi_format import when


def _round(request: HttpRequest, slug: str, number: int) -> Round:
    return access.get_round_for_user(request.user, slug, number, access.RUN)


@login_required
def round_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    round = _round(request, slug, number)
    overall, groups = selectors.round_progress(round)
    study = round.study
    times = _local_times(round)
    context = {
        "study": study,
        "round": round,
        "overall": overall,
        "groups": groups,
        "panel": _panel(request, round),
        "failed": selectors.failed_emails(round),
        "email_counts": selectors.email_counts(round),
        "analysis": round.analysis_jobs.first(),
        "schedule_form": ScheduleForm(study=study, initial=times),
        "deadline_form": DeadlineForm(study=study, initial=times),
        "reopen_form": ReopenForm(study=study),
        "reminder_form": ReminderScheduleForm(
            initial={"days_before": ", ".join(str(r.days_before) for r in round.reminders.all())}
        ),
        "reminders": round.reminders.all(),
        "statuses": selectors.STATUSES,
        "status_choices": Participation.Status.choices,
        "warnings": checks.study_warnings(study) if round.state == Round.State.DRAFT else [],
        "preview_url": reverse("round-preview", args=[study.slug, round.number])
        if round.state in (Round.State.DRAFT, Round.State.OPEN)
        else None,
        "live": realtime.live_table(round)
        if study.protocol.realtime and round.state == Round.State.OPEN
        else None,
        "snapshots": realtime.snapshots_of(round) if study.protocol.realtime else [],
    }
    return render(request, "panelists/round_detail.html", context)


def _local_times(round: Round) -> dict[str, Any]:
    tz = ZoneInfo(round.study.time_zone)

    def local(value: Any) -> Any:
        return value.astimezone(tz).replace(tzinfo=None) if value else None

    return {"opens_at": local(round.opens_at), "closes_at": local(round.closes_at)}


@login_required
def round_status(request: HttpRequest, slug: str, number: int) -> JsonResponse:
    round = _round(request, slug, number)
    overall, groups = selectors.round_progress(round)
    job = round.analysis_jobs.first()
    return JsonResponse(
        {
            "state": round.state,
            "analysis_version": round.analysis_version,
            "analysis": None
            if job is None
            else {"status": job.status, "attempts": job.attempts, "error": job.error},
            "invited": overall.invited,
            "counts": _counts(overall),
            "rate": int(overall.rate + 0.5),
            "groups": {g.label: {**_counts(g), "rate": int(g.rate + 0.5)} for g in groups},
            "panelists": _panelist_states(round, _panel(request, round, details=False)),
        }
    )


def _counts(progress: selectors.Progress) -> dict[str, int]:
    counts = {status: progress.get(status) for status in selectors.STATUSES}
    counts["opened"] = progress.opened
    return counts


def _panel(request: HttpRequest, round: Round, *, details: bool = True) -> selectors.PanelPage:
    """The page of the panel table the coordinator is looking at (status, search, page)."""
    return selectors.panel_page(
        round,
        status=request.GET.get("status", ""),
        query=request.GET.get("q", "")[:100],
        page=request.GET.get("page", 1),
        details=details,
    )


def _panelist_states(round: Round, panel: selectors.PanelPage) -> dict[str, dict[str, str]]:
    """Each shown panelist's status and last activity, as the table shows them."""
    return {
        row.participation.panelist.pseudonym: {
            "status": row.participation.status,
            "label": str(row.participation.get_status_display()),
            "last_activity": when(row.participation.last_activity_at, round.study.time_zone) or "—",
        }
        for row in panel.rows
    }


@login_required
@require_POST
def round_remind(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    round = _round(request, slug, number)
    try:
        n = services.reminders_send(round=round, by=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(n)d reminders are on their way.") % {"n": n})
    return redirect("round-detail", slug=slug, number=number)


@login_required
@require_POST
def round_reminder_schedule(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    round = _round(request, slug, number)
    form = ReminderScheduleForm(request.POST)
    if form.is_valid():
        services.reminders_schedule(
            round=round, days_before=form.cleaned_data["days_before"], by=request.user
        )
        messages.success(request, _("The reminder schedule is saved."))
    else:
        messages.error(request, " ".join(str(e) for e in form.errors.get("days_before", [])))
    return redirect("round-detail", slug=slug, number=number)


def _proposal_round(request: HttpRequest, slug: str) -> ProposalRound:
    study = access.get_study_for_user(request.user, slug, access.RUN)
    return get_object_or_404(ProposalRound.objects.select_related("study"), study=study)


@login_required
@require_POST
def round0_remind(request: HttpRequest, slug: str) -> HttpResponse:
    proposal_round = _proposal_round(request, slug)
    try:
        n = services.proposal_reminders_send(proposal_round=proposal_round, by=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(n)d reminders are on their way.") % {"n": n})
    return redirect("round0", slug=slug)


@login_required
@require_POST
def round0_reminder_schedule(request: HttpRequest, slug: str) -> HttpResponse:
    proposal_round = _proposal_round(request, slug)
    form = ReminderScheduleForm(request.POST)
    if form.is_valid():
        services.proposal_reminders_schedule(
            proposal_round=proposal_round,
            days_before=form.cleaned_data["days_before"],
            by=request.user,
        )
        messages.success(request, _("The reminder schedule is saved."))
    else:
        messages.error(request, " ".join(str(e) for e in form.errors.get("days_before", [])))
    return redirect("round0", slug=slug)


# --------------------------------------------------------------------- one panelist


def _panelist(round: Round, pseudonym: str) -> Panelist:
    return get_object_or_404(Panelist, study=round.study, pseudonym=pseudonym)


def _resend(request: HttpRequest, round: Round, panelist: Panelist) -> HttpResponse | None:
    invitation = (
        EmailMessage.objects.filter(round=round, panelist=panelist, kind="invitation")
        .order_by("-created_at")
        .first()
    )
    if invitation is None:
        raise DomainError(_("%(p)s has no invitation in this round yet.") % {"p": panelist})
    services.email_resend(email=invitation, by=request.user)
    messages.success(request, _("The invitation to %(p)s is sent again.") % {"p": panelist})
    return None


def _show_link(request: HttpRequest, round: Round, panelist: Panelist) -> HttpResponse | None:
    """The live link, computed on an explicit request only, and recorded."""
    url = links.link_for(panelist)
    audit_record(study=round.study, action="link.shown", target=panelist.pseudonym, by=request.user)
    context = {"study": round.study, "round": round, "panelist": panelist, "url": url}
    response = render(request, "panelists/panelist_link.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _reissue(request: HttpRequest, round: Round, panelist: Panelist) -> HttpResponse | None:
    links.link_reissue(panelist=panelist, by=request.user, reason=request.POST.get("reason", ""))
    messages.success(
        request,
        _("%(p)s has a new link; the old one no longer works. Resend the invitation to send it.")
        % {"p": panelist},
    )
    return None


def _revoke(request: HttpRequest, round: Round, panelist: Panelist) -> HttpResponse | None:
    links.link_revoke_all(panelist=panelist, by=request.user, reason=request.POST.get("reason", ""))
    messages.success(request, _("The links of %(p)s no longer work.") % {"p": panelist})
    return None


PanelistAction = Callable[[HttpRequest, Round, Panelist], HttpResponse | None]
PANELIST_ACTIONS: dict[str, PanelistAction] = {
    "resend": _resend,
    "link": _show_link,
    "reissue": _reissue,
    "revoke": _revoke,
}


@login_required
@require_POST
def panelist_action(
    request: HttpRequest, slug: str, number: int, pseudonym: str, action: str
) -> HttpResponse:
    round = _round(request, slug, number)
    panelist = _panelist(round, pseudonym)
    handler = PANELIST_ACTIONS.get(action)
    if handler is None:
        raise Http404("No such action")
    try:
        response = handler(request, round, panelist)
    except DomainError as exc:
        messages.error(request, str(exc))
        response = None
    if response is not None:
        return response
    url = reverse("round-detail", kwargs={"slug": slug, "number": number})
    return redirect(f"{url}#panelist-{panelist.pseudonym}")


# --------------------------------------------------------------------- e-mail texts


class EmailTextForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=300)
    body = forms.CharField(
        label=gettext_lazy("Text"), widget=forms.Textarea(attrs={"rows": 14}), max_length=10000
    )

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for problem in texts.problems(self.kind, data.get("subject", ""), data.get("body", "")):
            self.add_error("body", problem)
        return data


def _example_panelist(study: Study, language: str) -> Panelist:
    """A panelist that exists only in this preview (never saved)."""
    return Panelist(study=study, pseudonym="P000", name=_("Dr Example"), language=language)


def _preview(study: Study, kind: str, language: str, subject: str, body: str) -> dict[str, str]:
    round = study.rounds.order_by("-number").first()
    with translation.override(language):
        values = services.placeholder_values(
            _example_panelist(study, language), round, settings.SITE_URL + "/p/EXAMPLE-LINK/"
        )
        return {"subject": texts.fill(subject, values), "body": texts.fill(body, values)}


@login_required
def email_templates(request: HttpRequest, slug: str) -> HttpResponse:
    """The panel's e-mails per kind and language: edit with placeholders, preview, test."""
    study = access.get_study_for_user(request.user, slug, access.RUN)
    kind = request.GET.get("kind", EmailMessage.Kind.INVITATION)
    language = request.GET.get("language", study.languages[0])
    if kind not in EmailMessage.Kind.values or language not in study.languages:
        raise Http404("No such e-mail")
    current = texts.text_for(study, kind, language)
    form = EmailTextForm(
        request.POST or None, kind=kind, initial={"subject": current.subject, "body": current.body}
    )
    preview = None
    action = request.POST.get("action", "")
    if request.method == "POST":
        result = _email_template_post(request, study, kind, language, form, action)
        if isinstance(result, HttpResponse):
            return result
        preview = result
    context = {
        "study": study,
        "kind": kind,
        "language": language,
        "kinds": EmailMessage.Kind.choices,
        "study_languages": [(code, checks.language_name(code)) for code in study.languages],
        "form": form,
        "custom": current.custom,
        "preview": preview,
        "placeholders": texts.PLACEHOLDERS,
    }
    return render(request, "panelists/email_templates.html", context)


def _email_template_post(
    request: HttpRequest, study: Study, kind: str, language: str, form: EmailTextForm, action: str
) -> HttpResponse | dict[str, str] | None:
    back = f"{reverse('email-templates', args=[study.slug])}?kind={kind}&language={language}"
    if action == "reset":
        EmailTemplate.objects.filter(study=study, kind=kind, language=language).delete()
        audit_record(study=study, action="email_text.reset", target=f"{kind}/{language}",
                     by=request.user)  # fmt: skip
        messages.success(request, _("The built-in text is used again."))
        return redirect(back)
    if not form.is_valid():
        return None
    subject, body = form.cleaned_data["subject"], form.cleaned_data["body"]
    if action == "preview":
        return _preview(study, kind, language, subject, body)
    if action == "test":
        return _send_test(request, study, language, _preview(study, kind, language, subject, body))
    EmailTemplate.objects.update_or_create(
        study=study, kind=kind, language=language, defaults={"subject": subject, "body": body}
    )
    audit_record(study=study, action="email_text.saved", target=f"{kind}/{language}",
                 by=request.user, after={"subject": subject})  # fmt: skip
    messages.success(request, _("The text is saved; the next e-mails of this kind use it."))
    return redirect(back)


def _send_test(
    request: HttpRequest, study: Study, language: str, preview: dict[str, str]
) -> dict[str, str]:
    to = getattr(request.user, "email", "")
    if not to:
        messages.error(request, _("Your account has no e-mail address to send the test to."))
        return preview
    subject = _("[Test] %(subject)s") % {"subject": preview["subject"].strip()}
    try:
        send_mail(subject, preview["body"], settings.DEFAULT_FROM_EMAIL, [to])
    except Exception as exc:  # shown to the coordinator, who asked for this send
        messages.error(request, _("The test could not be sent: %(error)s") % {"error": exc})
    else:
        messages.success(request, _("A test is on its way to %(email)s.") % {"email": to})
    return preview


@login_required
def round_preview(request: HttpRequest, slug: str, number: int, step: str = "") -> HttpResponse:
    """The round's rating pages as a panelist sees them, in a language of the study; the
    preview records nothing (no answer, no participation)."""
    round = _round(request, slug, number)
    language = request.GET.get("language") or round.study.languages[0]
    if language not in round.study.languages:
        raise Http404("Not a language of this study")
    return views.preview_step(request, round, language, step or None)
