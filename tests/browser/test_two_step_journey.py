"""Two-step sign-in in Chromium: a coordinator sets it up (QR code and key), signs in again
and gives a code before the study page; desktop and phone, no sideways scroll, axe."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from rounds.models import StudyMembership
from tests.browser.conftest import Checker, PageFactory, log_in
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-coordinator-passphrase"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def _code(device: TOTPDevice) -> str:
    return str(totp(device.bin_key)).zfill(6)


def test_a_coordinator_sets_up_two_step_sign_in_and_gives_a_code_next_time(
    desktop: Page, open_phone: PageFactory, live_server: Any, shot: Checker,
    assert_accessible: Checker,
) -> None:  # fmt: skip
    study = make_study(n_items=2, n_panelists=2)
    user = User.objects.create_user("coordinator", password=PASSWORD, is_staff=True)
    StudyMembership.objects.create(study=study, user=user, role="coordinator")
    base = live_server.url
    log_in(desktop, base, "coordinator", PASSWORD)
    desktop.get_by_role("link", name="Two-step sign-in").click()
    desktop.get_by_role("button", name="Set up two-step sign-in").click()
    expect(desktop.locator(".qr svg")).to_be_visible()
    expect(desktop.locator(".totp-key")).to_be_visible()
    assert desktop.evaluate(NO_SIDEWAYS_SCROLL)
    shot(desktop, "01-set-up-desktop")
    assert_accessible(desktop, "two-step set-up")
    device = TOTPDevice.objects.get(user=user)
    desktop.get_by_label("Type the six-digit code").fill(_code(device))
    desktop.get_by_role("button", name="Turn two-step sign-in on").click()
    expect(desktop.get_by_text("Two-step sign-in is on for your account.")).to_be_visible()

    phone = open_phone()
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):  # the next code
        log_in(phone, base, "coordinator", PASSWORD)
        phone.goto(f"{base}/studies/{study.slug}/")
        expect(phone.get_by_role("heading", name="Sign-in code")).to_be_visible()
        assert phone.evaluate(NO_SIDEWAYS_SCROLL)
        shot(phone, "02-code-phone")
        assert_accessible(phone, "sign-in code")
        phone.get_by_label("Code").fill(_code(device))
        phone.get_by_role("button", name="Continue").click()
        expect(phone).to_have_url(f"{base}/studies/{study.slug}/")
