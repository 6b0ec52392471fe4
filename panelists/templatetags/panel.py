from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from panelists.questionnaire import Cell, GroupFeedback
from rounds import charts

register = template.Library()


def _words() -> dict[str, str]:
    return {
        "median": _("median"),
        "iqr": _("IQR"),
        "your_rating": _("your rating"),
        "ratings": _("ratings"),
        "distribution": _("Distribution of ratings"),
    }


@register.simple_tag
def feedback_histogram(cell: Cell, live: bool = False) -> SafeString:
    """The previous round's distribution (or, `live`, the panel's answers now in real-time
    mode) with the panelist's own rating highlighted."""
    fb = cell.live if live else cell.feedback
    if fb is None:
        return mark_safe("")
    c, r = cell.criterion, fb.result
    title = _("The panel now: %(criterion)s") if live else _("Previous round: %(criterion)s")
    svg = charts.histogram_svg(
        r.counts, scale_min=c.scale_min, median=r.median, q1=r.q1, q3=r.q3,
        highlight=fb.own_previous, bands=(c.low_max, c.high_min), labels=_words(),
        # Drawn 240 wide and shown at the width of the page (up to 24rem): the legend's
        # 9-unit text reaches at least 12 px on a 375 px phone.
        width=240, height=110,
        title=title % {"criterion": c.text()},
        key=f"{r.round_item_id}-{c.pk}",
    )  # fmt: skip
    return mark_safe(svg)


@register.simple_tag
def group_histogram(cell: Cell, group: GroupFeedback) -> SafeString:
    c = cell.criterion
    svg = charts.histogram_svg(
        group.counts, scale_min=c.scale_min, median=None, q1=None, q3=None,
        width=240, height=90, labels=_words(), title=group.group,
        key=f"{cell.feedback.result.round_item_id if cell.feedback else ''}-{c.pk}-{group.group}",
    )  # fmt: skip
    return mark_safe(svg)


@register.filter
def field(form: object, name: str) -> object:
    return form[name]  # type: ignore[index]


@register.simple_tag
def field_name(prefix: str, entry: object, cell: Cell) -> str:
    return f"{prefix}-{entry.round_item.pk}-{cell.criterion.pk}"  # type: ignore[attr-defined]
