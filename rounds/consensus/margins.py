"""The consensus margin (METHODS §5): the fewest panelists whose ratings would have to change for
an item's verdict to change.

Exact closed forms for the share-based rules (percent agreement, COMET); for the
median-based rules (RAND/UCLA, IQR), a lower bound and, where a change attaining it is
built, that bound; otherwise the search in ``margin_search`` (see ``_margin_median``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rounds.consensus.counting import Bools, Floats, Ints
from rounds.consensus.margin_search import (
    BIG,
    Sides,
    Sorted,
    breakpoints,
    search_reach,
    search_widening,
)
from rounds.consensus.quantiles import lerp
from rounds.consensus.rules import MedianRule, band_counts
from rounds.consensus.settings import PPM, CriterionSettings, Rule


def _ceil_div(a: Ints, b: int) -> Ints:
    return -(-a // b)


def _margin_percent(high: Ints, low: Ints, n: Ints, ppm: int, code: Any) -> Ints:
    """Exact: each changed rating moves a band count by at most one."""
    need = _ceil_div(ppm * n, PPM)  # fewest ratings in a band that reach the threshold
    leave_in = high - need + 1
    leave_out = np.minimum(low - need + 1, need - high)  # drop below, or reach `in`
    reach = np.minimum(need - high, need - low)
    return np.select([code == 1, code == -1], [leave_in, leave_out], reach)


def _margin_comet(high: Ints, low: Ints, n: Ints, code: Any) -> Ints:
    """Exact: a changed rating moves each band count by at most one, and moving a rating
    from one band to another changes both counts at once (hence the max for ``reach``)."""
    need70 = _ceil_div(70 * n, 100)
    max15 = _ceil_div(15 * n, 100) - 1  # largest count still below 15%
    leave_in = np.minimum(high - need70 + 1, max15 + 1 - low)
    leave_out = np.minimum(low - need70 + 1, max15 + 1 - high)
    zero = np.zeros_like(n)
    reach_in = np.maximum(np.maximum(need70 - high, low - max15), zero)
    reach_out = np.maximum(np.maximum(need70 - low, high - max15), zero)
    return np.select([code == 1, code == -1], [leave_in, leave_out],
                     np.minimum(reach_in, reach_out))  # fmt: skip


def margins(counts: Ints, settings: CriterionSettings, rule: Rule, code: Any,
            ordered: Sorted | None = None) -> Ints:  # fmt: skip
    """Consensus margin (METHODS §5) per count vector; -1 where n == 0. ``ordered``: the
    same counts as ``Sorted.of(counts, settings.scale.min)``, when the caller shares it
    between rules."""
    n = counts.sum(axis=-1)
    if rule.kind in ("rand", "iqr"):
        ordered = ordered if ordered is not None else Sorted.of(counts, settings.scale.min)
        margin = _margin_median(counts, MedianRule.of(settings, rule), code, ordered)
    else:
        low, _, high = band_counts(counts, settings.scale)
        if rule.kind == "percent":
            margin = _margin_percent(high, low, n, rule.threshold_ppm, code)
        else:
            margin = _margin_comet(high, low, n, code)
    return np.where(n > 0, margin, -1)


def _margin_median(counts: Ints, rule: MedianRule, code: Any, ordered: Sorted) -> Ints:
    """Margin under the median-based rules (RAND/UCLA, IQR).

    What it guarantees: the result is always *achievable* (a concrete change of that many
    ratings is built and its verdict differs), and it is the exact minimum whenever it
    equals the lower bound below. Where the bound is not attained the search goes on
    through every bound-feasible (a, b) pair, cheapest first. The result equals exhaustive
    brute force for every count vector the tests enumerate: n <= 7 on 1-9 and n <= 12 on
    1-5 for all quantile types (fewer for types 5, 6, 8), n = 20 on 1-5 and n = 9 on 1-9
    for type 7. For larger panels exactness is argued, not enumerated.

    The lower bound: after ``a`` upward and ``b`` downward changes every order statistic
    satisfies x(j - b) <= y(j) <= x(j + a), and every quantile, the median and the
    RAND/IQR spread test are monotone in the order statistics, so a verdict is reachable
    with ``a + b`` changes only if it is reachable by the bounds. The bounds only change
    where ``j +- a`` crosses a cumulative count, so searching those breakpoints (a small
    fixed set per group) is exhaustive. Candidates that attain the bound: move the top
    ``m`` ratings to the minimum (median falls), move a middle block to both ends
    (spread grows), or move the lowest ``a`` and highest ``b`` ratings to one point ``s``
    (median rises and spread shrinks). ``out`` verdicts are handled as ``in`` on the
    mirrored scale.

    Most groups never need those candidates: at a bound-attaining (a, b) pair the bounds
    say which order statistics must rise to at least, or fall to at most, which value;
    ``_box_counts`` builds a change meeting them, and when its verdict differs and it moves
    no more than a + b ratings, the bound is the margin (a certificate, checked with the
    same verdict function). Only the groups without one go through the search. The bound
    itself needs no a x b grid: the spread test is monotone in b, so each a's cheapest b
    is found by bisection; and ``in`` and ``out`` are searched in one pass, the groups
    searched for ``out`` stacked mirrored under those searched for ``in``.
    """
    margin = np.full(len(counts), -1, dtype=np.int64)
    ins, outs = np.flatnonzero(code == 1), np.flatnonzero(code == -1)
    if len(ins) + len(outs):
        found = _leave_cost(Sides.of(counts, ordered, rule, ins, outs))
        margin[ins], margin[outs] = found[: len(ins)], found[len(ins) :]
    none = np.flatnonzero(code == 0)
    if len(none):
        margin[none] = _reach_cost(Sides.of(counts, ordered, rule, none, none))
    return margin


def _reach_cost(sides: Sides) -> Ints:
    """Fewest changes that turn groups now ``none`` into ``in`` or ``out`` (``sides`` holds
    each group as is, then mirrored): the lower bound of the cheaper side wherever a change
    attaining it is built, else the search.

    The side whose median is nearer its band goes first; the other side's bound is at
    least what its median alone needs (``_median_rises``), so where that is no less than a
    bound already attained, the other side is not computed (it could not be cheaper)."""
    g = len(sides.counts) // 2
    cum = sides.counts.cumsum(axis=1)
    a_min = _median_rises(sides.ordered, cum, sides.rule, sides.high)
    rows = np.arange(g)
    first = np.where(a_min[:g] <= a_min[g:], rows, rows + g)
    other = np.where(first < g, first + g, first - g)
    bound = np.full(2 * g, BIG, dtype=np.int64)
    attained = np.zeros(2 * g, dtype=bool)
    bound[first], attained[first] = _reach_bound(sides.take(first), a_min[first])
    second = other[~attained[first] | (a_min[other] < bound[first])]
    if len(second):
        bound[second], attained[second] = _reach_bound(sides.take(second), a_min[second])
    best = np.minimum(bound[:g], bound[g:])
    cheaper = [attained[half] & (bound[half] == best) for half in (slice(None, g), slice(g, None))]
    settled = cheaper[0] | cheaper[1]
    rest = np.flatnonzero(~settled)
    if len(rest):
        both = np.concatenate([rest, rest + g])
        best[rest] = search_reach(sides.take(both), a_min[both])
    return best


def _reach_bound(sides: Sides, a_min: Ints) -> tuple[Ints, Bools]:
    """The lower bound of reaching ``in`` for each row of ``sides`` (in its own
    orientation), and whether a change attaining it was built."""
    counts, rule, x = sides.counts, sides.rule, sides.ordered
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    jm, jl, jh = (x.positions(pct, rule.qtype)[0] for pct in (50, *rule.pcts))
    # the median reaches `high` from a_min raised ratings on; past that only the low
    # quantile's breakpoints change what b is needed, so they and a_min are the a to try
    a = breakpoints(cum, [jl, jl + 1], +1, distinct=True, least=a_min)
    b = breakpoints(cum, [jh, jh + 1], -1, distinct=True)
    ql = x.quantile(rule.pcts[0], rule.qtype, a)
    qh = x.quantile(rule.pcts[1], rule.qtype, -b)  # falls as b grows
    every = np.ones(a.shape, dtype=bool)
    bound, aa, bb = _cheapest_pair(a, b, every, lambda q: rule.spread_ok(ql, q), qh, n)
    raise_ = [(j, x.at(j + aa)) for j in (jl, jl + 1, jm, jm + 1)]
    lower = [(j, x.at(j - bb)) for j in (jh, jh + 1)]
    built = _box_counts(counts, rule.vmin, raise_, lower)
    return bound, sides.flips(built, np.zeros(len(n), dtype=np.int8), bound)


def _cheapest_pair(a: Ints, b: Ints, usable: Bools, holds: Callable[[Floats], Bools],
                   quantile: Floats, n: Ints) -> tuple[Ints, Ints, Ints]:  # fmt: skip
    """The lower bound min(a + b) over the (a, b) pairs where ``usable`` (per a) and
    ``holds(quantile at b)`` (per a), and its first pair; int64 max where there is none.

    ``a`` and ``b`` are distinct and ascending per row (``breakpoints(distinct=True)``),
    and ``holds`` is monotone in b (once true, true for every larger b), so each a's
    cheapest b is found by bisection: log(len(b)) steps instead of the whole a x b grid."""
    g, width = b.shape
    rows = (np.arange(g) * width)[:, None]  # flat index of each row's first column
    flat = np.ascontiguousarray(quantile).ravel()
    lo, hi = np.zeros(a.shape, dtype=np.int64), np.full(a.shape, width)
    for _ in range(max(1, width).bit_length()):
        mid = (lo + hi) >> 1
        ok = holds(flat[np.minimum(mid, width - 1) + rows])
        hi = np.where(ok, mid, hi)  # where lo == hi already, mid == lo: nothing moves
        lo = np.where(ok, lo, np.minimum(mid + 1, hi))
    found = lo < width
    b_first = np.ascontiguousarray(b).ravel()[np.minimum(lo, width - 1) + rows]
    cost = a + b_first
    cost = np.where(usable & found & (cost <= n[:, None]), cost, BIG)
    pick = cost.argmin(axis=1)
    at = (np.arange(g), pick)
    return cost[at], a[at], b_first[at]


def _leave_cost(sides: Sides) -> Ints:
    """Fewest changes that take groups out of ``in`` (``sides``: groups now ``in`` as they
    are, groups now ``out`` mirrored): the median falls, or the spread grows too wide."""
    counts, rule, x = sides.counts, sides.rule, sides.ordered
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    jl, jh = (x.positions(pct, rule.qtype)[0] for pct in rule.pcts)
    by_median = _median_falls(x, cum, rule, sides.high)
    # spread grows too wide: lower the low quantile by a and raise the high one by b;
    # the bound, where a change attaining it is built, else the search
    a = breakpoints(cum, [jl, jl + 1], -1, distinct=True)
    b = breakpoints(cum, [jh, jh + 1], +1, distinct=True)
    ql = x.quantile(rule.pcts[0], rule.qtype, -a)
    qh = x.quantile(rule.pcts[1], rule.qtype, b)  # rises as b grows
    every = np.ones(a.shape, dtype=bool)
    bound, aa, bb = _cheapest_pair(a, b, every, lambda q: ~rule.spread_ok(ql, q), qh, n)
    lower = [(jl, x.at(jl - aa)), (jl + 1, x.at(jl + 1 - aa))]
    raise_ = [(jh, x.at(jh + bb)), (jh + 1, x.at(jh + 1 + bb))]
    built = _box_counts(counts, rule.vmin, raise_, lower)
    attained = sides.flips(built, np.where(sides.flipped, -1, 1), bound)
    result = np.where(by_median <= bound, by_median, bound)
    rest = np.flatnonzero((by_median > bound) & ~attained)
    if len(rest):
        result[rest] = search_widening(sides.take(rest), by_median[rest])
    return result


def _median_rises(x: Sorted, cum: Ints, rule: MedianRule, high: Floats) -> Ints:
    """Fewest of the lowest ratings to move to the maximum for the median to reach
    ``high`` (exact): the mirror image of ``_median_falls``. With A ratings below ``high``,
    the median reads x(jm + a) and x(jm + 1 + a): both reach it from a = A + 1 - jm on,
    neither before A - jm, where it is interpolated between x(A) and x(A + 1)."""
    jm, t = x.positions(50, rule.qtype)
    below = _count_below(cum, high - rule.vmin)
    between = lerp(x.at(below), x.at(below + 1), t)
    first = below - jm
    return np.where((first >= 0) & (between >= high), first, np.maximum(first + 1, 0))


def _count_below(cum: Ints, level: Floats) -> Ints:
    """Ratings with a scale-point index below ``level`` (per row)."""
    cum0 = np.concatenate([np.zeros((len(cum), 1), np.int64), cum], axis=1)
    points_below = np.clip(np.ceil(level).astype(np.int64), 0, cum.shape[1])
    return cum0[np.arange(len(cum)), points_below]


def _median_falls(x: Sorted, cum: Ints, rule: MedianRule, high: Floats) -> Ints:
    """Fewest ratings to move from the top to the minimum for the median to fall below
    ``high`` (exact; n when even that does not do it).

    With the top m moved down, the median reads x(jm - m) and x(jm + 1 - m). With B ratings
    below ``high``, both are below it from m = jm + 1 - B on and neither before jm - B, so
    the answer is jm - B when the median interpolated between x(B) and x(B + 1) is below,
    else jm + 1 - B (at least 1)."""
    n = cum[:, -1]
    jm, t = x.positions(50, rule.qtype)
    below = _count_below(cum, high - rule.vmin)
    between = lerp(x.at(below), x.at(below + 1), t)
    first = jm - below
    m = np.where((first >= 1) & (between < high), first, np.maximum(first + 1, 1))
    return np.minimum(m, n)


def _box_counts(counts: Ints, vmin: int, raise_: list[tuple[Ints, Ints]],
                lower: list[tuple[Ints, Ints]]) -> Ints:  # fmt: skip
    """New count vectors whose order statistics meet bounds: y(q) >= u for each (q, u) in
    ``raise_`` and y(q) <= w for each (q, w) in ``lower`` (positions past n are ignored).

    As cumulative counts D: y(q) >= u holds when D(v) <= q - 1 below u, and y(q) <= w when
    D(v) >= q from w on. D follows the old cumulative counts as closely as those limits
    allow, moving only the ratings it must."""
    g, k = counts.shape
    n = counts.sum(axis=1)
    point = np.arange(k) + vmin
    most = np.broadcast_to(n[:, None], (g, k)).copy()
    least = np.zeros((g, k), dtype=np.int64)
    for q, u in raise_:
        applies = (point < u[:, None]) & (q <= n)[:, None]
        most = np.where(applies, np.minimum(most, (q - 1)[:, None]), most)
    for q, w in lower:
        applies = (point >= w[:, None]) & (q <= n)[:, None]
        least = np.where(applies, np.maximum(least, q[:, None]), least)
    total = np.zeros(g, dtype=np.int64)
    built = np.empty_like(counts)
    for v in range(k):
        reached = np.minimum(np.maximum(total + counts[:, v], least[:, v]), most[:, v])
        reached = n if v == k - 1 else reached
        built[:, v] = reached - total
        total = reached
    return built
