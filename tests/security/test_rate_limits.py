"""Rate limits on staff logins (django-axes) and on unknown personal links."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from panelists import links
from tests.factories import make_study

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _login(client: Client, username: str, password: str, ip: str = "10.0.0.1") -> int:
    response = client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)
    return response.status_code


def test_wrong_passwords_lock_the_account_even_with_the_right_one_then(client: Client) -> None:
    User.objects.create_user("coord", password="a-long-good-passphrase")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "coord", "wrong") == 200  # the form again, with its error
    assert _login(client, "coord", "wrong") == 429  # the last allowed failure locks
    response = client.post(
        LOGIN, {"username": "coord", "password": "a-long-good-passphrase"}, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


def test_the_lock_is_per_account_from_any_address(client: Client) -> None:
    User.objects.create_user("coord", password="a-long-good-passphrase")
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "coord", "wrong", ip=f"10.0.1.{i}")
    assert _login(Client(), "coord", "a-long-good-passphrase", ip="10.9.9.9") == 429


def test_the_lock_is_per_address_for_any_account(client: Client) -> None:
    User.objects.create_user("other", password="a-long-good-passphrase")
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"guess{i}", "wrong", ip="10.0.2.1")
    assert _login(Client(), "other", "a-long-good-passphrase", ip="10.0.2.1") == 429
    assert _login(Client(), "other", "a-long-good-passphrase", ip="10.0.2.2") == 302


def test_a_right_password_before_the_limit_logs_in(client: Client) -> None:
    User.objects.create_user("coord", password="a-long-good-passphrase")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "coord", "wrong")
    assert _login(client, "coord", "a-long-good-passphrase") == 302


def test_unknown_links_from_one_address_are_throttled_with_a_clear_page(client: Client) -> None:
    panelist = make_study().panelists.first()
    good = urlsplit(links.link_issue(panelist=panelist)).path
    for i in range(settings.DELPHI_LINK_FAILURES):
        assert client.get(f"/p/guess-{i:04d}/", REMOTE_ADDR="10.1.0.1").status_code == 404
    response = client.get("/p/guess-final/", REMOTE_ADDR="10.1.0.1")
    assert response.status_code == 429
    assert b"Too many unknown links" in response.content
    assert int(response["Retry-After"]) == settings.DELPHI_LINK_COOLOFF_SECONDS
    # Even a right link waits (otherwise the guesses would go on), but not from elsewhere.
    assert client.get(good, REMOTE_ADDR="10.1.0.1").status_code == 429
    assert Client().get(good, REMOTE_ADDR="10.1.0.2").status_code == 302


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(
    client: Client, settings: object
) -> None:
    settings.DELPHI_TRUSTED_PROXIES = 1  # type: ignore[attr-defined]
    for i in range(settings.DELPHI_LINK_FAILURES):  # type: ignore[attr-defined]
        # The client forges a first X-Forwarded-For entry; the proxy appends the real one.
        client.get(f"/p/guess-{i}/", HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 10.2.0.1")
    assert client.get("/p/x/", HTTP_X_FORWARDED_FOR="9.9.9.9, 10.2.0.1").status_code == 429
    assert client.get("/p/x/", HTTP_X_FORWARDED_FOR="10.2.0.1, 10.2.0.2").status_code == 404


def test_the_four_password_validators_refuse_weak_passwords() -> None:
    names = {v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS}
    assert names == {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }
    user = User(username="annpeeters", email="ann.peeters@example.org")
    for weak in ["short", "password123", "12345678901", "annpeeters1"]:
        with pytest.raises(ValidationError):
            validate_password(weak, user)
    validate_password("correct horse battery staple", user)


def test_a_forged_forwarded_address_is_never_stored_or_trusted(
    client: Client, settings: object
) -> None:
    settings.DELPHI_TRUSTED_PROXIES = 1  # type: ignore[attr-defined]
    User.objects.create_user("coord", password="a-long-good-passphrase")
    response = client.post(
        LOGIN, {"username": "coord", "password": "wrong"},
        REMOTE_ADDR="10.3.0.1", HTTP_X_FORWARDED_FOR="not-an-address",
    )  # fmt: skip
    assert response.status_code == 200
    from axes.models import AccessAttempt

    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["10.3.0.1"]


def test_a_login_without_an_address_still_works(client: Client) -> None:
    user = User.objects.create_user("coord", password="a-long-good-passphrase")
    client.force_login(user)  # a request built by hand: no REMOTE_ADDR
    assert client.get("/").status_code == 200
