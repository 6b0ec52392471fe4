"""Report versions: queued after commit, built once, versioned, published to the policy team."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from reports import services, tasks
from reports.models import ReportVersion
from rounds.errors import TransitionError
from rounds.models import AuditEntry
from tests.reports.conftest import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The version ids handed to the Celery task (instead of a broker)."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.generate_report, "delay", ids.append)
    return ids


def test_a_request_queues_version_1_and_sends_the_task_once_committed(
    team: Team, sent: list[int], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        version = services.report_request(study=team.study, by=team.coordinator)
        assert sent == []

    for callback in callbacks:
        callback()
    assert (version.version, version.status, version.progress) == (1, "queued", 0)
    assert sent == [version.pk]
    assert AuditEntry.objects.filter(study=team.study, action="report.requested").exists()


def test_a_second_request_while_one_is_pending_returns_the_same_version(
    team: Team, sent: list[int]
) -> None:
    first = services.report_request(study=team.study, by=team.coordinator)
    again = services.report_request(study=team.study, by=team.coordinator)

    assert again.pk == first.pk
    assert ReportVersion.objects.filter(study=team.study).count() == 1


def test_each_generation_after_a_ready_one_is_a_new_version(
    team: Team, sent: list[int], fast_pdf: bytes
) -> None:
    first = services.report_request(study=team.study, by=team.coordinator)
    services.report_build(version_id=first.pk)
    second = services.report_request(study=team.study, by=team.coordinator)
    services.report_build(version_id=second.pk)

    numbers = list(ReportVersion.objects.filter(study=team.study).values_list("version", "status"))
    assert sorted(numbers) == [(1, "done"), (2, "done")]


def test_building_stores_the_files_the_stamp_and_the_summary(
    team: Team, sent: list[int], fast_pdf: bytes
) -> None:
    version = services.report_request(study=team.study, by=team.coordinator)

    built = services.report_build(version_id=version.pk)

    assert (built.status, built.progress, built.error) == ("done", 100, "")
    assert built.pdf.read() == fast_pdf
    assert built.archive.size > 1000
    assert built.stamp["report_version"] == 1
    assert built.stamp["software_version"] == "0.1.0"
    assert built.summary["n_panel"] == 10 and len(built.summary["recommendations"]) == 2
    assert built.started_at is not None and built.finished_at is not None


def test_a_redelivered_task_does_not_build_twice(
    team: Team, sent: list[int], monkeypatch: pytest.MonkeyPatch, fast_pdf: bytes
) -> None:
    version = services.report_request(study=team.study, by=team.coordinator)
    builds: list[int] = []
    real = services.build_files
    monkeypatch.setattr(services, "build_files", lambda *a, **k: builds.append(1) or real(*a, **k))

    tasks.generate_report(version.pk)
    tasks.generate_report(version.pk)

    assert builds == [1]
    assert ReportVersion.objects.get(pk=version.pk).status == "done"


def test_building_reports_its_progress_as_it_goes(
    team: Team, sent: list[int], monkeypatch: pytest.MonkeyPatch, fast_pdf: bytes
) -> None:
    version = services.report_request(study=team.study, by=team.coordinator)
    seen: list[int] = []
    real = services.build_files

    def watch(*args: Any, **kwargs: Any) -> Any:
        progress = kwargs["progress"]

        def spy(percent: int, step: str) -> None:
            progress(percent, step)
            seen.append(ReportVersion.objects.get(pk=version.pk).progress)

        return real(*args, **{**kwargs, "progress": spy})

    monkeypatch.setattr(services, "build_files", watch)
    services.report_build(version_id=version.pk)

    assert len(seen) >= 4 and seen == sorted(seen) and 0 < seen[0] < seen[-1] < 100


def test_a_version_left_running_by_a_dead_worker_is_taken_over(
    team: Team,
    sent: list[int],
    fast_pdf: bytes,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        version = services.report_request(study=team.study, by=team.coordinator)
    expired = timezone.now() - timedelta(seconds=1)
    ReportVersion.objects.filter(pk=version.pk).update(
        status="running", attempts=1, lease_owner="dead-host:1", lease_until=expired
    )

    assert services.report_request(study=team.study).pk == version.pk  # no duplicate
    assert services.reports_sweep() == 1
    assert sent == [version.pk, version.pk]  # its task sent again by the tick
    built = services.report_build(version_id=version.pk)
    assert (built.status, built.attempts) == ("done", 2)


def test_a_version_no_worker_took_is_sent_again_not_duplicated(
    team: Team, sent: list[int], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        version = services.report_request(study=team.study, by=team.coordinator)
    assert services.reports_sweep() == 0  # just sent: give the workers time
    ReportVersion.objects.filter(pk=version.pk).update(
        dispatched_at=timezone.now() - timedelta(minutes=10)
    )

    again = services.report_request(study=team.study, by=team.coordinator)
    assert services.reports_sweep() == 1

    assert again.pk == version.pk and sent == [version.pk, version.pk]
    assert ReportVersion.objects.filter(study=team.study).count() == 1


def test_a_version_whose_worker_died_too_often_is_failed_with_a_reason(
    team: Team, sent: list[int]
) -> None:
    version = services.report_request(study=team.study, by=team.coordinator)
    ReportVersion.objects.filter(pk=version.pk).update(
        status="running", attempts=services.report_policy().max_attempts,
        lease_owner="dead-host:1", lease_until=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip

    services.reports_sweep()

    failed = ReportVersion.objects.get(pk=version.pk)
    assert failed.status == "failed"
    assert "The worker stopped 3 times" in failed.error
    again = services.report_retry(version=failed, by=team.coordinator)
    assert (again.status, again.attempts, again.version) == ("queued", 0, version.version)


def test_a_version_running_now_is_left_alone(team: Team, sent: list[int]) -> None:
    version = services.report_request(study=team.study, by=team.coordinator)
    ReportVersion.objects.filter(pk=version.pk).update(
        status="running", lease_until=timezone.now() + timedelta(minutes=1)
    )

    assert services.report_build(version_id=version.pk).status == "running"


def test_a_failed_build_is_marked_failed_with_its_error(
    team: Team, sent: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    version = services.report_request(study=team.study, by=team.coordinator)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "build_files", boom)
    services.report_build(version_id=version.pk)

    failed = ReportVersion.objects.get(pk=version.pk)
    assert failed.status == "failed" and "disk full" in failed.error


def test_only_a_ready_version_can_be_published(team: Team, sent: list[int]) -> None:
    version = services.report_request(study=team.study, by=team.coordinator)

    with pytest.raises(TransitionError, match="only a ready version"):
        services.report_publish(version=version, by=team.coordinator)


def test_publishing_shows_the_version_to_the_policy_team_and_is_audited(
    team: Team, sent: list[int], fast_pdf: bytes
) -> None:
    first = services.report_build(
        version_id=services.report_request(study=team.study, by=team.coordinator).pk
    )
    second = services.report_build(
        version_id=services.report_request(study=team.study, by=team.coordinator).pk
    )

    services.report_publish(version=first, by=team.coordinator)
    assert ReportVersion.objects.current_published(team.study) == first
    services.report_publish(version=second, by=team.coordinator)
    assert ReportVersion.objects.current_published(team.study) == second
    entry = AuditEntry.objects.filter(study=team.study, action="report.published").last()
    assert entry is not None and entry.target == "v2" and entry.actor == team.coordinator
    assert entry.after["protocol_hash"] == second.stamp["protocol_hash"]


def test_withdrawing_shows_the_version_published_before(
    team: Team, sent: list[int], fast_pdf: bytes
) -> None:
    first = services.report_build(version_id=services.report_request(study=team.study).pk)
    second = services.report_build(version_id=services.report_request(study=team.study).pk)
    services.report_publish(version=first)
    services.report_publish(version=second)

    services.report_withdraw(version=second, by=team.coordinator)

    assert ReportVersion.objects.current_published(team.study) == first
    assert AuditEntry.objects.filter(study=team.study, action="report.withdrawn").exists()


def test_regenerating_with_unchanged_data_gives_the_same_stamp_but_a_new_number(
    team: Team, sent: list[int], fast_pdf: bytes
) -> None:
    first = services.report_build(version_id=services.report_request(study=team.study).pk)
    second = services.report_build(version_id=services.report_request(study=team.study).pk)

    assert second.version == first.version + 1
    for key in ("protocol_hash", "data_checksum", "software_version", "quantile_method"):
        assert first.stamp[key] == second.stamp[key]
    assert first.summary == second.summary
