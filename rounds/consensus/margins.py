"""The consensus margin (METHODS §5): the fewest panelists whose ratings would have to change for
an item's verdict to change.

Exact closed forms for the share-based rules (percent agreement, COMET); a bounded search
for the median-based rules (RAND/UCLA, IQR), described in ``margin_median``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from rounds.consensus.counting import Bools, Floats, Ints
from rounds.consensus.quantiles import lerp, positions
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


def margins(counts: Ints, settings: CriterionSettings, rule: Rule, code: Any) -> Ints:
    """Consensus margin (METHODS §5) per count vector; -1 where n == 0."""
    n = counts.sum(axis=-1)
    low, _, high = band_counts(counts, settings.scale)
    if rule.kind == "percent":
        margin = _margin_percent(high, low, n, rule.threshold_ppm, code)
    elif rule.kind == "comet":
        margin = _margin_comet(high, low, n, code)
    else:
        margin = _margin_median(counts, MedianRule.of(settings, rule), code)
    return np.where(n > 0, margin, -1)


def _margin_median(counts: Ints, rule: MedianRule, code: Any) -> Ints:
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
    same verdict function). Only the groups without one go through the search.
    """
    margin = np.full(len(counts), -1, dtype=np.int64)
    ordered = _Sorted.of(counts, rule.vmin)
    sides = ((1, counts, rule, ordered), (-1, counts[:, ::-1], rule.mirrored(), ordered.flip()))
    for side, c, r, x in sides:
        leaving = np.flatnonzero(code == side)
        if len(leaving):
            margin[leaving] = _leave_cost(c[leaving], r, x.take(leaving))
    none = np.flatnonzero(code == 0)
    if len(none):
        margin[none] = _reach_cost(counts[none], rule, ordered.take(none))
    return margin


@dataclass(frozen=True)
class _Sorted:
    """Every group's ratings in order, as scale-point indices, for order statistics x(j)
    (1-based) by lookup rather than by search. Extended as quantiles need it: x(j < 1) is
    the scale's minimum and x(j > n) its maximum. ``flipped`` reads the mirrored ratings
    (v -> min + max - v) from the same array."""

    values: Ints  # the groups' sorted scale-point indices, one group after another
    start: Ints  # (g,) where each group begins in ``values``
    n: Ints
    vmin: int
    top: int  # index of the scale's maximum
    flipped: bool = False

    @classmethod
    def of(cls, counts: Ints, vmin: int) -> _Sorted:
        g, k = counts.shape
        points = np.tile(np.arange(k, dtype=np.int16 if k < 2**15 else np.int64), g)
        values = np.append(np.repeat(points, counts.ravel()), 0)  # one slot for n = 0
        n = counts.sum(axis=1)
        return cls(values, np.cumsum(n) - n, n, vmin, k - 1)

    def flip(self) -> _Sorted:
        return _Sorted(self.values, self.start, self.n, self.vmin, self.top, not self.flipped)

    def take(self, rows: Ints) -> _Sorted:
        return _Sorted(self.values, self.start[rows], self.n[rows], self.vmin, self.top,
                       self.flipped)  # fmt: skip

    def at(self, j: Ints) -> Ints:
        """x(j) for indices ``j`` of shape (g, ...)."""
        shape = (-1,) + (1,) * (j.ndim - 1)
        n = self.n.reshape(shape)
        if self.flipped:
            j = n + 1 - j
        index = self.values[
            self.start.reshape(shape) + np.minimum(np.maximum(j, 1), np.maximum(n, 1)) - 1
        ]
        point = np.where(j < 1, 0, np.where(j > n, self.top, index))
        return self.vmin + (self.top - point if self.flipped else point)

    def quantile(self, pct: int, qtype: int, shift: Ints) -> Floats:
        """The quantile with its order-statistic index moved by ``shift`` (g, S)."""
        j, t = positions(self.n, pct, qtype)
        lo = self.at(j[:, None] + shift)
        return lerp(lo, self.at(j[:, None] + 1 + shift), t[:, None])


def _reach_cost(counts: Ints, rule: MedianRule, ordered: _Sorted) -> Ints:
    """Fewest changes that turn groups now ``none`` into ``in`` or ``out``: the lower bound
    of the cheaper side wherever a change attaining it is built, else the search."""
    sides = [(counts, rule, ordered), (counts[:, ::-1], rule.mirrored(), ordered.flip())]
    reaches = [_reach(c, r, x, distinct=True) for c, r, x in sides]
    best = np.minimum(reaches[0].bound, reaches[1].bound)
    settled = np.zeros(len(counts), dtype=bool)
    for reach in reaches:
        settled |= reach.attained & (reach.bound == best)
    rest = np.flatnonzero(~settled)
    if len(rest):
        best[rest] = _search_reach([(c[rest], r, x.take(rest)) for c, r, x in sides])
    return best


def _search_reach(sides: list[tuple[Ints, MedianRule, _Sorted]]) -> Ints:
    """Verified changes at the few cheapest (a, b) pairs of each side, then, where a lower
    bound leaves room to beat them, at every remaining pair, cheapest first."""
    reaches = [_reach(c, r, x) for c, r, x in sides]
    found = []
    for (c, r, x), reach in zip(sides, reaches, strict=True):
        first = _cheapest_columns(reach.cost, 4)
        found.append(_concentrate(c, r, x, reach.a, reach.b, first, reach.cost))
    best = np.minimum(found[0], found[1])
    for (c, r, x), reach in zip(sides, reaches, strict=True):
        todo = np.flatnonzero(reach.bound < best)
        if len(todo):
            best[todo] = np.minimum(best[todo], _reach_wide(c, r, x, reach, todo, best))
    return best


def _breakpoints(cum: Ints, at: list[Ints], sign: int, distinct: bool = False) -> Ints:
    """Shifts d >= 0 at which x(p + sign * d) changes for some p in ``at``. ``distinct``:
    each shift once, ascending, rows padded with n + 1 (more than any change can move)."""
    cum0 = np.concatenate([np.zeros((len(cum), 1), np.int64), cum], axis=1)
    n = cum[:, -1:]
    parts = [cum0 + 1 - p[:, None] if sign > 0 else p[:, None] - cum0 for p in at]
    zero = np.zeros((len(cum), 1), np.int64)
    shifts = np.clip(np.concatenate([zero, *parts], axis=1), 0, n)
    if not distinct:
        return shifts
    shifts.sort(axis=1)
    repeated = np.zeros(shifts.shape, dtype=bool)
    repeated[:, 1:] = shifts[:, 1:] == shifts[:, :-1]
    shifts = np.sort(np.where(repeated, n + 1, shifts), axis=1)
    return shifts[:, : max(1, int((~repeated).sum(axis=1).max(initial=1)))]


def _leave_cost(counts: Ints, rule: MedianRule, ordered: _Sorted) -> Ints:
    """Fewest changes that take groups now ``in`` out of ``in``."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    q = rule.qtype
    jm, _ = positions(n, 50, q)
    jl, _ = positions(n, rule.pcts[0], q)
    jh, _ = positions(n, rule.pcts[1], q)
    # median falls below `high`: move the top m ratings to the minimum (exact)
    m = np.maximum(_breakpoints(cum, [jm, jm + 1], -1), 1)
    falls = ordered.quantile(50, q, -m) < rule.high
    by_median = np.where(falls, m, n[:, None]).min(axis=1)
    # spread grows too wide: lower the low quantile by a and raise the high one by b;
    # the bound, where a change attaining it is built, else the search
    a, b, cost = _widening(counts, rule, ordered, distinct=True)
    pick = cost.argmin(axis=1)
    bound = np.take_along_axis(cost, pick[:, None], axis=1)[:, 0]
    aa, bb = (v[:, 0] for v in _pair_values(a, b, pick[:, None]))
    lower = [(jl, ordered.at(jl - aa)), (jl + 1, ordered.at(jl + 1 - aa))]
    raise_ = [(jh, ordered.at(jh + bb)), (jh + 1, ordered.at(jh + 1 + bb))]
    built = _box_counts(counts, rule.vmin, raise_, lower)
    attained = _flips(counts, built, rule, 1, bound)
    result = np.where(by_median <= bound, by_median, bound)
    rest = np.flatnonzero((by_median > bound) & ~attained)

    if len(rest):
        result[rest] = _search_widening(counts[rest], rule, ordered.take(rest), by_median[rest])
    return result


def _widening(counts: Ints, rule: MedianRule, ordered: _Sorted,
              distinct: bool = False) -> tuple[Ints, Ints, Ints]:  # fmt: skip
    """Shifts a of the low quantile down and b of the high one up, and the lower bound
    a + b of each (a, b) pair that makes the spread too wide (int64 max where none)."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    jl, _ = positions(n, rule.pcts[0], rule.qtype)
    jh, _ = positions(n, rule.pcts[1], rule.qtype)
    a = _breakpoints(cum, [jl, jl + 1], -1, distinct)
    b = _breakpoints(cum, [jh, jh + 1], +1, distinct)
    ql = ordered.quantile(rule.pcts[0], rule.qtype, -a)
    qh = ordered.quantile(rule.pcts[1], rule.qtype, b)
    wide = ~rule.spread_ok(ql[:, :, None], qh[:, None, :])
    cost = a[:, :, None] + b[:, None, :]
    return a, b, np.where(wide & (cost <= n[:, None, None]), cost, _BIG).reshape(len(n), -1)


def _search_widening(counts: Ints, rule: MedianRule, ordered: _Sorted, best: Ints) -> Ints:
    """Verified widening changes, cheapest (a, b) pair first, while one could beat ``best``."""
    a, b, cost = _widening(counts, rule, ordered)

    def spread(rows: Ints, pick: Ints) -> Ints:
        aa, bb = _pair_values(a[rows], b[rows], pick)
        return _spread_moves(counts[rows], rule, ordered.take(rows), aa, bb)

    return _in_cost_order(cost, best, spread)


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


def _flips(counts: Ints, built: Ints, rule: MedianRule, code: int, bound: Ints) -> Bools:
    """Whether each built count vector is a change of at most ``bound`` ratings that takes
    the verdict away from ``code``: a certificate that the bound is the margin."""
    valid = (built >= 0).all(axis=1) & (bound < _BIG)
    moved = np.maximum(counts - built, 0).sum(axis=1)
    verdict = rule.verdict_of_counts(built)
    return valid & (moved <= bound) & (verdict != code)


_BIG = np.iinfo(np.int64).max  # "ruled out" in cost arrays
_STEP = 16  # candidate pairs evaluated per group and pass


def _pair_values(a: Ints, b: Ints, pick: Ints) -> tuple[Ints, Ints]:
    """(a, b) values of flat indices ``pick`` into each group's a x b grid."""
    ai, bi = np.divmod(pick, b.shape[1])
    return np.take_along_axis(a, ai, axis=1), np.take_along_axis(b, bi, axis=1)


def _cheapest_columns(cost: Ints, count: int) -> Ints:
    """The ``count`` cheapest columns of each row, in the order a stable argsort gives
    them, without sorting whole rows (a unique key: cost, then column)."""
    width = cost.shape[1]
    if count >= width:
        return np.argsort(cost, axis=1, kind="stable")
    ceiling = int(np.where(cost < _BIG, cost, 0).max(initial=0)) + 1
    key = np.where(cost < _BIG, cost, ceiling) * width + np.arange(width)
    first = np.argpartition(key, count - 1, axis=1)[:, :count]
    return np.take_along_axis(first, np.argsort(np.take_along_axis(key, first, axis=1)), axis=1)


def _in_cost_order(
    cost: Ints, best: Ints, evaluate: Callable[[Ints, Ints], Ints], start: int = 0
) -> Ints:
    """Improve ``best`` by evaluating candidate pairs cheapest first, a few at a time,
    dropping each group as soon as no remaining pair is cheaper than what it has.

    ``cost`` (groups x pairs) holds each pair's lower bound; ``evaluate(rows, pick)``
    returns the cheapest verified change among the picked pairs of those groups. Most
    groups settle in the first pass, so only the groups still open sort their rows."""
    order = _cheapest_columns(cost, start + _STEP)
    result = best.copy()
    active = np.arange(len(cost))
    while active.size and start < cost.shape[1]:
        if start >= order.shape[1]:
            order = np.zeros(cost.shape, dtype=np.intp)
            order[active] = np.argsort(cost[active], axis=1, kind="stable")
        next_cost = np.take_along_axis(cost[active], order[active, start : start + 1], axis=1)
        active = active[next_cost[:, 0] < result[active]]
        if not active.size:
            break
        found = evaluate(active, order[active, start : start + _STEP])
        result[active] = np.minimum(result[active], found)
        start += _STEP
    return result


def _order_positions(n: Ints, rule: MedianRule) -> tuple[Ints, Floats]:
    """The order statistics the verdict reads, (g, 6): j and j + 1 of the median and of the
    low and high quantiles, and the three interpolation weights (g, 3)."""
    found = [positions(n, pct, rule.qtype) for pct in (50, *rule.pcts)]
    j = np.stack([p[0] for p in found], axis=1)
    return np.concatenate([j, j + 1], axis=1), np.stack([p[1] for p in found], axis=1)


def _verdict_of_order(rule: MedianRule, y: Ints, t: Floats) -> npt.NDArray[np.int8]:
    """Verdicts from order statistics ``y`` (..., 6) laid out as ``_order_positions``."""
    q = lerp(y[..., :3], y[..., 3:], t)
    return rule.verdict(q[..., 0], q[..., 1], q[..., 2])


def _spread_moves(counts: Ints, rule: MedianRule, ordered: _Sorted, a: Ints, b: Ints) -> Ints:
    """Cheapest verified change among: take a middle block of a + b ratings (starting just
    above the low quantile's order statistics), put a at the minimum and b at the maximum.
    ``a`` and ``b`` have shape (groups, candidates). The new ratings' order statistics are
    read off the old ones: y(p) is the minimum up to a, then x(p - a) below the block,
    x(p + b) above it, and the maximum past n - b."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    m = a + b
    jl, _ = positions(n, rule.pcts[0], rule.qtype)
    start = np.clip(jl[:, None] + 1 - a, 0, np.maximum(n[:, None] - m, 0))
    end = start + m
    p, t = _order_positions(n, rule)
    p, aa, bb, first = p[:, None, :], a[..., None], b[..., None], start[..., None]
    kept = np.where(p - aa <= first, ordered.at(p - aa), ordered.at(p + bb))
    y = np.where(p <= aa, rule.vmin, np.where(p > n[:, None, None] - bb, rule.vmax, kept))
    verdict = _verdict_of_order(rule, y, t[:, None, :])
    at_min = np.clip(np.minimum(end, cum[:, :1]) - start, 0, None)
    at_max = np.clip(end - np.maximum(start, cum[:, -2:-1]), 0, None)
    cost = m - np.minimum(at_min, a) - np.minimum(at_max, b)
    ok = (verdict != 1) & (m <= n[:, None])
    return np.where(ok, cost, n[:, None]).min(axis=1)


@dataclass(frozen=True)
class _Reach:
    """Bound-feasible (a, b) pairs for reaching ``in`` from ``none``."""

    a: Ints
    b: Ints
    cost: Ints  # (g, len(a) * len(b)); int64 max where the bounds rule the pair out
    bound: Ints  # the lower bound: no change with fewer ratings can reach `in`
    attained: Bools  # a change of exactly ``bound`` ratings was built

    def take(self, rows: Ints) -> _Reach:
        return _Reach(self.a[rows], self.b[rows], self.cost[rows], self.bound[rows],
                      self.attained[rows])  # fmt: skip


def _reach(counts: Ints, rule: MedianRule, ordered: _Sorted, distinct: bool = False) -> _Reach:
    """Lower bound for turning ``none`` into ``in``, and whether a change of that many
    ratings is built at the first bound-attaining (a, b) pair."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    q = rule.qtype
    jm, _ = positions(n, 50, q)
    jl, _ = positions(n, rule.pcts[0], q)
    jh, _ = positions(n, rule.pcts[1], q)
    a = _breakpoints(cum, [jl, jl + 1, jm, jm + 1], +1, distinct)
    b = _breakpoints(cum, [jh, jh + 1], -1, distinct)
    med = ordered.quantile(50, q, a)
    ql = ordered.quantile(rule.pcts[0], q, a)
    qh = ordered.quantile(rule.pcts[1], q, -b)
    possible = (med >= rule.high)[:, :, None] & rule.spread_ok(ql[:, :, None], qh[:, None, :])
    cost = a[:, :, None] + b[:, None, :]
    cost = np.where(possible & (cost <= n[:, None, None]), cost, _BIG).reshape(len(n), -1)
    pick = cost.argmin(axis=1)
    bound = np.take_along_axis(cost, pick[:, None], axis=1)[:, 0]
    aa, bb = (v[:, 0] for v in _pair_values(a, b, pick[:, None]))
    raise_ = [(j, ordered.at(j + aa)) for j in (jl, jl + 1, jm, jm + 1)]
    lower = [(j, ordered.at(j - bb)) for j in (jh, jh + 1)]
    built = _box_counts(counts, rule.vmin, raise_, lower)
    return _Reach(a, b, cost, bound, _flips(counts, built, rule, 0, bound))


def _reach_wide(counts: Ints, rule: MedianRule, ordered: _Sorted, reach: _Reach, groups: Ints,
                best: Ints) -> Ints:  # fmt: skip
    """Try the remaining bound-feasible pairs, cheapest first, for ``groups``."""

    def concentrate(sub: Ints, pick: Ints) -> Ints:
        g = groups[sub]
        return _concentrate(counts[g], rule, ordered.take(g), reach.a[g], reach.b[g], pick,
                            reach.cost[g])  # fmt: skip

    return _in_cost_order(reach.cost[groups], best[groups], concentrate, start=4)


def _concentrate(counts: Ints, rule: MedianRule, ordered: _Sorted, a: Ints, b: Ints,
                 pick: Ints, cost: Ints) -> Ints:  # fmt: skip
    """Move the lowest a and the highest b ratings to one scale point s, for the (a, b)
    pairs in ``pick`` (flat indices into the a x b grid) and every s; plus "everyone
    rates s", which always reaches a verdict.

    The new ratings' order statistics are read off the old ones: with r of the kept
    ratings below s, y(p) is x(p + a) up to r, s for the next a + b, then x(p - b)."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    aa, bb = _pair_values(a, b, pick)
    m = (aa + bb)[..., None]  # (g, P, 1): one axis for s
    below = (cum - counts)[:, None, :]  # ratings below each point s
    kept_below = np.clip(below - aa[..., None], 0, n[:, None, None] - m)
    p, t = _order_positions(n, rule)
    up, down = ordered.at(p[:, None, :] + aa[..., None]), ordered.at(p[:, None, :] - bb[..., None])
    p, r = p[:, None, None, :], kept_below[..., None]  # (g, 1, 1, 6) and (g, P, S, 1)
    point = rule.vmin + np.arange(counts.shape[1])[:, None]  # (S, 1)
    y = np.where(p <= r, up[:, :, None, :], np.where(p <= r + m[..., None], point,
                                                     down[:, :, None, :]))  # fmt: skip
    verdict = _verdict_of_order(rule, y, t[:, None, None, :])
    low_taken = np.clip(aa[..., None] - below, 0, counts[:, None, :])
    high_taken = np.clip(bb[..., None] - (n[:, None] - cum)[:, None, :], 0, counts[:, None, :])
    moved = m - low_taken - high_taken
    usable = (np.take_along_axis(cost, pick, axis=1) < _BIG)[..., None]
    found = np.where((verdict != 0) & usable, moved, n[:, None, None]).min(axis=(1, 2))
    return np.minimum(found, _everyone(counts, rule))


def _everyone(counts: Ints, rule: MedianRule) -> Ints:
    """Fewest changes for every panelist to rate one point s: a verdict whenever s is
    in the low or the high band of the rule."""
    s = rule.vmin + np.arange(counts.shape[1])
    reaches = rule.verdict(s, s, s) != 0
    n = counts.sum(axis=1)
    return np.where(reaches, n[:, None] - counts, n[:, None]).min(axis=1)
