"""Percentiles of count vectors under Hyndman-Fan types 5 to 8 (METHODS §2).

Type 7 is R's default (numpy ``linear``); types 5, 6 and 8 are numpy's ``hazen``,
``weibull`` and ``median_unbiased``. Positions are computed in exact integer arithmetic so
that ``floor(h)`` never suffers from float round-off.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rounds.consensus.counting import Floats, Ints


def positions(n: Ints, pct: Any, qtype: int) -> tuple[Ints, Floats]:
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


def order_stat(cum: Ints, j: Ints, vmin: int) -> Ints:
    """x(j) from cumulative counts, extended: x(j<1) = min, x(j>n) = max of the scale.

    ``cum`` has shape (..., K); ``j`` has shape (..., M); returns shape (..., M).
    """
    below = np.count_nonzero(cum[..., None, :] < j[..., None], axis=-1)
    return vmin + np.minimum(below, cum.shape[-1] - 1)


def lerp(a: Any, b: Any, t: Any) -> Floats:
    # numpy's own formula, so results match np.percentile to the last bit where possible
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def quantile(cum: Ints, n: Ints, pct: int, qtype: int, vmin: int) -> Floats:
    """Quantile of each count vector (``cum`` holds cumulative counts on its last axis)."""
    return quantiles(cum, n, (pct,), qtype, vmin)[..., 0]


def quantiles(cum: Ints, n: Ints, pcts: tuple[int, ...], qtype: int, vmin: int) -> Floats:
    """Several quantiles at once: shape (..., len(pcts))."""
    j, t = positions(n[..., None], np.array(pcts), qtype)
    both = order_stat(cum, np.concatenate([j, j + 1], axis=-1), vmin)
    return lerp(both[..., : len(pcts)], both[..., len(pcts) :], t)
