"""Creating a study: protocol, criteria, items and panel in one transaction (the setup
wizard's service)."""

from __future__ import annotations

from dataclasses import dataclass
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
from rounds.models import Criterion, Protocol, Round, Study, StudyMembership, translated
from rounds.services import audit_record


def slug_taken_message(slug: str) -> str:
    taken = set(Study.objects.filter(slug__startswith=slug).values_list("slug", flat=True))
    base = slug[:75]
    suggestion = next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)
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
    )
    protocol = Protocol.objects.create(study=study, **setup.protocol)
    Criterion.objects.bulk_create(
        spec.criterion(study, position, setup.rules[spec.code])
        for position, spec in enumerate(setup.criteria)
    )
    StudyMembership.objects.create(study=study, user=by, role=StudyMembership.Role.OWNER)
    after = {"slug": study.slug, "languages": study.languages, "protocol": protocol.as_dict()}
    audit_record(study=study, action="study.created", target=study.slug, by=by, after=after)
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
    return study


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
