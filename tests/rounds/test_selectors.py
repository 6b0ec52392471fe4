"""The ratings read for the analysis: the same frame whichever way the database delivers it
(COPY on PostgreSQL), in codepoint order, only the ratings that count."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rounds import csvio, selectors
from rounds.models import Panelist, Participation, Rating
from tests.factories import make_study, run_round

pytestmark = pytest.mark.django_db

AWKWARD = ['solo, "rural"\nwest', "", "Zoë's group", "=1+1", "a\tb", "ünïcode ✓"]


def test_the_frame_matches_the_rows_whatever_the_transport() -> None:
    study = make_study(n_items=4, n_panelists=6)
    for panelist, group in zip(study.panelists.order_by("pk"), AWKWARD, strict=True):
        Panelist.objects.filter(pk=panelist.pk).update(group=group)
    run_round(study, lambda p, ri, c: None if ri.position == 3 else 4 + ri.position)
    frame = selectors.ratings_frame(study=study)
    rows = list(selectors.counted_rows(study=study))
    expected = pd.DataFrame.from_records(rows, columns=selectors.RATING_COLUMNS)
    assert len(frame) == 4 * 2 * 6
    assert list(frame.columns) == selectors.RATING_COLUMNS
    for column in ("round", "panelist", "group", "item", "criterion"):
        assert frame[column].tolist() == expected[column].tolist(), column
    values = [None if math.isnan(v) else int(v) for v in frame["value"]]
    assert values == [row[5] for row in rows]
    assert csvio.ratings_csv(frame) == csvio.ratings_csv(expected)


def test_codes_come_in_codepoint_order_not_the_databases_collation() -> None:
    study = make_study(n_items=2, n_panelists=4)
    codes = ["b01", "B02", "a03", "Z04"]
    for panelist, code in zip(study.panelists.order_by("pk"), codes, strict=True):
        Panelist.objects.filter(pk=panelist.pk).update(pseudonym=code)
    run_round(study)
    frame = selectors.ratings_frame(study=study)
    first_cell = frame[(frame["item"] == "I01") & (frame["criterion"] == "acceptability")]
    assert first_cell["panelist"].tolist() == sorted(codes)  # B02, Z04, a03, b01


def test_only_submitted_ratings_count() -> None:
    study = make_study(n_items=2, n_panelists=4)
    round = run_round(study)
    panelist = study.panelists.get(pseudonym="P001")
    Participation.objects.filter(round=round, panelist=panelist).update(status="in_progress")
    frame = selectors.ratings_frame(study=study)
    assert "P001" not in set(frame["panelist"])
    assert Rating.objects.filter(panelist=panelist).count() == 2 * 2


def test_the_engine_gets_typed_categorical_columns_whatever_the_database() -> None:
    study = make_study(n_items=3, n_panelists=4)
    codes = ["b01", "B02", "a03", "Z04"]
    for panelist, code in zip(study.panelists.order_by("pk"), codes, strict=True):
        Panelist.objects.filter(pk=panelist.pk).update(pseudonym=code)
    run_round(study, lambda p, ri, c: None if ri.position == 2 else 7)
    frame = selectors.ratings_frame(study=study)
    assert frame["round"].dtype == "int64" and frame["value"].dtype == "float64"
    for column in ("panelist", "group", "item", "criterion"):
        assert isinstance(frame[column].dtype, pd.CategoricalDtype), column
        categories = frame[column].cat.categories.tolist()
        assert categories == sorted(categories), column  # codepoint order, as rows come
    assert frame["panelist"].cat.categories.tolist() == sorted(codes)
    assert frame["value"].isna().sum() == 2 * 4  # item 3's don't-knows on both criteria
