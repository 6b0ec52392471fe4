"""Downloads for coordinators (staff only until per-study roles land)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from reports import exports
from rounds.models import Study


def _get_study(slug: str) -> Study:
    return get_object_or_404(Study, slug=slug)


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


@staff_member_required
def export_ratings(request: HttpRequest, slug: str) -> HttpResponse:
    return _csv_download(_get_study(slug), "ratings", exports.write_ratings_csv)


@staff_member_required
def export_results(request: HttpRequest, slug: str) -> HttpResponse:
    return _csv_download(_get_study(slug), "results", exports.write_results_csv)


@staff_member_required
def report_pdf(request: HttpRequest, slug: str) -> HttpResponse:
    from reports.pdf import render_report_pdf

    study = _get_study(slug)
    response = HttpResponse(render_report_pdf(study), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_filename(study, "report", "pdf")}"'
    return response
