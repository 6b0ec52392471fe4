"""The panelist's journey in a real browser on a phone: from the e-mail to the thank-you page."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from panelists import links
from rounds import services as round_services
from rounds import tasks as round_tasks
from rounds.models import Panelist, Participation, Rating, Round, Study
from tests.browser.conftest import Checker, PageFactory
from tests.factories import CRITERIA, make_study, run_round

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

Cell = tuple[str, str]  # (item code, criterion code)
DONT_KNOW = "dk"
LINK = re.compile(r"https?://\S+/p/[\w-]+/")

STEP_1: dict[Cell, str] = {
    ("I01", "acceptability"): "2", ("I01", "priority"): "3",
    ("I03", "acceptability"): "4", ("I03", "priority"): "5",
    ("I05", "acceptability"): "6", ("I05", "priority"): "7",
}  # fmt: skip
STEP_2_BEFORE_THE_BREAK: dict[Cell, str] = {
    ("I02", "acceptability"): "8", ("I02", "priority"): "9",
}  # fmt: skip
STEP_2_AFTER_THE_BREAK: dict[Cell, str] = {
    ("I04", "acceptability"): "1", ("I04", "priority"): DONT_KNOW,
    ("I06", "acceptability"): "5", ("I06", "priority"): "9",
}  # fmt: skip

# Which radio of each group is checked, keyed "item code|criterion label".
CHECKED_JS = """() => Object.fromEntries(
  [...document.querySelectorAll('article.item fieldset.rating')].map(fs => [
    fs.closest('article').querySelector('.code').textContent.trim() + '|' +
      fs.querySelector('legend .criterion').textContent.trim(),
    fs.querySelector('input[type=radio]:checked')?.value ?? null]))"""

# The focused element, and whether a keyboard user can see where focus is: a radio is
# transparent inside its label, so the label draws the focus ring.
FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {ok: false, what: 'nothing (body)'};
  const ring = el.matches('.scale .point input') ? el.closest('label') : el;
  const style = getComputedStyle(ring);
  const box = ring.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  const inView = x >= 0 && x < innerWidth && y >= 0 && y < innerHeight;
  const hit = inView ? document.elementFromPoint(x, y) : null;
  const what = `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}` +
    `${el.name ? '[name=' + el.name + ']' : ''}${el.value ? '=' + el.value : ''}` +
    ` "${(el.textContent || '').trim().slice(0, 30)}"`;
  const problems = [];
  if (!el.matches(':focus-visible')) problems.push('not :focus-visible');
  if (style.outlineStyle === 'none' || parseFloat(style.outlineWidth) < 2)
    problems.push(`outline ${style.outlineStyle} ${style.outlineWidth}`);
  if (!inView) problems.push(`outside the viewport (centre at ${x}, ${y})`);
  else if (!(hit && (ring.contains(hit) || hit.contains(ring))))
    problems.push(`covered by ${hit && hit.outerHTML.slice(0, 60)}`);
  return {ok: problems.length === 0, what, problems};
}"""


def _label(criterion: str) -> str:
    return CRITERIA[criterion]["en"]


def _open_round(study: Study) -> Round:
    latest = study.rounds.order_by("-number").first()
    round = latest if latest and latest.state == Round.State.DRAFT else None
    round = round or round_services.round_create(study=study)
    round.closes_at = timezone.now() + timedelta(days=7)
    round.save(update_fields=["closes_at"])
    return round_services.round_open(round=round, notify=False)


def _link_for(study: Study, pseudonym: str = "P001") -> tuple[Panelist, str]:
    panelist = study.panelists.get(pseudonym=pseudonym)
    Panelist.objects.filter(pk=panelist.pk).update(language="en")
    return panelist, links.link_issue(panelist=panelist)


def _answer(page: Page, cell: Cell, value: str) -> None:
    item, criterion = cell
    fieldset = (
        page.locator("article.item")
        .filter(has=page.locator(".code", has_text=item))
        .locator("fieldset.rating")
        .filter(has=page.locator("legend .criterion", has_text=_label(criterion)))
    )
    text = "Don't know" if value == DONT_KNOW else value
    fieldset.locator("label.point").filter(has_text=re.compile(rf"^{re.escape(text)}$")).click()


def _checked(page: Page) -> dict[Cell, str | None]:
    labels = {_label(code): code for code in CRITERIA}
    found: dict[str, str | None] = page.evaluate(CHECKED_JS)
    return {
        (item, labels[criterion]): value
        for key, value in found.items()
        for item, criterion in [key.split("|")]
    }


def _saved(panelist: Panelist) -> dict[Cell, str]:
    rows = Rating.objects.filter(panelist=panelist).values_list(
        "round_item__item__code", "criterion__code", "value"
    )
    return {(item, c): DONT_KNOW if v is None else str(v) for item, c, v in rows}


def _referers(requests: list[Any]) -> list[str]:
    return [r.all_headers().get("referer", "") for r in requests]


def test_a_panelist_rates_half_comes_back_later_and_submits(
    open_phone: PageFactory, live_server: Any, mailoutbox: list[Any],
    shot: Checker, assert_accessible: Checker,
) -> None:  # fmt: skip
    study = make_study(n_items=6, n_panelists=6)
    study.criteria.filter(code="acceptability").update(
        anchors={"en": {"min": "not acceptable", "max": "fully acceptable"}}
    )
    panelist = study.panelists.get(pseudonym="P001")
    Panelist.objects.filter(pk=panelist.pk).update(language="en")
    round = round_services.round_create(study=study)
    round.closes_at = timezone.now() + timedelta(days=7)
    round.save(update_fields=["closes_at"])
    round_services.round_open(round=round, notify=True)  # the invitations go out on commit

    invitation = next(m for m in mailoutbox if m.to == [panelist.email])
    assert invitation.subject.startswith("Round 1 of the Delphi study")
    link = LINK.search(invitation.body).group(0)  # type: ignore[union-attr]
    assert link.startswith(live_server.url)
    token = link.rstrip("/").rsplit("/", 1)[1]

    page = open_phone()
    requests: list[Any] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(link)
    assert page.url == f"{live_server.url}/p/"
    expect(page.get_by_role("heading", level=1)).to_have_text(study.display_title)
    expect(page.get_by_text("12 ratings")).to_be_visible()
    shot(page, "01-welcome")
    assert_accessible(page, "welcome")

    page.get_by_role("checkbox", name="I have read the above and agree").check()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Step 1 of 2")).to_be_visible()
    assert token not in page.evaluate("document.referrer")
    later = requests[1:]
    assert later, "no request was made after the link was opened"
    assert not [r for r in _referers(later) if token in r]
    acceptability = page.get_by_role("group", name="Acceptability").first
    expect(acceptability).to_have_accessible_description(
        re.compile(r"1 = not acceptable\s*9 = fully acceptable")
    )
    expect(page.get_by_text("9 =", exact=False)).to_have_count(3)  # none for priority
    shot(page, "02-step-1-empty")
    assert_accessible(page, "step")

    for cell, value in STEP_1.items():
        _answer(page, cell, value)
    assert _checked(page) == STEP_1
    shot(page, "03-step-1-rated")
    page.get_by_role("button", name="Save and next").click()
    expect(page.get_by_text("Step 2 of 2")).to_be_visible()
    for cell, value in STEP_2_BEFORE_THE_BREAK.items():
        _answer(page, cell, value)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Your answers are saved.")).to_be_visible()
    shot(page, "04-step-2-one-item-saved")
    assert not [r for r in _referers(requests[1:]) if token in r]
    page.context.close()  # the panelist closes the browser
    assert _saved(panelist) == STEP_1 | STEP_2_BEFORE_THE_BREAK

    page = open_phone()
    page.goto(link)
    expect(page.get_by_text("You have answered 8 of 12.")).to_be_visible()
    shot(page, "05-welcome-back")
    page.get_by_role("link", name="Continue").click()
    expect(page.get_by_text("Step 2 of 2")).to_be_visible()
    assert {c: v for c, v in _checked(page).items() if v} == STEP_2_BEFORE_THE_BREAK
    page.get_by_role("button", name="Previous").click()
    expect(page.get_by_text("Step 1 of 2")).to_be_visible()
    assert _checked(page) == STEP_1
    page.get_by_role("button", name="Save and next").click()
    expect(page.get_by_text("Step 2 of 2")).to_be_visible()
    for cell, value in STEP_2_AFTER_THE_BREAK.items():
        _answer(page, cell, value)
    everything = STEP_1 | STEP_2_BEFORE_THE_BREAK | STEP_2_AFTER_THE_BREAK
    assert _checked(page) == STEP_2_BEFORE_THE_BREAK | STEP_2_AFTER_THE_BREAK
    shot(page, "06-step-2-rated")
    page.get_by_role("button", name="Save and review").click()

    expect(page.get_by_role("heading", name="Review your answers")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(6)
    shown = {}
    for row in rows.all():
        item = row.locator("th").inner_text().split()[0]
        for criterion, td in zip(CRITERIA, row.locator("td").all(), strict=True):
            text = td.inner_text().strip()
            shown[item, criterion] = DONT_KNOW if text == "Don't know" else text
    assert shown == everything
    expect(page.get_by_text("missing")).to_have_count(0)
    shot(page, "07-review")
    assert_accessible(page, "review")

    page.get_by_role("button", name="Submit my answers").click()
    expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
    assert page.url == f"{live_server.url}/p/thanks/"
    shot(page, "08-thanks")
    assert_accessible(page, "thanks")

    confirmation = [m for m in mailoutbox if m.subject.startswith("Thank you")]
    assert [m.to for m in confirmation] == [[panelist.email]]
    assert _saved(panelist) == everything
    assert len(everything) == 12
    participation = Participation.objects.get(panelist=panelist, round=round)
    assert participation.status == Participation.Status.SUBMITTED

    response = page.goto(f"{live_server.url}/p/{token[::-1]}x/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="We do not recognise this link")).to_be_visible()
    shot(page, "09-invalid-link")
    assert_accessible(page, "invalid link")

    round_services.round_close(round=round)
    page.goto(f"{live_server.url}/p/")
    expect(page.get_by_text("Round 1 is closed.")).to_be_visible()
    shot(page, "10-closed")
    assert_accessible(page, "closed round")


def test_round_2_shows_the_panel_feedback(
    phone: Page, live_server: Any, shot: Checker, assert_accessible: Checker
) -> None:
    study = make_study(n_items=4, n_panelists=6)
    given = {"P001": 2, "P002": 4, "P003": 5, "P004": 5, "P005": 6, "P006": 6}
    run_round(study, lambda panelist, round_item, criterion: given[panelist.pseudonym])
    round_2 = _open_round(study)
    assert round_2.number == 2
    _panelist, link = _link_for(study)

    phone.goto(link)
    expect(phone.get_by_text("Round 2: what we ask")).to_be_visible()
    phone.get_by_role("link", name="Start").click()
    expect(phone.get_by_text("Step 1 of 2")).to_be_visible()
    items = phone.locator("article.item")
    expect(items).to_have_count(2)
    for item in items.all():
        for fieldset in item.locator("fieldset.rating").all():
            # On a phone each criterion shows one line; the chart is one tap away.
            summary = fieldset.locator("details.feedback > summary")
            expect(summary).to_contain_text("Last round: median 5 · you 2 · no consensus yet")
            expect(fieldset.locator("svg[role=img]")).not_to_be_visible()
            summary.click()
            chart = fieldset.locator("svg[role=img]")
            expect(chart).to_have_count(1)
            expect(chart).to_be_visible()
            description = chart.locator("desc").text_content() or ""
            assert "2: 1, 3: 0, 4: 1, 5: 2, 6: 2, 7: 0" in description
            expect(chart.locator('.bar.own[data-point="2"]')).to_have_count(1)
            expect(fieldset.get_by_text("Your rating was 2.")).to_be_visible()
            expect(fieldset.get_by_text("6 panelists; median 5;")).to_be_visible()
    shot(phone, "round-2-feedback")
    assert_accessible(phone, "round 2 step")
    phone.set_viewport_size({"width": 1280, "height": 900})
    phone.reload()
    expect(phone.locator("details.feedback[open]")).to_have_count(4)  # 2 items × 2 criteria
    shot(phone, "round-2-feedback-desktop")


def _tab_to(page: Page, predicate: str, *, key: str = "Tab", limit: int = 60) -> None:
    """Press Tab until the focused element satisfies the JS predicate; focus must be visible
    on every element passed on the way."""
    for _ in range(limit):
        page.keyboard.press(key)
        _assert_focus_visible(page)
        if page.evaluate(f"(() => {{ const el = document.activeElement; return {predicate}; }})()"):
            return
    pytest.fail(f"{limit} presses of {key} never reached an element where {predicate}")


def _assert_focus_visible(page: Page) -> None:
    focus = page.evaluate(FOCUS_JS)
    assert focus["ok"], f"focus on {focus['what']} is not visible: {focus.get('problems')}"


def _choose_with_keys(page: Page, group: str, value: str) -> None:
    """Tab into a radio group (focus lands on its first option), Space to pick it, then arrow
    keys, which move the choice within the group and wrap around at the ends."""
    _tab_to(page, f"el.type === 'radio' && el.name === {group!r}")
    assert page.evaluate("document.activeElement.value") == "1"
    page.keyboard.press("Space")
    if value == DONT_KNOW:
        page.keyboard.press("ArrowLeft")  # from the first option to the last
    else:
        for _ in range(int(value) - 1):
            page.keyboard.press("ArrowRight")
    _assert_focus_visible(page)
    assert page.evaluate("[document.activeElement.value, document.activeElement.checked]") == [
        value,
        True,
    ]


def test_a_round_can_be_completed_with_the_keyboard_alone(
    phone: Page, live_server: Any, shot: Checker
) -> None:
    study = make_study(n_items=6, n_panelists=3)
    round = _open_round(study)
    panelist, link = _link_for(study)
    # Per step, per radio group in page order: 3 items x 2 criteria.
    planned = [["7", "3", "1", "9", "5", "2"], ["9", DONT_KNOW, "4", "6", "8", "1"]]

    phone.goto(link)
    _tab_to(phone, "el.id === 'consent'")
    phone.keyboard.press("Space")
    assert phone.evaluate("document.activeElement.checked")
    _tab_to(phone, "el.textContent.trim() === 'Start'")
    phone.keyboard.press("Enter")
    for number, values in enumerate(planned, start=1):
        expect(phone.get_by_text(f"Step {number} of 2")).to_be_visible()
        groups = phone.eval_on_selector_all(
            "fieldset.rating", "all => all.map(f => f.querySelector('input[type=radio]').name)"
        )
        assert len(groups) == len(values)
        for group, value in zip(groups, values, strict=True):
            _choose_with_keys(phone, group, value)
        shot(phone, f"step-{number}-by-keyboard")
        phone.keyboard.press("Enter")  # on the last rating: submits the step, moves on

    expect(phone.get_by_role("heading", name="Review your answers")).to_be_visible()
    _tab_to(phone, "el.textContent.trim() === 'Submit my answers'")
    shot(phone, "review-submit-focused")
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("heading", name="Thank you!")).to_be_visible()
    participation = Participation.objects.get(panelist=panelist, round=round)
    assert participation.status == Participation.Status.SUBMITTED
    assert sorted(_saved(panelist).values()) == sorted(v for step in planned for v in step)


def test_a_wrong_link_and_a_closed_round_show_friendly_pages(
    phone: Page, live_server: Any, shot: Checker, assert_accessible: Checker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    response = phone.goto(f"{live_server.url}/p/{'x' * 43}/")
    assert response is not None and response.status == 404
    expect(phone.get_by_role("heading", name="We do not recognise this link")).to_be_visible()
    expect(phone.get_by_text("copied the whole link")).to_be_visible()
    shot(phone, "invalid-link")
    assert_accessible(phone, "invalid link")

    study = make_study(n_items=2, n_panelists=3)
    round = _open_round(study)
    _panelist, link = _link_for(study)
    analyses: list[int] = []  # the page as panelists see it before the worker analyses
    monkeypatch.setattr(round_tasks, "run_analysis", SimpleNamespace(delay=analyses.append))
    round_services.round_close(round=round)
    assert analyses == [round.analysis_jobs.get().pk]
    phone.goto(link)
    assert phone.url == f"{live_server.url}/p/"
    expect(phone.get_by_text("Round 1 is closed.")).to_be_visible()
    expect(phone.get_by_text("Your saved answers are kept.")).to_be_visible()
    shot(phone, "closed-round")
    assert_accessible(phone, "closed round")
