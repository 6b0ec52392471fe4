"""The results page: counts at the top, filters and sorting, the panel's comments per item,
and the same statistics and comments beside the items of the next round."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from rounds.models import Rating, Study
from tests.factories import make_study, run_round
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    study = make_study(n_items=4, n_panelists=8)
    run_round(study)
    rating = Rating.objects.filter(round_item__item__code="I03").order_by("pk").first()
    assert rating is not None
    rating.comment = "Too vague to rate."
    rating.save()
    return study


@pytest.fixture
def coordinator(study: Study) -> Client:
    return as_user(member(study, "coordinator"))


def items_shown(html: str) -> list[str]:
    return re.findall(r'<section class="card result"[^>]*id="item-(\w+)"', html)


def test_it_counts_the_decisions_at_the_top(study: Study, coordinator: Client) -> None:
    html = coordinator.get(reverse("round-results", args=[study.slug, 1])).content.decode()
    decisions = list(study.rounds.get(number=1).decisions.values_list("decision", flat=True))
    accepted = decisions.count("accepted")
    assert f"<strong>{accepted}</strong> accepted" in html
    assert f"<strong>{decisions.count('carried')}</strong> carried over" in html
    assert items_shown(html) == ["I01", "I02", "I03", "I04"]


def test_it_filters_by_decision_and_comments(study: Study, coordinator: Client) -> None:
    url = reverse("round-results", args=[study.slug, 1])
    decision = study.rounds.get(number=1).decisions.get(round_item__item__code="I01").decision
    html = coordinator.get(url, {"decision": decision}).content.decode()
    assert "I01" in items_shown(html)
    assert all(
        d == decision
        for d in study.rounds.get(number=1)
        .decisions.filter(round_item__item__code__in=items_shown(html))
        .values_list("decision", flat=True)
    )
    html = coordinator.get(url, {"commented": "1"}).content.decode()
    assert items_shown(html) == ["I03"]
    assert "1 of 4 items shown." in html


def test_it_sorts_by_median(study: Study, coordinator: Client) -> None:
    html = coordinator.get(
        reverse("round-results", args=[study.slug, 1]), {"sort": "median"}
    ).content.decode()
    assert items_shown(html)[0] == "I01"  # the liked item (ratings 7-9)
    assert items_shown(html)[-1] == "I02"  # the disliked one (1-3)


def test_it_shows_the_comments_with_their_pseudonym(study: Study, coordinator: Client) -> None:
    html = coordinator.get(reverse("round-results", args=[study.slug, 1])).content.decode()
    assert "1 comment from the panel" in html
    assert "Too vague to rate." in html


def test_medians_have_no_trailing_zeros(study: Study, coordinator: Client) -> None:
    html = coordinator.get(reverse("round-results", args=[study.slug, 1])).content.decode()
    assert not re.search(r'<td class="num">\d+\.\d*0</td>', html)


def test_the_page_query_count_does_not_grow_with_items(
    coordinator: Client, django_assert_max_num_queries
) -> None:
    big = make_study(n_items=16, n_panelists=8)
    run_round(big)
    client = as_user(member(big, "coordinator", name="big"))
    with django_assert_max_num_queries(14):
        client.get(reverse("round-results", args=[big.slug, 1]))


def test_the_next_rounds_items_show_last_rounds_statistics_and_comments(
    study: Study, coordinator: Client
) -> None:
    draft = study.rounds.get(number=2)
    html = coordinator.get(reverse("round-items", args=[study.slug, draft.number])).content.decode()
    if draft.round_items.filter(item__code="I03").exists():
        assert "Too vague to rate." in html
    assert "half of the panel between" in html
