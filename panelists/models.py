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
            models.UniqueConstraint(
                fields=["study", "pseudonym"], name="panelist_pseudonym_unique"
            ),
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
    round = models.ForeignKey(
        "rounds.Round", on_delete=models.CASCADE, related_name="participations"
    )
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
            models.UniqueConstraint(
                fields=["panelist", "round"], name="one_participation_per_round"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.panelist} in {self.round}: {self.status}"


class PersonalLink(models.Model):
    """A panelist's personal link. Only the SHA-256 of the token is stored."""

    panelist = models.ForeignKey(Panelist, on_delete=models.CASCADE, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("personal link")
        verbose_name_plural = _("personal links")

    def __str__(self) -> str:
        return f"link of {self.panelist}"


class EmailMessage(models.Model):
    """Every e-mail sent to a panelist, with its delivery status."""

    class Kind(models.TextChoices):
        INVITATION = "invitation", _("Invitation")
        REMINDER = "reminder", _("Reminder")
        CONFIRMATION = "confirmation", _("Confirmation")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    panelist = models.ForeignKey(Panelist, on_delete=models.CASCADE, related_name="emails")
    round = models.ForeignKey(
        "rounds.Round", on_delete=models.CASCADE, related_name="emails", null=True, blank=True
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail")
        verbose_name_plural = _("e-mails")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.panelist}: {self.status}"
