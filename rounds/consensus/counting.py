"""Ratings reduced to counts: the machinery every statistic is computed from.

Ratings are small integers, so one count vector per (round, item, criterion) carries
everything the descriptive statistics, the verdicts and the margins need (METHODS §2-3, §5).
``count_ratings`` builds a groups x scale-points matrix with a single ``np.bincount`` and
checks the values on the way: whole numbers on each criterion's scale, never clipped
(METHODS §1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from rounds.consensus.settings import CriterionSettings, Scale, SettingsArg

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Rows:
    """Per-row codes of a ratings frame (zero-copy views where columns are categorical)."""

    frame: pd.DataFrame
    round_values: Ints  # the distinct rounds, sorted
    round_codes: Ints | None  # per row, index into round_values; None when one round
    item_codes: npt.NDArray[np.integer[Any]]
    items: pd.Index
    items_categorical: bool
    crit_codes: npt.NDArray[np.integer[Any]]
    criteria: pd.Index
    values: Floats

    @cached_property
    def rounds(self) -> Ints:
        return self.round_values[self.round_codes] if self.round_codes is not None else (
            np.full(len(self.values), self.round_values[0], dtype=np.int64))  # fmt: skip

    @cached_property
    def panelists(self) -> tuple[Ints, pd.Index]:
        if "panelist" not in self.frame.columns:
            raise ValueError("comparing rounds and Kendall's W need the column 'panelist'")
        # only who is who matters here, not the order of the labels
        codes, labels, _ = codes_of(self.frame["panelist"], "panelist", sort=False)
        return codes, labels


def rows_of(ratings: pd.DataFrame) -> Rows:
    missing = [c for c in ("round", "item", "criterion", "value") if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings need the column(s) {', '.join(missing)}")
    round_codes, round_values = _round_codes(ratings["round"])
    item_codes, items, items_cat = codes_of(ratings["item"], "item")
    crit_codes, criteria, _ = codes_of(ratings["criterion"], "criterion")
    return Rows(ratings, round_values, round_codes, item_codes, items, items_cat, crit_codes,
                 criteria, _value_array(ratings["value"]))  # fmt: skip


@dataclass(frozen=True)
class Counted:
    """Ratings reduced to one count vector per (round, item, criterion) with >= 1 row.

    ``counts`` uses one layout for all criteria: column k is the value ``vmin + k``, the
    last column counts don't-knows. Groups are sorted by round, item, criterion.
    """

    rows: Rows
    rounds: Ints
    item_codes: Ints
    crit_codes: Ints
    counts: Ints
    vmin: int
    settings: tuple[CriterionSettings, ...]  # per criterion code
    table: PanelTable | None = None  # when asked for and small enough to hold densely

    @property
    def items(self) -> pd.Index:
        return self.rows.items

    @property
    def criteria(self) -> pd.Index:
        return self.rows.criteria

    def item_column(self, codes: Ints) -> pd.Categorical | pd.Index:
        if self.rows.items_categorical:
            dtype = pd.CategoricalDtype(self.items)
            return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)
        return self.items.take(codes)

    def criterion_column(self, codes: Ints) -> pd.Index:
        return self.criteria.take(codes)

    def block(self, crit_mask: Bools | slice, scale: Scale) -> Ints:
        """The count columns of ``scale`` for the groups in ``crit_mask`` (a copy)."""
        start = scale.min - self.vmin
        return np.ascontiguousarray(self.counts[crit_mask, start : start + scale.size])


def codes_of(column: pd.Series[Any], name: str, sort: bool = True) -> tuple[Ints, pd.Index, bool]:
    """Integer codes and labels of a str or categorical column (categories keep their order,
    other labels are sorted unless ``sort`` is False)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = np.asarray(cast(pd.Categorical, column.array).codes)  # a view, no copy
        labels = column.cat.categories
        categorical = True
    elif column.dtype == object or isinstance(column.dtype, pd.StringDtype):
        # the str objects themselves (a view): hashing them is about 3x faster than going
        # through the string dtype's own factorize
        codes, labels = _factorize_text(column.to_numpy(dtype=object), sort)
        categorical = False
    else:
        codes, labels = pd.factorize(column, sort=sort)
        categorical = False
    if len(codes) and codes.min() < 0:
        raise ValueError(f"column {name!r} has empty values; every rating needs a {name}")
    return codes, pd.Index(labels), categorical


_SAMPLE = 4096  # rows looked at to guess whether a column comes in runs


def _factorize_text(values: npt.NDArray[np.object_], sort: bool) -> tuple[Ints, Any]:
    """``pd.factorize(values, sort=sort)``, hashing only the first value of each run when
    equal values come in runs (ratings sorted by round, item and criterion, as the web app
    reads them): comparing neighbours is cheaper than hashing every row."""
    if len(values) > 4 * _SAMPLE:
        try:
            sample = values[:_SAMPLE]
            if np.count_nonzero(sample[1:] != sample[:-1]) < _SAMPLE // 8:
                starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
                codes, labels = pd.factorize(values[starts], sort=sort)
                return np.repeat(codes, np.diff(np.r_[starts, len(values)])), labels
        except (TypeError, ValueError):  # pd.NA cannot be compared; factorize reports it
            pass
    return pd.factorize(values, sort=sort)


def _round_codes(column: pd.Series[Any]) -> tuple[Ints | None, Ints]:
    values = column.to_numpy()
    if values.dtype.kind not in "iu":
        floats = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if np.isnan(floats).any() or (floats != np.round(floats)).any():
            raise ValueError("column 'round' must hold whole numbers")
        values = floats.astype(np.int64)
    if not len(values):
        return None, np.zeros(0, np.int64)
    lo, hi = int(values.min()), int(values.max())
    if lo == hi:  # the common case: one round, no per-row work
        return None, np.array([lo], dtype=np.int64)
    if hi - lo < 2**15 - 1:  # narrow codes: fewer bytes to read in every pass
        dtype = np.int8 if hi - lo < 127 else np.int16
        # in the narrow type, wrapping: (v mod 2^k) - (lo mod 2^k) is v - lo, which fits
        codes = values.astype(dtype)
        np.subtract(codes, np.array(lo).astype(dtype), out=codes)
        return cast(Ints, codes), np.arange(lo, hi + 1, dtype=np.int64)
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=np.int64)


def _value_array(column: pd.Series[Any]) -> Floats:
    if column.dtype == np.float64:
        return column.to_numpy()
    return pd.to_numeric(column, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass(frozen=True)
class PanelTable:
    """Every rating by (round, item, criterion, panelist): the index of its value on the
    counts' layout (value - vmin), ``points`` for don't know, -1 where there is none.
    Pairs rounds and ranks items without sorting."""

    codes: npt.NDArray[np.int8]  # shape (rounds, items, criteria, panelists)
    points: int  # scale points of the layout; also the don't-know code

    def valid(self) -> Bools:
        """Where a value was given (not missing, not don't know)."""
        return self.codes.view(np.uint8) < self.points  # -1 reads as 255


_DENSE_LIMIT = 50_000_000  # cells of a PanelTable (one byte each)


def _new_table(rows: Rows, width: int) -> npt.NDArray[np.int8] | None:
    _, labels = rows.panelists
    size = len(rows.round_values) * len(rows.items) * len(rows.criteria) * max(len(labels), 1)
    if size > _DENSE_LIMIT or width > 127:
        return None
    return np.full(size, -1, dtype=np.int8)


def check_unique(keys: Ints, where: str) -> None:
    """Refuse two ratings with the same (cell, panelist) key in one round, by sorting."""
    ordered = np.sort(keys)
    if bool((ordered[1:] == ordered[:-1]).any()):
        raise ValueError(f"{where} has two ratings of one item and criterion by one panelist")


def _raise_duplicate(rows: Rows) -> None:
    panelists, labels = rows.panelists
    n_panel = max(len(labels), 1)
    n_cells = len(rows.items) * len(rows.criteria)
    keys = np.sort(_groups(rows, slice(None), n_cells) * n_panel + panelists)
    repeated = keys[1:][keys[1:] == keys[:-1]][0]
    which = int(rows.round_values[repeated // (n_cells * n_panel)])
    raise ValueError(f"round {which} has two ratings of one item and criterion by one panelist")


def _settings_per_criterion(rows: Rows, settings: SettingsArg) -> tuple[CriterionSettings, ...]:
    criteria = rows.criteria
    if isinstance(settings, CriterionSettings):
        return (settings,) * len(criteria)
    missing = [c for c in criteria if c not in settings]
    if missing:
        # unused categories need no settings; a placeholder keeps the codes aligned
        used = np.bincount(rows.crit_codes, minlength=len(criteria)) > 0
        needed = [str(c) for c in missing if used[criteria.get_loc(c)]]
        if needed or not settings:
            raise ValueError(f"no settings for criterion {', '.join(needed or missing)}")
    placeholder = next(iter(settings.values()), CriterionSettings())
    return tuple(settings.get(c, placeholder) for c in criteria)


_CHUNK = 1 << 17  # rows per pass: keeps the temporaries of one pass in cache


def count_ratings(ratings: pd.DataFrame, settings: SettingsArg, panels: bool = False) -> Counted:
    """Count vectors of every (round, item, criterion); with ``panels``, also the dense
    table of who rated what (when small enough), checking that no panelist rated an item
    and criterion twice in a round."""
    rows = rows_of(ratings)
    per_crit = _settings_per_criterion(rows, settings)
    vmin = min((s.scale.min for s in per_crit), default=1)
    vmax = max((s.scale.max for s in per_crit), default=9)
    width = vmax - vmin + 2  # scale points plus the don't-know slot
    n_cells = len(rows.items) * len(rows.criteria)
    table = _new_table(rows, width) if panels else None
    counts = _bincount(rows, n_cells, width, vmin, vmax, table).reshape(-1, width)
    present = np.flatnonzero(counts.any(axis=1))
    group_round, rest = np.divmod(present, n_cells)
    group_item, group_crit = np.divmod(rest, len(rows.criteria))
    panel = None
    if table is not None:
        if np.count_nonzero(table >= 0) != len(rows.values):
            _raise_duplicate(rows)
        n_panel = max(len(rows.panelists[1]), 1)
        shape = (len(rows.round_values), len(rows.items), len(rows.criteria), n_panel)
        panel = PanelTable(table.reshape(shape), width - 1)
    counted = Counted(rows, rows.round_values[group_round], group_item, group_crit,
                      counts[present], vmin, per_crit, panel)  # fmt: skip
    _check_scales(counted)
    return counted


def _groups(rows: Rows, part: slice, n_cells: int, out: Ints | None = None) -> Ints:
    """Group index round * cells + item * criteria + criterion of the rows in ``part``,
    computed in int64 (codes may be int8) into ``out`` when given."""
    items = rows.item_codes[part]
    group = np.empty(len(items), dtype=np.int64) if out is None else out
    if rows.round_codes is None:
        np.multiply(items, len(rows.criteria), out=group, dtype=np.int64)
    else:  # (round * items + item) * criteria, in place: no temporary
        np.multiply(rows.round_codes[part], len(rows.items), out=group, dtype=np.int64)
        np.add(group, items, out=group, dtype=np.int64)
        group *= len(rows.criteria)
    np.add(group, rows.crit_codes[part], out=group, dtype=np.int64)
    return group


def _narrowest(limit: int) -> type[np.signedinteger[Any]]:
    """The narrowest signed integer type holding 0 .. limit."""
    for dtype in (np.int16, np.int32):
        if limit < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _groups_into(rows: Rows, part: slice, out: npt.NDArray[np.signedinteger[Any]]) -> None:
    """``_groups`` of the rows in ``part`` into ``out``, in its own (narrow) type: codes are
    cast once on the way in, then every operation is on one type."""
    out[:] = rows.item_codes[part] if rows.round_codes is None else rows.round_codes[part]
    if rows.round_codes is not None:
        out *= len(rows.items)
        np.add(out, rows.item_codes[part], out=out, casting="unsafe")
    out *= len(rows.criteria)
    np.add(out, rows.crit_codes[part], out=out, casting="unsafe")


def _bincount(rows: Rows, n_cells: int, width: int, vmin: int, vmax: int,
              table: npt.NDArray[np.int8] | None) -> Ints:  # fmt: skip
    """One bincount of ``group * width + (value - vmin)``, done in cache-sized chunks;
    with a ``table``, each rating's value index is also written at ``group * panelists +
    panelist``, in the same pass.

    Ratings read from the database come sorted by round, item, criterion and panelist, so
    where every panelist rated every cell a chunk's table positions are consecutive: those
    are written as a slice, not scattered one by one.

    Don't-knows (NaN) land in the last slot of their group: ``np.fmin`` maps NaN to the
    slot value in the same pass. Off-scale and non-integer values are caught by running
    minima/maxima and a sum check (float-to-int truncation lowers the sum), without extra
    passes over the data.
    """
    values = rows.values
    slot = float(vmax + 1)
    size = len(rows.round_values) * n_cells * width
    total = np.zeros(size, dtype=np.int64)
    value_sum = 0.0
    m_max = min(_CHUNK, len(values))
    filled = np.empty(m_max)
    # Groups, keys and value indices in the narrowest type that holds every key: same-type
    # arithmetic on int16 is several times faster than mixing int8/int16 codes into int64.
    small = _narrowest(size)
    index, group, key = (np.empty(m_max, dtype=small) for _ in range(3))
    wide = np.empty(m_max, dtype=np.int64)  # bincount's own type
    panelists = rows.panelists[0] if table is not None else None
    n_panel = max(len(rows.panelists[1]), 1) if table is not None else 1
    cell_key = np.empty(m_max, dtype=_narrowest(size // width * n_panel))
    for start in range(0, len(values), _CHUNK):
        part = slice(start, start + _CHUNK)
        chunk = values[part]
        m = len(chunk)
        if np.fmin.reduce(chunk) < vmin or np.fmax.reduce(chunk) > vmax:  # NaN compares False
            _raise_bad_values(rows, lambda v: (v < vmin) | (v > vmax))
        np.fmin(chunk, slot, out=filled[:m])
        value_sum += float(filled[:m].sum())
        np.subtract(filled[:m], vmin, out=index[:m], casting="unsafe")
        _groups_into(rows, part, group[:m])
        np.multiply(group[:m], width, out=key[:m])
        key[:m] += index[:m]
        wide[:m] = key[:m]
        total += np.bincount(wide[:m], minlength=size)
        if table is not None and panelists is not None:
            spot = cell_key[:m]
            spot[:] = group[:m]
            spot *= n_panel
            np.add(spot, panelists[part], out=spot, casting="unsafe")
            first, last = int(spot[0]), int(spot[m - 1])
            if last - first == m - 1 and bool((np.diff(spot) == 1).all()):
                table[first : last + 1] = index[:m]
            else:
                table[spot] = index[:m]
    points = np.tile(np.append(np.arange(vmin, vmax + 1), slot), size // width)
    if value_sum != float(points @ total):
        _raise_bad_values(rows, lambda v: v != np.floor(v))
    return total


def _raise_bad_values(rows: Rows, is_bad: Callable[[Floats], Bools]) -> None:
    values = rows.values
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(is_bad(values) & ~np.isnan(values))
    shown = "; ".join(
        f"item {rows.items[rows.item_codes[i]]}, criterion {rows.criteria[rows.crit_codes[i]]}: "
        f"value {values[i]:g}"
        for i in bad[:5]
    )
    raise ValueError(
        f"{len(bad)} rating(s) are not whole numbers on the criterion's scale ({shown})"
    )


def _check_scales(counted: Counted) -> None:
    """Counts outside a criterion's own scale (possible when criteria use different scales)."""
    for code, settings in enumerate(counted.settings):
        groups = counted.counts[counted.crit_codes == code]
        scale = settings.scale
        lo, hi = scale.min - counted.vmin, scale.max - counted.vmin
        if groups[:, :lo].any() or groups[:, hi + 1 : -1].any():
            in_crit = counted.rows.crit_codes == code

            def off(v: Floats, mask: Bools = in_crit, s: Scale = scale) -> Bools:
                return mask & ((v < s.min) | (v > s.max))

            _raise_bad_values(counted.rows, off)
