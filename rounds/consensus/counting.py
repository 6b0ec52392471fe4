"""Ratings reduced to counts: the machinery every statistic is computed from.

Ratings are small integers, so one count vector per (round, item, criterion) carries
everything the descriptive statistics, the verdicts and the margins need (METHODS §2-3, §5).
``count_ratings`` builds a groups x scale-points matrix with a single ``np.bincount`` and
checks the values on the way: whole numbers on each criterion's scale, never clipped
(METHODS §1).
"""

from __future__ import annotations

import math
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
        codes, labels, _ = codes_of(self.frame["panelist"], "panelist")
        return codes.astype(np.int64), labels


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

    def block(self, crit_mask: Bools, scale: Scale) -> Ints:
        """The count columns of ``scale`` for the groups in ``crit_mask``."""
        start = scale.min - self.vmin
        return self.counts[crit_mask, start : start + scale.size]


def codes_of(column: pd.Series[Any], name: str) -> tuple[Ints, pd.Index, bool]:
    """Integer codes and labels of a str or categorical column (categories keep their order)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = np.asarray(cast(pd.Categorical, column.array).codes)  # a view, no copy
        labels = column.cat.categories
        categorical = True
    else:
        codes, labels = pd.factorize(column, sort=True)
        categorical = False
    if len(codes) and codes.min() < 0:
        raise ValueError(f"column {name!r} has empty values; every rating needs a {name}")
    return codes, pd.Index(labels), categorical


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
    if hi - lo < 10_000:
        return (values - lo).astype(np.int64), np.arange(lo, hi + 1, dtype=np.int64)
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=np.int64)


def _value_array(column: pd.Series[Any]) -> Floats:
    if column.dtype == np.float64:
        return column.to_numpy()
    return pd.to_numeric(column, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)


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


def count_ratings(ratings: pd.DataFrame, settings: SettingsArg) -> Counted:
    rows = rows_of(ratings)
    per_crit = _settings_per_criterion(rows, settings)
    vmin = min((s.scale.min for s in per_crit), default=1)
    vmax = max((s.scale.max for s in per_crit), default=9)
    width = vmax - vmin + 2  # scale points plus the don't-know slot
    n_cells = len(rows.items) * len(rows.criteria)
    counts = _bincount(rows, n_cells, width, vmin, vmax).reshape(-1, width)
    present = np.flatnonzero(counts.any(axis=1))
    group_round, rest = np.divmod(present, n_cells)
    group_item, group_crit = np.divmod(rest, len(rows.criteria))
    counted = Counted(rows, rows.round_values[group_round], group_item, group_crit,
                       counts[present], vmin, per_crit)  # fmt: skip
    _check_scales(counted)
    return counted


def _bincount(rows: Rows, n_cells: int, width: int, vmin: int, vmax: int) -> Ints:
    """One bincount of ``group * width + (value - vmin)``, done in cache-sized chunks.

    Don't-knows (NaN) land in the last slot of their group: ``np.fmin`` maps NaN to the
    slot value in the same pass. Off-scale and non-integer values are caught by running
    minima/maxima and a sum check (float-to-int truncation lowers the sum), without extra
    passes over the data.
    """
    values = rows.values
    slot = float(vmax + 1)
    size = len(rows.round_values) * n_cells * width
    shift = max(vmin, 0)  # keys run from vmin: count from 0 and drop the first `vmin` slots
    total = np.zeros(size + shift, dtype=np.int64)
    lo, hi, value_sum = math.inf, -math.inf, 0.0
    filled = np.empty(min(_CHUNK, len(values)))
    key = np.empty(len(filled), dtype=np.int64)
    cell_dtype = np.int16 if size + shift < 2**15 else np.int64
    cell: npt.NDArray[np.integer[Any]] = np.empty(len(filled), dtype=cell_dtype)
    n_crit, round_step = len(rows.criteria), n_cells * width
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        m = len(chunk)
        lo = min(lo, float(np.fmin.reduce(chunk)))
        hi = max(hi, float(np.fmax.reduce(chunk)))
        np.fmin(chunk, slot, out=filled[:m])
        value_sum += float(filled[:m].sum())
        np.copyto(key[:m], filled[:m], casting="unsafe")
        # cell offset in the narrowest integer type that holds it: fewer bytes to move
        np.multiply(rows.item_codes[start : start + m], n_crit, out=cell[:m], casting="unsafe")
        cell[:m] += rows.crit_codes[start : start + m]
        cell[:m] *= width
        key[:m] += cell[:m]
        if rows.round_codes is not None:
            key[:m] += rows.round_codes[start : start + m] * round_step
        if vmin < 0:
            key[:m] -= vmin
        total += np.bincount(key[:m], minlength=len(total))
    total = total[shift:]
    if len(values) and (lo < vmin or hi > vmax):
        _raise_bad_values(rows, lambda v: (v < vmin) | (v > vmax))
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
