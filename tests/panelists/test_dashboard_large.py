"""A large panel's dashboard: the panel table comes a page at a time (filtered by status or
a search), flags are counted by the database, and the page costs the same queries whatever
the size of the panel."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from panelists.selectors import PAGE_SIZE, quality_flags
from rounds import services
from rounds.models import Participation, Rating, Round, Study
from tests.factories import make_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


def opened_round(n_panelists: int) -> tuple[Study, Round]:
    study = make_study(n_items=6, n_panelists=n_panelists)
    round = services.round_create(study=study)
    return study, services.round_open(round=round, notify=False)


def rows(html: str) -> int:
    return html.count('data-panelist="')


def test_the_panel_table_comes_a_page_at_a_time() -> None:
    study, _round = opened_round(PAGE_SIZE + 30)
    client = as_user(member(study, "coordinator"))
    url = reverse("round-detail", args=[study.slug, 1])
    first = client.get(url).content.decode()
    second = client.get(url, {"page": 2}).content.decode()
    assert (rows(first), rows(second)) == (PAGE_SIZE, 30)
    assert "page 1 of 2" in first and 'rel="next"' in first
    assert 'data-panelist="P001"' in first and 'data-panelist="P130"' in second


def test_the_panel_table_filters_by_status_and_search() -> None:
    study, round = opened_round(12)
    Participation.objects.filter(round=round, panelist__pseudonym__in=["P003", "P007"]).update(
        status="submitted"
    )
    client = as_user(member(study, "coordinator"))
    url = reverse("round-detail", args=[study.slug, 1])
    submitted = client.get(url, {"status": "submitted"}).content.decode()
    assert rows(submitted) == 2 and 'data-panelist="P007"' in submitted
    found = client.get(url, {"q": "p011@"}).content.decode()
    assert rows(found) == 1 and 'data-panelist="P011"' in found
    status = client.get(reverse("round-status", args=[study.slug, 1]), {"status": "submitted"})
    assert set(status.json()["panelists"]) == {"P003", "P007"}


def test_the_dashboard_costs_the_same_queries_for_20_or_200_panelists() -> None:
    counts = []
    for n in (20, 200):
        study, _round = opened_round(n)
        client = as_user(member(study, "coordinator"))
        url = reverse("round-detail", args=[study.slug, 1])
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_panelist_giving_one_rating_to_everything_is_flagged() -> None:
    study, round = opened_round(3)
    uniform, varied = study.panelists.order_by("pseudonym")[:2]
    criterion = study.criteria.first()
    for panelist, values in ((uniform, [5] * 6), (varied, [5, 5, 5, 5, 5, 6])):
        Rating.objects.bulk_create(
            Rating(round_item=ri, criterion=criterion, panelist=panelist, value=v)
            for ri, v in zip(round.round_items.order_by("position"), values, strict=True)
        )
    flags = quality_flags(round)
    assert flags == {uniform.pk: ["Same rating for every item"]}
