"""Browser fixtures: Debian's Chromium through Playwright's sync API, on a phone-sized page.

Every browser test also gets a live server that e-mailed links point at, and Celery in
eager mode, so the e-mails the app queues on commit are really sent (to the locmem outbox)
and nothing is left behind in the filesystem broker for a later worker to pick up.
"""

from __future__ import annotations

import fcntl
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
NPM_PREFIX = ROOT / "var" / "npm"
AXE_JS = NPM_PREFIX / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "ci-artifacts"
PHONE = {
    "viewport": {"width": 375, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "locale": "en-GB",
}
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")

PageFactory = Callable[[], Page]
Checker = Callable[[Page, str], None]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for the browser tests.

    Playwright's sync API marks its event loop as running in this thread for as long as it
    is started, and Django refuses ORM calls in a thread with a running loop. So Django's
    guard is lifted while the browser runs, and the browser lives for this package only,
    not the session: the tests collected after it keep the guard.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); "
            "deselect the browser tests with -m 'not browser'.",
            pytrace=False,
        )
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture
def open_phone(browser: Browser) -> Iterator[PageFactory]:
    """Open a page in a new phone-sized context: a new context is a browser started afresh
    (no cookies, no session). Every context still open is closed after the test."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = browser.new_context(**PHONE)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def phone(open_phone: PageFactory) -> Page:
    return open_phone()


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Page]:
    """A page in a new desktop-sized context (1280×900), closed after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture(autouse=True)
def _site_url(live_server: Any, settings: Any) -> None:
    settings.SITE_URL = live_server.url


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    from delphi.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture(scope="session")
def axe_source() -> Path:
    """axe.min.js from the npm package axe-core, installed once under var/npm."""
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    with open(NPM_PREFIX / ".install.lock", "w") as lock:  # pytest-xdist workers share it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not AXE_JS.exists():
            _npm_install_axe()
    return AXE_JS


def _npm_install_axe() -> None:
    command = ["npm", "install", "--no-save", "--prefix", str(NPM_PREFIX), "axe-core@4"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"Could not run {' '.join(command)}: {exc}", pytrace=False)
    if done.returncode != 0 or not AXE_JS.exists():
        pytest.fail(
            f"{' '.join(command)} failed (exit {done.returncode}), so the accessibility "
            f"checks cannot run:\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )


@pytest.fixture
def assert_accessible(axe_source: Path, request: pytest.FixtureRequest) -> Checker:
    """``assert_accessible(page, name)``: run axe-core (WCAG 2.1 A and AA rules) on the page
    and fail on any serious or critical violation. Every result is kept as CI output."""

    def check(page: Page, name: str) -> None:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated through the DevTools protocol: the pages' Content-Security-Policy
            # forbids inline scripts, and stays on in these tests.
            page.evaluate(axe_source.read_text(encoding="utf-8") + "\n;undefined")
        results = page.evaluate(
            "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_AA
        )
        _keep(ARTIFACTS / "axe" / f"{request.node.name}-{_slug(name)}.json", results)
        blocking = [v for v in results["violations"] if v["impact"] in BLOCKING]
        if blocking:
            pytest.fail(f"axe on the {name} page ({page.url}):\n" + _describe(blocking))

    return check


def log_in(page: Page, base: str, username: str, password: str, next_path: str = "") -> None:
    """Sign in through the login page, as a coordinator does (then to ``next_path``)."""
    page.goto(f"{base}/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def _keep(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = {key: results[key] for key in ("url", "violations", "incomplete") if key in results}
    path.write_text(json.dumps(kept, indent=1))


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {' '.join(map(str, node['target']))}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"      {summary}")
    return "\n".join(lines)


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Checker:
    """``shot(page, name)``: a full-page PNG in ci-artifacts/screenshots/<test>-<name>.png."""

    def save(page: Page, name: str) -> None:
        folder = ARTIFACTS / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{request.node.name}-{_slug(name)}.png"
        page.screenshot(path=str(path), full_page=True)

    return save
