"""Consensus verdicts (METHODS §3): percent agreement, COMET/GRADE 70/15, RAND/UCLA with IPRAS and
the IQR rule, computed from count vectors.

A verdict is coded 1 (``in``), -1 (``out``) or 0 (``none``). Shares are compared with their
thresholds in integer arithmetic, never as rounded floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from rounds.consensus.counting import Bools, Floats, Ints
from rounds.consensus.quantiles import quantiles
from rounds.consensus.settings import PPM, TOLERANCE, CriterionSettings, Rule, Scale

LABELS = np.array(["out", "none", "in"], dtype=object)  # indexed by verdict code + 1
_RAND_CLASSES = np.array(["inappropriate", "uncertain", "appropriate"], dtype=object)


@dataclass(frozen=True)
class MedianRule:
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
    def of(cls, settings: CriterionSettings, rule: Rule) -> MedianRule:
        scale, q = settings.scale, settings.quantile
        if rule.kind == "rand":
            half = 0.5 if rule.rand_half_points else 0.0
            return cls(7 - half, 3 + half, "rand", 0.0, (30, 70), q, scale.min, scale.max)
        k = rule.iqr_k(scale)
        return cls(scale.high[0], scale.low[1], "iqr", k, (25, 75), q, scale.min, scale.max)

    def mirrored(self) -> MedianRule:
        """The same rule on reversed ratings (v -> min + max - v): out becomes in."""
        flip = self.vmin + self.vmax
        return MedianRule(flip - self.low, flip - self.high, self.spread, self.k, self.pcts,
                           self.qtype, self.vmin, self.vmax)  # fmt: skip

    def spread_ok(self, ql: Any, qh: Any) -> Bools:
        if self.spread == "iqr":
            return np.asarray(qh - ql <= self.k + TOLERANCE)
        return np.asarray(qh - ql <= ipras(ql, qh) + TOLERANCE)

    def verdict(self, med: Any, ql: Any, qh: Any) -> npt.NDArray[np.int8]:
        ok = self.spread_ok(ql, qh)
        code = np.where(ok & (med >= self.high), 1, np.where(ok & (med <= self.low), -1, 0))
        return code.astype(np.int8)

    def stats(self, counts: Ints) -> tuple[Floats, Floats, Floats]:
        """Median and low/high quantiles of count vectors (last axis = scale points)."""
        n = counts.sum(axis=-1)
        cum = counts.cumsum(axis=-1)
        both = quantiles(cum, n, (50, *self.pcts), self.qtype, self.vmin)
        return both[..., 0], both[..., 1], both[..., 2]

    def verdict_of_counts(self, counts: Ints) -> npt.NDArray[np.int8]:
        return self.verdict(*self.stats(counts))


def ipras(p30: Any, p70: Any) -> Floats:
    return np.asarray(2.35 + 1.5 * np.abs(5 - (p30 + p70) / 2))


def band_counts(counts: Ints, scale: Scale) -> tuple[Ints, Ints, Ints]:
    def band(b: tuple[int, int]) -> Ints:
        return counts[..., b[0] - scale.min : b[1] - scale.min + 1].sum(axis=-1)

    return band(scale.low), band(scale.mid), band(scale.high)


def _percent_verdict(high: Ints, low: Ints, n: Ints, ppm: int) -> npt.NDArray[np.int8]:
    """``ppm``: the threshold in parts per million, so decimals compare exactly."""
    is_in = high * PPM >= ppm * n
    is_out = ~is_in & (low * PPM >= ppm * n)
    return _code(is_in, is_out, n)


def _comet_verdict(high: Ints, low: Ints, n: Ints) -> npt.NDArray[np.int8]:
    is_in = (high * 100 >= 70 * n) & (low * 100 < 15 * n)
    is_out = (low * 100 >= 70 * n) & (high * 100 < 15 * n)
    return _code(is_in, is_out, n)


def _code(is_in: Bools, is_out: Bools, n: Ints) -> npt.NDArray[np.int8]:
    code = np.where(is_in, 1, np.where(is_out, -1, 0))
    return np.where(n > 0, code, 0).astype(np.int8)


def verdicts(counts: Ints, settings: CriterionSettings, rule: Rule) -> npt.NDArray[np.int8]:
    """Verdict code per count vector: 1 in, -1 out, 0 none."""
    n = counts.sum(axis=-1)
    low, _, high = band_counts(counts, settings.scale)
    if rule.kind == "percent":
        return _percent_verdict(high, low, n, rule.threshold_ppm)
    if rule.kind == "comet":
        return _comet_verdict(high, low, n)
    code = MedianRule.of(settings, rule).verdict_of_counts(counts)
    return np.where(n > 0, code, 0).astype(np.int8)


def rand_columns(out: dict[str, Any], scale: Scale, rule: Rule, empty: Bools) -> dict[str, Any]:
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
