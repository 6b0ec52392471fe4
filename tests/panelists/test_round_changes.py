"""From round 2 the welcome page says what changed since the last round."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from rounds import item_services
from rounds.models import Round, Study
from tests.factories import make_study, run_round
from tests.panelists.test_wizard import login, open_round
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    study = make_study(n_items=4, n_panelists=8, languages=("en",))
    run_round(study)
    return study


def test_round_two_lists_agreed_removed_and_reworded_items(study: Study) -> None:
    draft = study.rounds.get(number=2)
    carried = list(draft.round_items.select_related("item").order_by("position"))
    assert carried, "the factory's split item is carried over"
    item_services.item_reword(round_item=carried[0], texts={"en": "A clearer wording"})
    coordinator = as_user(member(study, "coordinator"))
    coordinator.post(reverse("round-introduction", args=[study.slug, 2]),
                     {"text_en": "Thank you! Two items remain."})  # fmt: skip
    open_round(study)
    client = Client()
    login(client, study.panelists.get(pseudonym="P001"))
    html = client.get("/p/").content.decode()
    assert "What changed since round 1" in html
    assert "Thank you! Two items remain." in html
    decisions = dict(
        study.rounds.get(number=1).decisions.values_list("round_item__item__code", "decision")
    )
    if "accepted" in decisions.values():
        assert "reached agreement and" in html
    assert "was reworded" in html and "A clearer wording" in html


def test_round_one_has_no_changes_section() -> None:
    study = make_study(languages=("en",))
    open_round(study)
    client = Client()
    login(client, study.panelists.first())
    assert "What changed" not in client.get("/p/").content.decode()
    assert Round.objects.filter(study=study).count() == 1
