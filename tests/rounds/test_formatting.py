"""Shares as printed: never rounded across the threshold their verdict depends on."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rounds.formatting import (
    bounded,
    decision_thresholds,
    floor_percent,
    rule_thresholds,
    share,
    share_of_percent,
    thresholds,
)

ROOT = Path(__file__).resolve().parents[2]


def test_it_prints_38_of_51_as_74_5_under_a_75_percent_rule() -> None:
    assert share(38, 51, [75]) == "74.5"


def test_it_keeps_whole_percentages_when_rounding_crosses_nothing() -> None:
    assert share(42, 51, [75]) == "82"
    assert share(3, 4, [75]) == "75"


def test_it_rounds_towards_the_verdicts_side_when_one_decimal_is_not_enough() -> None:
    # 1499 of 2000 is 74.95 %: 75 and 75.0 would both read as "meets 75 %"
    assert share(1499, 2000, [75]) == "74.9"
    assert share(2999, 3000, [99.99]) == "99.9"


def test_it_never_rounds_up_onto_a_decimal_threshold() -> None:
    # two of three is 66.67 %, below a 66.7 % threshold
    assert share(2, 3, ["66.7"]) == "66.6"


def test_it_uses_the_decimal_separator_and_dashes_an_empty_share() -> None:
    assert share(38, 51, [75], decimal_separator=",") == "74,5"
    assert share(0, 0, [75]) == "–"
    assert share_of_percent(None, 10) == "–"


def test_it_recovers_the_count_from_a_stored_percentage() -> None:
    assert share_of_percent(74.50980392, 51, [75]) == "74.5"


def test_rule_thresholds_name_what_each_rule_compares_with() -> None:
    assert rule_thresholds("percent:75") == (Fraction(75),)
    assert rule_thresholds("percent:66.7") == (Fraction(667, 10),)
    assert rule_thresholds("comet") == (Fraction(70), Fraction(15))
    assert rule_thresholds("rand") == ()
    assert Fraction(80) in thresholds([80]) and Fraction(15) in thresholds()


@given(
    n=st.integers(min_value=1, max_value=400),
    data=st.data(),
    limit=st.sampled_from(["75", "70", "15", "66.7", "50.5", "80", "99.9"]),
)
def test_no_share_is_ever_printed_on_the_other_side_of_its_threshold(
    n: int, data: st.DataObject, limit: str
) -> None:
    count = data.draw(st.integers(min_value=0, max_value=n))
    shown = Fraction(share(count, n, [limit]))
    meets = count * 100 * 10 >= Fraction(limit) * 10 * n
    assert (shown >= Fraction(limit)) == meets
    assert abs(shown - Fraction(100 * count, n)) < 1


def test_a_percentage_without_its_n_is_cut_to_one_decimal() -> None:
    assert floor_percent(74.50980392) == "74.5"
    assert floor_percent(74.99) == "74.9"
    assert floor_percent(75.0) == "75.0"
    assert floor_percent(None) == "–"


def test_decision_rule_thresholds_on_shares_count_too() -> None:
    rule = "acceptability = in AND priority.pct_high >= 60 OR Priority.pct_low < 12.5"
    assert decision_thresholds(rule, "priority") == (Fraction(60), Fraction(25, 2))
    assert decision_thresholds(rule, "acceptability") == ()


def test_a_percent_change_is_never_rounded_onto_stable_below() -> None:
    assert bounded(14.96, [15]) == "14.96"
    assert bounded(14.996, [15]) == "14.99"
    assert bounded(15.0, [15]) == "15.0"
    assert bounded(3.14159, [15]) == "3.1"


def test_it_imports_without_loading_django() -> None:
    code = "import sys, rounds.formatting; print(any(m.startswith('django') for m in sys.modules))"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, check=True)  # fmt: skip
    assert done.stdout.strip() == "False"
