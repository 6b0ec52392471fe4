"""The engine's fast paths give what the general ones give: a complete, sorted panel written
into the table of who rated what in slices, group keys in narrow integer types, and
McNemar's exact test summed over the terms that matter."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from rounds.consensus import CriterionSettings, analyse, counting
from rounds.consensus.between import _mcnemar

SETTINGS = CriterionSettings()


def complete_panel(seed: int, n_panel: int = 40, n_items: int = 30) -> pd.DataFrame:
    """Two rounds in which every panelist rated every item on two criteria, sorted by round,
    item, criterion and panelist with categorical columns: as the web app reads them."""
    rng = np.random.default_rng(seed)
    items, criteria = [f"I{i:03d}" for i in range(n_items)], ["acc", "pri"]
    panel = [f"P{p:03d}" for p in range(n_panel)]
    cells = n_items * len(criteria)
    frames = []
    for rnd in (1, 2):
        values = rng.integers(1, 10, size=cells * n_panel).astype(float)
        values[rng.random(len(values)) < 0.05] = np.nan
        frames.append(pd.DataFrame({
            "round": rnd,
            "panelist": pd.Categorical.from_codes(np.tile(np.arange(n_panel), cells), panel),
            "item": pd.Categorical.from_codes(np.repeat(np.arange(cells) // 2, n_panel), items),
            "criterion": pd.Categorical.from_codes(np.repeat(np.arange(cells) % 2, n_panel),
                                                   criteria),
            "value": values,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    first, second = analyse(a, SETTINGS), analyse(b, SETTINGS)
    for part in ("results", "decisions", "all_rules", "stability", "kendall"):
        pd.testing.assert_frame_equal(getattr(first, part), getattr(second, part), obj=part)


@pytest.mark.parametrize("chunk", [counting._CHUNK, 1000])
def test_a_complete_sorted_panel_gives_the_analysis_of_the_same_ratings_shuffled(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(counting, "_CHUNK", chunk)  # 1000: many chunks, one of them partial
    frame = complete_panel(1)
    shuffled = frame.sample(frac=1, random_state=2).reset_index(drop=True)
    written: list[str] = []
    original = counting._bincount

    def spy(rows: counting.Rows, *args: object) -> object:
        table = args[-1]
        result = original(rows, *args)  # type: ignore[arg-type]
        written.append("table" if table is not None else "none")
        return result

    monkeypatch.setattr(counting, "_bincount", spy)
    assert_same(frame, shuffled)
    assert written == ["table", "table"]
    # the paired tests and Kendall's W read the table: they saw every rating
    assert analyse(frame, SETTINGS).stability["n_paired"].sum() == (
        frame.pivot_table(index=["item", "criterion", "panelist"], columns="round",
                          values="value", observed=True).notna().all(axis=1).sum()
    )  # fmt: skip


def test_a_rating_given_twice_in_a_complete_sorted_panel_is_refused() -> None:
    frame = complete_panel(3)
    twice = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)
    with pytest.raises(ValueError, match="round 1 has two ratings"):
        analyse(twice, SETTINGS)


def test_a_panelist_rating_one_cell_twice_in_place_of_a_neighbour_is_refused() -> None:
    frame = complete_panel(4)
    codes = frame["panelist"].cat.codes.to_numpy().copy()
    codes[7] = codes[8]  # same number of rows, but one (cell, panelist) twice
    frame["panelist"] = pd.Categorical.from_codes(codes, frame["panelist"].cat.categories)
    with pytest.raises(ValueError, match="two ratings"):
        analyse(frame, SETTINGS)


def test_keys_past_the_int16_range_count_every_rating() -> None:
    rng = np.random.default_rng(5)
    n_items, n_panel = 1800, 3  # 2 rounds x 1800 items x 1 criterion x 10 slots > 32767
    rows = n_items * n_panel
    frame = pd.DataFrame({
        "round": np.repeat([1, 2], rows),
        "panelist": np.tile([f"P{p}" for p in range(n_panel)], 2 * n_items),
        "item": np.tile(np.repeat([f"I{i:04d}" for i in range(n_items)], n_panel), 2),
        "criterion": "acc",
        "value": rng.integers(1, 10, size=2 * rows).astype(float),
    })  # fmt: skip
    assert counting._narrowest(2 * n_items * 10) is np.int32
    results = analyse(frame, SETTINGS).results
    expected = frame.groupby(["round", "item"])["value"].agg(["median", "mean"])
    assert np.array_equal(results["median"], expected["median"])
    assert np.allclose(results["mean"], expected["mean"])


@pytest.mark.parametrize("n", [1, 9, 200, 1001, 3000])
def test_mcnemar_sums_the_exact_binomial_tail_for_large_panels(n: int) -> None:
    up = np.array(sorted({0, 1, n // 7, n // 3, (n - 1) // 2, n // 2, n}), dtype=np.int64)
    found = _mcnemar(up, n - up)
    for i, u in enumerate(up.tolist()):
        k = min(u, n - u)
        tail = Fraction(sum(math.comb(n, j) for j in range(k + 1)), 2**n)
        # log factorials summed up to n carry ~1e-11 of relative error at n = 3000; the
        # existing McNemar test holds scipy's p-values to 1e-9 as well
        assert found[i] == pytest.approx(min(1.0, float(2 * tail)), rel=1e-9, abs=1e-300)


def test_rounds_that_share_no_item_give_an_empty_comparison_and_later_pairs_follow() -> None:
    first = pd.DataFrame({"round": 1, "panelist": ["a", "b"], "item": "I1", "criterion": "acc",
                          "value": [7.0, 8.0]})  # fmt: skip
    second = first.assign(round=2, item="I2", value=[3.0, 4.0])
    third = second.assign(round=3, value=[4.0, 4.0])
    stability = analyse(pd.concat([first, second], ignore_index=True), SETTINGS).stability
    assert len(stability) == 0 and "mcnemar_p" in stability.columns
    three = analyse(pd.concat([first, second, third], ignore_index=True), SETTINGS).stability
    assert three[["prev_round", "round", "item", "n_paired"]].values.tolist() == [[2, 3, "I2", 2]]
