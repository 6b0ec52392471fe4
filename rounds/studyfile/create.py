"""Creating a study from a study file, all or nothing, through `rounds.studies.study_create`."""

from __future__ import annotations

import re
from datetime import datetime

from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.translation import gettext as _

from rounds import consensus
from rounds.design import Document
from rounds.models import Study
from rounds.studies import (
    CriterionSpec,
    ItemSpec,
    RoundPlan,
    SetupError,
    StudySetup,
    study_create,
)
from rounds.studyfile.problems import StudyFileProblem, StudyFileRejected
from rounds.studyfile.reader import RESERVED_SLUGS, StudyDesign, read_study_file
from rounds.studyfile.schema import SLUG_PATTERN


def study_create_from_file(
    *, data: bytes, by: User, slug: str = "", now: datetime | None = None
) -> Study:
    """Create the study a study file describes, `by` its owner; `slug` (if given) replaces
    the file's short name. Raises StudyFileRejected naming every problem; then nothing is
    created."""
    design = read_study_file(data, now=now or timezone.now())
    slug = slug.strip()
    if slug:
        _check_slug(slug)
    try:
        return study_create(setup=study_setup(design, slug=slug), by=by)
    except SetupError as error:
        path = ("study", "slug") if error.step == "basics" else ("schedule", "round_1")
        line = design.line(path) if error.step != "basics" or not slug else None
        field = ".".join(path) if line is not None else ""
        raise StudyFileRejected([StudyFileProblem(line, field, str(error))]) from error


def _check_slug(slug: str) -> None:
    if len(slug) > 80 or not re.fullmatch(SLUG_PATTERN, slug) or slug in RESERVED_SLUGS:
        message = _(
            "“%(slug)s” cannot be a short name: use up to 80 lowercase letters, digits, “-” "
            "and “_”, starting with a letter or a digit, e.g. kce-2025."
        ) % {"slug": slug}
        raise StudyFileRejected([StudyFileProblem(None, "", message)])


def study_setup(design: StudyDesign, *, slug: str = "") -> StudySetup:
    """What `study_create` needs, from a study file's design."""
    doc = design.document
    study, plan = doc["study"], doc["schedule"]["round_1"]
    criteria = [_criterion(c) for c in doc["criteria"]]
    return StudySetup(
        slug=slug or study["slug"],
        title=study["title"],
        description=study["description"],
        languages=study["languages"],
        report_language=study["report_language"],
        time_zone=study["time_zone"],
        contact_name=study["contact_name"],
        contact_email=study["contact_email"],
        minutes_per_round=study["minutes_per_round"],
        criteria=criteria,
        rules={c["code"]: c["rule"] for c in doc["criteria"]},
        protocol=dict(doc["protocol"]),
        items=None,
        panel=None,
        item_specs=tuple(_item(item) for item in doc["items"]),
        groups=tuple(doc["groups"]),
        round_1=RoundPlan(
            opens_at=_instant(plan["opens_at"]),
            closes_at=_instant(plan["closes_at"]),
            reminders_days_before=tuple(plan["reminders_days_before"]),
        ),
        file_hash=design.hash,
        record=dict(doc["record"]),
        round_0=doc["schedule"].get("round_0"),
    )


def _criterion(criterion: Document) -> CriterionSpec:
    lo, hi = criterion["scale"]["min"], criterion["scale"]["max"]
    low_max, high_min = criterion["bands"]["low_max"], criterion["bands"]["high_min"]
    return CriterionSpec(
        code=criterion["code"],
        name=criterion["name"],
        question=criterion["question"],
        scale=consensus.Scale(lo, hi, (lo, low_max), (low_max + 1, high_min - 1), (high_min, hi)),
        anchors=criterion["anchors"],
    )


def _item(item: Document) -> ItemSpec:
    return ItemSpec(
        code=item["code"],
        text=item["text"],
        domain=item["domain"],
        metadata=item["metadata"],
        derived_from=tuple(item["derived_from"]),
        source=item["source"],
        reference=item["reference"],
    )


def _instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
