"""The demo study gets the 14 recommendation sheets of KCE Reports 165."""

from __future__ import annotations

import pytest

from demo.kce import load_items
from demo.recommendations import SHEETS, add_kce_recommendations
from reports.models import Recommendation
from rounds.models import Item
from tests.factories import make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def kce_items_study() -> object:
    study = make_study(n_items=0)
    Item.objects.bulk_create(
        Item(
            study=study,
            code=row["code"],
            position=position,
            text={"en": row["title_en"], "fr": row["title_fr"], "nl": row["title_nl"]},
            metadata={"actors": [a for a in ("individual", "practice_training", "health_system")
                                 if row[f"actor_{a}"] == "1"]},
        )
        for position, row in enumerate(load_items())
    )  # fmt: skip
    return study


def test_the_demo_gets_14_sheets_each_resting_on_items(kce_items_study: object) -> None:
    recs = add_kce_recommendations(kce_items_study)  # type: ignore[arg-type]

    assert len(recs) == 14
    assert [r.position for r in recs] == list(range(1, 15))
    for rec in recs:
        assert rec.links.count() >= 1, rec.title
        assert rec.actors and rec.text.count("\n\n") >= 1 and rec.implementation_notes


def test_every_item_code_of_the_sheets_exists_in_the_kce_fixture() -> None:
    codes = {row["code"] for row in load_items()}

    assert {code for sheet in SHEETS for code in sheet.items} <= codes
    assert len({code for sheet in SHEETS for code in sheet.items}) == len(codes)


def test_a_sheets_actors_are_those_of_its_items(kce_items_study: object) -> None:
    add_kce_recommendations(kce_items_study)  # type: ignore[arg-type]

    p04 = Recommendation.objects.get(links__item__code="P04")  # P04 + P05
    assert p04.actors == ["practice_training", "health_system"]


def test_running_it_again_replaces_the_sheets(kce_items_study: object) -> None:
    add_kce_recommendations(kce_items_study)  # type: ignore[arg-type]
    add_kce_recommendations(kce_items_study)  # type: ignore[arg-type]

    assert Recommendation.objects.filter(study=kce_items_study).count() == 14
