"""Consensus rules written as text (METHODS §3, §6): what is refused, what is accepted, and
the canonical form that results carry."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rounds import consensus
from rounds.consensus import CriterionSettings, Rule, Scale, describe

FIVE = Scale.with_default_bands(1, 5)


def results(values: list[int], settings: CriterionSettings) -> pd.Series:
    frame = pd.DataFrame({"round": 1, "item": "I", "criterion": "c",
                          "value": [float(v) for v in values]})  # fmt: skip
    return describe(frame, settings).iloc[0]


@pytest.mark.parametrize("text", ["percent:50", "percent:49.9", "percent:20", "percent:50.0"])
def test_a_percent_threshold_of_50_or_below_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"above 50.*both"):
        Rule.parse(text)


@pytest.mark.parametrize("text", ["percent:1e2", "percent:+75", "percent:75.", "percent:66.66667"])
def test_a_percent_threshold_must_be_a_plain_decimal(text: str) -> None:
    with pytest.raises(ValueError, match="percent:T"):
        Rule.parse(text)


@pytest.mark.parametrize(
    ("text", "label"),
    [("percent:66.7", "percent:66.7"), ("percent:50.01", "percent:50.01"),
     ("percent:75.0", "percent:75"), ("percent:100", "percent:100"),
     ("PERCENT", "percent:75"), (" percent:66.70 ", "percent:66.7")],
)  # fmt: skip
def test_a_decimal_threshold_is_accepted_and_written_in_full(text: str, label: str) -> None:
    rule = Rule.parse(text)
    assert rule.label == label
    assert Rule.parse(rule.label) == rule


def test_a_decimal_threshold_is_compared_exactly() -> None:
    # 161 of 250 is exactly 64.4%; in floats 64.4 * 250 exceeds 161 * 100
    settings = CriterionSettings(rule=Rule.parse("percent:64.4"))
    assert results([9] * 161 + [5] * 89, settings)["consensus"] == "in"
    assert results([9] * 160 + [5] * 90, settings)["consensus"] == "none"
    assert results([1] * 161 + [5] * 89, settings)["consensus"] == "out"


def test_the_threshold_survives_into_the_results() -> None:
    row = results([9, 9, 5], CriterionSettings(rule=Rule.parse("percent:66.7")))
    assert row["rule"] == "percent:66.7"
    assert row["consensus"] == "none"  # 2 of 3 is 66.67%, below 66.7%


@pytest.mark.parametrize("threshold", ["66.7", "50.1", "87.5", "99.99"])
def test_the_margin_under_a_decimal_threshold_matches_brute_force(threshold: str) -> None:
    rule = Rule.parse(f"percent:{threshold}")
    settings = CriterionSettings(FIVE, rule)
    for n in range(1, 9):
        vectors = np.array([v for v in itertools.product(range(n + 1), repeat=5)
                            if sum(v) == n])  # fmt: skip
        codes = consensus._verdicts(vectors, settings, rule)
        margins = consensus._margins(vectors, settings, rule, codes)
        # one changed rating moves one count from a point to another
        moved = np.abs(vectors[:, None, :] - vectors[None, :, :]).sum(axis=2) // 2
        differs = codes[:, None] != codes[None, :]
        expected = np.where(differs, moved, n + 1).min(axis=1)
        assert (margins == expected).all(), (n, vectors[margins != expected][:3])


@pytest.mark.parametrize(
    ("text", "scale", "label"),
    [("iqr", Scale(), "iqr:2"), ("iqr", FIVE, "iqr:1"), ("IQR:2.0", Scale(), "iqr:2"),
     ("iqr:1.5", FIVE, "iqr:1.5"), ("percent", Scale(), "percent:75"), (" Comet ", FIVE, "comet"),
     ("rand", Scale(), "rand"), ("rand:half", Scale(), "rand:half")],
)  # fmt: skip
def test_results_carry_the_rule_in_full(text: str, scale: Scale, label: str) -> None:
    settings = CriterionSettings(scale, Rule.parse(text))
    assert settings.rule_label == label
    assert results([scale.max] * 3, settings)["rule"] == label
    assert Rule.parse(label).resolved(scale) == Rule.parse(text).resolved(scale)
