"""The upgrade from the schema before the panel moved into the core keeps every row.

The database is migrated back to the last migrations of that schema (what an installation
of the earlier version has), filled through the historical models, then migrated forward.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BEFORE = [
    ("rounds", "0003_scheduled_reminder"),
    ("panelists", "0002_initial"),
    ("reports", "0001_initial"),
]
LINK = "http://127.0.0.1:8000/p/9Qe3XUz0yS4pN2fFfOcyTt3uYzWq6Vw1Zk8Lr5Jm0aB/"


def migrate(targets: list[tuple[str, str]]) -> Apps:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps() -> Iterator[Apps]:
    apps = migrate(BEFORE)
    try:
        yield apps
    finally:
        executor = MigrationExecutor(connection)
        migrate(executor.loader.graph.leaf_nodes())


def fill(apps: Apps) -> dict[str, int]:
    """One of everything the move touches, the way the earlier version stored it."""
    Study = apps.get_model("rounds", "Study")
    study = Study.objects.create(slug="old", title={"en": "Old study"})
    apps.get_model("rounds", "Protocol").objects.create(study=study)
    criterion = apps.get_model("rounds", "Criterion").objects.create(study=study, code="c")
    item = apps.get_model("rounds", "Item").objects.create(study=study, code="I1", text={})
    round = apps.get_model("rounds", "Round").objects.create(study=study, number=1, state="open")
    ri = apps.get_model("rounds", "RoundItem").objects.create(round=round, item=item)
    Panelist = apps.get_model("panelists", "Panelist")
    panelist = Panelist.objects.create(study=study, pseudonym="P001", email="a@example.org")
    apps.get_model("panelists", "Participation").objects.create(
        panelist=panelist, round=round, status="submitted"
    )
    apps.get_model("rounds", "Rating").objects.create(
        round_item=ri, criterion=criterion, panelist=panelist, value=7, comment="ok"
    )
    apps.get_model("panelists", "PersonalLink").objects.create(
        panelist=panelist, token_hash="a" * 64
    )
    apps.get_model("panelists", "EmailMessage").objects.create(
        panelist=panelist, round=round, kind="invitation", status="sent",
        subject="Round 1", body_text=f"Your link:\n{LINK}\n", body_html=f'<a href="{LINK}">x</a>',
    )  # fmt: skip
    apps.get_model("reports", "ReportVersion").objects.create(
        study=study, version=1, status="running", started_at=timezone.now()
    )
    return {"study": study.pk, "panelist": panelist.pk}


def test_the_upgrade_keeps_every_row_and_removes_stored_links(old_apps: Apps) -> None:
    ids = fill(old_apps)
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from panelists.models import EmailMessage, PersonalLink
    from reports.models import ReportVersion
    from rounds.models import Panelist, Participation, Rating

    panelist = Panelist.objects.get(pk=ids["panelist"])
    assert (panelist.pseudonym, panelist.email, panelist.study_id) == (
        "P001", "a@example.org", ids["study"],
    )  # fmt: skip
    assert Participation.objects.get(panelist=panelist).status == "submitted"
    rating = Rating.objects.get(panelist=panelist)
    assert (rating.value, rating.comment) == (7, "ok")
    assert PersonalLink.objects.get(panelist=panelist).token_hash == "a" * 64
    email = EmailMessage.objects.get(panelist=panelist)
    assert (email.status, email.subject) == ("sent", "Round 1")
    assert LINK not in email.body_text and email.body_html == ""
    assert "[personal link removed]" in email.body_text
    version = ReportVersion.objects.get(study_id=ids["study"])
    assert version.status == "running" and version.lease_until is not None  # the tick takes over
