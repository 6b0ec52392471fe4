"""The basis of an item's disposition in words, for the results page and the report.

`rounds.dispositions` finds the clauses of the decision rule that decided the item; this
module says them in the active language: "Priority: median 6, the rule asks ≥ 7;
Acceptability: consensus “in”". Figures are never rounded across the clause's threshold.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.formats import get_format
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from rounds import consensus, dispositions, formatting
from rounds.models import Result

OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "=": "="}


def results_basis(
    results: Iterable[Result], rule: consensus.DecisionRule | None, decision: str
) -> dispositions.Basis:
    """The basis of ``decision`` from one round item's stored results."""
    stats = {str(r.stats.get("criterion") or r.criterion_id): _row(r) for r in results}
    return dispositions.explain(stats, rule, decision)


def phrase(basis: dispositions.Basis, names: Mapping[str, str], *, context: bool = True) -> str:
    """The deciding clauses, then (``context``) the clauses of the accept rule that held,
    in words."""
    parts = [*basis.deciding, *(basis.context if context else ())]
    return "; ".join(part_phrase(p, names.get(p.criterion, p.criterion)) for p in parts)


def part_phrase(part: dispositions.Part, name: str) -> str:
    """One clause in words; a comparison never breaks between its sign and its number."""
    text = _part_phrase(part, name)
    for sign in OPS.values():
        text = text.replace(f"{sign} ", f"{sign}\u00a0")
    return text


def _part_phrase(part: dispositions.Part, name: str) -> str:
    if part.held is None:
        return _("%(criterion)s: no result") % {"criterion": name}
    if part.stat is None:
        return _verdict_phrase(part, name)
    words = {"criterion": name, "stat": stat_name(part.stat), "op": OPS.get(part.op, part.op)}
    words["actual"] = _figure(part.actual, float(part.value), part.stat)
    words["value"] = _figure(part.value, float(part.value), part.stat)
    if part.held:
        return _("%(criterion)s: %(stat)s %(actual)s (%(op)s %(value)s)") % words
    return _("%(criterion)s: %(stat)s %(actual)s, the rule asks %(op)s %(value)s") % words


def _verdict_phrase(part: dispositions.Part, name: str) -> str:
    words = {
        "criterion": name,
        "actual": verdict_word(str(part.actual)),
        "value": verdict_word(str(part.value)),
    }
    if part.held:
        return _("%(criterion)s: consensus “%(actual)s”") % words
    return _("%(criterion)s: consensus “%(actual)s”, the rule asks “%(value)s”") % words


def verdict_word(code: str) -> str:
    return _verdict_words(get_language() or "en").get(code, code)


@functools.lru_cache(maxsize=8)
def _verdict_words(language: str) -> dict[str, str]:
    return {
        "in": pgettext("consensus verdict", "in"),
        "out": pgettext("consensus verdict", "out"),
        "none": pgettext("consensus verdict", "none"),
    }


def stat_name(stat: str) -> str:
    names = {
        "median": _("median"),
        "mean": _("mean"),
        "iqr": _("IQR"),
        "q1": _("Q1"),
        "q3": _("Q3"),
        "pct_high": _("share in the high band"),
        "pct_low": _("share in the low band"),
        "pct_mid": _("share in the middle band"),
        "margin": _("margin"),
        "n": "n",
    }
    return names.get(stat, stat)


def _figure(value: Any, limit: float, stat: str) -> str:
    """A statistic next to the threshold it was compared with, never rounded across it."""
    separator = str(get_format("DECIMAL_SEPARATOR"))
    places = 1 if stat.startswith("pct_") else 2
    text = formatting.bounded(_float(value), [limit], places=places, decimal_separator=".")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    text = text.replace(".", separator)
    return f"{text}%" if stat.startswith("pct_") else text


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _row(result: Result) -> dict[str, Any]:
    return {**(result.stats or {}), "consensus": result.consensus, "margin": result.margin}
