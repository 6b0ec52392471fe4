"""Coordinator pages (staff only until per-study roles land)."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from rounds.models import Study


def _get_study_for_staff(slug: str) -> Study:
    return get_object_or_404(Study.objects.select_related("protocol"), slug=slug)


def home(request: HttpRequest) -> HttpResponse:
    studies = Study.objects.all() if request.user.is_staff else Study.objects.none()
    return render(request, "rounds/home.html", {"studies": studies, "demo": _demo_info()})


def _demo_info() -> dict[str, str] | None:
    """What `delphi_demo` left for the home page's demo banner (demo mode only)."""
    path = settings.VAR_DIR / "demo.json"
    if not settings.DEMO_MODE or not path.exists():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


@staff_member_required
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    study = _get_study_for_staff(slug)
    rounds = study.rounds.prefetch_related(
        "results__criterion", "results__round_item__item", "decisions__round_item__item"
    )
    return render(request, "rounds/study_detail.html", {"study": study, "rounds": rounds})
