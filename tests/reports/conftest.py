from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User

from reports import pdf
from rounds.models import Study, StudyMembership
from tests.reports.helpers import finished_study

FAKE_PDF = b"%PDF-1.7\n% a stand-in: the layout is tested in test_pdf.py\n%%EOF\n"


@pytest.fixture
def fast_pdf(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Skip WeasyPrint's layout (seconds per report); everything else runs for real."""
    monkeypatch.setattr(pdf, "html_to_pdf", lambda html, **options: FAKE_PDF)
    return FAKE_PDF


@dataclass(frozen=True)
class Team:
    study: Study
    coordinator: User
    viewer: User
    outsider: User


@pytest.fixture
def team(db: None) -> Team:
    """A finished study with a coordinator, a viewer (policy team) and a user with no role."""
    study = finished_study()
    coordinator = User.objects.create_user("coord", password="x")
    viewer = User.objects.create_user("policy", password="x")
    outsider = User.objects.create_user("outsider", password="x")
    StudyMembership.objects.create(
        study=study, user=coordinator, role=StudyMembership.Role.COORDINATOR
    )
    StudyMembership.objects.create(study=study, user=viewer, role=StudyMembership.Role.VIEWER)
    return Team(study, coordinator, viewer, outsider)
