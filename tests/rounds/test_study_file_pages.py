"""The study file in the app: downloaded from a study's page, read in the setup wizard."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from rounds.design import design_hash
from rounds.models import Study, StudyMembership
from rounds.studyfile.writer import study_file
from tests.factories import make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> User:
    user = User.objects.create_user("coord", is_staff=True)
    client.force_login(user)
    return user


def upload(client: Client, data: bytes, name: str = "design.yaml") -> object:
    return client.post(
        reverse("study-from-file"), {"file": SimpleUploadedFile(name, data)}, follow=True
    )


def test_a_coordinator_downloads_the_study_file(client: Client, staff: User) -> None:
    study = make_study()
    StudyMembership.objects.create(study=study, user=staff, role="coordinator")
    page = client.get(reverse("study-detail", args=[study.slug]))
    assert reverse("study-file", args=[study.slug]) in page.content.decode()
    response = client.get(reverse("study-file", args=[study.slug]))
    assert response["Content-Type"] == "application/yaml; charset=utf-8"
    assert f'filename="{study.slug}.study.yaml"' in response["Content-Disposition"]
    assert response.content == study_file(study)


def test_a_viewer_or_a_stranger_cannot_download_it(client: Client) -> None:
    study = make_study()
    viewer = User.objects.create_user("viewer")
    StudyMembership.objects.create(study=study, user=viewer, role="viewer")
    client.force_login(viewer)
    assert client.get(reverse("study-file", args=[study.slug])).status_code == 404
    client.force_login(User.objects.create_user("stranger"))
    assert client.get(reverse("study-file", args=[study.slug])).status_code == 404


def test_the_wizard_offers_to_start_from_a_study_file(client: Client, staff: User) -> None:
    page = client.get(reverse("study-setup"), follow=True).content.decode()
    assert reverse("study-from-file") in page
    assert 'type="file" name="file"' in page


def test_a_valid_file_is_reviewed_then_created(client: Client, staff: User) -> None:
    original = make_study()
    data = study_file(original)
    review = upload(client, data)
    assert review.redirect_chain[-1][0] == reverse("study-from-file-review")
    text = review.content.decode()
    assert design_hash(original) in text
    assert f'value="{original.slug}-2"' in text  # the file's short name is taken
    # One create form, and a page title that is text, not a copy of the page.
    assert text.count('id="create-title"') == 1
    title = text.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "<" not in title and "Review the study file" in title
    created = client.post(reverse("study-from-file-review"), {"slug": "copied"}, follow=True)
    copy = Study.objects.get(slug="copied")
    assert created.redirect_chain[-1][0] == reverse("study-detail", args=["copied"])
    assert copy.items.count() == original.items.count()
    assert copy.memberships.get().user == staff
    # The file is no longer kept: reviewing again asks for a file.
    again = client.get(reverse("study-from-file-review"), follow=True)
    assert again.redirect_chain[-1][0] == reverse("study-from-file")


def test_a_broken_file_lists_every_problem_and_creates_nothing(client: Client, staff: User) -> None:
    data = study_file(make_study()).replace(b"rule: percent:75", b"rule: percent:45", 1)
    studies = Study.objects.count()
    page = upload(client, data, name="broken.yaml")
    text = page.content.decode()
    assert "broken.yaml cannot be used (1 problem); nothing was created." in text
    line = next(n for n, text in enumerate(data.decode().splitlines(), 1) if "percent:45" in text)
    assert f"<strong>Line {line}</strong>, <code>criteria[1].rule</code>" in text
    assert "is not a consensus rule" in text
    assert Study.objects.count() == studies
    assert client.get(reverse("study-from-file-review")).status_code == 302


def test_a_taken_short_name_at_creation_is_said_and_nothing_is_created(
    client: Client, staff: User
) -> None:
    original = make_study()
    upload(client, study_file(original))
    response = client.post(reverse("study-from-file-review"), {"slug": original.slug})
    assert "already exists" in response.content.decode()
    assert Study.objects.count() == 1


def test_only_staff_may_create_a_study_from_a_file(client: Client) -> None:
    client.force_login(User.objects.create_user("panel-member"))
    assert client.get(reverse("study-from-file")).status_code == 403
    assert client.get(reverse("study-from-file-review")).status_code == 403
