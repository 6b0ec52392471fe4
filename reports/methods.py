"""The facts behind the report's methods section, read from the protocol and the audit log.

The section covers the reporting items of ACCORD, CREDES and DELPHISTAR that the platform
records; the prose lives in `templates/reports/pdf/_methods.html`, this module only
gathers the values (no query: everything comes from `ReportData`).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from reports.selectors import CHARACTERISTICS, ReportData
from reports.stamp import SOFTWARE
from rounds import realtime
from rounds.models import AuditEntry, Item, Panelist, Protocol, StudyRecord
from rounds.version import __version__

Formatter = Callable[[datetime | None], str]


def methods_context(
    data: ReportData, when: Formatter, date: Formatter, flow: list[dict[str, Any]]
) -> dict[str, Any]:
    protocol = data.protocol
    return {
        "panel_size": len(data.panel),
        "groups": _shares(data.panel["group"].tolist(), empty=_("no group given")),
        "languages": _shares(
            [_language_name(code) for code in data.panel["language"].tolist()], empty=""
        ),
        "study_languages": ", ".join(_language_name(code) for code in data.study.languages),
        "report_language": _language_name(data.study.report_language),
        "minutes_per_round": data.study.minutes_per_round,
        "n_rounds": len(flow),
        "design": design(len(flow), protocol.max_rounds, len(data.items), len(data.criteria)),
        "max_rounds": protocol.max_rounds,
        "first_opened": flow[0]["opened"] if flow else "",
        "last_closed": flow[-1]["closed"] if flow else "",
        "n_items": len(data.items),
        "n_criteria": len(data.criteria),
        "locked_at": when(protocol.locked_at) if protocol.locked_at else "",
        "quantile": str(protocol.get_quantile_type_display()),
        "quantile_type": protocol.quantile_type,
        "accept_rule": protocol.accept_rule,
        "reject_rule": protocol.reject_rule,
        "stable_below": protocol.stable_below,
        "rand_half_points": protocol.rand_half_points,
        "allow_dont_know": protocol.allow_dont_know,
        "require_comment": protocol.require_comment_outside_iqr,
        "randomise": protocol.randomise_items,
        "feedback": _feedback(protocol),
        "rewordings": _rewordings(data),
        "overrides": _overrides(data),
        "changes": _changes(data, when),
        "record": record_sections(data.record),
        "sources": item_sources(data),
        "characteristics": characteristics(data),
        "min_group": protocol.min_group_size,
        "checklist": _checklist(data.record),
        "realtime": protocol.realtime,
        "snapshots": len(data.snapshots),
    }


def movement(data: ReportData, when: Formatter) -> dict[str, Any] | None:
    """Real-time mode: the median of every (item, criterion) at each snapshot, and its
    percent change since the snapshot before the last (METHODS §4 between snapshots)."""
    if not data.protocol.realtime:
        return None
    names = {c.code: c.text(data.study.report_language) for c in data.criteria}
    rows = [
        {
            "code": m.item,
            "criterion": names.get(m.criterion, m.criterion),
            "medians": ["–" if v is None else f"{v:g}" for v in m.medians],
            "pct_change": "–" if m.pct_change is None else f"{m.pct_change:.1f}",
            "stable": m.stable,
        }
        for m in realtime.movements(data.snapshots)
    ]
    return {
        "snapshots": [{"at": when(s.at), "kind": s.get_kind_display()} for s in data.snapshots],
        "rows": rows,
        "unstable": sum(1 for r in rows if r["stable"] is False),
    }


def design(rounds: int, most: int, items: int, criteria: int) -> str:
    """ "An online Delphi survey of 2 rounds (at most 3 under the protocol)..." with plurals."""
    return _(
        "An online Delphi survey of %(rounds)s (at most %(most)s under the protocol), run on "
        "the %(software)s, version %(version)s. Panelists rated %(items)s on %(criteria)s."
    ) % {
        "rounds": ngettext("%(n)d round", "%(n)d rounds", rounds) % {"n": rounds},
        "most": ngettext("%(n)d round", "%(n)d rounds", most) % {"n": most},
        "software": SOFTWARE,
        "version": __version__,
        "items": ngettext("%(n)d item", "%(n)d items", items) % {"n": items},
        "criteria": ngettext("%(n)d criterion", "%(n)d criteria", criteria) % {"n": criteria},
    }


def _text(record: StudyRecord | None, name: str) -> str:
    return str(getattr(record, name, "") or "").strip() if record is not None else ""


def record_sections(record: StudyRecord | None) -> dict[str, list[dict[str, str]]]:
    """The study record by methods subsection: each field's label and text ("" when not
    recorded; the template prints "not recorded")."""
    sections = {
        "items": ["items_origin", "evidence", "piloting"],
        "panel": ["eligibility", "sampling_frame", "recruitment", "non_response",
                  "panel_size_rationale", "steering_group"],
        "rule": ["decision_rule_rationale"],
        "recommendations": ["recommendations_drafting", "recommendations_validation"],
        "limitations": ["limitations"],
        "ethics": ["ethics", "funding", "conflicts_of_interest"],
        "simulation": ["simulation"],
    }  # fmt: skip
    return {
        key: [
            {
                "label": _field_label(StudyRecord, name),
                "text": _text(record, name),
            }
            for name in names
        ]
        for key, names in sections.items()
    }


def _field_label(model: Any, name: str) -> str:
    text = str(getattr(model._meta.get_field(name), "verbose_name", name))
    return text[:1].upper() + text[1:]


def item_sources(data: ReportData) -> dict[str, Any]:
    """How many items came from each source, and each item's source and reference."""
    labels = dict(Item.Source.choices)
    counts = Counter(item.source for item in data.items)
    return {
        "counts": [
            {"label": str(labels.get(code, _("not recorded"))), "n": counts[code]}
            for code in [*Item.Source.values, ""]
            if counts[code]
        ],
        "recorded": any(item.source or item.reference for item in data.items),
    }


YEAR_BANDS = [(0, 9), (10, 19), (20, 29), (30, None)]


def characteristics(data: ReportData) -> dict[str, Any]:
    """Panel characteristics per round among those who responded: counts per category,
    for panelists who consented; a count below the protocol's smallest group size is
    shown as "< k", never exactly (anonymity)."""
    k = data.protocol.min_group_size
    part = data.participation
    submitted = part[part["status"] == "submitted"]
    rounds = sorted(set(submitted["round"].tolist()))
    panel = data.panel.set_index("pseudonym")
    rows: list[dict[str, Any]] = []
    if panel.empty or not panel["characteristics_consent"].astype(bool).any():
        return {"rounds": rounds, "rows": [], "k": k}
    for name in CHARACTERISTICS:
        values = panel.apply(lambda p, name=name: _category(p, name), axis=1)
        per_round = {r: Counter(values.reindex(submitted.loc[submitted["round"] == r,
                                                             "panelist"]).tolist())
                     for r in rounds}  # fmt: skip
        categories = sorted({c for counts in per_round.values() for c in counts if c})
        if not categories:
            continue  # nobody gave this characteristic
        label = _field_label(Panelist, name)
        for i, category in enumerate([*categories, ""]):
            cells = [_anonymous(per_round[r].get(category, 0), k) for r in rounds]
            if category or any(per_round[r].get("", 0) for r in rounds):
                rows.append(
                    {
                        "attribute": label if i == 0 else "",
                        "category": category or _("not given"),
                        "cells": cells,
                    }
                )
    return {"rounds": rounds, "rows": rows, "k": k}


def _category(panelist: Any, name: str) -> str:
    if not panelist["characteristics_consent"]:
        return ""
    value = panelist[name]
    if name != "years_in_practice":
        return str(value or "").strip()
    if value is None or value != value:
        return ""
    years = int(value)
    lo, hi = next((lo, hi) for lo, hi in YEAR_BANDS if hi is None or years <= hi)
    return f"{lo}–{hi}" if hi is not None else _("%(n)d or more") % {"n": lo}


def _anonymous(n: int, k: int) -> str:
    return str(n) if n == 0 or n >= k else f"< {k}"


def _shares(values: list[str], *, empty: str) -> list[dict[str, Any]]:
    counts = Counter(value or empty for value in values)
    total = sum(counts.values())
    return [
        {"label": label, "n": n, "pct": round(100 * n / total) if total else 0}
        for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _language_name(code: str) -> str:
    names = {key: str(name) for key, name in settings.LANGUAGES}
    return names.get(code, code)


def _feedback(protocol: Protocol) -> list[str]:
    shown = []
    if protocol.show_distribution:
        shown.append(_("the distribution of the panel's ratings, with the median and the IQR"))
    if protocol.show_own_rating:
        shown.append(_("their own rating in the previous round"))
    if protocol.show_comments:
        shown.append(_("the panel's comments, anonymous"))
    if protocol.show_groups:
        shown.append(
            _("the distribution per stakeholder group, for groups of at least %(n)d members")
            % {"n": protocol.min_group_size}
        )
    shown.append(_("the consensus status of each criterion"))
    return shown


def _rewordings(data: ReportData) -> list[dict[str, Any]]:
    """Items whose wording changed between rounds."""
    language = data.study.report_language
    changed = []
    for item in data.items:
        round_items = data.round_items.get(item.pk, [])
        for before, after in itertools.pairwise(round_items):
            if before.text != after.text:
                changed.append(
                    {
                        "code": item.code,
                        "round": after.round.number,
                        "before": before.label(language),
                        "after": after.label(language),
                    }
                )
    return changed


def _overrides(data: ReportData) -> list[dict[str, Any]]:
    """Decisions a coordinator changed from the computed one, with the reason given."""
    where = {
        ri.pk: (item.code, ri.round.number)
        for item in data.items
        for ri in data.round_items.get(item.pk, [])
    }
    rows = []
    for ri_id, decision in data.decisions.items():
        if decision.decision == decision.computed or ri_id not in where:
            continue
        code, number = where[ri_id]
        rows.append(
            {
                "code": code,
                "round": number,
                "computed": decision.get_computed_display(),
                "decision": decision.get_decision_display(),
                "reason": decision.override_reason,
            }
        )
    return sorted(rows, key=lambda r: (r["round"], r["code"]))


def _changes(data: ReportData, when: Formatter) -> list[dict[str, Any]]:
    """Protocol changes recorded after the protocol was locked."""
    locked = data.protocol.locked_at
    if locked is None:
        return []
    return [_change_row(entry, when) for entry in data.protocol_changes if entry.at >= locked]


def _change_row(entry: AuditEntry, when: Formatter) -> dict[str, Any]:
    before = entry.before if isinstance(entry.before, dict) else {}
    after = entry.after if isinstance(entry.after, dict) else {}
    return {
        "at": when(entry.at),
        "fields": [
            {
                "name": _field_name(name),
                "before": _value(before.get(name)),
                "after": _value(after.get(name)),
            }
            for name in sorted(set(before) | set(after))
        ],
        "reason": entry.reason,
    }


def _field_name(name: str) -> str:
    try:
        return str(getattr(Protocol._meta.get_field(name), "verbose_name", name))
    except FieldDoesNotExist:
        return name


def _value(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def _checklist(record: StudyRecord | None) -> list[dict[str, str]]:
    """Reporting items of ACCORD, CREDES and DELPHISTAR and where this report covers them."""
    methods, flow = _("Methods"), _("Participant flow")
    yes, partly, no = "yes", "partly", "no"

    def given(*names: str) -> str:
        filled = [bool(_text(record, name)) for name in names]
        return yes if all(filled) else partly if any(filled) else no

    rows = [
        (_("Panel composition: size, stakeholder groups, languages"), methods, yes),
        (
            _("Identification and selection of panelists"),
            methods,
            given("eligibility", "sampling_frame", "recruitment", "panel_size_rationale"),
        ),
        (_("Non-response of those invited"), methods, given("non_response")),
        (
            _("Where the items came from, evidence given, piloting"),
            methods,
            given("items_origin", "evidence", "piloting"),
        ),
        (_("Number of rounds, their dates and the items in each"), methods, yes),
        (_("Response rate and drop-outs in each round"), flow, yes),
        (_("Items: wording in each round and changes between rounds"), _("Appendix"), partly),
        (_("Rating scale, criteria and their bands"), methods, yes),
        (_("Definition of consensus, set before round 1"), methods, yes),
        (_("Item decision rule and stopping rule"), methods, yes),
        (_("Feedback given to panelists between rounds"), methods, yes),
        (_("Statistical analysis, including the quantile method"), methods, yes),
        (_("Changes to the protocol after it was locked"), methods, yes),
        (_("Stability of the ratings between rounds"), _("Stability between rounds"), yes),
        (
            _("Sensitivity of the results to the consensus definition"),
            _("Sensitivity of the verdicts"),
            yes,
        ),
        (_("Attrition: did those who dropped out rate differently?"), _("Attrition"), yes),
        (_("Anonymity of the panelists"), methods, yes),
        (_("Software and version"), methods, yes),
        (_("Rationale of the consensus definition"), methods, given("decision_rule_rationale")),
        (
            _("Who drafted the recommendations and how they were validated"),
            methods,
            given("recommendations_drafting", "recommendations_validation"),
        ),
        (_("Limitations"), methods, given("limitations")),
        (_("Steering group"), methods, given("steering_group")),
        (
            _("Ethics review, funding, conflicts of interest"),
            methods,
            given("ethics", "funding", "conflicts_of_interest"),
        ),
    ]
    labels = {yes: _("recorded"), partly: _("partly recorded"), no: _("not recorded")}
    return [
        {"topic": topic, "where": where, "status": status, "status_label": labels[status]}
        for topic, where, status in rows
    ]
