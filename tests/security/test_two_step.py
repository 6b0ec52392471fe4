"""Optional two-step sign-in for coordinators: set up with a first code, asked after the
password on every new session before any staff page, wrong codes refused with a growing
wait, turned off only with a current code; accounts without it are not affected."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from rounds.models import Study
from tests.factories import make_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


def code(device: TOTPDevice) -> str:
    return str(totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)).zfill(
        device.digits
    )


def wrong(device: TOTPDevice) -> str:
    return str((int(code(device)) + 500_000) % 1_000_000).zfill(6)


def signed_in(user: User) -> Client:
    """A new session, signed in with the password, as the login page does."""
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": "pw"})
    assert response.status_code == 302
    return client


def turned_on(user: User) -> TOTPDevice:
    client = as_user(user)
    client.post("/accounts/two-step/", {"action": "start"})
    device = TOTPDevice.objects.get(user=user)
    client.post("/accounts/two-step/", {"action": "confirm", "code": code(device)})
    device.refresh_from_db()
    assert device.confirmed
    return device


@pytest.fixture
def study() -> Study:
    return make_study(n_items=2, n_panelists=2)


@time_machine.travel("2026-11-30 10:00:00 +0000", tick=False)
def test_setting_up_shows_a_qr_code_and_the_key_and_takes_a_first_code(study: Study) -> None:
    user = member(study, "coordinator")
    client = as_user(user)
    page = client.get("/accounts/two-step/").content.decode()
    assert "Two-step sign-in is off" in page
    client.post("/accounts/two-step/", {"action": "start"})
    device = TOTPDevice.objects.get(user=user)
    page = client.get("/accounts/two-step/").content.decode()
    assert "<svg" in page and 'class="totp-key"' in page and not device.confirmed

    response = client.post("/accounts/two-step/", {"action": "confirm", "code": wrong(device)},
                           follow=True)  # fmt: skip
    assert "not the one your authenticator app shows now" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed

    with time_machine.travel(timezone.now() + timedelta(seconds=5), tick=False):
        response = client.post("/accounts/two-step/", {"action": "confirm", "code": code(device)},
                               follow=True)  # fmt: skip
        assert "Two-step sign-in is on for your account." in response.content.decode()
        device.refresh_from_db()
        assert device.confirmed
        # the session that turned it on goes on without a second code
        assert client.get(f"/studies/{study.slug}/").status_code == 200


@time_machine.travel("2026-11-30 10:00:00 +0000", tick=False)
def test_a_new_session_gives_a_code_before_any_staff_page(study: Study) -> None:
    user = member(study, "coordinator")
    device = turned_on(user)
    client = signed_in(user)
    response = client.get(f"/studies/{study.slug}/")
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/verify/?next=%2Fstudies%2F{study.slug}%2F"

    target = f"/studies/{study.slug}/"
    refused = client.post("/accounts/verify/", {"code": wrong(device), "next": target}, follow=True)
    assert "not the one your authenticator app shows now" in refused.content.decode()
    assert client.get(f"/studies/{study.slug}/").status_code == 302

    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=False):  # a new code
        response = client.post("/accounts/verify/", {"code": code(device), "next": target})
        assert response.status_code == 302 and response["Location"] == f"/studies/{study.slug}/"
        assert client.get(f"/studies/{study.slug}/").status_code == 200


@time_machine.travel("2026-11-30 10:00:00 +0000", tick=False)
def test_wrong_codes_make_the_next_try_wait(study: Study) -> None:
    user = member(study, "coordinator")
    device = turned_on(user)
    client = signed_in(user)
    client.post("/accounts/verify/", {"code": wrong(device)})
    client.post("/accounts/verify/", {"code": wrong(device)})
    # even the right code is refused while the wait lasts, and the page says why
    response = client.post("/accounts/verify/", {"code": code(device)}, follow=True)
    assert "Too many wrong codes in a row" in response.content.decode()
    assert client.get(f"/studies/{study.slug}/").status_code == 302


@time_machine.travel("2026-11-30 10:00:00 +0000", tick=False)
def test_it_is_turned_off_only_with_a_current_code(study: Study) -> None:
    user = member(study, "coordinator")
    device = turned_on(user)
    client = signed_in(user)
    later = timezone.now() + timedelta(seconds=31)  # each code is taken once: the next one
    with time_machine.travel(later, tick=False):
        client.post("/accounts/verify/", {"code": code(device)})  # this session's code
        client.post("/accounts/two-step/", {"action": "stop", "code": "12 34"})
        assert TOTPDevice.objects.filter(user=user).exists()
    with time_machine.travel(later + timedelta(seconds=31), tick=False):
        client.post("/accounts/two-step/", {"action": "stop", "code": code(device)})
        assert not TOTPDevice.objects.filter(user=user).exists()
    assert signed_in(user).get(f"/studies/{study.slug}/").status_code == 200


def test_an_account_without_it_and_the_panelists_pages_are_not_affected(study: Study) -> None:
    user = member(study, "coordinator")
    client = signed_in(user)
    assert client.get(f"/studies/{study.slug}/").status_code == 200
    other = member(study, "viewer", name="with-code")
    turned_on(other)
    # a panelist's page is not a staff page: no code asked
    assert signed_in(other).get("/p/").status_code == 403  # no panelist session: the usual page


def test_the_code_page_does_not_send_anyone_to_another_site(study: Study) -> None:
    user = member(study, "coordinator")
    device = turned_on(user)
    client = signed_in(user)
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=False):
        response = client.post("/accounts/verify/", {"code": code(device),
                                                     "next": "https://evil.example/"})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_device_removed_by_an_administrator_stops_the_code_being_asked(study: Study) -> None:
    user = member(study, "coordinator")
    turned_on(user)
    client = signed_in(user)
    assert client.get(f"/studies/{study.slug}/").status_code == 302  # a code is asked
    TOTPDevice.objects.filter(user=user).delete()  # the administrator, in the admin
    response = client.get(f"/studies/{study.slug}/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"/studies/{study.slug}/"
