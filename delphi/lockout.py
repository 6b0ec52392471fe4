"""The page shown when django-axes refuses a login (too many failed attempts)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def locked_out(request: HttpRequest, response: Any = None, credentials: Any = None) -> HttpResponse:
    """429 with a clear message: why, for how long, and what to do meanwhile."""
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    context = {"minutes": minutes, "limit": settings.AXES_FAILURE_LIMIT}
    page = render(request, "registration/locked_out.html", context, status=429)
    page["Retry-After"] = str(minutes * 60)
    return page
