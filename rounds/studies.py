"""Creating a study: protocol, criteria, items and panel in one transaction (the setup
wizard's service)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from rounds import consensus
from rounds.errors import DomainError
from rounds.imports import (
    ImportRejected,
    import_items,
    import_panel,
)
from rounds.models import (
    Criterion,
    Item,
    ProposalRound,
    Protocol,
    Round,
    ScheduledReminder,
    Study,
    StudyMembership,
    StudyRecord,
    translated,
)
from rounds.services import audit_record, round_create, round_schedule

RULE_WORDS = frozenset({"and", "or", "in", "out", "none"})
# The tokens of consensus.DecisionRule's grammar, to find the criteria an expression names.
_RULE_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<op>>=|<=|==|!=|=|>|<)|(?P<paren>[()])"
    r"|(?P<word>[A-Za-z_][\w-]*)|(?P<dot>\.))"
)


def criteria_named(expression: str) -> list[str]:
    """The criterion codes an item decision expression names (it must already parse)."""
    names: list[str] = []
    after_dot = False
    for match in _RULE_TOKEN.finditer(expression):
        word = match.group("word")
        if word and not after_dot and word.lower() not in RULE_WORDS and word not in names:
            names.append(word)
        after_dot = match.lastgroup == "dot"
    return names


def free_slug(slug: str) -> str:
    """A short name like `slug` that no study has yet, e.g. kce-2025-2."""
    base = slug[:75]
    taken = set(Study.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)


def slug_taken_message(slug: str) -> str:
    suggestion = free_slug(slug)
    return _(
        "A study with the short name “%(slug)s” already exists. Choose another, "
        "e.g. “%(suggestion)s”."
    ) % {"slug": slug, "suggestion": suggestion}


@dataclass(frozen=True)
class CriterionSpec:
    """A criterion as the coordinator described it, before it is saved."""

    code: str
    name: dict[str, str]
    question: dict[str, str]
    scale: consensus.Scale
    anchors: dict[str, dict[str, str]]

    @property
    def label(self) -> str:
        return translated(self.name, get_language(), list(self.name)) or self.code

    def criterion(self, study: Study, position: int, rule: str) -> Criterion:
        return Criterion(
            study=study,
            code=self.code,
            name=self.name,
            question=self.question,
            position=position,
            scale_min=self.scale.min,
            scale_max=self.scale.max,
            low_max=self.scale.low[1],
            high_min=self.scale.high[0],
            rule=rule,
            anchors=self.anchors,
        )


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str


class SetupError(DomainError):
    """The study could not be created; `step` is where the coordinator can fix it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class ItemSpec:
    """An item as a study file describes it (`rounds.studyfile`)."""

    code: str
    text: dict[str, str]
    domain: dict[str, str]
    metadata: dict[str, Any]
    derived_from: tuple[str, ...] = ()
    source: str = ""
    reference: str = ""


@dataclass(frozen=True)
class RoundPlan:
    """When round 1 opens and closes, and its reminders (days before the deadline)."""

    opens_at: datetime | None
    closes_at: datetime | None
    reminders_days_before: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.opens_at or self.closes_at or self.reminders_days_before)


@dataclass(frozen=True)
class StudySetup:
    slug: str
    title: dict[str, str]
    description: dict[str, str]
    languages: list[str]
    report_language: str
    time_zone: str
    contact_name: str
    contact_email: str
    minutes_per_round: int
    criteria: list[CriterionSpec]
    rules: dict[str, str]  # criterion code -> rule label
    protocol: dict[str, Any]  # Protocol field values
    items: Upload | None
    panel: Upload | None
    item_specs: tuple[ItemSpec, ...] = ()
    groups: tuple[str, ...] = ()
    round_1: RoundPlan | None = None
    file_hash: str = ""  # the design hash of the study file it was created from
    record: dict[str, str] | None = None  # StudyRecord field values
    round_0: dict[str, Any] | None = None  # a proposals round before round 1: {"question": ...}


def study_create(*, setup: StudySetup, by: User) -> Study:
    """Create the study with its protocol, criteria, items and panel, all or nothing;
    `by` becomes its owner. Raises SetupError naming the step to fix."""
    try:
        with transaction.atomic():
            return _study_create(setup, by)
    except IntegrityError:
        if Study.objects.filter(slug=setup.slug).exists():
            raise SetupError("basics", slug_taken_message(setup.slug)) from None
        raise


def _study_create(setup: StudySetup, by: User) -> Study:
    if Study.objects.filter(slug=setup.slug).exists():
        raise SetupError("basics", slug_taken_message(setup.slug))
    study = Study.objects.create(
        slug=setup.slug,
        title=setup.title,
        description=setup.description,
        languages=setup.languages,
        report_language=setup.report_language,
        time_zone=setup.time_zone,
        contact_name=setup.contact_name,
        contact_email=setup.contact_email,
        minutes_per_round=setup.minutes_per_round,
        groups=list(setup.groups),
    )
    protocol = Protocol.objects.create(study=study, **setup.protocol)
    Criterion.objects.bulk_create(
        spec.criterion(study, position, setup.rules[spec.code])
        for position, spec in enumerate(setup.criteria)
    )
    StudyMembership.objects.create(study=study, user=by, role=StudyMembership.Role.OWNER)
    after = {"slug": study.slug, "languages": study.languages, "protocol": protocol.as_dict()}
    if setup.file_hash:
        after["study_file_hash"] = setup.file_hash
    audit_record(study=study, action="study.created", target=study.slug, by=by, after=after)
    _create_items(study, setup.item_specs, by)
    if setup.record and any(setup.record.values()):
        StudyRecord.objects.create(study=study, **setup.record)
    for step, upload, importer in (
        ("items", setup.items, import_items),
        ("panel", setup.panel, import_panel),
    ):
        if upload is None:
            continue
        try:
            importer(study=study, data=upload.data, filename=upload.filename, by=by)
        except ImportRejected as rejected:
            raise SetupError(step, str(rejected)) from rejected
    if setup.round_1 is not None and not setup.round_1.empty:
        _plan_round_1(study, setup.round_1, by)
    if setup.round_0 is not None:
        question = {k: v for k, v in (setup.round_0.get("question") or {}).items() if v}
        ProposalRound.objects.create(study=study, question=question)
        audit_record(study=study, action="round0.added", target="round 0", by=by)
    return study


def _create_items(study: Study, specs: tuple[ItemSpec, ...], by: User) -> None:
    if not specs:
        return
    items = Item.objects.bulk_create(
        Item(
            study=study,
            code=spec.code,
            text=spec.text,
            domain=spec.domain,
            metadata=spec.metadata,
            source=spec.source,
            reference=spec.reference,
            position=position,
        )
        for position, spec in enumerate(specs)
    )
    by_code = {item.code: item for item in Item.objects.filter(study=study)}
    Link = Item.derived_from.through
    Link.objects.bulk_create(
        Link(from_item_id=by_code[spec.code].pk, to_item_id=by_code[parent].pk)
        for spec in specs
        for parent in spec.derived_from
    )
    audit_record(study=study, action="items.created", by=by, after={"items": len(items)})


def _plan_round_1(study: Study, plan: RoundPlan, by: User) -> None:
    """A draft round 1 with the planned times and reminders."""
    try:
        first = round_create(study=study, by=by)
        if plan.opens_at or plan.closes_at:
            round_schedule(round=first, opens_at=plan.opens_at, closes_at=plan.closes_at, by=by)
    except DomainError as error:
        raise SetupError("schedule", str(error)) from error
    days = sorted(plan.reminders_days_before, reverse=True)
    if days:
        ScheduledReminder.objects.bulk_create(
            ScheduledReminder(round=first, days_before=d) for d in days
        )
        audit_record(
            study=study, action="reminder.scheduled", target=str(first), by=by,
            after={"days_before": days},
        )  # fmt: skip


def study_contact_update(*, study: Study, name: str, email: str, by: User) -> Study:
    """Who the panel's e-mails come from and whom replies reach."""
    before = {"contact_name": study.contact_name, "contact_email": study.contact_email}
    with transaction.atomic():
        study.contact_name, study.contact_email = name, email
        study.save(update_fields=["contact_name", "contact_email"])
        audit_record(
            study=study, action="study.contact_changed", target=study.slug, by=by,
            before=before, after={"contact_name": name, "contact_email": email},
        )  # fmt: skip
    return study


def study_policy_summary_update(*, study: Study, texts: dict[str, str], by: User) -> Study:
    """The summary written for policy readers (policy space, report), per language."""
    cleaned = {code: text.strip() for code, text in texts.items() if text.strip()}
    with transaction.atomic():
        before = dict(study.policy_summary or {})
        study.policy_summary = cleaned
        study.save(update_fields=["policy_summary"])
        audit_record(
            study=study, action="study.policy_summary_changed", target=study.slug, by=by,
            before=before, after=cleaned,
        )  # fmt: skip
    return study


def round_introduction_update(*, round: Round, texts: dict[str, str], by: User) -> Round:
    """What the coordinator tells the panel about the changes since the last round."""
    cleaned = {code: text.strip() for code, text in texts.items() if text.strip()}
    with transaction.atomic():
        round.introduction = cleaned
        round.save(update_fields=["introduction"])
        audit_record(
            study=round.study, action="round.introduction_changed", target=str(round), by=by,
            after=cleaned,
        )  # fmt: skip
    return round
