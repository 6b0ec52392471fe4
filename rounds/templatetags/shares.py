"""``{{ result|share:"high" }}``: a result's share of ratings in a band, as the report
prints it (never rounded across a consensus threshold; see `rounds.formatting`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.utils.formats import get_format

from rounds import formatting

register = template.Library()
BANDS = ("low", "mid", "high")


@register.filter
def share(result: Any, band: str = "high") -> str:
    """``result`` is a Result, or a mapping with ``pct_<band>``, ``n`` and ``rule`` (and
    ``count_<band>`` when known). Without ``n`` (summaries stored before it was kept) the
    share is cut to one decimal, which never crosses a threshold of one decimal or fewer."""
    if band not in BANDS:
        raise template.TemplateSyntaxError(f"share: band must be one of {', '.join(BANDS)}")
    pct, n = _get(result, f"pct_{band}"), _get(result, "n")
    count = _get(result, f"count_{band}")
    if count is None and isinstance(getattr(result, "stats", None), Mapping):
        count = result.stats.get(f"count_{band}")
    limits = formatting.thresholds(formatting.rule_thresholds(str(_get(result, "rule") or "")))
    separator = str(get_format("DECIMAL_SEPARATOR"))
    if count is not None and n:
        return formatting.share(int(count), int(n), limits, decimal_separator=separator)
    if n:
        return formatting.share_of_percent(pct, int(n), limits, decimal_separator=separator)
    return formatting.floor_percent(pct, decimal_separator=separator)


def _get(result: Any, name: str) -> Any:
    if isinstance(result, Mapping):
        return result.get(name)
    return getattr(result, name, None)


@register.filter
def bounded(value: Any, limit: Any) -> str:
    """``{{ change|bounded:15 }}``: a figure with one decimal (more if needed), never
    rounded onto the other side of ``limit`` (a percent change against "stable below")."""
    separator = str(get_format("DECIMAL_SEPARATOR"))
    try:
        number = float(value)
    except (TypeError, ValueError):
        return formatting.DASH
    return formatting.bounded(number, [limit], decimal_separator=separator)
