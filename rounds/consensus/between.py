"""Between rounds (METHODS §4): percent change, the paired Wilcoxon and McNemar tests, the
coefficient of variation, and Kendall's W per round.
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
    count_ratings,
    rows_of,
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
    return compare(count_ratings(both, settings), prev_round, round, stable_below)


def compare(counted: Counted, prev: int, cur: int, stable_below: float) -> pd.DataFrame:
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
    return pd.DataFrame({
        "item": counted.item_column(counted.item_codes[g_cur]),
        "criterion": counted.criterion_column(counted.crit_codes[g_cur]),
        "n_prev": n_prev, "n": n_cur, "pct_change": change, "stable": stable, **paired,
        "cv_prev": cv_prev, "cv": cv_cur, "cv_change": cv_cur - cv_prev,
    })[STABILITY_COLUMNS]  # fmt: skip


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
    """Pair each panelist's ratings of one cell in the two rounds, then test per cell."""
    before, after, cell = _pairs(counted.rows, prev, cur)
    n_crit = len(counted.criteria)
    high_lo = np.array([s.scale.high[0] for s in counted.settings])[cell % n_crit]
    size = len(counted.items) * n_crit
    n_paired = np.bincount(cell, minlength=size)[cells]
    up = np.bincount(cell, (before < high_lo) & (after >= high_lo), size)[cells]
    down = np.bincount(cell, (before >= high_lo) & (after < high_lo), size)[cells]
    width = counted.counts.shape[1] - 2  # largest possible |difference|
    diff = (after - before).astype(np.int64) + width
    diffs = np.bincount(cell * (2 * width + 1) + diff, minlength=size * (2 * width + 1))
    diffs = diffs.reshape(size, 2 * width + 1)[cells]
    mcnemar = [_mcnemar(int(u), int(d)) if n else np.nan
               for u, d, n in zip(up, down, n_paired, strict=True)]  # fmt: skip
    return {
        "n_paired": n_paired,
        "wilcoxon_p": np.array([_wilcoxon(row, width) for row in diffs], dtype=float),
        "mcnemar_p": np.array(mcnemar, dtype=float),
    }


def _pairs(rows: Rows, prev: int, cur: int) -> tuple[Floats, Floats, Ints]:
    """Ratings before and after, and the cell code, for panelists who rated both rounds.

    Pairs by scattering the earlier round into a dense (cell, panelist) table when that
    fits in memory, else by sorting keys."""
    panelists, labels = rows.panelists
    n_panel = max(len(labels), 1)
    cell = rows.item_codes.astype(np.int64) * len(rows.criteria) + rows.crit_codes
    key = cell * n_panel + panelists
    is_prev, is_cur = rows.rounds == prev, rows.rounds == cur
    key_prev, key_cur = key[is_prev], key[is_cur]
    size = len(rows.items) * len(rows.criteria) * n_panel
    for keys, which in ((key_prev, prev), (key_cur, cur)):
        check_unique(keys, size, f"round {which}")
    values_prev, values_cur = rows.values[is_prev], rows.values[is_cur]
    if size <= 50_000_000:
        table = np.full(size, np.nan)
        table[key_prev] = values_prev
        before = table[key_cur]
    else:
        order = np.argsort(key_prev)
        where = np.clip(np.searchsorted(key_prev, key_cur, sorter=order), 0, len(order) - 1)
        hit = key_prev[order[where]] == key_cur
        before = np.where(hit, values_prev[order[where]], np.nan)
    ok = ~np.isnan(before) & ~np.isnan(values_cur)
    return before[ok], values_cur[ok], key_cur[ok] // n_panel


def check_unique(keys: Ints, size: int, where: str) -> None:
    if size <= 50_000_000:
        repeated = bool(len(keys)) and int(np.bincount(keys, minlength=size).max()) > 1
    else:
        ordered = np.sort(keys)
        repeated = bool((ordered[1:] == ordered[:-1]).any())
    if repeated:
        raise ValueError(f"{where} has two ratings of one item and criterion by one panelist")


def _wilcoxon(diffs: Ints, width: int) -> float:
    """Two-sided signed-rank p from counts of differences -width..width (index width = 0)."""
    zeros = int(diffs[width])
    pos, neg = diffs[width + 1 :], diffs[width - 1 :: -1][:width]
    ties = pos + neg  # observations per |difference| 1..width
    nonzero = int(ties.sum())
    if nonzero == 0:
        return math.nan
    below = np.cumsum(ties) - ties
    doubled_rank = 2 * below + ties + 1  # twice the average rank of each |difference|
    r_plus2 = int((pos * doubled_rank).sum())
    total = nonzero + zeros
    has_ties = bool((ties > 1).any())
    if total <= 13 or (total <= 50 and not has_ties and zeros == 0):
        return _signed_rank_exact(ties, doubled_rank, r_plus2)
    mean = nonzero * (nonzero + 1) / 4
    var = (nonzero * (nonzero + 1) * (2 * nonzero + 1) - (ties**3 - ties).sum() / 2) / 24
    z = (r_plus2 / 2 - mean) / math.sqrt(var)
    return math.erfc(abs(z) / math.sqrt(2))


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


def _mcnemar(up: int, down: int) -> float:
    """Exact two-sided binomial p of ``up`` successes in ``up + down`` trials at p = 1/2."""
    n, k = up + down, min(up, down)
    if n == 0:
        return 1.0
    i = np.arange(1, k + 1)
    log_terms = np.concatenate([[0.0], np.cumsum(np.log((n - i + 1) / i))]) - n * math.log(2)
    top = log_terms.max()
    tail = math.exp(top) * np.exp(log_terms - top).sum()
    return float(min(1.0, 2 * tail))


KENDALL_COLUMNS = ["round", "criterion", "w", "w_uncorrected", "m", "n_items", "n_panelists"]


def kendalls_w(ratings: pd.DataFrame) -> pd.DataFrame:
    """Kendall's W per (round, criterion) over the items rated in it, among panelists who
    rated every one of them (METHODS §4): average ranks within each panelist, with the tie
    correction (``w``) and without (``w_uncorrected``). NaN when m < 2 or fewer than 2
    items, or when every panelist tied every item.

    What W rests on, always filled in (also when W is NaN): ``m``, the panelists who rated
    every item (the complete cases W is computed over); ``n_items``, the items ranked;
    ``n_panelists``, the panelists with at least one rating of the criterion in the round,
    so ``n_panelists - m`` were left out for skipping an item or answering "don't know".
    """
    return kendall(rows_of(ratings))


def kendall(rows: Rows) -> pd.DataFrame:
    panelists, labels = rows.panelists
    n_crit = len(rows.criteria)
    block = rows.crit_codes.astype(np.int64)
    if rows.round_codes is not None:
        block = block + rows.round_codes * n_crit
    present = np.flatnonzero(np.bincount(block, minlength=len(rows.round_values) * n_crit))
    records = []
    for code in present:
        mask = block == code
        result = _kendall_one(rows.item_codes[mask], panelists[mask], rows.values[mask],
                              (len(rows.items), len(labels)))  # fmt: skip
        rnd, crit = divmod(int(code), n_crit)
        records.append((int(rows.round_values[rnd]), rows.criteria[crit], *result))
    return pd.DataFrame.from_records(records, columns=KENDALL_COLUMNS)


def _kendall_one(
    items: npt.NDArray[np.integer[Any]], panelists: Ints, values: Floats, shape: tuple[int, int]
) -> tuple[float, float, int, int, int]:
    n_items, n_panelists = shape
    rated = np.bincount(items, minlength=n_items) > 0
    column = np.cumsum(rated) - 1  # item code -> column among the rated items
    n = int(rated.sum())
    key = panelists * n + column[items]
    check_unique(key, n_panelists * n, "a round")
    grid = np.full(n_panelists * n, np.nan)
    grid[key] = values
    table = grid.reshape(n_panelists, n)
    rated_any = int((~np.isnan(table)).any(axis=1).sum())
    table = table[~np.isnan(table).any(axis=1)]
    m = len(table)
    if m < 2 or n < 2:
        return math.nan, math.nan, m, n, rated_any
    ranks, ties = _average_ranks(table)
    s = ((ranks.sum(axis=0) - m * (n + 1) / 2) ** 2).sum()
    full = m**2 * (n**3 - n)
    corrected = full - m * ties
    w = 12 * s / corrected if corrected > 0 else math.nan
    return float(w), float(12 * s / full), m, n, rated_any


def _average_ranks(grid: Floats) -> tuple[Floats, float]:
    """Row-wise average ranks and the total tie term sum(t^3 - t) over all rows."""
    order = np.argsort(grid, axis=1, kind="stable")
    ordered = np.take_along_axis(grid, order, axis=1)
    pos = np.broadcast_to(np.arange(grid.shape[1]), grid.shape)
    starts = np.ones(grid.shape, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones(grid.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, pos, grid.shape[1])[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(grid.shape)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    t = last - first + 1  # size of each member's tie group
    ties = float((t**2 - 1).sum())  # sum over groups of t^3 - t == sum over members of t^2 - 1
    return ranks, ties
