"""The coordinator's privacy pages in Chromium: a round's comments (hide), the panel's data
requests (erase), at desktop and phone sizes, checked with axe."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from rounds.models import AuditEntry, Panelist, StudyMembership
from tests.browser.conftest import Checker, PageFactory, log_in
from tests.reports.helpers import finished_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-coordinator-passphrase"


def test_a_coordinator_hides_a_comment_and_erases_a_panelist(
    desktop: Page, open_phone: PageFactory, live_server: Any, shot: Checker,
    assert_accessible: Checker,
) -> None:  # fmt: skip
    study = finished_study()
    user = User.objects.create_user("coordinator", password=PASSWORD, is_staff=True)
    StudyMembership.objects.create(study=study, user=user, role="coordinator")
    base = live_server.url
    log_in(desktop, base, "coordinator", PASSWORD)

    desktop.goto(f"{base}/studies/{study.slug}/")
    desktop.get_by_role("link", name="Comments").first.click()
    expect(desktop.get_by_role("heading", level=1)).to_have_text("Comments of round 1")
    shot(desktop, "01-round-comments")
    assert_accessible(desktop, "round comments")
    desktop.get_by_role("button", name="Hide").first.click()
    expect(desktop.get_by_text("The comment is hidden from the feedback")).to_be_visible()
    expect(desktop.get_by_role("button", name="Show")).to_have_count(1)

    desktop.goto(f"{base}/studies/{study.slug}/")
    desktop.get_by_role("link", name="Panel data and privacy").click()
    shot(desktop, "02-panel-privacy")
    assert_accessible(desktop, "panel privacy")
    desktop.get_by_label("Type P003").fill("P003")
    desktop.locator("#reason-" + str(Panelist.objects.get(study=study, pseudonym="P003").pk)).fill(
        "the panelist asked"
    )
    desktop.get_by_role("row", name="P003").get_by_role("button", name="Erase").click()
    expect(desktop.get_by_text("P003 is erased")).to_be_visible()
    shot(desktop, "03-panel-privacy-erased")
    assert AuditEntry.objects.filter(study=study, action="panelist.erased", target="P003")

    phone = open_phone()
    log_in(phone, base, "coordinator", PASSWORD)
    phone.goto(f"{base}/studies/{study.slug}/privacy/")
    shot(phone, "04-panel-privacy-phone")
    phone.goto(f"{base}/studies/{study.slug}/rounds/1/comments/")
    shot(phone, "05-round-comments-phone")
    assert_accessible(phone, "round comments, phone")
