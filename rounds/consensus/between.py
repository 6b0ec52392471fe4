"""Between rounds (METHODS §4): percent change, the paired Wilcoxon and McNemar tests with
Holm-adjusted p-values, and the coefficient of variation. Kendall's W is in ``kendall``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from rounds.consensus.counting import (
    Counted,
    Floats,
    Ints,
    Rows,
    check_unique,
    count_ratings,
)
from rounds.consensus.describe import moments
from rounds.consensus.settings import SettingsArg

STABILITY_COLUMNS = ["item", "criterion", "n_prev", "n", "pct_change", "stable", "n_paired",
                     "wilcoxon_p", "wilcoxon_p_holm", "mcnemar_p", "mcnemar_p_holm", "cv_prev",
                     "cv", "cv_change"]  # fmt: skip


def compare_rounds(
    ratings: pd.DataFrame,
    settings: SettingsArg,
    prev_round: int,
    round: int,
    stable_below: float = 15.0,
) -> pd.DataFrame:
    """METHODS §4 for every (item, criterion) rated in both rounds.

    - ``pct_change``: half the sum of absolute changes in the share at each scale point,
      in percent; ``stable`` when below ``stable_below`` (NA when either round has n = 0).
    - ``wilcoxon_p``: two-sided signed-rank test over panelists with a rating in both
      rounds, zero differences dropped, computed as ``scipy.stats.wilcoxon`` does by
      default: the exact sign-flip distribution (average ranks for ties) when at most 13
      pairs, or at most 50 pairs with no ties and no zero differences; otherwise the
      normal approximation with tie correction and no continuity correction. NaN when no
      difference is non-zero.
    - ``mcnemar_p``: exact two-sided binomial test on the discordant pairs of "high band vs
      not"; 1.0 when no pair is discordant, NaN when no panelist rated both rounds.
    - ``wilcoxon_p_holm``, ``mcnemar_p_holm``: the same p-values adjusted by Holm's
      step-down method for the many items tested at once. The family is one test (Wilcoxon
      or McNemar) on one criterion in this comparison of two rounds: every item of that
      criterion that the test could be run on (a NaN p-value is not a test and does not
      count). Criteria are separate families because they ask separate questions; so are
      the two tests, which ask different ones of the same ratings; and so is each pair of
      rounds, which a study reports as it goes.
    - ``cv``: sd / mean per round, and ``cv_change = cv - cv_prev``.
    """
    both = ratings[ratings["round"].isin([prev_round, round])]
    return compare(count_ratings(both, settings, panels=True), prev_round, round, stable_below)


def compare(counted: Counted, prev: int, cur: int, stable_below: float) -> pd.DataFrame:
    return pd.DataFrame(compare_columns(counted, prev, cur, stable_below))


def compare_columns(counted: Counted, prev: int, cur: int, stable_below: float
                    ) -> dict[str, Any]:  # fmt: skip
    """The columns of ``compare``, in ``STABILITY_COLUMNS`` order."""
    n_crit = len(counted.criteria)
    cell = counted.item_codes * n_crit + counted.crit_codes
    rows_prev = np.flatnonzero(counted.rounds == prev)
    rows_cur = np.flatnonzero(counted.rounds == cur)
    common, i_prev, i_cur = np.intersect1d(cell[rows_prev], cell[rows_cur], return_indices=True)
    g_prev, g_cur = rows_prev[i_prev], rows_cur[i_cur]
    c_prev, c_cur = counted.counts[g_prev, :-1], counted.counts[g_cur, :-1]
    n_prev, n_cur = c_prev.sum(axis=1), c_cur.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = 50 * np.abs(c_cur / n_cur[:, None] - c_prev / n_prev[:, None]).sum(axis=1)
        cv_prev, cv_cur = _cv(c_prev, n_prev, counted.vmin), _cv(c_cur, n_cur, counted.vmin)
    paired = _paired_tests(counted, prev, cur, common)
    family = counted.crit_codes[g_cur]
    for test in ("wilcoxon_p", "mcnemar_p"):
        paired[f"{test}_holm"] = holm(paired[test], family)
    stable = pd.arrays.BooleanArray(change < stable_below, np.isnan(change))
    found = {
        "item": counted.item_column(counted.item_codes[g_cur]),
        "criterion": counted.criterion_column(counted.crit_codes[g_cur]),
        "n_prev": n_prev, "n": n_cur, "pct_change": change, "stable": stable, **paired,
        "cv_prev": cv_prev, "cv": cv_cur, "cv_change": cv_cur - cv_prev,
    }  # fmt: skip
    return {name: found[name] for name in STABILITY_COLUMNS}


def holm(p: Floats, family: Ints) -> Floats:
    """Holm-adjusted p-values, each family on its own: the i-th smallest of a family's m
    p-values is multiplied by m - i + 1, capped at 1, and never falls below the one before.
    NaN p-values (no test) stay NaN and are not counted in m."""
    adjusted = np.full(len(p), np.nan)
    tested = ~np.isnan(p)
    for code in np.unique(family[tested]):
        members = np.flatnonzero(tested & (family == code))
        order = members[np.argsort(p[members], kind="stable")]
        factor = len(order) - np.arange(len(order))
        adjusted[order] = np.maximum.accumulate(np.minimum(1.0, factor * p[order]))
    return adjusted


def _cv(counts: Ints, n: Ints, vmin: int) -> Floats:
    stats = moments(counts, n, vmin)
    return stats["sd"] / stats["mean"]


def _paired_tests(counted: Counted, prev: int, cur: int, cells: Ints) -> dict[str, Any]:
    """Pair each panelist's ratings of one cell in the two rounds, then test per cell, from
    the cell's table of (before, after) counts."""
    joint = _joint(counted, prev, cur)[cells]  # (cells, points before, points after)
    points = joint.shape[1]
    n_crit = len(counted.criteria)
    high = np.array([s.scale.high[0] - counted.vmin for s in counted.settings])[cells % n_crit]
    is_high = np.arange(points) >= high[:, None]  # (cells, points)
    up = np.einsum("cb,cba,ca->c", ~is_high, joint, is_high)
    down = np.einsum("cb,cba,ca->c", is_high, joint, ~is_high)
    n_paired = joint.sum(axis=(1, 2))
    # differences after - before, -(points - 1) .. points - 1, counted per cell
    after_minus_before = np.subtract.outer(np.arange(points), np.arange(points)).T.ravel()
    one_hot = np.arange(1 - points, points) == after_minus_before[:, None]  # (b*a, diff)
    diffs = joint.reshape(len(joint), points * points) @ one_hot.astype(np.int64)
    mcnemar = np.where(n_paired > 0, _mcnemar(up, down), np.nan)
    return {"n_paired": n_paired, "wilcoxon_p": _wilcoxon(diffs, points - 1),
            "mcnemar_p": mcnemar}  # fmt: skip


def _joint(counted: Counted, prev: int, cur: int) -> Ints:
    """Per cell (item x criterion), how many panelists rated value index b in ``prev`` and
    a in ``cur``: shape (cells, points, points)."""
    rows = counted.rows
    points = counted.counts.shape[1] - 1  # scale points of the layout
    n_cells = len(rows.items) * len(rows.criteria)
    if counted.table is not None:
        rounds = list(rows.round_values)
        codes = counted.table.codes
        joint = _joint_of_tables(codes[rounds.index(prev)], codes[rounds.index(cur)], points)
        return joint.reshape(n_cells, points, points)
    before, after, cell = _pairs(rows, prev, cur)
    key = (cell * points + (before - counted.vmin).astype(np.int64)) * points
    key += (after - counted.vmin).astype(np.int64)
    return np.bincount(key, minlength=n_cells * points**2).reshape(n_cells, points, points)


def _joint_of_tables(before: npt.NDArray[np.int8], after: npt.NDArray[np.int8],
                     points: int) -> Ints:  # fmt: skip
    """``_joint`` from two rounds' (item, criterion, panelist) tables: pairs missing either
    rating go to one spare bin per cell, dropped at the end."""
    both = (before.view(np.uint8) < points) & (after.view(np.uint8) < points)
    n_cells, bins = before.shape[0] * before.shape[1], points**2 + 1
    cell = np.arange(n_cells, dtype=np.int64).reshape((*before.shape[:2], 1)) * bins
    pair = np.where(both, before.astype(np.int16) * points + after, points**2)
    counts = np.bincount((cell + pair).ravel(), minlength=n_cells * bins)
    return counts.reshape(n_cells, bins)[:, :-1]


def _pairs(rows: Rows, prev: int, cur: int) -> tuple[Floats, Floats, Ints]:
    """Ratings before and after, and the cell code, for panelists who rated both rounds,
    paired by sorting keys (for ratings too sparse for a dense table)."""
    panelists, labels = rows.panelists
    n_panel = max(len(labels), 1)
    cell = rows.item_codes.astype(np.int64) * len(rows.criteria) + rows.crit_codes
    key = cell * n_panel + panelists
    is_prev, is_cur = rows.rounds == prev, rows.rounds == cur
    key_prev, key_cur = key[is_prev], key[is_cur]
    for keys, which in ((key_prev, prev), (key_cur, cur)):
        check_unique(keys, f"round {which}")
    values_prev, values_cur = rows.values[is_prev], rows.values[is_cur]
    if not len(key_prev):
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    order = np.argsort(key_prev)
    where = np.minimum(np.searchsorted(key_prev, key_cur, sorter=order), len(order) - 1)
    hit = key_prev[order[where]] == key_cur
    before = np.where(hit, values_prev[order[where]], np.nan)
    ok = ~np.isnan(before) & ~np.isnan(values_cur)
    return before[ok], values_cur[ok], key_cur[ok] // n_panel


def _wilcoxon(diffs: Ints, width: int) -> Floats:
    """Two-sided signed-rank p per row of counts of differences -width..width (column
    width is 0), as ``scipy.stats.wilcoxon`` computes it by default (see compare_rounds)."""
    zeros = diffs[:, width]
    pos, neg = diffs[:, width + 1 :], diffs[:, width - 1 :: -1][:, :width]
    ties = pos + neg  # observations per |difference| 1..width
    nonzero = ties.sum(axis=1)
    below = np.cumsum(ties, axis=1) - ties
    doubled_rank = 2 * below + ties + 1  # twice the average rank of each |difference|
    r_plus2 = (pos * doubled_rank).sum(axis=1)
    total = nonzero + zeros
    has_ties = (ties > 1).any(axis=1)
    exact = (total <= 13) | ((total <= 50) & ~has_ties & (zeros == 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = nonzero * (nonzero + 1) / 4
        var = (nonzero * (nonzero + 1) * (2 * nonzero + 1) - (ties**3 - ties).sum(axis=1) / 2) / 24
        z = np.abs(r_plus2 / 2 - mean) / np.sqrt(var) / math.sqrt(2)
    p = np.array([math.erfc(v) if v == v else math.nan for v in z.tolist()])
    for row in np.flatnonzero(exact & (nonzero > 0)):
        p[row] = _signed_rank_exact(ties[row], doubled_rank[row], int(r_plus2[row]))
    return np.where(nonzero > 0, p, np.nan)


def _signed_rank_exact(ties: Ints, doubled_rank: Ints, r_plus2: int) -> float:
    """Exact null distribution of (twice) R+ under independent sign flips."""
    dist = np.zeros(1, dtype=np.float64)
    dist[0] = 1.0
    for count, rank in zip(ties.tolist(), doubled_rank.tolist(), strict=True):
        if count == 0:
            continue
        ways = np.array([math.comb(count, j) for j in range(count + 1)], dtype=np.float64)
        spread = np.zeros(count * rank + 1)
        spread[::rank] = ways
        dist = np.convolve(dist, spread)
    dist /= dist.sum()
    low = dist[: r_plus2 + 1].sum()
    high = dist[r_plus2:].sum()
    return float(min(1.0, 2 * min(low, high)))


def _mcnemar(up: Ints, down: Ints) -> Floats:
    """Exact two-sided binomial p of ``up`` successes in ``up + down`` trials at p = 1/2,
    per cell: twice the smaller tail, its terms C(n, i) / 2^n summed from logs of
    factorials (1.0 when n = 0).

    Only the terms within ``w`` of k are summed, w(w - 1) >= 25 n: for i <= k <= n / 2,
    C(n, i) / C(n, k) <= exp(-2 d (d - 1) / n) with d = k - i, so every term left out is
    below e^-50 of the largest and all of them together change the sum by less than
    n e^-50 of it (under 1e-18 for any panel), far below double precision."""
    n, k = up + down, np.minimum(up, down)
    p = np.ones(len(n))
    # log(m!) for m = 0 .. max n, one table for every cell
    log_factorial = np.concatenate(
        [[0.0], np.cumsum(np.log(np.arange(1, int(n.max(initial=0)) + 1)))]
    )
    reach = np.ceil(np.sqrt(25.0 * n)).astype(np.int64) + 1
    start = np.maximum(k - reach, 0)
    width = k - start + 1
    order = np.argsort(width, kind="stable")  # rows of similar width side by side
    first = 0
    while first < len(order):
        size = 256
        last = min(first + size, len(order)) - 1
        while size > 1 and size * int(width[order[last]]) > 1 << 22:
            size //= 2  # at most ~4M terms at a time
            last = min(first + size, len(order)) - 1
        rows = order[first : first + size]
        p[rows] = _binomial_tail(n[rows], k[rows], start[rows], log_factorial)
        first += len(rows)
    return np.minimum(1.0, p)


def _binomial_tail(n: Ints, k: Ints, start: Ints, log_factorial: Floats) -> Floats:
    """2 * P(X <= k) for X ~ Binomial(n, 1/2), per row, k <= n / 2, from the terms i =
    start .. k: they rise with i up to k, so the last is the largest and the sum is taken
    relative to it."""
    i = start[:, None] + np.arange(int((k - start).max(initial=0)) + 1)
    beyond = i > k[:, None]
    i[beyond] = 0  # past k: any valid index, masked below
    logs = log_factorial[n][:, None] - log_factorial[i] - log_factorial[n[:, None] - i]
    top = log_factorial[n] - log_factorial[k] - log_factorial[n - k]
    logs -= top[:, None]
    logs[beyond] = -np.inf
    return 2 * np.exp(top - n * math.log(2)) * np.exp(logs).sum(axis=1)
