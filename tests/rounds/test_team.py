"""Team and access in the app: invitations by e-mail (only a hash of the token stored),
accepting with an existing or a new account, changing and removing roles."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from rounds.models import AuditEntry, Study, StudyInvitation, StudyMembership
from tests.factories import make_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def study() -> Study:
    return make_study()


@pytest.fixture
def owner(study: Study) -> User:
    return member(study, "owner")


def invite(client: Client, study: Study, email: str, role: str, capture) -> str:
    with capture(execute=True):
        response = client.post(reverse("team", args=[study.slug]), {"email": email, "role": role})
    assert response.status_code == 302
    sent = mail.outbox[-1]
    found = re.search(r"https?://\S+/team/accept/(\S+)/", sent.body)
    assert found is not None
    return found.group(1)


def test_an_invitation_is_e_mailed_and_only_its_hash_is_stored(
    study: Study, owner: User, django_capture_on_commit_callbacks
) -> None:
    token = invite(as_user(owner), study, "colleague@example.org", "coordinator",
                   django_capture_on_commit_callbacks)  # fmt: skip
    assert mail.outbox[-1].to == ["colleague@example.org"]
    stored = StudyInvitation.objects.get()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(list(StudyInvitation.objects.values()))
    assert stored.sent_at is not None
    assert AuditEntry.objects.filter(action="team.invited", target="colleague@example.org").exists()


def test_a_newcomer_creates_an_account_and_joins_in_the_role(
    study: Study, owner: User, django_capture_on_commit_callbacks
) -> None:
    token = invite(as_user(owner), study, "policy@example.org", "viewer",
                   django_capture_on_commit_callbacks)  # fmt: skip
    newcomer = Client()
    page = newcomer.get(reverse("team-accept", args=[token]))
    assert b"Create an account" in page.content
    response = newcomer.post(
        reverse("team-accept", args=[token]),
        {"create": "1", "username": "policyteam", "password1": "a-Long-pass-42",
         "password2": "a-Long-pass-42"},
    )  # fmt: skip
    assert response.status_code == 302
    user = User.objects.get(username="policyteam")
    assert user.email == "policy@example.org"
    assert StudyMembership.objects.get(study=study, user=user).role == "viewer"
    assert newcomer.get(reverse("team-accept", args=[token])).status_code == 404  # used once


def test_a_colleague_with_an_account_joins_when_logged_in(
    study: Study, owner: User, django_capture_on_commit_callbacks
) -> None:
    token = invite(as_user(owner), study, "an@example.org", "coordinator",
                   django_capture_on_commit_callbacks)  # fmt: skip
    colleague = User.objects.create_user("an", email="an@example.org")
    as_user(colleague).post(reverse("team-accept", args=[token]))
    assert StudyMembership.objects.get(study=study, user=colleague).role == "coordinator"


def test_a_withdrawn_invitation_no_longer_works(
    study: Study, owner: User, django_capture_on_commit_callbacks
) -> None:
    client = as_user(owner)
    token = invite(client, study, "x@example.org", "viewer", django_capture_on_commit_callbacks)
    invitation = StudyInvitation.objects.get()
    client.post(reverse("team-invitation-revoke", args=[study.slug, invitation.pk]))
    assert Client().get(reverse("team-accept", args=[token])).status_code == 404


def test_roles_change_and_members_leave_but_the_last_owner_stays(study: Study, owner: User) -> None:
    client = as_user(owner)
    colleague = member(study, "coordinator", name="colleague")
    mine = StudyMembership.objects.get(study=study, user=owner)
    theirs = StudyMembership.objects.get(study=study, user=colleague)
    client.post(reverse("team-member", args=[study.slug, theirs.pk, "role"]), {"role": "viewer"})
    theirs.refresh_from_db()
    assert theirs.role == "viewer"
    response = client.post(
        reverse("team-member", args=[study.slug, mine.pk, "remove"]), follow=True
    )
    assert b"at least one owner" in response.content
    assert StudyMembership.objects.filter(pk=mine.pk).exists()
    client.post(reverse("team-member", args=[study.slug, theirs.pk, "remove"]))
    assert not StudyMembership.objects.filter(pk=theirs.pk).exists()
    assert AuditEntry.objects.filter(action="team.removed").exists()


def test_a_viewer_cannot_manage_the_team(study: Study) -> None:
    viewer = as_user(member(study, "viewer"))
    assert viewer.get(reverse("team", args=[study.slug])).status_code == 404
    response = viewer.post(
        reverse("team", args=[study.slug]), {"email": "a@b.org", "role": "owner"}
    )
    assert response.status_code == 404
    assert not StudyInvitation.objects.exists()
