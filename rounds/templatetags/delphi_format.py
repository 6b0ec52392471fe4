"""One way to show dates, statistics and audit values on every page.

`when`: a date and time in the study's time zone, "1 May 2099, 18:00" (24-hour, the month
in the page's language), never a format that ends with a period of its own.
`stat`: a statistic with at most two decimals and no trailing zeros (6.5, 6, 2.25), with
the page language's decimal separator.
`audit_pairs`: an audit entry's before/after as (field, value) pairs instead of a dict.
`in_its_language`: a text shown in a fallback language (its translation is missing) in a
span that says which language it is in; any other text unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.utils import formats, translation
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from rounds import charts
from rounds.models import Fallback, Result
from rounds.templatetags.shares import share

register = template.Library()

WHEN_FORMAT = "j F Y, H:i"


@register.filter
def in_its_language(value: object) -> object:
    """``<span lang="nl">…</span>`` around a text shown in a fallback language (WCAG 3.1.2:
    a screen reader then reads it in its own language) unless that is the page's language
    after all (the text was looked up for the panelist's language, and the page may have
    switched since); any other value as it is."""
    page = (translation.get_language() or "")[:2]
    if isinstance(value, Fallback) and value.lang != page:
        return format_html('<span lang="{}">{}</span>', value.lang, str(value))
    return value


@register.filter
def when(value: datetime | None, tz: str = "") -> str:
    if not value:
        return ""
    if tz and value.tzinfo is not None:
        value = value.astimezone(ZoneInfo(tz))
    return formats.date_format(value, WHEN_FORMAT)


@register.filter
def stat(value: Any) -> str:
    if value is None or value == "":
        return "—"
    number = round(float(value), 2)
    shown: int | float = int(number) if number == int(number) else number
    return formats.number_format(shown, use_l10n=True)


@register.filter
def audit_pairs(value: Any, tz: str = "") -> list[tuple[str, str]]:
    if value in (None, "", {}):
        return []
    if not isinstance(value, dict):
        return [("", _plain(value, tz))]
    return [(str(key).replace("_", " "), _plain(item, tz)) for key, item in value.items()]


def _plain(value: Any, tz: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, list):
        return ", ".join(_plain(v, tz) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v, tz)}" for k, v in value.items())
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
        parsed = parse_datetime(value)
        if parsed is not None:
            return when(parsed, tz)
    return str(value)


@register.simple_tag
def mini_histogram(result: Result) -> SafeString:
    """A small distribution of one (item, criterion) for the coordinator's overview."""
    c = result.criterion
    svg = charts.compact_histogram_svg(
        result.counts, scale_min=c.scale_min, median=result.median, q1=result.q1, q3=result.q3,
        bands=(c.low_max, c.high_min), width=150, height=46,
        title=f"{result.round_item.item.code} – {c.text()}",
        labels={"median": _("median"), "iqr": _("IQR"), "ratings": _("ratings"),
                "distribution": _("Distribution of ratings")},
        key=f"ov-{result.pk}",
    )  # fmt: skip
    return mark_safe(svg)  # built from numbers and escaped labels by rounds.charts


@register.filter
def plain_result(result: Result) -> str:
    """A statistic in words for readers who are not statisticians."""
    if result.median is None:
        return str(_("no ratings"))
    return _(
        "median %(median)s on %(min)s–%(max)s; half of the panel between %(q1)s and %(q3)s; "
        "%(high)s%% rated it high"
    ) % {
        "median": stat(result.median), "min": result.criterion.scale_min,
        "max": result.criterion.scale_max, "q1": stat(result.q1), "q3": stat(result.q3),
        "high": share(result, "high"),  # never rounded across a threshold
    }  # fmt: skip
