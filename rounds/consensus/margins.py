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
    if rule.kind in ("rand", "iqr"):
        margin = _margin_median(counts, MedianRule.of(settings, rule), code)
    else:
        low, _, high = band_counts(counts, settings.scale)
        if rule.kind == "percent":
            margin = _margin_percent(high, low, n, rule.threshold_ppm, code)
        else:
            margin = _margin_comet(high, low, n, code)
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
    same verdict function). Only the groups without one go through the search. The bound
    itself needs no a x b grid: the spread test is monotone in b, so each a's cheapest b
    is found by bisection; and ``in`` and ``out`` are searched in one pass, the groups
    searched for ``out`` stacked mirrored under those searched for ``in``.
    """
    margin = np.full(len(counts), -1, dtype=np.int64)
    ordered = _Sorted.of(counts, rule.vmin)
    ins, outs = np.flatnonzero(code == 1), np.flatnonzero(code == -1)
    if len(ins) + len(outs):
        found = _leave_cost(_Sides.of(counts, ordered, rule, ins, outs))
        margin[ins], margin[outs] = found[: len(ins)], found[len(ins) :]
    none = np.flatnonzero(code == 0)
    if len(none):
        margin[none] = _reach_cost(_Sides.of(counts, ordered, rule, none, none))
    return margin


@dataclass(frozen=True)
class _Sorted:
    """Every group's ratings in order, as scale-point indices, for order statistics x(j)
    (1-based) by lookup rather than by search. Extended as quantiles need it: x(j < 1) is
    the scale's minimum and x(j > n) its maximum. Rows marked ``flipped`` read the
    mirrored ratings (v -> min + max - v) from the same array."""

    values: Ints  # the groups' sorted scale-point indices, one group after another
    start: Ints  # (g,) where each group begins in ``values``
    n: Ints
    vmin: int
    top: int  # index of the scale's maximum
    flipped: Bools

    @classmethod
    def of(cls, counts: Ints, vmin: int) -> _Sorted:
        g, k = counts.shape
        points = np.tile(np.arange(k, dtype=np.int16 if k < 2**15 else np.int64), g)
        values = np.append(np.repeat(points, counts.ravel()), 0)  # one slot for n = 0
        n = counts.sum(axis=1)
        return cls(values, np.cumsum(n) - n, n, vmin, k - 1, np.zeros(g, dtype=bool))

    def take(self, rows: Ints, flip: bool = False) -> _Sorted:
        return _Sorted(self.values, self.start[rows], self.n[rows], self.vmin, self.top,
                       self.flipped[rows] ^ flip)  # fmt: skip

    def stack(self, other: _Sorted) -> _Sorted:
        join = np.concatenate
        return _Sorted(self.values, join([self.start, other.start]), join([self.n, other.n]),
                       self.vmin, self.top, join([self.flipped, other.flipped]))  # fmt: skip

    def at(self, j: Ints) -> Ints:
        """x(j) for indices ``j`` of shape (g, ...)."""
        shape = (-1,) + (1,) * (j.ndim - 1)
        n, flipped = self.n.reshape(shape), self.flipped.reshape(shape)
        j = np.where(flipped, n + 1 - j, j)
        index = self.values[
            self.start.reshape(shape) + np.minimum(np.maximum(j, 1), np.maximum(n, 1)) - 1
        ]
        point = np.where(j < 1, 0, np.where(j > n, self.top, index))
        return self.vmin + np.where(flipped, self.top - point, point)

    def quantile(self, pct: int, qtype: int, shift: Ints) -> Floats:
        """The quantile with its order-statistic index moved by ``shift`` (g, S)."""
        j, t = positions(self.n, pct, qtype)
        lo = self.at(j[:, None] + shift)
        return lerp(lo, self.at(j[:, None] + 1 + shift), t[:, None])


@dataclass(frozen=True)
class _Sides:
    """Groups to search, each from the end of the scale its search works towards: as
    they are, or mirrored (v -> min + max - v) so that ``out`` is searched as ``in``.
    Stacking both kinds of rows runs every step once for all of them."""

    counts: Ints  # each row in its own orientation
    ordered: _Sorted
    rule: MedianRule  # the study's rule; mirrored rows use ``rule.mirrored()``

    @classmethod
    def of(cls, counts: Ints, ordered: _Sorted, rule: MedianRule, plain: Ints,
           mirrored: Ints) -> _Sides:  # fmt: skip
        stacked = np.concatenate([counts[plain], counts[mirrored][:, ::-1]])
        return cls(stacked, ordered.take(plain).stack(ordered.take(mirrored, flip=True)), rule)

    @property
    def flipped(self) -> Bools:
        return self.ordered.flipped

    @property
    def high(self) -> Floats:
        """Where each row's median must reach for ``in`` (in the row's orientation)."""
        return np.where(self.flipped, self.rule.mirrored().high, self.rule.high)

    def take(self, rows: Ints) -> _Sides:
        return _Sides(self.counts[rows], self.ordered.take(rows), self.rule)

    def halves(self) -> list[tuple[Ints, MedianRule, _Sorted, Ints]]:
        """The plain and the mirrored rows apart, each with its own rule, and their rows."""
        found = []
        for flip, rule in ((False, self.rule), (True, self.rule.mirrored())):
            rows = np.flatnonzero(self.flipped == flip)
            if len(rows):
                found.append((self.counts[rows], rule, self.ordered.take(rows), rows))
        return found

    def flips(self, built: Ints, code: Ints, bound: Ints) -> Bools:
        """Whether each built count vector (in its row's orientation) is a change of at most
        ``bound`` ratings whose verdict is not ``code`` (in the study's orientation): a
        certificate that the bound is the margin."""
        valid = (built >= 0).all(axis=1) & (bound < _BIG)
        moved = np.maximum(self.counts - built, 0).sum(axis=1)
        plain = np.where(self.flipped[:, None], built[:, ::-1], built)
        verdict = self.rule.verdict_of_counts(plain)
        return valid & (moved <= bound) & (verdict != code)


def _reach_cost(sides: _Sides) -> Ints:
    """Fewest changes that turn groups now ``none`` into ``in`` or ``out`` (``sides`` holds
    each group as is, then mirrored): the lower bound of the cheaper side wherever a change
    attaining it is built, else the search."""
    g = len(sides.counts) // 2
    counts, rule, x = sides.counts, sides.rule, sides.ordered
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    jm, jl, jh = (positions(n, pct, rule.qtype)[0] for pct in (50, *rule.pcts))
    a = _breakpoints(cum, [jl, jl + 1, jm, jm + 1], +1, distinct=True)
    b = _breakpoints(cum, [jh, jh + 1], -1, distinct=True)
    rises = x.quantile(50, rule.qtype, a) >= sides.high[:, None]
    ql = x.quantile(rule.pcts[0], rule.qtype, a)
    qh = x.quantile(rule.pcts[1], rule.qtype, -b)  # falls as b grows
    bound, aa, bb = _cheapest_pair(a, b, rises, lambda q: rule.spread_ok(ql, q), qh, n)
    raise_ = [(j, x.at(j + aa)) for j in (jl, jl + 1, jm, jm + 1)]
    lower = [(j, x.at(j - bb)) for j in (jh, jh + 1)]
    built = _box_counts(counts, rule.vmin, raise_, lower)
    attained = sides.flips(built, np.zeros(len(n), dtype=np.int8), bound)
    best = np.minimum(bound[:g], bound[g:])
    cheaper = [attained[half] & (bound[half] == best) for half in (slice(None, g), slice(g, None))]
    settled = cheaper[0] | cheaper[1]
    rest = np.flatnonzero(~settled)
    if len(rest):
        best[rest] = _search_reach(sides.take(np.concatenate([rest, rest + g])))
    return best


def _search_reach(sides: _Sides) -> Ints:
    """Verified changes at the few cheapest (a, b) pairs of each side, then, where a lower
    bound leaves room to beat them, at every remaining pair, cheapest first."""
    halves = [(c, r, x, _reach(c, r, x, r.high)) for c, r, x, _ in sides.halves()]
    found = []
    for c, r, x, reach in halves:
        first = _cheapest_columns(reach.cost, 4)
        found.append(_concentrate(c, r, x, reach.a, reach.b, first, reach.cost))
    best = np.minimum(found[0], found[1])
    for c, r, x, reach in halves:
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


def _cheapest_pair(a: Ints, b: Ints, usable: Bools, holds: Callable[[Floats], Bools],
                   quantile: Floats, n: Ints) -> tuple[Ints, Ints, Ints]:  # fmt: skip
    """The lower bound min(a + b) over the (a, b) pairs where ``usable`` (per a) and
    ``holds(quantile at b)`` (per a), and its first pair; int64 max where there is none.

    ``a`` and ``b`` are distinct and ascending per row (``_breakpoints(distinct=True)``),
    and ``holds`` is monotone in b (once true, true for every larger b), so each a's
    cheapest b is found by bisection: log(len(b)) steps instead of the whole a x b grid."""
    width = b.shape[1]
    lo, hi = np.zeros(a.shape, dtype=np.int64), np.full(a.shape, width)
    for _ in range(max(1, width).bit_length()):
        mid = (lo + hi) // 2
        ok = holds(np.take_along_axis(quantile, np.minimum(mid, width - 1), axis=1))
        open_ = lo < hi
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid + 1, lo)
    found = lo < width
    b_first = np.take_along_axis(b, np.minimum(lo, width - 1), axis=1)
    cost = np.where(usable & found & (a + b_first <= n[:, None]), a + b_first, _BIG)
    pick = cost.argmin(axis=1)[:, None]
    bound = np.take_along_axis(cost, pick, axis=1)[:, 0]
    aa = np.take_along_axis(a, pick, axis=1)[:, 0]
    return bound, aa, np.take_along_axis(b_first, pick, axis=1)[:, 0]


def _leave_cost(sides: _Sides) -> Ints:
    """Fewest changes that take groups out of ``in`` (``sides``: groups now ``in`` as they
    are, groups now ``out`` mirrored): the median falls, or the spread grows too wide."""
    counts, rule, x = sides.counts, sides.rule, sides.ordered
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    jm, jl, jh = (positions(n, pct, rule.qtype)[0] for pct in (50, *rule.pcts))
    # median falls below `high`: move the top m ratings to the minimum (exact)
    m = np.maximum(_breakpoints(cum, [jm, jm + 1], -1, distinct=True), 1)
    falls = x.quantile(50, rule.qtype, -m) < sides.high[:, None]
    by_median = np.where(falls, m, n[:, None]).min(axis=1)
    # spread grows too wide: lower the low quantile by a and raise the high one by b;
    # the bound, where a change attaining it is built, else the search
    a = _breakpoints(cum, [jl, jl + 1], -1, distinct=True)
    b = _breakpoints(cum, [jh, jh + 1], +1, distinct=True)
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
        result[rest] = _search_widening(sides.take(rest), by_median[rest])
    return result


def _widening(counts: Ints, rule: MedianRule, ordered: _Sorted) -> tuple[Ints, Ints, Ints]:
    """Shifts a of the low quantile down and b of the high one up, and the lower bound
    a + b of each (a, b) pair that makes the spread too wide (int64 max where none)."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    jl, _ = positions(n, rule.pcts[0], rule.qtype)
    jh, _ = positions(n, rule.pcts[1], rule.qtype)
    a = _breakpoints(cum, [jl, jl + 1], -1)
    b = _breakpoints(cum, [jh, jh + 1], +1)
    ql = ordered.quantile(rule.pcts[0], rule.qtype, -a)
    qh = ordered.quantile(rule.pcts[1], rule.qtype, b)
    wide = ~rule.spread_ok(ql[:, :, None], qh[:, None, :])
    cost = a[:, :, None] + b[:, None, :]
    return a, b, np.where(wide & (cost <= n[:, None, None]), cost, _BIG).reshape(len(n), -1)


def _search_widening(sides: _Sides, best: Ints) -> Ints:
    """Verified widening changes, cheapest (a, b) pair first, while one could beat ``best``."""
    result = best.copy()
    for counts, rule, ordered, rows in sides.halves():
        a, b, cost = _widening(counts, rule, ordered)

        def spread(sub: Ints, pick: Ints, c: Ints = counts, r: MedianRule = rule,
                   x: _Sorted = ordered, a: Ints = a, b: Ints = b) -> Ints:  # fmt: skip
            aa, bb = _pair_values(a[sub], b[sub], pick)
            return _spread_moves(c[sub], r, x.take(sub), aa, bb)

        result[rows] = _in_cost_order(cost, best[rows], spread)
    return result


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


def _reach(counts: Ints, rule: MedianRule, ordered: _Sorted, high: float) -> _Reach:
    """Lower bound for turning ``none`` into ``in`` (a median of at least ``high``, per row
    or for all) over every (a, b) breakpoint pair: a ratings raised, b lowered."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    q = rule.qtype
    jm, jl, jh = (positions(n, pct, q)[0] for pct in (50, *rule.pcts))
    a = _breakpoints(cum, [jl, jl + 1, jm, jm + 1], +1)
    b = _breakpoints(cum, [jh, jh + 1], -1)
    med = ordered.quantile(50, q, a)
    ql = ordered.quantile(rule.pcts[0], q, a)
    qh = ordered.quantile(rule.pcts[1], q, -b)
    rises = med >= high
    possible = rises[:, :, None] & rule.spread_ok(ql[:, :, None], qh[:, None, :])
    cost = a[:, :, None] + b[:, None, :]
    cost = np.where(possible & (cost <= n[:, None, None]), cost, _BIG).reshape(len(n), -1)
    return _Reach(a, b, cost, cost.min(axis=1))


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
