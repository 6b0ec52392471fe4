"""A study's design as one document (the content of its study file) and the document's hash.

The design is what a coordinator decides before round 1: the study's basics, the consensus
protocol, the criteria with their scales, bands, rules and anchors, the items with every
translation, their source and lineage, the stakeholder groups, the schedule of round 1 (and
round 0's question when the study has a proposals round: absent otherwise, so the hashes of
studies without one are unchanged) and
the study record's account of the design (ethics, funding, recruitment...). It holds no
panelist and no rating.

`design_document` gives the document in its *normal form*: every field present, texts
without surrounding spaces, rules in their canonical spelling (``percent:75``), times in the
study's time zone to the second. The study file is this document written as YAML
(`rounds.studyfile`); reading a file gives the same normal form back.

The *canonical form* of a document is its JSON Canonicalization Scheme serialisation (RFC
8785: object keys sorted by UTF-16 code units, no insignificant whitespace, numbers in
their shortest form, UTF-8); the design hash is the SHA-256 of those bytes, in hexadecimal.
Anyone can recompute it from a study file with a YAML parser, any RFC 8785 implementation
and sha256, without this code (docs/study-file.md).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import rfc8785
from django.db.models import FilteredRelation, Q

from rounds import consensus
from rounds.models import Study

FORMAT_VERSION = 1

Document = dict[str, Any]


def canonical_json(document: Document) -> bytes:
    """The canonical form (RFC 8785) of a JSON-compatible document."""
    return rfc8785.dumps(document)


def document_hash(document: Document) -> str:
    """SHA-256 of the canonical form, in lowercase hexadecimal."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


def design_hash(study: Study) -> str:
    """The hash of the study's design as it stands now."""
    return document_hash(design_document(study))


def design_document(study: Study) -> Document:
    """The study's design in normal form (see the module docstring); five queries."""
    languages = list(study.languages or [])
    schedule, record = _schedule_and_record(study)
    return {
        "format_version": FORMAT_VERSION,
        "study": _study(study, languages),
        "protocol": _protocol(study),
        "criteria": [_criterion(c, languages) for c in study.criteria.order_by("position", "code")],
        "items": _items(study, languages),
        "groups": study_groups(study),
        "schedule": schedule,
        "record": record,
    }


def _study(study: Study, languages: list[str]) -> Document:
    return {
        "slug": study.slug,
        "title": texts(study.title, languages),
        "description": texts(study.description, languages),
        "languages": languages,
        "report_language": study.report_language,
        "time_zone": study.time_zone,
        "contact_name": study.contact_name.strip(),
        "contact_email": study.contact_email.strip(),
        "minutes_per_round": study.minutes_per_round,
    }


PROTOCOL_FIELDS = (
    "quantile_type",
    "accept_rule",
    "reject_rule",
    "max_rounds",
    "stable_below",
    "rand_half_points",
    "allow_dont_know",
    "require_comment_outside_iqr",
    "randomise_items",
    "show_distribution",
    "show_own_rating",
    "show_comments",
    "show_groups",
    "min_group_size",
)


def _protocol(study: Study) -> Document:
    protocol = study.protocol
    data = {name: getattr(protocol, name) for name in PROTOCOL_FIELDS}
    data["accept_rule"] = data["accept_rule"].strip()
    data["reject_rule"] = data["reject_rule"].strip()
    data["stable_below"] = float(data["stable_below"])
    if protocol.realtime:  # written only when set, so classic studies keep their hash
        data["realtime"] = True
    return data


def _criterion(criterion: Any, languages: list[str]) -> Document:
    return {
        "code": criterion.code,
        "name": texts(criterion.name, languages),
        "question": texts(criterion.question, languages),
        "scale": {"min": criterion.scale_min, "max": criterion.scale_max},
        "bands": {"low_max": criterion.low_max, "high_min": criterion.high_min},
        "rule": rule_label(criterion.rule),
        "anchors": anchors(criterion.anchors, languages),
    }


def _items(study: Study, languages: list[str]) -> list[Document]:
    """Every item with its lineage, in one query (a row per item and parent)."""
    rows = study.items.order_by("position", "code", "pk").values_list(
        "pk", "code", "domain", "text", "source", "reference", "metadata", "derived_from__code"
    )
    items: dict[int, Document] = {}
    for pk, code, domain, text, source, reference, metadata, parent in rows:
        item = items.get(pk)
        if item is None:
            item = items[pk] = {
                "code": code,
                "domain": texts(domain, languages),
                "text": texts(text, languages),
                "source": source,
                "reference": reference.strip(),
                "derived_from": [],
                "metadata": metadata or {},
            }
        if parent is not None:
            item["derived_from"].append(parent)
    for item in items.values():
        item["derived_from"].sort()
    return list(items.values())


def study_groups(study: Study) -> list[str]:
    """The stakeholder groups: those designed (`Study.groups`), then any other group the
    panel has, in alphabetical order."""
    designed = [str(group) for group in study.groups or []]
    panel = study.panelists.exclude(group="").values_list("group", flat=True).distinct()
    return designed + sorted(set(panel) - set(designed))


def _schedule_and_record(study: Study) -> tuple[Document, Document]:
    """Round 1's times and reminders, and the study record, in one query (a row per
    reminder of round 1)."""
    rows = list(
        Study.objects.filter(pk=study.pk)
        .annotate(first=FilteredRelation("rounds", condition=Q(rounds__number=1)))
        .values_list(
            "first__opens_at",
            "first__closes_at",
            "first__reminders__days_before",
            "proposal_round__id",
            "proposal_round__question",
            *[f"record__{name}" for name in RECORD_FIELDS],
        )
    )
    zone = ZoneInfo(study.time_zone)
    opens, closes = rows[0][0], rows[0][1]
    schedule: Document = {
        "round_1": {
            "opens_at": local_time(opens, zone),
            "closes_at": local_time(closes, zone),
            "reminders_days_before": sorted((r[2] for r in rows if r[2] is not None), reverse=True),
        }
    }
    if rows[0][3] is not None:  # a round 0 before round 1; absent from the file otherwise
        schedule["round_0"] = {"question": texts(rows[0][4], list(study.languages or []))}
    record = {
        name: str(value or "").strip()
        for name, value in zip(RECORD_FIELDS, rows[0][5:], strict=True)
    }
    return schedule, record


# What the study record (`rounds.record`) says of the design, written before round 1. Its
# other fields (non-response, who drafted and validated the recommendations, limitations)
# tell what happened afterwards: in the design, they would make every report say that the
# design changed after round 1 opened.
RECORD_FIELDS = (
    "items_origin",
    "evidence",
    "piloting",
    "eligibility",
    "sampling_frame",
    "recruitment",
    "panel_size_rationale",
    "steering_group",
    "decision_rule_rationale",
    "ethics",
    "funding",
    "conflicts_of_interest",
    "simulation",
)


# --------------------------------------------------------------------------- normal form


def texts(values: dict[str, Any] | None, languages: list[str]) -> dict[str, str]:
    """A text per language without surrounding spaces, empty ones left out, the study's
    languages first (the order only matters to the reader of the YAML)."""
    values = values or {}
    order = [*languages, *sorted(code for code in values if code not in languages)]
    cleaned = {code: str(values.get(code) or "").strip() for code in order}
    return {code: text for code, text in cleaned.items() if text}


def anchors(values: dict[str, Any] | None, languages: list[str]) -> dict[str, dict[str, str]]:
    out = {}
    for code in texts({k: "x" for k in values or {}}, languages):
        labels = (values or {}).get(code) or {}
        ends = {end: str(labels.get(end) or "").strip() for end in ("min", "max")}
        if any(ends.values()):
            out[code] = ends
    return out


def rule_label(text: str) -> str:
    """A consensus rule in its canonical spelling (``PERCENT:75.0`` is ``percent:75``)."""
    try:
        return consensus.Rule.parse(text).label
    except ValueError:
        return text.strip()


def local_time(value: datetime | None, zone: ZoneInfo) -> str | None:
    """An instant as ISO 8601 in the study's time zone, to the second, with its offset."""
    if value is None:
        return None
    return value.astimezone(zone).replace(microsecond=0).isoformat()
