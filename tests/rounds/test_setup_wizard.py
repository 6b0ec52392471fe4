"""The study setup wizard, walked as a coordinator would with the test client."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from rounds.models import AuditEntry, Panelist, Study, StudyMembership

pytestmark = pytest.mark.django_db

BASICS: dict[str, Any] = {
    "languages": ["fr", "en"],
    "report_language": "en",
    "slug": "",
    "title_fr": "Priorités en médecine générale",
    "title_en": "Priorities in general practice",
    "description_en": "Which actions should come first?",
    "time_zone": "Europe/Brussels",
    "contact_name": "An Peeters",
    "contact_email": "an.peeters@example.org",
    "minutes_per_round": "20",
}
ACCEPTABILITY = {
    "code": "acceptability",
    "name_fr": "Acceptabilité",
    "name_en": "Acceptability",
    "question_en": "How acceptable is this action?",
    "scale": "1-9",
    "anchor_min_en": "Not at all",
    "anchor_max_en": "Fully",
}
PRIORITY = {"code": "priority", "name_fr": "Priorité", "name_en": "Priority", "scale": "1-5"}
PROTOCOL: dict[str, Any] = {
    "rule_acceptability": "percent:70",
    "rule_priority": "iqr:1",
    "accept_rule": "acceptability = in AND priority.median >= 4",
    "reject_rule": "",
    "quantile_type": "6",
    "max_rounds": "4",
    "stable_below": "12.5",
    "show_distribution": "on",
    "show_own_rating": "on",
    "show_groups": "on",
    "min_group_size": "6",
    "allow_dont_know": "on",
    "randomise_items": "on",
}
ITEMS_CSV = (
    "code;domain;text_fr;text_en\r\n"
    "A01;Accès;Améliorer l'accès aux soins;Improve access to care\r\n"
    "A02;Accès;Réduire les délais d'attente;Cut waiting times\r\n"
    "A03;Équipe;Déléguer des tâches à l'infirmière;Delegate tasks to the nurse\r\n"
).encode("latin-1")
PANEL_CSV = (
    b"email,name,language,group\n"
    b"ines@example.org,Ines,fr,GP\n"
    b"jan@example.org,Jan,en,GP\n"
    b"marie@example.org,Marie,fr,nurse\n"
    b"tom@example.org,Tom,en,nurse\n"
)


class Wizard:
    """Posts steps the way the page does: prefixed fields plus formtools' current step."""

    def __init__(self, client: Client, user: User) -> None:
        self.client = client
        self.current_step = f"study-setup-{user.pk}-current_step"

    def get(self, step: str) -> Any:
        return self.client.get(reverse("study-setup-step", args=[step]))

    def post(self, step: str, fields: dict[str, Any], **buttons: str) -> Any:
        data = {f"{step}-{name}": value for name, value in fields.items()}
        data[self.current_step] = step
        data.update(buttons)
        return self.client.post(reverse("study-setup-step", args=[step]), data)

    def basics(self, **changes: Any) -> Any:
        return self.post("basics", {**BASICS, **changes})

    def criteria(self, *criteria: dict[str, Any]) -> Any:
        fields: dict[str, Any] = {"TOTAL_FORMS": str(len(criteria)), "INITIAL_FORMS": "0"}
        for index, criterion in enumerate(criteria):
            fields.update({f"{index}-{name}": value for name, value in criterion.items()})
        return self.post("criteria", fields)

    def protocol(self, buttons: dict[str, str] | None = None, **changes: Any) -> Any:
        return self.post("protocol", {**PROTOCOL, **changes}, **(buttons or {}))

    def upload(self, step: str, content: bytes, name: str) -> Any:
        return self.post(step, {"upload": SimpleUploadedFile(name, content, "text/csv")})

    def to_protocol(self) -> None:
        assert self.basics().status_code == 302
        assert self.criteria(ACCEPTABILITY, PRIORITY).status_code == 302

    def to_items(self) -> None:
        self.to_protocol()
        assert self.protocol().status_code == 302


def redirects_to(response: Any, step: str) -> bool:
    return response.status_code == 302 and response.url == reverse("study-setup-step", args=[step])


def page(response: Any) -> str:
    return str(response.content.decode())


def verdicts(html: str, example: str) -> list[str]:
    row = re.search(rf'<tr data-example="{example}">(.*?)</tr>', html, re.S)
    assert row is not None, f"no preview row {example}"
    return re.findall(r'data-consensus="(\w+)"', row.group(1))


def decision(html: str, example: str) -> str | None:
    row = re.search(rf'<tr data-example="{example}">(.*?)</tr>', html, re.S)
    assert row is not None
    found = re.search(r'data-decision="(\w+)"', row.group(1))
    return found.group(1) if found else None


@pytest.fixture
def staff(client: Client) -> User:
    user = User.objects.create_user("coordinator", is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def wizard(client: Client, staff: User) -> Wizard:
    return Wizard(client, staff)


def test_it_creates_the_study_with_everything_entered_in_the_steps(
    wizard: Wizard, staff: User
) -> None:
    assert redirects_to(wizard.basics(), "criteria")
    assert redirects_to(wizard.criteria(ACCEPTABILITY, PRIORITY), "protocol")
    assert redirects_to(wizard.protocol(), "items")
    assert redirects_to(wizard.upload("items", ITEMS_CSV, "items.csv"), "panel")
    assert redirects_to(wizard.upload("panel", PANEL_CSV, "panel.csv"), "review")
    review = wizard.get("review")
    assert "Déléguer des tâches à l" in page(review)
    assert "4 panelists" in page(review)

    done = wizard.post("review", {})
    assert redirects_to(done, "done")
    created = wizard.client.get(done.url)

    study = Study.objects.get()
    assert created.status_code == 302
    assert created.url == reverse("study-detail", args=[study.slug])
    assert wizard.client.get(created.url).status_code == 200
    assert study.slug == "priorites-en-medecine-generale"
    assert study.title == {"fr": BASICS["title_fr"], "en": BASICS["title_en"]}
    assert study.description == {"en": "Which actions should come first?"}
    assert study.languages == ["fr", "en"]
    assert (study.report_language, study.time_zone) == ("en", "Europe/Brussels")
    assert (study.contact_name, study.contact_email) == ("An Peeters", "an.peeters@example.org")
    assert study.minutes_per_round == 20
    assert study.status == Study.Status.DRAFT

    protocol = study.protocol
    assert protocol.accept_rule == "acceptability = in AND priority.median >= 4"
    assert protocol.reject_rule == ""
    assert (protocol.quantile_type, protocol.max_rounds, protocol.stable_below) == (6, 4, 12.5)
    assert (protocol.show_distribution, protocol.show_own_rating) == (True, True)
    assert (protocol.show_comments, protocol.show_groups, protocol.min_group_size) == (
        False,
        True,
        6,
    )
    assert (protocol.allow_dont_know, protocol.require_comment_outside_iqr) == (True, False)
    assert protocol.randomise_items is True
    assert protocol.locked_at is None

    acceptability, priority = study.criteria.order_by("position")
    assert acceptability.code == "acceptability"
    assert acceptability.name == {"fr": "Acceptabilité", "en": "Acceptability"}
    assert acceptability.question == {"en": "How acceptable is this action?"}
    assert acceptability.anchors == {"en": {"min": "Not at all", "max": "Fully"}}
    assert (acceptability.scale_min, acceptability.scale_max) == (1, 9)
    assert (acceptability.low_max, acceptability.high_min, acceptability.rule) == (
        3,
        7,
        "percent:70",
    )
    assert (priority.scale_min, priority.scale_max) == (1, 5)
    assert (priority.low_max, priority.high_min, priority.rule) == (2, 4, "iqr:1")

    items = list(study.items.order_by("position"))
    assert [item.code for item in items] == ["A01", "A02", "A03"]
    assert items[2].text == {
        "fr": "Déléguer des tâches à l'infirmière",
        "en": "Delegate tasks to the nurse",
    }
    assert items[2].domain == {"fr": "Équipe", "en": "Équipe"}

    panel = list(Panelist.objects.filter(study=study).order_by("pseudonym"))
    assert [(p.pseudonym, p.email, p.language, p.group) for p in panel] == [
        ("P001", "ines@example.org", "fr", "GP"),
        ("P002", "jan@example.org", "en", "GP"),
        ("P003", "marie@example.org", "fr", "nurse"),
        ("P004", "tom@example.org", "en", "nurse"),
    ]

    membership = StudyMembership.objects.get(study=study)
    assert (membership.user, membership.role) == (staff, StudyMembership.Role.OWNER)
    created_entry = AuditEntry.objects.get(study=study, action="study.created")
    assert created_entry.actor == staff
    assert created_entry.after["protocol"]["criteria"][1]["rule"] == "iqr:1"
    actions = set(AuditEntry.objects.filter(study=study).values_list("action", flat=True))
    assert {"items.imported", "panel.imported"} <= actions


def test_it_starts_from_the_first_step_with_two_default_criteria(wizard: Wizard) -> None:
    response = wizard.client.get(reverse("study-setup"))
    assert redirects_to(response, "basics")
    assert "Step 1 of 6" in page(wizard.get("basics"))
    wizard.basics()
    criteria = page(wizard.get("criteria"))
    assert 'value="acceptability"' in criteria
    assert 'value="priority"' in criteria


def test_it_refuses_a_user_who_is_not_staff(client: Client) -> None:
    client.force_login(User.objects.create_user("panel-member"))

    response = client.get(reverse("study-setup-step", args=["basics"]))

    assert response.status_code == 403
    assert "Only staff can create studies" in page(response)
    assert Study.objects.count() == 0


def test_it_sends_an_anonymous_visitor_to_the_login_page(client: Client) -> None:
    response = client.get(reverse("study-setup-step", args=["basics"]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_refuses_a_short_name_that_is_taken_and_keeps_what_was_typed(
    wizard: Wizard,
) -> None:
    Study.objects.create(slug="kce-2025", title={"en": "Another study"})

    response = wizard.basics(slug="kce-2025")

    html = page(response)
    assert response.status_code == 200
    assert "A study with the short name “kce-2025” already exists" in html
    assert "e.g. “kce-2025-2”" in html
    assert 'value="Priorities in general practice"' in html
    assert 'value="kce-2025"' in html


def test_it_goes_back_to_the_basics_when_the_short_name_was_taken_meanwhile(
    wizard: Wizard,
) -> None:
    wizard.to_items()
    wizard.post("items", {})
    wizard.post("panel", {})
    Study.objects.create(slug="priorites-en-medecine-generale", title={"en": "Faster"})

    done = wizard.client.get(wizard.post("review", {}).url)

    assert redirects_to(done, "basics")
    html = page(wizard.client.get(done.url))
    assert "needs another look" in html
    assert "A study with the short name “priorites-en-medecine-generale” already exists" in html
    assert 'value="Priorities in general practice"' in html
    assert Study.objects.count() == 1


def test_it_refuses_the_rand_rule_on_a_five_point_scale_and_keeps_what_was_typed(
    wizard: Wizard,
) -> None:
    wizard.to_protocol()

    response = wizard.protocol(rule_priority="rand", accept_rule="acceptability = in")

    html = page(response)
    assert response.status_code == 200
    assert "The RAND/UCLA rule works only on the 1–9 scale, and Priority uses 1-5" in html
    assert 'value="rand"' in html
    assert 'value="acceptability = in"' in html
    assert 'value="percent:70"' in html


def test_it_refuses_a_percent_threshold_of_50_and_names_the_valid_ones(wizard: Wizard) -> None:
    wizard.to_protocol()

    response = wizard.protocol(rule_acceptability="percent:50")

    html = page(response)
    assert response.status_code == 200
    assert "above 50" in html
    assert 'value="percent:50"' in html


def test_it_accepts_a_percent_threshold_with_decimals(wizard: Wizard) -> None:
    wizard.to_protocol()

    assert redirects_to(wizard.protocol(rule_acceptability="percent:66.7"), "items")

    assert 'value="percent:66.7"' in page(wizard.get("protocol"))


def test_it_names_an_unknown_criterion_in_the_accept_rule(wizard: Wizard) -> None:
    wizard.to_protocol()

    response = wizard.protocol(accept_rule="acceptability = in AND cost = in")

    html = page(response)
    assert response.status_code == 200
    assert "The rule names the criterion “cost”, which this study does not have" in html
    assert "Use one of: acceptability, priority" in html
    assert 'value="acceptability = in AND cost = in"' in html


def test_it_lists_the_problems_of_an_items_file_and_keeps_the_earlier_steps(
    wizard: Wizard,
) -> None:
    wizard.to_items()
    bad = ITEMS_CSV.replace(b"A02;Acc\xe8s;R\xe9duire les d\xe9lais d'attente", b"A02;Acc\xe8s;")

    response = wizard.upload("items", bad, "items.csv")

    html = page(response)
    assert response.status_code == 200
    assert "items.csv: line 3, column text_fr: the item text is missing; fill it in." in html
    assert 'value="acceptability = in AND priority.median &gt;= 4"' in page(wizard.get("protocol"))


def test_it_keeps_a_pasted_table_that_has_an_error(wizard: Wizard) -> None:
    wizard.to_items()
    pasted = "code,text_fr,text_en\nA01,Agir,Act\nA01,Encore,Again\n"

    response = wizard.post("items", {"pasted": pasted})

    html = page(response)
    assert "the code A01 is already on line 2; give each item its own code." in html
    assert "A01,Encore,Again" in html


def test_it_keeps_an_uploaded_file_when_the_coordinator_goes_back(wizard: Wizard) -> None:
    wizard.to_items()
    wizard.upload("items", ITEMS_CSV, "items.csv")
    wizard.post("panel", {}, wizard_goto_step="items")

    assert "Chosen before: <strong>items.csv</strong>" in page(wizard.get("items"))
    assert redirects_to(wizard.post("items", {}), "panel")
    assert redirects_to(wizard.post("panel", {}), "review")
    assert "3 items" in page(wizard.get("review"))


def test_the_preview_classifies_the_example_distributions(wizard: Wizard) -> None:
    wizard.to_protocol()

    html = page(wizard.get("protocol"))

    assert verdicts(html, "strong-high") == ["in", "in"]
    assert verdicts(html, "polarised") == ["none", "none"]
    assert verdicts(html, "lukewarm") == ["none", "none"]
    assert verdicts(html, "strong-low") == ["out", "out"]
    assert verdicts(html, "borderline") == ["in", "in"]
    assert decision(html, "strong-high") == "accepted"
    assert decision(html, "strong-low") == "rejected"
    assert decision(html, "polarised") == "carried"


def test_the_preview_button_reclassifies_with_the_rules_typed_and_stays_on_the_step(
    wizard: Wizard,
) -> None:
    wizard.to_protocol()

    response = wizard.protocol({"preview": "1"}, rule_acceptability="percent:80")

    html = page(response)
    assert response.status_code == 200
    assert verdicts(html, "borderline")[0] == "none"
    assert verdicts(html, "strong-high")[0] == "in"
    assert verdicts(html, "polarised")[0] == "none"
    assert decision(html, "strong-high") == "accepted"  # acceptability in, priority median 4
    assert decision(html, "borderline") == "carried"
    assert 'value="percent:80"' in page(wizard.get("protocol"))


def test_the_preview_leaves_out_a_criterion_whose_rule_is_wrong(wizard: Wizard) -> None:
    wizard.to_protocol()

    html = page(wizard.protocol({"preview": "1"}, rule_priority="rand"))

    assert verdicts(html, "strong-high") == ["in"]
    assert decision(html, "strong-high") is None


def test_the_review_warns_about_missing_translations(wizard: Wizard) -> None:
    assert redirects_to(wizard.basics(), "criteria")
    assert redirects_to(wizard.criteria(ACCEPTABILITY, PRIORITY), "protocol")
    assert redirects_to(wizard.protocol(), "items")
    assert redirects_to(wizard.upload("items", ITEMS_CSV, "items.csv"), "panel")
    assert redirects_to(wizard.upload("panel", PANEL_CSV, "panel.csv"), "review")
    html = page(wizard.get("review"))
    # ACCEPTABILITY has its question and end labels in English only.
    assert "French: missing criterion questions (1), scale end labels (2)" in html
    assert "Domain headings have the same text in every language (Accès, Équipe)" in html


def test_the_review_has_no_warning_when_everything_is_translated(wizard: Wizard) -> None:
    full = {**ACCEPTABILITY, "question_fr": "Acceptable ?", "anchor_min_fr": "Pas du tout",
            "anchor_max_fr": "Tout à fait"}  # fmt: skip
    items = (
        "code;domain_fr;domain_en;text_fr;text_en\r\nA01;Accès;Access;Améliorer;Improve\r\n"
    ).encode()
    assert redirects_to(wizard.basics(), "criteria")
    assert redirects_to(wizard.criteria(full, PRIORITY), "protocol")
    assert redirects_to(wizard.protocol(), "items")
    assert redirects_to(wizard.upload("items", items, "items.csv"), "panel")
    assert redirects_to(wizard.upload("panel", PANEL_CSV, "panel.csv"), "review")
    assert "Check before you create the study" not in page(wizard.get("review"))


def test_a_long_title_gives_a_short_name_of_whole_words(wizard: Wizard) -> None:
    from rounds.setup.forms import short_slug

    title = "Burnout of general practitioners: priorities for action in Belgium, 2026 edition"
    assert short_slug(title) == "burnout-of-general"
    assert len(short_slug(title)) <= 30
    assert short_slug("Priorités en médecine générale") == "priorites-en-medecine-generale"
