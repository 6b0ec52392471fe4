"""Personal links and the e-mails sent to panelists (the panel itself lives in `rounds`)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from rounds.jobs import Job


class PersonalLink(models.Model):
    """A panelist's personal link. The token is never stored: only its SHA-256, and the
    nonce from which the server computes it again (see `panelists.links`)."""

    panelist = models.ForeignKey("rounds.Panelist", on_delete=models.CASCADE, related_name="links")
    nonce = models.CharField(max_length=32, blank=True)
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


class EmailMessage(Job):
    """An e-mail to a panelist: a durable job (see `rounds.jobs`), rendered when it is sent.

    queued → sending (claimed, SMTP under way) → sent, or failed with the reason. A message
    found "sending" after its worker died is never sent again (it may have arrived): it is
    marked failed, and the coordinator can resend it."""

    RUNNING = "sending"
    DONE = "sent"

    class Kind(models.TextChoices):
        INVITATION = "invitation", _("Invitation")
        REMINDER = "reminder", _("Reminder")
        CONFIRMATION = "confirmation", _("Confirmation")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    panelist = models.ForeignKey("rounds.Panelist", on_delete=models.CASCADE, related_name="emails")
    round = models.ForeignKey(
        "rounds.Round", on_delete=models.CASCADE, related_name="emails", null=True, blank=True
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    subject = models.CharField(max_length=300, blank=True)
    body_text = models.TextField(
        blank=True, help_text=_("As sent, with the personal link removed.")
    )
    body_html = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail")
        verbose_name_plural = _("e-mails")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "lease_until"], name="email_queue_idx")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.panelist}: {self.status}"


class EmailTemplate(models.Model):
    """A study's own wording of one kind of panel e-mail in one language. Placeholders:
    {name} {study} {link} {deadline} {contact}; without a row, the built-in text is used."""

    study = models.ForeignKey(
        "rounds.Study", on_delete=models.CASCADE, related_name="email_templates"
    )
    kind = models.CharField(max_length=16, choices=EmailMessage.Kind.choices)
    language = models.CharField(max_length=8)
    subject = models.CharField(_("subject"), max_length=300)
    body = models.TextField(_("text"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("e-mail template")
        verbose_name_plural = _("e-mail templates")
        constraints = [
            models.UniqueConstraint(
                fields=["study", "kind", "language"], name="one_email_template_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.language}) of {self.study}"
