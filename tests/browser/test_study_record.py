"""The study record page and a result's basis, as a coordinator sees them on a desktop and
a phone: readable, accessible, nothing scrolling sideways."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from rounds.models import Criterion, Panelist, Protocol, RoundItem, Study, StudyMembership
from tests.browser.conftest import Checker, PageFactory, log_in
from tests.factories import make_study, run_round

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a long coordinator passphrase"


def _study() -> Study:
    study = make_study(n_items=3, n_panelists=25)
    Protocol.objects.filter(study=study).update(
        max_rounds=1, accept_rule="acceptability = in AND priority.median >= 7"
    )

    def rate(panelist: Panelist, ri: RoundItem, criterion: Criterion) -> int:
        return 8 if criterion.code == "acceptability" else 6 + ri.position % 2 * 2

    run_round(study, rate)
    user = User.objects.create_user("coord", password=PASSWORD)
    StudyMembership.objects.create(study=study, user=user, role="coordinator")
    return study


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_coordinator_records_the_study_for_the_report(
    live_server: Any, desktop: Page, open_phone: PageFactory, shot: Checker,
    assert_accessible: Checker,
) -> None:  # fmt: skip
    study = _study()
    path = f"/studies/{study.slug}/record/"
    log_in(desktop, live_server.url, "coord", PASSWORD, path)

    desktop.get_by_label("Ethics approval").fill("Approved on 17 August 2010.")
    desktop.get_by_label("Source I01").select_option("interviews")
    desktop.get_by_label("Reference I01").fill("40 GP interviews")
    desktop.get_by_role("button", name="Save the record").click()

    expect(desktop.get_by_text("The study record is saved.")).to_be_visible()
    expect(desktop.get_by_label("Ethics approval")).to_have_value("Approved on 17 August 2010.")
    assert_accessible(desktop, "study record")
    shot(desktop, "record-1280")
    phone = open_phone()
    log_in(phone, live_server.url, "coord", PASSWORD, path)
    _no_sideways_scroll(phone)
    shot(phone, "record-375")


def test_the_results_page_says_what_decided_each_item(
    live_server: Any, desktop: Page, open_phone: PageFactory, shot: Checker,
    assert_accessible: Checker,
) -> None:  # fmt: skip
    study = _study()
    path = f"/studies/{study.slug}/rounds/1/results/"
    log_in(desktop, live_server.url, "coord", PASSWORD, path)

    expect(desktop.get_by_text("Priority: median 6, the rule asks ≥ 7").first).to_be_visible()
    assert_accessible(desktop, "results")
    shot(desktop, "results-1280")
    phone = open_phone()
    log_in(phone, live_server.url, "coord", PASSWORD, path)
    _no_sideways_scroll(phone)
    shot(phone, "results-375")
