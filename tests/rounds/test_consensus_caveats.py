"""Statistical caveats of the between-rounds output (METHODS §4): Holm-adjusted p-values for
the many paired tests of one comparison, and Kendall's W with the panel it rests on."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rounds.consensus import CriterionSettings, analyse, compare_rounds, kendalls_w
from rounds.consensus.between import holm

NINE = CriterionSettings()


def rated(round: int, criterion: str, item: str, values: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame({
        "round": round, "panelist": [f"P{p}" for p in range(len(values))], "item": item,
        "criterion": criterion, "value": [np.nan if v is None else v for v in values],
    })  # fmt: skip


def hand_holm(p_values: list[float]) -> list[float]:
    """Holm (1979) step by step: the i-th smallest of m p-values times (m - i + 1), never
    below the adjusted value before it, at most 1."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m = len(tested)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def test_holm_reproduces_a_worked_example() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> 0.06
    adjusted = holm(p, np.zeros(4, dtype=np.int64))
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_never_exceeds_one_and_keeps_untested_cells_empty() -> None:
    p = np.array([0.6, np.nan, 0.2, 0.9])
    adjusted = holm(p, np.zeros(4, dtype=np.int64))
    assert math.isnan(adjusted[1])
    # 3 tests, not 4: 0.2 * 3 = 0.6; 0.6 * 2 = 1.2, capped at 1; 0.9 * 1 rises to 1
    assert adjusted[[0, 2, 3]] == pytest.approx([1.0, 0.6, 1.0])


def two_rounds(rng: np.random.Generator, criteria: dict[str, int], n: int) -> pd.DataFrame:
    frames = []
    for criterion, n_items in criteria.items():
        for item in range(n_items):
            before = rng.integers(1, 10, n)
            after = np.clip(before + rng.integers(-1, 3, n), 1, 9)
            frames += [rated(1, criterion, f"I{item}", list(before.astype(float))),
                       rated(2, criterion, f"I{item}", list(after.astype(float)))]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("test", ["wilcoxon_p", "mcnemar_p"])
def test_holm_adjusts_within_each_criterion_of_one_comparison(test: str) -> None:
    frame = two_rounds(np.random.default_rng(3), {"acc": 6, "pri": 4}, n=30)
    table = compare_rounds(frame, NINE, 1, 2)
    assert list(table.columns).index(f"{test}_holm") == list(table.columns).index(test) + 1
    for _, family in table.groupby("criterion"):
        assert family[f"{test}_holm"].tolist() == pytest.approx(hand_holm(family[test].tolist()))
    assert (table[f"{test}_holm"] >= table[test]).all()


def test_an_item_with_no_change_is_left_out_of_the_wilcoxon_family() -> None:
    frame = pd.concat([
        rated(1, "c", "same", [7, 8, 9]), rated(2, "c", "same", [7, 8, 9]),
        rated(1, "c", "up", [3, 4, 5, 3, 4, 5, 3, 4]),
        rated(2, "c", "up", [9, 9, 9, 8, 9, 9, 9, 8]),
        rated(1, "c", "down", [9, 9, 8, 9]), rated(2, "c", "down", [4, 5, 5, 4]),
    ], ignore_index=True)  # fmt: skip
    table = compare_rounds(frame, NINE, 1, 2).set_index("item")
    assert math.isnan(table.loc["same", "wilcoxon_p_holm"])
    tested = table.loc[["up", "down"], "wilcoxon_p"].tolist()
    assert table.loc[["up", "down"], "wilcoxon_p_holm"].tolist() == pytest.approx(hand_holm(tested))


def test_each_round_to_round_comparison_is_its_own_family() -> None:
    rng = np.random.default_rng(11)
    first = two_rounds(rng, {"c": 5}, n=20)
    third = first[first["round"] == 2].assign(round=3)
    third = third.assign(value=np.clip(third["value"] + rng.integers(-2, 1, len(third)), 1, 9))
    stability = analyse(pd.concat([first, third], ignore_index=True), NINE).stability
    for _, comparison in stability.groupby("round"):
        assert comparison["mcnemar_p_holm"].tolist() == pytest.approx(
            hand_holm(comparison["mcnemar_p"].tolist())
        )
    assert len(stability) == 10


KENDALL_EXAMPLE = [[9, 7, 7, 5, 3], [8, 8, 6, 4, 4], [9, 6, 7, 5, 2], [7, 7, 7, 3, 3]]


def kendall_frame(matrix: list[list[float | None]]) -> pd.DataFrame:
    return pd.concat(
        [rated(1, "c", f"I{i}", [row[i] for row in matrix]) for i in range(len(matrix[0]))],
        ignore_index=True,
    )


def test_kendalls_w_says_how_many_panelists_and_items_it_rests_on() -> None:
    matrix: list[list[float | None]] = [[*row] for row in KENDALL_EXAMPLE]
    matrix.append([9, 8, None, 2, 1])  # skipped one item: not among the m panelists
    row = kendalls_w(kendall_frame(matrix)).iloc[0]
    assert (row["m"], row["n_items"], row["n_panelists"]) == (4, 5, 5)
    assert round(row["w"], 4) == 0.9132


def test_kendalls_w_keeps_m_and_n_when_it_cannot_be_computed() -> None:
    row = kendalls_w(kendall_frame([[9, 7, None], [8, 8, 6], [None, 6, 7]])).iloc[0]
    assert math.isnan(row["w"])
    assert (row["m"], row["n_items"], row["n_panelists"]) == (1, 3, 3)
