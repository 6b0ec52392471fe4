"""The production recipe (README, "Scaling out") as written: settings, static files, logs."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, _database_url

TOKEN = "c2VjcmV0LXRva2VuLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ"


def production_env(**extra: str) -> dict[str, str]:
    """The README's exports, on this machine (no test-only HTTPS switch)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DELPHI_HTTPS"))}
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="delphi.example.org,127.0.0.1",
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_check_deploy_is_clean_under_the_production_recipe() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr + result.stdout


def _settings(env: dict[str, str], *names: str) -> list[str]:
    code = "from django.conf import settings; " + "; ".join(
        f"print(repr(settings.{name}))" for name in names
    )
    result = manage("shell", "-v", "0", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_debug_is_off_unless_the_run_command_turns_it_on() -> None:
    env = production_env()
    del env["DJANGO_DEBUG"]
    assert _settings(env, "DEBUG") == ["False"]
    dev = production_env(DJANGO_DEBUG="1")
    del dev["DJANGO_SECRET_KEY"]
    assert _settings(dev, "DEBUG") == ["True"]  # the development key is accepted only then
    assert 'export DJANGO_DEBUG="${DJANGO_DEBUG:-1}"' in (ROOT / "dev").read_text()


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_cookies_are_secure_and_https_is_enforced() -> None:
    names = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "LANGUAGE_COOKIE_SECURE",
             "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "X_FRAME_OPTIONS"]  # fmt: skip
    assert _settings(production_env(), *names) == [
        "True", "True", "True", "True", "31536000", "'DENY'"
    ]  # fmt: skip
    proxied = _settings(production_env(DJANGO_BEHIND_PROXY="1"), "SECURE_PROXY_SSL_HEADER")
    assert proxied == ["('HTTP_X_FORWARDED_PROTO',", "'https')"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gunicorn(transactional_db: None, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """collectstatic, then gunicorn as the README starts it, behind a (simulated) TLS proxy."""
    env = production_env(
        DATABASE_URL=_database_url(),
        DJANGO_BEHIND_PROXY="1",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        DELPHI_VAR_DIR=str(tmp_path / "var"),
    )
    collected = manage("collectstatic", "--noinput", "-v", "0", env=env)
    assert collected.returncode == 0, collected.stderr
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        command = [sys.executable, "-m", "gunicorn", "delphi.wsgi", "-w", "2", "-b",
                   f"127.0.0.1:{port}", "--access-logfile", "-"]  # fmt: skip
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            yield base, log
        finally:
            server.terminate()
            server.wait(timeout=30)


def _get(url: str, *, https: bool = True) -> tuple[int, dict[str, str], bytes]:
    headers = {"Host": "delphi.example.org"}
    if https:
        headers["X-Forwarded-Proto"] = "https"
    request = urllib.request.Request(url, headers=headers)
    opener = urllib.request.build_opener(NoRedirect())
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.mark.slow
def test_the_production_recipe_serves_pages_with_their_css(gunicorn: tuple[str, Path]) -> None:
    base, log = gunicorn
    status, headers, body = _get(f"{base}/accounts/login/")
    assert status == 200
    assert "max-age=31536000" in headers["Strict-Transport-Security"]
    css = re.findall(rb'href="(/static/[^"]+\.css)"', body)
    assert css, body[:500]
    for path in css:
        status, headers, content = _get(base + path.decode())
        assert status == 200, path
        assert headers["Content-Type"].startswith("text/css")
        assert content
    # Plain HTTP is sent to HTTPS; an unknown address gets a 404 without any debug page.
    assert _get(f"{base}/accounts/login/", https=False)[0] == 301
    status, _, body = _get(f"{base}/no/such/page/")
    assert status == 404
    assert b"URLconf" not in body and b"urlpatterns" not in body
    # The access log and the error log carry no token.
    assert _get(f"{base}/p/{TOKEN}/")[0] == 404
    time.sleep(0.5)
    text = log.read_text()
    assert "/p/[token]/" in text
    assert TOKEN not in text
