"""The search behind the consensus margin of the median-based rules (RAND/UCLA, IQR), for
the groups whose lower bound no built change attains (see ``margins``), and the pieces the
bound and the search share: every group's ratings in order (``Sorted``), groups seen from
either end of the scale (``Sides``), and the shifts at which order statistics change
(``breakpoints``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from rounds.consensus.counting import Bools, Floats, Ints
from rounds.consensus.quantiles import lerp, positions
from rounds.consensus.rules import MedianRule

BIG = np.iinfo(np.int64).max  # "ruled out" in cost arrays
_STEP = 16  # candidate pairs evaluated per group and pass


@dataclass(frozen=True)
class Sorted:
    """Every group's ratings in order, as scale-point indices, for order statistics x(j)
    (1-based) by lookup rather than by search. Extended as quantiles need it: x(j < 1) is
    the scale's minimum and x(j > n) its maximum, stored as one extra value at each end of
    every group's run ``[min, x(1) .. x(n), max]``, so a lookup is a clip and a gather. The
    mirrored ratings (v -> min + max - v) of every group follow, so a row marked
    ``flipped`` reads its own sequence the same way. Built once per count matrix and shared
    by every rule that needs it (``margins(..., ordered=)``).
    """

    values: npt.NDArray[np.integer]  # the groups' padded runs, then the same mirrored
    start: Ints  # (g,) where each row's run (its x(0)) begins in ``values``
    n: Ints
    vmin: int
    top: int  # index of the scale's maximum
    flipped: Bools
    _positions: dict[tuple[int, int], tuple[Ints, Floats]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, counts: Ints, vmin: int) -> Sorted:
        g, k = counts.shape
        padded = counts.copy()
        padded[:, 0] += 1  # x(0): the minimum
        padded[:, -1] += 1  # x(n + 1): the maximum
        dtype = np.int8 if k < 2**7 else np.int16 if k < 2**15 else np.int64
        plain = np.repeat(np.tile(np.arange(k, dtype=dtype), g), padded.ravel())
        values = np.concatenate([plain, (k - 1) - plain[::-1]])
        n = counts.sum(axis=1)
        return cls(values, np.cumsum(n + 2) - (n + 2), n, vmin, k - 1, np.zeros(g, dtype=bool))

    def take(self, rows: Ints, flip: bool = False) -> Sorted:
        start, n = self.start[rows], self.n[rows]
        if flip:  # run [s, s + n + 2) of one half is [2L - s - n - 2, 2L - s) of the other
            start = len(self.values) - start - n - 2
        return Sorted(self.values, start, n, self.vmin, self.top, self.flipped[rows] ^ flip)

    def stack(self, other: Sorted) -> Sorted:
        join = np.concatenate
        return Sorted(self.values, join([self.start, other.start]), join([self.n, other.n]),
                      self.vmin, self.top, join([self.flipped, other.flipped]))  # fmt: skip

    def at(self, j: Ints) -> Ints:
        """x(j) for indices ``j`` of shape (g, ...)."""
        shape = (-1,) + (1,) * (j.ndim - 1)
        index = np.clip(j, 0, self.n.reshape(shape) + 1)
        index += self.start.reshape(shape)
        return np.add(self.values[index], self.vmin, dtype=np.int64)

    def positions(self, pct: int, qtype: int) -> tuple[Ints, Floats]:
        """``quantiles.positions`` of every row's n, computed once per (pct, qtype)."""
        key = (pct, qtype)
        if key not in self._positions:
            self._positions[key] = positions(self.n, pct, qtype)
        return self._positions[key]

    def quantile(self, pct: int, qtype: int, shift: Ints) -> Floats:
        """The quantile with its order-statistic index moved by ``shift`` (g, S)."""
        return self.quantiles((pct,), qtype, shift)[0]

    def quantiles(self, pcts: tuple[int, ...], qtype: int, shift: Ints) -> Floats:
        """Several quantiles, all moved by ``shift`` (g, S), in one lookup: (len(pcts), g, S)."""
        found = [self.positions(pct, qtype) for pct in pcts]
        g, count = len(self.n), len(pcts)
        # absolute positions in ``values`` of x(j) and x(j + 1) of each quantile (g, 2P, 1),
        # and each row's bounds: its run holds x(0) .. x(n + 1)
        j = np.empty((g, 2 * count), dtype=np.int64)
        for i, (jj, _) in enumerate(found):
            j[:, i] = jj
            j[:, count + i] = jj + 1
        j += self.start[:, None]
        index = j[:, :, None] + shift[:, None, :]
        np.maximum(index, self.start[:, None, None], out=index)
        np.minimum(index, (self.start + self.n + 1)[:, None, None], out=index)
        x = np.add(self.values[index], self.vmin, dtype=np.int64)
        t = np.stack([p[1] for p in found], axis=1)[:, :, None]  # (g, P, 1)
        return lerp(x[:, :count], x[:, count:], t).transpose(1, 0, 2)


@dataclass(frozen=True)
class Sides:
    """Groups to search, each from the end of the scale its search works towards: as
    they are, or mirrored (v -> min + max - v) so that ``out`` is searched as ``in``.
    Stacking both kinds of rows runs every step once for all of them."""

    counts: Ints  # each row in its own orientation
    ordered: Sorted
    rule: MedianRule  # the study's rule; mirrored rows use ``rule.mirrored()``

    @classmethod
    def of(cls, counts: Ints, ordered: Sorted, rule: MedianRule, plain: Ints,
           mirrored: Ints) -> Sides:  # fmt: skip
        stacked = np.concatenate([counts[plain], counts[mirrored][:, ::-1]])
        return cls(stacked, ordered.take(plain).stack(ordered.take(mirrored, flip=True)), rule)

    @property
    def flipped(self) -> Bools:
        return self.ordered.flipped

    @property
    def high(self) -> Floats:
        """Where each row's median must reach for ``in`` (in the row's orientation)."""
        return np.where(self.flipped, self.rule.mirrored().high, self.rule.high)

    def take(self, rows: Ints) -> Sides:
        return Sides(self.counts[rows], self.ordered.take(rows), self.rule)

    def halves(self) -> list[tuple[Ints, MedianRule, Sorted, Ints]]:
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
        valid = (built >= 0).all(axis=1) & (bound < BIG)
        moved = np.maximum(self.counts - built, 0).sum(axis=1)
        plain = np.where(self.flipped[:, None], built[:, ::-1], built)
        verdict = self.rule.verdict_of_counts(plain)
        return valid & (moved <= bound) & (verdict != code)


def breakpoints(cum: Ints, at: list[Ints], sign: int, distinct: bool = False,
                least: Ints | None = None) -> Ints:  # fmt: skip
    """Shifts d >= 0 at which x(p + sign * d) changes for some p in ``at``. ``distinct``:
    each shift once, ascending, rows padded with n + 1 (more than any change can move).
    ``least``: no shift below it per row (it takes the place of 0)."""
    cum0 = np.concatenate([np.zeros((len(cum), 1), np.int64), cum], axis=1)
    n = cum[:, -1:]
    parts = [cum0 + 1 - p[:, None] if sign > 0 else p[:, None] - cum0 for p in at]
    first = np.zeros((len(cum), 1), np.int64) if least is None else least[:, None]
    shifts = np.minimum(np.maximum(np.concatenate([first, *parts], axis=1), first), n)
    if not distinct:
        return shifts
    shifts.sort(axis=1)
    repeated = np.zeros(shifts.shape, dtype=bool)
    repeated[:, 1:] = shifts[:, 1:] == shifts[:, :-1]
    shifts = np.sort(np.where(repeated, n + 1, shifts), axis=1)
    return shifts[:, : max(1, int((~repeated).sum(axis=1).max(initial=1)))]


def search_reach(sides: Sides, least: Ints | None = None) -> Ints:
    """Verified changes at the few cheapest (a, b) pairs of each side, then, where a lower
    bound leaves room to beat them, at every remaining pair, cheapest first.

    ``least``: a lower bound per row of ``sides`` (what its median alone needs). Where one
    side's bound is the lower for every group, that side is searched first, and the other
    only for the groups whose bound is below what the first side found."""
    halves = sides.halves()
    if least is not None and len(halves) == 2:
        bounds = [least[rows] for *_, rows in halves]
        for first, second in ((0, 1), (1, 0)):
            if bool((bounds[first] <= bounds[second]).all()):
                best = _search_side(halves[first], None)
                todo = np.flatnonzero(bounds[second] < best)
                if len(todo):
                    c, r, x, _ = halves[second]
                    part = (c[todo], r, x.take(todo), todo)
                    best[todo] = np.minimum(best[todo], _search_side(part, best[todo]))
                return best
    searched = [(c, r, x, _reach(c, r, x, r.high)) for c, r, x, _ in halves]
    found = []
    for c, r, x, reach in searched:
        first_pairs = _cheapest_columns(reach.cost, 4)
        found.append(_concentrate(c, r, x, reach.a, reach.b, first_pairs, reach.cost))
    best = np.minimum(found[0], found[1])
    for c, r, x, reach in searched:
        todo = np.flatnonzero(reach.bound < best)
        if len(todo):
            best[todo] = np.minimum(best[todo], _reach_wide(c, r, x, reach, todo, best))
    return best


def _search_side(side: tuple[Ints, MedianRule, Sorted, Ints], cap: Ints | None) -> Ints:
    """The fewest changes to reach ``in`` on one side (rows in their own orientation), or
    ``cap`` where none is cheaper than it."""
    c, r, x, _ = side
    reach = _reach(c, r, x, r.high)
    best = _concentrate(c, r, x, reach.a, reach.b, _cheapest_columns(reach.cost, 4), reach.cost)
    if cap is not None:
        best = np.minimum(best, cap)
    todo = np.flatnonzero(reach.bound < best)
    if len(todo):
        best[todo] = np.minimum(best[todo], _reach_wide(c, r, x, reach, todo, best))
    return best


def _reach(counts: Ints, rule: MedianRule, ordered: Sorted, high: float) -> _Reach:
    """Lower bound for turning ``none`` into ``in`` (a median of at least ``high``, per row
    or for all) over every (a, b) breakpoint pair: a ratings raised, b lowered."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    q = rule.qtype
    jm, jl, jh = (positions(n, pct, q)[0] for pct in (50, *rule.pcts))
    a = breakpoints(cum, [jl, jl + 1, jm, jm + 1], +1)
    b = breakpoints(cum, [jh, jh + 1], -1)
    med = ordered.quantile(50, q, a)
    ql = ordered.quantile(rule.pcts[0], q, a)
    qh = ordered.quantile(rule.pcts[1], q, -b)
    rises = med >= high
    possible = rises[:, :, None] & rule.spread_ok(ql[:, :, None], qh[:, None, :])
    cost = a[:, :, None] + b[:, None, :]
    cost = np.where(possible & (cost <= n[:, None, None]), cost, BIG).reshape(len(n), -1)
    return _Reach(a, b, cost, cost.min(axis=1))


def _reach_wide(counts: Ints, rule: MedianRule, ordered: Sorted, reach: _Reach, groups: Ints,
                best: Ints) -> Ints:  # fmt: skip
    """Try the remaining bound-feasible pairs, cheapest first, for ``groups``."""

    def concentrate(sub: Ints, pick: Ints) -> Ints:
        g = groups[sub]
        return _concentrate(counts[g], rule, ordered.take(g), reach.a[g], reach.b[g], pick,
                            reach.cost[g])  # fmt: skip

    return _in_cost_order(reach.cost[groups], best[groups], concentrate, start=4)


def _concentrate(counts: Ints, rule: MedianRule, ordered: Sorted, a: Ints, b: Ints,
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
    usable = (np.take_along_axis(cost, pick, axis=1) < BIG)[..., None]
    found = np.where((verdict != 0) & usable, moved, n[:, None, None]).min(axis=(1, 2))
    return np.minimum(found, _everyone(counts, rule))


def _everyone(counts: Ints, rule: MedianRule) -> Ints:
    """Fewest changes for every panelist to rate one point s: a verdict whenever s is
    in the low or the high band of the rule."""
    s = rule.vmin + np.arange(counts.shape[1])
    reaches = rule.verdict(s, s, s) != 0
    n = counts.sum(axis=1)
    return np.where(reaches, n[:, None] - counts, n[:, None]).min(axis=1)


def search_widening(sides: Sides, best: Ints) -> Ints:
    """Verified widening changes, cheapest (a, b) pair first, while one could beat ``best``."""
    result = best.copy()
    for counts, rule, ordered, rows in sides.halves():
        a, b, cost = _widening(counts, rule, ordered)

        def spread(sub: Ints, pick: Ints, c: Ints = counts, r: MedianRule = rule,
                   x: Sorted = ordered, a: Ints = a, b: Ints = b) -> Ints:  # fmt: skip
            aa, bb = _pair_values(a[sub], b[sub], pick)
            return _spread_moves(c[sub], r, x.take(sub), aa, bb)

        result[rows] = _in_cost_order(cost, best[rows], spread)
    return result


def _widening(counts: Ints, rule: MedianRule, ordered: Sorted) -> tuple[Ints, Ints, Ints]:
    """Shifts a of the low quantile down and b of the high one up, and the lower bound
    a + b of each (a, b) pair that makes the spread too wide (int64 max where none)."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    jl, _ = positions(n, rule.pcts[0], rule.qtype)
    jh, _ = positions(n, rule.pcts[1], rule.qtype)
    a = breakpoints(cum, [jl, jl + 1], -1)
    b = breakpoints(cum, [jh, jh + 1], +1)
    ql = ordered.quantile(rule.pcts[0], rule.qtype, -a)
    qh = ordered.quantile(rule.pcts[1], rule.qtype, b)
    wide = ~rule.spread_ok(ql[:, :, None], qh[:, None, :])
    cost = a[:, :, None] + b[:, None, :]
    return a, b, np.where(wide & (cost <= n[:, None, None]), cost, BIG).reshape(len(n), -1)


def _spread_moves(counts: Ints, rule: MedianRule, ordered: Sorted, a: Ints, b: Ints) -> Ints:
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
    ceiling = int(np.where(cost < BIG, cost, 0).max(initial=0)) + 1
    key = np.where(cost < BIG, cost, ceiling) * width + np.arange(width)
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
