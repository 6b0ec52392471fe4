"""Shares as people read them: never rounded across the threshold a verdict depends on.

Pure (standard library only, no Django): the PDF, the web pages and the policy space all
print a share through :func:`share`, so that one rule holds everywhere. The exact share is
``count / n``; a threshold T is met when ``count * 100 >= T * n`` (the engine's integer
comparison). A share is shown with ``places`` decimals (0 by default) when that rounding
stays on the same side of every threshold; otherwise with one more decimal; and if even
that would cross (74.96 % under a 75 % rule), it is rounded towards the side the exact
share is on (74.9). The CSV files keep full precision and never go through here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

# The thresholds of the rules every report re-analyses the ratings under (percent
# agreement at 75 %, COMET/GRADE 70/15): a share printed next to those verdicts must not
# cross them either.
COMMON_THRESHOLDS: tuple[Fraction, ...] = (Fraction(75), Fraction(70), Fraction(15))
EXTRA_PLACES = 1  # one more decimal before rounding towards the verdict's side
DASH = "\u2013"


def rule_thresholds(rule: str) -> tuple[Fraction, ...]:
    """The share thresholds a consensus rule compares with: ``percent:66.7`` → 66.7,
    ``comet`` → 70 and 15, median-based rules (``rand``, ``iqr``) → none."""
    kind, _sep, arg = rule.strip().lower().partition(":")
    if kind == "percent":
        return (_fraction(arg or "75"),)
    if kind == "comet":
        return (Fraction(70), Fraction(15))
    return ()


def thresholds(*groups: Iterable[float | str | Fraction]) -> tuple[Fraction, ...]:
    """Every threshold of ``groups`` once, plus the common ones, as exact fractions."""
    found = {_fraction(t) for group in groups for t in group}
    return tuple(sorted(found | set(COMMON_THRESHOLDS)))


def share(
    count: int | None,
    n: int | None,
    limits: Iterable[float | str | Fraction] = COMMON_THRESHOLDS,
    *,
    places: int = 0,
    decimal_separator: str = ".",
) -> str:
    """``count`` of ``n`` as a percentage (without the % sign), on the same side of every
    threshold in ``limits`` as the exact share; an en dash when there is no share."""
    if count is None or not n:
        return DASH
    return _share(int(count), int(n), tuple(limits), places, decimal_separator)


@functools.lru_cache(maxsize=4096)
def _share(count: int, n: int, limits: tuple[Any, ...], places: int, separator: str) -> str:
    """`share`, remembered: a report prints the same few shares many times."""
    return _shown(Fraction(100 * count, n), limits, places, separator)


def bounded(
    value: float | None,
    limits: Iterable[float | str | Fraction],
    *,
    places: int = 1,
    decimal_separator: str = ".",
) -> str:
    """Any figure judged against thresholds (a percent change against "stable below 15"),
    printed on the same side of each as the figure itself."""
    if value is None or value != value:
        return DASH
    return _shown(Fraction(value), limits, places, decimal_separator)


def _shown(
    exact: Fraction, limits: Iterable[float | str | Fraction], places: int, separator: str
) -> str:
    bounds = [_fraction(t) for t in limits]
    shown = _rounded(exact, places, ROUND_HALF_UP)
    if _crosses(exact, shown, bounds):
        shown = _rounded(exact, places + EXTRA_PLACES, ROUND_HALF_UP)
    extra = EXTRA_PLACES
    while _crosses(exact, shown, bounds) and extra < 6:
        shown = _towards(exact, places + extra, bounds)
        extra += 1
    return _text(shown, separator)


def share_of_percent(
    pct: float | None,
    n: int | None,
    limits: Iterable[float | str | Fraction] = COMMON_THRESHOLDS,
    *,
    places: int = 0,
    decimal_separator: str = ".",
) -> str:
    """:func:`share` from a stored percentage (``pct_high`` of ``n`` ratings): the count is
    recovered exactly, since a share of n ratings is a whole number of ratings."""
    if pct is None or pct != pct or not n:
        return DASH
    count = round(pct * n / 100)
    return share(count, n, limits, places=places, decimal_separator=decimal_separator)


def floor_percent(pct: float | None, *, decimal_separator: str = ".") -> str:
    """A percentage whose n is unknown, cut (not rounded) to one decimal: it never rises
    onto a threshold of one decimal or fewer, and a share that meets one still does."""
    if pct is None or pct != pct:
        return DASH
    # A stored 75.0 may read 74.99999999999 in binary: nudge by far less than a decimal.
    value = Fraction(Decimal(repr(float(pct)))) + Fraction(1, 10**9)
    return _text(_rounded(value, EXTRA_PLACES, ROUND_FLOOR), decimal_separator)


def _fraction(value: float | str | Fraction) -> Fraction:
    if isinstance(value, Fraction):
        return value
    # Through the decimal text, so that 66.7 is 667/10 and not a binary approximation.
    return Fraction(Decimal(str(value).strip()))


def _rounded(exact: Fraction, places: int, mode: str) -> Decimal:
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    return value.quantize(Decimal(1).scaleb(-places), rounding=mode)


def _crosses(exact: Fraction, shown: Decimal, bounds: list[Fraction]) -> bool:
    value = Fraction(shown)
    return any((value >= t) != (exact >= t) for t in bounds)


def _towards(exact: Fraction, places: int, bounds: list[Fraction]) -> Decimal:
    """Round down when the exact share is below the nearest threshold, up when at or
    above it: the printed figure then sits on the verdict's side."""
    nearest = min(bounds, key=lambda t: abs(exact - t))
    return _rounded(exact, places, ROUND_FLOOR if exact < nearest else ROUND_CEILING)


def _text(value: Decimal, separator: str) -> str:
    return f"{value:f}".replace(".", separator)


_SHARE_CLAUSE = re.compile(
    r"(?P<criterion>[A-Za-z_][\w-]*)\s*\.\s*pct_(?:low|mid|high)\s*(?:>=|<=|==|=|>|<)\s*"
    r"(?P<value>-?\d+(?:\.\d+)?)"
)


def decision_thresholds(rule: str, criterion: str) -> tuple[Fraction, ...]:
    """The thresholds an item decision rule puts on a criterion's shares, e.g. 60 in
    ``acceptability = in AND priority.pct_high >= 60`` for ``priority``."""
    return tuple(
        _fraction(match["value"])
        for match in _SHARE_CLAUSE.finditer(rule or "")
        if match["criterion"].lower() == criterion.lower()
    )
