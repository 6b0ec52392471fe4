"""Saving a step costs a fixed, small number of queries, whatever the step's size."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import make_study
from tests.panelists.test_wizard import consent, login, open_round, step_data, step_names

pytestmark = pytest.mark.django_db

MAX_QUERIES_PER_SAVE = 6


def save_queries(client: Client, n_items: int) -> list[str]:
    study = make_study(n_items=n_items, n_panelists=2)
    study.items.update(domain={"en": "One domain", "fr": "Un", "nl": "Een"})
    open_round(study)
    login(client, study.panelists.first())
    consent(client)
    first = step_names(client)[0]
    data = step_data(client, first, "7")
    client.post(f"/p/rate/{first}/", data)  # warm: session cached, first save done
    page = client.get(f"/p/rate/{first}/").content.decode()
    seen = re.search(r'name="answers_seen" value="([^"]*)"', page)
    assert seen is not None
    data = step_data(client, first, "6", answers_seen=seen.group(1))
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/p/rate/{first}/", data)
    assert response.status_code == 302, response.content[:500]
    assert set(study.panelists.first().ratings.values_list("value", flat=True)) == {6}
    # Savepoints are the test's own transaction; a real request runs in one transaction.
    return [
        q["sql"] for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]  # fmt: skip


@pytest.mark.parametrize("n_items", [4, 40])
def test_a_step_save_costs_at_most_six_queries(client: Client, n_items: int) -> None:
    queries = save_queries(client, n_items)
    shown = "\n".join(q[:160] for q in queries)
    assert len(queries) <= MAX_QUERIES_PER_SAVE, f"{len(queries)} queries:\n{shown}"
