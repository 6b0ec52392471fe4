"""The demo's way in for a visitor: straight into a demo panelist's questionnaire.

Only in demo mode. The personal link is computed for the moment of the redirect (as an
e-mail would carry it) and never written anywhere, so the demo keeps no token in a file.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from demo.kce import LIVE_SLUG, VISITOR_EMAIL
from panelists import links
from rounds.models import Panelist


def visitor(request: HttpRequest) -> HttpResponse:
    if not settings.DEMO_MODE:
        raise Http404("Not a demo")
    panelist = Panelist.objects.filter(study__slug=LIVE_SLUG, email=VISITOR_EMAIL).first()
    if panelist is None:
        raise Http404("The demo study is not there: run delphi_demo")
    response = redirect(urlsplit(links.link_for(panelist)).path)
    response["Referrer-Policy"] = "no-referrer"
    return response
