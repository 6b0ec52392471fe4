"""The engine gives the same analysis whatever shape its input comes in: categorical or
string columns, sorted or not, and whether ratings are paired through the dense table of
who rated what or, for very sparse ratings, by sorting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rounds.consensus import CriterionSettings, Scale, analyse, compare_rounds, counting, kendalls_w

SETTINGS = {"acc": CriterionSettings(), "pri": CriterionSettings(Scale.with_default_bands(1, 5))}


def study(seed: int, n_panel: int = 60, n_items: int = 60, rounds: int = 3) -> pd.DataFrame:
    """Ratings with don't-knows, skipped items, drop-outs and a criterion on another scale."""
    rng = np.random.default_rng(seed)
    rows = []
    for rnd in range(1, rounds + 1):
        for p in range(n_panel):
            if rnd > 1 and rng.random() < 0.15:
                continue  # dropped out of this round
            for i in range(n_items):
                for crit, top in (("acc", 9), ("pri", 5)):
                    if rng.random() < 0.05:
                        continue  # skipped
                    value = np.nan if rng.random() < 0.05 else float(rng.integers(1, top + 1))
                    rows.append((rnd, f"P{p:03d}", f"I{i:02d}", crit, value))
    frame = pd.DataFrame(rows, columns=["round", "panelist", "item", "criterion", "value"])
    return frame.sort_values(["round", "item", "criterion", "panelist"], ignore_index=True)


def as_categoricals(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({c: "category" for c in ("panelist", "item", "criterion")})


def assert_same_analysis(a: pd.DataFrame, b: pd.DataFrame) -> None:
    first, second = analyse(a, SETTINGS), analyse(b, SETTINGS)
    for part in ("results", "decisions", "all_rules", "stability", "kendall"):
        left, right = getattr(first, part), getattr(second, part)
        pd.testing.assert_frame_equal(left.astype({"item": str} if "item" in left else {}),
                                      right.astype({"item": str} if "item" in right else {}),
                                      check_categorical=False, obj=part)  # fmt: skip


@pytest.mark.parametrize("dtype", [object, "str"])
def test_string_columns_give_the_analysis_of_categoricals(dtype: object) -> None:
    frame = study(1)  # sorted as the web app reads them: long runs of equal items
    assert len(frame) > 4 * counting._SAMPLE
    strings = frame.astype({c: dtype for c in ("panelist", "item", "criterion")})
    assert_same_analysis(strings, as_categoricals(frame))


def test_row_order_does_not_change_the_analysis_of_string_columns() -> None:
    frame = study(2)
    shuffled = frame.sample(frac=1, random_state=3).reset_index(drop=True)
    assert_same_analysis(shuffled, frame)


def test_an_empty_item_is_refused_even_in_a_long_sorted_column() -> None:
    frame = study(3)
    frame.loc[len(frame) // 2, "item"] = np.nan
    with pytest.raises(ValueError, match="column 'item' has empty values"):
        analyse(frame, SETTINGS)


def test_pairing_by_sorting_gives_the_dense_tables_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = study(4)
    dense = analyse(frame, SETTINGS)
    monkeypatch.setattr(counting, "_DENSE_LIMIT", 0)
    sparse = analyse(frame, SETTINGS)
    pd.testing.assert_frame_equal(dense.stability, sparse.stability)
    pd.testing.assert_frame_equal(dense.kendall, sparse.kendall)
    assert sparse.stability["n_paired"].sum() > 0


def test_the_kendall_of_an_analysis_is_kendalls_w_of_its_ratings() -> None:
    frame = study(5, n_panel=12, n_items=6)
    expected = kendalls_w(frame)
    found = analyse(frame, SETTINGS).kendall
    pd.testing.assert_frame_equal(found, expected, check_dtype=False)
    assert (found["m"] < found["n_panelists"]).any()  # some panelists skipped an item


@pytest.mark.parametrize("limit", [0, counting._DENSE_LIMIT])
def test_a_duplicate_rating_is_refused_naming_its_round(
    limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(counting, "_DENSE_LIMIT", limit)
    frame = study(6, n_panel=5, n_items=4)
    twice = pd.concat([frame, frame[frame["round"] == 2].iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="round 2 has two ratings"):
        compare_rounds(twice, SETTINGS, 1, 2)
    with pytest.raises(ValueError, match="two ratings"):
        analyse(twice, SETTINGS)


def test_no_ratings_give_empty_tables() -> None:
    empty = study(7).iloc[:0]
    analysis = analyse(empty, SETTINGS)
    assert [len(getattr(analysis, part)) for part in ("results", "stability", "kendall")] == [
        0, 0, 0,
    ]  # fmt: skip
