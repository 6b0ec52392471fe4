"""The protocol step's preview: how the chosen rules classify example distributions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from rounds import consensus
from rounds.studies import CriterionSpec

# --------------------------------------------------------------------------- preview


@dataclass(frozen=True)
class Example:
    """A fixed distribution of ratings, described by where each rating sits on a scale."""

    key: str
    label: Promise
    points: tuple[str, ...]

    def values(self, scale: consensus.Scale) -> list[int]:
        at = {
            "bottom": scale.min,
            "low": (scale.low[0] + scale.low[1]) // 2,
            "low_top": scale.low[1],
            "mid_bottom": scale.mid[0],
            "mid": (scale.mid[0] + scale.mid[1]) // 2,
            "mid_top": scale.mid[1],
            "high_bottom": scale.high[0],
            "high": (scale.high[0] + scale.high[1] + 1) // 2,
            "top": scale.max,
        }
        return sorted(at[point] for point in self.points)


EXAMPLES: tuple[Example, ...] = (
    Example(
        "strong-high",
        gettext_lazy("Strong agreement, high"),
        ("mid", "high_bottom", "high_bottom", "high", "high", "high", "top", "top", "top"),
    ),
    Example(
        "polarised",
        gettext_lazy("Polarised"),
        ("bottom", "bottom", "low", "low", "mid", "high", "high", "top", "top"),
    ),
    Example(
        "lukewarm",
        gettext_lazy("Lukewarm"),
        ("low_top", "mid_bottom", "mid", "mid", "mid", "mid", "mid_top", "mid_top", "high_bottom"),
    ),
    Example(
        "strong-low",
        gettext_lazy("Strong agreement, low"),
        ("mid", "low_top", "low_top", "low", "low", "low", "bottom", "bottom", "bottom"),
    ),
    Example(
        "borderline",
        gettext_lazy("Borderline: exactly 75% high"),
        ("mid",) * 3 + ("high_bottom",) * 3 + ("high",) * 3 + ("top",) * 3,
    ),
)


@dataclass(frozen=True)
class PreviewCell:
    values: list[int]
    median: float
    pct_low: float
    pct_high: float
    consensus: str  # in / out / none


@dataclass(frozen=True)
class PreviewRow:
    example: Example
    cells: list[PreviewCell | None]  # one per criterion; None while its rule is invalid
    decision: str | None  # accepted / rejected / carried; None while a rule is invalid


@dataclass(frozen=True)
class Preview:
    criteria: list[CriterionSpec]
    rules: dict[str, str]  # criterion code -> rule label, for the criteria with a valid rule
    rows: list[PreviewRow]

    @property
    def columns(self) -> list[tuple[CriterionSpec, str | None]]:
        return [(spec, self.rules.get(spec.code)) for spec in self.criteria]


def preview(
    criteria: Sequence[CriterionSpec],
    rules: Mapping[str, consensus.Rule],
    *,
    quantile: int,
    rand_half_points: bool = False,
    decision: consensus.DecisionRule | None = None,
) -> Preview:
    """Classify every example on every criterion's scale with the engine itself."""
    rated = [spec for spec in criteria if spec.code in rules]
    settings = {
        spec.code: consensus.CriterionSettings(
            scale=spec.scale,
            rule=_with_half_points(rules[spec.code], rand_half_points),
            quantile=quantile,
        )
        for spec in rated
    }
    records = [
        (1, example.key, spec.code, value)
        for example in EXAMPLES
        for spec in rated
        for value in example.values(spec.scale)
    ]
    stats: dict[tuple[str, str], tuple[float, float, float, str]] = {}
    decisions: dict[str, str] = {}
    if records:
        ratings = pd.DataFrame(records, columns=["round", "item", "criterion", "value"])
        results = consensus.describe(ratings, settings)
        columns = ["item", "criterion", "median", "pct_low", "pct_high", "consensus"]
        for item, code, median, low, high, verdict in results[columns].itertuples(index=False):
            stats[(str(item), str(code))] = (float(median), float(low), float(high), str(verdict))
        if decision is not None and len(rated) == len(criteria):
            decided = consensus.decide_items(results, decision)
            decisions = dict(zip(decided["item"].astype(str), decided["decision"], strict=True))
    rows = [
        PreviewRow(
            example=example,
            cells=[_cell(stats, example, spec) for spec in criteria],
            decision=decisions.get(example.key),
        )
        for example in EXAMPLES
    ]
    labels = {code: rule.label for code, rule in rules.items()}
    return Preview(criteria=list(criteria), rules=labels, rows=rows)


def _cell(
    stats: Mapping[tuple[str, str], tuple[float, float, float, str]],
    example: Example,
    spec: CriterionSpec,
) -> PreviewCell | None:
    found = stats.get((example.key, spec.code))
    if found is None:
        return None
    median, pct_low, pct_high, verdict = found
    return PreviewCell(example.values(spec.scale), median, pct_low, pct_high, verdict)


def _with_half_points(rule: consensus.Rule, rand_half_points: bool) -> consensus.Rule:
    if rand_half_points and rule.kind == "rand":
        return consensus.Rule("rand", rand_half_points=True)
    return rule
