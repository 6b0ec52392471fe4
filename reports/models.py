"""Recommendation sheets and the versioned final report of a study.

A `Recommendation` groups the accepted items it rests on; the coordinator writes it in the
study's report language. A `ReportVersion` is one generation of the report PDF and the data
archive: numbered per study, built by a Celery task (`reports.tasks.generate_report`), stamped
for reproducibility, and shown to the policy team once published. Status fields change only
through `reports.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from rounds.jobs import Job
from rounds.models import Item, Study


def report_storage() -> Storage:
    """Where generated reports live: a private folder, served only through access-checked
    views (never under a public MEDIA_URL): settings.REPORTS_ROOT (DELPHI_REPORTS_ROOT)."""
    location = settings.REPORTS_ROOT
    return FileSystemStorage(location=str(location), base_url=None)


class Actor(models.TextChoices):
    """Who has to act on a recommendation (the actor columns of the KCE action items)."""

    INDIVIDUAL = "individual", _("Individual GP")
    PRACTICE_TRAINING = "practice_training", _("Practice and training")
    HEALTH_SYSTEM = "health_system", _("Health system")


def _no_actors() -> list[str]:
    return []


class Recommendation(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="recommendations")
    position = models.PositiveIntegerField(_("position"), default=0)
    title = models.CharField(_("title"), max_length=300)
    text = models.TextField(
        _("text"), help_text=_("Markdown: paragraphs, *emphasis*, lists and links.")
    )
    actors = models.JSONField(_("actors concerned"), default=_no_actors, blank=True)
    implementation_notes = models.TextField(_("implementation notes"), blank=True)
    justification = models.TextField(
        _("why it rests on items the panel did not accept"),
        blank=True,
        help_text=_(
            "Required when an item it rests on was rejected or reached no consensus; printed "
            "on the sheet, which the report flags."
        ),
    )
    items = models.ManyToManyField(
        Item, through="RecommendationItem", related_name="recommendations", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("recommendation")
        verbose_name_plural = _("recommendations")
        ordering = ["study", "position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.title}"

    def actor_labels(self) -> list[str]:
        labels = dict(Actor.choices)
        return [str(labels[code]) for code in self.actors or [] if code in labels]


class RecommendationItem(models.Model):
    """An item a recommendation rests on, in the order the sheet lists them."""

    recommendation = models.ForeignKey(
        Recommendation, on_delete=models.CASCADE, related_name="links"
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="recommendation_links")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("item of a recommendation")
        verbose_name_plural = _("items of a recommendation")
        ordering = ["recommendation", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recommendation", "item"], name="recommendation_item_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recommendation_id} / {self.item_id}"


class ReportVersionQuerySet(models.QuerySet["ReportVersion"]):
    def published(self) -> ReportVersionQuerySet:
        return self.filter(published_at__isnull=False, status=ReportVersion.Status.DONE)

    def current_published(self, study: Study) -> ReportVersion | None:
        """The version the study's policy team sees: the one published last."""
        return self.published().filter(study=study).order_by("-published_at", "-id").first()


def _stamp_default() -> dict[str, object]:
    return {}


class ReportVersion(Job):
    """One generation of the report: a durable job (see `rounds.jobs`) whose lease the
    worker renews page by page."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Generating")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="report_versions")
    version = models.PositiveIntegerField(_("version"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(
        _("progress"), default=0, validators=[MaxValueValidator(100)]
    )
    step = models.CharField(_("current step"), max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    stamp = models.JSONField(_("reproducibility stamp"), default=_stamp_default, blank=True)
    summary = models.JSONField(
        _("summary shown to the policy team"), default=_stamp_default, blank=True
    )
    pdf = models.FileField(_("report (PDF)"), storage=report_storage, blank=True)
    archive = models.FileField(_("data (zip)"), storage=report_storage, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = ReportVersionQuerySet.as_manager()

    class Meta:
        verbose_name = _("report version")
        verbose_name_plural = _("report versions")
        ordering = ["study", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="report_version_unique"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="report_progress_max"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} report v{self.version} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def is_done(self) -> bool:
        return self.status == self.Status.DONE
