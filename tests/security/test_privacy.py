"""Privacy: comment moderation, a panelist's data export, erasure and retention."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from panelists import links
from panelists.models import EmailMessage, PersonalLink
from reports.services import build_files
from rounds import privacy, selectors
from rounds.models import AuditEntry, Panelist, Participation, Rating, Study
from tests.factories import make_study, run_round
from tests.panelists.test_wizard import login, open_round, step_names
from tests.reports.helpers import finished_study
from tests.rounds.test_coordinator import as_user, member

pytestmark = pytest.mark.django_db


def _comment(study: Study, text: str, *, round_number: int = 1) -> Rating:
    rating = (
        Rating.objects.counted()
        .filter(round_item__round__study=study, round_item__round__number=round_number)
        .order_by("pk")[0]
    )
    Rating.objects.filter(pk=rating.pk).update(comment=text)
    rating.refresh_from_db()
    return rating


# Moderation -------------------------------------------------------------------------------


def test_a_hidden_comment_leaves_the_feedback_and_every_export() -> None:
    study = finished_study()
    rating = _comment(study, "An insult that must go.")
    coordinator = as_user(member(study, "coordinator"))
    url = f"/studies/{study.slug}/comments/{rating.pk}/hide/"
    assert coordinator.post(url, {"reason": "insulting"}).status_code == 302
    frame = selectors.comments_frame(study=study)
    assert "An insult that must go." not in set(frame["comment"])
    files = build_files(study, version=1, with_pdf=False).files
    assert b"An insult that must go." not in files["comments.csv"]
    assert b"An insult that must go." not in files["data.xlsx"]
    entry = AuditEntry.objects.get(study=study, action="comment.hidden")
    assert entry.reason == "insulting" and entry.target.startswith(rating.panelist.pseudonym)
    # The rating itself still counts.
    assert Rating.objects.counted().filter(pk=rating.pk).exists()
    # Shown again, it comes back.
    coordinator.post(f"/studies/{study.slug}/comments/{rating.pk}/show/")
    assert "An insult that must go." in set(selectors.comments_frame(study=study)["comment"])
    assert AuditEntry.objects.filter(study=study, action="comment.shown").count() == 1


def test_the_panel_no_longer_sees_a_hidden_comment_in_round_2(client: Client) -> None:
    study = make_study(n_items=4, n_panelists=6)
    round1 = run_round(study)
    Rating.objects.filter(
        round_item__round=round1, round_item__item__code="I03", panelist__pseudonym="P003",
        criterion__code="acceptability",
    ).update(comment="Visible remark.")  # fmt: skip
    rating = Rating.objects.get(comment="Visible remark.")
    open_round(study)
    login(client, study.panelists.get(pseudonym="P001"))
    step = step_names(client)[0]
    assert "Visible remark." in client.get(f"/p/rate/{step}/").content.decode()
    privacy.comment_hide(rating=rating, reason="test")
    assert "Visible remark." not in client.get(f"/p/rate/{step}/").content.decode()


def test_the_round_comments_page_lists_hidden_comments_with_a_show_button() -> None:
    study = finished_study()
    rating = _comment(study, "Hidden remark.")
    privacy.comment_hide(rating=rating)
    page = as_user(member(study, "coordinator")).get(f"/studies/{study.slug}/rounds/1/comments/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Hidden remark." in text and f"/comments/{rating.pk}/show/" in text
    assert "Anne Dupont" not in text  # names are scrubbed on the coordinator's page too


def test_a_comment_of_another_study_cannot_be_hidden() -> None:
    study, other = finished_study(), make_study()
    rating = _comment(study, "Remark.")
    coordinator = as_user(member(other, "coordinator"))
    response = coordinator.post(f"/studies/{other.slug}/comments/{rating.pk}/hide/")
    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action="comment.hidden").exists()


# A panelist's data ------------------------------------------------------------------------


def test_a_panelists_data_export_holds_everything_but_the_link() -> None:
    study = finished_study()
    panelist = study.panelists.get(pseudonym="P001")
    url = links.link_issue(panelist=panelist)
    EmailMessage.objects.create(
        panelist=panelist, kind="invitation", status="sent", subject="Invitation",
        body_text=f"Open {links.redact(url, [url])}",
    )  # fmt: skip
    coordinator = as_user(member(study, "coordinator"))
    response = coordinator.get(f"/studies/{study.slug}/privacy/P001/export.json")
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('P001.json"')
    data = json.loads(response.content)
    assert data["panelist"]["email"] == panelist.email
    assert data["panelist"]["name"] == "Anne Dupont"
    assert len(data["ratings"]) == Rating.objects.filter(panelist=panelist).count()
    assert [p["round"] for p in data["participations"]] == [1, 2]
    assert data["emails"][0]["subject"] == "Invitation"
    assert len(data["links"]) == 1
    token = urlsplit(url).path.split("/")[2]
    assert token not in response.content.decode()
    assert AuditEntry.objects.filter(study=study, action="panelist.exported", target="P001")
    rows = list(csv.DictReader(io.StringIO(coordinator.get(
        f"/studies/{study.slug}/privacy/P001/export.csv").content.decode())))  # fmt: skip
    assert len(rows) == len(data["ratings"]) and set(rows[0]) >= {"round", "item", "value"}


# Erasure ----------------------------------------------------------------------------------


def test_erasure_keeps_the_analysis_and_removes_the_person(client: Client) -> None:
    study = finished_study()
    panelist = study.panelists.get(pseudonym="P001")  # Anne Dupont, quoted in comments
    Study.objects.filter(pk=study.pk).update(status=Study.Status.RUNNING)
    url = links.link_issue(panelist=panelist)
    assert client.get(urlsplit(url).path).status_code == 302
    EmailMessage.objects.create(panelist=panelist, kind="reminder", status="queued",
                                subject="Reminder", body_text="Dear Anne Dupont")  # fmt: skip
    ratings_before = selectors.ratings_frame(study=study)
    comments_before = Rating.objects.filter(
        round_item__round__study=study, comment__icontains="Anne Dupont"
    )
    assert comments_before.exists()

    coordinator = as_user(member(study, "coordinator"))
    erase = f"/studies/{study.slug}/privacy/P001/erase/"
    coordinator.post(erase, {"confirm": "P002", "reason": "asked"})  # wrong confirmation
    assert Panelist.objects.get(pk=panelist.pk).erased_at is None
    coordinator.post(erase, {"confirm": "p001", "reason": "the panelist asked"})

    panelist.refresh_from_db()
    assert panelist.erased_at is not None and panelist.name == ""
    assert panelist.email == "p001@erased.invalid"
    assert selectors.ratings_frame(study=study).equals(ratings_before)  # analysis unchanged
    assert not Rating.objects.filter(comment__icontains="Anne Dupont").exists()
    assert not Rating.objects.filter(comment__icontains="anne.dupont@").exists()
    assert not PersonalLink.objects.filter(panelist=panelist, revoked_at__isnull=True).exists()
    assert client.get("/p/").status_code == 403  # the session ended
    email = EmailMessage.objects.get(panelist=panelist)
    assert (email.subject, email.body_text, email.status) == ("", "", "failed")
    entry = AuditEntry.objects.get(study=study, action="panelist.erased")
    assert (entry.target, entry.reason) == ("P001", "the panelist asked")
    assert privacy.panelist_erase(panelist=panelist) is False  # once only


def test_an_erased_panelist_is_not_invited_to_the_next_round() -> None:
    study = make_study(n_items=4, n_panelists=6)
    run_round(study)
    privacy.panelist_erase(panelist=study.panelists.get(pseudonym="P002"), reason="asked")
    round2 = open_round(study)
    invited = set(Participation.objects.filter(round=round2).values_list(
        "panelist__pseudonym", flat=True))  # fmt: skip
    assert "P002" not in invited and "P001" in invited


# Retention --------------------------------------------------------------------------------


def _ended(days_ago: int) -> Study:
    study = make_study(n_panelists=3)
    Study.objects.filter(pk=study.pk).update(
        status=Study.Status.FINISHED, finished_at=timezone.now() - timedelta(days=days_ago)
    )
    return study


def test_retention_erases_the_panel_a_set_time_after_the_study_ends(settings: object) -> None:
    settings.DELPHI_RETENTION_DAYS = 30  # type: ignore[attr-defined]
    old, recent, running = _ended(31), _ended(29), make_study(n_panelists=2)
    from panelists.tasks import tick

    result = tick()
    assert result["erased"] == 3
    assert all(p.erased_at for p in old.panelists.all())
    assert not any(p.erased_at for p in recent.panelists.all())
    assert not any(p.erased_at for p in running.panelists.all())
    entries = AuditEntry.objects.filter(study=old, action="panelist.erased")
    assert entries.count() == 3 and "retention: 30 days" in entries[0].reason
    assert tick()["erased"] == 0


def test_no_retention_period_keeps_the_panel(settings: object) -> None:
    settings.DELPHI_RETENTION_DAYS = 0  # type: ignore[attr-defined]
    _ended(4000)
    assert privacy.retention_apply() == 0


def test_the_command_line_exports_and_erases() -> None:
    study = make_study(n_panelists=2)
    out = StringIO()
    call_command("delphi_privacy", "export", study.slug, "P001", stdout=out)
    assert json.loads(out.getvalue())["panelist"]["pseudonym"] == "P001"
    out = StringIO()
    call_command("delphi_privacy", "erase", study.slug, "P001", "--reason", "asked", stdout=out)
    assert out.getvalue().strip() == "P001 erased."
    assert Panelist.objects.get(study=study, pseudonym="P001").erased_at is not None
