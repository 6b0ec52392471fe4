"""The rating POSTs fuzzed: whatever is posted, never a 500, and nothing but valid answers
saved (a rating on the scale or "don't know", for this panelist's round, one per cell)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rounds.models import Rating, Study
from tests.factories import make_study
from tests.panelists.test_wizard import consent, login, open_round, step_data, step_names

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NASTY = st.one_of(
    st.sampled_from(["", "5", "9", "1", "0", "10", "-1", "99999999999999999999", "5.0", "1e3",
                     "dk", "None", "null", "\x00", "٥", "５", " 5 ", "5\n", "<script>", "'; --"]),
    st.text(max_size=40),
    st.integers().map(str),
)  # fmt: skip


class _Undo(Exception):
    pass


def _valid_cells(study: Study) -> set[tuple[int, int]]:
    return {
        (ri, c)
        for ri in study.rounds.get(number=1).round_items.values_list("pk", flat=True)
        for c in study.criteria.values_list("pk", flat=True)
    }


@pytest.fixture
def session() -> tuple[Client, Study, list[str], dict[str, dict[str, str]]]:
    study = make_study(n_items=4, n_panelists=2)
    open_round(study)
    client = Client()
    login(client, study.panelists.get(pseudonym="P001"))
    consent(client)
    steps = step_names(client)
    return client, study, steps, {step: step_data(client, step) for step in steps}


@FUZZ
@given(data=st.data())
def test_any_rating_post_saves_only_valid_answers_and_never_fails(
    session: tuple[Client, Study, list[str], dict[str, dict[str, str]]], data: Any
) -> None:
    client, study, steps, forms = session
    step = data.draw(st.sampled_from(steps), label="step")
    posted = dict(forms[step])
    for name in list(posted):
        if data.draw(st.booleans(), label=f"mutate {name}"):
            posted[name] = data.draw(NASTY, label=name)
    if data.draw(st.booleans(), label="extra fields"):
        posted.update(data.draw(st.dictionaries(st.text(max_size=20), NASTY, max_size=4)))
    target = data.draw(st.sampled_from([f"/p/rate/{step}/", "/p/consent/", "/p/submit/"]))
    scale = set(range(1, 10))
    try:
        with transaction.atomic():
            response = client.post(target, posted)
            assert response.status_code < 500, (target, posted)
            ratings = list(
                Rating.objects.filter(panelist__study=study).values_list(
                    "round_item_id", "criterion_id", "value", "comment"
                )
            )
            cells = [(ri, c) for ri, c, _v, _comment in ratings]
            assert len(cells) == len(set(cells))  # one per cell
            assert set(cells) <= _valid_cells(study)
            assert all(value is None or value in scale for _ri, _c, value, _co in ratings)
            raise _Undo
    except _Undo:
        pass
