"""Properties of the engine, and the consensus margin against exhaustive brute force."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rounds import consensus
from rounds.consensus import CriterionSettings, Rule, Scale

NINE, FIVE = Scale(), Scale.with_default_bands(1, 5)
RULES_9 = [Rule("percent"), Rule("percent", threshold=60), Rule("comet"), Rule("rand"),
           Rule("rand", rand_half_points=True), Rule("iqr"), Rule("iqr", k=0),
           Rule("iqr", k=1.5)]  # fmt: skip
RULES_5 = [Rule("percent"), Rule("percent", threshold=50), Rule("percent", threshold=100),
           Rule("comet"), Rule("iqr"), Rule("iqr", k=0), Rule("iqr", k=2)]  # fmt: skip


# --------------------------------------------------------------------------- brute force


@functools.cache
def all_vectors(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every count vector of n ratings on k points, and for each the indices of the
    vectors one changed rating away (move one rating from point i to point j)."""
    vectors = np.array([_stars_and_bars(cut, n, k) for cut in
                        itertools.combinations(range(n + k - 1), k - 1)])  # fmt: skip
    index = {tuple(v): i for i, v in enumerate(vectors.tolist())}
    neighbours = np.full((len(vectors), k * k), -1)
    for i, v in enumerate(vectors.tolist()):
        for a, b in itertools.product(range(k), repeat=2):
            if a != b and v[a]:
                moved = list(v)
                moved[a] -= 1
                moved[b] += 1
                neighbours[i, a * k + b] = index[tuple(moved)]
    return vectors, neighbours


def _stars_and_bars(bars: tuple[int, ...], n: int, k: int) -> list[int]:
    edges = [-1, *bars, n + k - 1]
    return [edges[i + 1] - edges[i] - 1 for i in range(k)]


def brute_margins(codes: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Fewest changed ratings to a vector with another verdict: BFS from each verdict."""
    best = np.full(len(codes), np.iinfo(np.int64).max)
    for label in np.unique(codes):
        dist = np.where(codes == label, 0, -1)
        frontier, step = np.flatnonzero(dist == 0), 0
        while len(frontier):
            step += 1
            reached = neighbours[frontier].ravel()
            reached = np.unique(reached[reached >= 0])
            frontier = reached[dist[reached] < 0]
            dist[frontier] = step
        other = (codes != label) & (dist >= 0)
        best[other] = np.minimum(best[other], dist[other])
    return best


def assert_exact_margins(scale: Scale, rule: Rule, qtype: int, n: int) -> None:
    vectors, neighbours = all_vectors(n, scale.size)
    settings_ = CriterionSettings(scale, rule, qtype)
    codes = consensus._verdicts(vectors, settings_, rule)
    margins = consensus._margins(vectors, settings_, rule, codes)
    expected = brute_margins(codes, neighbours)
    wrong = np.flatnonzero(margins != expected)
    assert not len(wrong), [(vectors[i].tolist(), margins[i], expected[i]) for i in wrong[:5]]


@pytest.mark.parametrize("rule", RULES_9, ids=lambda r: r.label)
@pytest.mark.parametrize("qtype", [5, 6, 7, 8])
def test_margin_is_exact_for_every_panel_of_up_to_7_on_the_9_point_scale(
    rule: Rule, qtype: int
) -> None:
    for n in range(1, 8 if qtype == 7 else 6):
        assert_exact_margins(NINE, rule, qtype, n)


@pytest.mark.parametrize("rule", RULES_5, ids=lambda r: r.label)
@pytest.mark.parametrize("qtype", [5, 6, 7, 8])
def test_margin_is_exact_for_every_panel_of_up_to_12_on_the_5_point_scale(
    rule: Rule, qtype: int
) -> None:
    for n in range(1, 13 if qtype == 7 else 8):
        assert_exact_margins(FIVE, rule, qtype, n)


@pytest.mark.parametrize("rule", RULES_5, ids=lambda r: r.label)
def test_margin_is_exact_for_every_panel_of_20_on_the_5_point_scale(rule: Rule) -> None:
    assert_exact_margins(FIVE, rule, 7, 20)


@pytest.mark.slow
@pytest.mark.parametrize("rule", [Rule("rand"), Rule("iqr")], ids=lambda r: r.label)
def test_margin_is_exact_for_every_panel_of_9_on_the_9_point_scale(rule: Rule) -> None:
    assert_exact_margins(NINE, rule, 7, 9)


# --------------------------------------------------------------------------- properties

values_9 = st.lists(st.one_of(st.integers(1, 9), st.none()), min_size=1, max_size=40)


def frame(values: list[int | None], item: str = "I") -> pd.DataFrame:
    return pd.DataFrame({
        "round": 1, "panelist": [f"P{i}" for i in range(len(values))], "item": item,
        "criterion": "c", "value": [np.nan if v is None else float(v) for v in values],
    })  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("ABC"), st.integers(1, 9)), min_size=1, max_size=60),
    st.integers(0, 2**32 - 1),
)
def test_row_order_does_not_matter(cells: list[tuple[str, int]], seed: int) -> None:
    rows = pd.DataFrame([{"round": 1, "item": i, "criterion": "c", "value": float(v)}
                         for i, v in cells])  # fmt: skip
    shuffled = rows.sample(frac=1, random_state=seed).reset_index(drop=True)
    for rule in consensus.ALL_RULES:
        s = CriterionSettings(rule=rule)
        pd.testing.assert_frame_equal(consensus.describe(rows, s), consensus.describe(shuffled, s))


@settings(max_examples=150, deadline=None)
@given(values_9, st.sampled_from([5, 6, 7, 8]))
def test_quantiles_are_ordered_and_shares_add_up(values: list[int | None], qtype: int) -> None:
    row = consensus.describe(frame(values), CriterionSettings(quantile=qtype)).iloc[0]
    if row["n"] == 0:
        return
    assert row["q1"] <= row["median"] <= row["q3"]
    assert row["p30"] <= row["p70"]
    assert row["pct_low"] + row["pct_mid"] + row["pct_high"] == pytest.approx(100)
    assert row["margin"] >= 1


@settings(max_examples=120, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=30), st.integers(7, 9),
       st.sampled_from(RULES_9), st.sampled_from([5, 6, 7, 8]))  # fmt: skip
def test_adding_a_high_rating_never_turns_in_into_out(
    values: list[int], high: int, rule: Rule, qtype: int
) -> None:
    s = CriterionSettings(rule=rule, quantile=qtype)
    before = consensus.describe(frame(values), s).iloc[0]["consensus"]
    after = consensus.describe(frame([*values, high]), s).iloc[0]["consensus"]
    assert not (before == "in" and after == "out")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=6), st.sampled_from(RULES_9))
def test_changing_margin_ratings_can_flip_the_verdict_and_fewer_cannot(
    values: list[int], rule: Rule
) -> None:
    s = CriterionSettings(rule=rule)
    counts = np.bincount(np.array(values) - 1, minlength=9)
    code = consensus._verdicts(counts[None], s, rule)[0]
    margin = consensus.describe(frame(values), s).iloc[0]["margin"]
    vectors, neighbours = all_vectors(len(values), 9)
    start = int(np.flatnonzero((vectors == counts).all(axis=1))[0])
    ball = {start}
    for step in range(1, margin + 1):
        ball |= {int(j) for i in ball for j in neighbours[i] if j >= 0}
        flipped = consensus._verdicts(vectors[sorted(ball)], s, rule) != code
        assert flipped.any() == (step == margin)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=30))
def test_percent_change_is_between_0_and_100(pairs: list[tuple[int, int]]) -> None:
    before = frame([a for a, _ in pairs])
    after = frame([b for _, b in pairs]).assign(round=2)
    row = consensus.compare_rounds(pd.concat([before, after]), CriterionSettings(), 1, 2).iloc[0]
    assert 0 <= row["pct_change"] <= 100 + 1e-9
    assert 0 <= row["mcnemar_p"] <= 1


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 8), st.integers(2, 10), st.integers(0, 2**32 - 1))
def test_kendalls_w_is_between_0_and_1(m: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 10, (m, n))
    rows = pd.DataFrame([
        {"round": 1, "panelist": f"P{p}", "item": f"I{i}", "criterion": "c",
         "value": float(values[p, i])}
        for p in range(m) for i in range(n)
    ])  # fmt: skip
    row = consensus.kendalls_w(rows).iloc[0]
    for w in (row["w"], row["w_uncorrected"]):
        assert np.isnan(w) or -1e-12 <= w <= 1 + 1e-12
