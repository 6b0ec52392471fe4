"""The study record: what the report's methods say about how the study was designed and run
beyond the protocol (ACCORD / CREDES items), and each item's source. Recorded on the
coordinator's "Study record for the report" page; every field is optional."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from rounds.models import Item, Study, StudyRecord
from rounds.services import Actor, audit_record

RECORD_FIELDS = [
    "items_origin",
    "evidence",
    "piloting",
    "eligibility",
    "sampling_frame",
    "recruitment",
    "non_response",
    "panel_size_rationale",
    "steering_group",
    "decision_rule_rationale",
    "recommendations_drafting",
    "recommendations_validation",
    "limitations",
    "ethics",
    "funding",
    "conflicts_of_interest",
    "simulation",
]


def study_record(study: Study) -> StudyRecord:
    """The study's record, unsaved and empty when none was written yet."""
    return StudyRecord.objects.filter(study=study).first() or StudyRecord(study=study)


def study_record_save(
    *,
    study: Study,
    fields: Mapping[str, str],
    sources: Mapping[int, tuple[str, str]] | None = None,
    by: Actor = None,
) -> StudyRecord:
    """Save the record's ``fields`` and each item's (source, reference) by item id; one
    audit entry names what changed."""
    unknown = set(fields) - set(RECORD_FIELDS)
    if unknown:
        raise ValueError(f"unknown record fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        record = StudyRecord.objects.select_for_update().filter(study=study).first()
        record = record or StudyRecord(study=study)
        before = {name: getattr(record, name) for name in fields}
        for name, value in fields.items():
            setattr(record, name, value.strip())
        record.save()
        changed_items = _save_sources(study, sources or {})
        changed = {n: getattr(record, n) for n in fields if getattr(record, n) != before[n]}
        if changed or changed_items:
            audit_record(
                study=study, action="record.changed", target="study record", by=by,
                before={n: before[n] for n in changed},
                after={**changed, **({"items": changed_items} if changed_items else {})},
            )  # fmt: skip
    return record


def _save_sources(study: Study, sources: Mapping[int, tuple[str, str]]) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    items = Item.objects.filter(study=study, pk__in=list(sources))
    for item in items:
        source, reference = sources[item.pk]
        if (item.source, item.reference) != (source, reference.strip()):
            item.source, item.reference = source, reference.strip()
            item.full_clean(validate_unique=False, exclude=["study", "derived_from"])
            item.save(update_fields=["source", "reference"])
            changed[item.code] = [source, item.reference]
    return changed
