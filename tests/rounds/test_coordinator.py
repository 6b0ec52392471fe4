from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from panelists import links
from panelists.models import EmailMessage
from rounds import services
from rounds.models import (
    AuditEntry,
    Item,
    ItemDecision,
    Participation,
    Round,
    RoundItem,
    Study,
    StudyMembership,
)
from tests.factories import make_study, run_round

pytestmark = pytest.mark.django_db


def member(study: Study, role: str, name: str = "") -> User:
    user = User.objects.create_user(name or f"{role}-{study.pk}", password="pw")
    StudyMembership.objects.create(study=study, user=user, role=role)
    return user


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def study() -> Study:
    return make_study(n_items=4, n_panelists=6)


@pytest.fixture
def coordinator(study: Study) -> Client:
    return as_user(member(study, "coordinator"))


def coordinator_urls(study: Study) -> list[tuple[str, str]]:
    """Every coordinator URL of a study with an analysed round 1 and a draft round 2."""
    slug = study.slug
    decision = ItemDecision.objects.filter(round__study=study).first()
    assert decision is not None
    urls = [
        ("get", reverse("study-detail", args=[slug])),
        ("get", reverse("audit-log", args=[slug])),
        ("get", reverse("protocol-edit", args=[slug])),
        ("post", reverse("protocol-edit", args=[slug])),
        ("get", reverse("import-upload", args=[slug, "items"])),
        ("get", reverse("import-upload", args=[slug, "panel"])),
        ("post", reverse("round-create", args=[slug])),
        ("post", reverse("decision-override", args=[slug, 1, decision.pk])),
    ]
    for n in (1, 2):
        urls += [
            ("get", reverse("round-detail", args=[slug, n])),
            ("get", reverse("round-status", args=[slug, n])),
            ("get", reverse("round-results", args=[slug, n])),
            ("get", reverse("round-items", args=[slug, n])),
        ]
        urls += [
            ("post", reverse("round-action", args=[slug, n, a]))
            for a in ["open", "close", "schedule", "deadline", "remind", "reminder-schedule"]
        ]
        urls += [
            ("post", reverse("round-item-action", args=[slug, n, a]))
            for a in ["reword", "drop", "add", "merge", "split"]
        ]
    return urls


def test_every_coordinator_url_refuses_everyone_without_a_role(client: Client) -> None:
    study = make_study(n_items=4, n_panelists=6)
    run_round(study)
    other = make_study()
    outsiders = {
        "anonymous": Client(),
        "viewer": as_user(member(study, "viewer")),
        "coordinator of another study": as_user(member(other, "coordinator")),
        "staff without a role": as_user(User.objects.create_user("staff", is_staff=True)),
    }
    panelist_client = Client()
    link = links.link_issue(panelist=study.panelists.first())
    panelist_client.get(urlsplit(link).path)
    outsiders["panelist"] = panelist_client
    downloads = [
        ("get", reverse(name, args=[study.slug]))
        for name in ("report-pdf", "export-ratings", "export-results")
    ]
    before = (AuditEntry.objects.count(), Round.objects.count(), Item.objects.count())
    for who, client_ in outsiders.items():
        urls = coordinator_urls(study) + (downloads if who != "viewer" else [])
        for method, url in urls:
            response = getattr(client_, method)(url)
            if who in ("anonymous", "panelist"):
                assert response.status_code == 302, (who, url)
                assert response["Location"].startswith("/accounts/login/"), (who, url)
            else:
                assert response.status_code == 404, (who, method, url, response.status_code)
    assert (AuditEntry.objects.count(), Round.objects.count(), Item.objects.count()) == before


def test_the_coordinator_reaches_every_page(study: Study, coordinator: Client) -> None:
    run_round(study)
    for method, url in coordinator_urls(study):
        if method == "get":
            response = coordinator.get(url)
            assert response.status_code == 200, url


def test_opening_a_round_from_the_dashboard_invites_the_panel(
    study: Study, coordinator: Client, django_capture_on_commit_callbacks
) -> None:
    round = services.round_create(study=study)
    with django_capture_on_commit_callbacks(execute=False):
        response = coordinator.post(
            reverse("round-action", args=[study.slug, 1, "open"]),
            {"confirmed": "yes"},
            follow=True,
        )
    assert b"Round 1 is open" in response.content
    round.refresh_from_db()
    assert round.state == Round.State.OPEN
    assert EmailMessage.objects.filter(round=round, kind="invitation").count() == 6
    entry = AuditEntry.objects.get(study=study, action="round.opened")
    assert entry.actor is not None and entry.actor.username.startswith("coordinator")


def test_the_dashboard_shows_progress_per_group_and_flags() -> None:
    study = make_study(n_items=6, n_panelists=6)
    coordinator = as_user(member(study, "coordinator"))
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    panel = list(study.panelists.order_by("pseudonym"))
    now = timezone.now()
    Participation.objects.filter(round=round, panelist=panel[0]).update(
        status="submitted", opened_at=now - timedelta(seconds=5), submitted_at=now
    )
    Participation.objects.filter(round=round, panelist=panel[1]).update(status="in_progress")
    for ri in round.round_items.all():
        for c in study.criteria.all():
            panel[0].ratings.create(round_item=ri, criterion=c, value=9)
    page = coordinator.get(reverse("round-detail", args=[study.slug, 1])).content.decode()
    assert 'data-count="submitted">1<' in page
    assert "group practice" in page and "solo practice" in page
    assert "Same rating for every item" in page
    assert "Completed in 5 s for 12 ratings" in page
    status = coordinator.get(reverse("round-status", args=[study.slug, 1])).json()
    assert status["counts"]["submitted"] == 1
    assert status["groups"]["group practice"]["submitted"] == 1  # P001
    assert status["groups"]["solo practice"]["in_progress"] == 1  # P002


def test_a_reminder_goes_to_non_completers_only(
    study: Study, coordinator: Client, django_capture_on_commit_callbacks
) -> None:
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    done = study.panelists.get(pseudonym="P001")
    Participation.objects.filter(round=round, panelist=done).update(status="submitted")
    with django_capture_on_commit_callbacks(execute=False):
        coordinator.post(reverse("round-action", args=[study.slug, 1, "remind"]))
    reminded = EmailMessage.objects.filter(kind="reminder").values_list("panelist__pseudonym")
    assert sorted(p for (p,) in reminded) == ["P002", "P003", "P004", "P005", "P006"]
    assert AuditEntry.objects.filter(action="reminder.sent").get().after == {"recipients": 5}


def test_moving_the_deadline_into_the_past_is_refused(study: Study, coordinator: Client) -> None:
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    url = reverse("round-action", args=[study.slug, 1, "deadline"])
    response = coordinator.post(url, {"closes_at": "2001-01-01T10:00"}, follow=True)
    assert b"The new deadline is in the past" in response.content
    round.refresh_from_db()
    assert round.closes_at is None
    coordinator.post(url, {"closes_at": "2099-05-01T18:00"})
    round.refresh_from_db()
    assert round.closes_at is not None
    assert round.closes_at.isoformat() == "2099-05-01T16:00:00+00:00"  # Brussels, summer time


def test_closing_queues_the_analysis_and_the_page_shows_progress(
    study: Study, coordinator: Client, django_capture_on_commit_callbacks
) -> None:
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        coordinator.post(
            reverse("round-action", args=[study.slug, 1, "close"]), {"confirmed": "yes"}
        )
    assert len(callbacks) == 1
    page = coordinator.get(reverse("round-detail", args=[study.slug, 1])).content.decode()
    assert "The analysis is waiting for a worker" in page
    status = coordinator.get(reverse("round-status", args=[study.slug, 1])).json()
    assert (status["state"], status["analysis_version"], status["invited"]) == ("closed", 0, 6)


def test_results_flag_fragile_margins_and_overrides_need_a_reason(
    study: Study, coordinator: Client
) -> None:
    run_round(study)
    page = coordinator.get(reverse("round-results", args=[study.slug, 1])).content.decode()
    assert "fragile" in page
    decision = ItemDecision.objects.get(round__number=1, round_item__item__code="I03")
    url = reverse("decision-override", args=[study.slug, 1, decision.pk])
    response = coordinator.post(url, {"decision": "accepted", "reason": ""}, follow=True)
    assert b"Reason" in response.content
    decision.refresh_from_db()
    assert decision.decision == "carried"
    coordinator.post(url, {"decision": "accepted", "reason": "Clinically essential"})
    decision.refresh_from_db()
    assert (decision.decision, decision.computed) == ("accepted", "carried")
    round2 = study.rounds.get(number=2)
    assert "I03" not in round2.round_items.values_list("item__code", flat=True)
    entry = AuditEntry.objects.get(action="decision.overridden")
    assert (entry.before, entry.after, entry.reason) == (
        {"decision": "carried"},
        {"decision": "accepted"},
        "Clinically essential",
    )


def test_between_rounds_items_are_reworded_merged_split_and_dropped_with_lineage(
    study: Study, coordinator: Client
) -> None:
    run_round(study)  # I03 and I04 carried into the draft round 2
    slug = study.slug
    round2 = study.rounds.get(number=2)
    i03 = round2.round_items.get(item__code="I03")
    texts = {f"ri{i03.pk}-text_{c}": f"Clearer action 3 ({c})" for c in study.languages}
    coordinator.post(
        reverse("round-item-action", args=[slug, 2, "reword"]), {"round_item": i03.pk, **texts}
    )
    i03.refresh_from_db()
    assert i03.text["en"] == "Clearer action 3 (en)"
    assert RoundItem.objects.get(round__number=1, item__code="I03").text["en"] == (
        "Action item 3 (en)"
    )
    i04 = round2.round_items.get(item__code="I04")
    split = {"round_item": i04.pk, "split-code": "I04a", "split2-code": "I04b"}
    for c in study.languages:
        split[f"split-text_{c}"] = f"Part A ({c})"
        split[f"split2-text_{c}"] = f"Part B ({c})"
    coordinator.post(reverse("round-item-action", args=[slug, 2, "split"]), split)
    codes = set(round2.round_items.values_list("item__code", flat=True))
    assert codes == {"I03", "I04a", "I04b"}
    assert list(Item.objects.get(code="I04a").derived_from.values_list("code", flat=True)) == [
        "I04"
    ]
    a, b = (round2.round_items.get(item__code=c) for c in ("I04a", "I04b"))
    merge = {"merge": [a.pk, b.pk], "new-code": "I04m"}
    merge.update({f"new-text_{c}": f"Merged ({c})" for c in study.languages})
    coordinator.post(reverse("round-item-action", args=[slug, 2, "merge"]), merge)
    merged = Item.objects.get(code="I04m")
    assert sorted(merged.derived_from.values_list("code", flat=True)) == ["I04a", "I04b"]
    response = coordinator.post(
        reverse("round-item-action", args=[slug, 2, "drop"]),
        {"round_item": round2.round_items.get(item__code="I03").pk, "reason": ""},
        follow=True,
    )
    assert b"Give a reason for dropping" in response.content
    coordinator.post(
        reverse("round-item-action", args=[slug, 2, "drop"]),
        {"round_item": round2.round_items.get(item__code="I03").pk, "reason": "Duplicate"},
    )
    assert set(round2.round_items.values_list("item__code", flat=True)) == {"I04m"}
    actions = set(AuditEntry.objects.filter(study=study).values_list("action", flat=True))
    assert {"item.reworded", "item.split", "item.merged", "item.dropped"} <= actions


def test_items_of_an_open_round_cannot_change(study: Study, coordinator: Client) -> None:
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    ri = round.round_items.first()
    assert ri is not None
    response = coordinator.post(
        reverse("round-item-action", args=[study.slug, 1, "drop"]),
        {"round_item": ri.pk, "reason": "x"},
        follow=True,
    )
    assert b"can no longer change" in response.content
    assert round.round_items.filter(pk=ri.pk).exists()


def test_a_locked_protocol_changes_only_with_a_reason_in_the_ui(
    study: Study, coordinator: Client
) -> None:
    run_round(study)
    url = reverse("protocol-edit", args=[study.slug])
    data = {
        "accept_rule": "", "reject_rule": "", "quantile_type": 7, "max_rounds": 4,
        "stable_below": 15, "min_group_size": 5, "allow_dont_know": "on",
        "show_distribution": "on", "show_own_rating": "on", "show_comments": "on",
    }  # fmt: skip
    response = coordinator.post(url, data)
    assert b"give a reason for this change" in response.content
    study.protocol.refresh_from_db()
    assert study.protocol.max_rounds == 3
    coordinator.post(url, {**data, "reason": "Funder asked for a fourth round"})
    study.protocol.refresh_from_db()
    assert study.protocol.max_rounds == 4


def test_an_import_with_errors_lists_every_problem_and_imports_nothing(
    study: Study, coordinator: Client
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = "email;name;language;group\nnot-an-email;A;fr;solo\nb@example.org;B;klingon;solo\n"
    upload = SimpleUploadedFile("panel.csv", bad.encode("latin-1"), content_type="text/csv")
    url = reverse("import-upload", args=[study.slug, "panel"])
    page = coordinator.post(url, {"file": upload}).content.decode()
    assert "nothing was imported" in page
    assert "line 2" in page and "line 3" in page
    assert study.panelists.count() == 6
    good = "email;name;language;group\nnew@example.org;Dr Nieuw;nl;solo\n"
    upload = SimpleUploadedFile("panel.csv", good.encode(), content_type="text/csv")
    coordinator.post(url, {"file": upload})
    assert study.panelists.get(email="new@example.org").pseudonym == "P007"
