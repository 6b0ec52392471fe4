"""Round 0 in a real browser: panelists propose on a phone (a forgotten reason is named
and nothing typed is lost); the coordinator accepts one proposal with its duplicate merged
in and declines another; the item is in round 1 with its lineage, and each proposer reads
the decision and its reason on their own page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from panelists import links
from rounds import proposals, services
from rounds.models import Item, ProposalRound, Study, StudyMembership
from tests.browser.conftest import Checker, PageFactory
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long coordinator passphrase"


def _no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def _as_panelist(
    open_phone: PageFactory, study: Study, pseudonym: str, shot: Checker | None = None
) -> Page:
    """The panelist opens their link and gives their consent, asked at the first visit."""
    page = open_phone()
    page.goto(links.link_issue(panelist=study.panelists.get(pseudonym=pseudonym)))
    expect(page.get_by_role("heading", name="Round 0: what is missing?")).to_be_visible()
    if shot is not None:
        shot(page, "02a-panelist-consent-375")
        _no_sideways_scroll(page)
    page.get_by_label("I have read the above and agree to take part in this study.").check()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("button", name="Save").first).to_be_visible()
    return page


def _propose(page: Page, text: str, reason: str) -> None:
    section = page.locator("section.domain").first
    section.get_by_label("Proposed action").last.fill(text)
    section.get_by_label("Why it matters").last.fill(reason)
    section.get_by_role("button", name="Save").click()


def test_the_panel_proposes_and_the_coordinator_decides(
    desktop: Page, open_phone: PageFactory, live_server: Any, shot: Checker,
    assert_accessible: Checker,
) -> None:  # fmt: skip
    coordinator = User.objects.create_user("coordinator", password=PASSWORD, is_staff=True)
    study = make_study(n_items=4, n_panelists=3, languages=("fr", "nl", "en"))
    StudyMembership.objects.create(study=study, user=coordinator, role="owner")
    study.panelists.update(language="en")
    round_1 = services.round_create(study=study)
    page = desktop

    # The coordinator adds round 0 and opens it --------------------------------------
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("User name").fill("coordinator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/studies/{study.slug}/")
    page.get_by_role("link", name="Add a round 0").click()
    page.get_by_role("button", name="Add a round 0 before round 1").click()
    page.get_by_role("button", name="Open round 0 and invite the panel").click()
    expect(page.get_by_text("Round 0 is open; the invitations are on their way.")).to_be_visible()
    shot(page, "01-coordinator-round0-open-1280")
    ProposalRound.objects.filter(study=study).update(closes_at=timezone.now() + timedelta(days=10))
    page.reload()
    page.get_by_label("Send reminders this many days before the deadline").fill("7, 2")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("7 days before the deadline: scheduled")).to_be_visible()
    shot(page, "01b-coordinator-round0-reminders-1280")
    page.set_viewport_size({"width": 375, "height": 800})
    shot(page, "01c-coordinator-round0-reminders-375")
    _no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    # A panelist proposes on a phone: a forgotten reason is named, nothing is lost ---
    first = _as_panelist(open_phone, study, "P001", shot)
    first.get_by_label("What does this domain miss?").first.fill("Time to see each patient.")
    _propose(first, "Peer support groups for every GP.", "")
    expect(first.get_by_text("Say in a few words why this action matters")).to_be_visible()
    expect(first.get_by_label("What does this domain miss?").first).to_have_value(
        "Time to see each patient."
    )
    expect(first.get_by_label("Proposed action").first).to_have_value(
        "Peer support groups for every GP."
    )
    shot(first, "02-panelist-error-375")
    _no_sideways_scroll(first)
    _propose(first, "Peer support groups for every GP.", "Isolation wears GPs out.")
    expect(first.get_by_text("Saved, with 1 new proposal.")).to_be_visible()
    expect(first.get_by_role("heading", name="Your proposal R0-01")).to_be_visible()
    shot(first, "03-panelist-saved-375")
    _no_sideways_scroll(first)
    assert_accessible(first, "round 0 proposals")

    second = _as_panelist(open_phone, study, "P002")
    _propose(second, "Support groups between colleagues.", "Nobody to talk to.")
    expect(second.get_by_text("Saved, with 1 new proposal.")).to_be_visible()
    assert "Peer support groups for every GP." not in second.content()  # not someone else's
    third = _as_panelist(open_phone, study, "P003")
    _propose(third, "Abolish all paperwork overnight.", "It takes hours every day.")
    expect(third.get_by_text("Saved, with 1 new proposal.")).to_be_visible()

    # The coordinator closes round 0, accepts with a merge, declines with a reason ---
    page.goto(f"{live_server.url}/studies/{study.slug}/round-0/")
    page.get_by_role("button", name="Close round 0").click()
    expect(page.get_by_text("Round 0 is closed.")).to_be_visible()
    card = page.locator("#proposal-1")
    card.get_by_text("Accept into round 1").click()
    card.get_by_label("Item code").fill("N01")
    card.get_by_label("Wording (fr)").fill("Des groupes de soutien entre pairs")
    card.get_by_label("Wording (nl)").fill("Intervisiegroepen voor huisartsen")
    card.get_by_label("Wording (en)").fill("Peer support groups for GPs")
    card.get_by_label("R0-02: Support groups between colleagues.").check()
    card.get_by_label("Note to the proposer (optional)").fill("A clear gap in the list.")
    shot(page, "04-coordinator-accept-1280")
    card.get_by_role("button", name="Accept").click()
    expect(page.get_by_text("R0-01 is accepted: item N01 of round 1")).to_be_visible()
    declined = page.locator("#proposal-3")
    declined.get_by_text("Decline").first.click()
    declined.get_by_label("Reason (the proposer reads it)").fill("Outside what the study covers.")
    declined.get_by_role("button", name="Decline").click()
    expect(page.get_by_text("R0-03 is declined")).to_be_visible()
    shot(page, "05-coordinator-decided-1280")
    assert_accessible(page, "coordinator round 0")
    page.set_viewport_size({"width": 375, "height": 740})
    shot(page, "05b-coordinator-decided-375")
    _no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The item is in round 1 with the lineage "proposed by the panel" ---------------
    page.goto(f"{live_server.url}/studies/{study.slug}/rounds/1/items/")
    expect(page.get_by_text("Peer support groups for GPs").first).to_be_visible()
    item = Item.objects.get(code="N01")
    assert item.source == Item.Source.PANEL and item.reference == "Round 0 proposal R0-01, R0-02"
    assert round_1.round_items.filter(item=item).exists()
    assert proposals.flow(study.proposal_round).items == 1

    # Each proposer reads the decision and its reason on their own page --------------
    first.goto(f"{live_server.url}/p/proposals/")
    expect(first.get_by_text("Accepted: the panel rates it in round 1 as item N01")).to_be_visible()
    expect(first.get_by_text("A clear gap in the list.")).to_be_visible()
    shot(first, "06-proposer-accepted-375")
    _no_sideways_scroll(first)
    first.set_viewport_size({"width": 1280, "height": 900})
    shot(first, "06b-proposer-accepted-1280")
    _no_sideways_scroll(first)
    second.goto(f"{live_server.url}/p/proposals/")
    expect(second.get_by_text("Merged with the similar proposal R0-01.")).to_be_visible()
    third.goto(f"{live_server.url}/p/proposals/")
    expect(third.get_by_text("Outside what the study covers.")).to_be_visible()
    shot(third, "07-proposer-declined-375")
    _no_sideways_scroll(third)
