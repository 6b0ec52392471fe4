"""METHODS.md §2-5 on hand-made cases and the §7 test vectors."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rounds import consensus
from rounds.consensus import (
    CriterionSettings,
    DecisionRule,
    Rule,
    Scale,
    analyse,
    compare_rounds,
    consensus_under_all_rules,
    decide_items,
    describe,
    kendalls_w,
)

NINE = CriterionSettings()


def ratings(*cells: tuple[str, list[float | None]], criterion: str = "c",
            round: int = 1) -> pd.DataFrame:  # fmt: skip
    """One row per rating: cells are (item, values); panelists P0, P1, ... per cell."""
    rows = [
        {"round": round, "panelist": f"P{p}", "item": item, "criterion": criterion,
         "value": np.nan if v is None else float(v)}
        for item, values in cells
        for p, v in enumerate(values)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def one(values: list[float | None], settings: CriterionSettings = NINE) -> pd.Series:
    return describe(ratings(("I", values)), settings).iloc[0]


# --------------------------------------------------------------------------- §7 vectors

V1 = [6, 7, 7, 8, 8, 8, 9, 9, 9]
V2 = [1, 1, 2, 3, 5, 7, 8, 9, 9]
V3 = [4, 5, 6, *[7] * 5, *[8] * 5, 9, 9]
V4 = [3, 4, 5, 6, 6, 7, 7, 8, 8, 9]
VECTORS = {
    # median, q1, q3, p30, p70, ipr, iprcp, ai, ipras, disagreement, rand_class, pct_high, comet
    "V1": (V1, 8, 7, 9, 7.4, 8.6, 1.2, 8.0, 3.0, 6.85, False, "appropriate", 88.89, "in"),
    "V2": (V2, 5, 2, 8, 2.4, 7.6, 5.2, 5.0, 0.0, 2.35, True, "uncertain", 44.44, "none"),
    "V3": (V3, 7, 7, 8, 7, 8, 1.0, 7.5, 2.5, 6.10, False, "appropriate", 80.00, "in"),
    "V4": (V4, 6.5, 5.25, 7.75, 5.7, 7.3, 1.6, 6.5, 1.5, 4.60, False, "uncertain", 50.00, "none"),
}


@pytest.mark.parametrize("name", VECTORS)
def test_it_reproduces_the_methods_test_vectors(name: str) -> None:
    values, *expected = VECTORS[name]
    row = one(values, CriterionSettings(rule=Rule("comet")))
    numeric = ["median", "q1", "q3", "p30", "p70", "ipr", "iprcp", "ai", "ipras"]
    for column, want in zip(numeric, expected[:9], strict=True):
        assert row[column] == pytest.approx(want, abs=1e-9), column
    assert row["disagreement"] is expected[9]
    assert row["rand_class"] == expected[10]
    assert round(row["pct_high"], 2) == expected[11]
    assert row["consensus"] == expected[12]
    assert row["iqr"] == pytest.approx(row["q3"] - row["q1"], abs=1e-12)
    assert row["di"] == pytest.approx(row["ipr"] / row["ipras"], abs=1e-12)


def test_it_returns_exactly_the_public_columns_in_order() -> None:
    result = describe(ratings(("I", V1)), NINE)
    assert list(result.columns) == [*consensus.RESULTS_COLUMNS, *consensus.EXTRA_COLUMNS]
    row = result.iloc[0]
    assert row["quantile_method"] == 7
    assert row["counts"] == (0, 0, 0, 0, 0, 1, 2, 3, 3)
    assert (row["count_low"], row["count_mid"], row["count_high"]) == (0, 1, 8)


def test_it_computes_mean_and_sample_sd() -> None:
    row = one(V2)
    assert row["mean"] == pytest.approx(np.mean(V2))
    assert row["sd"] == pytest.approx(np.std(V2, ddof=1))


def test_it_leaves_sd_empty_for_a_single_rating() -> None:
    assert math.isnan(one([7])["sd"])


def test_it_counts_dont_knows_apart() -> None:
    row = one([7, None, 8, None, 9])
    assert (row["n"], row["n_missing"]) == (3, 2)
    assert row["median"] == 8


def test_it_reports_a_cell_of_only_dont_knows_with_empty_statistics() -> None:
    row = one([None, None])
    assert (row["n"], row["n_missing"], row["consensus"]) == (0, 2, "none")
    assert math.isnan(row["median"]) and math.isnan(row["pct_high"])
    assert row["margin"] is pd.NA and row["rand_class"] is None


def test_it_accepts_nullable_integer_values() -> None:
    frame = ratings(("I", V1))
    frame["value"] = pd.array([*V1[:-1], None], dtype="Int64")
    row = describe(frame, NINE).iloc[0]
    assert (row["n"], row["n_missing"]) == (8, 1)


@pytest.mark.parametrize("bad", [0, 10, 7.5])
def test_it_rejects_values_off_the_scale_naming_them(bad: float) -> None:
    frame = ratings(("I17", [7, 8, bad]), criterion="priority")
    with pytest.raises(ValueError, match=r"item I17, criterion priority: value " + f"{bad:g}"):
        describe(frame, NINE)


def test_it_checks_each_criterion_against_its_own_scale() -> None:
    frame = pd.concat(
        [ratings(("I", [7, 9]), criterion="a"), ratings(("I", [5, 6]), criterion="b")]
    )
    settings = {"a": NINE, "b": CriterionSettings(scale=Scale.with_default_bands(1, 5))}
    with pytest.raises(ValueError, match="criterion b: value 6"):
        describe(frame, settings)


def test_it_uses_each_criterions_settings() -> None:
    frame = pd.concat(
        [ratings(("I", [4, 5, 5]), criterion="a"), ratings(("I", [4, 5, 5]), criterion="b")]
    )
    five = CriterionSettings(scale=Scale.with_default_bands(1, 5), rule=Rule("comet"))
    result = describe(frame, {"a": NINE, "b": five}).set_index("criterion")
    assert result.loc["a", "consensus"] == "none"
    assert result.loc["b", "consensus"] == "in"
    assert result.loc["b", "rule"] == "comet"
    assert math.isnan(result.loc["b", "ipr"]) and result.loc["b", "rand_class"] is None


def test_it_sorts_rows_by_round_item_and_criterion() -> None:
    frame = pd.concat([ratings(("B", [7]), round=2), ratings(("A", [7]), criterion="z"),
                       ratings(("A", [7]), criterion="a"), ratings(("B", [7]))])  # fmt: skip
    result = describe(frame.sample(frac=1, random_state=1), NINE)
    keys = list(zip(result["round"], result["item"], result["criterion"], strict=True))
    assert keys == [(1, "A", "a"), (1, "A", "z"), (1, "B", "c"), (2, "B", "c")]


def test_categorical_columns_sort_by_category_order() -> None:
    frame = ratings(("I2", [7]), ("I10", [8]))
    frame["item"] = pd.Categorical(frame["item"], categories=["I2", "I10"])
    assert list(describe(frame, NINE)["item"]) == ["I2", "I10"]


# --------------------------------------------------------------------------- quantiles


@pytest.mark.parametrize("qtype", sorted(consensus.QUANTILE_TYPES))
def test_quantile_types_match_numpy(qtype: int) -> None:
    rng = np.random.default_rng(qtype)
    method = consensus.QUANTILE_TYPES[qtype]
    for _ in range(200):
        values = rng.integers(1, 10, rng.integers(1, 40)).tolist()
        row = one(values, CriterionSettings(quantile=qtype))
        for column, q in (("median", 50), ("q1", 25), ("q3", 75), ("p30", 30), ("p70", 70)):
            want = np.percentile(values, q, method=method)
            assert row[column] == pytest.approx(want, abs=1e-12), (values, column)


def test_the_quantile_type_can_change_the_verdict() -> None:
    values = [5, 6, 7, 7, 8, 8, 9, 9]
    iqr = {q: one(values, CriterionSettings(rule=Rule("iqr", k=1.5), quantile=q)) for q in (6, 7)}
    assert iqr[7]["consensus"] == "in" and iqr[6]["consensus"] == "none"
    assert iqr[6]["quantile_method"] == 6


# --------------------------------------------------------------------------- rules


def test_percent_counts_exactly_75_percent_as_consensus() -> None:
    assert one([7, 8, 9, 5])["consensus"] == "in"  # 3 of 4 = 75%
    assert one([7, 8, 5, 5])["consensus"] == "none"
    assert one([1, 2, 3, 5])["consensus"] == "out"


def test_percent_threshold_is_compared_in_integers() -> None:
    # 2 of 3 is 66.67%: in at 66; at 67, 2 * 100 >= 67 * 3 = 201 is false
    values = [7, 8, 5]
    assert one(values, CriterionSettings(rule=Rule("percent", threshold=66)))["consensus"] == "in"
    assert one(values, CriterionSettings(rule=Rule("percent", threshold=67)))["consensus"] == "none"


def test_comet_needs_fewer_than_15_percent_low() -> None:
    comet = CriterionSettings(rule=Rule("comet"))
    assert one([9] * 17 + [1] * 3, comet)["consensus"] == "none"  # exactly 15% low
    assert one([9] * 17 + [1] * 2 + [5], comet)["consensus"] == "in"  # 10% low
    assert one([9] * 40 + [1] * 7, comet)["consensus"] == "in"  # 14.89% low
    assert one([9] * 39 + [1] * 8, comet)["consensus"] == "none"  # 17.02% low
    # 14.99% versus 15%: 1499 of 10000 low is in, 1500 is not
    assert one([9] * 8501 + [1] * 1499, comet)["consensus"] == "in"
    assert one([9] * 8500 + [1] * 1500, comet)["consensus"] == "none"


def test_comet_in_needs_70_percent_high() -> None:
    comet = CriterionSettings(rule=Rule("comet"))
    assert one([9] * 7 + [5] * 3, comet)["consensus"] == "in"  # exactly 70%
    assert one([9] * 6 + [5] * 4, comet)["consensus"] == "none"
    assert one([1] * 7 + [5] * 3, comet)["consensus"] == "out"


def test_rand_half_point_medians_are_uncertain_unless_the_setting_says_otherwise() -> None:
    values = [6, 6, 6, 7, 7, 7]  # median 6.5, narrow
    assert one(values, CriterionSettings(rule=Rule("rand")))["consensus"] == "none"
    half = CriterionSettings(rule=Rule("rand", rand_half_points=True))
    assert one(values, half)["consensus"] == "in"
    assert one(values, half)["rand_class"] == "appropriate"
    low = [3, 3, 3, 4, 4, 4]  # median 3.5
    assert one(low, CriterionSettings(rule=Rule("rand")))["rand_class"] == "uncertain"
    assert one(low, half)["consensus"] == "out"


def test_rand_disagreement_uses_a_tolerance() -> None:
    # exactly IPR = IPRAS = 2.8 (p30 = 3.9, p70 = 6.7), but in floats IPR exceeds IPRAS by 1e-15
    row = one([1, 1, 1, 3, 6, 6, 6, 6, 7, 7, 7, 7], CriterionSettings(rule=Rule("rand")))
    assert row["ipr"] > row["ipras"]
    assert row["disagreement"] is False
    assert row["ipr"] == pytest.approx(2.8) and row["ipras"] == pytest.approx(2.8)


def test_iqr_rule_uses_k_and_the_median_band() -> None:
    assert one([7, 7, 8, 9, 9], CriterionSettings(rule=Rule("iqr")))["consensus"] == "in"
    assert one([5, 7, 8, 9, 9], CriterionSettings(rule=Rule("iqr", k=1)))["consensus"] == "none"
    assert one([1, 2, 2, 3], CriterionSettings(rule=Rule("iqr")))["consensus"] == "out"
    assert one([5, 5, 6, 6], CriterionSettings(rule=Rule("iqr")))["consensus"] == "none"


def test_iqr_default_k_depends_on_the_scale() -> None:
    assert Rule("iqr").iqr_k(Scale()) == 2
    assert Rule("iqr").iqr_k(Scale.with_default_bands(1, 5)) == 1
    assert Rule("iqr").iqr_k(Scale.with_default_bands(1, 7)) == 1
    with pytest.raises(ValueError, match="explicit k"):
        CriterionSettings(scale=Scale.parse("0-10:0-3,4-6,7-10"), rule=Rule("iqr"))


def test_rand_needs_the_nine_point_scale() -> None:
    with pytest.raises(ValueError, match="1-9"):
        CriterionSettings(scale=Scale.with_default_bands(1, 5), rule=Rule("rand"))


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("text", ["percent:75", "percent:60", "comet", "rand", "rand:half",
                                  "iqr", "iqr:2", "iqr:1.5"])  # fmt: skip
def test_rule_labels_round_trip(text: str) -> None:
    assert Rule.parse(text).label == text
    assert Rule.parse(Rule.parse(text).label) == Rule.parse(text)


@pytest.mark.parametrize("text", ["median", "percent:abc", "percent:0", "percent:101", "iqr:x",
                                  "comet:3", ""])  # fmt: skip
def test_bad_rules_list_the_valid_forms(text: str) -> None:
    with pytest.raises(ValueError, match="percent:T"):
        Rule.parse(text)


def test_scales_parse_with_default_or_explicit_bands() -> None:
    assert Scale.parse("1-7").mid == (3, 5)
    assert Scale.parse("1-5").mid == (3, 3)
    custom = Scale.parse("0-10:0-3,4-6,7-10")
    assert custom.high == (7, 10) and custom.label == "0-10:0-3,4-6,7-10"
    assert Scale.parse("1-9").label == "1-9"


@pytest.mark.parametrize("text", ["0-10", "nine", "9-1", "1-9:1-3,5-6,7-9", "1-9:1-3,4-6"])
def test_bad_scales_are_refused_clearly(text: str) -> None:
    with pytest.raises(ValueError, match=r"scale|band"):
        Scale.parse(text)


def test_unknown_quantile_types_are_refused() -> None:
    with pytest.raises(ValueError, match="5, 6, 7 or 8"):
        CriterionSettings(quantile=9)


def test_unused_categories_need_no_settings() -> None:
    frame = ratings(("I", [7, 8]))
    frame["criterion"] = pd.Categorical(frame["criterion"], categories=["c", "retired"])
    assert describe(frame, {"c": NINE})["criterion"].tolist() == ["c"]


def test_settings_are_needed_for_every_criterion() -> None:
    with pytest.raises(ValueError, match="no settings for criterion c"):
        describe(ratings(("I", [7])), {"other": NINE})


# --------------------------------------------------------------------------- margins


def test_margin_of_a_75_percent_verdict_on_the_edge_is_one() -> None:
    assert one([7, 8, 9, 5])["margin"] == 1


def test_margin_counts_the_panelists_needed_to_flip_percent() -> None:
    assert one([9] * 10)["margin"] == 3  # 7 of 10 is below 75%
    assert one([5] * 10)["margin"] == 8  # 8 high reach 75%


def test_margins_for_every_rule_agree_with_brute_force_on_a_small_case() -> None:
    values = [4, 6, 7, 7, 8, 9]
    result = consensus_under_all_rules(ratings(("I", values)), NINE).iloc[0]
    for rule in consensus.ALL_RULES:
        assert result[f"{rule.label}_margin"] == _brute_margin(values, rule), rule.label


def _brute_margin(values: list[int], rule: Rule) -> int:
    settings = CriterionSettings(rule=rule)
    counts = np.bincount(np.array(values) - 1, minlength=9)
    code = consensus._verdicts(counts[None], settings, rule)[0]
    flips = (m for m in range(1, len(values) + 1) if _any_flip(counts, m, settings, rule, code))
    return next(flips)


def _any_flip(counts: np.ndarray, m: int, settings: CriterionSettings, rule: Rule,
              code: int) -> bool:  # fmt: skip
    """Every count vector within m changes, by repeated single moves (small n only)."""
    frontier = {tuple(counts)}
    for _ in range(m):
        nxt = set()
        for vec in frontier:
            for i in range(9):
                if vec[i]:
                    for j in range(9):
                        moved = list(vec)
                        moved[i] -= 1
                        moved[j] += 1
                        nxt.add(tuple(moved))
        frontier = nxt
    vectors = np.array(sorted(frontier))
    return bool((consensus._verdicts(vectors, settings, rule) != code).any())


def test_all_rules_side_by_side() -> None:
    frame = ratings(("I1", V1), ("I2", V2))
    table = consensus_under_all_rules(frame, NINE)
    assert list(table.columns[:3]) == ["round", "item", "criterion"]
    assert list(table["percent:75"]) == ["in", "none"]
    assert list(table["rand"]) == ["in", "none"]
    assert {f"{r.label}_margin" for r in consensus.ALL_RULES} <= set(table.columns)


def test_rules_that_do_not_fit_the_scale_are_left_empty() -> None:
    five = CriterionSettings(scale=Scale.with_default_bands(1, 5))
    table = consensus_under_all_rules(ratings(("I", [4, 5, 5])), five).iloc[0]
    assert table["rand"] is None and table["rand_margin"] is pd.NA
    assert table["iqr"] == "in"


# --------------------------------------------------------------------------- decisions


def results_for(*cells: tuple[str, str, list[float]]) -> pd.DataFrame:
    frames = [ratings((item, values), criterion=crit) for item, crit, values in cells]
    return describe(pd.concat(frames, ignore_index=True), NINE)


def test_default_decision_accepts_all_in_rejects_any_out_and_carries_the_rest() -> None:
    results = results_for(("A", "acc", [9] * 4), ("A", "pri", [8] * 4),
                          ("B", "acc", [9] * 4), ("B", "pri", [1] * 4),
                          ("C", "acc", [9] * 4), ("C", "pri", [5] * 4))  # fmt: skip
    decisions = decide_items(results).set_index("item")["decision"]
    assert decisions.to_dict() == {"A": "accepted", "B": "rejected", "C": "carried"}


def test_decision_expressions_combine_verdicts_and_statistics() -> None:
    results = results_for(
        ("A", "acceptability", [9] * 4),
        ("A", "priority", [7, 7, 8, 8]),
        ("B", "acceptability", [9] * 4),
        ("B", "priority", [5, 6, 6, 6]),
    )
    rule = DecisionRule.parse(accept="acceptability = in AND priority.median >= 7")
    decisions = decide_items(results, rule).set_index("item")["decision"]
    assert decisions.to_dict() == {"A": "accepted", "B": "carried"}


def test_and_binds_tighter_than_or() -> None:
    results = results_for(("A", "x", [9] * 4), ("A", "y", [1] * 4), ("A", "z", [5] * 4))
    rule = DecisionRule.parse(accept="x = out AND y = out or z = none")
    assert decide_items(results, rule)["decision"].tolist() == ["accepted"]
    rule = DecisionRule.parse(accept="x = out AND (y = out or z = none)")
    assert decide_items(results, rule)["decision"].tolist() == ["rejected"]


def test_reject_expression_is_tried_after_accept() -> None:
    results = results_for(("A", "x", [5] * 4))
    rule = DecisionRule.parse(accept=None, reject="x.median < 6")
    assert decide_items(results, rule)["decision"].tolist() == ["rejected"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("acceptability = maybe", "found 'maybe' at position 17"),
        ("priority.median >> 7", "expected a number, found '>' at position 18"),
        ("priority.colour >= 7", "found 'colour' at position 10"),
        ("acceptability = in AND", "the rule ends"),
        ("acceptability = in priority = in", "expected AND, OR"),
        ("(a = in", "expected ')'"),
        ("a = in $", "unexpected character '$' at position 8"),
    ],
)
def test_bad_decision_rules_name_the_token_and_position(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DecisionRule.parse(accept=text)


def test_decision_rules_naming_an_unknown_criterion_fail_clearly() -> None:
    results = results_for(("A", "x", [9] * 4))
    with pytest.raises(ValueError, match="criterion 'y'"):
        decide_items(results, DecisionRule.parse(accept="y = in"))


# --------------------------------------------------------------------------- between rounds


def two_rounds(before: list[float | None], after: list[float | None]) -> pd.DataFrame:
    return pd.concat([ratings(("I", before), round=1), ratings(("I", after), round=2)])


def test_percent_change_is_half_the_sum_of_share_changes() -> None:
    row = compare_rounds(two_rounds([7, 7, 8, 9], [8, 8, 8, 9]), NINE, 1, 2).iloc[0]
    # shares: 7: .5->0, 8: .25->.75, 9: .25->.25  => 0.5 * (0.5 + 0.5) = 50%
    assert row["pct_change"] == pytest.approx(50)
    assert not row["stable"]
    same = compare_rounds(two_rounds([7, 8], [8, 7]), NINE, 1, 2).iloc[0]
    assert same["pct_change"] == 0 and same["stable"]


def test_coefficient_of_variation_and_its_change() -> None:
    before, after = [5, 7, 9], [7, 7, 8]
    row = compare_rounds(two_rounds(before, after), NINE, 1, 2).iloc[0]
    cv = [np.std(v, ddof=1) / np.mean(v) for v in (before, after)]
    assert row["cv_prev"] == pytest.approx(cv[0])
    assert row["cv"] == pytest.approx(cv[1])
    assert row["cv_change"] == pytest.approx(cv[1] - cv[0])


def test_paired_tests_use_panelists_who_rated_both_rounds() -> None:
    row = compare_rounds(two_rounds([7, None, 3, 4], [8, 9, None, 4]), NINE, 1, 2).iloc[0]
    assert row["n_paired"] == 2


def test_wilcoxon_is_empty_without_a_nonzero_difference() -> None:
    row = compare_rounds(two_rounds([7, 8], [7, 8]), NINE, 1, 2).iloc[0]
    assert math.isnan(row["wilcoxon_p"]) and row["mcnemar_p"] == 1.0


@pytest.mark.parametrize("n", [3, 8, 12, 13, 14, 30, 51, 120])
def test_wilcoxon_matches_scipy(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(2 if n in (12, 13) else 15):  # scipy enumerates 2**n sign flips there
        before = rng.integers(1, 10, n)
        after = np.clip(before + rng.integers(-2, 3, n), 1, 9)
        if not (after != before).any():
            continue
        row = compare_rounds(two_rounds(list(before), list(after)), NINE, 1, 2).iloc[0]
        want = stats.wilcoxon(after, before).pvalue
        assert row["wilcoxon_p"] == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_wilcoxon_exact_path_without_ties_matches_scipy() -> None:
    before, after = [1, 1, 1, 1, 1], [2, 3, 4, 5, 9]  # distinct |differences|
    row = compare_rounds(two_rounds(before, after), NINE, 1, 2).iloc[0]
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(after, before).pvalue)


@pytest.mark.parametrize("n", [5, 20, 200])
def test_mcnemar_matches_an_exact_binomial_test(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(10):
        before = rng.integers(1, 10, n)
        after = np.clip(before + rng.integers(-3, 4, n), 1, 9)
        up = int(((before < 7) & (after >= 7)).sum())
        down = int(((before >= 7) & (after < 7)).sum())
        row = compare_rounds(two_rounds(list(before), list(after)), NINE, 1, 2).iloc[0]
        want = stats.binomtest(up, up + down).pvalue if up + down else 1.0
        assert row["mcnemar_p"] == pytest.approx(want, rel=1e-9)


def test_compare_rounds_refuses_duplicate_ratings() -> None:
    frame = two_rounds([7, 8], [7, 8])
    frame = pd.concat([frame, frame.iloc[:1]])
    with pytest.raises(ValueError, match="two ratings"):
        compare_rounds(frame, NINE, 1, 2)


# --------------------------------------------------------------------------- Kendall's W

KENDALL_EXAMPLE = [[9, 7, 7, 5, 3], [8, 8, 6, 4, 4], [9, 6, 7, 5, 2], [7, 7, 7, 3, 3]]


def kendall_frame(matrix: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame([
        {"round": 1, "panelist": f"P{p}", "item": f"I{i}", "criterion": "c", "value": float(v)}
        for p, row in enumerate(matrix) for i, v in enumerate(row)
    ])  # fmt: skip


def test_kendalls_w_reproduces_the_worked_example() -> None:
    row = kendalls_w(kendall_frame(KENDALL_EXAMPLE)).iloc[0]
    assert round(row["w"], 4) == 0.9132
    assert round(row["w_uncorrected"], 4) == 0.8219
    assert (row["m"], row["n_items"]) == (4, 5)


def test_kendalls_w_matches_a_direct_implementation() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        matrix = rng.integers(1, 10, (rng.integers(2, 12), rng.integers(2, 15))).tolist()
        row = kendalls_w(kendall_frame(matrix)).iloc[0]
        assert row["w"] == pytest.approx(_direct_w(np.array(matrix)), rel=1e-12)


def _direct_w(matrix: np.ndarray) -> float:
    m, n = matrix.shape
    ranks = np.array([stats.rankdata(row) for row in matrix])
    s = ((ranks.sum(axis=0) - m * (n + 1) / 2) ** 2).sum()
    ties = sum(c**3 - c for row in matrix for c in np.unique(row, return_counts=True)[1])
    return float(12 * s / (m**2 * (n**3 - n) - m * ties))


def test_kendalls_w_only_counts_panelists_who_rated_every_item() -> None:
    matrix: list[list[float]] = [row[:] for row in KENDALL_EXAMPLE]
    frame = kendall_frame(matrix)
    extra = kendall_frame([[1, 2, 3, 4, 5]]).assign(panelist="P9")
    frame = pd.concat([frame, extra.iloc[:4]])  # P9 skipped one item
    frame.loc[(frame["panelist"] == "P0") & (frame["item"] == "I0"), "value"] = np.nan
    row = kendalls_w(frame).iloc[0]
    assert row["m"] == 3


# --------------------------------------------------------------------------- analyse


def test_analyse_puts_every_part_together() -> None:
    frame = pd.concat([
        ratings(("A", [7, 8, 9, 9]), ("B", [1, 5, 9, 9])),
        ratings(("A", [8, 8, 9, 9]), ("B", [5, 5, 9, 9]), round=2),
    ])  # fmt: skip
    analysis = analyse(frame, NINE)
    assert len(analysis.results) == 4
    assert analysis.decisions["decision"].tolist() == ["accepted", "carried"] * 2
    assert list(analysis.stability.columns[:2]) == ["prev_round", "round"]
    assert analysis.stability[["prev_round", "round"]].drop_duplicates().values.tolist() == [[1, 2]]
    assert len(analysis.all_rules) == 4
    assert len(analysis.kendall) == 2


def test_analyse_of_one_round_has_an_empty_stability_table() -> None:
    analysis = analyse(ratings(("A", [7, 8])), NINE)
    assert analysis.stability.empty
    assert "pct_change" in analysis.stability.columns
