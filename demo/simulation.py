"""The demo's model of a Delphi panel: persistent panelists, items with a known profile, and
movement towards the panel's median between rounds. Pure (numpy only), seeded, documented
in docs/demo.md and in the demo report's methods.

Round 1. Panelist p rates item i on criterion c as

    round(mu[i, c] + bias[p, c] + noise),  clipped to the 1-9 scale,

where ``mu`` is the item's profile (what the panel as a whole thinks of it), ``bias`` a
panelist's lasting leniency on each criterion (normal, SD ``BIAS_SD``, the two criteria
correlated ``BIAS_CORRELATION``), drawn once and kept for the whole study, and ``noise`` a
fresh normal draw (SD ``NOISE_SD``). A rating is "don't know" with probability
``DONT_KNOW``.

Round 2 (the items carried over). Each panelist starts from their own round-1 rating: with
probability ``MOVE`` they move halfway towards the round-1 median they were shown (at
least one point, and only when they are a point or more away from it); otherwise, with
probability ``WOBBLE``, their rating moves one point up or down (test-retest noise);
otherwise it stays. A round-1 "don't know" is rated afresh from the round-1 formula.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SCALE = (1, 9)
BIAS_SD = 0.6
BIAS_CORRELATION = 0.5
NOISE_SD = 1.0
DONT_KNOW = 0.02
MOVE = 0.35
WOBBLE = 0.15

Profile = Mapping[tuple[str, str], float]  # (item, criterion) -> mu


@dataclass(frozen=True)
class Panel:
    """Each panelist's lasting bias per criterion (rows: panelists)."""

    criteria: tuple[str, ...]
    bias: np.ndarray  # shape (panelists, criteria)

    @classmethod
    def draw(cls, size: int, criteria: Sequence[str], rng: np.random.Generator) -> Panel:
        k = len(criteria)
        cov = np.full((k, k), BIAS_CORRELATION * BIAS_SD**2)
        np.fill_diagonal(cov, BIAS_SD**2)
        return cls(tuple(criteria), rng.multivariate_normal(np.zeros(k), cov, size=size))


def first_round(
    panel: Panel,
    members: Sequence[int],
    cells: Sequence[tuple[str, str]],
    profile: Profile,
    rng: np.random.Generator,
) -> dict[tuple[int, str, str], int | None]:
    """Round-1 ratings by (panelist index, item, criterion); None is "don't know"."""
    ratings: dict[tuple[int, str, str], int | None] = {}
    for item, criterion in cells:
        column = panel.criteria.index(criterion)
        for p in members:
            ratings[(p, item, criterion)] = _fresh(
                profile[(item, criterion)] + panel.bias[p, column], rng
            )
    return ratings


def next_round(
    panel: Panel,
    members: Sequence[int],
    cells: Sequence[tuple[str, str]],
    profile: Profile,
    previous: Mapping[tuple[int, str, str], int | None],
    medians: Mapping[tuple[str, str], float | None],
    rng: np.random.Generator,
) -> dict[tuple[int, str, str], int | None]:
    """Ratings of a later round, from each panelist's previous rating and the median fed
    back to them (see the module's docstring)."""
    ratings: dict[tuple[int, str, str], int | None] = {}
    for item, criterion in cells:
        column = panel.criteria.index(criterion)
        median = medians.get((item, criterion))
        for p in members:
            before = previous.get((p, item, criterion))
            if before is None or median is None:
                mu = profile[(item, criterion)] + panel.bias[p, column]
                ratings[(p, item, criterion)] = _fresh(mu, rng)
            else:
                ratings[(p, item, criterion)] = _revised(before, median, rng)
    return ratings


def _fresh(mu: float, rng: np.random.Generator) -> int | None:
    if rng.random() < DONT_KNOW:
        return None
    return _clip(np.floor(mu + rng.normal(0, NOISE_SD) + 0.5))


def _revised(before: int, median: float, rng: np.random.Generator) -> int:
    draw = rng.random()
    if draw < MOVE and abs(median - before) >= 1:
        step = (median - before) / 2
        step = np.sign(step) * max(1.0, abs(np.floor(abs(step) + 0.5)))
        return _clip(before + step)
    if draw < MOVE + WOBBLE:
        return _clip(before + rng.choice([-1, 1]))
    return before


def _clip(value: float) -> int:
    return int(min(max(value, SCALE[0]), SCALE[1]))


def describe(panel: int, dropouts: int, stated: Sequence[str]) -> str:
    """The model in words, for the report's methods (the study record's "simulation")."""
    return (
        f"A panel of {panel} simulated general practitioners. Each keeps, for the whole study, "
        f"a personal leniency on each criterion (normal, SD {BIAS_SD:g}; the two criteria "
        f"correlated {BIAS_CORRELATION:g}). In round 1 a rating is the item's profile plus "
        f"that leniency plus fresh noise (normal, SD {NOISE_SD:g}), rounded and kept within "
        f'1-9; {DONT_KNOW:.0%} of answers are "don\'t know". Item profiles follow what the '
        f"KCE report says about its Delphi ({', '.join(stated)}: priorities, acceptable, or "
        "less favoured, as it states); the items it says nothing about get middling profiles, "
        f"and their outcome is illustrative only. Between rounds {dropouts} panelists drop "
        "out at random. In round 2 each panelist starts from their own round-1 rating: with "
        f"probability {MOVE:g} the panelist moves halfway towards the round-1 median shown to "
        f"them (at least one point, when a point or more away), with probability {WOBBLE:g} the "
        "rating moves one point up or down, and otherwise it stays. Seeded: the same seed "
        "gives the same ratings."
    )
