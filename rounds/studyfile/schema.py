"""The JSON Schema of the study file, published as docs/study-file.schema.json.

It is the file's structure: which fields exist, their types, limits and defaults. The
reader validates every file against it (so the published schema is the one enforced), then
checks what a schema cannot say (a rule that fits its scale, a text in every language of
the study, an item derived from an item the file has). `manage.py delphi_study schema`
prints it; a test keeps docs/study-file.schema.json equal to it.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.conf import settings

from rounds.design import FORMAT_VERSION, RECORD_FIELDS
from rounds.imports import CODE_MAX, DOMAIN_MAX, GROUP_MAX, MAX_ROWS, TEXT_MAX

MAX_CRITERIA = 12
SCALE_LIMIT = 100  # scale points lie in -100..100, as in the setup wizard
MAX_ROUNDS = 10
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
CRITERION_CODE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
TRIMMED_PATTERN = r"^\S(?:.*\S)?$"  # one line, no space at either end
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?$"
DEFAULT_RULE = "percent:75"
SCHEMA_FILE = "study-file.schema.json"


def _languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def _texts(max_length: int, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description + " One text per language code.",
        "properties": {code: {"type": "string", "maxLength": max_length} for code in _languages()},
        "additionalProperties": False,
        "default": {},
    }


def _integer(minimum: int, maximum: int, description: str, default: int | None = None) -> Any:
    field: dict[str, Any] = {
        "type": "integer",
        "minimum": minimum,
        "maximum": maximum,
        "description": description,
    }
    if default is not None:
        field["default"] = default
    return field


def _flag(default: bool, description: str) -> dict[str, Any]:
    return {"type": "boolean", "default": default, "description": description}


def _study() -> dict[str, Any]:
    languages = _languages()
    return {
        "type": "object",
        "description": "The study's basics.",
        "required": ["slug", "title", "languages", "report_language"],
        "additionalProperties": False,
        "properties": {
            "slug": {
                "type": "string",
                "pattern": SLUG_PATTERN,
                "maxLength": 80,
                "description": "Short name, part of the study's web address (e.g. kce-2025).",
            },
            "title": _texts(200, "Title, required in every language of the study."),
            "description": _texts(4000, "What panelists read first: the study's purpose."),
            "languages": {
                "type": "array",
                "items": {"enum": languages},
                "minItems": 1,
                "uniqueItems": True,
                "description": "The languages panelists answer in.",
            },
            "report_language": {"enum": languages, "description": "One of `languages`."},
            "time_zone": {
                "type": "string",
                "maxLength": 64,
                "default": "Europe/Brussels",
                "description": "A name from the time zone database; times are shown in it.",
            },
            "contact_name": {
                "type": "string",
                "maxLength": 200,
                "default": "",
                "description": "The person panelists can write to.",
            },
            "contact_email": {
                "type": "string",
                "maxLength": 254,
                "default": "",
                "description": "Where panelists' replies go.",
            },
            "minutes_per_round": _integer(1, 600, "Time one round takes a panelist.", 15),
        },
    }


def _protocol() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "The consensus protocol; it locks when round 1 opens.",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "quantile_type": {
                "enum": [5, 6, 7, 8],
                "default": 7,
                "description": "Hyndman-Fan quantile type for medians and quartiles.",
            },
            "accept_rule": {
                "type": "string",
                "maxLength": 500,
                "default": "",
                "description": "When an item is accepted, e.g. `acceptability = in AND "
                "priority.median >= 7`; empty: every criterion reached consensus in.",
            },
            "reject_rule": {
                "type": "string",
                "maxLength": 500,
                "default": "",
                "description": "When an item is rejected; empty: any criterion reached "
                "consensus out.",
            },
            "max_rounds": _integer(1, MAX_ROUNDS, "The study stops after this round.", 3),
            "stable_below": {
                "type": "number",
                "minimum": 0,
                "maximum": 100,
                "default": 15.0,
                "description": "An item is stable between two rounds when the percent change "
                "of its ratings is below this.",
            },
            "rand_half_points": _flag(False, "RAND/UCLA: median 6.5 counts as appropriate."),
            "allow_dont_know": _flag(True, "Panelists may answer “don't know”."),
            "require_comment_outside_iqr": _flag(
                False, "A comment is required for a rating outside the previous round's IQR."
            ),
            "randomise_items": _flag(False, "Items in a different order for each panelist."),
            "show_distribution": _flag(True, "Feedback: the panel's distribution."),
            "show_own_rating": _flag(True, "Feedback: the panelist's own previous rating."),
            "show_comments": _flag(True, "Feedback: anonymous comments."),
            "show_groups": _flag(False, "Feedback: the distribution per stakeholder group."),
            "min_group_size": _integer(5, 1000, "Smallest group shown separately (5 or more).", 5),
            "realtime": _flag(
                False,
                "Real-time mode: one open period; panelists see the panel's current answers "
                "after their own first rating and may revise until the deadline.",
            ),
        },
    }


def _criterion() -> dict[str, Any]:
    point = {"type": "integer", "minimum": -SCALE_LIMIT, "maximum": SCALE_LIMIT}
    anchor = {"type": "string", "maxLength": 100, "default": ""}
    return {
        "type": "object",
        "required": ["code", "name", "scale"],
        "additionalProperties": False,
        "properties": {
            "code": {
                "type": "string",
                "pattern": CRITERION_CODE_PATTERN,
                "maxLength": CODE_MAX,
                "description": "Names the criterion in decision rules and exports.",
            },
            "name": _texts(200, "Name, required in every language of the study."),
            "question": _texts(500, "The question panelists answer (optional)."),
            "scale": {
                "type": "object",
                "required": ["min", "max"],
                "additionalProperties": False,
                "properties": {"min": point, "max": point},
                "description": "The rating scale, from 3 to 11 points.",
            },
            "bands": {
                "type": "object",
                "required": ["low_max", "high_min"],
                "additionalProperties": False,
                "properties": {"low_max": point, "high_min": point},
                "description": "Where the low band ends and the high band starts. Default: "
                "3 and 7 on 1-9, 2 and 6 on 1-7, 2 and 4 on 1-5; other scales need them.",
            },
            "rule": {
                "type": "string",
                "maxLength": 40,
                "default": DEFAULT_RULE,
                "description": "Consensus rule: percent:T (T above 50), comet, rand (1-9 "
                "only), rand:half, iqr or iqr:K.",
            },
            "anchors": {
                "type": "object",
                "description": "Labels of the lowest and highest points, per language.",
                "default": {},
                "additionalProperties": False,
                "properties": {
                    code: {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"min": anchor, "max": anchor},
                    }
                    for code in _languages()
                },
            },
        },
    }


def _item() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["code", "text"],
        "additionalProperties": False,
        "properties": {
            "code": {
                "type": "string",
                "minLength": 1,
                "maxLength": CODE_MAX,
                "pattern": TRIMMED_PATTERN,
                "description": "The item's code, unique in the study (e.g. A1).",
            },
            "domain": _texts(DOMAIN_MAX, "The domain the item belongs to (optional)."),
            "text": _texts(TEXT_MAX, "The item's wording, required in every language."),
            "source": {
                "enum": ["", "literature", "interviews", "panel", "other"],
                "default": "",
                "description": "Where the item comes from: literature, interviews, panel "
                "(proposed by the panel) or other; empty: not recorded.",
            },
            "reference": {
                "type": "string",
                "maxLength": 500,
                "default": "",
                "description": "A citation, an interview series, a URL.",
            },
            "derived_from": {
                "type": "array",
                "items": {"type": "string"},
                "uniqueItems": True,
                "default": [],
                "description": "Lineage: codes of the items this one rewords, merges or splits.",
            },
            "metadata": {
                "type": "object",
                "default": {},
                "description": "Free-form facts about the item (e.g. the actors concerned).",
            },
        },
    }


def _schedule() -> dict[str, Any]:
    time = {
        "type": ["string", "null"],
        "pattern": TIME_PATTERN,
        "default": None,
        "description": "ISO 8601, e.g. 2025-03-03T09:00:00+01:00; without an offset, in the "
        "study's time zone; null: not scheduled.",
    }
    return {
        "type": "object",
        "description": "When round 1 opens and closes, and its reminders; round 0, if any.",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "round_1": {
                "type": "object",
                "additionalProperties": False,
                "default": {},
                "properties": {
                    "opens_at": time,
                    "closes_at": time,
                    "reminders_days_before": {
                        "type": "array",
                        "items": {"type": "integer", "minimum": 1, "maximum": 60},
                        "uniqueItems": True,
                        "default": [],
                        "description": "Reminders to non-completers, days before the deadline.",
                    },
                },
            },
            "round_0": {
                "type": "object",
                "description": "A proposals round before round 1: the panel answers an open "
                "question in each domain and proposes new items. Leave out for none.",
                "additionalProperties": False,
                "properties": {
                    "question": _texts(
                        500, "The open question asked in every domain; empty: the built-in one."
                    ),
                },
            },
        },
    }


def _record() -> dict[str, Any]:
    text = {"type": "string", "maxLength": 10000, "default": ""}
    return {
        "type": "object",
        "description": "What the reporting guidelines (ACCORD, CREDES) ask about the design, "
        "printed in the report's methods: where the items came from, the evidence given to "
        "the panel, piloting, eligibility, sampling frame, recruitment, why this panel size, "
        "the steering group, why this consensus definition, ethics approval, funding, "
        "conflicts of interest, how ratings were simulated (demonstrations only).",
        "additionalProperties": False,
        "default": {},
        "properties": {name: dict(text) for name in RECORD_FIELDS},
    }


@cache
def schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Delphi study file",
        "description": "The design of one Delphi study: its basics, consensus protocol, "
        "criteria, items, stakeholder groups, schedule and study record.",
        "type": "object",
        "required": ["format_version", "study", "criteria"],
        "additionalProperties": False,
        "properties": {
            "format_version": {
                "const": FORMAT_VERSION,
                "description": "The version of this format.",
            },
            "study": _study(),
            "protocol": _protocol(),
            "criteria": {
                "type": "array",
                "items": _criterion(),
                "minItems": 1,
                "maxItems": MAX_CRITERIA,
            },
            "items": {"type": "array", "items": _item(), "maxItems": MAX_ROWS, "default": []},
            "groups": {
                "type": "array",
                "items": {"type": "string", "maxLength": GROUP_MAX, "pattern": TRIMMED_PATTERN},
                "uniqueItems": True,
                "default": [],
                "description": "The panel's stakeholder groups.",
            },
            "schedule": _schedule(),
            "record": _record(),
        },
    }


def schema_json() -> str:
    """The schema as published (docs/study-file.schema.json)."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
