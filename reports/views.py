"""Recommendations, report versions, downloads and the policy team's space.

Every view goes through `rounds.access`. Coordinators (role "run") write recommendations,
generate and publish report versions and download any ready version. Viewers (the policy
team, role "view") see the policy space and download the published version only: every
other URL of this module answers them 404, like a study they have no role in.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from reports import exports, selectors, services
from reports.forms import RecommendationForm
from reports.markup import render_markdown
from reports.models import Recommendation, ReportVersion
from reports.pdf import overview
from rounds import access, csvio
from rounds import selectors as round_selectors
from rounds.errors import DomainError
from rounds.models import ItemDecision, Study, StudyMembership
from rounds.templatetags.delphi_format import stat
from rounds.templatetags.shares import share

# Files a version offers for download, by the name used in its URL.
DOWNLOADS: dict[str, str] = {
    "report.pdf": "report",
    "data.zip": "data",
    "ratings.csv": "ratings",
    "results.csv": "results",
    "comments.csv": "comments",
    "stability.csv": "stability",
    "rules.csv": "rules",
    "codebook.csv": "codebook",
    "data.xlsx": "data",
}


def _run(request: HttpRequest, slug: str) -> Study:
    return access.get_study_for_user(request.user, slug, access.RUN)


def _can_run(request: HttpRequest, study: Study) -> bool:
    role = access.role_of(request.user, study)
    return role is not None and role != StudyMembership.Role.VIEWER


# --------------------------------------------------------------------------- recommendations


@login_required
def recommendation_list(request: HttpRequest, slug: str) -> HttpResponse:
    study = _run(request, slug)
    recommendations = Recommendation.objects.filter(study=study).prefetch_related("links__item")
    context = {"study": study, "recommendations": recommendations}
    return render(request, "reports/recommendation_list.html", context)


@login_required
def recommendation_create(request: HttpRequest, slug: str) -> HttpResponse:
    study = _run(request, slug)
    return _recommendation_form(request, study, None)


@login_required
def recommendation_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    study = _run(request, slug)
    rec = get_object_or_404(Recommendation, study=study, pk=pk)
    return _recommendation_form(request, study, rec)


def _recommendation_form(
    request: HttpRequest, study: Study, rec: Recommendation | None
) -> HttpResponse:
    labels = dict(ItemDecision.Decision.choices)
    dispositions = {
        pk: str(labels.get(code, code)) for pk, code in selectors.final_decisions(study).items()
    }
    initial = _initial(rec) if rec is not None else None
    data = request.POST if request.method == "POST" else None
    form = RecommendationForm(data, initial=initial, study=study, dispositions=dispositions)
    if request.method == "POST" and form.is_valid():
        fields: dict[str, Any] = {**form.cleaned_data, "items": list(form.cleaned_data["items"])}
        try:
            if rec is None:
                rec = services.recommendation_create(study=study, by=request.user, **fields)
            else:
                services.recommendation_update(recommendation=rec, by=request.user, **fields)
        except services.JustificationRequired as exc:
            form.add_error("justification", str(exc))
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Recommendation saved."))
            return redirect("recommendation-list", slug=study.slug)
    context = {"study": study, "form": form, "recommendation": rec}
    return render(request, "reports/recommendation_form.html", context)


def _initial(rec: Recommendation) -> dict[str, Any]:
    return {
        "title": rec.title,
        "text": rec.text,
        "actors": rec.actors,
        "implementation_notes": rec.implementation_notes,
        "items": list(rec.links.values_list("item_id", flat=True)),
        "justification": rec.justification,
    }


@login_required
@require_POST
def recommendation_move(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    study = _run(request, slug)
    rec = get_object_or_404(Recommendation, study=study, pk=pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    services.recommendation_move(recommendation=rec, offset=offset, by=request.user)
    return redirect(reverse("recommendation-list", args=[study.slug]) + f"#rec-{rec.pk}")


@login_required
def recommendation_delete(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    study = _run(request, slug)
    rec = get_object_or_404(Recommendation, study=study, pk=pk)
    if request.method == "POST":
        services.recommendation_delete(recommendation=rec, by=request.user)
        messages.success(request, _("Recommendation deleted."))
        return redirect("recommendation-list", slug=study.slug)
    context = {"study": study, "recommendation": rec}
    return render(request, "reports/recommendation_confirm_delete.html", context)


# --------------------------------------------------------------------------- report versions


@login_required
def report_versions(request: HttpRequest, slug: str) -> HttpResponse:
    study = _run(request, slug)
    versions = ReportVersion.objects.filter(study=study).select_related("created_by")
    published = ReportVersion.objects.current_published(study)
    context = {
        "study": study,
        "versions": versions,
        "published": published,
        "n_recommendations": Recommendation.objects.filter(study=study).count(),
    }
    return render(request, "reports/versions.html", context)


@login_required
@require_POST
def report_generate(request: HttpRequest, slug: str) -> HttpResponse:
    study = _run(request, slug)
    version = services.report_request(study=study, by=request.user)
    return redirect("report-version", slug=study.slug, number=version.version)


@login_required
@never_cache
def report_version(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    study = _run(request, slug)
    version = get_object_or_404(ReportVersion, study=study, version=number)
    published = ReportVersion.objects.current_published(study)
    context = {
        "study": study,
        "version": version,
        "is_published": published is not None and published.pk == version.pk,
        "files": _files(version),
        "publish_warnings": _publish_warnings(study),
    }
    return render(request, "reports/version_detail.html", context)


def _publish_warnings(study: Study) -> list[str]:
    """What the coordinator must know before publishing: an interim report, no reader."""
    out = []
    if study.status != Study.Status.FINISHED:
        out.append(
            _(
                "The study is still running: this is an interim report, and it says so on "
                "its title page. End the study on its page to make the next version final."
            )
        )
    if not study.memberships.filter(role=StudyMembership.Role.VIEWER).exists():
        out.append(
            _(
                "Nobody can see it yet: the study has no viewer. Invite the policy team on "
                "the study's Team page."
            )
        )
    return out


@login_required
@never_cache
def report_status(request: HttpRequest, slug: str, number: int) -> JsonResponse:
    study = _run(request, slug)
    version = get_object_or_404(ReportVersion, study=study, version=number)
    return JsonResponse(
        {
            "version": version.version,
            "status": version.status,
            "status_label": version.get_status_display(),
            "progress": version.progress,
            "step": version.step,
            "finished": not version.is_pending,
        }
    )


@login_required
@require_POST
def report_publish(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    study = _run(request, slug)
    version = get_object_or_404(ReportVersion, study=study, version=number)
    if _publish_warnings(study) and request.POST.get("confirmed") != "yes":
        messages.error(request, _("Tick the box to confirm that you read the warnings."))
        return redirect("report-version", slug=study.slug, number=version.version)
    try:
        services.report_publish(version=version, by=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Version %(n)d is now the report the policy team sees.") % {"n": version.version},
        )
    return redirect("report-version", slug=study.slug, number=version.version)


@login_required
@require_POST
def report_withdraw(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    study = _run(request, slug)
    version = get_object_or_404(ReportVersion, study=study, version=number)
    services.report_withdraw(version=version, by=request.user)
    messages.success(request, _("Version %(n)d is withdrawn.") % {"n": version.version})
    return redirect("report-version", slug=study.slug, number=version.version)


# --------------------------------------------------------------------------- downloads


@login_required
def report_download(
    request: HttpRequest, slug: str, number: int, filename: str
) -> HttpResponseBase:
    """A file of a ready version: any version for coordinators, the published one for
    viewers (404 for every other)."""
    study = access.get_study_for_user(request.user, slug, access.VIEW)
    if filename not in DOWNLOADS:
        raise Http404("No such file")
    version = get_object_or_404(
        ReportVersion, study=study, version=number, status=ReportVersion.Status.DONE
    )
    if not _can_run(request, study):
        published = ReportVersion.objects.current_published(study)
        if published is None or published.pk != version.pk:
            raise Http404("No such version")
    return _serve(version, filename)


def _serve(version: ReportVersion, filename: str) -> HttpResponseBase:
    ext = filename.rsplit(".", 1)[1]
    name = _download_name(version, filename)
    if filename == "report.pdf":
        return _file(version.pdf, name, exports.CONTENT_TYPES["pdf"])
    if filename == "data.zip":
        return _file(version.archive, name, exports.CONTENT_TYPES["zip"])
    with version.archive.open("rb") as handle:
        body = exports.read_member(handle.read(), filename)
    if body is None:
        raise Http404("This version has no such file")
    response = HttpResponse(body, content_type=exports.CONTENT_TYPES[ext])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _file(field: Any, name: str, content_type: str) -> FileResponse:
    response = FileResponse(field.open("rb"), as_attachment=True, filename=name)
    response["Content-Type"] = content_type
    return response


def _download_name(version: ReportVersion, filename: str) -> str:
    """`<slug>-report-v3-20261125.pdf`, `<slug>-ratings-v3-20261125.csv`, …"""
    ext = filename.rsplit(".", 1)[1]
    day = str(version.stamp.get("generated_at", ""))[:10].replace("-", "")
    what = "report" if filename == "report.pdf" else DOWNLOADS[filename]
    if filename == "data.zip":
        what = "report"
    return f"{version.study.slug}-{what}-v{version.version}-{day}.{ext}"


def _labels() -> dict[str, str]:
    return {
        "report.pdf": _("Report (PDF)"),
        "data.zip": _("Everything in one zip"),
        "ratings.csv": _("Ratings (CSV)"),
        "results.csv": _("Results (CSV)"),
        "comments.csv": _("Comments, anonymised (CSV)"),
        "stability.csv": _("Stability between rounds (CSV)"),
        "rules.csv": _("Verdicts under every rule (CSV)"),
        "codebook.csv": _("Codebook (CSV)"),
        "data.xlsx": _("All tables and the protocol (Excel)"),
    }


def _files(version: ReportVersion) -> list[dict[str, str]]:
    if not version.is_done:
        return []
    slug, number = version.study.slug, version.version
    labels = _labels()
    return [
        {
            "name": filename,
            "label": labels[filename],
            "download": _download_name(version, filename),
            "url": reverse("report-download", args=[slug, number, filename]),
        }
        for filename in DOWNLOADS
    ]


# --------------------------------------------------------------------------- policy space


@login_required
def policy_space(request: HttpRequest, slug: str) -> HttpResponse:
    """What the policy team sees: the published version's summary, results and files."""
    study = access.get_study_for_user(request.user, slug, access.VIEW)
    version = ReportVersion.objects.current_published(study)
    context = {
        "study": study,
        "description": study.text("description"),
        "version": version,
        "summary": _labelled(version.summary) if version else {},
        "files": _files(version) if version else [],
        "can_run": _can_run(request, study),
        "policy_summary": study.text("policy_summary"),
    }
    if version:
        context["sheets"] = _sheets(_labelled(version.summary))
    return render(request, "reports/policy.html", context)


def _sheets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The published recommendation sheets with the items behind each, in plain words."""
    items = {item["code"]: item for item in summary.get("items", [])}
    names = [c["name"] for c in summary.get("criteria", [])]
    sheets = []
    for rec in summary.get("recommendations", []):
        sheets.append(
            {
                **rec,
                "text_html": render_markdown(rec.get("text", "")),
                "items": [
                    {**items[code], "words": _plain_cells(items[code], names)}
                    for code in rec.get("items", [])
                    if code in items
                ],
            }
        )
    return sheets


def _plain_cells(item: dict[str, Any], names: list[str]) -> list[str]:
    verdicts = {
        "in": _("the panel agreed it is high"),
        "out": _("the panel agreed it is low"),
        "none": _("no agreement"),
    }
    out = []
    for name, cell in zip(names, item.get("cells", []), strict=False):
        if not cell or cell.get("median") is None:
            continue
        out.append(
            _("%(criterion)s: median %(median)s, half of the panel between %(q1)s and %(q3)s, "
              "%(high)s%% rated it high; %(verdict)s.")
            % {
                "criterion": name, "median": stat(cell["median"]), "q1": stat(cell["q1"]),
                "q3": stat(cell["q3"]), "high": share(cell, "high"),
                "verdict": verdicts.get(cell.get("consensus", ""), cell.get("consensus", "")),
            }
        )  # fmt: skip
    return out


def _labelled(summary: dict[str, Any]) -> dict[str, Any]:
    """The stored summary with decision codes turned into words of the page's language."""
    labels = {**dict(ItemDecision.Decision.choices), "pending": _("Not yet decided")}
    return {
        **summary,
        "overview": overview(
            summary.get("n_panel", 0), summary.get("n_items", 0), summary.get("n_rounds", 0)
        ),
        "decisions": [
            {"code": code, "label": labels.get(code, code), "count": count}
            for code, count in summary.get("decisions", {}).items()
        ],
        "items": [
            {**item, "decision_label": labels.get(item["decision"], "") if item["decision"] else ""}
            for item in summary.get("items", [])
        ],
    }


# --------------------------------------------------------------------------- older links


@login_required
def report_pdf(request: HttpRequest, slug: str) -> HttpResponseBase:
    """The study's report: the latest ready version for coordinators, the published one
    for viewers."""
    study = access.get_study_for_user(request.user, slug, access.VIEW)
    version = _latest_for(request, study)
    if version is None:
        if _can_run(request, study):
            messages.info(request, _("No report has been generated yet."))
            return redirect("report-versions", slug=study.slug)
        raise Http404("No published report")
    return _serve(version, "report.pdf")


@login_required
def export_ratings(request: HttpRequest, slug: str) -> HttpResponseBase:
    return _live_or_published(request, slug, "ratings.csv")


@login_required
def export_results(request: HttpRequest, slug: str) -> HttpResponseBase:
    return _live_or_published(request, slug, "results.csv")


def _latest_for(request: HttpRequest, study: Study) -> ReportVersion | None:
    if _can_run(request, study):
        done = ReportVersion.objects.filter(study=study, status=ReportVersion.Status.DONE)
        return done.order_by("-version").first()
    return ReportVersion.objects.current_published(study)


def _live_or_published(request: HttpRequest, slug: str, filename: str) -> HttpResponseBase:
    """Coordinators get the data as they stand now; viewers the published version's."""
    study = access.get_study_for_user(request.user, slug, access.VIEW)
    if not _can_run(request, study):
        published = ReportVersion.objects.current_published(study)
        if published is None:
            raise Http404("No published report")
        return _serve(published, filename)
    if filename == "ratings.csv":
        body = csvio.ratings_csv(round_selectors.ratings_frame(study=study))
    else:
        body = exports.table_csv(selectors.results_frame(study), exports.RESULTS_COLUMNS)
    stem = filename.rsplit(".", 1)[0]
    response = HttpResponse(body, content_type=exports.CONTENT_TYPES["csv"])
    name = f"{study.slug}-{stem}-{timezone.now():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
