"""Real-time mode in a real browser: two panelists, one on a desktop and one on a phone; the
second sees the first's rating reach the panel's distribution without reloading the page.
axe-core checks the panelist's page in each state (waiting, the panel's answers, swapped in
by the fetch) and the coordinator's live table, at both widths."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from panelists import links
from rounds import answers
from rounds import services as round_services
from rounds.models import Criterion, Panelist, Participation, Round, RoundItem, Study
from tests.browser.conftest import Checker, PageFactory
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def _study() -> tuple[Study, Round]:
    """A real-time study open for a day; three other panelists rated item I01 already."""
    study = make_study(n_items=2, n_panelists=8)
    study.protocol.realtime = True
    study.protocol.save(update_fields=["realtime"])
    round = round_services.round_create(study=study, closes_at=timezone.now() + timedelta(days=1))
    round = round_services.round_open(round=round, notify=False)
    first = RoundItem.objects.get(round=round, item__code="I01")
    for panelist in study.panelists.order_by("pseudonym")[2:5]:
        answers.ratings_save(
            panelist=panelist, round=round,
            answers=[answers.Answer(first.pk, c.pk, 8, "Feasible within a year")
                     for c in Criterion.objects.filter(study=study)],
        )  # fmt: skip
    for panelist in study.panelists.all():
        Participation.objects.update_or_create(
            panelist=panelist, round=round, defaults={"consented_at": timezone.now()}
        )
    Panelist.objects.filter(study=study).update(language="en")
    return study, round


def _open(page: Page, live_server_url: str, study: Study, pseudonym: str) -> None:
    link = links.link_issue(panelist=study.panelists.get(pseudonym=pseudonym))
    page.goto(live_server_url + urlsplit(link).path)
    page.goto(live_server_url + "/p/rate/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def _rate_i01(page: Page, value: str) -> None:
    article = page.locator("article.item").filter(has=page.locator(".code", has_text="I01"))
    for fieldset in article.locator("fieldset.rating").all():
        fieldset.locator("label.point").filter(has_text=re.compile(rf"^{value}$")).click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Your answers are saved.")).to_be_visible()


def test_the_second_panelist_sees_the_first_ones_rating_appear_without_a_reload(
    open_phone: PageFactory,
    desktop: Page,
    live_server: object,
    shot: Checker,
    assert_accessible: Checker,
) -> None:
    study, _round = _study()
    url = str(live_server.url)  # type: ignore[attr-defined]
    phone = open_phone()
    # The phone panelist rates first: four ratings so far, one short of the smallest group.
    _open(phone, url, study, "P002")
    expect(phone.get_by_text("Rate this question and save").first).to_be_visible()
    _rate_i01(phone, "3")
    waiting = phone.locator("[data-live-cell] .live-waiting").first
    expect(waiting).to_contain_text("once 5 panelists have rated")
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
    shot(phone, "phone-waiting")
    assert_accessible(phone, "real-time step, waiting, phone")
    phone.evaluate("window.notReloaded = true")

    # The desktop panelist rates: now five have, and the desktop sees the distribution.
    _open(desktop, url, study, "P001")
    _rate_i01(desktop, "6")
    feedback = desktop.locator("[data-live-cell] details.feedback").first
    expect(feedback).to_be_visible()
    expect(feedback).to_contain_text("5 panelists so far")
    expect(feedback.locator("svg")).to_be_visible()
    expect(feedback).to_contain_text("Feasible within a year")
    assert desktop.evaluate(NO_SIDEWAYS_SCROLL)
    shot(desktop, "desktop-live")
    assert_accessible(desktop, "real-time step, the panel now, desktop")

    # The phone, never reloaded, picks it up at its next fetch.
    live = phone.locator("[data-live-cell] .feedback-line").first
    expect(live).to_contain_text("The panel now", timeout=20_000)
    assert phone.evaluate("window.notReloaded === true")
    phone.locator("[data-live-cell] details.feedback summary").first.click()
    expect(phone.locator("[data-live-cell] .feedback-summary").first).to_contain_text(
        "5 panelists so far"
    )
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
    shot(phone, "phone-live")
    # The fragments swapped in by the fetch, one of them opened.
    assert_accessible(phone, "real-time step, updated by the fetch, phone")


def test_the_coordinator_reads_the_live_statistics_on_a_desktop_and_a_phone(
    open_phone: PageFactory,
    desktop: Page,
    live_server: object,
    shot: Checker,
    assert_accessible: Checker,
) -> None:
    from django.contrib.auth.models import User

    from rounds.models import StudyMembership
    from tests.browser.test_product_journeys import PASSWORD, login

    study, _round = _study()
    user = User.objects.create_user("coord", password=PASSWORD)
    StudyMembership.objects.create(study=study, user=user, role="coordinator")
    url = str(live_server.url)  # type: ignore[attr-defined]
    for name, page in (("desktop", desktop), ("phone", open_phone())):
        login(page, url, "coord")
        page.goto(f"{url}/studies/{study.slug}/rounds/1/")
        table = page.locator("#live-statistics")
        expect(table).to_be_visible()
        expect(table.locator("tbody tr").first).to_contain_text("I01")
        expect(table.locator("tbody tr").first).to_contain_text("agreed high")
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        page.locator("#live-heading").scroll_into_view_if_needed()
        shot(page, f"dashboard-{name}")
        assert_accessible(page, f"round dashboard with the live table, {name}")
