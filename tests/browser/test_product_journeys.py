"""The coordinator's tools between and around rounds, in a real browser: the results with the
panel's comments, the items of the next round with an introduction for the panel, the team
(inviting the policy team, who joins), the panel's e-mail texts with a preview, preview as a
panelist, opening with a confirmation, resending an invitation, the panelist's "what
changed" page, closing and ending the study.

Every page is looked at on a desktop (1280 px) and a phone (375 px): a screenshot of each in
ci-artifacts/screenshots, axe-core at both widths, and no page may scroll sideways.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from rounds import answers
from rounds.models import Rating, Round, Study, StudyMembership
from tests.browser.conftest import Checker
from tests.factories import make_study, run_round

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long coordinator passphrase"
LINK = re.compile(r"https?://\S+/p/[\w-]+/")
INVITE = re.compile(r"https?://\S+/team/accept/\S+/")
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


# The elements that stick out on the right, outside any scrolling box.
WIDE_JS = """() => [...document.querySelectorAll('body *')].filter(el => {
  const box = el.getBoundingClientRect();
  return box.right > innerWidth + 1 && !el.closest('.table-scroll, .visually-hidden');
}).slice(0, 5).map(el => `${el.tagName}.${el.className} ${el.getBoundingClientRect().right}`)
"""


class Looker:
    """Screenshots at both widths, axe at both, and no sideways scrolling on the phone."""

    def __init__(self, shot: Checker, check: Checker) -> None:
        self.shot, self.check = shot, check

    def __call__(self, page: Page, name: str) -> None:
        page.set_viewport_size(DESKTOP)
        self.shot(page, f"{name}-1280")
        self.check(page, f"{name} 1280")
        page.set_viewport_size(PHONE)
        self.shot(page, f"{name}-375")
        self.check(page, f"{name} 375")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, (
            f"{name} scrolls sideways on a phone ({width} px): {page.evaluate(WIDE_JS)}"
        )
        page.set_viewport_size(DESKTOP)


@pytest.fixture
def look(shot: Checker, assert_accessible: Checker) -> Looker:
    return Looker(shot, assert_accessible)


@pytest.fixture
def study() -> Study:
    study = make_study(n_items=4, n_panelists=6, languages=("en", "nl"))
    Study.objects.filter(pk=study.pk).update(
        contact_name="An Peeters", contact_email="an@example.org"
    )
    run_round(study)
    rating = Rating.objects.filter(round_item__item__code="I03").order_by("pk").first()
    assert rating is not None
    rating.comment = "Too vague: which tasks exactly?"
    rating.save()
    return study


def login(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_coordinator_works_between_rounds_and_ends_the_study(
    desktop: Page, browser: Any, live_server: Any, mailoutbox: list[Any], study: Study,
    look: Looker,
) -> None:  # fmt: skip
    page = desktop
    owner = User.objects.create_user("an", password=PASSWORD, email="an@example.org",
                                     first_name="An", last_name="Peeters")  # fmt: skip
    StudyMembership.objects.create(study=study, user=owner, role="owner")
    base = f"{live_server.url}/studies/{study.slug}"
    login(page, live_server.url, "an")
    expect(page.locator(".user-name")).to_have_text("An Peeters")
    look(page, "p01-home")

    # The study page, the results with the panel's comments -----------------------------
    page.goto(f"{base}/")
    look(page, "p02-study")
    page.goto(f"{base}/rounds/1/results/")
    expect(page.locator(".stats-counts")).to_contain_text("accepted")
    page.get_by_label("With comments only").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("1 of 4 items shown.")).to_be_visible()
    page.get_by_text("1 comment from the panel").click()
    expect(page.get_by_text("Too vague: which tasks exactly?")).to_be_visible()
    look(page, "p03-results-with-comments")

    # Round 2's items: last round's statistics and comments, an introduction -------------
    page.goto(f"{base}/rounds/2/items/")
    expect(page.get_by_text("half of the panel between").first).to_be_visible()
    page.get_by_label("Introduction for the panel (English)").fill(
        "Thank you! Two items reached agreement; the others are back, one reworded."
    )
    page.get_by_role("button", name="Save the introduction").click()
    expect(page.locator(".messages")).to_contain_text("The introduction for the panel is saved.")
    look(page, "p04-round-2-items")

    # The team: the policy team is invited and joins ------------------------------------
    page.goto(f"{base}/team/")
    page.get_by_label("E-mail").fill("policy@example.org")
    page.locator("#id_role").select_option("viewer")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.locator(".messages")).to_contain_text("The invitation is on its way")
    look(page, "p05-team")
    invitation = next(m for m in mailoutbox if m.to == ["policy@example.org"])
    found = INVITE.search(invitation.body)
    assert found is not None
    guest_context = browser.new_context(viewport=PHONE, locale="en-GB")
    guest = guest_context.new_page()
    guest.goto(found.group(0))
    expect(guest.get_by_role("heading", level=1)).to_contain_text("Join the team of")
    look(guest, "p06-team-accept")
    guest.locator("#id_username").fill("policyteam")
    guest.locator("#id_password1").fill("Pol1cy-team-pass")
    guest.locator("#id_password2").fill("Pol1cy-team-pass")
    guest.get_by_role("button", name="Create my account and join").click()
    expect(guest.locator(".messages")).to_contain_text("You have joined")
    assert StudyMembership.objects.get(study=study, user__username="policyteam").role == "viewer"
    guest_context.close()

    # The panel's e-mails: edit the invitation, preview it --------------------------------
    page.goto(f"{base}/emails/?kind=invitation&language=en")
    page.get_by_label("Subject").fill("Round {round} of {study}: your opinion counts")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".email-preview")).to_contain_text("Dear Dr Example")
    look(page, "p07-email-texts-preview")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("The text is saved")

    # Preview as a panelist, then open round 2 with a confirmation -----------------------
    page.goto(f"{base}/rounds/2/")
    look(page, "p08-round-2-draft")
    page.get_by_role("link", name="Preview as a panelist").first.click()
    expect(page.locator(".preview-banner")).to_contain_text("nothing you enter here is saved")
    look(page, "p09-preview-as-panelist")
    before = Rating.objects.count()
    page.get_by_role("button", name=re.compile("^Save and (next|review)$")).click()
    assert Rating.objects.count() == before
    page.goto(f"{base}/rounds/2/")
    page.get_by_role("button", name="Open now and send the invitations").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Open round 2 now?")
    look(page, "p10-open-confirmation")
    page.get_by_role("button", name="Open now and send the invitations").click()
    expect(page.locator("#round-state")).to_have_text("Open")
    round_2 = study.rounds.get(number=2)
    assert round_2.state == Round.State.OPEN
    english = [m for m in mailoutbox if "your opinion counts" in m.subject]
    assert english, "the study's own subject is used"

    # Resend an invitation from the panelist's row ----------------------------------------
    row = page.locator("#panelist-P001")
    row.get_by_text("Actions").click()
    row.get_by_role("button", name="Resend the invitation").click()
    expect(page.locator(".messages")).to_contain_text("The invitation to P001 is sent again.")
    page.locator("#panelist-P001").get_by_text("Actions").click()
    look(page, "p11-dashboard-open")

    # The panelist sees what changed since round 1 ----------------------------------------
    sent = [m for m in mailoutbox if m.to == [study.panelists.get(pseudonym="P001").email]]
    found = LINK.search(sent[-1].body)
    assert found is not None
    panel_context = browser.new_context(viewport=PHONE, locale="en-GB", is_mobile=True,
                                        has_touch=True)  # fmt: skip
    panelist = panel_context.new_page()
    panelist.goto(found.group(0))
    expect(panelist.get_by_role("heading", name="What changed since round 1")).to_be_visible()
    expect(panelist.get_by_text("Thank you! Two items reached agreement")).to_be_visible()
    look(panelist, "p12-panelist-what-changed")
    panelist.get_by_role("link", name="Continue").or_(
        panelist.get_by_role("link", name="Start")
    ).click()
    expect(panelist.locator("details.feedback").first).to_be_visible()
    look(panelist, "p13-panelist-round-2-step")
    panel_context.close()

    # The panel answers; close round 2, then end the study --------------------------------
    round_2.refresh_from_db()
    questions = answers.Questions.of(round_2)
    for member in study.panelists.all():
        given = [answers.Answer(ri, c, 5) for ri in questions.round_item_ids
                 for c in questions.criteria]  # fmt: skip
        answers.ratings_save(panelist=member, round=round_2, answers=given)
        answers.round_submit(panelist=member, round=round_2)
    page.goto(f"{base}/rounds/2/")
    page.get_by_role("button", name="Close now and analyse").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Close round 2 now?")
    page.get_by_role("button", name="Close now and analyse").click()
    expect(page.get_by_role("link", name="See the results")).to_be_visible(timeout=20_000)
    page.goto(f"{base}/")
    study.refresh_from_db()
    if study.status != Study.Status.FINISHED:
        page.get_by_text("End the study after this round").click()
        page.get_by_label("Reason (recorded in the audit log and the report)").fill(
            "The remaining items will not converge."
        )
        page.get_by_role("button", name="End the study").click()
        expect(page.locator(".messages")).to_contain_text("The study is finished.")
    study.refresh_from_db()
    assert study.status == Study.Status.FINISHED
    look(page, "p14-study-finished")

    # The remaining coordinator pages -------------------------------------------------------
    for name, path in [
        ("p15-audit-log", "audit/"),
        ("p16-protocol", "protocol/"),
        ("p17-import-panel", "import/panel/"),
        ("p18-texts", "texts/"),
        ("p19-recommendations", "recommendations/"),
        ("p20-report-versions", "reports/"),
        ("p21-policy-space", "policy/"),
        ("p22-round-1-dashboard", "rounds/1/"),
        ("p23-round-2-results", "rounds/2/results/"),
    ]:
        page.goto(f"{base}/{path}")
        expect(page.locator("main h1")).to_be_visible()
        look(page, name)
