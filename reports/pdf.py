"""The study report as a PDF: title page, protocol summary, then one page per item.

Written in the study's report language. The data are read in a fixed number of queries
whatever the number of items, rounds or criteria (`_load`), then shaped into plain rows
for the template (`report_context`) and rendered by WeasyPrint.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format, get_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from weasyprint import CSS, HTML

import delphi
from panelists.models import Participation
from reports import charts
from rounds.models import Criterion, Item, ItemDecision, Result, Round, RoundItem, Study
from rounds.services import protocol_hash

FRAGILE_MARGIN = 2  # METHODS.md §5: reports flag verdicts that hang on one or two votes


@dataclass
class _Data:
    """Everything the report shows, fetched once."""

    criteria: list[Criterion]
    items: list[Item]
    rounds: list[Round]
    round_items: dict[int, list[RoundItem]]  # item id → its round items, by round number
    results: dict[tuple[int, int], Result]  # (round item id, criterion id) → result
    decisions: dict[int, ItemDecision]  # round item id → decision
    flow: list[tuple[str, int, int]] = field(default_factory=list)


def render_report_pdf(study: Study) -> bytes:
    """The study report as PDF bytes, in the study's report language."""
    with translation.override(study.report_language):
        html = render_to_string("reports/pdf/report.html", report_context(study))
        css = render_to_string("reports/pdf/report.css")
    pdf = HTML(string=html).write_pdf(stylesheets=[CSS(string=css)], pdf_tags=True)
    assert pdf is not None  # write_pdf returns bytes when no target is given
    return pdf


def report_context(study: Study) -> dict[str, Any]:
    """The template's context; call it inside the report language."""
    language = study.report_language
    protocol = study.protocol
    data = _load(study)
    return {
        "study": study,
        "title": study.text("title", language),
        "description": study.text("description", language),
        "language": language,
        "generated_at": _when(timezone.now(), study),
        "software_version": delphi.__version__,
        "protocol": protocol,
        "quantile_method": protocol.get_quantile_type_display(),
        "protocol_hash": protocol_hash(protocol),
        "criteria": [_criterion_row(c, language) for c in data.criteria],
        "locked_at": _when(protocol.locked_at, study) if protocol.locked_at else "",
        "stable_below": number(protocol.stable_below),
        "accept_rule": protocol.accept_rule,
        "reject_rule": protocol.reject_rule,
        "flow_svg": _safe(charts.flow_svg(data.flow, labels=_chart_words())) if data.flow else "",
        "items": [_item_page(item, data, language) for item in data.items],
        "fragile_margin": FRAGILE_MARGIN,
    }


def _when(moment: datetime, study: Study) -> str:
    local = timezone.localtime(moment, ZoneInfo(study.time_zone))
    return f"{date_format(local, 'DATETIME_FORMAT')} ({study.time_zone})"


def _load(study: Study) -> _Data:
    criteria = list(study.criteria.all())
    items = list(study.items.order_by("position", "code"))
    rounds = list(study.rounds.order_by("number"))
    # Labels fall back on the study's languages: share the one study, no query per row.
    for criterion in criteria:
        criterion.study = study
    for item in items:
        item.study = study
    for round in rounds:
        round.study = study
    rounds_by_id = {r.pk: r for r in rounds}
    round_items: dict[int, list[RoundItem]] = defaultdict(list)
    for ri in RoundItem.objects.filter(round__study=study).order_by("round__number"):
        ri.round = rounds_by_id[ri.round_id]
        round_items[ri.item_id].append(ri)
    results = {
        (res.round_item_id, res.criterion_id): res
        for res in Result.objects.filter(round__study=study)
    }
    decisions = {d.round_item_id: d for d in ItemDecision.objects.filter(round__study=study)}
    return _Data(criteria, items, rounds, round_items, results, decisions, _flow(rounds))


def _flow(rounds: list[Round]) -> list[tuple[str, int, int]]:
    """(label, invited, responded) for every round put to the panel."""
    counts: dict[int, tuple[int, int]] = {
        row["round"]: (row["invited"], row["responded"])
        for row in Participation.objects.filter(round__in=rounds)
        .values("round")
        .annotate(
            invited=Count("id"),
            responded=Count("id", filter=Q(status=Participation.Status.SUBMITTED)),
        )
    }
    return [
        (_("Round %(n)d") % {"n": r.number}, *counts.get(r.pk, (0, 0)))
        for r in rounds
        if r.state != Round.State.DRAFT
    ]


def _criterion_row(criterion: Criterion, language: str) -> dict[str, str]:
    lo, hi = criterion.scale_min, criterion.scale_max
    return {
        "code": criterion.code,
        "name": criterion.text(language),
        "scale": f"{lo}{charts.DASH}{hi}",
        "low": _range(lo, criterion.low_max),
        "mid": _range(criterion.low_max + 1, criterion.high_min - 1),
        "high": _range(criterion.high_min, hi),
        "rule": rule_label(criterion.rule),
    }


def _item_page(item: Item, data: _Data, language: str) -> dict[str, Any]:
    round_items = data.round_items.get(item.pk, [])
    rated = [ri for ri in round_items if _has_results(ri, data)]
    label = item.label(language)
    wordings = _wordings(round_items, language)
    return {
        "code": item.code,
        "label": label,
        "domain": item.domain_label(language),
        "wordings": wordings,
        "show_wordings": len(wordings) > 1 or any(w["text"] != label for w in wordings),
        "rows": [
            _result_row(ri, criterion, data.results[(ri.pk, criterion.pk)], language)
            for ri in rated
            for criterion in data.criteria
            if (ri.pk, criterion.pk) in data.results
        ],
        "decisions": [
            _decision_row(ri, data.decisions[ri.pk])
            for ri in round_items
            if ri.pk in data.decisions
        ],
        "charts": _histograms(rated[-1], data, language) if rated else [],
        "final_round": rated[-1].round.number if rated else None,
    }


def _has_results(ri: RoundItem, data: _Data) -> bool:
    return any((ri.pk, c.pk) in data.results for c in data.criteria)


def _wordings(round_items: list[RoundItem], language: str) -> list[dict[str, Any]]:
    """Round 1's wording, then each later round's only where it changed."""
    shown: list[dict[str, Any]] = []
    previous = None
    for ri in round_items:
        text = ri.label(language)
        if text != previous:
            shown.append({"round": ri.round.number, "text": text, "changed": previous is not None})
        previous = text
    return shown


def _result_row(ri: RoundItem, criterion: Criterion, res: Result, language: str) -> dict[str, Any]:
    return {
        "round": ri.round.number,
        "criterion": criterion.text(language),
        "n": res.n,
        "n_missing": res.n_missing,
        "mean": number(res.mean, 2, strip=False),
        "sd": number(res.sd, 2, strip=False),
        "median": number(res.median),
        "q1": number(res.q1),
        "q3": number(res.q3),
        "iqr": number(res.iqr),
        "pct_low": number(res.pct_low, 1, strip=False),
        "pct_mid": number(res.pct_mid, 1, strip=False),
        "pct_high": number(res.pct_high, 1, strip=False),
        "consensus": consensus_label(res.consensus),
        "consensus_code": res.consensus,
        "rule": rule_label(res.rule, short=True),
        "margin": "" if res.margin is None else str(res.margin),
        "fragile": res.margin is not None and res.margin <= FRAGILE_MARGIN,
    }


def _decision_row(ri: RoundItem, decision: ItemDecision) -> dict[str, Any]:
    overridden = decision.decision != decision.computed
    return {
        "round": ri.round.number,
        "decision": decision.get_decision_display(),
        "code": decision.decision,
        "computed": decision.get_computed_display() if overridden else "",
        "reason": decision.override_reason if overridden else "",
    }


def _histograms(ri: RoundItem, data: _Data, language: str) -> list[dict[str, Any]]:
    shown = []
    for criterion in data.criteria:
        res = data.results.get((ri.pk, criterion.pk))
        if res is None:
            continue
        name = criterion.text(language)
        svg = charts.histogram_svg(
            res.counts,
            scale_min=criterion.scale_min,
            median=res.median,
            q1=res.q1,
            q3=res.q3,
            bands=(criterion.low_max, criterion.high_min),
            title=_("%(criterion)s, round %(n)d") % {"criterion": name, "n": ri.round.number},
            labels=_chart_words(),
        )
        shown.append({"criterion": name, "svg": _safe(svg)})
    return shown


def _safe(svg: str) -> SafeString:
    """Chart output escapes every text it draws, so it can go into HTML as is."""
    return mark_safe(svg)


def _chart_words() -> dict[str, str]:
    return {
        "median": _("median"),
        "iqr": _("IQR"),
        "your_rating": _("your rating"),
        "distribution": _("Distribution of ratings"),
        "participant_flow": _("Participant flow"),
        "invited": _("invited"),
        "responded": _("responded"),
        "decimal_separator": str(get_format("DECIMAL_SEPARATOR")),
    }


def number(value: float | None, places: int = 2, *, strip: bool = True) -> str:
    """A statistic as printed in the report: 8 / 6.5 / 5.25 (or 7.00 with strip=False),
    with the active language's decimal separator; an en dash when empty."""
    if value is None:
        return charts.DASH
    text = f"{value:.{places}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", str(get_format("DECIMAL_SEPARATOR")))


def consensus_label(code: str) -> str:
    labels = {"in": _("in"), "out": _("out"), "none": _("none")}
    return labels.get(code, code)


def rule_label(rule: str, *, short: bool = False) -> str:
    """A consensus rule code (percent:75, comet, rand, iqr:2) in words."""
    kind, _sep, arg = rule.partition(":")
    if kind == "percent":
        return f"{arg}%" if short else _("percent agreement, at least %(t)s%%") % {"t": arg}
    if kind == "comet":
        return "COMET" if short else _("COMET/GRADE 70/15")
    if kind == "rand":
        return "RAND" if short else _("RAND/UCLA with IPRAS")
    if kind == "iqr":
        return f"IQR ≤ {arg}" if short else _("IQR at most %(k)s, median in a band") % {"k": arg}
    return rule


def _range(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}{charts.DASH}{hi}"
