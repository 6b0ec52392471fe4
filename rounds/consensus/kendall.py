"""Kendall's W (METHODS §4): how far the panel agrees on the order of the items, per round
and criterion, among the panelists who rated every item, with average ranks for ties and
the tie correction W = 12 S / (m^2 (n^3 - n) - m sum(t^3 - t)).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from rounds.consensus.counting import (
    Bools,
    Counted,
    Floats,
    Ints,
    PanelTable,
    Rows,
    check_unique,
    rows_of,
)

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
    Values may be any numbers here; ``analyse`` ranks its checked whole-number ratings
    the faster way (``kendall``), with the same results.
    """
    return _kendall_rows(rows_of(ratings))


def kendall(counted: Counted) -> pd.DataFrame:
    """``kendalls_w`` of counted ratings, every (round, criterion) at once from the dense
    table of ratings: a panelist's average rank of a value is the number of their ratings
    below it plus half of those tied with it, plus one half."""
    table = counted.table
    if table is None:
        return _kendall_rows(counted.rows)
    rows = counted.rows
    stats, rated = _kendall_table(table)
    rounds = np.repeat(rows.round_values, len(rows.criteria))
    criteria = np.tile(np.asarray(rows.criteria, dtype=object), len(rows.round_values))
    columns = {"round": rounds, "criterion": criteria, **stats}
    return pd.DataFrame({name: columns[name][rated] for name in KENDALL_COLUMNS})


def _block_codes(rows: Rows) -> Ints:
    block = rows.crit_codes.astype(np.int64)
    if rows.round_codes is not None:
        block = block + rows.round_codes * len(rows.criteria)
    return block


def _kendall_table(table: PanelTable) -> tuple[dict[str, Any], Bools]:
    """W of every (round, criterion) block, and whether the block has any rating."""
    codes = table.codes  # (rounds, items, criteria, panelists)
    n_rounds, n_items, n_crit, _ = codes.shape
    bins = table.points + 1  # absent item, then each scale point (no don't-know here)
    valid = table.valid()
    present = np.asarray((codes >= 0).any(axis=3)).transpose(0, 2, 1)  # (rounds, crit, items)
    n = present.sum(axis=2)
    complete = np.count_nonzero(valid, axis=1) == n[:, :, None]  # rated every present item
    m = complete.sum(axis=2)
    # one row per complete panelist, one column per item, block after block
    chosen = codes.transpose(0, 2, 3, 1)[complete]  # (panelists of all blocks, items)
    block = np.repeat(np.arange(n_rounds * n_crit), m.ravel())
    key = (np.arange(len(chosen)) * bins)[:, None] + (chosen + 1)
    hist = np.bincount(key.ravel(), minlength=len(chosen) * bins).reshape(len(chosen), bins)
    hist[:, 0] = 0  # absent items are not ranked
    rank = np.cumsum(hist, axis=1) - hist + (hist + 1) / 2  # average rank of each value
    sums = np.zeros((n_rounds * n_crit, n_items))
    if len(chosen):
        _add_rows(sums, block, rank.ravel()[key])
    ties = np.bincount(block, (hist**3 - hist).sum(axis=1), n_rounds * n_crit).astype(float)
    rated_any = valid.any(axis=1).sum(axis=2)
    stats = _w(sums.reshape(n_rounds, n_crit, n_items), present, m, n, ties, rated_any)
    return stats, present.any(axis=2).ravel()


def _add_rows(sums: Floats, block: Ints, ranks: Floats) -> None:
    """sums[b] += each row of ``ranks`` in block b (rows come block by block)."""
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    sums[block[starts]] += np.add.reduceat(ranks, starts, axis=0)


def _w(sums: Floats, present: npt.NDArray[np.bool_], m: Ints, n: Ints, ties: Floats,
       rated_any: Any) -> dict[str, Any]:  # fmt: skip
    ties = ties.reshape(m.shape)
    deviation = np.where(present, sums - (m * (n + 1) / 2)[..., None], 0.0)
    s = (deviation**2).sum(axis=2)
    full = (m**2 * (n**3 - n)).astype(float)
    corrected = full - m * ties
    usable = (m >= 2) & (n >= 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(usable & (corrected > 0), 12 * s / corrected, np.nan)
        w_plain = np.where(usable, 12 * s / full, np.nan)
    return {"w": w.ravel(), "w_uncorrected": w_plain.ravel(), "m": m.ravel(),
            "n_items": n.ravel(), "n_panelists": rated_any.ravel()}  # fmt: skip


# --------------------------------------------------------------------------- any values


def _kendall_rows(rows: Rows) -> pd.DataFrame:
    panelists, labels = rows.panelists
    n_crit = len(rows.criteria)
    block = _block_codes(rows)
    present = np.flatnonzero(np.bincount(block, minlength=len(rows.round_values) * n_crit))
    records = []
    for code in present:
        mask = block == code
        result = _kendall_one(rows.item_codes[mask], panelists[mask].astype(np.int64),
                              rows.values[mask], (len(rows.items), len(labels)))  # fmt: skip
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
    check_unique(key, "a round")
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
