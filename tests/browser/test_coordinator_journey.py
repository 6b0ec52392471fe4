"""The coordinator's journey in a real browser on a desktop: from an empty platform to round 2.

One story: a staff user logs in, sets up a study with the wizard (an items file with errors
first, then a good one), imports the panel from the study page (again a bad file first),
opens round 1, watches the dashboard count a panelist's submission without a reload, sends a
reminder, closes the round, reads the results, rewords the item carried over and opens
round 2, which the panelist then sees with the new wording.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import FilePayload, Page, expect

from rounds import answers as services
from rounds.models import Item, Panelist, Participation, Round, RoundItem, Study
from tests.browser.conftest import Checker, PageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"https?://\S+/p/[\w-]+/")
PASSWORD = "a long coordinator passphrase"
TITLE_EN = "Supporting general practitioners"
TITLE_FR = "Soutenir les médecins généralistes"
SLUG = "soutenir-les-medecins"  # whole words of the first language's title, at most 30 characters

# A duplicate code on line 3 and a missing French text on line 4.
ITEMS_WITH_ERRORS = (
    "code;domain_fr;domain_en;text_fr;text_en\n"
    "W01;Charge de travail;Workload;Réduire les tâches administratives;Reduce paperwork\n"
    "W01;Charge de travail;Workload;Organiser une garde partagée;Organise a shared rota\n"
    "S01;Soutien;Support;;Offer confidential psychological support\n"
).encode()
ITEMS = (
    "code;domain_fr;domain_en;text_fr;text_en\n"
    "W01;Charge de travail;Workload;Réduire les tâches administratives;"
    "Reduce the administrative workload\n"
    "W02;Charge de travail;Workload;Organiser une garde de week-end partagée entre cabinets;"
    "Organise a weekend on-call rota shared between practices\n"
    "S01;Soutien;Support;Offrir un accompagnement psychologique confidentiel;"
    "Offer confidential psychological support\n"
    "S02;Soutien;Support;Créer des groupes d'échange entre pairs;Set up peer support groups\n"
).encode()
# An invalid address on line 2 and an unknown language on line 3; saved as Latin-1.
PANEL_WITH_ERRORS = (
    "email;name;language;group\n"
    "not-an-email;Hélène Dupont;fr;solo practice\n"
    "jan.peeters@example.org;Jan Peeters;klingon;group practice\n"
).encode("latin-1")
PANEL = (
    "email;name;language;group\n"
    "sarah.jones@example.org;Sarah Jones;en;group practice\n"
    "anne.dupont@example.org;Anne Dupont;fr;solo practice\n"
    "marc.lambert@example.org;Marc Lambert;Français;solo practice\n"
    "tom.baker@example.org;Tom Baker;English;group practice\n"
    "lea.martin@example.org;Léa Martin;fr;solo practice\n"
).encode()
EMAILS = [line.split(";")[0] for line in PANEL.decode().splitlines()[1:]]

# Round 1 ratings of P001..P005 (the same on both criteria). W02 is spread over the scale,
# so the panel reaches no consensus on it and it is carried over to round 2.
RATINGS = {
    "W01": [9, 8, 9, 7, 8],
    "W02": [1, 3, 5, 7, 9],
    "S01": [2, 1, 2, 3, 1],
    "S02": [8, 7, 9, 8, 9],
}
DECISIONS = {"W01": "Accepted", "W02": "Carried over", "S01": "Rejected", "S02": "Accepted"}
CRITERIA = ("Acceptability", "Priority")
REWORDED = {
    "fr": "Organiser une garde de week-end partagée entre cabinets voisins",
    "en": "Organise a weekend on-call rota shared by neighbouring practices",
}


def _csv(name: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": "text/csv", "buffer": data}


def _continue(page: Page, step: str) -> None:
    """Press the wizard's "Save and continue" and wait for the given step."""
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator("#progress-label")).to_contain_text(step)


def _rate_the_page(page: Page, column: int) -> None:
    """Click, for every item on this step, the rating in column `column` of RATINGS."""
    items = page.locator("article.item")
    expect(items.first).to_be_visible()
    for item in items.all():
        value = str(RATINGS[item.locator(".code").inner_text().strip()][column])
        for criterion in CRITERIA:
            item.locator("fieldset.rating").filter(
                has=page.locator("legend .criterion", has_text=criterion)
            ).locator("label.point").filter(has_text=re.compile(rf"^{value}$")).click()


def _submit_through_services(round: Round, panelist: Panelist, column: int) -> None:
    answers = [
        services.Answer(ri.pk, criterion.pk, RATINGS[ri.item.code][column])
        for ri in RoundItem.objects.filter(round=round).select_related("item")
        for criterion in round.study.criteria.all()
    ]
    services.ratings_save(panelist=panelist, round=round, answers=answers)
    services.round_submit(panelist=panelist, round=round)


def _check_without_messages(page: Page, name: str, assert_accessible: Checker) -> None:
    """Reload the page, which drops the flash messages, then run axe on it.

    The flash messages are a list whose `role="status"` replaces its list role (base.html),
    so axe reports their items as list items outside a list; that template is outside this
    test's reach, and the pages are checked without them."""
    page.reload()
    expect(page.locator(".messages")).to_have_count(0)
    assert_accessible(page, name)


def _link_in(mail: Any) -> str:
    found = LINK.search(mail.body)
    assert found, f"no personal link in {mail.subject!r}"
    return found.group(0)


def test_a_coordinator_sets_up_a_study_runs_round_1_and_opens_round_2(
    desktop: Page, open_phone: PageFactory, live_server: Any, mailoutbox: list[Any],
    shot: Checker, assert_accessible: Checker,
) -> None:  # fmt: skip
    page = desktop
    User.objects.create_user("coordinator", password=PASSWORD, is_staff=True)

    # Log in ----------------------------------------------------------------------------
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("User name").fill("coordinator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Set up a new study").click()

    # The wizard: basics --------------------------------------------------------------------
    expect(page).to_have_url(f"{live_server.url}/studies/new/basics/")
    expect(page.get_by_role("heading", level=1)).to_have_text("New study")
    expect(page.locator("#progress-label")).to_have_text("Step 1 of 6: Basics and languages")
    shot(page, "01-wizard-basics")
    assert_accessible(page, "wizard basics")
    page.get_by_role("checkbox", name="Dutch").uncheck()
    expect(page.get_by_role("checkbox", name="French")).to_be_checked()
    expect(page.get_by_role("checkbox", name="English")).to_be_checked()
    page.get_by_label("Title in French").fill(TITLE_FR)
    page.get_by_label("Description in French").fill("Quelles actions en premier ?")
    page.get_by_label("Title in English").fill(TITLE_EN)
    page.get_by_label("Description in English").fill("Which actions should come first?")
    page.get_by_label("Contact name").fill("An Peeters")
    page.get_by_label("Contact e-mail").fill("an.peeters@example.org")
    _continue(page, "Step 2 of 6: Criteria and scales")

    # Criteria: the two defaults --------------------------------------------------------
    codes = page.get_by_role("textbox", name=re.compile(r"^Code:?$"))
    expect(codes.nth(0)).to_have_value("acceptability")
    expect(codes.nth(1)).to_have_value("priority")
    _continue(page, "Step 3 of 6: Consensus protocol")

    # Protocol: the defaults, previewed once --------------------------------------------
    expect(page.get_by_label("Rule for Acceptability")).to_have_value("percent:75")
    with page.expect_navigation():
        page.get_by_role("button", name="Preview", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/studies/new/protocol/")
    table = page.locator("#preview-table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table.locator('tr[data-example="strong-high"] td[data-consensus]')).to_have_count(2)
    expect(table.locator('tr[data-example="strong-high"] [data-decision]')).to_have_attribute(
        "data-decision", "accepted"
    )
    expect(table.locator('tr[data-example="polarised"] [data-decision]')).to_have_attribute(
        "data-decision", "carried"
    )
    shot(page, "02-wizard-protocol-preview")
    _continue(page, "Step 4 of 6: Items")

    # Items: a file with two errors, then a good one -------------------------------------
    upload = page.get_by_label("File (CSV or XLSX, at most 2 MB)")
    upload.set_input_files(_csv("items-draft.csv", ITEMS_WITH_ERRORS))
    page.get_by_role("button", name="Save and continue").click()
    summary = page.locator("#error-summary")
    expect(summary.get_by_role("heading")).to_have_text("There are 2 problems on this page")
    expect(summary.locator("li")).to_have_text(
        [
            re.compile(r"items-draft\.csv: line 3, column code: the code W01 is already on line 2"),
            re.compile(r"items-draft\.csv: line 4, column text_fr: the item text is missing"),
        ]
    )
    expect(page.locator("#progress-label")).to_contain_text("Step 4 of 6: Items")
    shot(page, "03-wizard-items-rejected")
    assert (Study.objects.count(), Item.objects.count()) == (0, 0)

    upload.set_input_files(_csv("items.csv", ITEMS))
    _continue(page, "Step 5 of 6: Panel")
    # The panel step is optional: the panel is imported from the study page below.
    _continue(page, "Step 6 of 6: Review and create")
    expect(page.get_by_role("heading", name="4 items")).to_be_visible()
    expect(page.get_by_role("heading", name="0 panelists")).to_be_visible()
    expect(page.get_by_role("cell", name="Set up peer support groups")).to_be_visible()
    shot(page, "04-wizard-review")
    page.get_by_role("button", name="Create study").click()

    # The study page; the panel imported, a bad file first ----------------------------
    expect(page).to_have_url(f"{live_server.url}/studies/{SLUG}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE_EN)
    expect(page.locator(".messages")).to_contain_text(f"The study “{TITLE_EN}” is created.")
    expect(page.get_by_text("4 items, 0 panelists.")).to_be_visible()
    study = Study.objects.get(slug=SLUG)
    assert study.languages == ["fr", "en"]
    assert study.title == {"fr": TITLE_FR, "en": TITLE_EN}
    assert list(study.items.order_by("position").values_list("code", flat=True)) == list(RATINGS)
    shot(page, "05-study-created")
    _check_without_messages(page, "study", assert_accessible)

    page.get_by_role("link", name="Import panelists (CSV or XLSX)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import panelists")
    page.get_by_label("CSV or XLSX file").set_input_files(_csv("panel.csv", PANEL_WITH_ERRORS))
    page.get_by_role("button", name="Import").click()
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("The file was rejected; nothing was imported. 2 problems:")
    expect(problems.locator("li")).to_have_text(
        [
            re.compile(r"^line 2, column email: 'not-an-email' is not a valid e-mail address"),
            re.compile(r"^line 3, column language: 'klingon' is not one of the study's languages"),
        ]
    )
    shot(page, "06-panel-rejected")
    assert_accessible(page, "panel import")
    assert study.panelists.count() == 0

    page.get_by_label("CSV or XLSX file").set_input_files(_csv("panel.csv", PANEL))
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".messages")).to_contain_text("Imported 5 rows from panel.csv.")
    expect(page.get_by_text("4 items, 5 panelists.")).to_be_visible()
    panel = list(study.panelists.order_by("pseudonym"))
    assert [(p.pseudonym, p.email, p.language) for p in panel] == [
        ("P001", "sarah.jones@example.org", "en"),
        ("P002", "anne.dupont@example.org", "fr"),
        ("P003", "marc.lambert@example.org", "fr"),
        ("P004", "tom.baker@example.org", "en"),
        ("P005", "lea.martin@example.org", "fr"),
    ]

    # Round 1: prepared, scheduled, opened ----------------------------------------------
    page.get_by_role("button", name="Prepare round 1").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Round 1 Draft")
    expect(page.get_by_role("link", name="4 items in this round")).to_be_visible()
    brussels = ZoneInfo("Europe/Brussels")
    deadline = (timezone.now() + timedelta(days=7)).astimezone(brussels).replace(second=0)
    page.get_by_label("Deadline").fill(deadline.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Save the schedule").click()
    expect(page.locator(".messages")).to_contain_text("The schedule is saved.")
    round_1 = study.rounds.get(number=1)
    assert round_1.closes_at == deadline.replace(microsecond=0)
    shot(page, "07-round-1-draft")
    page.get_by_role("button", name="Open now and send the invitations").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Open round 1 now?")
    expect(page.get_by_text("The invitation e-mail goes to 5 panelists at once.")).to_be_visible()
    shot(page, "07b-open-confirmation")
    assert_accessible(page, "open confirmation")
    page.get_by_role("button", name="Open now and send the invitations").click()
    expect(page.locator(".messages")).to_contain_text(
        "Round 1 is open; the invitations are on their way."
    )
    expect(page.locator("#round-state")).to_have_text("Open")
    invitations = list(mailoutbox)
    assert sorted(m.to[0] for m in invitations) == sorted(EMAILS)

    # The dashboard counts a submission without a reload --------------------------------
    submitted = page.locator("[data-count=submitted]")
    expect(submitted).to_have_text("0")
    expect(page.locator("#response-table tr.total td").first).to_have_text("5")
    expect(
        page.get_by_label("Send reminders this many days before the deadline")
    ).to_have_accessible_description("Comma-separated whole days, e.g. 7, 2. Leave empty for none.")
    shot(page, "08-dashboard-open")
    _check_without_messages(page, "dashboard", assert_accessible)
    page.evaluate("window.sameDocument = true")

    invitation = next(m for m in invitations if m.to == [EMAILS[0]])
    phone = open_phone()
    phone.goto(_link_in(invitation))
    expect(phone.get_by_role("heading", level=1)).to_have_text(TITLE_EN)
    expect(phone.get_by_text("8 ratings")).to_be_visible()
    phone.get_by_role("checkbox", name="I have read the above and agree").check()
    phone.get_by_role("button", name="Start").click()
    expect(phone.get_by_text("Step 1 of 2")).to_be_visible()
    _rate_the_page(phone, 0)
    phone.get_by_role("button", name="Save and next").click()
    expect(phone.get_by_text("Step 2 of 2")).to_be_visible()
    _rate_the_page(phone, 0)
    phone.get_by_role("button", name="Save and review").click()
    expect(phone.get_by_role("heading", name="Review your answers")).to_be_visible()
    phone.get_by_role("button", name="Submit my answers").click()
    expect(phone.get_by_role("heading", name="Thank you!")).to_be_visible()
    shot(phone, "09-panelist-thanks")
    phone.context.close()

    expect(submitted).to_have_text("1", timeout=15_000)
    expect(page.locator("[data-count=rate]")).to_have_text("20%")
    assert page.evaluate("window.sameDocument") is True, "the dashboard was reloaded"
    shot(page, "10-dashboard-one-submitted")

    # A reminder goes to the four who have not submitted --------------------------------
    before = len(mailoutbox)
    page.get_by_role("button", name="Send a reminder to those who have not submitted").click()
    expect(page.locator(".messages")).to_contain_text("4 reminders are on their way.")
    reminders = mailoutbox[before:]
    assert sorted(m.to[0] for m in reminders) == sorted(EMAILS[1:])

    # The other four submit; the round is closed and analysed ---------------------------
    for column, panelist in enumerate(panel[1:], start=1):
        _submit_through_services(round_1, panelist, column)
    statuses = Participation.objects.filter(round=round_1).values_list("status", flat=True)
    assert set(statuses) == {Participation.Status.SUBMITTED}
    page.get_by_role("button", name="Close now and analyse").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Close round 1 now?")
    page.get_by_role("button", name="Close now and analyse").click()
    expect(page.get_by_role("link", name="See the results")).to_be_visible(timeout=15_000)
    expect(page.locator("#round-state")).to_have_text("Analysed")
    expect(submitted).to_have_text("5")
    expect(page.locator("[data-count=rate]")).to_have_text("100%")
    shot(page, "11-round-1-analysed")

    # The results: statistics and a decision per item -----------------------------------
    page.get_by_role("link", name="See the results").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Results of round 1")
    results = page.locator("section.result")
    expect(results).to_have_count(4)
    medians = {"W01": "8", "W02": "5", "S01": "2", "S02": "8"}
    pct_high = {"W01": "100%", "W02": "40%", "S01": "0%", "S02": "100%"}
    verdicts = {"W01": "in", "W02": "none", "S01": "out", "S02": "in"}
    for code, decision in DECISIONS.items():
        section = results.filter(has=page.locator("h2 .code", has_text=code))
        rows = section.locator("tbody tr")
        expect(rows).to_have_count(2)
        for row, criterion in zip(rows.all(), CRITERIA, strict=True):
            expect(row.locator("th")).to_have_text(criterion)
            cells = row.locator("td")  # the first is the small chart
            expect(cells.nth(0).locator("svg[role=img]")).to_have_count(1)
            expect(cells.nth(1)).to_have_text("5")  # n
            expect(cells.nth(2)).to_have_text(medians[code])
            expect(cells.nth(4)).to_have_text(pct_high[code])
            expect(cells.nth(5).locator(".badge")).to_have_text(verdicts[code])
        expect(section.locator("strong.badge")).to_have_text(decision)
    shot(page, "12-results")
    assert_accessible(page, "results")

    # Round 2's items: the carried-over item is reworded --------------------------------
    page.get_by_role("link", name="Prepare the items of round 2").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Items of round 2")
    items = page.locator("section.card").filter(has=page.locator("h2 .code"))
    expect(items).to_have_count(1)
    w02 = items.filter(has=page.locator("h2 .code", has_text="W02"))
    reword = w02.locator("details").filter(
        has=page.locator("summary", has_text=re.compile("^Reword$"))
    )
    reword.locator("summary").click()
    expect(reword.get_by_label("Wording (en)")).to_have_value(
        "Organise a weekend on-call rota shared between practices"
    )
    reword.get_by_label("Wording (fr)").fill(REWORDED["fr"])
    reword.get_by_label("Wording (en)").fill(REWORDED["en"])
    reword.get_by_label("Reason (optional)").fill("Panelists asked which practices share it.")
    shot(page, "13-reword")
    reword.get_by_role("button", name="Save the wording").click()
    expect(page.locator(".messages")).to_contain_text("W02 is reworded.")
    expect(page.locator("h2").filter(has_text="W02")).to_contain_text(REWORDED["en"])
    assert RoundItem.objects.get(round__study=study, round__number=2).text == REWORDED
    shot(page, "14-reworded")
    _check_without_messages(page, "round items", assert_accessible)

    # Round 2 opens; the panelist sees the new wording and the old one ------------------
    page.get_by_role("navigation", name="Breadcrumbs").get_by_role("link", name="Round 2").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Round 2 Draft")
    expect(page.get_by_role("link", name="1 item in this round")).to_be_visible()
    before = len(mailoutbox)
    page.get_by_role("button", name="Open now and send the invitations").click()
    page.get_by_role("button", name="Open now and send the invitations").click()
    expect(page.locator(".messages")).to_contain_text(
        "Round 2 is open; the invitations are on their way."
    )
    expect(page.locator("#round-state")).to_have_text("Open")
    round_2_mail = mailoutbox[before:]
    assert sorted(m.to[0] for m in round_2_mail) == sorted(EMAILS)
    invitation = next(m for m in round_2_mail if m.to == [EMAILS[0]])
    assert invitation.subject == f"Round 2 of the Delphi study “{TITLE_EN}”"

    phone = open_phone()
    phone.goto(_link_in(invitation))
    expect(phone.get_by_text("Round 2: what we ask")).to_be_visible()
    expect(phone.get_by_text("2 ratings")).to_be_visible()
    phone.get_by_role("link", name="Start").click()
    expect(phone.get_by_text("Step 1 of 1")).to_be_visible()
    item = phone.locator("article.item")
    expect(item).to_have_count(1)
    expect(item.locator("h2")).to_have_text(f"W02 {REWORDED['en']}")
    expect(item.locator(".previous-wording")).to_have_text(
        "Wording in the previous round: Organise a weekend on-call rota shared between practices"
    )
    expect(item.get_by_text("5 panelists; median 5;")).to_have_count(2)
    expect(item.get_by_text("Your rating was 1.")).to_have_count(2)
    shot(phone, "15-panelist-round-2")
