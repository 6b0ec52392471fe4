"""The coordinator's view of a round's panel: the round dashboard (who was invited, who
opened, who submitted, the e-mails and their state, reminders) and its live totals.

It lives here, above the core, because it shows the panel's e-mails; the round's own
actions (open, close, schedule, analyse) stay in `rounds.views`.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from panelists import selectors, services
from rounds import access
from rounds.errors import DomainError
from rounds.forms import DeadlineForm, ReminderScheduleForm, ReopenForm, ScheduleForm
from rounds.models import Round


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
        "rows": selectors.panelist_rows(round),
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
        }
    )


def _counts(progress: selectors.Progress) -> dict[str, int]:
    return {status: progress.get(status) for status in selectors.STATUSES}


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
