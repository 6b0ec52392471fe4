"""Coordinators write, link, order and delete recommendation sheets; each change audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from reports import services
from reports.models import Recommendation
from rounds.errors import DomainError
from rounds.models import AuditEntry, Item
from tests.factories import make_study
from tests.reports.conftest import Team

pytestmark = pytest.mark.django_db


def _titles(team: Team) -> list[str]:
    return list(
        Recommendation.objects.filter(study=team.study)
        .order_by("position")
        .values_list("title", flat=True)
    )


def _codes(rec: Recommendation) -> list[str]:
    return list(rec.links.order_by("position").values_list("item__code", flat=True))


def _item(team: Team, code: str) -> Item:
    return Item.objects.get(study=team.study, code=code)


def test_a_new_recommendation_goes_last_with_its_items_in_order(team: Team) -> None:
    rec = services.recommendation_create(
        study=team.study, title="  Third  ", text="Text", actors=["health_system"],
        items=[_item(team, "I04"), _item(team, "I01")], by=team.coordinator,
        justification="I04 stays: the interviews asked for it.",
    )  # fmt: skip

    assert (rec.position, rec.title) == (3, "Third")
    assert _codes(rec) == ["I04", "I01"]
    entry = AuditEntry.objects.filter(study=team.study, action="recommendation.created").last()
    assert entry is not None
    assert entry.actor == team.coordinator and entry.after["items"] == ["I04", "I01"]


def test_editing_keeps_the_order_of_items_already_linked(team: Team) -> None:
    rec = Recommendation.objects.get(study=team.study, position=1)  # rests on I01, I02

    services.recommendation_update(
        recommendation=rec, title=rec.title, text="New text", actors=[],
        items=[_item(team, "I03"), _item(team, "I02")], by=team.coordinator,
        justification="I02 stays: the interviews asked for it.",
    )  # fmt: skip

    assert _codes(rec) == ["I02", "I03"]
    entry = AuditEntry.objects.get(study=team.study, action="recommendation.changed")
    assert entry.before["items"] == ["I01", "I02"] and entry.after["items"] == ["I02", "I03"]


def test_moving_reorders_and_stays_within_bounds(team: Team) -> None:
    first, second = Recommendation.objects.filter(study=team.study).order_by("position")

    services.recommendation_move(recommendation=second, offset=-1)
    assert _titles(team) == [second.title, first.title]
    services.recommendation_move(recommendation=second, offset=-1)
    assert _titles(team) == [second.title, first.title]


def test_deleting_renumbers_the_rest(team: Team) -> None:
    first, second = Recommendation.objects.filter(study=team.study).order_by("position")

    services.recommendation_delete(recommendation=first, by=team.coordinator)

    second.refresh_from_db()
    assert second.position == 1
    assert AuditEntry.objects.filter(action="recommendation.deleted").exists()


def test_a_recommendation_cannot_rest_on_another_studys_items(team: Team) -> None:
    other = make_study()

    with pytest.raises(DomainError, match="own study"):
        services.recommendation_create(
            study=team.study, title="x", text="y", items=list(other.items.all()[:1])
        )


def test_unknown_actors_are_refused(team: Team) -> None:
    with pytest.raises(DomainError, match="Unknown actors"):
        services.recommendation_create(study=team.study, title="x", text="y", actors=["mayor"])


@pytest.fixture
def client(team: Team) -> Client:
    client = Client()
    client.force_login(team.coordinator)
    return client


def test_a_coordinator_writes_a_recommendation_through_the_form(team: Team, client: Client) -> None:
    url = reverse("recommendation-create", args=[team.study.slug])
    form = client.get(url).content.decode()
    assert "I01 — Action item 1 (en) (Accepted)" in form

    response = client.post(url, {
        "title": "Train GPs to say no", "text": "Two **paragraphs**.\n\nSecond.",
        "actors": ["individual", "practice_training"], "implementation_notes": "Pilot.",
        "items": [_item(team, "I01").pk],
    })  # fmt: skip

    assert response.status_code == 302
    rec = Recommendation.objects.get(study=team.study, title="Train GPs to say no")
    assert rec.actors == ["individual", "practice_training"] and _codes(rec) == ["I01"]


def test_the_form_says_what_is_missing(team: Team, client: Client) -> None:
    response = client.post(reverse("recommendation-create", args=[team.study.slug]), {})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()


def test_the_list_moves_and_deletes_with_buttons(team: Team, client: Client) -> None:
    first, second = Recommendation.objects.filter(study=team.study).order_by("position")
    slug = team.study.slug

    client.post(reverse("recommendation-move", args=[slug, second.pk]), {"direction": "up"})
    assert _titles(team) == [second.title, first.title]
    client.post(reverse("recommendation-delete", args=[slug, first.pk]))
    assert _titles(team) == [second.title]


def test_the_list_page_reads_a_fixed_number_of_queries(
    team: Team, client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    for i in range(6):
        services.recommendation_create(
            study=team.study,
            title=f"Extra {i}",
            text="t",
            items=list(team.study.items.all()),
            justification="Every item, whatever the panel said: a test of the list page.",
        )

    with django_assert_max_num_queries(12):
        page = client.get(reverse("recommendation-list", args=[team.study.slug]))

    assert page.status_code == 200 and "Extra 5" in page.content.decode()


def test_resting_on_a_rejected_item_needs_a_justification_and_changes_nothing(team: Team) -> None:
    before = Recommendation.objects.filter(study=team.study).count()

    with pytest.raises(services.JustificationRequired, match=r"I02 \(Rejected\)"):
        services.recommendation_create(
            study=team.study, title="Lean on I02", text="x", items=[_item(team, "I02")]
        )

    assert Recommendation.objects.filter(study=team.study).count() == before


def test_the_form_asks_for_the_justification_beside_its_field(team: Team, client: Client) -> None:
    url = reverse("recommendation-create", args=[team.study.slug])
    fields = {"title": "Lean on I02", "text": "x", "items": [_item(team, "I02").pk]}

    refused = client.post(url, fields)
    saved = client.post(url, {**fields, "justification": "A stakeholder workshop kept it."})

    assert refused.status_code == 200
    page = refused.content.decode()
    assert "rests on items the panel did not accept: I02 (Rejected)" in page
    assert page.index("has-error") < page.index('name="justification"')
    assert saved.status_code == 302
    rec = Recommendation.objects.get(study=team.study, title="Lean on I02")
    assert rec.justification == "A stakeholder workshop kept it."
