"""Two pages of the same step (another tab, another device): a save from the older page
does not overwrite newer answers unseen; a save that fails on the database keeps the typed
answers on the page."""

from __future__ import annotations

import re

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rounds import answers
from rounds.models import Panelist, Rating, Study
from tests.factories import make_study
from tests.panelists.test_wizard import consent, login, open_round, step_data, step_names

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    return make_study(n_items=2, n_panelists=2)


@pytest.fixture
def panelist(study: Study) -> Panelist:
    return study.panelists.get(pseudonym="P001")


def two_pages(study: Study, panelist: Panelist) -> tuple[Client, Client, str]:
    open_round(study)
    first, second = Client(), Client()
    login(first, panelist)
    consent(first)
    login(second, panelist)
    return first, second, step_names(first)[0]


def seen_of(client: Client, step: str) -> str:
    html = client.get(f"/p/rate/{step}/").content.decode()
    found = re.search(r'name="answers_seen" value="([^"]*)"', html)
    assert found is not None
    return found.group(1)


def values(panelist: Panelist) -> set[int | None]:
    return set(Rating.objects.filter(panelist=panelist).values_list("value", flat=True))


def test_a_save_from_an_older_page_shows_the_newer_answers_and_saves_nothing(
    study: Study, panelist: Panelist
) -> None:
    first, second, step = two_pages(study, panelist)
    old_seen = seen_of(first, step)  # the first page is shown before the other save
    assert old_seen == "none"
    second_data = step_data(second, step, "3", answers_seen=seen_of(second, step))
    assert second.post(f"/p/rate/{step}/", second_data).status_code == 302
    assert values(panelist) == {3}

    response = first.post(f"/p/rate/{step}/", step_data(first, step, "5", answers_seen=old_seen))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Newer answers were saved elsewhere" in html
    assert re.search(r"<td>3</td><td>5</td>", html)  # saved elsewhere, on this page
    assert re.search(r'value="5"[^>]*checked', html)  # the typed answers stay in the form
    assert values(panelist) == {3}

    newest = re.search(r'name="answers_seen" value="([^"]*)"', html)
    assert newest is not None and newest.group(1) != "none"
    keep = step_data(first, step, "5", answers_seen=newest.group(1), wizard_goto_step=step)
    assert first.post(f"/p/rate/{step}/", keep).status_code in (200, 302)
    assert values(panelist) == {5}


def test_a_page_sent_without_the_marker_still_saves(study: Study, panelist: Panelist) -> None:
    first, _second, step = two_pages(study, panelist)
    assert first.post(f"/p/rate/{step}/", step_data(first, step, "6")).status_code == 302
    assert values(panelist) == {6}


def test_a_database_error_keeps_the_typed_answers_and_says_nothing_was_saved(
    study: Study, panelist: Panelist, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _second, step = two_pages(study, panelist)
    data = step_data(first, step, "7", answers_seen=seen_of(first, step))

    def lost(**kwargs: object) -> int:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(answers, "ratings_save", lost)
    response = first.post(f"/p/rate/{step}/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your answers were not saved" in html
    assert re.search(r'value="7"[^>]*checked', html)
    assert not Rating.objects.exists()


def test_the_check_costs_no_extra_query(study: Study, panelist: Panelist) -> None:
    round = open_round(study)
    questions = answers.Questions.of(round)
    cells = [
        answers.Answer(ri, c, 5) for ri in questions.round_item_ids for c in questions.criteria
    ]
    answers.ratings_save(panelist=panelist, round=round, answers=cells, questions=questions)
    with CaptureQueriesContext(connection) as plain:
        answers.ratings_save(panelist=panelist, round=round, answers=cells, questions=questions)
    newest = max(Rating.objects.values_list("updated_at", flat=True))
    with CaptureQueriesContext(connection) as checked:
        answers.ratings_save(
            panelist=panelist, round=round, answers=cells, questions=questions, expected=newest
        )
    assert len(checked) == len(plain)  # the check rides in the save's own query
