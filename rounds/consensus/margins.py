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

from rounds.consensus.counting import Bools, Floats, Ints
from rounds.consensus.quantiles import lerp, order_stat, positions
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
    """
    margin = np.full(len(counts), -1, dtype=np.int64)
    mirror = rule.mirrored()
    flipped = counts[:, ::-1]
    for side, (c, r) in ((1, (counts, rule)), (-1, (flipped, mirror))):
        leaving = code == side
        if leaving.any():
            margin[leaving] = _leave_cost(c[leaving], r)
    none = code == 0
    if none.any():
        margin[none] = _reach_cost(counts[none], rule)
    return margin


def _reach_cost(counts: Ints, rule: MedianRule) -> Ints:
    """Fewest changes that turn groups now ``none`` into ``in`` or ``out``; the wide search
    runs only where a lower bound leaves room to beat what was already found."""
    sides = [(counts, rule), (counts[:, ::-1], rule.mirrored())]
    reaches = [_reach(c, r) for c, r in sides]
    best = np.minimum(reaches[0].found, reaches[1].found)
    for (c, r), reach in zip(sides, reaches, strict=True):
        todo = reach.bound < best
        if todo.any():
            best[todo] = np.minimum(best[todo], _reach_wide(c, r, reach, todo, best))
    return best


def _breakpoints(cum: Ints, positions: list[Ints], sign: int) -> Ints:
    """Shifts d >= 0 at which x(p + sign * d) changes for some p in ``positions``."""
    cum0 = np.concatenate([np.zeros((len(cum), 1), np.int64), cum], axis=1)
    n = cum[:, -1:]
    if sign > 0:
        parts = [cum0 + 1 - p[:, None] for p in positions]
    else:
        parts = [p[:, None] - cum0 for p in positions]
    zero = np.zeros((len(cum), 1), np.int64)
    return np.clip(np.concatenate([zero, *parts], axis=1), 0, n)


def _shifted(cum: Ints, n: Ints, pct: int, qtype: int, vmin: int, shift: Ints) -> Floats:
    """Quantile with order-statistic index moved by ``shift`` (shape (g, S)) per group."""
    j, t = positions(n, pct, qtype)
    lo = order_stat(cum, j[:, None] + shift, vmin)
    hi = order_stat(cum, j[:, None] + 1 + shift, vmin)
    return lerp(lo, hi, t[:, None])


def _leave_cost(counts: Ints, rule: MedianRule) -> Ints:
    """Fewest changes that take groups now ``in`` out of ``in``."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    q = rule.qtype
    jm, _ = positions(n, 50, q)
    jl, _ = positions(n, rule.pcts[0], q)
    jh, _ = positions(n, rule.pcts[1], q)
    # median falls below `high`: move the top m ratings to the minimum (exact)
    m = np.maximum(_breakpoints(cum, [jm, jm + 1], -1), 1)
    falls = _shifted(cum, n, 50, q, rule.vmin, -m) < rule.high
    by_median = np.where(falls, m, n[:, None]).min(axis=1)
    # spread grows too wide: lower the low quantile by a and raise the high one by b
    a = _breakpoints(cum, [jl, jl + 1], -1)
    b = _breakpoints(cum, [jh, jh + 1], +1)
    ql = _shifted(cum, n, rule.pcts[0], q, rule.vmin, -a)
    qh = _shifted(cum, n, rule.pcts[1], q, rule.vmin, b)
    wide = ~rule.spread_ok(ql[:, :, None], qh[:, None, :])
    cost = a[:, :, None] + b[:, None, :]
    cost = np.where(wide & (cost <= n[:, None, None]), cost, _BIG).reshape(len(n), -1)

    def spread(rows: Ints, pick: Ints) -> Ints:
        aa, bb = _pair_values(a[rows], b[rows], pick)
        return _spread_moves(counts[rows], rule, aa, bb, jl[rows])

    return _in_cost_order(cost, by_median, spread)


_BIG = np.iinfo(np.int64).max  # "ruled out" in cost arrays


def _pair_values(a: Ints, b: Ints, pick: Ints) -> tuple[Ints, Ints]:
    """(a, b) values of flat indices ``pick`` into each group's a x b grid."""
    ai, bi = np.divmod(pick, b.shape[1])
    return np.take_along_axis(a, ai, axis=1), np.take_along_axis(b, bi, axis=1)


def _in_cost_order(
    cost: Ints, best: Ints, evaluate: Callable[[Ints, Ints], Ints], start: int = 0
) -> Ints:
    """Improve ``best`` by evaluating candidate pairs cheapest first, a few at a time,
    dropping each group as soon as no remaining pair is cheaper than what it has.

    ``cost`` (groups x pairs) holds each pair's lower bound; ``evaluate(rows, pick)``
    returns the cheapest verified change among the picked pairs of those groups."""
    order = np.argsort(cost, axis=1, kind="stable")
    result = best.copy()
    active = np.arange(len(cost))
    step = 16
    while active.size and start < cost.shape[1]:
        next_cost = np.take_along_axis(cost[active], order[active, start : start + 1], axis=1)
        active = active[next_cost[:, 0] < result[active]]
        if not active.size:
            break
        found = evaluate(active, order[active, start : start + step])
        result[active] = np.minimum(result[active], found)
        start += step
    return result


def _spread_moves(counts: Ints, rule: MedianRule, a: Ints, b: Ints, jl: Ints) -> Ints:
    """Cheapest verified change among: take a middle block of a + b ratings (starting just
    above the low quantile's order statistics), put a at the minimum and b at the maximum.
    ``a`` and ``b`` have shape (groups, candidates)."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    m = a + b
    start = np.clip(jl[:, None] + 1 - a, 0, np.maximum(n[:, None] - m, 0))
    prev = cum - counts
    end = start + m
    taken = np.clip(np.minimum(end[..., None], cum[:, None, :])
                    - np.maximum(start[..., None], prev[:, None, :]), 0, None)  # fmt: skip
    new = counts[:, None, :] - taken
    new[..., 0] += a
    new[..., -1] += b
    return _cheapest_flip(counts, new, m <= n[:, None], rule, 1)


def _cheapest_flip(counts: Ints, new: Ints, valid: Bools, rule: MedianRule, code: int) -> Ints:
    """Smallest change count among candidate count vectors ``new`` (g, ..., K) whose
    verdict differs from ``code``; n where none does."""
    g, k = counts.shape
    flat = new.reshape(g, -1, k)
    verdict = rule.verdict_of_counts(flat)
    cost = np.maximum(counts[:, None, :] - flat, 0).sum(axis=2)
    ok = (verdict != code) & valid.reshape(g, -1)
    return np.where(ok, cost, counts.sum(axis=1)[:, None]).min(axis=1)


@dataclass(frozen=True)
class _Reach:
    """Bound-feasible (a, b) pairs for reaching ``in`` from ``none``, cheapest first."""

    a: Ints
    b: Ints
    cost: Ints  # (g, len(a) * len(b)); int64 max where the bounds rule the pair out
    order: Ints
    found: Ints  # cheapest verified change among the first few pairs
    bound: Ints  # the lower bound: no change with fewer ratings can reach `in`


def _reach(counts: Ints, rule: MedianRule) -> _Reach:
    """Lower bound for turning ``none`` into ``in``, and the cheapest change found at the
    few bound-attaining (a, b) pairs (usually equal to the bound)."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    q = rule.qtype
    jm, _ = positions(n, 50, q)
    jl, _ = positions(n, rule.pcts[0], q)
    jh, _ = positions(n, rule.pcts[1], q)
    a = _breakpoints(cum, [jl, jl + 1, jm, jm + 1], +1)
    b = _breakpoints(cum, [jh, jh + 1], -1)
    med = _shifted(cum, n, 50, q, rule.vmin, a)
    ql = _shifted(cum, n, rule.pcts[0], q, rule.vmin, a)
    qh = _shifted(cum, n, rule.pcts[1], q, rule.vmin, -b)
    possible = (med >= rule.high)[:, :, None] & rule.spread_ok(ql[:, :, None], qh[:, None, :])
    cost = a[:, :, None] + b[:, None, :]
    cost = np.where(possible & (cost <= n[:, None, None]), cost, _BIG).reshape(len(n), -1)
    order = np.argsort(cost, axis=1, kind="stable")
    found = _concentrate(counts, rule, a, b, order[:, :4], cost)
    bound = np.take_along_axis(cost, order[:, :1], axis=1)[:, 0]
    return _Reach(a, b, cost, order, found, bound)


def _reach_wide(counts: Ints, rule: MedianRule, reach: _Reach, rows: Bools,
                best: Ints) -> Ints:  # fmt: skip
    """Try the remaining bound-feasible pairs, cheapest first, for the groups in ``rows``."""
    groups = np.flatnonzero(rows)

    def concentrate(sub: Ints, pick: Ints) -> Ints:
        g = groups[sub]
        return _concentrate(counts[g], rule, reach.a[g], reach.b[g], pick, reach.cost[g])

    return _in_cost_order(reach.cost[groups], best[groups], concentrate, start=4)


def _concentrate(counts: Ints, rule: MedianRule, a: Ints, b: Ints, pick: Ints,
                 cost: Ints) -> Ints:  # fmt: skip
    """Move the lowest a and the highest b ratings to one scale point s, for the (a, b)
    pairs in ``pick`` (flat indices into the a x b grid) and every s; plus "everyone
    rates s", which always reaches a verdict."""
    g, k = counts.shape
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    aa, bb = _pair_values(a, b, pick)
    usable = np.take_along_axis(cost, pick, axis=1) < _BIG
    below, above = cum - counts, n[:, None] - cum
    low_taken = np.clip(aa[..., None] - below[:, None, :], 0, counts[:, None, :])
    high_taken = np.clip(bb[..., None] - above[:, None, :], 0, counts[:, None, :])
    kept = counts[:, None, :] - low_taken - high_taken  # (g, P, K)
    moved = (aa + bb)[..., None, None] * np.eye(k, dtype=np.int64)  # (g, P, S, K)
    new = kept[:, :, None, :] + moved
    everyone = n[:, None, None] * np.eye(k, dtype=np.int64)[None]  # (g, S, K)
    found = _cheapest_flip(counts, new, np.repeat(usable[..., None], k, axis=2), rule, 0)
    return np.minimum(found, _cheapest_flip(counts, everyone, np.ones((g, k), bool), rule, 0))
