"""End to end through a real Celery worker: the button, the progress, the download."""

from __future__ import annotations

import io
import subprocess
import time

import pytest
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from tests.reports.conftest import Team

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_builds_the_version_while_the_page_shows_progress(
    team: Team, celery_worker_process: subprocess.Popen[bytes]
) -> None:
    client = Client()
    client.force_login(team.coordinator)
    slug = team.study.slug

    page = client.post(reverse("report-generate", args=[slug]), follow=True)
    assert "<progress" in page.content.decode()
    seen = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = client.get(reverse("report-status", args=[slug, 1])).json()
        seen.append(status["progress"])
        if status["finished"]:
            break
        time.sleep(0.3)

    assert status["status"] == "done", status
    assert seen == sorted(seen) and seen[-1] == 100
    pdf = client.get(reverse("report-download", args=[slug, 1, "report.pdf"]))
    reader = PdfReader(io.BytesIO(b"".join(pdf.streaming_content)))  # type: ignore[attr-defined]
    assert "Report version 1" in " ".join((reader.pages[0].extract_text() or "").split())
