"""A step saved with answers missing: the page says so at the top, with links to them."""

from __future__ import annotations

import pytest
from django.test import Client

from rounds.models import Panelist, Study
from tests.factories import make_study
from tests.panelists.test_wizard import consent, login, open_round, step_data, step_names

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    return make_study(n_items=4, n_panelists=2)


def test_save_and_next_with_ratings_missing_lists_them_at_the_top(
    client: Client, study: Study
) -> None:
    open_round(study)
    panelist: Panelist = study.panelists.get(pseudonym="P001")
    login(client, panelist)
    consent(client)
    step = step_names(client)[0]
    data = step_data(client, step)
    missing = sorted(k for k in data if "-r-" in k)[0]
    del data[missing]
    response = client.post(f"/p/rate/{step}/", data)
    assert response.status_code == 200
    html = response.content.decode()
    summary_at = html.index('class="message error error-summary"')
    assert summary_at < html.index('<article class="item"')
    assert 'tabindex="-1"' in html[summary_at - 200 : summary_at + 200]
    assert "1 answer is missing on this page" in html
    field_id = "id_" + missing
    assert f'href="#{field_id}_0"' in html  # the link lands on the first point of the scale
    assert f'id="{field_id}_0"' in html


def test_round_2_feedback_is_one_line_with_the_chart_one_tap_away(client: Client) -> None:
    from tests.factories import run_round

    study = make_study(n_items=2, n_panelists=6)
    run_round(study, lambda p, ri, c: 5)  # all carried over
    open_round(study)
    login(client, study.panelists.get(pseudonym="P001"))
    html = client.get(f"/p/rate/{step_names(client)[0]}/").content.decode()
    assert '<details class="feedback" data-open-wide>' in html  # closed until tapped
    assert "Last round: median 5 · you 5 · " in html
