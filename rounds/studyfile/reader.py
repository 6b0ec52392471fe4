"""Reading a study file: YAML, then the schema, then what a schema cannot say, then the
normal form (`rounds.design`). Every problem names its line and field; any problem rejects
the whole file."""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
from django.conf import settings
from django.utils.translation import gettext as _

from rounds import consensus
from rounds.design import (
    PROTOCOL_FIELDS,
    RECORD_FIELDS,
    Document,
    anchors,
    document_hash,
    local_time,
    rule_label,
    texts,
)
from rounds.imports import MAX_UPLOAD_BYTES
from rounds.studies import RULE_WORDS, criteria_named
from rounds.studyfile import schema as file_schema
from rounds.studyfile.problems import Path, StudyFileProblem, StudyFileRejected, field_name
from rounds.studyfile.yamlio import Lines, load

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Unicode's Cc but tab and line feed
MAX_SCALE_POINTS = 11  # the panelist's rating grid must still fit a phone
RESERVED_SLUGS = frozenset({"new"})  # studies/new/ is the setup wizard


@dataclass(frozen=True)
class StudyDesign:
    """A valid study file: its document in normal form and the line of each field."""

    document: Document
    lines: Lines
    hash: str  # the design hash of `document`

    def line(self, path: Path) -> int | None:
        return _line(self.lines, path)


def read_study_file(data: bytes, *, now: datetime | None = None) -> StudyDesign:
    """The design a study file describes, in normal form. With ``now``, the file must also
    be fit to create a study at that time (round 1's schedule lies ahead). Raises
    StudyFileRejected listing every problem."""
    text = _decode(data)
    raw, lines = load(text)
    problems = _Problems(lines)
    _check_schema(raw, problems)
    document = _with_defaults(raw, file_schema.schema())
    # What the schema let through is checked for meaning too, so that every problem is
    # listed at once; a part the schema refused is not, lest one mistake be told twice.
    _check_meaning(document, problems, now, _Sound(problems.paths))
    problems.raise_if_any()
    for path, value in _numbers(document, ()):
        if not _exact_in_json(value):
            problems.add(
                path,
                _("no JSON reader holds %(value)s exactly; write it as text.") % {"value": value},
            )
    problems.raise_if_any()
    normal = _normal_form(document)
    return StudyDesign(normal, lines, document_hash(normal))


def _numbers(value: Any, path: Path) -> Iterable[tuple[Path, int | float]]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, value
    elif isinstance(value, dict):
        for key, sub in value.items():
            yield from _numbers(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _numbers(sub, (*path, index))


def _exact_in_json(value: int | float) -> bool:
    """What RFC 8785 (and JavaScript) can hold: finite numbers, integers within 2**53."""
    if isinstance(value, int):
        return abs(value) <= 2**53 - 1
    return math.isfinite(value)


def _decode(data: bytes) -> str:
    if len(data) > MAX_UPLOAD_BYTES:
        message = _("The file is larger than the 2 MB limit.")
        raise StudyFileRejected([StudyFileProblem(None, "", message)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        message = _("this line is not UTF-8 text; save the file as UTF-8.")
        raise StudyFileRejected([StudyFileProblem(line, "", message)]) from None


class _Problems:
    def __init__(self, lines: Lines) -> None:
        self.lines = lines
        self.found: list[StudyFileProblem] = []
        self.paths: list[Path] = []

    def add(self, path: Path, message: str) -> None:
        self.paths.append(path)
        self.found.append(StudyFileProblem(_line(self.lines, path), field_name(path), message))

    def raise_if_any(self) -> None:
        if self.found:
            raise StudyFileRejected(self.found)


def _line(lines: Lines, path: Path) -> int | None:
    """The line of a field, or of the closest field around it (a missing field's parent)."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


# --------------------------------------------------------------------------- schema

_TYPE_NAMES: dict[str, Callable[[], str]] = {
    "string": lambda: _("text"),
    "integer": lambda: _("a whole number"),
    "number": lambda: _("a number"),
    "boolean": lambda: _("true or false"),
    "array": lambda: _("a list"),
    "object": lambda: _("a group of fields"),
    "null": lambda: _("null"),
}


def _check_schema(data: Any, problems: _Problems) -> None:
    validator = jsonschema.Draft202012Validator(file_schema.schema())
    for error in validator.iter_errors(data):
        for path, message in _explain(error):
            problems.add(path, message)


def _explain(error: jsonschema.ValidationError) -> Iterable[tuple[Path, str]]:
    path: Path = tuple(error.absolute_path)
    keyword: Any = error.validator
    limit: Any = error.validator_value
    value: Any = error.instance
    subschema: Any = error.schema
    if keyword == "required":
        for name in limit:
            if name not in value:
                yield (*path, name), _("this field is missing; add it.")
    elif keyword == "additionalProperties":
        known = sorted(subschema.get("properties", {}))
        for name in value:
            if name not in known:
                yield (*path, name), _unknown_field(name, known)
    elif keyword == "type":
        yield path, _wrong_type(limit, value)
    elif keyword == "const" and path == ("format_version",):
        yield (
            path,
            _("this file is in format version %(found)s; this platform reads version %(version)s.")
            % {"found": _shown(value), "version": limit},
        )
    elif keyword in ("enum", "const"):
        choices = ", ".join(_shown(choice) for choice in (limit if keyword == "enum" else [limit]))
        yield (
            path,
            _("%(value)s is not allowed here; write one of: %(choices)s.")
            % {
                "value": _shown(value),
                "choices": choices,
            },
        )
    else:
        yield path, _limit_message(keyword, limit, value, error.message)


def _limit_message(keyword: Any, limit: Any, value: Any, fallback: str) -> str:
    values = {"value": _shown(value), "limit": limit}
    if keyword == "minimum":
        return _("%(value)s is below the smallest value allowed, %(limit)s.") % values
    if keyword == "maximum":
        return _("%(value)s is above the largest value allowed, %(limit)s.") % values
    if keyword == "minLength":
        return _("this cannot be empty; fill it in.")
    if keyword == "maxLength":
        return _("this text has %(n)d characters; shorten it to %(limit)d.") % {
            "n": len(value),
            "limit": limit,
        }
    if keyword == "pattern":
        return _pattern_message(limit)
    if keyword == "minItems":
        return _("give at least one entry here.")
    if keyword == "maxItems":
        return _("this list has %(n)d entries; at most %(limit)d are allowed.") % {
            "n": len(value),
            "limit": limit,
        }
    if keyword == "uniqueItems":
        twice = next((v for i, v in enumerate(value) if v in value[:i]), None)
        return _("%(value)s appears twice in this list; keep it once.") % {"value": _shown(twice)}
    return fallback


def _pattern_message(pattern: str) -> str:
    messages = {
        file_schema.SLUG_PATTERN: lambda: _(
            "use only lowercase letters, digits, “-” and “_”, starting with a letter or a "
            "digit, e.g. kce-2025."
        ),
        file_schema.CRITERION_CODE_PATTERN: lambda: _(
            "start the code with a letter and use only letters, digits, “_” and “-”, e.g. "
            "acceptability, so that decision rules can name it."
        ),
        file_schema.TRIMMED_PATTERN: lambda: _(
            "write it on one line, without spaces at either end."
        ),
        file_schema.TIME_PATTERN: lambda: _(
            "write a date and time such as 2025-03-03T09:00:00+01:00 (without the offset, "
            "the study's time zone applies), or null."
        ),
    }
    message = messages.get(pattern)
    return message() if message else _("this value does not have the expected form.")


def _unknown_field(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    values = {"known": ", ".join(known), "close": close[0] if close else ""}
    if close:
        return (
            _(
                "there is no such field here; did you mean “%(close)s”? The fields here are: "
                "%(known)s."
            )
            % values
        )
    return _("there is no such field here. The fields here are: %(known)s.") % values


def _wrong_type(expected: str | list[str], value: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = _(" or ").join(_TYPE_NAMES[name]() for name in names)
    message = _("expected %(expected)s, found %(found)s.") % {
        "expected": wanted,
        "found": _found(value),
    }
    if "string" in names and isinstance(value, (bool, int, float)):
        message += " " + _("Put the value in quotes to make it text.")
    return message


def _found(value: Any) -> str:
    if isinstance(value, dict):
        return _("a group of fields")
    if isinstance(value, list):
        return _("a list")
    return _shown(value)


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"“{value}”"
    return str(value)


def _with_defaults(data: Any, schema: dict[str, Any]) -> Any:
    """A copy of valid `data` with every absent field that has a default in the schema."""
    if isinstance(data, dict):
        properties = schema.get("properties", {})
        out = {}
        for name, sub in properties.items():
            if name in data:
                out[name] = _with_defaults(data[name], sub)
            elif "default" in sub:
                out[name] = _with_defaults(copy.deepcopy(sub["default"]), sub)
        for name, value in data.items():
            out.setdefault(name, value)
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [_with_defaults(value, schema["items"]) for value in data]
    return data


# --------------------------------------------------------------------------- meaning


def _language_name(code: str) -> str:
    return str(dict(settings.LANGUAGES).get(code, code))


class _Sound:
    """Which parts of the file passed the schema: those no schema problem is in or around."""

    def __init__(self, broken: list[Path]) -> None:
        self.broken = list(broken)

    def __call__(self, path: Path) -> bool:
        return not any(p[: len(path)] == path or path[: len(p)] == p for p in self.broken)


def _check_meaning(doc: Document, problems: _Problems, now: datetime | None, sound: _Sound) -> None:
    if () in sound.broken or not isinstance(doc, dict):
        return  # not even a group of fields
    languages = doc["study"]["languages"] if sound(("study", "languages")) else None
    _check_study(doc.get("study"), languages, problems, sound)
    if sound(("criteria",)) or isinstance(doc.get("criteria"), list):
        _check_criteria(doc["criteria"], languages, problems, sound)
    _check_decision_rules(doc, problems, sound)
    if isinstance(doc.get("items"), list):
        _check_items(doc["items"], languages, problems, sound)
    if sound(("schedule",)):
        zone = doc["study"]["time_zone"] if sound(("study", "time_zone")) else "UTC"
        _check_schedule(doc["schedule"]["round_1"], _zone(zone), problems, now)
    _check_texts(doc, problems)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return ZoneInfo("UTC")  # the bad name is reported on its own


def _check_study(
    study: Any, languages: list[str] | None, problems: _Problems, sound: _Sound
) -> None:
    if not isinstance(study, dict):
        return
    if sound(("study", "slug")) and study["slug"] in RESERVED_SLUGS:
        problems.add(
            ("study", "slug"),
            _("“%(slug)s” is reserved for the platform's own pages; choose another.")
            % {"slug": study["slug"]},
        )
    if languages is not None and sound(("study", "title")):
        _require_languages(study["title"], languages, ("study", "title"), problems)
    report = study.get("report_language") if sound(("study", "report_language")) else None
    if languages is not None and report is not None and report not in languages:
        problems.add(
            ("study", "report_language"),
            _("the report language must be one of study.languages (%(languages)s).")
            % {"languages": ", ".join(languages)},
        )
    if sound(("study", "time_zone")) and _zone(study["time_zone"]).key != study["time_zone"]:
        problems.add(
            ("study", "time_zone"),
            _(
                "“%(value)s” is not a time zone. Write a name from the time zone database, "
                "such as Europe/Brussels or UTC."
            )
            % {"value": study["time_zone"]},
        )


def _require_languages(
    values: dict[str, str], languages: list[str], path: Path, problems: _Problems
) -> None:
    for code in languages:
        if not str(values.get(code) or "").strip():
            problems.add(
                (*path, code) if code in values else path,
                _(
                    "give the text in %(language)s (%(code)s), a language of the study, or "
                    "remove %(code)s from study.languages."
                )
                % {"language": _language_name(code), "code": code},
            )


def _check_criteria(
    criteria: list[Any], languages: list[str] | None, problems: _Problems, sound: _Sound
) -> None:
    seen: dict[str, int] = {}
    for index, criterion in enumerate(criteria):
        path: Path = ("criteria", index)
        if sound((*path, "code")):
            _check_criterion_code(criterion["code"], index, seen, problems)
        if languages is not None and sound((*path, "name")):
            _require_languages(criterion["name"], languages, (*path, "name"), problems)
        if not (sound((*path, "scale")) and sound((*path, "bands"))):
            continue
        scale = _scale(criterion, path, problems)
        if scale is not None and sound((*path, "rule")):
            _check_rule(criterion["rule"], scale, (*path, "rule"), problems)


def _check_criterion_code(code: str, index: int, seen: dict[str, int], problems: _Problems) -> None:
    path: Path = ("criteria", index, "code")
    if code.lower() in RULE_WORDS:
        problems.add(
            path,
            _("“%(code)s” is a word of the decision rules; choose another code.") % {"code": code},
        )
    first = seen.setdefault(code.casefold(), index)
    if first != index:
        problems.add(
            path,
            _("criteria[%(first)d] already has the code “%(code)s”; give each its own.")
            % {"first": first + 1, "code": code},
        )


def _scale(criterion: Document, path: Path, problems: _Problems) -> consensus.Scale | None:
    lo, hi = criterion["scale"]["min"], criterion["scale"]["max"]
    if not 3 <= hi - lo + 1 <= MAX_SCALE_POINTS:
        problems.add(
            (*path, "scale"),
            _(
                "a scale needs from 3 to %(most)d points, the lowest first; %(lo)d to %(hi)d "
                "does not fit."
            )
            % {"most": MAX_SCALE_POINTS, "lo": lo, "hi": hi},
        )
        return None
    bands = criterion.get("bands")
    if bands is None:
        try:
            return consensus.Scale.with_default_bands(lo, hi)
        except ValueError:
            problems.add(
                (*path, "bands"),
                _(
                    "the scale %(lo)d to %(hi)d has no standard bands; add bands with low_max "
                    "and high_min, e.g. 3 and 7 on 0 to 10."
                )
                % {"lo": lo, "hi": hi},
            )
            return None
    low_max, high_min = bands["low_max"], bands["high_min"]
    try:
        return consensus.Scale(lo, hi, (lo, low_max), (low_max + 1, high_min - 1), (high_min, hi))
    except ValueError:
        problems.add(
            (*path, "bands"),
            _(
                "these bands do not fit the scale %(lo)d to %(hi)d: the low band runs from "
                "%(lo)d to low_max, the high band from high_min to %(hi)d, and at least one "
                "point must lie between them (e.g. 3 and 7 on 1 to 9)."
            )
            % {"lo": lo, "hi": hi},
        )
        return None


def _check_rule(text: str, scale: consensus.Scale, path: Path, problems: _Problems) -> None:
    try:
        rule = consensus.Rule.parse(text)
    except ValueError:
        problems.add(
            path,
            _(
                "“%(rule)s” is not a consensus rule. Write percent:75 (any threshold above 50, "
                "up to 4 decimals), comet, rand, rand:half, iqr or iqr:2 (any k of 0 or more)."
            )
            % {"rule": text},
        )
        return
    try:
        rule.check(scale)
    except ValueError:
        if rule.kind == "rand":
            message = _(
                "the RAND/UCLA rule works only on the 1–9 scale, not %(scale)s; choose "
                "percent:75, comet or iqr:1, or change the scale."
            )
        else:
            message = _(
                "the IQR rule has no default k on the scale %(scale)s; write it, e.g. iqr:2."
            )
        problems.add(path, message % {"scale": scale.label})


def _check_decision_rules(doc: Document, problems: _Problems, sound: _Sound) -> None:
    criteria = doc.get("criteria")
    known = isinstance(criteria, list) and all(
        sound(("criteria", i, "code")) for i in range(len(criteria))
    )
    codes: list[str] | None = None
    if known and isinstance(criteria, list):
        codes = [c["code"] for c in criteria]
    for name in ("accept_rule", "reject_rule"):
        path: Path = ("protocol", name)
        if not sound(path):
            continue
        text = doc["protocol"][name].strip()
        if not text:
            continue
        try:
            consensus.DecisionRule.parse(accept=text)
        except ValueError as error:
            detail = str(error).removeprefix(f"accept rule {text!r}: ")
            problems.add(
                path,
                _(
                    "this rule cannot be read (%(detail)s). Write clauses such as "
                    "“acceptability = in” or “priority.median >= 7”, joined by AND or OR."
                )
                % {"detail": detail},
            )
            continue
        if codes is None:
            continue  # the criteria's codes are reported already
        for criterion in criteria_named(text):
            if criterion not in codes:
                problems.add(
                    path,
                    _(
                        "the rule names the criterion “%(name)s”, which the file does not "
                        "have; use one of: %(codes)s."
                    )
                    % {"name": criterion, "codes": ", ".join(codes)},
                )


def _check_items(
    items: list[Any], languages: list[str] | None, problems: _Problems, sound: _Sound
) -> None:
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        path: Path = ("items", index)
        if sound((*path, "code")):
            key = item["code"].casefold()
            if key in first:
                problems.add(
                    (*path, "code"),
                    _("items[%(first)d] already has the code “%(code)s”; give each item its own.")
                    % {"first": first[key] + 1, "code": item["code"]},
                )
            first.setdefault(key, index)
        if languages is not None and sound((*path, "text")):
            _require_languages(item["text"], languages, (*path, "text"), problems)
    if not all(sound(("items", i, "code")) for i in range(len(items))):
        return  # lineage is checked against codes that are all readable
    codes = {item["code"] for item in items}
    for index, item in enumerate(items):
        if not sound(("items", index, "derived_from")):
            continue
        for number, parent in enumerate(item["derived_from"]):
            path = ("items", index, "derived_from", number)
            if parent == item["code"]:
                problems.add(path, _("an item cannot derive from itself."))
            elif parent not in codes:
                problems.add(
                    path,
                    _("no item of the file has the code “%(code)s”; check the spelling.")
                    % {"code": parent},
                )


def _check_schedule(
    plan: Document, zone: ZoneInfo, problems: _Problems, now: datetime | None
) -> None:
    times: dict[str, datetime] = {}
    for name in ("opens_at", "closes_at"):
        value = plan[name]
        if value is None:
            continue
        path: Path = ("schedule", "round_1", name)
        parsed = _time(value, zone)
        if parsed is None:
            problems.add(path, _pattern_message(file_schema.TIME_PATTERN))
            continue
        times[name] = parsed
        if now is not None and parsed < now - timedelta(minutes=1):
            problems.add(
                path,
                _(
                    "this time has passed; change it, or write null and schedule round 1 "
                    "from the study's page."
                ),
            )
    opens, closes = times.get("opens_at"), times.get("closes_at")
    if opens and closes and closes <= opens:
        problems.add(
            ("schedule", "round_1", "closes_at"), _("the deadline must come after the opening.")
        )


def _time(value: str, zone: ZoneInfo) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _check_texts(doc: Document, problems: _Problems) -> None:
    """No control character in any text but line breaks and tabs (metadata aside)."""
    for path, value in _strings(doc, ()):
        if path[:1] == ("items",) and "metadata" in path:
            continue
        if _CONTROL.search(value):
            problems.add(path, _("this text contains a control character; remove it."))


def _strings(value: Any, path: Path) -> Iterable[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, sub in value.items():
            yield from _strings(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _strings(sub, (*path, index))


# --------------------------------------------------------------------------- normal form


def _normal_form(doc: Document) -> Document:
    """The document as `rounds.design.design_document` writes it for the study it creates."""
    study = doc["study"]
    languages = list(study["languages"])
    zone = ZoneInfo(study["time_zone"])
    plan = doc["schedule"]["round_1"]
    schedule: Document = {
        "round_1": {
            "opens_at": _normal_time(plan["opens_at"], zone),
            "closes_at": _normal_time(plan["closes_at"], zone),
            "reminders_days_before": sorted(
                (int(days) for days in plan["reminders_days_before"]), reverse=True
            ),
        }
    }
    if "round_0" in doc["schedule"]:
        schedule["round_0"] = {"question": texts(doc["schedule"]["round_0"]["question"],
                                                 languages)}  # fmt: skip
    return {
        "format_version": doc["format_version"],
        "study": {
            "slug": study["slug"],
            "title": texts(study["title"], languages),
            "description": texts(study["description"], languages),
            "languages": languages,
            "report_language": study["report_language"],
            "time_zone": study["time_zone"],
            "contact_name": study["contact_name"].strip(),
            "contact_email": study["contact_email"].strip(),
            "minutes_per_round": int(study["minutes_per_round"]),
        },
        "protocol": _normal_protocol(doc["protocol"]),
        "criteria": [_normal_criterion(c, languages) for c in doc["criteria"]],
        "items": [_normal_item(item, languages) for item in doc["items"]],
        "groups": list(doc["groups"]),
        "schedule": schedule,
        "record": {name: doc["record"][name].strip() for name in RECORD_FIELDS},
    }


def _normal_protocol(protocol: Document) -> Document:
    data = {name: protocol[name] for name in PROTOCOL_FIELDS}
    for name in ("quantile_type", "max_rounds", "min_group_size"):
        data[name] = int(data[name])
    data["accept_rule"] = data["accept_rule"].strip()
    data["reject_rule"] = data["reject_rule"].strip()
    data["stable_below"] = float(data["stable_below"])
    if protocol.get("realtime"):  # absent when false: classic studies keep their hash
        data["realtime"] = True
    return data


def _normal_criterion(criterion: Document, languages: list[str]) -> Document:
    lo, hi = int(criterion["scale"]["min"]), int(criterion["scale"]["max"])
    bands = criterion.get("bands")
    if bands is None:
        default = consensus.Scale.with_default_bands(lo, hi)
        low_max, high_min = default.low[1], default.high[0]
    else:
        low_max, high_min = int(bands["low_max"]), int(bands["high_min"])
    return {
        "code": criterion["code"],
        "name": texts(criterion["name"], languages),
        "question": texts(criterion["question"], languages),
        "scale": {"min": lo, "max": hi},
        "bands": {"low_max": low_max, "high_min": high_min},
        "rule": rule_label(criterion["rule"]),
        "anchors": anchors(criterion["anchors"], languages),
    }


def _normal_item(item: Document, languages: list[str]) -> Document:
    return {
        "code": item["code"],
        "domain": texts(item["domain"], languages),
        "text": texts(item["text"], languages),
        "source": item["source"],
        "reference": item["reference"].strip(),
        "derived_from": sorted(item["derived_from"]),
        "metadata": item["metadata"],
    }


def _normal_time(value: str | None, zone: ZoneInfo) -> str | None:
    parsed = _time(value, zone) if value is not None else None
    return local_time(parsed, zone)
