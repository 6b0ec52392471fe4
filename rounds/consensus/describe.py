"""Descriptive statistics (METHODS §2) with the verdict of each criterion's rule (§3) and
its margin (§5): one row per (round, item, criterion), the rows of results.csv.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from rounds.consensus.counting import Bools, Counted, Floats, Ints, count_ratings
from rounds.consensus.margins import margins
from rounds.consensus.quantiles import quantiles
from rounds.consensus.rules import LABELS, band_counts, rand_columns, verdicts
from rounds.consensus.settings import CriterionSettings, SettingsArg

RESULTS_COLUMNS: tuple[str, ...] = (
    "round", "item", "criterion", "n", "n_missing", "mean", "sd", "median", "q1", "q3",
    "iqr", "p30", "p70", "ipr", "iprcp", "ai", "ipras", "di", "disagreement",
    "pct_low", "pct_mid", "pct_high", "rule", "consensus", "rand_class", "quantile_method",
)  # fmt: skip
EXTRA_COLUMNS: tuple[str, ...] = ("count_low", "count_mid", "count_high", "counts", "margin")
KEY_COLUMNS = ["round", "item", "criterion"]


def describe(ratings: pd.DataFrame, settings: SettingsArg) -> pd.DataFrame:
    """METHODS §2-3 and the §5 margin: one row per (round, item, criterion) with ratings.

    ``ratings`` has columns round, item, criterion, value (float with NaN for don't-know,
    or nullable Int64); a panelist column is not needed here. Rows come out sorted by
    round, item, criterion (categorical columns sort by their category order, others by
    value). Columns: ``RESULTS_COLUMNS`` then ``EXTRA_COLUMNS``. ``quantile_method`` is the
    Hyndman-Fan type number (5-8). One rating per panelist and cell is assumed, not
    checked here (``rounds.csvio`` and the database enforce it).
    """
    return describe_counted(count_ratings(ratings, settings))


def describe_counted(counted: Counted) -> pd.DataFrame:
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
        **{name: keep_none(stats[name]) for name in (*RESULTS_COLUMNS[3:], *EXTRA_COLUMNS)},
    }
    return pd.DataFrame(columns, copy=False)


def keep_none(values: Any) -> Any:
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


def _settings_blocks(counted: Counted) -> Iterator[tuple[Bools, dict[str, Any]]]:
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
        out: dict[str, Any] = dict(moments(counts, n, scale.min))
        qs = quantiles(cum, n, (50, 25, 75, 30, 70), qtype, scale.min)
        qs[empty] = np.nan
        for i, name in enumerate(("median", "q1", "q3", "p30", "p70")):
            out[name] = qs[:, i]
        out["iqr"] = out["q3"] - out["q1"]
        low, mid, high = band_counts(counts, scale)
        for name, band in (("low", low), ("mid", mid), ("high", high)):
            out[f"count_{name}"] = band
            out[f"pct_{name}"] = np.where(empty, np.nan, band * 100 / np.maximum(n, 1))
    out.update(rand_columns(out, scale, rule, empty))
    code = verdicts(counts, settings, rule)
    out.update(
        n=n,
        n_missing=missing,
        rule=np.full(len(n), settings.rule_label, dtype=object),
        consensus=LABELS[code + 1],
        quantile_method=np.full(len(n), qtype, dtype=np.int64),
        counts=[tuple(row) for row in counts.tolist()],
        margin=margins(counts, settings, rule, code),
    )
    return out


def moments(counts: Ints, n: Ints, vmin: int) -> dict[str, Floats]:
    points = np.arange(vmin, vmin + counts.shape[1], dtype=np.float64)
    mean = counts @ points / n
    deviation = counts * (points[None, :] - mean[:, None]) ** 2
    sd = np.sqrt(deviation.sum(axis=1) / (n - 1))
    return {"mean": mean, "sd": np.where(n < 2, np.nan, sd)}
