"""The study as a file, in a real browser: a coordinator downloads a study's file, reads a
broken copy in the setup wizard (every problem by line and field, nothing created), then
creates a new study from the good file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import FilePayload, Page, expect

from rounds.design import design_hash
from rounds.models import Criterion, Study, StudyMembership
from tests.browser.conftest import Checker, PageFactory, log_in
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long coordinator passphrase"


def _yaml(name: str, data: bytes) -> FilePayload:
    return {"name": name, "mimeType": "application/yaml", "buffer": data}


def _no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def _break(text: str) -> str:
    """Two mistakes a person makes when editing by hand: a misspelt field name and a
    percent threshold of 50 or less."""
    text = text.replace(" rule: percent:75", " rulle: percent:75", 1)
    return text.replace(" rule: percent:75", " rule: percent:45", 1)


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_a_coordinator_copies_a_study_through_its_file(
    desktop: Page, open_phone: PageFactory, live_server: Any, tmp_path: Path,
    shot: Checker, assert_accessible: Checker,
) -> None:  # fmt: skip
    coordinator = User.objects.create_user("coordinator", password=PASSWORD, is_staff=True)
    study = make_study(n_items=6)
    study.title = {"fr": "Burn-out des généralistes", "nl": "Burn-out bij huisartsen",
                   "en": "Burnout of general practitioners"}  # fmt: skip
    study.save()
    Criterion.objects.filter(study=study, code="acceptability").update(
        anchors={"en": {"min": "Not acceptable at all", "max": "Fully acceptable"}}
    )
    StudyMembership.objects.create(study=study, user=coordinator, role="owner")
    page = desktop
    log_in(page, live_server.url, "coordinator", PASSWORD)

    # Download the study's file from its page ------------------------------------------
    page.goto(f"{live_server.url}/studies/{study.slug}/")
    link = page.get_by_role("link", name="Download the study file (YAML)")
    expect(link).to_be_visible()
    shot(page, "01-study-page")
    with page.expect_download() as caught:
        link.click()
    download = caught.value
    assert download.suggested_filename == f"{study.slug}.study.yaml"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Delphi study file")
    assert f"Design hash (SHA-256 of the RFC 8785 canonical form): {design_hash(study)}" in text

    # The wizard's first step offers to start from a file ------------------------------
    page.goto(f"{live_server.url}/studies/new/")
    card = page.locator("section.start-from-file")
    expect(card.get_by_role("heading")).to_have_text("Start from a study file")
    shot(page, "02-wizard-start-from-file")
    assert_accessible(page, "wizard basics with the study file option")

    # A broken copy: every problem by line and field, nothing created ---------------------
    broken = _break(text)
    card.get_by_label("Study file (.yaml, at most 2 MB)").set_input_files(
        _yaml("edited.study.yaml", broken.encode())
    )
    card.get_by_role("button", name="Read the file").click()
    problems = page.locator("#file-problems")
    expect(problems.get_by_role("heading")).to_have_text(
        "edited.study.yaml cannot be used (2 problems); nothing was created."
    )
    misspelt, threshold = _line_of(broken, "rulle:"), _line_of(broken, "percent:45")
    expect(problems.locator("li")).to_have_text(
        [
            re.compile(
                rf"^Line {misspelt}, criteria\[1\]\.rulle: there is no such field here; "
                r"did you mean “rule”\?"
            ),
            re.compile(
                rf"^Line {threshold}, criteria\[2\]\.rule: “percent:45” is not a consensus rule"
            ),
        ]
    )
    assert Study.objects.count() == 1
    shot(page, "03-broken-file")
    assert_accessible(page, "study file refused")

    # The good file: reviewed, then created under a new short name ------------------------
    page.get_by_label("Study file (.yaml, at most 2 MB)").set_input_files(
        _yaml(path.name, text.encode())
    )
    page.get_by_role("button", name="Read the file").click()
    expect(page).to_have_url(f"{live_server.url}/studies/new/from-file/review/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review the study file")
    expect(page.get_by_role("heading", name="6 items")).to_be_visible()
    slug = page.get_by_label("Short name of the new study")
    expect(slug).to_have_value(f"{study.slug}-2")
    expect(page.locator("code.hash").first).to_have_text(design_hash(study))
    shot(page, "04-review")
    assert_accessible(page, "study file review")
    slug.fill("burnout-second-edition")
    page.get_by_role("button", name="Create the study").click()
    expect(page).to_have_url(f"{live_server.url}/studies/burnout-second-edition/")
    expect(page.locator(".messages")).to_contain_text("is created from")
    copy = Study.objects.get(slug="burnout-second-edition")
    assert copy.items.count() == 6
    assert copy.criteria.get(code="acceptability").anchors["en"]["max"] == "Fully acceptable"
    shot(page, "05-new-study")

    # On a phone: the same pages, readable, without sideways scrolling --------------------
    phone = open_phone()
    log_in(phone, live_server.url, "coordinator", PASSWORD)
    phone.goto(f"{live_server.url}/studies/new/")
    shot(phone, "06-phone-wizard")
    _no_sideways_scroll(phone)
    phone.locator("section.start-from-file").get_by_label(
        "Study file (.yaml, at most 2 MB)"
    ).set_input_files(_yaml("edited.study.yaml", broken.encode()))
    phone.get_by_role("button", name="Read the file").click()
    expect(phone.locator("#file-problems li")).to_have_count(2)
    shot(phone, "07-phone-broken-file")
    _no_sideways_scroll(phone)
    phone.get_by_label("Study file (.yaml, at most 2 MB)").set_input_files(
        _yaml(path.name, text.encode())
    )
    phone.get_by_role("button", name="Read the file").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Review the study file")
    shot(phone, "08-phone-review")
    _no_sideways_scroll(phone)
