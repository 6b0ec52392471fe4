"""Round 0, the proposals round: before round 1, the panel answers an open question per
domain and proposes new action items; the coordinator accepts (into round 1, lineage
"proposed by the panel"), merges or declines each proposal with a reason the proposer reads.

Imported by `rounds.models`; the services are in `rounds.proposals`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from rounds.models import Item

TEXT_MAX = 1000
REASON_MAX = 2000
ANSWER_MAX = 4000


class ProposalRound(models.Model):
    """A study's optional round 0. draft → open → closed; it must close before round 1 opens."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    study = models.OneToOneField(
        "rounds.Study", on_delete=models.CASCADE, related_name="proposal_round"
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    question = models.JSONField(
        _("open question per language"),
        default=dict,
        blank=True,
        help_text=_("Asked in every domain; empty: the built-in question."),
    )
    closes_at = models.DateTimeField(_("closes at"), null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    invited = models.PositiveIntegerField(_("panelists invited"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("proposals round (round 0)")
        verbose_name_plural = _("proposals rounds (round 0)")

    def __str__(self) -> str:
        return f"{self.study.slug} round 0"


class ProposalAnswer(models.Model):
    """A panelist's answer to the open question of one domain."""

    proposal_round = models.ForeignKey(
        ProposalRound, on_delete=models.CASCADE, related_name="answers"
    )
    panelist = models.ForeignKey(
        "rounds.Panelist", on_delete=models.CASCADE, related_name="proposal_answers"
    )
    domain = models.CharField(_("domain"), max_length=200, blank=True)
    text = models.TextField(_("answer"), max_length=ANSWER_MAX, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("answer in round 0")
        verbose_name_plural = _("answers in round 0")
        constraints = [
            models.UniqueConstraint(
                fields=["proposal_round", "panelist", "domain"], name="one_answer_per_domain"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.panelist} / {self.domain or '-'}"


class Proposal(models.Model):
    """A new action item proposed by a panelist in round 0, and the coordinator's decision.

    Known to everyone but the coordinators by its number (R0-07), never by its proposer."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a decision")
        ACCEPTED = "accepted", _("Accepted into round 1")
        MERGED = "merged", _("Merged with a similar proposal")
        DECLINED = "declined", _("Declined")

    proposal_round = models.ForeignKey(
        ProposalRound, on_delete=models.CASCADE, related_name="proposals"
    )
    number = models.PositiveIntegerField(_("number"))
    panelist = models.ForeignKey(
        "rounds.Panelist", on_delete=models.CASCADE, related_name="proposals"
    )
    domain = models.CharField(_("domain"), max_length=200, blank=True)
    text = models.TextField(_("proposed action"), max_length=TEXT_MAX)
    reason = models.TextField(_("why"), max_length=REASON_MAX)
    language = models.CharField(_("written in"), max_length=8, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    decision_reason = models.TextField(_("reason for the decision"), blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged"
    )
    item = models.ForeignKey(
        "rounds.Item", null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")
        ordering = ["proposal_round", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal_round", "number"], name="proposal_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"R0-{self.number:02d}"

    @property
    def outcome_item(self) -> Item | None:
        """The item of round 1 this proposal became (itself or through the one it joined)."""
        if self.item_id is not None:
            return self.item
        target = self.merged_into
        return target.item if target is not None and target.item_id is not None else None


class ProposalReminder(models.Model):
    """A reminder to the panelists who have not answered round 0 yet, due `days_before` its
    deadline; sent once (the round-0 twin of `ScheduledReminder`)."""

    proposal_round = models.ForeignKey(
        ProposalRound, on_delete=models.CASCADE, related_name="reminders"
    )
    days_before = models.PositiveSmallIntegerField(_("days before the deadline"))
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("scheduled reminder of round 0")
        verbose_name_plural = _("scheduled reminders of round 0")
        ordering = ["proposal_round", "-days_before"]
        constraints = [
            models.UniqueConstraint(
                fields=["proposal_round", "days_before"], name="one_round0_reminder_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.proposal_round}: {self.days_before} days before"


class ProposalConsent(models.Model):
    """A panelist's consent to take part, given at round 0's first visit; when round 1
    opens it becomes their round-1 consent (`Participation.consented_at`), so they are not
    asked twice."""

    proposal_round = models.ForeignKey(
        ProposalRound, on_delete=models.CASCADE, related_name="consents"
    )
    panelist = models.ForeignKey(
        "rounds.Panelist", on_delete=models.CASCADE, related_name="proposal_consents"
    )
    consented_at = models.DateTimeField()

    class Meta:
        verbose_name = _("consent given in round 0")
        verbose_name_plural = _("consents given in round 0")
        constraints = [
            models.UniqueConstraint(
                fields=["proposal_round", "panelist"], name="one_round0_consent_per_panelist"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.panelist} consented in round 0"
