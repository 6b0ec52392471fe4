"""The imports' optional columns for the study record: each item's source and reference, and
each panelist's characteristics, kept only with their consent."""

from __future__ import annotations

import pytest

from rounds.imports import ImportRejected, import_items, import_panel
from rounds.models import Item, Panelist
from tests.factories import make_study
from tests.rounds.test_imports import csv_bytes

pytestmark = pytest.mark.django_db

ITEMS = ["code", "text_fr", "text_nl", "text_en", "source", "reference"]
PANEL = ["email", "language", "age_band", "sex", "years_in_practice", "region",
         "practice_type", "consent"]  # fmt: skip


def test_items_keep_their_source_and_reference() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([ITEMS, ["P17", "a", "b", "c", "Interviews", "40 interviews, 2010"],
                      ["P18", "a", "b", "c", "", ""]])  # fmt: skip

    import_items(study=study, data=data, filename="items.csv")

    p17, p18 = Item.objects.get(study=study, code="P17"), Item.objects.get(study=study, code="P18")
    assert (p17.source, p17.reference) == ("interviews", "40 interviews, 2010")
    assert (p18.source, p18.reference) == ("", "")


def test_an_unknown_item_source_is_refused_with_the_choices() -> None:
    study = make_study(n_items=0)
    data = csv_bytes([ITEMS, ["P17", "a", "b", "c", "hearsay", ""]])

    with pytest.raises(ImportRejected) as caught:
        import_items(study=study, data=data, filename="items.csv")

    message = str(caught.value)
    assert "line 2, column source" in message
    assert "use one of literature, interviews, panel, other" in message
    assert not Item.objects.filter(study=study).exists()


def test_panelists_characteristics_are_kept_with_their_consent() -> None:
    study = make_study(n_panelists=0)
    data = csv_bytes([PANEL, ["a@x.invalid", "fr", "40-49", "female", "12", "Brussels", "group",
                              "yes"],
                      ["b@x.invalid", "nl", "", "", "", "", "", "no"]])  # fmt: skip

    import_panel(study=study, data=data, filename="panel.csv")

    a = Panelist.objects.get(study=study, email="a@x.invalid")
    b = Panelist.objects.get(study=study, email="b@x.invalid")
    assert a.characteristics_consent and (a.age_band, a.sex, a.years_in_practice) == (
        "40-49", "female", 12,
    )  # fmt: skip
    assert (a.region, a.practice_type) == ("Brussels", "group")
    assert not b.characteristics_consent and b.years_in_practice is None


def test_characteristics_without_consent_are_refused_and_nothing_is_added() -> None:
    study = make_study(n_panelists=0)
    data = csv_bytes([PANEL, ["a@x.invalid", "fr", "40-49", "", "", "", "", ""],
                      ["b@x.invalid", "fr", "", "", "forty", "", "", "yes"]])  # fmt: skip

    with pytest.raises(ImportRejected) as caught:
        import_panel(study=study, data=data, filename="panel.csv")

    message = str(caught.value)
    assert "line 2, column consent: characteristics are given but consent is not yes" in message
    assert "line 3, column years_in_practice: write a whole number of years" in message
    assert not Panelist.objects.filter(study=study).exists()
