"""The coordinator's privacy pages: a round's comments (hide, show), the panel's data
requests (export, erase). Owners and coordinators only; viewers and others get a 404."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rounds import access, privacy
from rounds.errors import DomainError
from rounds.models import Panelist, Study


def _study(request: HttpRequest, slug: str) -> Study:
    return access.get_study_for_user(request.user, slug, access.RUN)


@login_required
def round_comments(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Every comment of a round, each with a button to hide it from the feedback and the
    exports (or to show it again)."""
    round = access.get_round_for_user(request.user, slug, number, access.RUN)
    context = {"study": round.study, "round": round, "comments": privacy.round_comments(round)}
    return render(request, "rounds/privacy/round_comments.html", context)


def _moderate(request: HttpRequest, slug: str, rating_id: int, *, hide: bool) -> HttpResponse:
    study = _study(request, slug)
    reason = request.POST.get("reason", "").strip()
    try:
        rating = privacy.comment_of(study, rating_id)
        service = privacy.comment_hide if hide else privacy.comment_show
        service(rating=rating, by=request.user, reason=reason)
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("study-detail", study.slug)
    if hide:
        messages.success(request, _("The comment is hidden from the feedback and the exports."))
    else:
        messages.success(request, _("The comment is shown again in the feedback and the exports."))
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        return redirect(back)
    return redirect("round-comments", study.slug, rating.round_item.round.number)


@login_required
@require_POST
def comment_hide(request: HttpRequest, slug: str, rating_id: int) -> HttpResponse:
    return _moderate(request, slug, rating_id, hide=True)


@login_required
@require_POST
def comment_show(request: HttpRequest, slug: str, rating_id: int) -> HttpResponse:
    return _moderate(request, slug, rating_id, hide=False)


@login_required
def study_privacy(request: HttpRequest, slug: str) -> HttpResponse:
    """The panel, each panelist with their data requests; the retention rule."""
    study = _study(request, slug)
    query = request.GET.get("q", "").strip()[:100]
    panel = Panelist.objects.filter(study=study).order_by("pseudonym")
    if query:
        panel = panel.filter(
            Q(pseudonym__icontains=query) | Q(name__icontains=query) | Q(email__icontains=query)
        )
    context = {
        "study": study,
        "panel": Paginator(panel, 100).get_page(request.GET.get("page", 1)),
        "query": query,
        "retention_days": settings.DELPHI_RETENTION_DAYS,
    }
    return render(request, "rounds/privacy/study_privacy.html", context)


def _panelist(request: HttpRequest, slug: str, pseudonym: str) -> Panelist:
    study = _study(request, slug)
    try:
        return privacy.panelist_by_pseudonym(study, pseudonym)
    except DomainError:
        raise Http404("No such panelist") from None


@login_required
def panelist_export(request: HttpRequest, slug: str, pseudonym: str, fmt: str) -> HttpResponse:
    """The panelist's data for an access request: everything as JSON, or the ratings as
    CSV. Recorded in the audit log."""
    panelist = _panelist(request, slug, pseudonym)
    if fmt not in ("json", "csv"):
        raise Http404("No such format")
    if fmt == "json":
        body = json.dumps(privacy.panelist_data(panelist), indent=2, ensure_ascii=False)
        response = HttpResponse(body.encode("utf-8"), content_type="application/json")
    else:
        response = HttpResponse(
            privacy.panelist_ratings_csv(panelist), content_type="text/csv; charset=utf-8"
        )
    privacy.panelist_export_record(panelist=panelist, by=request.user, what=fmt)
    name = f"{panelist.study.slug}-{panelist.pseudonym}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def panelist_erase(request: HttpRequest, slug: str, pseudonym: str) -> HttpResponse:
    """Erase a panelist's e-mail address and name; the coordinator types the pseudonym to
    confirm, and gives a reason (both recorded)."""
    panelist = _panelist(request, slug, pseudonym)
    confirm = request.POST.get("confirm", "").strip().upper()
    reason = request.POST.get("reason", "").strip()
    if confirm != panelist.pseudonym or not reason:
        messages.error(
            request,
            _(
                "Nothing was erased: type the pseudonym %(pseudonym)s and give a reason "
                "(e.g. the panelist's request) to confirm."
            )
            % {"pseudonym": panelist.pseudonym},
        )
    elif privacy.panelist_erase(panelist=panelist, by=request.user, reason=reason):
        messages.success(
            request,
            _(
                "%(pseudonym)s is erased: e-mail address and name removed, links revoked, "
                "e-mails cleared. The ratings stay under the pseudonym."
            )
            % {"pseudonym": panelist.pseudonym},
        )
    else:
        messages.info(
            request, _("%(pseudonym)s was already erased.") % {"pseudonym": panelist.pseudonym}
        )
    return redirect("study-privacy", panelist.study.slug)
