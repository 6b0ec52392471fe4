"""The demo's visitor goes straight into a demo panelist's questionnaire, and the demo keeps
no personal link in any file."""

from __future__ import annotations

import pytest
from django.test import Client

from demo.kce import LIVE_SLUG, VISITOR_EMAIL
from rounds.models import Panelist
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def visitor() -> Panelist:
    study = make_study(n_items=2, n_panelists=2)
    study.slug = LIVE_SLUG
    study.save(update_fields=["slug"])
    panelist = study.panelists.first()
    Panelist.objects.filter(pk=panelist.pk).update(email=VISITOR_EMAIL)
    return panelist


def test_outside_demo_mode_there_is_no_way_in(client: Client, settings: object) -> None:
    settings.DEMO_MODE = False  # type: ignore[attr-defined]
    visitor()
    assert client.get("/demo/panelist/").status_code == 404


def test_in_demo_mode_the_visitor_lands_in_the_questionnaire(
    client: Client, settings: object
) -> None:
    settings.DEMO_MODE = True  # type: ignore[attr-defined]
    panelist = visitor()
    response = client.get("/demo/panelist/", follow=True)
    assert response.redirect_chain[0][0].startswith("/p/")
    assert response.redirect_chain[-1][0] == "/p/"
    assert client.session["panelist_id"] == panelist.pk
