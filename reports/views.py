"""Downloads for the members of a study (coordinators and viewers)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from reports import exports
from rounds import access
from rounds.models import Study


def _get_study(request: HttpRequest, slug: str) -> Study:
    return access.get_study_for_user(request.user, slug, access.VIEW)


def _filename(study: Study, stem: str, ext: str) -> str:
    return f"{study.slug}-{stem}-{timezone.now():%Y%m%d}.{ext}"


def _csv_download(study: Study, stem: str, write: Callable[[Study, Path], None]) -> HttpResponse:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{stem}.csv"
        write(study, path)
        body = path.read_bytes()
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(study, stem, "csv")}"'
    return response


@login_required
def export_ratings(request: HttpRequest, slug: str) -> HttpResponse:
    return _csv_download(_get_study(request, slug), "ratings", exports.write_ratings_csv)


@login_required
def export_results(request: HttpRequest, slug: str) -> HttpResponse:
    return _csv_download(_get_study(request, slug), "results", exports.write_results_csv)


@login_required
def report_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    from reports.pdf import render_report_pdf

    study = _get_study(request, slug)
    response = HttpResponse(render_report_pdf(study), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_filename(study, "report", "pdf")}"'
    return response
