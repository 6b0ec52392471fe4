"""Coordinator pages. Every view goes through `rounds.access` for the study it shows."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from rounds import access


def home(request: HttpRequest) -> HttpResponse:
    context = {"studies": access.studies_for_user(request.user), "demo": _demo_info()}
    return render(request, "rounds/home.html", context)


def _demo_info() -> dict[str, str] | None:
    """What `delphi_demo` left for the home page's demo banner (demo mode only)."""
    path = settings.VAR_DIR / "demo.json"
    if not settings.DEMO_MODE or not path.exists():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


@login_required
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    study = access.get_study_for_user(request.user, slug, access.VIEW)
    rounds = study.rounds.prefetch_related(
        "results__criterion", "results__round_item__item", "decisions__round_item__item"
    )
    return render(request, "rounds/study_detail.html", {"study": study, "rounds": rounds})
