"""Which clause of the decision rule decided an item (P14 and P19 in the KCE demo: 96 %
acceptable, left without consensus only because their priority median was 6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rounds import consensus
from rounds.consensus import DecisionRule
from rounds.dispositions import decision_margins, explain, explain_frame

KCE = DecisionRule.parse(accept="acceptability = in AND priority.median >= 7")


def stats(acc: str, acc_median: float, pri: str, pri_median: float) -> dict[str, dict]:
    return {
        "acceptability": {"consensus": acc, "median": acc_median, "pct_high": 96.2},
        "priority": {"consensus": pri, "median": pri_median, "pct_high": 30.0},
    }


def test_an_acceptable_item_that_is_no_priority_is_explained_by_its_priority() -> None:
    basis = explain(stats("in", 8, "none", 6), KCE, "no_consensus")

    assert basis.code == "priority.median >= 7 failed (6)"
    assert [p.code for p in basis.context] == ["acceptability = in held (in)"]


def test_a_priority_whose_acceptability_is_contested_is_explained_by_acceptability() -> None:
    basis = explain(stats("none", 6, "in", 8), KCE, "carried")

    assert basis.code == "acceptability = in failed (none)"
    assert [p.code for p in basis.context] == ["priority.median >= 7 held (8)"]


def test_an_accepted_item_rests_on_every_clause_of_an_and() -> None:
    basis = explain(stats("in", 8, "none", 7.5), KCE, "accepted")

    assert basis.code == "acceptability = in held (in); priority.median >= 7 held (7.5)"
    assert basis.context == ()


def test_the_default_rules_reject_on_any_criterion_out() -> None:
    basis = explain(stats("out", 2, "none", 4), None, "rejected")

    assert basis.code == "acceptability = out held (out)"
    assert basis.context == ()


def test_an_or_rule_names_the_first_part_that_held_and_every_part_that_failed() -> None:
    rule = DecisionRule.parse(accept="acceptability.pct_high >= 90 OR priority = in")

    assert explain(stats("in", 8, "in", 8), rule, "accepted").code == (
        "acceptability.pct_high >= 90 held (96.2)"
    )
    lukewarm = stats("in", 8, "none", 5)
    lukewarm["acceptability"]["pct_high"] = 80.0
    assert explain(lukewarm, rule, "carried").code == (
        "acceptability.pct_high >= 90 failed (80); priority = in failed (none)"
    )


def test_a_missing_criterion_says_so() -> None:
    basis = explain({"acceptability": {"consensus": "in", "median": 8}}, KCE, "carried")

    assert basis.code == "priority.median >= 7 no result (-)"


def test_it_explains_every_decision_of_a_frame() -> None:
    results = pd.DataFrame(
        [
            (1, "P14", "acceptability", "in", 8.0),
            (1, "P14", "priority", "none", 6.0),
            (1, "P17", "acceptability", "in", 8.0),
            (1, "P17", "priority", "in", 8.0),
        ],
        columns=["round", "item", "criterion", "consensus", "median"],
    )
    decisions = pd.DataFrame(
        [(1, "P14", "carried"), (1, "P17", "accepted")], columns=["round", "item", "decision"]
    )

    frame = explain_frame(results, decisions, KCE).set_index("item")

    assert frame.loc["P14", "basis"] == "priority.median >= 7 failed (6)"
    assert frame.loc["P17", "decision"] == "accepted"


def _results(ratings: dict[tuple[str, str], list[int]], settings: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(1, f"p{j}", item, crit, v) for (item, crit), values in ratings.items()
         for j, v in enumerate(values)],
        columns=["round", "panelist", "item", "criterion", "value"],
    )  # fmt: skip
    return consensus.describe(frame, settings)


def _margins(ratings: dict[tuple[str, str], list[int]], rule: DecisionRule | None) -> dict:
    settings = {c: consensus.CriterionSettings() for _i, c in ratings}
    results = _results(ratings, settings)
    decisions = consensus.decide_items(results, rule)
    return decision_margins(results, decisions, settings, rule)


def test_an_acceptable_item_that_is_no_priority_needs_13_priority_ratings_to_change() -> None:
    # 25 panelists: acceptability all 8 (in), priority all 6: 13 ratings must reach 7+ for
    # the median to be 7; rejecting it would take 19 ratings in the low band (75 %)
    margins = _margins({("P14", "acceptability"): [8] * 25, ("P14", "priority"): [6] * 25}, KCE)

    assert margins[(1, "P14")] == 13


def test_an_accepted_item_flips_at_its_cheapest_clause() -> None:
    # acceptability 20 of 25 high (80 %): 2 fewer and it is below 75 %
    margins = _margins(
        {("A", "acceptability"): [8] * 20 + [5] * 5, ("A", "priority"): [8] * 25}, KCE
    )

    assert margins[(1, "A")] == 2


@pytest.mark.parametrize("seed", range(25))
def test_with_one_criterion_and_the_default_rules_it_is_the_consensus_margin(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 30))
    centre = rng.integers(1, 10)
    values = np.clip(rng.normal(centre, 2.0, n).round(), 1, 9).astype(int).tolist()
    ratings = {("X", "acceptability"): values}
    settings = {"acceptability": consensus.CriterionSettings()}

    results = _results(ratings, settings)
    margins = decision_margins(results, consensus.decide_items(results), settings, None)

    assert margins[(1, "X")] == results.loc[0, "margin"]


@pytest.mark.parametrize("seed", range(20))
def test_the_quick_search_finds_what_trying_every_k_finds(seed: int) -> None:
    from rounds import dispositions

    rng = np.random.default_rng(100 + seed)
    ratings = {
        (f"I{i}", c): np.clip(rng.normal(rng.uniform(3, 8), 1.8, 40).round(), 1, 9)
        .astype(int).tolist()
        for i in range(6) for c in ("acceptability", "priority")
    }  # fmt: skip
    settings = {c: consensus.CriterionSettings() for c in ("acceptability", "priority")}
    results = _results(ratings, settings).assign(round=1)
    rows = dispositions._rows_by_item(results)
    rule = DecisionRule.parse(accept="acceptability.pct_high >= 60 AND priority.median >= 7")
    flips = [
        dispositions._flip(key, clause, rows[key])
        for key in rows
        for clause in dispositions._clause_list(rule._accept)
    ]

    scanned = dispositions._scan(flips, rows, settings)
    expected = {(f.key, id(f.clause)): scanned.get((f.key, id(f.clause)), np.inf) for f in flips}
    assert dispositions._search(flips, rows, settings) == expected
