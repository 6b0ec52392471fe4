"""The study page: what the coordinator must know before the panel sees the study."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rounds.models import Study
from tests.factories import make_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


def test_it_warns_about_texts_missing_in_a_language_of_the_study() -> None:
    study = make_study(languages=("fr", "nl", "en"))
    item = study.items.get(code="I01")
    item.domain = {"fr": "Accès", "en": "Access"}
    item.save()
    criterion = study.criteria.get(code="priority")
    criterion.question = {"en": "How urgent is it?"}
    criterion.save()
    client = as_user(member(study, "coordinator"))
    html = client.get(reverse("study-detail", args=[study.slug])).content.decode()
    assert "Dutch: missing domain headings (1), criterion questions (1)" in html
    assert "French: missing criterion questions (1)" in html


def test_it_warns_when_the_study_has_no_contact_e_mail() -> None:
    study = make_study()
    Study.objects.filter(pk=study.pk).update(contact_email="")
    client = as_user(member(study, "coordinator"))
    html = client.get(reverse("study-detail", args=[study.slug])).content.decode()
    assert "No contact e-mail" in html


def test_the_coordinator_sets_the_contact_from_the_study_page() -> None:
    study = make_study()
    client = as_user(member(study, "coordinator"))
    url = reverse("study-contact", args=[study.slug])
    response = client.post(url, {"contact_name": "An", "contact_email": "an@example.org"})
    assert response.status_code == 302
    study.refresh_from_db()
    assert (study.contact_name, study.contact_email) == ("An", "an@example.org")
    bad = client.post(url, {"contact_name": "An", "contact_email": "not an address"}, follow=True)
    assert b"Enter a valid email address." in bad.content
    study.refresh_from_db()
    assert study.contact_email == "an@example.org"
