"""Real-time mode on the panelist's pages and the coordinator's dashboard: the panel's answers
after one's own first rating (hidden below the smallest group size), fetched again without a
reload, revisions until the deadline, a polite refusal after it."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from rounds import answers, realtime
from rounds.models import Criterion, Item, Panelist, Rating, Round, RoundItem, Study
from tests.factories import make_study
from tests.panelists.test_wizard import consent, login, open_round, step_data, step_names

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    study = make_study(n_items=2, n_panelists=8)
    study.protocol.realtime = True
    study.protocol.save(update_fields=["realtime"])
    return study


def others_rate(study: Study, round: Round, count: int, value: int = 3, comment: str = "") -> None:
    """Panelists P003.. rate every question `value` (directly through the service)."""
    cells = [(ri.pk, c.pk) for ri in RoundItem.objects.filter(round=round)
             for c in Criterion.objects.filter(study=study)]  # fmt: skip
    for panelist in study.panelists.order_by("pseudonym")[2 : 2 + count]:
        given = [answers.Answer(ri, c, value, comment) for ri, c in cells]
        answers.ratings_save(panelist=panelist, round=round, answers=given)
    realtime.live_forget(round)


def me(client: Client, study: Study) -> tuple[Panelist, str]:
    panelist = study.panelists.get(pseudonym="P001")
    login(client, panelist)
    consent(client)
    return panelist, step_names(client)[0]


def save(client: Client, step: str, value: str = "8", **extra: str) -> None:
    data = step_data(client, step, value, wizard_goto_step=step, **extra)
    assert client.post(f"/p/rate/{step}/", data).status_code == 302


def test_nothing_of_the_panel_shows_before_ones_own_rating(client: Client, study: Study) -> None:
    round = open_round(study)
    others_rate(study, round, 6)
    _panelist, step = me(client, study)
    page = client.get(f"/p/rate/{step}/").content.decode()
    assert "Rate this question and save" in page
    assert "The panel now" not in page


def test_the_panel_stays_hidden_below_the_smallest_group_size(client: Client, study: Study) -> None:
    round = open_round(study)
    others_rate(study, round, 3)  # with mine: 4 < 5
    _panelist, step = me(client, study)
    save(client, step)
    realtime.live_forget(round)
    page = client.get(f"/p/rate/{step}/").content.decode()
    assert "appear here once 5 panelists have rated" in page
    assert "The panel now" not in page
    assert "<svg" not in page


def test_after_rating_the_panelist_sees_the_distribution_and_the_others_comments(
    client: Client, study: Study
) -> None:
    round = open_round(study)
    others_rate(study, round, 4, comment="Costly for small practices")
    _panelist, step = me(client, study)
    save(client, step, "9", **{})
    realtime.live_forget(round)
    page = client.get(f"/p/rate/{step}/").content.decode()
    assert "The panel now" in page
    assert "5 panelists so far" in page
    assert "<svg" in page
    assert "Costly for small practices" in page
    assert "You may change your rating until the deadline" in page


def test_the_live_fragments_follow_the_others_answers_without_a_reload(
    client: Client, study: Study
) -> None:
    round = open_round(study)
    others_rate(study, round, 3)
    _panelist, step = me(client, study)
    save(client, step)
    realtime.live_forget(round)
    before = client.get(f"/p/live/{step}/")
    assert before.status_code == 200
    assert before["Content-Type"] == "application/json"
    cells = json.loads(before.content)["cells"]
    assert len(cells) == 2  # one item of this step x two criteria
    assert all("appear here once 5" in html for html in cells.values())
    digest = json.loads(before.content)["v"]
    same = json.loads(client.get(f"/p/live/{step}/", {"v": digest}).content)
    assert same == {"open": True, "v": digest, "cells": {}}  # nothing changed: nothing sent
    # Another panelist rates: the next fetch carries the distribution.
    other = study.panelists.get(pseudonym="P002")
    given = [answers.Answer(ri.pk, c.pk, 7) for ri in RoundItem.objects.filter(round=round)
             for c in Criterion.objects.filter(study=study)]  # fmt: skip
    answers.ratings_save(panelist=other, round=round, answers=given)
    realtime.live_forget(round)
    after = json.loads(client.get(f"/p/live/{step}/").content)
    assert after["open"] is True
    assert all("5 panelists so far" in html for html in after["cells"].values())


def test_after_the_deadline_a_save_is_refused_politely_and_the_answers_are_kept(
    client: Client, study: Study
) -> None:
    round = open_round(study, closes_in=timedelta(hours=1))
    panelist, step = me(client, study)
    save(client, step, "4")
    data = step_data(client, step, "9", wizard_goto_step=step)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = client.post(f"/p/rate/{step}/", data, follow=True)
        live = json.loads(client.get(f"/p/live/{step}/").content)
    assert "your last answers were not saved" in response.content.decode()
    assert set(Rating.objects.filter(panelist=panelist).values_list("value", flat=True)) == {4}
    assert live["open"] is False
    assert round.pk


def test_the_coordinator_sees_the_live_statistics(client: Client, study: Study) -> None:
    from django.contrib.auth.models import User

    from rounds.models import StudyMembership

    round = open_round(study)
    others_rate(study, round, 6, value=8)
    user = User.objects.create_user("coord", is_staff=True)
    StudyMembership.objects.create(study=study, user=user, role="coordinator")
    client.force_login(user)
    page = client.get(f"/studies/{study.slug}/rounds/1/").content.decode()
    assert "The panel&#x27;s answers now" in page or "The panel's answers now" in page
    assert 'id="live-statistics"' in page
    assert "agreed high" in page


def test_a_panelist_reads_the_others_comments_not_their_own(client: Client, study: Study) -> None:
    round = open_round(study)
    others_rate(study, round, 4, comment="Too costly")
    _panelist, step = me(client, study)
    data = step_data(client, step, "6", wizard_goto_step=step)
    for name in list(data):
        if "-r-" in name:
            data[name.replace("-r-", "-c-")] = "My own remark"
    assert client.post(f"/p/rate/{step}/", data).status_code == 302
    realtime.live_forget(round)
    fragments = json.loads(client.get(f"/p/live/{step}/").content)["cells"].values()
    assert all("Too costly" in html and "My own remark" not in html for html in fragments)
    # Another panelist, who did not comment, reads every comment (a fragment of their own).
    other = Client()
    login(other, study.panelists.get(pseudonym="P002"))
    consent(other)
    save(other, step, "5")
    realtime.live_forget(round)
    theirs = json.loads(other.get(f"/p/live/{step}/").content)["cells"].values()
    assert all("My own remark" in html for html in theirs)


def test_the_page_after_a_save_counts_that_save_at_once(client: Client, study: Study) -> None:
    round = open_round(study)
    others_rate(study, round, 4)
    _panelist, step = me(client, study)
    assert "The panel now" not in client.get(f"/p/rate/{step}/").content.decode()  # cached
    save(client, step)  # no live_forget: the cached statistics predate this save
    assert "5 panelists so far" in client.get(f"/p/rate/{step}/").content.decode()


def test_the_first_fetch_of_a_page_sends_nothing_when_nothing_changed(client: Client) -> None:
    """The page's digest (from the whole questionnaire, items shuffled) and the fetch's
    (from the step's cells alone) agree, and an unknown step is a 404."""
    study = make_study(n_items=6, n_panelists=8)
    study.protocol.realtime = True
    study.protocol.randomise_items = True
    study.protocol.save(update_fields=["realtime", "randomise_items"])
    Item.objects.filter(study=study).update(domain={"en": "One", "fr": "Un", "nl": "Een"})
    round = open_round(study)
    others_rate(study, round, 5, comment="Too costly")
    _panelist, step = me(client, study)
    save(client, step, "6", **{})
    page = client.get(f"/p/rate/{step}/").content.decode()
    digest = re.search(r'data-live-v="([0-9a-f]+)"', page)
    assert digest is not None
    fetched = json.loads(client.get(f"/p/live/{step}/", {"v": digest[1]}).content)
    assert fetched == {"open": True, "v": digest[1], "cells": {}}
    full = json.loads(client.get(f"/p/live/{step}/").content)["cells"]
    assert len(full) == 12 and all("6 panelists so far" in html for html in full.values())
    assert client.get("/p/live/d999999/").status_code == 404


@pytest.mark.parametrize("n_items", [2, 12])
def test_a_fetch_costs_the_same_few_queries_whatever_the_number_of_items(
    client: Client, n_items: int
) -> None:
    """Session, link, open round and the panelist's own answers: the step's layout, the
    statistics and the fragments come from the cache once warm."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    study = make_study(n_items=n_items, n_panelists=8)
    study.protocol.realtime = True
    study.protocol.save(update_fields=["realtime"])
    Item.objects.filter(study=study).update(domain={"en": "One", "fr": "Un", "nl": "Een"})
    round = open_round(study)
    others_rate(study, round, 5)
    _panelist, step = me(client, study)
    save(client, step)
    assert len(json.loads(client.get(f"/p/live/{step}/").content)["cells"]) == 2 * n_items
    with CaptureQueriesContext(connection) as queries:
        again = json.loads(client.get(f"/p/live/{step}/").content)
    assert len(again["cells"]) == 2 * n_items
    assert len(queries.captured_queries) == 4, [q["sql"][:80] for q in queries.captured_queries]
