"""The panel: panelists (pseudonymous in every output) and their participation per round."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Panelist(models.Model):
    study = models.ForeignKey("rounds.Study", on_delete=models.CASCADE, related_name="panelists")
    pseudonym = models.CharField(_("pseudonym"), max_length=16)
    email = models.EmailField(_("e-mail"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    group = models.CharField(_("stakeholder group"), max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("panelist")
        verbose_name_plural = _("panelists")
        ordering = ["study", "pseudonym"]
        constraints = [
            models.UniqueConstraint(fields=["study", "pseudonym"], name="panelist_pseudonym_unique"),
            models.UniqueConstraint(fields=["study", "email"], name="panelist_email_unique"),
        ]

    def __str__(self) -> str:
        return self.pseudonym


class Participation(models.Model):
    class Status(models.TextChoices):
        INVITED = "invited", _("Invited")
        OPENED = "opened", _("Opened")
        IN_PROGRESS = "in_progress", _("In progress")
        SUBMITTED = "submitted", _("Submitted")

    panelist = models.ForeignKey(Panelist, on_delete=models.CASCADE, related_name="participations")
    round = models.ForeignKey("rounds.Round", on_delete=models.CASCADE, related_name="participations")
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.INVITED
    )
    consented_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("participation")
        verbose_name_plural = _("participations")
        constraints = [
            models.UniqueConstraint(fields=["panelist", "round"], name="one_participation_per_round"),
        ]

    def __str__(self) -> str:
        return f"{self.panelist} in {self.round}: {self.status}"
