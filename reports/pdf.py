"""The final report as a tagged PDF (PDF/UA-1), in the study's report language.

Title page with the reproducibility stamp, table of contents, summary, methods generated
from the locked protocol and the audit log, participant flow, results per round, priority
matrix, stability, sensitivity, attrition, one sheet per recommendation and an appendix
with every item's results.

The data are read in a fixed number of queries (`reports.selectors.report_data`), shaped
into plain rows here (`report_context`, pure formatting: no query) and rendered by
WeasyPrint with one shared stylesheet.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format, get_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher

from reports import methods, parts, pydyf_fix  # noqa: F401  (pydyf_fix: on import)
from reports.collector import rare_collections
from reports.markup import render_markdown
from reports.selectors import ReportData, report_data
from reports.stamp import Stamp, build_stamp, design_changed
from rounds import charts, consensus, dispositions, explain, formatting
from rounds.csvio import ratings_csv
from rounds.models import (
    Criterion,
    Item,
    ItemDecision,
    Proposal,
    Result,
    Round,
    RoundItem,
    Study,
)

PARALLEL_FROM = 20  # sheets: below, one process lays the report out faster than several
FRAGILE_MARGIN = 2  # METHODS.md §5: reports flag verdicts that hang on one or two votes
PDF_OPTIONS: dict[str, Any] = {"pdf_variant": "pdf/ua-1"}  # tagged, for screen readers
MAX_DISSENT = 3  # dissenting comments quoted per item on a sheet; all are in comments.csv
MAX_SUMMARY_ITEMS = 20
MAX_ATTRITION_ITEMS = 10
RULE_COLUMNS = [rule.label for rule in consensus.ALL_RULES]

Progress = Callable[[int, str], None]


def _no_progress(percent: int, step: str) -> None:
    return None


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Report:
    pdf: bytes
    summary: dict[str, Any]  # what the policy space shows, JSON-safe


def render_report_pdf(
    study: Study, *, stamp: Stamp | None = None, progress: Progress | None = None
) -> bytes:
    """The report as PDF bytes. ``progress(percent, step)`` is told how far it got."""
    with translation.override(study.report_language):
        data = report_data(study)
        stamp = stamp or build_stamp(study, ratings_csv(data.ratings))
        return build_report(data, stamp, progress=progress).pdf


def report_html(study: Study, *, stamp: Stamp | None = None) -> str:
    """The report's HTML, as handed to WeasyPrint (for the benchmark and the tests)."""
    with translation.override(study.report_language):
        data = report_data(study)
        stamp = stamp or build_stamp(study, ratings_csv(data.ratings))
        return render_to_string("reports/pdf/report.html", report_context(data, stamp))


def build_report(data: ReportData, stamp: Stamp, *, progress: Progress | None = None) -> Report:
    """The PDF and the policy-space summary from loaded data; inside the report language."""
    progress = progress or _no_progress
    progress(8, _("Writing the report"))
    report = _Report(data, stamp)
    with rare_collections():
        if len(data.recommendations) >= PARALLEL_FROM and parts.workers() > 1:
            # The layout processes start first: their start-up overlaps the context.
            with parts.started(parts.workers()) as procs:
                context = report_context(data, stamp, report)
                pdf = parallel_pdf(context, progress, procs)
            return Report(pdf=pdf, summary=report.policy_summary())
        context = report_context(data, stamp, report)
        html = render_to_string("reports/pdf/report.html", context)
        pages = expected_pages(len(data.recommendations), len(data.items))
        pdf = html_to_pdf(html, progress=progress, expected_pages=pages)
    return Report(pdf=pdf, summary=report.policy_summary())


def parallel_pdf(context: dict[str, Any], progress: Progress, procs: list[parts.Worker]) -> bytes:
    """The report laid out in parts by the started layout processes (`reports.parts`)."""
    study = context["study"]
    style = functools.partial(
        page_style, context["title"], stamp_line(context["stamp"]), study.is_simulated
    )
    css_text = render_to_string("reports/pdf/report.css")
    return parts.render(context, css_text, PDF_OPTIONS, style, progress, procs)


def html_to_pdf(html: str, *, progress: Progress | None = None, expected_pages: int = 0) -> bytes:
    """WeasyPrint with the shared stylesheet; the layout (most of the time) reports its
    progress page by page, scaled on ``expected_pages``."""
    progress = progress or _no_progress
    progress(15, _("Laying out the pages"))
    with _layout_progress(progress, expected_pages):
        document = HTML(string=html, url_fetcher=_fetcher()).render(
            stylesheets=[stylesheet()], **PDF_OPTIONS
        )
    progress(75, _("Writing the PDF"))
    pdf = document.write_pdf(**PDF_OPTIONS)
    assert pdf is not None  # write_pdf returns bytes when no target is given
    return bytes(pdf)


def expected_pages(n_sheets: int, n_items: int) -> int:
    """A rough page count, to turn "page 57 laid out" into a percentage."""
    return 14 + round(n_sheets * 1.4) + n_items // 3


class _PageCounter(logging.Handler):
    """Turns WeasyPrint's "Step 5 - Creating layout - Page N" messages into progress."""

    def __init__(self, progress: Progress, expected: int) -> None:
        super().__init__(logging.INFO)
        self.progress, self.expected, self.seen, self.shown = progress, max(expected, 1), 0, 15

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith("Step 5") or not record.args:
            return
        self.seen = max(self.seen, int(record.args[0]))  # type: ignore[index, call-overload]
        percent = 15 + int(58 * min(self.seen / self.expected, 1.0))
        if percent > self.shown:
            self.shown = percent
            self.progress(percent, _("Laying out the pages (%(n)d)") % {"n": self.seen})


@contextlib.contextmanager
def _layout_progress(progress: Progress, expected: int) -> Iterator[None]:
    if progress is _no_progress or expected <= 0:
        yield
        return
    logger = logging.getLogger("weasyprint.progress")
    handler = _PageCounter(progress, expected)
    saved = (logger.level, logger.propagate)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # keep these INFO lines out of the application's log
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


@functools.cache
def stylesheet() -> CSS:
    """The report's stylesheet, parsed once per process."""
    return CSS(string=render_to_string("reports/pdf/report.css"), url_fetcher=_fetcher())


def _fetcher() -> URLFetcher:
    """The report embeds everything it shows; it never fetches a file or a URL."""
    return URLFetcher(allowed_protocols=["data"])


# --------------------------------------------------------------------------- context


@dataclass
class _ItemView:
    item: Item
    round_items: list[RoundItem]
    rated: list[RoundItem]  # round items with results, by round

    @property
    def final(self) -> RoundItem | None:
        return self.rated[-1] if self.rated else None


class _Report:
    """Shapes `ReportData` into template rows; formatting only, no query."""

    def __init__(self, data: ReportData, stamp: Stamp) -> None:
        self.data = data
        self.stamp = stamp
        self.language = data.study.report_language
        self.criteria = data.criteria
        self.names = {c.pk: c.text(self.language) for c in data.criteria}
        self.views = {
            item.pk: _ItemView(
                item,
                data.round_items.get(item.pk, []),
                [ri for ri in data.round_items.get(item.pk, []) if self._has_results(ri)],
            )
            for item in data.items
        }
        self.put_rounds = [r for r in data.rounds if r.state != Round.State.DRAFT]
        self.round_numbers = {r.pk: r.number for r in data.rounds}
        self.comments = _group_comments(data.comments)
        self._flow: list[dict[str, Any]] | None = None
        self._sheets: list[dict[str, Any]] | None = None
        self.rule = data.protocol.decision_rule()
        self.codes = {item.pk: item.code for item in data.items}
        self._verdicts: dict[int, dict[str, Any]] = {}
        self.decision_margins = _decision_margins(data, self.rule)
        self.names_by_code = {c.code: c.text(self.language) for c in data.criteria}
        rules = f"{data.protocol.accept_rule} {data.protocol.reject_rule}"
        self.limits = {c.code: formatting.decision_thresholds(rules, c.code) for c in data.criteria}

    def change(self, value: float | None) -> str:
        """A percent change, never rounded across the protocol's "stable below"."""
        separator = str(get_format("DECIMAL_SEPARATOR"))
        limits = [self.data.protocol.stable_below]
        return formatting.bounded(value, limits, decimal_separator=separator)

    def share(self, res: Result, band: str = "high", places: int = 0) -> str:
        """A share of ``res``'s ratings, never rounded across a threshold it is judged by."""
        return share_text(res, band, places, self.limits.get(res.stats.get("criterion", ""), ()))

    def _has_results(self, ri: RoundItem) -> bool:
        return any((ri.pk, c.pk) in self.data.results for c in self.criteria)

    def result(self, ri: RoundItem, criterion: Criterion) -> Result | None:
        return self.data.results.get((ri.pk, criterion.pk))

    def final_decision(self, view: _ItemView) -> ItemDecision | None:
        decided = [self.data.decisions[ri.pk] for ri in view.rated if ri.pk in self.data.decisions]
        return decided[-1] if decided else None

    def basis(self, ri: RoundItem, *, context: bool = True) -> str:
        """Which clauses of the decision rule decided this round's computed decision (and,
        with ``context``, which other clauses of the accept rule held)."""
        decision = self.data.decisions.get(ri.pk)
        if decision is None:
            return ""
        results = [r for c in self.criteria if (r := self.result(ri, c)) is not None]
        found = explain.results_basis(results, self.rule, decision.computed)
        return explain.phrase(found, self.names_by_code, context=context)

    def decision_margin(self, ri: RoundItem) -> str:
        """The margin of the item's decision after ``ri``'s round, "!" when fragile."""
        found = self.decision_margins.get((ri.round.number, self.codes[ri.item_id]))
        if found is None:
            return DASH
        return f"{found}{' !' if found <= FRAGILE_MARGIN else ''}"

    def verdict(self, view: _ItemView) -> dict[str, Any]:
        """An item's final disposition and its basis, as a sheet lists it."""
        if view.item.pk not in self._verdicts:
            self._verdicts[view.item.pk] = self._verdict(view)
        return self._verdicts[view.item.pk]

    def _verdict(self, view: _ItemView) -> dict[str, Any]:
        decision = self.final_decision(view)
        decided = next((ri for ri in reversed(view.rated) if ri.pk in self.data.decisions), None)
        return {
            "code": view.item.code,
            "label": (view.final or view.item).label(self.language),
            "decision": decision.get_decision_display() if decision else _("Not yet decided"),
            "decision_code": decision.decision if decision else "",
            "round": decided.round.number if decided else None,
            "basis": self.basis(decided) if decided else "",
            "overridden": bool(decision and decision.decision != decision.computed),
            "reason": decision.override_reason if decision else "",
            "accepted": bool(decision and decision.decision == ItemDecision.Decision.ACCEPTED),
        }

    # ------------------------------------------------------------------ summary

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = defaultdict(int)
        for view in self.views.values():
            decision = self.final_decision(view)
            counts[decision.decision if decision else "pending"] += 1
        order = [*ItemDecision.Decision.values, "pending"]
        labels = {**dict(ItemDecision.Decision.choices), "pending": _("Not yet decided")}
        accepted = [v for v in self.views.values() if self._decision_code(v) == "accepted"]
        accepted.sort(key=lambda v: tuple(-(self._median(v, c) or 0) for c in self._ranking()))
        return {
            "overview": overview(len(self.data.panel), len(self.data.items), len(self.put_rounds)),
            "decisions": [
                {"code": code, "label": labels[code], "count": counts[code]}
                for code in order
                if counts.get(code)
            ],
            "n_items": len(self.data.items),
            "n_rounds": len(self.put_rounds),
            "n_panel": len(self.data.panel),
            "accepted": [self._summary_row(v) for v in accepted[:MAX_SUMMARY_ITEMS]],
            "accepted_more": max(len(accepted) - MAX_SUMMARY_ITEMS, 0),
            "ranking": [self.names[c.pk] for c in self._ranking()],
            "supported": [sheet for sheet in self.sheets() if sheet["supported"]],
            "unsupported": [sheet for sheet in self.sheets() if not sheet["supported"]],
        }

    def _decision_code(self, view: _ItemView) -> str:
        decision = self.final_decision(view)
        return decision.decision if decision else ""

    def _ranking(self) -> list[Criterion]:
        """Accepted items are listed by priority first when the study rates priority."""
        return sorted(self.criteria, key=lambda c: (c.code != "priority", c.position))

    def _median(self, view: _ItemView, criterion: Criterion) -> float | None:
        res = self.result(view.final, criterion) if view.final else None
        return res.median if res else None

    def _summary_row(self, view: _ItemView) -> dict[str, Any]:
        return {
            "code": view.item.code,
            "label": view.item.label(self.language),
            "medians": [number(self._median(view, c)) for c in self.criteria],
        }

    # ------------------------------------------------------------------ flow

    def flow(self) -> list[dict[str, Any]]:
        if self._flow is None:
            self._flow = self._compute_flow()
        return self._flow

    def _compute_flow(self) -> list[dict[str, Any]]:
        part = self.data.participation
        submitted = part[part["status"] == "submitted"]
        rows: list[dict[str, Any]] = []
        previous: set[str] | None = None
        for rnd in self.put_rounds:
            invited = int((part["round"] == rnd.number).sum())
            answered = set(submitted.loc[submitted["round"] == rnd.number, "panelist"])
            dropped = len(previous - answered) if previous is not None else None
            rows.append(
                {
                    "round": rnd.number,
                    "label": _("Round %(n)d") % {"n": rnd.number},
                    "invited": invited,
                    "responded": len(answered),
                    "rate": percent(len(answered), invited),
                    "dropouts": dropped,
                    "opened": self.date(rnd.opened_at),
                    "closed": self.date(rnd.closed_at),
                    "items": sum(
                        1
                        for v in self.views.values()
                        for ri in v.round_items
                        if ri.round_id == rnd.pk
                    ),
                }
            )
            previous = answered
        return rows

    def round0(self) -> dict[str, Any] | None:
        """Round 0 (the panel's proposals) in the flow, the methods and the appendix."""
        found = self.data.round0
        if found is None:
            return None
        flow = found.flow
        outcomes = dict(Proposal.Status.choices)
        return {
            "label": _("Round 0 (proposals)"),
            "invited": flow.invited,
            "responded": flow.answered,
            "rate": percent(flow.answered, flow.invited),
            "opened": self.date(found.opened_at),
            "closed": self.date(found.closed_at),
            "flow": vars(flow),
            "note": ngettext(
                "%(n)d proposal, %(a)d accepted as items",
                "%(n)d proposals, %(a)d accepted as items",
                flow.proposals,
            )
            % {"n": flow.proposals, "a": flow.items},
            "rows": [
                {**vars(row), "outcome": str(outcomes.get(row.status, row.status))}
                for row in found.rows
            ],
        }

    def flow_svg(self, rows: list[dict[str, Any]]) -> SafeString:
        if not rows:
            return mark_safe("")
        zero = self.round0()
        first = [zero] if zero else []
        return _safe(
            charts.flow_svg(
                [(r["label"], r["invited"], r["responded"]) for r in first + rows],
                dropouts=[None for _ in first] + [r["dropouts"] for r in rows],
                notes=[r["note"] for r in first] + [None for _ in rows],
                labels=chart_words(),
            )
        )

    # ------------------------------------------------------------------ results by round

    def round_tables(self) -> list[dict[str, Any]]:
        tables = []
        for rnd in self.put_rounds:
            rows = []
            for view in self.views.values():
                ri = next((r for r in view.rated if r.round_id == rnd.pk), None)
                if ri is None:
                    continue
                decision = self.data.decisions.get(ri.pk)
                rows.append(
                    {
                        "code": view.item.code,
                        "label": ri.label(self.language),
                        "cells": [self._cell(self.result(ri, c)) for c in self.criteria],
                        "decision": decision.get_decision_display() if decision else "",
                        "decision_code": decision.decision if decision else "",
                        "basis": self.basis(ri, context=False),
                        "margin": self.decision_margin(ri),
                    }
                )
            if rows:
                tables.append({"round": rnd.number, "rows": rows})
        return tables

    def _cell(self, res: Result | None) -> dict[str, Any]:
        if res is None:
            return {"median": DASH, "iqr": DASH, "pct_high": DASH, "consensus": "", "code": ""}
        return {
            "median": number(res.median),
            "iqr": span(res.q1, res.q3),
            "pct_high": self.share(res),
            "consensus": consensus_label(res.consensus),
            "code": res.consensus,
            "fragile": res.margin is not None and res.margin <= FRAGILE_MARGIN,
        }

    # ------------------------------------------------------------------ priority matrix

    def matrix(self) -> dict[str, Any] | None:
        axes = self._matrix_axes()
        if axes is None:
            return None
        x_crit, y_crit = axes
        points, kinds = [], {}
        for view in self.views.values():
            if view.final is None:
                continue
            x, y = self._median(view, x_crit), self._median(view, y_crit)
            if x is not None and y is not None:
                points.append((view.item.code, x, y))
                kinds[view.item.code] = self._decision_code(view)
        if not points:
            return None
        x_name, y_name = self.names[x_crit.pk], self.names[y_crit.pk]
        chart = charts.priority_matrix(
            points,
            dispositions=kinds,
            x_threshold=x_crit.high_min - 0.5,
            y_threshold=y_crit.high_min - 0.5,
            scale=(
                min(x_crit.scale_min, y_crit.scale_min),
                max(x_crit.scale_max, y_crit.scale_max),
            ),
            x_label=_("%(criterion)s (median)") % {"criterion": x_name},
            y_label=_("%(criterion)s (median)") % {"criterion": y_name},
            title=_("Priority matrix"),
            labels=chart_words(),
        )
        quadrants = [
            (_("High on both"), lambda x, y: x >= x_crit.high_min and y >= y_crit.high_min),
            (
                _("High %(x)s, lower %(y)s") % {"x": x_name, "y": y_name},
                lambda x, y: x >= x_crit.high_min and y < y_crit.high_min,
            ),
            (
                _("Lower %(x)s, high %(y)s") % {"x": x_name, "y": y_name},
                lambda x, y: x < x_crit.high_min and y >= y_crit.high_min,
            ),
            (_("Lower on both"), lambda x, y: x < x_crit.high_min and y < y_crit.high_min),
        ]
        return {
            "svg": _safe(chart.svg),
            "x": x_name,
            "y": y_name,
            "x_threshold": x_crit.high_min,
            "y_threshold": y_crit.high_min,
            "numbered": [
                {"number": label.number, "codes": ", ".join(label.codes)}
                for label in chart.numbered
            ],
            "quadrants": [
                {
                    "label": label,
                    "groups": _by_disposition([c for c, x, y in points if test(x, y)], kinds),
                }
                for label, test in quadrants
            ],
        }

    def _matrix_axes(self) -> tuple[Criterion, Criterion] | None:
        by_code = {c.code: c for c in self.criteria}
        if "acceptability" in by_code and "priority" in by_code:
            return by_code["acceptability"], by_code["priority"]
        return (self.criteria[0], self.criteria[1]) if len(self.criteria) >= 2 else None

    # ------------------------------------------------------------------ stability

    def stability(self) -> dict[str, Any]:
        """One row per item and later round: per criterion, the percent change against
        the previous round, whether that is stable, and the paired tests' p-values."""
        rows, stable, compared, holm = [], 0, 0, False
        for view in self.views.values():
            for ri in view.rated:
                cells: list[dict[str, Any] | None] = []
                for c in self.criteria:
                    res = self.result(ri, c)
                    s = res.stability if res is not None else {}
                    if not s:
                        cells.append(None)
                        continue
                    compared += 1
                    stable += bool(s.get("stable"))
                    holm = holm or "wilcoxon_p_holm" in s
                    cells.append(
                        {
                            "pct_change": self.change(s.get("pct_change")),
                            "stable": bool(s.get("stable")),
                            "stable_label": yes_no(s.get("stable")),
                            "wilcoxon_p": p_value(s.get("wilcoxon_p")),
                            "mcnemar_p": p_value(s.get("mcnemar_p")),
                            "wilcoxon_holm": p_value(s.get("wilcoxon_p_holm")),
                            "mcnemar_holm": p_value(s.get("mcnemar_p_holm")),
                            "n_paired": s.get("n_paired", ""),
                        }
                    )
                if any(c is not None and not c["stable"] for c in cells):
                    rows.append({"code": view.item.code, "round": ri.round.number, "cells": cells})
        return {
            "rows": rows,
            "holm": holm,
            "stable": stable,
            "compared": compared,
            "threshold": number(self.data.protocol.stable_below),
            "kendall": self._kendall(),
        }

    def _kendall(self) -> list[dict[str, Any]]:
        names = {c.code: self.names[c.pk] for c in self.criteria}
        rows = []
        for rnd in self.put_rounds:
            analysis = self.data.analyses.get(rnd.pk)
            for rec in analysis.kendall if analysis else []:
                rows.append(
                    {
                        "round": rec.get("round", rnd.number),
                        "criterion": names.get(rec.get("criterion"), rec.get("criterion")),
                        "w": number(rec.get("w"), 3, strip=False),
                        "m": rec.get("m", ""),
                        "n_panelists": rec.get("n_panelists", ""),
                        "left_out": _left_out(rec),
                        "n_items": rec.get("n_items", ""),
                    }
                )
        return rows

    # ------------------------------------------------------------------ sensitivity

    def sensitivity(self) -> dict[str, Any]:
        rows, fragile, dependent, total = [], 0, 0, 0
        for view in self.views.values():
            if view.final is None:
                continue
            for c in self.criteria:
                res = self.result(view.final, c)
                if res is None:
                    continue
                verdicts = [res.all_rules.get(label) for label in RULE_COLUMNS]
                differs = any(v is not None and v != res.consensus for v in verdicts)
                is_fragile = res.margin is not None and res.margin <= FRAGILE_MARGIN
                fragile += is_fragile
                dependent += differs
                total += 1
                if not (is_fragile or differs):
                    continue
                rows.append(
                    {
                        "code": view.item.code,
                        "round": view.final.round.number,
                        "criterion": self.names[c.pk],
                        "consensus": consensus_label(res.consensus),
                        "consensus_code": res.consensus,
                        "margin": "" if res.margin is None else res.margin,
                        "fragile": is_fragile,
                        "verdicts": [
                            {
                                "label": consensus_label(v) if v else DASH,
                                "code": v or "",
                                "differs": v is not None and v != res.consensus,
                            }
                            for v in verdicts
                        ],
                        "differs": differs,
                    }
                )
        return {
            "rows": rows,
            "fragile": fragile,
            "dependent": dependent,
            "total": total,
            "rules": [rule_label(label, short=True) for label in RULE_COLUMNS],
            "rule_names": [rule_label(label) for label in RULE_COLUMNS],
            "fragile_margin": FRAGILE_MARGIN,
        }

    # ------------------------------------------------------------------ attrition

    def attrition(self) -> dict[str, Any]:
        found = self.data.attrition
        if found is None:
            return {"applicable": False}
        base = {
            "applicable": True,
            "first": found.first,
            "last": found.last,
            "n_stayers": len(found.stayers),
            "n_dropouts": len(found.dropouts),
            "step": number(100 / len(found.dropouts), 0) if found.dropouts else DASH,
        }
        if found.overall is None or found.per_item is None:
            return {**base, "criteria": [], "items": []}
        return {
            **base,
            "criteria": self._attrition_rows(found.overall, by="criterion"),
            "items": self._attrition_rows(found.per_item, by="item")[:MAX_ATTRITION_ITEMS],
        }

    def _attrition_rows(self, frame: pd.DataFrame, *, by: str) -> list[dict[str, Any]]:
        names = {c.code: self.names[c.pk] for c in self.criteria}
        stay = frame[frame["round"] == 1].set_index(["item", "criterion"])
        drop = frame[frame["round"] == 2].set_index(["item", "criterion"])
        rows = []
        for key in stay.index.intersection(drop.index):
            s, d = stay.loc[key], drop.loc[key]
            diff = _float(d["pct_high"]) - _float(s["pct_high"])
            rows.append(
                {
                    "item": key[0],
                    "criterion": names.get(key[1], key[1]),
                    "n_stay": int(s["n"]),
                    "n_drop": int(d["n"]),
                    "median_stay": number(_float(s["median"])),
                    "median_drop": number(_float(d["median"])),
                    "mean_stay": number(_float(s["mean"]), 2, strip=False),
                    "mean_drop": number(_float(d["mean"]), 2, strip=False),
                    "high_stay": _frame_share(s),
                    "high_drop": _frame_share(d),
                    "diff": signed(diff),
                    "abs": abs(diff) if diff == diff else 0.0,
                }
            )
        if by == "item":
            rows.sort(key=lambda r: -r["abs"])
        return rows

    # ------------------------------------------------------------------ sheets

    def sheets(self) -> list[dict[str, Any]]:
        if self._sheets is None:
            self._sheets = [
                self._sheet(index, rec)
                for index, rec in enumerate(self.data.recommendations, start=1)
            ]
        return self._sheets

    def _sheet(self, index: int, rec: Any) -> dict[str, Any]:
        """A sheet: the verdict of every item it rests on first; flagged when one of them
        was not accepted (with the coordinator's justification, or its absence)."""
        views = [self.views[item.pk] for item in self.data.recommendation_items.get(rec.pk, [])]
        verdicts = [self.verdict(view) for view in views]
        others = [v for v in verdicts if not v["accepted"]]
        return {
            "number": index,
            "anchor": f"rec-{index}",
            "title": rec.title,
            "actors": rec.actor_labels(),
            "text": render_markdown(rec.text),
            "notes": render_markdown(rec.implementation_notes),
            "verdicts": verdicts,
            "supported": bool(verdicts) and not others,
            "not_accepted": others,
            "justification": render_markdown(rec.justification),
            "items": [self._sheet_item(view, sheet=index) for view in views],
        }

    def _sheet_item(self, view: _ItemView, *, sheet: int) -> dict[str, Any]:
        decision = self.final_decision(view)
        dissent = self._dissent(view, decision)
        final = view.final
        return {
            "code": view.item.code,
            "label": (final or view.item).label(self.language),
            "wordings": self._wordings(view),
            "stats": [
                {
                    "criterion": self.names[c.pk],
                    "rounds": [
                        self._sheet_cell(ri.round.number, res)
                        for ri in view.rated
                        if (res := self.result(ri, c)) is not None
                    ],
                }
                for c in self.criteria
            ],
            "decision": decision.get_decision_display() if decision else _("Not yet decided"),
            "decision_code": decision.decision if decision else "",
            "decision_round": self.round_numbers.get(decision.round_id) if decision else None,
            "basis": self.verdict(view)["basis"],
            "charts": self._histograms(view.item.code, final, sheet) if final else [],
            "final_round": final.round.number if final else None,
            "dissent": dissent[:MAX_DISSENT],
            "dissent_more": max(len(dissent) - MAX_DISSENT, 0),
        }

    def _sheet_cell(self, round_number: int, res: Result) -> dict[str, Any]:
        text = _(
            "round %(n)d: median %(median)s (IQR %(iqr)s), %(high)s%% in the high band, "
            "consensus %(consensus)s"
        ) % {
            "n": round_number,
            "median": number(res.median),
            "iqr": span(res.q1, res.q3),
            "high": self.share(res),
            "consensus": consensus_label(res.consensus),
        }
        return {"round": round_number, "text": text}

    def _dissent(self, view: _ItemView, decision: ItemDecision | None) -> list[dict[str, Any]]:
        """Comments given with ratings that went against the item's final disposition."""
        code = decision.decision if decision else ""
        by_code = {c.code: c for c in self.criteria}
        shown = []
        for row in self.comments.get(view.item.code, []):
            criterion = by_code.get(row["criterion"])
            value = row["value"]
            if criterion is None:
                continue
            if code == "accepted" and value is not None and value >= criterion.high_min:
                continue
            if code == "rejected" and value is not None and value <= criterion.low_max:
                continue
            shown.append(
                {
                    "round": row["round"],
                    "criterion": self.names[criterion.pk],
                    "value": DASH if value is None else value,
                    "text": row["comment"],
                }
            )
        return shown

    def _histograms(self, code: str, ri: RoundItem, sheet: int) -> list[dict[str, Any]]:
        shown = []
        for criterion in self.criteria:
            res = self.result(ri, criterion)
            if res is None:
                continue
            name = self.names[criterion.pk]
            title = _("%(item)s: %(criterion)s, round %(n)d") % {
                "item": code,
                "criterion": name,
                "n": ri.round.number,
            }
            svg = charts.compact_histogram_svg(
                res.counts,
                scale_min=criterion.scale_min,
                median=res.median,
                q1=res.q1,
                q3=res.q3,
                bands=(criterion.low_max, criterion.high_min),
                title=title,
                labels=chart_words(),
                key=f"sheet-{sheet}",
            )
            shown.append(
                {
                    "criterion": name,
                    "svg": _safe(svg),
                    "n": res.n,
                    "median": number(res.median),
                    "iqr": span(res.q1, res.q3),
                }
            )
        return shown

    def _wordings(self, view: _ItemView) -> list[dict[str, Any]]:
        """Round 1's wording, then each later round's only where it changed."""
        shown: list[dict[str, Any]] = []
        previous = None
        for ri in view.round_items:
            text = ri.label(self.language)
            if text != previous:
                shown.append(
                    {"round": ri.round.number, "text": text, "changed": previous is not None}
                )
            previous = text
        return shown

    # ------------------------------------------------------------------ appendix

    def appendix(self) -> list[dict[str, Any]]:
        return [self._appendix_item(view) for view in self.views.values()]

    def _appendix_item(self, view: _ItemView) -> dict[str, Any]:
        label = view.item.label(self.language)
        wordings = self._wordings(view)
        return {
            "code": view.item.code,
            "label": label,
            "domain": view.item.domain_label(self.language),
            "source": view.item.get_source_display() if view.item.source else "",
            "reference": view.item.reference,
            "wordings": wordings,
            "show_wordings": len(wordings) > 1 or any(w["text"] != label for w in wordings),
            "rows": [
                _result_line(ri.round.number, self.names[c.pk], res, self.limits.get(c.code, ()))
                for ri in view.rated
                for c in self.criteria
                if (res := self.result(ri, c)) is not None
            ],
            "decisions": [
                {
                    **_decision_row(ri.round.number, self.data.decisions[ri.pk]),
                    "basis": self.basis(ri),
                    "margin": self.decision_margin(ri),
                }
                for ri in view.round_items
                if ri.pk in self.data.decisions
            ],
        }

    # ------------------------------------------------------------------ policy space

    def policy_summary(self) -> dict[str, Any]:
        """What the policy space shows of this version: plain JSON, codes not labels."""
        counts: dict[str, int] = defaultdict(int)
        items = []
        for view in self.views.values():
            decision = self.final_decision(view)
            counts[decision.decision if decision else "pending"] += 1
            final = view.final
            items.append(
                {
                    "code": view.item.code,
                    "label": (final or view.item).label(self.language),
                    "round": final.round.number if final else None,
                    "decision": decision.decision if decision else "",
                    "basis": self.verdict(view)["basis"],
                    "cells": [
                        _summary_cell(self.result(final, c)) if final else None
                        for c in self.criteria
                    ],
                }
            )
        return {
            "n_panel": len(self.data.panel),
            "n_items": len(self.data.items),
            "n_rounds": len(self.put_rounds),
            "flow": [
                {k: row[k] for k in ("round", "invited", "responded", "dropouts")}
                for row in self.flow()
            ],
            "decisions": dict(counts),
            "criteria": [{"code": c.code, "name": self.names[c.pk]} for c in self.criteria],
            "recommendations": [
                {
                    "number": index,
                    "title": rec.title,
                    "text": rec.text,
                    "actors": list(rec.actors or []),
                    "items": [i.code for i in self.data.recommendation_items.get(rec.pk, [])],
                    "supported": sheet["supported"],
                }
                for index, (rec, sheet) in enumerate(
                    zip(self.data.recommendations, self.sheets(), strict=True), start=1
                )
            ],
            "items": items,
        }

    # ------------------------------------------------------------------ helpers

    def date(self, moment: datetime | None) -> str:
        if moment is None:
            return DASH
        local = timezone.localtime(moment, ZoneInfo(self.data.study.time_zone))
        return date_format(local, "DATE_FORMAT")

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return DASH
        local = timezone.localtime(moment, ZoneInfo(self.data.study.time_zone))
        return f"{date_format(local, 'DATETIME_FORMAT')} ({self.data.study.time_zone})"


def report_context(data: ReportData, stamp: Stamp, report: _Report | None = None) -> dict[str, Any]:
    """The template's context; call it inside the report language. No query."""
    report = report or _Report(data, stamp)
    study = data.study
    language = study.report_language
    flow = report.flow()
    generated = datetime.fromisoformat(stamp["generated_at"])
    title = study.text("title", language)
    sheets, appendix, matrix = report.sheets(), report.appendix(), report.matrix()
    return {
        "study": study,
        "title": title,
        "toc": toc_entries(sheets, has_matrix=matrix is not None),
        "part": {
            "front": True,
            "body": True,
            "sheets": sheets,
            "appendix": appendix,
            "appendix_head": True,
        },
        "page_style": page_style(title, stamp_line(stamp), study.is_simulated, numbered=True),
        "description": study.text("description", language),
        "language": language,
        "stamp": stamp,
        "stamp_rows": stamp_rows(stamp, report.when(generated)),
        "generated_at": report.when(generated),
        "summary": report.summary(),
        "methods": methods.methods_context(data, report.when, report.date, flow),
        "criteria": [criterion_row(c, language) for c in data.criteria],
        "criterion_names": [report.names[c.pk] for c in data.criteria],
        "flow": flow,
        "flow_svg": report.flow_svg(flow),
        "round0": report.round0(),
        "round_tables": report.round_tables(),
        "matrix": matrix,
        "stability": report.stability(),
        "movement": methods.movement(data, report.when),
        "sensitivity": report.sensitivity(),
        "attrition": report.attrition(),
        "sheets": sheets,
        "appendix": appendix,
        "fragile_margin": FRAGILE_MARGIN,
        "has_rounds": bool(report.put_rounds),
    }


def toc_entries(sheets: list[dict[str, Any]], *, has_matrix: bool) -> list[dict[str, Any]]:
    """The table of contents: each chapter's anchor and title, the sheets under theirs."""
    entries = [
        ("summary", _("Summary")),
        ("methods", _("Methods")),
        ("flow", _("Participant flow")),
        ("results", _("Results by round")),
        *([("matrix", _("Priority matrix"))] if has_matrix else []),
        ("stability", _("Stability between rounds")),
        ("sensitivity", _("Sensitivity of the verdicts")),
        ("attrition", _("Attrition")),
        ("recommendations", _("Recommendations")),
        ("appendix", _("Appendix: results of every item")),
    ]
    return [
        {"anchor": anchor, "label": label, "sheets": sheets if anchor == "recommendations" else []}
        for anchor, label in entries
    ]


def stamp_line(stamp: Stamp) -> str:
    """ "Report v1 · protocol 7ef331156dad · data 195549ff7a2d · 2026-11-30", for footers."""
    version = stamp.get("report_version")
    parts = [_("Report v%(n)s") % {"n": version}] if version else []
    parts += [
        f"{_('protocol')} {str(stamp['protocol_hash'])[:12]}",
        f"{_('data')} {str(stamp['data_checksum'])[:12]}",
        str(stamp["generated_at"])[:10],
    ]
    return " · ".join(parts)


def page_style(
    title: str, stamp: str, simulated: bool, *, numbered: bool, section: str = ""
) -> SafeString:
    """The margin boxes' texts as literal CSS strings, so that each part of a report laid
    out on its own carries them. Without ``numbered`` the page numbers are left out (the
    assembled report gets them afterwards); ``section`` fixes the running section name of
    a part that starts inside a chapter."""
    rules = [
        f"@top-left {{ content: {css_string(title)}; }}",
        f"@bottom-left {{ content: {css_string(stamp)}; }}",
        f"@bottom-center {{ content: {css_string(_('Simulated data') if simulated else '')}; }}",
    ]
    if numbered:
        rules.append('@bottom-right { content: counter(page) " / " counter(pages); }')
    if section:
        rules.append(f"@top-right {{ content: {css_string(section)}; }}")
    return mark_safe("@page { " + " ".join(rules) + " }")


def css_string(text: str) -> str:
    """``text`` as a CSS string literal: quotes, backslashes and line breaks escaped, and
    ``<`` too, so that it can never close the style element it sits in."""
    escaped = "".join(f"\\{ord(ch):x} " if ch in '"\\\n\r<>' or ord(ch) < 32 else ch for ch in text)
    return f'"{escaped}"'


def stamp_rows(stamp: Stamp, generated: str) -> list[tuple[str, str]]:
    version = stamp.get("report_version")
    return [
        (_("Report version"), str(version) if version else _("not versioned (command line)")),
        (_("Generated"), generated),
        (_("Software"), f"{stamp['software']} {stamp['software_version']}"),
        (_("Quantile method"), _quantile_name(stamp["quantile_method"])),
        (_("Protocol hash (SHA-256)"), stamp["protocol_hash"]),
        *(
            [(_("Design hash now: changed after round 1 opened (audit log)"), stamp["design_hash"])]
            if design_changed(stamp)
            else []
        ),
        (_("Data checksum (SHA-256)"), stamp["data_checksum"]),
    ]


def _quantile_name(qtype: int) -> str:
    from rounds.models import Protocol

    return str(dict(Protocol.Quantile.choices).get(qtype, qtype))


def _summary_cell(res: Result | None) -> dict[str, Any] | None:
    if res is None:
        return None
    return {
        "median": res.median,
        "q1": res.q1,
        "q3": res.q3,
        "n": res.n,
        "rule": res.rule,
        "count_high": (res.stats or {}).get("count_high"),
        "pct_high": res.pct_high,
        "consensus": res.consensus,
        "margin": res.margin,
    }


def _group_comments(comments: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in comments.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        value = row.get("value")
        row["value"] = None if value is None or value != value else int(value)
        grouped[str(row["item"])].append(row)
    return grouped


def _decision_margins(
    data: ReportData, rule: consensus.DecisionRule
) -> dict[tuple[int, str], int | None]:
    """The margin of every computed decision (`rounds.dispositions.decision_margins`)."""
    rounds = {r.pk: r.number for r in data.rounds}
    codes = {ri.pk: item.code for item in data.items for ri in data.round_items.get(item.pk, [])}
    criteria = {c.pk: c.code for c in data.criteria}
    rows = [
        {**(res.stats or {}), "round": rounds[res.round_id], "item": codes[ri_id],
         "criterion": criteria[c_id], "counts": res.counts, "margin": res.margin,
         "consensus": res.consensus}
        for (ri_id, c_id), res in data.results.items()
        if ri_id in codes and c_id in criteria
    ]  # fmt: skip
    decisions = [
        (rounds[d.round_id], codes[ri_id], d.computed)
        for ri_id, d in data.decisions.items()
        if ri_id in codes
    ]
    if not rows or not decisions:
        return {}
    settings = {c.code: c.settings(data.protocol) for c in data.criteria}
    return dispositions.decision_margins(
        pd.DataFrame(rows),
        pd.DataFrame(decisions, columns=["round", "item", "decision"]),
        settings,
        rule,
    )


def _left_out(rec: dict[str, Any]) -> int | str:
    """Panelists with a rating of the criterion in the round who were not complete cases."""
    m, n = rec.get("m"), rec.get("n_panelists")
    return n - m if isinstance(m, int) and isinstance(n, int) else ""


def _by_disposition(codes: list[str], kinds: dict[str, str]) -> list[dict[str, str]]:
    """Codes grouped by their disposition, accepted first: "accepted: P02, P03"."""
    words = chart_words()
    order = list(charts.MARKERS)
    present = sorted({kinds.get(c, "") for c in codes}, key=lambda k: order.index(k))
    return [
        {
            "kind": kind,
            "label": words.get(kind or "undecided", kind),
            "codes": ", ".join(c for c in codes if kinds.get(c, "") == kind),
        }
        for kind in present
    ]


def _frame_share(row: pd.Series) -> str:
    """The high-band share of an engine results row (count_high of n)."""
    n, count = row.get("n"), row.get("count_high")
    if count is None or count != count or not n:
        return DASH
    limits = formatting.thresholds(formatting.rule_thresholds(str(row.get("rule") or "")))
    separator = str(get_format("DECIMAL_SEPARATOR"))
    return formatting.share(int(count), int(n), limits, decimal_separator=separator)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def criterion_row(criterion: Criterion, language: str) -> dict[str, str]:
    lo, hi = criterion.scale_min, criterion.scale_max
    return {
        "code": criterion.code,
        "name": criterion.text(language),
        "question": criterion.question_text(language),
        "scale": f"{lo}{DASH}{hi}",
        "low": _range(lo, criterion.low_max),
        "mid": _range(criterion.low_max + 1, criterion.high_min - 1),
        "high": _range(criterion.high_min, hi),
        "rule": rule_label(criterion.rule),
        "anchor_min": criterion.anchor("min", language),
        "anchor_max": criterion.anchor("max", language),
    }


def _result_line(
    round_number: int, criterion: str, res: Result, limits: tuple[Fraction, ...] = ()
) -> dict[str, Any]:
    """Every statistic of one (round, item, criterion) as one line of text."""
    fragile = res.margin is not None and res.margin <= FRAGILE_MARGIN
    stats = _(
        "n %(n)s (%(missing)s missing) · mean %(mean)s (SD %(sd)s) · median %(median)s · "
        "Q1–Q3 %(q1)s–%(q3)s (IQR %(iqr)s) · low / mid / high %(low)s / %(mid)s / %(high)s%%"
    ) % {
        "n": res.n,
        "missing": res.n_missing,
        "mean": number(res.mean, 2, strip=False),
        "sd": number(res.sd, 2, strip=False),
        "median": number(res.median),
        "q1": number(res.q1),
        "q3": number(res.q3),
        "iqr": number(res.iqr),
        "low": share_text(res, "low", 1, limits),
        "mid": share_text(res, "mid", 1, limits),
        "high": share_text(res, "high", 1, limits),
    }
    verdict = _("consensus %(consensus)s (%(rule)s), margin %(margin)s") % {
        "consensus": consensus_label(res.consensus),
        "rule": rule_label(res.rule, short=True),
        "margin": DASH if res.margin is None else f"{res.margin}{' !' if fragile else ''}",
    }
    others = " · ".join(
        f"{rule_label(label, short=True)} {consensus_label(res.all_rules[label])}"
        for label in RULE_COLUMNS
        if res.all_rules.get(label)
    )
    if others:
        verdict += " · " + _("under every rule: %(verdicts)s") % {"verdicts": others}
    return {
        "round": round_number,
        "criterion": criterion,
        "stats": stats,
        "verdict": verdict,
        "code": res.consensus,
        "fragile": fragile,
    }


def _decision_row(round_number: int, decision: ItemDecision) -> dict[str, Any]:
    overridden = decision.decision != decision.computed
    return {
        "round": round_number,
        "decision": decision.get_decision_display(),
        "code": decision.decision,
        "computed": decision.get_computed_display() if overridden else "",
        "reason": decision.override_reason if overridden else "",
    }


def _safe(svg: str) -> SafeString:
    """Chart output escapes every text it draws, so it can go into HTML as is."""
    return mark_safe(svg)


@functools.lru_cache(maxsize=8)
def _chart_words(language: str) -> dict[str, str]:
    return {
        "median": _("median"),
        "iqr": _("IQR"),
        "your_rating": _("your rating"),
        "distribution": _("Distribution of ratings"),
        "priority_matrix": _("Priority matrix"),
        "participant_flow": _("Participant flow"),
        "invited": _("invited"),
        "responded": _("responded"),
        "dropped_out": _("dropped out since the previous round"),
        "accepted": _("accepted"),
        "rejected": _("rejected"),
        "no_consensus": _("no consensus"),
        "carried": _("rated again"),
        "undecided": _("not decided"),
        "decimal_separator": str(get_format("DECIMAL_SEPARATOR")),
    }


def chart_words() -> dict[str, str]:
    return _chart_words(translation.get_language() or "en")


# --------------------------------------------------------------------------- formatting

DASH = charts.DASH


def number(value: float | None, places: int = 2, *, strip: bool = True) -> str:
    """A statistic as printed in the report: 8 / 6.5 / 5.25 (or 7.00 with strip=False),
    with the active language's decimal separator; an en dash when empty."""
    if value is None or value != value:
        return DASH
    text = f"{value:.{places}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", str(get_format("DECIMAL_SEPARATOR")))


def share_text(
    res: Result, band: str = "high", places: int = 0, limits: Sequence[Fraction] = ()
) -> str:
    """The share of ``res``'s ratings in ``band`` with ``places`` decimals, never rounded
    across the criterion's rule threshold, ``limits`` (the decision rule's thresholds on
    this criterion) or the common rules' (see `rounds.formatting`)."""
    bounds = formatting.thresholds(formatting.rule_thresholds(res.rule), limits)
    count = res.stats.get(f"count_{band}") if res.stats else None
    separator = str(get_format("DECIMAL_SEPARATOR"))
    if count is None:
        pct = getattr(res, f"pct_{band}")
        count = None if pct is None else round(pct * res.n / 100)
    return formatting.share(count, res.n, bounds, places=places, decimal_separator=separator)


def span(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return DASH
    return f"{number(lo)}{DASH}{number(hi)}"


def percent(part: int, whole: int) -> str:
    return f"{number(part * 100 / whole, 0)}%" if whole else DASH


def signed(value: float) -> str:
    if value != value:
        return DASH
    text = number(abs(value), 0, strip=False)
    return text if round(value) == 0 else f"{'+' if value > 0 else '−'}{text}"


def p_value(value: float | None) -> str:
    if value is None or value != value:
        return DASH
    return "< " + number(0.001, 3) if value < 0.001 else number(value, 3, strip=False)


def yes_no(value: Any) -> str:
    if value is None:
        return DASH
    return _("yes") if value else _("no")


def consensus_label(code: str) -> str:
    return _consensus_words(translation.get_language() or "en").get(code, code)


@functools.lru_cache(maxsize=8)
def _consensus_words(language: str) -> dict[str, str]:
    return {"in": _("in"), "out": _("out"), "none": _("none")}


def rule_label(rule: str, *, short: bool = False) -> str:
    """A consensus rule code (percent:75, comet, rand, iqr:2) in words."""
    kind, _sep, arg = rule.partition(":")
    if kind == "percent":
        arg = arg or "75"
        return f"{arg}%" if short else _("percent agreement, at least %(t)s%%") % {"t": arg}
    if kind == "comet":
        return "COMET" if short else _("COMET/GRADE 70/15")
    if kind == "rand":
        return "RAND" if short else _("RAND/UCLA with IPRAS")
    if kind == "iqr":
        if not arg:
            return (
                "IQR"
                if short
                else _("IQR at most 2 (1 on 5- and 7-point scales), median in a band")
            )
        return f"IQR ≤ {arg}" if short else _("IQR at most %(k)s, median in a band") % {"k": arg}
    return rule


def overview(panel: int, items: int, rounds: int) -> str:
    """ "A panel of 59 members rated 29 items over 2 rounds." with the right plurals."""
    members = ngettext("%(n)d member", "%(n)d members", panel) % {"n": panel}
    rated = ngettext("%(n)d item", "%(n)d items", items) % {"n": items}
    over = ngettext("%(n)d round", "%(n)d rounds", rounds) % {"n": rounds}
    return _("A panel of %(members)s rated %(items)s over %(rounds)s.") % {
        "members": members,
        "items": rated,
        "rounds": over,
    }


def _range(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}{DASH}{hi}"
