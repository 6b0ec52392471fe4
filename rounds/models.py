"""Studies, their consensus protocol, criteria, items, the panel, rounds, ratings and results.

Texts that panelists read are stored per language in JSON maps ({"fr": ..., "nl": ...,
"en": ...}) and read through `translated()`, which falls back to the study's languages.
Status fields change only through `rounds.services`.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from rounds import consensus
from rounds.jobs import Job

_Row = TypeVar("_Row", bound=models.Model)


class Fallback(str):
    """A text shown in another language than the one asked for, because its translation is
    missing: ``lang`` names its language, so that a page can mark it (a ``lang`` attribute,
    for screen readers and hyphenation; WCAG 3.1.2). Otherwise a plain string."""

    lang: str

    def __new__(cls, value: str, lang: str) -> Fallback:
        text = super().__new__(cls, value)
        text.lang = lang
        return text

    def __reduce__(self) -> tuple[type[Fallback], tuple[str, str]]:
        return (Fallback, (str(self), self.lang))


def translated(texts: dict[str, str] | None, language: str | None, fallbacks: list[str]) -> str:
    """The text in `language`, else in the first fallback language that has one (then a
    `Fallback`, which knows its language)."""
    texts = texts or {}
    for code in [language or "", *fallbacks, *texts.keys()]:
        value = texts.get(code[:2]) if code else None
        if value:
            return value if not language or code[:2] == language[:2] else Fallback(value, code[:2])
    return ""


def _languages_default() -> list[str]:
    return ["fr", "nl", "en"]


def _deleting_studies(ids: list[int]) -> None:
    """Tell the audit log's PostgreSQL trigger that the entries of these studies go with
    them (until the transaction ends): the only way audit entries are ever deleted."""
    if connection.vendor == "postgresql" and ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('delphi.deleting_studies', %s, true)",
                [",".join(str(pk) for pk in ids)],
            )


class StudyQuerySet(models.QuerySet["Study"]):
    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the studies with everything in them, their audit log included."""
        with transaction.atomic(using=self.db):
            _deleting_studies(list(self.values_list("pk", flat=True)))
            return super().delete()


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        FINISHED = "finished", _("Finished")

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    title = models.JSONField(_("title per language"), default=dict)
    description = models.JSONField(_("description per language"), default=dict, blank=True)
    languages = models.JSONField(_("languages"), default=_languages_default)
    report_language = models.CharField(_("report language"), max_length=8, default="en")
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Brussels")
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    contact_name = models.CharField(_("contact name"), max_length=200, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    is_simulated = models.BooleanField(
        _("simulated data"),
        default=False,
        help_text=_("Shown on every page and export: the ratings are simulated."),
    )
    minutes_per_round = models.PositiveSmallIntegerField(_("minutes per round"), default=15)
    policy_summary = models.JSONField(
        _("summary for policy readers, per language"),
        default=dict,
        blank=True,
        help_text=_("Shown in the policy space and the report's summary; not to the panel."),
    )
    groups = models.JSONField(
        _("stakeholder groups"),
        default=list,
        blank=True,
        help_text=_("The panel's stakeholder groups as designed, before the panel is imported."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        verbose_name = _("study")
        verbose_name_plural = _("studies")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.slug

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Delete the study with everything in it, its audit log included."""
        with transaction.atomic():
            _deleting_studies([self.pk])
            return super().delete(*args, **kwargs)

    def clean(self) -> None:
        known = {code for code, _name in settings.LANGUAGES}
        unknown = [code for code in self.languages or [] if code not in known]
        if not self.languages or unknown:
            raise ValidationError(
                {"languages": _("Choose one or more of: %(known)s.") % {"known": sorted(known)}}
            )

    def text(self, field: str, language: str | None = None) -> str:
        return translated(getattr(self, field), language or get_language(), self.fallbacks)

    @property
    def fallbacks(self) -> list[str]:
        return [self.report_language, *self.languages]

    @property
    def display_title(self) -> str:
        return self.text("title")


class Protocol(models.Model):
    """The consensus protocol, fixed before round 1 (METHODS.md §3) and locked when it opens."""

    class Quantile(models.IntegerChoices):
        TYPE_5 = 5, _("Hyndman-Fan type 5 (piecewise linear, Hazen)")
        TYPE_6 = 6, _("Hyndman-Fan type 6 (Weibull, SPSS)")
        TYPE_7 = 7, _("Hyndman-Fan type 7 (R, numpy, Excel PERCENTILE.INC)")
        TYPE_8 = 8, _("Hyndman-Fan type 8 (median-unbiased)")

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="protocol")
    quantile_type = models.PositiveSmallIntegerField(
        _("quantile method"), choices=Quantile.choices, default=Quantile.TYPE_7
    )
    accept_rule = models.CharField(
        _("item accepted when"),
        max_length=500,
        blank=True,
        help_text=_(
            "Empty: every criterion reached consensus 'in'. "
            "Example: acceptability = in AND priority.median >= 7"
        ),
    )
    reject_rule = models.CharField(
        _("item rejected when"),
        max_length=500,
        blank=True,
        help_text=_("Empty: any criterion reached consensus 'out'."),
    )
    max_rounds = models.PositiveSmallIntegerField(
        _("maximum number of rounds"), default=3, validators=[MinValueValidator(1)]
    )
    stable_below = models.FloatField(_("stable when percent change is below"), default=15.0)
    rand_half_points = models.BooleanField(
        _("RAND/UCLA: count median 6.5 as appropriate and 3.5 as inappropriate"), default=False
    )
    allow_dont_know = models.BooleanField(_("offer 'don't know'"), default=True)
    require_comment_outside_iqr = models.BooleanField(
        _("require a comment when a rating falls outside the previous round's IQR"), default=False
    )
    randomise_items = models.BooleanField(_("randomise item order per panelist"), default=False)
    show_distribution = models.BooleanField(_("feedback: distribution"), default=True)
    show_own_rating = models.BooleanField(_("feedback: own previous rating"), default=True)
    show_comments = models.BooleanField(_("feedback: anonymous comments"), default=True)
    show_groups = models.BooleanField(
        _("feedback: distribution per stakeholder group"), default=False
    )
    min_group_size = models.PositiveSmallIntegerField(
        _("smallest group shown separately"), default=5, validators=[MinValueValidator(5)]
    )
    realtime = models.BooleanField(
        _("real-time mode (one open period, no rounds)"),
        default=False,
        help_text=_(
            "Panelists see the panel's current answers after their own first rating of an "
            "item, once the smallest group size has rated it, and may revise until the "
            "deadline. The study has one round."
        ),
    )
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
    locked_design_hash = models.CharField(
        _("design hash when round 1 opened"),
        max_length=64,
        blank=True,
        help_text=_(
            "SHA-256 of the study file's canonical form at the moment the protocol locked."
        ),
    )

    class Meta:
        verbose_name = _("consensus protocol")
        verbose_name_plural = _("consensus protocols")

    def __str__(self) -> str:
        return f"protocol of {self.study}"

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    def decision_rule(self) -> consensus.DecisionRule:
        return consensus.DecisionRule.parse(
            accept=self.accept_rule or None, reject=self.reject_rule or None
        )

    def as_dict(self) -> dict[str, Any]:
        """A stable description of the protocol, hashed for the reproducibility stamp."""
        skip = {"id", "study", "locked_at", "locked_design_hash"}
        if not self.realtime:  # classic studies keep the hash they had before the mode existed
            skip.add("realtime")
        fields = [f.name for f in self._meta.fields if f.name not in skip]
        data: dict[str, Any] = {name: getattr(self, name) for name in fields}
        data["criteria"] = [c.as_dict() for c in self.study.criteria.all()]
        return data


class Criterion(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="criteria")
    code = models.SlugField(_("code"), max_length=40)
    name = models.JSONField(_("name per language"), default=dict)
    question = models.JSONField(_("question per language"), default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    scale_min = models.SmallIntegerField(_("scale minimum"), default=1)
    scale_max = models.SmallIntegerField(_("scale maximum"), default=9)
    low_max = models.SmallIntegerField(_("low band ends at"), default=3)
    high_min = models.SmallIntegerField(_("high band starts at"), default=7)
    rule = models.CharField(
        _("consensus rule"),
        max_length=40,
        default="percent:75",
        help_text=_("percent:75 (any threshold), comet, rand, iqr:2 (any k)"),
    )
    anchors = models.JSONField(
        _("anchor labels per language"),
        default=dict,
        blank=True,
        help_text=_('{"en": {"min": "Not at all", "max": "Completely"}, ...}'),
    )

    class Meta:
        verbose_name = _("criterion")
        verbose_name_plural = _("criteria")
        ordering = ["study", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="criterion_code_unique"),
            models.CheckConstraint(
                condition=Q(scale_min__lt=models.F("scale_max")), name="criterion_scale_ordered"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        try:
            self.settings()
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    def scale(self) -> consensus.Scale:
        return consensus.Scale(
            min=self.scale_min,
            max=self.scale_max,
            low=(self.scale_min, self.low_max),
            mid=(self.low_max + 1, self.high_min - 1),
            high=(self.high_min, self.scale_max),
        )

    def settings(self, protocol: Protocol | None = None) -> consensus.CriterionSettings:
        protocol = protocol or self.study.protocol
        rule = consensus.Rule.parse(self.rule)
        if protocol.rand_half_points and rule.kind == "rand":
            rule = consensus.Rule("rand", rand_half_points=True)
        return consensus.CriterionSettings(
            scale=self.scale(), rule=rule, quantile=protocol.quantile_type
        )

    def text(self, language: str | None = None) -> str:
        return translated(self.name, language or get_language(), self.study.fallbacks)

    def question_text(self, language: str | None = None) -> str:
        return translated(self.question, language or get_language(), self.study.fallbacks)

    def anchor(self, end: str, language: str | None = None) -> str:
        by_language = {code: labels.get(end, "") for code, labels in (self.anchors or {}).items()}
        return translated(by_language, language or get_language(), self.study.fallbacks)

    @property
    def points(self) -> int:
        return self.scale_max - self.scale_min + 1

    def anchor_min(self) -> str:
        return self.anchor("min")

    def anchor_max(self) -> str:
        return self.anchor("max")

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "scale": [self.scale_min, self.scale_max],
            "bands": [self.low_max, self.high_min],
            "rule": self.rule,
        }


class StudyRecord(models.Model):
    """What the reporting guidelines (ACCORD, CREDES) ask about a study and the platform
    cannot infer: recorded by the coordinators, printed in the report's methods ("not
    recorded" where empty). Every field is optional."""

    study = models.OneToOneField(Study, on_delete=models.CASCADE, related_name="record")
    items_origin = models.TextField(
        _("where the items came from"), blank=True,
        help_text=_("E.g. a literature review, interviews, an international comparison; "
                    "each item's own source is set below."),
    )  # fmt: skip
    evidence = models.TextField(
        _("evidence given to the panelists"), blank=True,
        help_text=_("What the panelists were given to read before rating, if anything."),
    )  # fmt: skip
    piloting = models.TextField(
        _("piloting"), blank=True,
        help_text=_("Who tried the questionnaire before round 1 and what changed."),
    )  # fmt: skip
    eligibility = models.TextField(_("eligibility of panelists"), blank=True)
    sampling_frame = models.TextField(
        _("sampling frame"), blank=True,
        help_text=_("The list or population the panelists were drawn from."),
    )  # fmt: skip
    recruitment = models.TextField(_("recruitment"), blank=True)
    non_response = models.TextField(
        _("non-response"), blank=True,
        help_text=_("How many invited people declined or never answered, and any follow-up."),
    )  # fmt: skip
    panel_size_rationale = models.TextField(_("why this panel size"), blank=True)
    steering_group = models.TextField(_("steering group"), blank=True)
    decision_rule_rationale = models.TextField(
        _("why this consensus definition and decision rule"), blank=True
    )
    recommendations_drafting = models.TextField(_("who drafted the recommendations"), blank=True)
    recommendations_validation = models.TextField(
        _("how the recommendations were validated"), blank=True,
        help_text=_("E.g. a workshop with experts and stakeholders on their feasibility."),
    )  # fmt: skip
    limitations = models.TextField(_("limitations"), blank=True)
    ethics = models.TextField(
        _("ethics approval"), blank=True,
        help_text=_("The committee, the date and the reference, or why none was needed."),
    )  # fmt: skip
    funding = models.TextField(_("funding"), blank=True)
    conflicts_of_interest = models.TextField(_("conflicts of interest"), blank=True)
    simulation = models.TextField(
        _("how the ratings were simulated"), blank=True,
        help_text=_("Simulated studies only (demonstrations, teaching): the model behind the "
                    "ratings, printed in the methods."),
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("study record")
        verbose_name_plural = _("study records")

    def __str__(self) -> str:
        return f"record of {self.study}"


class Item(models.Model):
    class Source(models.TextChoices):
        LITERATURE = "literature", _("Literature")
        INTERVIEWS = "interviews", _("Interviews")
        PANEL = "panel", _("Proposed by the panel")
        OTHER = "other", _("Other")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    code = models.CharField(_("code"), max_length=40)
    domain = models.JSONField(_("domain per language"), default=dict, blank=True)
    text = models.JSONField(_("text per language"), default=dict)
    position = models.PositiveIntegerField(default=0)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, blank=True)
    reference = models.CharField(
        _("reference"), max_length=500, blank=True,
        help_text=_("Where the item comes from: a citation, an interview series, a URL."),
    )  # fmt: skip
    metadata = models.JSONField(default=dict, blank=True)
    derived_from = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="derivatives"
    )

    class Meta:
        verbose_name = _("item")
        verbose_name_plural = _("items")
        ordering = ["study", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="item_code_unique"),
        ]

    def __str__(self) -> str:
        return self.code

    def label(self, language: str | None = None) -> str:
        return translated(self.text, language or get_language(), self.study.fallbacks)

    def domain_label(self, language: str | None = None) -> str:
        return translated(self.domain, language or get_language(), self.study.fallbacks)


class Panelist(models.Model):
    """A member of a study's panel; pseudonymous (P001...) in everything the panel or a reader
    of the report sees. Stored in the table it was created in (it moved here from the
    panelists app without moving data)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="panelists")
    pseudonym = models.CharField(_("pseudonym"), max_length=16)
    email = models.EmailField(_("e-mail"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    group = models.CharField(_("stakeholder group"), max_length=80, blank=True)
    # Optional characteristics, kept only with the panelist's consent and reported only for
    # groups of at least the protocol's smallest group size.
    characteristics_consent = models.BooleanField(_("consented to share characteristics"),
                                                  default=False)  # fmt: skip
    age_band = models.CharField(_("age band"), max_length=20, blank=True)
    sex = models.CharField(_("sex"), max_length=20, blank=True)
    years_in_practice = models.PositiveSmallIntegerField(
        _("years in practice"), null=True, blank=True
    )
    region = models.CharField(_("region"), max_length=80, blank=True)
    practice_type = models.CharField(_("practice type"), max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    erased_at = models.DateTimeField(
        _("erased at"),
        null=True,
        blank=True,
        help_text=_("E-mail address and name erased (rounds.privacy); the ratings stay."),
    )

    class Meta:
        db_table = "panelists_panelist"
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


class Round(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")
        ANALYSED = "analysed", _("Analysed")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField(_("number"), validators=[MinValueValidator(1)])
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    opens_at = models.DateTimeField(_("opens at"), null=True, blank=True)
    closes_at = models.DateTimeField(_("closes at"), null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    analysed_at = models.DateTimeField(null=True, blank=True)
    analysis_version = models.PositiveIntegerField(default=0)
    introduction = models.JSONField(
        _("introduction for the panel, per language"),
        default=dict,
        blank=True,
        help_text=_("From round 2: what changed since the last round, in the coordinator's words."),
    )

    class Meta:
        verbose_name = _("round")
        verbose_name_plural = _("rounds")
        ordering = ["study", "number"]
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="round_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} round {self.number}"

    def previous(self) -> Round | None:
        return self.study.rounds.filter(number=self.number - 1).first()


class RoundItem(models.Model):
    """An item as put to the panel in one round, with the wording used in that round."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="round_items")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="round_items")
    text = models.JSONField(_("wording per language"), default=dict)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("item in a round")
        verbose_name_plural = _("items in a round")
        ordering = ["round", "position", "item__code"]
        constraints = [
            models.UniqueConstraint(fields=["round", "item"], name="round_item_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.round} / {self.item.code}"

    def label(self, language: str | None = None) -> str:
        return translated(self.text, language or get_language(), self.round.study.fallbacks)


class Participation(models.Model):
    """A panelist's progress in one round: invited, opened, in progress, submitted."""

    class Status(models.TextChoices):
        INVITED = "invited", _("Invited")
        OPENED = "opened", _("Opened")
        IN_PROGRESS = "in_progress", _("In progress")
        SUBMITTED = "submitted", _("Submitted")

    panelist = models.ForeignKey(Panelist, on_delete=models.CASCADE, related_name="participations")
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="participations")
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.INVITED
    )
    consented_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "panelists_participation"
        verbose_name = _("participation")
        verbose_name_plural = _("participations")
        constraints = [
            models.UniqueConstraint(
                fields=["panelist", "round"], name="one_participation_per_round"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.panelist} in {self.round}: {self.status}"


class RatingQuerySet(models.QuerySet["Rating"]):
    def counted(self) -> RatingQuerySet:
        """The ratings that count: those of panelists who submitted the round. Answers saved
        in a questionnaire that was never submitted are kept, but no statistic, feedback or
        export uses them. The one definition, used everywhere."""
        submitted = Participation.objects.filter(
            panelist=models.OuterRef("panelist"),
            round=models.OuterRef("round_item__round"),
            status=Participation.Status.SUBMITTED,
        )
        return self.filter(models.Exists(submitted))

    def counted_in(self, study: Study) -> RatingQuerySet:
        """`counted()`, except in a real-time study, where every saved rating counts: the
        panel's answers are live, and a panelist revises them until the deadline."""
        return self.all() if study.protocol.realtime else self.counted()


class Rating(models.Model):
    """One panelist's rating of one item on one criterion in one round; empty = don't know."""

    round_item = models.ForeignKey(RoundItem, on_delete=models.CASCADE, related_name="ratings")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="ratings")
    panelist = models.ForeignKey(Panelist, on_delete=models.CASCADE, related_name="ratings")
    value = models.SmallIntegerField(_("value"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True, max_length=4000)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RatingQuerySet.as_manager()

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        constraints = [
            models.UniqueConstraint(
                fields=["panelist", "round_item", "criterion"], name="one_rating_per_cell"
            ),
        ]
        indexes = [
            # The comments of a round (feedback, results, moderation) without reading the
            # ratings that have none, which are nearly all of them.
            models.Index(
                fields=["round_item"], condition=~Q(comment=""), name="rating_comment_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.panelist} {self.round_item} {self.criterion}: {self.value}"


class Result(models.Model):
    """Statistics of one (round, item, criterion), METHODS.md §2–5."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="results")
    round_item = models.ForeignKey(RoundItem, on_delete=models.CASCADE, related_name="results")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="results")
    n = models.PositiveIntegerField()
    n_missing = models.PositiveIntegerField()
    mean = models.FloatField(null=True)
    sd = models.FloatField(null=True)
    median = models.FloatField(null=True)
    q1 = models.FloatField(null=True)
    q3 = models.FloatField(null=True)
    iqr = models.FloatField(null=True)
    pct_low = models.FloatField(null=True)
    pct_mid = models.FloatField(null=True)
    pct_high = models.FloatField(null=True)
    rule = models.CharField(max_length=40)
    consensus = models.CharField(max_length=8)
    rand_class = models.CharField(max_length=16, blank=True)
    margin = models.PositiveIntegerField(null=True)
    counts = models.JSONField(default=list)
    stats = models.JSONField(default=dict, help_text=_("Every column of results.csv"))
    stability = models.JSONField(default=dict, blank=True)
    all_rules = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("result")
        verbose_name_plural = _("results")
        constraints = [
            models.UniqueConstraint(fields=["round_item", "criterion"], name="one_result_per_cell"),
        ]

    def __str__(self) -> str:
        return f"{self.round_item} {self.criterion}: {self.consensus}"


class ItemDecision(models.Model):
    """An item's disposition after a round: accepted, rejected or carried over."""

    class Decision(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        CARRIED = "carried", _("Carried over")
        NO_CONSENSUS = "no_consensus", _("No consensus (final round)")

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="decisions")
    round_item = models.OneToOneField(RoundItem, on_delete=models.CASCADE, related_name="decision")
    computed = models.CharField(max_length=16, choices=Decision.choices)
    decision = models.CharField(max_length=16, choices=Decision.choices)
    override_reason = models.TextField(blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name = _("item decision")
        verbose_name_plural = _("item decisions")

    def __str__(self) -> str:
        return f"{self.round_item}: {self.decision}"


class RoundAnalysis(models.Model):
    """Round-level results: Kendall's W per criterion and the reproducibility stamp."""

    round = models.OneToOneField(Round, on_delete=models.CASCADE, related_name="analysis")
    version = models.PositiveIntegerField()
    computed_at = models.DateTimeField()
    kendall = models.JSONField(default=list)
    protocol_hash = models.CharField(max_length=64)
    data_checksum = models.CharField(max_length=64)
    software_version = models.CharField(max_length=32)

    class Meta:
        verbose_name = _("round analysis")
        verbose_name_plural = _("round analyses")

    def __str__(self) -> str:
        return f"analysis of {self.round} v{self.version}"


class AnalysisJob(Job):
    """One request to analyse a closed round (at its close, or again by a coordinator).

    A durable job (see `rounds.jobs`): queued when the round closes, claimed by a worker,
    done when the results are stored (in the same transaction), or failed with a reason the
    coordinator reads on the round's page, with a button to try again."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="analysis_jobs")
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    force = models.BooleanField(
        _("analyse again"), default=False, help_text=_("Replace stored results (a new version).")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("analysis job")
        verbose_name_plural = _("analysis jobs")
        ordering = ["round", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"analysis of {self.round}: {self.status}"


class AppendOnlyQuerySet(models.QuerySet[_Row]):
    """Refuses ``update`` and ``delete``, with the model's own exception and messages (see
    `AppendOnly`)."""

    def update(self, **kwargs: Any) -> int:
        raise self.model.refusal(self.model.changed_message)  # type: ignore[attr-defined]

    def delete(self) -> tuple[int, dict[str, int]]:
        raise self.model.refusal(self.model.deleted_message)  # type: ignore[attr-defined]


class AppendOnly(models.Model):
    """A row written once and never changed or deleted on its own: saving an existing row,
    deleting one and the queryset's update and delete raise ``refusal``; rows go only with
    their study (Study.delete, whose cascade does not go through these methods). On
    PostgreSQL a trigger refuses UPDATE and DELETE as well (migrations 0007 and 0015)."""

    refusal: ClassVar[type[Exception]]
    changed_message: ClassVar[str]
    deleted_message: ClassVar[str]

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise self.refusal(self.changed_message)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise self.refusal(self.deleted_message)


class AuditLogIsAppendOnly(Exception):
    """An audit entry cannot be changed or deleted (only with its whole study)."""


class AuditEntryQuerySet(AppendOnlyQuerySet["AuditEntry"]):
    pass


class AuditEntry(AppendOnly):
    """What a coordinator (or the system) did to a study: who, when, what, before and after.

    Append-only: saving an existing entry, deleting one, and the querysets' update and delete
    all raise `AuditLogIsAppendOnly`; on PostgreSQL a trigger also refuses UPDATE and DELETE
    (migration 0007) except when the whole study is being deleted. A user who acted cannot
    be deleted (deactivate the account instead), so the log keeps who did what."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="audit_entries")
    at = models.DateTimeField(_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    action = models.CharField(_("action"), max_length=64)
    target = models.CharField(_("target"), max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)

    objects = AuditEntryQuerySet.as_manager()
    refusal = AuditLogIsAppendOnly
    changed_message = "The audit log is append-only: entries cannot be changed."
    deleted_message = (
        "The audit log is append-only: entries go only with their study (Study.delete)."
    )

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["study", "at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target}"


class StudyMembership(models.Model):
    """A staff user's role in one study: owner and coordinator run it, viewers read it."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        COORDINATOR = "coordinator", _("Coordinator")
        VIEWER = "viewer", _("Viewer (policy team, read-only)")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)

    class Meta:
        verbose_name = _("study membership")
        verbose_name_plural = _("study memberships")
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="one_role_per_study"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.study}"

    @property
    def can_run(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.COORDINATOR)


class ScheduledReminder(models.Model):
    """A reminder to non-completers due `days_before` the round's deadline; sent once."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="reminders")
    days_before = models.PositiveSmallIntegerField(_("days before the deadline"))
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("scheduled reminder")
        verbose_name_plural = _("scheduled reminders")
        ordering = ["round", "-days_before"]
        constraints = [
            models.UniqueConstraint(fields=["round", "days_before"], name="one_reminder_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.round}: {self.days_before} days before"


class StudyInvitation(models.Model):
    """An invitation to join a study's team in a role, sent by e-mail. The token is never
    stored: only its SHA-256 (like the panel's personal links)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("e-mail"))
    role = models.CharField(_("role"), max_length=16, choices=StudyMembership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    revoked_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("team invitation")
        verbose_name_plural = _("team invitations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} as {self.role} of {self.study}"

    @property
    def pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


class HiddenComment(models.Model):
    """A comment a coordinator hid from the panel's feedback and from every export
    (moderation, e.g. an insult or a name); the rating itself still counts."""

    rating = models.OneToOneField(Rating, on_delete=models.CASCADE, related_name="hidden")
    hidden_at = models.DateTimeField(_("hidden at"))
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("hidden comment")
        verbose_name_plural = _("hidden comments")

    def __str__(self) -> str:
        return f"comment of {self.rating} hidden"


class RatingChangeIsAppendOnly(Exception):
    """A rating's history cannot be changed or deleted (only with its whole study)."""


class RatingChangeQuerySet(AppendOnlyQuerySet["RatingChange"]):
    pass


class RatingChange(AppendOnly):
    """One saved change of a rating in a real-time study: who, which cell, the value given
    (empty = don't know) and when. Append-only: the ratings at any moment of the open
    period can be rebuilt from it, which is what the snapshots do. Saving an existing row,
    deleting one, and the querysets' update and delete raise `RatingChangeIsAppendOnly`; on
    PostgreSQL a trigger also refuses UPDATE and DELETE (migration 0015) except when the
    whole study is being deleted. It names the panelist by id only, so erasing a panelist
    (which changes the panelist's row) leaves it as it is."""

    round_item = models.ForeignKey(RoundItem, on_delete=models.CASCADE, related_name="+")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="+")
    panelist = models.ForeignKey(Panelist, on_delete=models.CASCADE, related_name="rating_changes")
    value = models.SmallIntegerField(_("value"), null=True, blank=True)
    at = models.DateTimeField(_("at"))

    objects = RatingChangeQuerySet.as_manager()
    refusal = RatingChangeIsAppendOnly
    changed_message = "The rating history is append-only."
    deleted_message = (
        "The rating history is append-only: it goes only with its study (Study.delete)."
    )

    class Meta:
        verbose_name = _("rating change")
        verbose_name_plural = _("rating history")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["round_item", "at"], name="rating_change_time_idx")]

    def __str__(self) -> str:
        return f"{self.panelist} {self.round_item} {self.criterion}: {self.value} at {self.at}"


class Snapshot(Job):
    """The panel's answers in a real-time round as they stood at one moment (`at`): taken
    every day while the round is open and once at its close. A durable job: the tick
    queues it, a worker computes it from the rating history, so computing it late (or
    twice) gives the same numbers. `results` holds METHODS §2–3 per (item, criterion);
    `stability` holds §4 against the snapshot before it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Kind(models.TextChoices):
        DAILY = "daily", _("Daily")
        CLOSE = "close", _("At the close")

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="snapshots")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    at = models.DateTimeField(_("answers as at"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    results = models.JSONField(default=list, blank=True)
    stability = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")
        ordering = ["round", "at"]
        constraints = [
            models.UniqueConstraint(fields=["round", "at"], name="one_snapshot_per_moment"),
        ]

    def __str__(self) -> str:
        return f"{self.round} as at {self.at:%Y-%m-%d %H:%M}"


# Round 0 (the proposals round) lives in its own module; imported here so Django finds it.
from rounds.proposal_models import Proposal as Proposal  # noqa: E402
from rounds.proposal_models import ProposalAnswer as ProposalAnswer  # noqa: E402
from rounds.proposal_models import ProposalRound as ProposalRound  # noqa: E402
