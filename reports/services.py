"""Writes of the reports app: recommendations, report versions, publication.

Each service owns its transaction and its audit entry. Generating a report is queued:
`report_request` creates version n+1 and, once the transaction commits, sends
`reports.tasks.generate_report`; the task calls `report_build`, which claims the version
with a conditional UPDATE (queued → running), so a redelivered task never builds twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User as AuthUser
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from reports import exports, pdf, selectors
from reports.models import Actor, Recommendation, RecommendationItem, ReportVersion
from reports.stamp import Stamp, build_stamp
from rounds import csvio, jobs
from rounds import selectors as round_selectors
from rounds.errors import DomainError, TransitionError
from rounds.models import Item, ItemDecision, Study
from rounds.services import Actor as User
from rounds.services import audit_record
from rounds.studyfile import writer

logger = logging.getLogger(__name__)
Progress = Callable[[int, str], None]


# --------------------------------------------------------------------------- recommendations


def recommendation_create(
    *,
    study: Study,
    title: str,
    text: str,
    actors: Sequence[str] = (),
    implementation_notes: str = "",
    items: Sequence[Item] = (),
    justification: str = "",
    by: User = None,
) -> Recommendation:
    """A new recommendation, placed after the study's others. Resting on an item the panel
    rejected or left without consensus needs a ``justification`` (JustificationRequired)."""
    _check_actors(actors)
    _check_items(study, items)
    _check_justification(study, items, justification)
    with transaction.atomic():
        Study.objects.select_for_update().filter(pk=study.pk).first()
        last = (
            Recommendation.objects.filter(study=study).aggregate(last=Max("position"))["last"] or 0
        )
        rec = Recommendation.objects.create(
            study=study,
            position=last + 1,
            title=title.strip(),
            text=text,
            actors=list(actors),
            implementation_notes=implementation_notes,
            justification=justification.strip(),
        )
        _link_items(rec, items)
        audit_record(
            study=study,
            action="recommendation.created",
            target=rec.title,
            by=by,
            after=_snapshot(rec),
        )
    return rec


def recommendation_update(
    *,
    recommendation: Recommendation,
    title: str,
    text: str,
    actors: Sequence[str] = (),
    implementation_notes: str = "",
    items: Sequence[Item] = (),
    justification: str = "",
    by: User = None,
) -> Recommendation:
    rec = recommendation
    _check_actors(actors)
    _check_items(rec.study, items)
    _check_justification(rec.study, items, justification)
    before = _snapshot(rec)
    with transaction.atomic():
        rec.title, rec.text, rec.actors = title.strip(), text, list(actors)
        rec.implementation_notes = implementation_notes
        rec.justification = justification.strip()
        rec.save()
        _link_items(rec, items)
        audit_record(
            study=rec.study,
            action="recommendation.changed",
            target=rec.title,
            by=by,
            before=before,
            after=_snapshot(rec),
        )
    return rec


def recommendation_delete(*, recommendation: Recommendation, by: User = None) -> None:
    study = recommendation.study
    with transaction.atomic():
        before = _snapshot(recommendation)
        audit_record(
            study=study,
            action="recommendation.deleted",
            target=recommendation.title,
            by=by,
            before=before,
        )
        recommendation.delete()
        _renumber(study)


def recommendation_move(
    *, recommendation: Recommendation, offset: int, by: User = None
) -> Recommendation:
    """Move a recommendation up (offset -1) or down (+1) in the study's order."""
    study = recommendation.study
    with transaction.atomic():
        mine = Recommendation.objects.filter(study=study).select_for_update()
        ordered = list(mine.order_by("position", "id"))
        index = next(i for i, r in enumerate(ordered) if r.pk == recommendation.pk)
        target = min(max(index + offset, 0), len(ordered) - 1)
        if target != index:
            ordered.insert(target, ordered.pop(index))
            _renumber(study, ordered)
            moved = ({"position": index + 1}, {"position": target + 1})
            audit_record(
                study=study,
                action="recommendation.moved",
                target=recommendation.title,
                by=by,
                before=moved[0],
                after=moved[1],
            )
    recommendation.refresh_from_db()
    return recommendation


def _renumber(study: Study, ordered: list[Recommendation] | None = None) -> None:
    ordered = ordered or list(Recommendation.objects.filter(study=study).order_by("position", "id"))
    for position, rec in enumerate(ordered, start=1):
        rec.position = position
    Recommendation.objects.bulk_update(ordered, ["position"])


def _link_items(rec: Recommendation, items: Sequence[Item]) -> None:
    """Keep the order of items already linked, then add new ones in the given order."""
    wanted = {item.pk: item for item in items}
    current = list(rec.links.order_by("position", "id"))
    kept = [link.item_id for link in current if link.item_id in wanted]
    order = kept + [pk for pk in wanted if pk not in kept]
    rec.links.exclude(item_id__in=order).delete()
    existing = {link.item_id: link for link in current if link.item_id in wanted}
    for position, pk in enumerate(order):
        link = existing.get(pk)
        if link is None:
            RecommendationItem.objects.create(recommendation=rec, item_id=pk, position=position)
        elif link.position != position:
            RecommendationItem.objects.filter(pk=link.pk).update(position=position)


def _check_actors(actors: Sequence[str]) -> None:
    unknown = sorted(set(actors) - set(Actor.values))
    if unknown:
        raise DomainError(_("Unknown actors: %(codes)s.") % {"codes": ", ".join(unknown)})


def _check_items(study: Study, items: Sequence[Item]) -> None:
    if any(item.study_id != study.pk for item in items):
        raise DomainError(_("A recommendation can only rest on items of its own study."))


class JustificationRequired(DomainError):
    """A recommendation rests on items the panel did not accept, and says not why."""


NOT_SUPPORTED = ("rejected", "no_consensus")


def _check_justification(study: Study, items: Sequence[Item], justification: str) -> None:
    """Items the panel rejected or left without consensus need a written reason; items
    still being rated do not (yet): the report flags them either way."""
    if justification.strip():
        return
    finals = selectors.final_decisions(study)
    labels = dict(ItemDecision.Decision.choices)
    against = [(i.code, finals[i.pk]) for i in items if finals.get(i.pk) in NOT_SUPPORTED]
    if against:
        listed = ", ".join(f"{code} ({labels[d]})" for code, d in against)
        raise JustificationRequired(
            _(
                "This recommendation rests on items the panel did not accept: %(items)s. "
                "Say why it keeps them in the justification field, or remove them."
            )
            % {"items": listed}
        )


def _snapshot(rec: Recommendation) -> dict[str, Any]:
    return {
        "position": rec.position,
        "title": rec.title,
        "actors": list(rec.actors or []),
        "justification": rec.justification,
        "items": list(rec.links.values_list("item__code", flat=True)) if rec.pk else [],
    }


# --------------------------------------------------------------------------- report versions


REPORT = "report"


def report_policy() -> jobs.Policy:
    return jobs.policy(REPORT, lease=120, max_attempts=3)


def report_request(*, study: Study, by: User = None) -> ReportVersion:
    """Queue the generation of the next version of the study's report (a durable job).

    A version already waiting or being built is returned instead of a new one, so that a
    double click or a reload does not build the same report twice; the tick publishes a
    waiting version again if its message was lost or its worker died."""
    from reports import tasks  # tasks import services: keep the cycle out of import time

    with transaction.atomic():
        Study.objects.select_for_update().filter(pk=study.pk).first()
        pending = ReportVersion.objects.filter(
            study=study,
            status__in=[ReportVersion.Status.QUEUED, ReportVersion.Status.RUNNING],
        ).first()
        if pending is not None:
            return pending
        versions = ReportVersion.objects.filter(study=study)
        last = versions.aggregate(last=Max("version"))["last"] or 0
        version = ReportVersion.objects.create(
            study=study,
            version=last + 1,
            created_by=by if isinstance(by, AuthUser) else None,
            step=_("Waiting for a worker"),
        )
        audit_record(study=study, action="report.requested", target=f"v{version.version}", by=by)
        version_id = version.pk
        jobs.publish_on_commit(
            lambda: tasks.generate_report.delay(version_id), model=ReportVersion, pks=[version_id]
        )
    return version


def report_retry(*, version: ReportVersion, by: User = None) -> ReportVersion:
    """Queue a failed version again (same number), e.g. after its worker was fixed."""
    from reports import tasks

    with transaction.atomic():
        again = ReportVersion.objects.filter(
            pk=version.pk, status=ReportVersion.Status.FAILED
        ).update(
            status=ReportVersion.Status.QUEUED, attempts=0, lease_owner="", lease_until=None,
            progress=0, step=_("Waiting for a worker"), dispatched_at=None,
        )  # fmt: skip
        if not again:
            raise TransitionError(_("Only a failed version can be generated again."))
        audit_record(study=version.study, action="report.retried", target=f"v{version.version}",
                     by=by)  # fmt: skip
        version_id = version.pk
        jobs.publish_on_commit(
            lambda: tasks.generate_report.delay(version_id), model=ReportVersion, pks=[version_id]
        )
    version.refresh_from_db()
    return version


def reports_sweep() -> int:
    """The tick's part for reports: publish again the versions left waiting or whose
    worker died; fail those whose worker died too often."""
    from reports import tasks

    swept = jobs.sweep(
        ReportVersion, policy=report_policy(), send=lambda pk: tasks.generate_report.delay(pk)
    )
    return len(swept.published)


def report_build(*, version_id: int) -> ReportVersion:
    """Build a queued version: PDF, data files, zip, stamp. Only the worker that claims it
    builds it; it renews its lease as the pages are laid out, so a worker that dies is
    replaced once its lease has expired (at most ``max_attempts`` times)."""
    claimed = jobs.claim(ReportVersion, pk=version_id, policy=report_policy())
    version = ReportVersion.objects.select_related("study__protocol").get(pk=version_id)
    if not claimed:
        return version
    ReportVersion.objects.filter(pk=version_id).update(started_at=timezone.now(), progress=1)
    try:
        _build(version)
    except Exception as exc:
        logger.exception("report %s failed", version)
        jobs.fail(
            ReportVersion,
            pk=version.pk,
            reason=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
            step=_("Failed"),
        )
    version.refresh_from_db()
    return version


def _build(version: ReportVersion) -> None:
    policy = report_policy()

    def progress(percent: int, step: str) -> None:
        # Outside any transaction, so that the status page sees it at once.
        if not jobs.renew(ReportVersion, pk=version.pk, policy=policy, progress=percent,
                          step=step[:100]):  # fmt: skip
            raise TransitionError("another worker took this report over")

    _pause_for_fault_tests()
    built = build_files(version.study, version=version.version, progress=progress)
    name = file_stem(version.study, version.version, built.stamp)
    version.pdf.save(f"{name}.pdf", ContentFile(built.files["report.pdf"]), save=False)
    version.archive.save(f"{name}.zip", ContentFile(built.archive), save=False)
    jobs.finish(
        ReportVersion,
        pk=version.pk,
        pdf=version.pdf.name,
        archive=version.archive.name,
        stamp=built.stamp,
        summary=built.summary,
        progress=100,
        step=_("Ready"),
        finished_at=timezone.now(),
    )


def _pause_for_fault_tests() -> None:
    seconds = float(getattr(settings, "DELPHI_JOB_PAUSE_SECONDS", 0) or 0)
    if seconds:
        time.sleep(seconds)


@dataclass(frozen=True)
class Built:
    """The artifacts of one generation: every file by name, the zip, stamp and summary."""

    files: dict[str, bytes]
    archive: bytes
    stamp: Stamp
    summary: dict[str, Any]


def build_files(
    study: Study,
    *,
    version: int | None = None,
    progress: Progress | None = None,
    with_pdf: bool = True,
) -> Built:
    """Render the report and the data files of ``study`` (no version row is touched)."""
    progress = progress or _quiet
    with translation.override(study.report_language):
        progress(3, _("Reading the ratings"))
        ratings = round_selectors.ratings_frame(study=study)
        ratings_file = csvio.ratings_csv(ratings)
        stamp = build_stamp(study, ratings_file, version=version)
        report = None
        if with_pdf:
            data = selectors.report_data(study, ratings=ratings)
            report = pdf.build_report(data, stamp, progress=progress)
        progress(90, _("Writing the data files"))
        tables = exports.collect_tables(study, ratings=ratings)
        title = study.text("title", study.report_language)
        files = exports.package(
            tables, stamp, title=title, pdf=report.pdf if report else None, ratings=ratings_file,
            study_file=writer.study_file(study),
        )  # fmt: skip
        created = datetime.fromisoformat(stamp["generated_at"])
        archive = exports.zip_bytes(files, folder=file_stem(study, version, stamp), created=created)
        progress(97, _("Saving"))
    return Built(files, archive, stamp, report.summary if report else {})


def _quiet(percent: int, step: str) -> None:
    return None


def file_stem(study: Study, version: int | None, stamp: Stamp) -> str:
    """`<slug>-report-v<N>-<YYYYMMDD>`, the base of every downloaded file's name."""
    day = str(stamp["generated_at"])[:10].replace("-", "")
    return f"{study.slug}-report-v{version}-{day}" if version else f"{study.slug}-report-{day}"


def report_publish(*, version: ReportVersion, by: User = None) -> ReportVersion:
    """Show this version to the study's policy team (it replaces any earlier one)."""
    with transaction.atomic():
        locked = ReportVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != ReportVersion.Status.DONE:
            raise TransitionError(
                _("Version %(n)d is %(status)s; only a ready version can be published.")
                % {"n": locked.version, "status": locked.get_status_display()}
            )
        locked.published_at = timezone.now()
        locked.published_by = by if isinstance(by, AuthUser) else None
        locked.save(update_fields=["published_at", "published_by"])
        audit_record(
            study=locked.study,
            action="report.published",
            target=f"v{locked.version}",
            by=by,
            after=locked.stamp,
        )
    return locked


def report_withdraw(*, version: ReportVersion, by: User = None) -> ReportVersion:
    """Stop showing this version to the policy team (an earlier published one shows again)."""
    with transaction.atomic():
        locked = ReportVersion.objects.select_for_update().get(pk=version.pk)
        if locked.published_at is None:
            return locked
        locked.published_at = None
        locked.save(update_fields=["published_at"])
        audit_record(
            study=locked.study, action="report.withdrawn", target=f"v{locked.version}", by=by
        )
    return locked
