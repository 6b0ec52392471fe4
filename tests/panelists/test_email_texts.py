"""A study's own e-mail texts per kind and language: edited with placeholders, previewed,
tested, and used for the real e-mails (the link only in the outgoing message)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from panelists import services, texts
from panelists.models import EmailMessage, EmailTemplate
from rounds import services as round_services
from rounds.models import Study
from tests.factories import make_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db

BODY = (
    "Beste {name},\n\nRonde {round} van {study} is open.\nVóór {deadline}.\n\n{link}\n\n{contact}\n"
)


@pytest.fixture
def study() -> Study:
    study = make_study(n_items=2, n_panelists=3)
    Study.objects.filter(pk=study.pk).update(contact_name="An", contact_email="an@example.org")
    study.refresh_from_db()
    return study


@pytest.fixture
def coordinator(study: Study) -> Client:
    user = member(study, "coordinator")
    user.email = "me@example.org"
    user.save()
    return as_user(user)


def url(study: Study, kind: str = "invitation", language: str = "nl") -> str:
    return f"{reverse('email-templates', args=[study.slug])}?kind={kind}&language={language}"


def test_the_page_starts_from_the_built_in_text_with_placeholders(
    study: Study, coordinator: Client
) -> None:
    html = coordinator.get(url(study)).content.decode()
    assert "{link}" in html and "{name}" in html
    assert "The built-in text" in html


def test_a_saved_text_is_used_for_the_real_e_mails(
    study: Study, coordinator: Client, django_capture_on_commit_callbacks
) -> None:
    response = coordinator.post(
        url(study), {"subject": "Ronde {round}", "body": BODY, "action": "save"}
    )
    assert response.status_code == 302
    assert EmailTemplate.objects.get().language == "nl"
    round = round_services.round_create(study=study)
    with django_capture_on_commit_callbacks(execute=False):
        round_services.round_open(round=round)
    dutch = EmailMessage.objects.filter(panelist__language="nl").first()
    assert dutch is not None
    message = services.compose(dutch, "https://delphi.example/p/SECRET/")
    assert message.subject == "Ronde 1"
    assert message.body.startswith("Beste ")
    assert "https://delphi.example/p/SECRET/" in message.body
    assert "Vóór" not in message.body  # no deadline: the line is left out
    assert "Questions: An <an@example.org>" in message.body or "Vragen" in message.body
    html = message.alternatives[0][0]
    assert 'href="https://delphi.example/p/SECRET/"' in html
    english = EmailMessage.objects.filter(panelist__language="en").first()
    assert english is not None
    assert "Dear" in services.compose(english, "https://x/p/T/").body  # built-in text


def test_a_text_without_the_link_or_with_an_unknown_placeholder_is_refused(
    study: Study, coordinator: Client
) -> None:
    response = coordinator.post(
        url(study), {"subject": "Hi", "body": "Hello {nmae}", "action": "save"}
    )
    html = response.content.decode()
    assert "Unknown placeholders: {nmae}" in html
    assert "must contain {link}" in html
    assert not EmailTemplate.objects.exists()


def test_preview_fills_the_placeholders_with_an_example(study: Study, coordinator: Client) -> None:
    response = coordinator.post(url(study), {"subject": "Ronde {round}", "body": BODY,
                                             "action": "preview"})  # fmt: skip
    html = response.content.decode()
    assert "Beste Dr. Voorbeeld" in html  # an example panelist of that language
    assert "/p/EXAMPLE-LINK/" in html
    assert not EmailTemplate.objects.exists()


def test_a_test_e_mail_goes_to_the_coordinator_only(study: Study, coordinator: Client) -> None:
    coordinator.post(url(study), {"subject": "Ronde {round}", "body": BODY, "action": "test"})
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["me@example.org"]
    assert mail.outbox[0].subject.startswith("[Test]")


def test_fill_leaves_out_optional_lines_and_unknown_braces() -> None:
    filled = texts.fill("A {name}\nB {deadline}\nC {x}", {"name": "Jan", "deadline": ""})
    assert filled == "A Jan\nC {x}\n"
