"""The consensus engine: the one implementation of shared/METHODS.md sections 2 to 5.

Pure on purpose (stdlib, numpy, pandas; no Django): the web app, the CLI, the PDF and the
exports all call it, and ``tests/rounds/test_consensus_purity.py`` keeps it that way.

Ratings are small integers, so one count vector per (round, item, criterion) carries
everything sections 2-3 need. ``describe`` builds a groups x scale-points matrix with a
single ``np.bincount`` and computes every statistic, verdict and margin from it, vectorised
across groups.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

QUANTILE_TYPES: dict[int, str] = {5: "hazen", 6: "weibull", 7: "linear", 8: "median_unbiased"}
TOLERANCE = 1e-9  # for comparisons of interpolated quantiles (IQR <= k, IPR > IPRAS)

RESULTS_COLUMNS: tuple[str, ...] = (
    "round", "item", "criterion", "n", "n_missing", "mean", "sd", "median", "q1", "q3",
    "iqr", "p30", "p70", "ipr", "iprcp", "ai", "ipras", "di", "disagreement",
    "pct_low", "pct_mid", "pct_high", "rule", "consensus", "rand_class", "quantile_method",
)  # fmt: skip
EXTRA_COLUMNS: tuple[str, ...] = ("count_low", "count_mid", "count_high", "counts", "margin")
KEY_COLUMNS = ["round", "item", "criterion"]

_LABELS = np.array(["out", "none", "in"], dtype=object)  # indexed by verdict code + 1
_RAND_CLASSES = np.array(["inappropriate", "uncertain", "appropriate"], dtype=object)
_DEFAULT_BANDS: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {
    (1, 9): ((1, 3), (4, 6), (7, 9)),
    (1, 7): ((1, 2), (3, 5), (6, 7)),
    (1, 5): ((1, 2), (3, 3), (4, 5)),
}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Scale:
    """A rating scale [min, max] and its low / middle / high bands (METHODS §1)."""

    min: int = 1
    max: int = 9
    low: tuple[int, int] = (1, 3)
    mid: tuple[int, int] = (4, 6)
    high: tuple[int, int] = (7, 9)

    def __post_init__(self) -> None:
        if self.max <= self.min:
            raise ValueError(f"scale {self.min}-{self.max}: the maximum must exceed the minimum")
        bands = (self.low, self.mid, self.high)
        ok = (
            self.low[0] == self.min
            and self.high[1] == self.max
            and all(lo <= hi for lo, hi in bands)
            and self.low[1] + 1 == self.mid[0]
            and self.mid[1] + 1 == self.high[0]
        )
        if not ok:
            raise ValueError(
                f"scale {self.min}-{self.max}: bands low {_span(self.low)}, "
                f"mid {_span(self.mid)}, high {_span(self.high)} must be non-empty, in order, "
                "contiguous and together cover the whole scale"
            )

    @classmethod
    def with_default_bands(cls, min: int, max: int) -> Scale:
        try:
            low, mid, high = _DEFAULT_BANDS[(min, max)]
        except KeyError:
            raise ValueError(
                f"no default bands for scale {min}-{max}; defaults exist for 1-9, 1-7 and 1-5, "
                "other scales need explicit bands, e.g. '0-10:0-3,4-6,7-10'"
            ) from None
        return cls(min, max, low, mid, high)

    @classmethod
    def parse(cls, text: str) -> Scale:
        """``"1-9"`` (default bands) or ``"0-10:0-3,4-6,7-10"`` (explicit low,mid,high)."""
        scale_text, _, bands_text = text.strip().partition(":")
        lo, hi = _parse_span(scale_text, what="scale", example="1-9")
        if not bands_text:
            return cls.with_default_bands(lo, hi)
        parts = bands_text.split(",")
        if len(parts) != 3:
            raise ValueError(f"scale {text!r}: give three bands, e.g. '0-10:0-3,4-6,7-10'")
        low, mid, high = (_parse_span(p, what="band", example="4-6") for p in parts)
        return cls(lo, hi, low, mid, high)

    @property
    def size(self) -> int:
        return self.max - self.min + 1

    @property
    def label(self) -> str:
        base = f"{self.min}-{self.max}"
        if _DEFAULT_BANDS.get((self.min, self.max)) == (self.low, self.mid, self.high):
            return base
        return f"{base}:{_span(self.low)},{_span(self.mid)},{_span(self.high)}"

    @property
    def is_rand_scale(self) -> bool:
        return (self.min, self.max) == (1, 9)


def _span(band: tuple[int, int]) -> str:
    return f"{band[0]}-{band[1]}"


def _parse_span(text: str, *, what: str, example: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", text)
    if not match:
        raise ValueError(f"cannot read {what} {text!r}; write it as MIN-MAX, e.g. '{example}'")
    return int(match.group(1)), int(match.group(2))


RuleKind = Literal["percent", "comet", "rand", "iqr"]
_RULE_FORMS = "percent:T (T an integer 1-100, default 75), comet, rand, rand:half, iqr, iqr:K"


@dataclass(frozen=True)
class Rule:
    """A consensus rule of METHODS §3 with its parameters."""

    kind: RuleKind
    threshold: int = 75
    k: float | None = None
    rand_half_points: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("percent", "comet", "rand", "iqr"):
            raise ValueError(f"unknown rule {self.kind!r}; valid forms: {_RULE_FORMS}")
        if not 1 <= self.threshold <= 100:
            raise ValueError(f"percent threshold {self.threshold} must be from 1 to 100")
        if self.k is not None and not (math.isfinite(self.k) and self.k >= 0):
            raise ValueError(f"IQR k {self.k} must be a finite number >= 0")

    @classmethod
    def parse(cls, text: str) -> Rule:
        """Read ``percent:75``, ``comet``, ``rand``, ``rand:half``, ``iqr`` or ``iqr:2``."""
        kind, _, arg = text.strip().lower().partition(":")
        try:
            if kind == "percent":
                return cls("percent", threshold=int(arg) if arg else 75)
            if kind == "iqr":
                return cls("iqr", k=float(arg) if arg else None)
            if kind == "rand" and arg in ("", "half"):
                return cls("rand", rand_half_points=arg == "half")
            if kind == "comet" and not arg:
                return cls("comet")
        except ValueError as exc:
            message = f"cannot read rule {text!r} ({exc}); valid forms: {_RULE_FORMS}"
            raise ValueError(message) from None
        raise ValueError(f"unknown rule {text!r}; valid forms: {_RULE_FORMS}")

    @property
    def label(self) -> str:
        if self.kind == "percent":
            return f"percent:{self.threshold}"
        if self.kind == "iqr":
            return "iqr" if self.k is None else f"iqr:{self.k:g}"
        if self.kind == "rand" and self.rand_half_points:
            return "rand:half"
        return self.kind

    def iqr_k(self, scale: Scale) -> float:
        """k for the IQR rule: explicit, or 2 on 9-point and 1 on 5- and 7-point scales."""
        if self.k is not None:
            return self.k
        default = {9: 2.0, 7: 1.0, 5: 1.0}.get(scale.size)
        if default is None:
            raise ValueError(f"the IQR rule needs an explicit k on scale {scale.label}, e.g. iqr:2")
        return default

    def check(self, scale: Scale) -> None:
        """Raise ValueError if the rule cannot be used on ``scale``."""
        if self.kind == "rand" and not scale.is_rand_scale:
            raise ValueError(f"the RAND/UCLA rule needs the 1-9 scale, not {scale.label}")
        if self.kind == "iqr":
            self.iqr_k(scale)


@dataclass(frozen=True)
class CriterionSettings:
    scale: Scale = Scale()
    rule: Rule = Rule("percent")
    quantile: int = 7

    def __post_init__(self) -> None:
        if self.quantile not in QUANTILE_TYPES:
            raise ValueError(f"unknown quantile type {self.quantile!r}; choose one of 5, 6, 7 or 8")
        self.rule.check(self.scale)


ALL_RULES: tuple[Rule, ...] = (Rule("percent"), Rule("comet"), Rule("rand"), Rule("iqr"))
SettingsArg = Mapping[str, CriterionSettings] | CriterionSettings


# --------------------------------------------------------------------------- counting


@dataclass(frozen=True)
class _Rows:
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
        codes, labels, _ = _codes(self.frame["panelist"], "panelist")
        return codes.astype(np.int64), labels


def _rows(ratings: pd.DataFrame) -> _Rows:
    missing = [c for c in ("round", "item", "criterion", "value") if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings need the column(s) {', '.join(missing)}")
    round_codes, round_values = _round_codes(ratings["round"])
    item_codes, items, items_cat = _codes(ratings["item"], "item")
    crit_codes, criteria, _ = _codes(ratings["criterion"], "criterion")
    return _Rows(ratings, round_values, round_codes, item_codes, items, items_cat, crit_codes,
                 criteria, _value_array(ratings["value"]))  # fmt: skip


@dataclass(frozen=True)
class _Counted:
    """Ratings reduced to one count vector per (round, item, criterion) with >= 1 row.

    ``counts`` uses one layout for all criteria: column k is the value ``vmin + k``, the
    last column counts don't-knows. Groups are sorted by round, item, criterion.
    """

    rows: _Rows
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


def _codes(column: pd.Series[Any], name: str) -> tuple[Ints, pd.Index, bool]:
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


def _settings_per_criterion(rows: _Rows, settings: SettingsArg) -> tuple[CriterionSettings, ...]:
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


def _count(ratings: pd.DataFrame, settings: SettingsArg) -> _Counted:
    rows = _rows(ratings)
    per_crit = _settings_per_criterion(rows, settings)
    vmin = min((s.scale.min for s in per_crit), default=1)
    vmax = max((s.scale.max for s in per_crit), default=9)
    width = vmax - vmin + 2  # scale points plus the don't-know slot
    n_cells = len(rows.items) * len(rows.criteria)
    counts = _bincount(rows, n_cells, width, vmin, vmax).reshape(-1, width)
    present = np.flatnonzero(counts.any(axis=1))
    group_round, rest = np.divmod(present, n_cells)
    group_item, group_crit = np.divmod(rest, len(rows.criteria))
    counted = _Counted(rows, rows.round_values[group_round], group_item, group_crit,
                       counts[present], vmin, per_crit)  # fmt: skip
    _check_scales(counted)
    return counted


def _bincount(rows: _Rows, n_cells: int, width: int, vmin: int, vmax: int) -> Ints:
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


def _raise_bad_values(rows: _Rows, is_bad: Callable[[Floats], Bools]) -> None:
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


def _check_scales(counted: _Counted) -> None:
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


# --------------------------------------------------------------------------- quantiles


def _positions(n: Ints, pct: Any, qtype: int) -> tuple[Ints, Floats]:
    """1-based order-statistic index j and weight t of Hyndman-Fan type ``qtype``.

    The quantile is x(j) + t * (x(j+1) - x(j)). h is computed as an exact fraction
    (numerator // denominator) so floor(h) never suffers from float round-off.
    """
    n = np.asarray(n, dtype=np.int64)
    if qtype == 5:
        num, den = n * pct + 50, 100  # h = n p + 1/2
    elif qtype == 6:
        num, den = (n + 1) * pct, 100  # h = (n + 1) p
    elif qtype == 7:
        num, den = (n - 1) * pct + 100, 100  # h = (n - 1) p + 1
    else:
        num, den = (3 * n + 1) * pct + 100, 300  # h = (n + 1/3) p + 1/3
    j, rem = np.divmod(num, den)
    t = rem / den
    below, above = j < 1, j >= n
    j = np.where(below, 1, np.where(above, n, j))
    t = np.where(below | above, 0.0, t)
    return j, t


def _order_stat(cum: Ints, j: Ints, vmin: int) -> Ints:
    """x(j) from cumulative counts, extended: x(j<1) = min, x(j>n) = max of the scale.

    ``cum`` has shape (..., K); ``j`` has shape (..., M); returns shape (..., M).
    """
    below = (cum[..., None, :] < j[..., None]).sum(axis=-1)
    return vmin + np.minimum(below, cum.shape[-1] - 1)


def _lerp(a: Any, b: Any, t: Any) -> Floats:
    # numpy's own formula, so results match np.percentile to the last bit where possible
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _quantile(cum: Ints, n: Ints, pct: int, qtype: int, vmin: int) -> Floats:
    """Quantile of each count vector (``cum`` holds cumulative counts on its last axis)."""
    return _quantiles(cum, n, (pct,), qtype, vmin)[..., 0]


def _quantiles(cum: Ints, n: Ints, pcts: tuple[int, ...], qtype: int, vmin: int) -> Floats:
    """Several quantiles at once: shape (..., len(pcts))."""
    j, t = _positions(n[..., None], np.array(pcts), qtype)
    both = _order_stat(cum, np.concatenate([j, j + 1], axis=-1), vmin)
    return _lerp(both[..., : len(pcts)], both[..., len(pcts) :], t)


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class _MedianRule:
    """The median-based rules (RAND/UCLA, IQR) as one shape: ``in`` when the median is
    >= ``high`` and the spread is acceptable, ``out`` when <= ``low`` and acceptable."""

    high: float
    low: float
    spread: Literal["rand", "iqr"]
    k: float
    pcts: tuple[int, int]  # low and high quantile, in percent
    qtype: int
    vmin: int
    vmax: int

    @classmethod
    def of(cls, settings: CriterionSettings, rule: Rule) -> _MedianRule:
        scale, q = settings.scale, settings.quantile
        if rule.kind == "rand":
            half = 0.5 if rule.rand_half_points else 0.0
            return cls(7 - half, 3 + half, "rand", 0.0, (30, 70), q, scale.min, scale.max)
        k = rule.iqr_k(scale)
        return cls(scale.high[0], scale.low[1], "iqr", k, (25, 75), q, scale.min, scale.max)

    def mirrored(self) -> _MedianRule:
        """The same rule on reversed ratings (v -> min + max - v): out becomes in."""
        flip = self.vmin + self.vmax
        return _MedianRule(flip - self.low, flip - self.high, self.spread, self.k, self.pcts,
                           self.qtype, self.vmin, self.vmax)  # fmt: skip

    def spread_ok(self, ql: Any, qh: Any) -> Bools:
        if self.spread == "iqr":
            return np.asarray(qh - ql <= self.k + TOLERANCE)
        return np.asarray(qh - ql <= _ipras(ql, qh) + TOLERANCE)

    def verdict(self, med: Any, ql: Any, qh: Any) -> npt.NDArray[np.int8]:
        ok = self.spread_ok(ql, qh)
        code = np.where(ok & (med >= self.high), 1, np.where(ok & (med <= self.low), -1, 0))
        return code.astype(np.int8)

    def stats(self, counts: Ints) -> tuple[Floats, Floats, Floats]:
        """Median and low/high quantiles of count vectors (last axis = scale points)."""
        n = counts.sum(axis=-1)
        cum = counts.cumsum(axis=-1)
        med = _quantile(cum, n, 50, self.qtype, self.vmin)
        ql = _quantile(cum, n, self.pcts[0], self.qtype, self.vmin)
        qh = _quantile(cum, n, self.pcts[1], self.qtype, self.vmin)
        return med, ql, qh

    def verdict_of_counts(self, counts: Ints) -> npt.NDArray[np.int8]:
        return self.verdict(*self.stats(counts))


def _ipras(p30: Any, p70: Any) -> Floats:
    return np.asarray(2.35 + 1.5 * np.abs(5 - (p30 + p70) / 2))


def _band_counts(counts: Ints, scale: Scale) -> tuple[Ints, Ints, Ints]:
    def band(b: tuple[int, int]) -> Ints:
        return counts[..., b[0] - scale.min : b[1] - scale.min + 1].sum(axis=-1)

    return band(scale.low), band(scale.mid), band(scale.high)


def _percent_verdict(high: Ints, low: Ints, n: Ints, threshold: int) -> npt.NDArray[np.int8]:
    is_in = high * 100 >= threshold * n
    is_out = ~is_in & (low * 100 >= threshold * n)
    return _code(is_in, is_out, n)


def _comet_verdict(high: Ints, low: Ints, n: Ints) -> npt.NDArray[np.int8]:
    is_in = (high * 100 >= 70 * n) & (low * 100 < 15 * n)
    is_out = (low * 100 >= 70 * n) & (high * 100 < 15 * n)
    return _code(is_in, is_out, n)


def _code(is_in: Bools, is_out: Bools, n: Ints) -> npt.NDArray[np.int8]:
    code = np.where(is_in, 1, np.where(is_out, -1, 0))
    return np.where(n > 0, code, 0).astype(np.int8)


def _verdicts(counts: Ints, settings: CriterionSettings, rule: Rule) -> npt.NDArray[np.int8]:
    """Verdict code per count vector: 1 in, -1 out, 0 none."""
    n = counts.sum(axis=-1)
    low, _, high = _band_counts(counts, settings.scale)
    if rule.kind == "percent":
        return _percent_verdict(high, low, n, rule.threshold)
    if rule.kind == "comet":
        return _comet_verdict(high, low, n)
    code = _MedianRule.of(settings, rule).verdict_of_counts(counts)
    return np.where(n > 0, code, 0).astype(np.int8)


# --------------------------------------------------------------------------- margins


def _ceil_div(a: Ints, b: int) -> Ints:
    return -(-a // b)


def _margin_percent(high: Ints, low: Ints, n: Ints, t: int, code: Any) -> Ints:
    """Exact: each changed rating moves a band count by at most one."""
    need = _ceil_div(t * n, 100)  # fewest ratings in a band that reach the threshold
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


def _margins(counts: Ints, settings: CriterionSettings, rule: Rule, code: Any) -> Ints:
    """Consensus margin (METHODS §5) per count vector; -1 where n == 0."""
    n = counts.sum(axis=-1)
    low, _, high = _band_counts(counts, settings.scale)
    if rule.kind == "percent":
        margin = _margin_percent(high, low, n, rule.threshold, code)
    elif rule.kind == "comet":
        margin = _margin_comet(high, low, n, code)
    else:
        margin = _margin_median(counts, _MedianRule.of(settings, rule), code)
    return np.where(n > 0, margin, -1)


def _margin_median(counts: Ints, rule: _MedianRule, code: Any) -> Ints:
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


def _reach_cost(counts: Ints, rule: _MedianRule) -> Ints:
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
    j, t = _positions(n, pct, qtype)
    lo = _order_stat(cum, j[:, None] + shift, vmin)
    hi = _order_stat(cum, j[:, None] + 1 + shift, vmin)
    return _lerp(lo, hi, t[:, None])


def _leave_cost(counts: Ints, rule: _MedianRule) -> Ints:
    """Fewest changes that take groups now ``in`` out of ``in``."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    q = rule.qtype
    jm, _ = _positions(n, 50, q)
    jl, _ = _positions(n, rule.pcts[0], q)
    jh, _ = _positions(n, rule.pcts[1], q)
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


def _spread_moves(counts: Ints, rule: _MedianRule, a: Ints, b: Ints, jl: Ints) -> Ints:
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


def _cheapest_flip(counts: Ints, new: Ints, valid: Bools, rule: _MedianRule, code: int) -> Ints:
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


def _reach(counts: Ints, rule: _MedianRule) -> _Reach:
    """Lower bound for turning ``none`` into ``in``, and the cheapest change found at the
    few bound-attaining (a, b) pairs (usually equal to the bound)."""
    n, cum = counts.sum(axis=1), counts.cumsum(axis=1)
    q = rule.qtype
    jm, _ = _positions(n, 50, q)
    jl, _ = _positions(n, rule.pcts[0], q)
    jh, _ = _positions(n, rule.pcts[1], q)
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


def _reach_wide(counts: Ints, rule: _MedianRule, reach: _Reach, rows: Bools,
                best: Ints) -> Ints:  # fmt: skip
    """Try the remaining bound-feasible pairs, cheapest first, for the groups in ``rows``."""
    groups = np.flatnonzero(rows)

    def concentrate(sub: Ints, pick: Ints) -> Ints:
        g = groups[sub]
        return _concentrate(counts[g], rule, reach.a[g], reach.b[g], pick, reach.cost[g])

    return _in_cost_order(reach.cost[groups], best[groups], concentrate, start=4)


def _concentrate(counts: Ints, rule: _MedianRule, a: Ints, b: Ints, pick: Ints,
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


# --------------------------------------------------------------------------- describe


def describe(ratings: pd.DataFrame, settings: SettingsArg) -> pd.DataFrame:
    """METHODS §2-3 and the §5 margin: one row per (round, item, criterion) with ratings.

    ``ratings`` has columns round, item, criterion, value (float with NaN for don't-know,
    or nullable Int64); a panelist column is not needed here. Rows come out sorted by
    round, item, criterion (categorical columns sort by their category order, others by
    value). Columns: ``RESULTS_COLUMNS`` then ``EXTRA_COLUMNS``. ``quantile_method`` is the
    Hyndman-Fan type number (5-8). One rating per panelist and cell is assumed, not
    checked here (``rounds.csvio`` and the database enforce it).
    """
    return _describe_counted(_count(ratings, settings))


def _describe_counted(counted: _Counted) -> pd.DataFrame:
    blocks = list(_settings_blocks(counted))
    if not blocks:  # no ratings at all
        return pd.DataFrame(columns=[*RESULTS_COLUMNS, *EXTRA_COLUMNS])
    if len(blocks) == 1:
        stats = blocks[0][1]
    else:
        stats = {name: _assemble([b[name] for _, b in blocks], [rows for rows, _ in blocks],
                                 len(counted.counts))
                 for name in blocks[0][1]}  # fmt: skip
    margin = np.asarray(stats["margin"])
    stats["margin"] = pd.arrays.IntegerArray(np.maximum(margin, 0), margin < 0)
    columns = {
        "round": counted.rounds,
        "item": counted.item_column(counted.item_codes),
        "criterion": counted.criterion_column(counted.crit_codes),
        **{name: _keep_none(stats[name]) for name in (*RESULTS_COLUMNS[3:], *EXTRA_COLUMNS)},
    }
    return pd.DataFrame(columns, copy=False)


def _keep_none(values: Any) -> Any:
    """Object columns stay object, so None stays None (pandas would infer str and NaN)."""
    if isinstance(values, list) or getattr(values, "dtype", None) == np.dtype(object):
        return pd.Series(values, dtype=object)
    return values


def _assemble(parts: list[Any], rows: list[Bools], n_groups: int) -> Any:
    """Merge per-settings columns back into group order."""
    if isinstance(parts[0], list):
        merged: list[Any] = [None] * n_groups
        for part, mask in zip(parts, rows, strict=True):
            for i, value in zip(np.flatnonzero(mask), part, strict=True):
                merged[i] = value
        return merged
    kinds = {np.asarray(p).dtype for p in parts}
    out = np.empty(n_groups, dtype=kinds.pop() if len(kinds) == 1 else object)
    for part, mask in zip(parts, rows, strict=True):
        out[mask] = part
    return out


def _settings_blocks(counted: _Counted) -> Iterator[tuple[Bools, dict[str, Any]]]:
    """Groups that share one CriterionSettings, with their statistics."""
    distinct = dict.fromkeys(counted.settings)
    for settings in distinct:
        codes = [c for c, s in enumerate(counted.settings) if s == settings]
        if len(distinct) == 1:
            rows = np.ones(len(counted.counts), dtype=bool)
        else:
            rows = np.isin(counted.crit_codes, codes)
        missing = counted.counts[rows, -1]
        yield rows, _stats(counted.block(rows, settings.scale), missing, settings)


def _stats(counts: Ints, missing: Ints, settings: CriterionSettings) -> dict[str, Any]:
    scale, rule, qtype = settings.scale, settings.rule, settings.quantile
    n = counts.sum(axis=1)
    cum = counts.cumsum(axis=1)
    empty = n == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        out: dict[str, Any] = dict(_moments(counts, n, scale.min))
        quantiles = _quantiles(cum, n, (50, 25, 75, 30, 70), qtype, scale.min)
        quantiles[empty] = np.nan
        for i, name in enumerate(("median", "q1", "q3", "p30", "p70")):
            out[name] = quantiles[:, i]
        out["iqr"] = out["q3"] - out["q1"]
        low, mid, high = _band_counts(counts, scale)
        for name, band in (("low", low), ("mid", mid), ("high", high)):
            out[f"count_{name}"] = band
            out[f"pct_{name}"] = np.where(empty, np.nan, band * 100 / np.maximum(n, 1))
    out.update(_rand_columns(out, scale, rule, empty))
    code = _verdicts(counts, settings, rule)
    out.update(
        n=n,
        n_missing=missing,
        rule=np.full(len(n), rule.label, dtype=object),
        consensus=_LABELS[code + 1],
        quantile_method=np.full(len(n), qtype, dtype=np.int64),
        counts=[tuple(row) for row in counts.tolist()],
        margin=_margins(counts, settings, rule, code),
    )
    return out


def _moments(counts: Ints, n: Ints, vmin: int) -> dict[str, Floats]:
    points = np.arange(vmin, vmin + counts.shape[1], dtype=np.float64)
    mean = counts @ points / n
    deviation = counts * (points[None, :] - mean[:, None]) ** 2
    sd = np.sqrt(deviation.sum(axis=1) / (n - 1))
    return {"mean": mean, "sd": np.where(n < 2, np.nan, sd)}


def _rand_columns(out: dict[str, Any], scale: Scale, rule: Rule, empty: Bools) -> dict[str, Any]:
    """IPR, IPRAS and the RAND/UCLA class (METHODS §3.3); empty on scales other than 1-9."""
    size = len(empty)
    if not scale.is_rand_scale:
        nan = np.full(size, np.nan)
        none = np.full(size, None, dtype=object)
        return dict(ipr=nan, iprcp=nan, ai=nan, ipras=nan, di=nan, disagreement=none,
                    rand_class=none)  # fmt: skip
    p30, p70, median = out["p30"], out["p70"], out["median"]
    ipr = p70 - p30
    iprcp = (p30 + p70) / 2
    ai = np.abs(5 - iprcp)
    ipras = 2.35 + 1.5 * ai
    disagreement = ipr > ipras + TOLERANCE
    half = 0.5 if rule.kind == "rand" and rule.rand_half_points else 0.0
    cls = np.where(~disagreement & (median >= 7 - half), 1,
                   np.where(~disagreement & (median <= 3 + half), -1, 0))  # fmt: skip
    return dict(
        ipr=ipr, iprcp=iprcp, ai=ai, ipras=ipras, di=ipr / ipras,
        disagreement=np.where(empty, None, disagreement.astype(object)),
        rand_class=np.where(empty, None, _RAND_CLASSES[cls + 1]),
    )  # fmt: skip


# --------------------------------------------------------------------------- all rules


def consensus_under_all_rules(ratings: pd.DataFrame, settings: SettingsArg) -> pd.DataFrame:
    """The verdict and margin of every rule in ``ALL_RULES`` side by side (METHODS §5).

    Columns: round, item, criterion, then per rule ``<label>`` (in/out/none) and
    ``<label>_margin``. A rule that cannot apply to a criterion's scale (RAND off the 1-9
    scale, IQR without a default k) gives None. Scale and quantile type stay the study's.
    """
    return _all_rules_counted(_count(ratings, settings))


def _all_rules_counted(counted: _Counted) -> pd.DataFrame:
    n_groups = len(counted.counts)
    frame = pd.DataFrame({
        "round": counted.rounds,
        "item": counted.item_column(counted.item_codes),
        "criterion": counted.criterion_column(counted.crit_codes),
    })  # fmt: skip
    for rule in ALL_RULES:
        verdict = np.full(n_groups, None, dtype=object)
        margin = np.full(n_groups, -1, dtype=np.int64)
        for rows, settings in _rule_blocks(counted, rule):
            counts = counted.block(rows, settings.scale)
            code = _verdicts(counts, settings, rule)
            verdict[rows] = _LABELS[code + 1]
            margin[rows] = _margins(counts, settings, rule, code)
        frame[rule.label] = _keep_none(verdict)
        frame[f"{rule.label}_margin"] = pd.arrays.IntegerArray(np.maximum(margin, 0), margin < 0)
    return frame


def _rule_blocks(counted: _Counted, rule: Rule) -> Iterator[tuple[Bools, CriterionSettings]]:
    for settings in dict.fromkeys(counted.settings):
        try:
            applied = CriterionSettings(settings.scale, rule, settings.quantile)
        except ValueError:
            continue  # the rule does not apply to this scale
        codes = [c for c, s in enumerate(counted.settings) if s == settings]
        yield np.isin(counted.crit_codes, codes), applied


# --------------------------------------------------------------------------- decisions


NUMERIC_STATS = frozenset({
    "n", "n_missing", "mean", "sd", "median", "q1", "q3", "iqr", "p30", "p70", "ipr",
    "iprcp", "ai", "ipras", "di", "pct_low", "pct_mid", "pct_high", "count_low",
    "count_mid", "count_high", "margin",
})  # fmt: skip
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<op>>=|<=|==|!=|=|>|<)|(?P<paren>[()])"
    r"|(?P<word>[A-Za-z_][\w-]*)|(?P<dot>\.))"
)


@dataclass(frozen=True)
class _Clause:
    criterion: str
    stat: str | None  # None: compare the verdict
    op: str
    value: float | str

    def evaluate(self, table: dict[tuple[str, str], Any]) -> Bools:
        values = table[(self.criterion, self.stat or "consensus")]
        if self.stat is None:
            result = values == self.value
        else:
            with np.errstate(invalid="ignore"):
                result = _COMPARE[self.op](values.astype(float), float(self.value))
        return np.asarray(result, dtype=bool)


_COMPARE: dict[str, Callable[[Floats, float], Bools]] = {
    ">=": lambda a, b: a >= b - TOLERANCE,
    "<=": lambda a, b: a <= b + TOLERANCE,
    ">": lambda a, b: a > b + TOLERANCE,
    "<": lambda a, b: a < b - TOLERANCE,
    "=": lambda a, b: np.abs(a - b) <= TOLERANCE,
}
_Expr = tuple[str, Any]  # ("clause", _Clause) | ("and"/"or", list[_Expr])


class _Parser:
    """Recursive descent: expr := term (OR term)*; term := atom (AND atom)*;
    atom := '(' expr ')' | criterion '=' in|out|none | criterion '.' stat op number."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                pos += len(text[pos:]) - len(text[pos:].lstrip())
                raise ValueError(f"unexpected character {text[pos]!r} at position {pos + 1}")
            kind = cast(str, match.lastgroup)
            start = match.start(kind)
            self.tokens.append((kind, match.group(kind), start + 1))
            pos = match.end()
        self.i = 0

    def parse(self) -> _Expr:
        if not self.tokens:
            raise ValueError("the rule is empty")
        expr = self.expr()
        if self.i < len(self.tokens):
            self.fail("expected AND, OR or the end of the rule")
        return expr

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, expected: str) -> None:
        token = self.peek()
        if token is None:
            raise ValueError(f"{expected}, but the rule ends")
        raise ValueError(f"{expected}, found {token[1]!r} at position {token[2]}")

    def take(self, kind: str, expected: str) -> str:
        token = self.peek()
        if token is None or token[0] != kind:
            self.fail(expected)
        self.i += 1
        return cast(tuple[str, str, int], token)[1]

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.i += 1
            return True
        return False

    def expr(self) -> _Expr:
        terms = [self.term()]
        while self.keyword("or"):
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def term(self) -> _Expr:
        atoms = [self.atom()]
        while self.keyword("and"):
            atoms.append(self.atom())
        return atoms[0] if len(atoms) == 1 else ("and", atoms)

    def atom(self) -> _Expr:
        token = self.peek()
        if token and token[0] == "paren" and token[1] == "(":
            self.i += 1
            inner = self.expr()
            self.take("paren", "expected ')'")
            return inner
        criterion = self.take("word", "expected a criterion code")
        if self.peek() and cast(tuple[str, str, int], self.peek())[0] == "dot":
            self.i += 1
            return ("clause", self.stat_clause(criterion))
        op = self.take("op", "expected '=' or '.'")
        if op not in ("=", "=="):
            self.i -= 1
            self.fail("expected '=' before in/out/none")
        verdict = self.take("word", "expected in, out or none").lower()
        if verdict not in ("in", "out", "none"):
            self.i -= 1
            self.fail("expected in, out or none")
        return ("clause", _Clause(criterion, None, "=", verdict))

    def stat_clause(self, criterion: str) -> _Clause:
        stat = self.take("word", "expected a statistic such as median or pct_high").lower()
        if stat not in NUMERIC_STATS:
            self.i -= 1
            self.fail(f"expected one of {', '.join(sorted(NUMERIC_STATS))}")
        op = self.take("op", "expected >=, <=, >, < or =")
        op = "=" if op == "==" else op
        if op not in _COMPARE:
            self.i -= 1
            self.fail("expected >=, <=, >, < or =")
        number = self.take("num", "expected a number")
        return _Clause(criterion, stat, op, float(number))


def _parse_expression(text: str | None, which: str) -> _Expr | None:
    if text is None or not text.strip():
        return None
    try:
        return _Parser(text).parse()
    except ValueError as exc:
        raise ValueError(f"{which} rule {text!r}: {exc}") from None


def _clauses(expr: _Expr) -> Iterator[_Clause]:
    if expr[0] == "clause":
        yield expr[1]
    else:
        for part in expr[1]:
            yield from _clauses(part)


@dataclass(frozen=True)
class DecisionRule:
    """How an item's criteria verdicts become one decision (METHODS §3, item decisions).

    An item is ``accepted`` when the accept expression holds (default: every criterion
    rated for it is ``in``), otherwise ``rejected`` when the reject expression holds
    (default: any criterion is ``out``), otherwise ``carried`` to the next round.
    Expressions: clauses ``<criterion> = in|out|none`` or ``<criterion>.<stat> <op> <number>``
    (op one of >=, <=, >, <, =; stat a numeric results column) joined by AND / OR, AND
    binding tighter, parentheses allowed, keywords case-insensitive.
    """

    accept: str | None = None
    reject: str | None = None
    _accept: _Expr | None = field(init=False, repr=False, compare=False, default=None)
    _reject: _Expr | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_accept", _parse_expression(self.accept, "accept"))
        object.__setattr__(self, "_reject", _parse_expression(self.reject, "reject"))

    @classmethod
    def parse(cls, accept: str | None = None, reject: str | None = None) -> DecisionRule:
        """Validate both expressions; ValueError names the bad token and its position."""
        return cls(accept or None, reject or None)


def decide_items(results: pd.DataFrame, rule: DecisionRule | None = None) -> pd.DataFrame:
    """round, item, decision (accepted / rejected / carried) per item of ``describe``'s
    results; see ``DecisionRule`` for the order in which the expressions are tried."""
    rule = rule or DecisionRule()
    item_codes, items, categorical = _codes(results["item"], "item")
    rounds = results["round"].to_numpy(dtype=np.int64)
    key = rounds * (len(items) + 1) + item_codes
    uniq, first, row = np.unique(key, return_index=True, return_inverse=True)
    consensus = results["consensus"].to_numpy(dtype=object)
    if rule._accept is None:
        accepted = np.bincount(row, consensus != "in", len(uniq)) == 0
    else:
        accepted = _evaluate(rule._accept, results, row, len(uniq))
    if rule._reject is None:
        rejected = np.bincount(row, consensus == "out", len(uniq)) > 0
    else:
        rejected = _evaluate(rule._reject, results, row, len(uniq))
    decision = np.where(accepted, "accepted", np.where(rejected, "rejected", "carried"))
    item = items.take(item_codes[first])
    return pd.DataFrame({
        "round": rounds[first],
        "item": pd.Categorical(item, dtype=results["item"].dtype)  # type: ignore[call-overload]
        if categorical
        else item,
        "decision": decision.astype(object),
    }, copy=False)  # fmt: skip


def _evaluate(expr: _Expr, results: pd.DataFrame, row: Ints, size: int) -> Bools:
    criteria = results["criterion"].astype(str).to_numpy()
    known = set(criteria)
    table: dict[tuple[str, str], Any] = {}
    for clause in _clauses(expr):
        if clause.criterion not in known:
            raise ValueError(
                f"the decision rule names criterion {clause.criterion!r}, which has no "
                f"results; criteria: {', '.join(sorted(known))}"
            )
        stat = clause.stat or "consensus"
        cell = np.full(
            size, np.nan if clause.stat else None, dtype=float if clause.stat else object
        )
        mask = criteria == clause.criterion
        column = results[stat].to_numpy(dtype=float if clause.stat else object, na_value=np.nan)
        cell[row[mask]] = column[mask]
        table[(clause.criterion, stat)] = cell
    return _apply(expr, table)


def _apply(expr: _Expr, table: dict[tuple[str, str], Any]) -> Bools:
    if expr[0] == "clause":
        return cast(_Clause, expr[1]).evaluate(table)
    parts = [_apply(part, table) for part in expr[1]]
    combine = np.logical_and if expr[0] == "and" else np.logical_or
    return np.asarray(combine.reduce(parts), dtype=bool)


# --------------------------------------------------------------------------- between rounds


STABILITY_COLUMNS = ["item", "criterion", "n_prev", "n", "pct_change", "stable", "n_paired",
                     "wilcoxon_p", "mcnemar_p", "cv_prev", "cv", "cv_change"]  # fmt: skip


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
    - ``cv``: sd / mean per round, and ``cv_change = cv - cv_prev``.
    """
    both = ratings[ratings["round"].isin([prev_round, round])]
    return _compare(_count(both, settings), prev_round, round, stable_below)


def _compare(counted: _Counted, prev: int, cur: int, stable_below: float) -> pd.DataFrame:
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
    stable = pd.arrays.BooleanArray(change < stable_below, np.isnan(change))
    return pd.DataFrame({
        "item": counted.item_column(counted.item_codes[g_cur]),
        "criterion": counted.criterion_column(counted.crit_codes[g_cur]),
        "n_prev": n_prev, "n": n_cur, "pct_change": change, "stable": stable, **paired,
        "cv_prev": cv_prev, "cv": cv_cur, "cv_change": cv_cur - cv_prev,
    })  # fmt: skip


def _cv(counts: Ints, n: Ints, vmin: int) -> Floats:
    moments = _moments(counts, n, vmin)
    return moments["sd"] / moments["mean"]


def _paired_tests(counted: _Counted, prev: int, cur: int, cells: Ints) -> dict[str, Any]:
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


def _pairs(rows: _Rows, prev: int, cur: int) -> tuple[Floats, Floats, Ints]:
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
        _check_unique(keys, size, f"round {which}")
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


def _check_unique(keys: Ints, size: int, where: str) -> None:
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


# --------------------------------------------------------------------------- Kendall's W


KENDALL_COLUMNS = ["round", "criterion", "w", "w_uncorrected", "m", "n_items"]


def kendalls_w(ratings: pd.DataFrame) -> pd.DataFrame:
    """Kendall's W per (round, criterion) over the items rated in it, among panelists who
    rated every one of them (METHODS §4): average ranks within each panelist, with the tie
    correction (``w``) and without (``w_uncorrected``). NaN when m < 2 or fewer than 2
    items, or when every panelist tied every item."""
    return _kendall(_rows(ratings))


def _kendall(rows: _Rows) -> pd.DataFrame:
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
) -> tuple[float, float, int, int]:
    n_items, n_panelists = shape
    rated = np.bincount(items, minlength=n_items) > 0
    column = np.cumsum(rated) - 1  # item code -> column among the rated items
    n = int(rated.sum())
    key = panelists * n + column[items]
    _check_unique(key, n_panelists * n, "a round")
    grid = np.full(n_panelists * n, np.nan)
    grid[key] = values
    table = grid.reshape(n_panelists, n)
    table = table[~np.isnan(table).any(axis=1)]
    m = len(table)
    if m < 2 or n < 2:
        return math.nan, math.nan, m, n
    ranks, ties = _average_ranks(table)
    s = ((ranks.sum(axis=0) - m * (n + 1) / 2) ** 2).sum()
    full = m**2 * (n**3 - n)
    corrected = full - m * ties
    w = 12 * s / corrected if corrected > 0 else math.nan
    return float(w), float(12 * s / full), m, n


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


# --------------------------------------------------------------------------- analyse


@dataclass(frozen=True)
class Analysis:
    results: pd.DataFrame
    decisions: pd.DataFrame
    all_rules: pd.DataFrame
    stability: pd.DataFrame
    kendall: pd.DataFrame


def analyse(
    ratings: pd.DataFrame,
    settings: SettingsArg,
    decision_rule: DecisionRule | None = None,
    stable_below: float = 15.0,
) -> Analysis:
    """Everything the platform shows for a study's ratings: §2-3 results with margins,
    item decisions, the §5 alternative rules, §4 stability for each consecutive pair of
    rounds present (with prev_round and round columns) and Kendall's W."""
    counted = _count(ratings, settings)
    results = _describe_counted(counted)
    rounds = sorted(set(counted.rounds.tolist()))
    stability = [
        _compare(counted, prev, cur, stable_below).assign(prev_round=prev, round=cur)
        for prev, cur in itertools.pairwise(rounds)
    ]
    columns = ["prev_round", "round", *STABILITY_COLUMNS]
    return Analysis(
        results=results,
        decisions=decide_items(results, decision_rule),
        all_rules=_all_rules_counted(counted),
        stability=pd.concat(stability, ignore_index=True)[columns]
        if stability
        else pd.DataFrame(columns=columns),
        kendall=_kendall(counted.rows),
    )
