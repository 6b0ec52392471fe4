"""Benchmark of the consensus engine (rounds.consensus).

    python -m benchmarks.engine [--ratings 1000000] [--repeats 5]

Generates seeded ratings: panelists x items x 2 criteria (2,500 x 200 x 2 = 1,000,000 by
default), ~5% don't-knows, categorical columns, skewed per-item distributions, for round 1
and a perturbed round 2. Times, best of several repeats, in one process:

(a) describe (METHODS §2-3 incl. margin) + decide_items on round 1;
(b) the whole analyse over both rounds (§2-5, 2x the ratings);
(c) the naive baseline df.groupby([...])["value"].quantile([.25, .5, .75]) on round 1;
(d) the floor: one np.bincount over round 1's precomputed keys (group * K + value index);
(e) for context, building those keys from the columns with plain numpy, plus (d);
(f) the whole analyse of 1,000,000 ratings (half the panel, both rounds: the issue's
    target is (f)/(d) <= 20);
(g) the same as (f) with plain string columns for panelist, item and criterion (pandas'
    str dtype, which DataFrame.from_records gives the web app for a database query).

``python -m benchmarks --only engine`` runs ``figures``: (f) against its own floor, one
np.bincount over the same ratings' keys (both rounds), medians of interleaved repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from rounds import consensus

CRITERIA = ("acceptability", "priority")
SCALE_POINTS = 9


def make_ratings(n_ratings: int = 1_000_000, seed: int = 20240501) -> pd.DataFrame:
    """Two rounds of ratings; each round has about ``n_ratings`` rows."""
    rng = np.random.default_rng(seed)
    n_items = 200
    n_panelists = max(2, n_ratings // (n_items * len(CRITERIA)))
    n_cells = n_items * len(CRITERIA)
    # skewed per-item distributions: a Dirichlet around a per-item mode
    modes = rng.choice(np.arange(SCALE_POINTS), size=n_cells, p=_mode_weights())
    shape = np.exp(-0.6 * np.abs(np.arange(SCALE_POINTS)[None, :] - modes[:, None])) * 8
    probs = np.array([rng.dirichlet(a) for a in shape])
    round1 = _draw(rng, probs, n_panelists)
    drift = np.roll(probs, 1, axis=1) * 0.15 + probs * 0.85  # round 2: converging, a little up
    round2 = _draw(rng, drift / drift.sum(axis=1, keepdims=True), n_panelists)
    frames = [_frame(r, values, n_panelists, n_items) for r, values in ((1, round1), (2, round2))]
    return pd.concat(frames, ignore_index=True)


def _mode_weights() -> np.ndarray:
    weights = np.array([1, 1, 1, 2, 3, 4, 6, 7, 5], dtype=float)
    return weights / weights.sum()


def _draw(rng: np.random.Generator, probs: np.ndarray, n_panelists: int) -> np.ndarray:
    """Values (cells x panelists) drawn from each cell's distribution, 5% don't-knows."""
    cum = probs.cumsum(axis=1)
    u = rng.random((len(probs), n_panelists))
    values = (u[:, :, None] > cum[:, None, :]).sum(axis=2).astype(np.float64) + 1
    values[rng.random(values.shape) < 0.05] = np.nan
    return values


def _frame(round_no: int, values: np.ndarray, n_panelists: int, n_items: int) -> pd.DataFrame:
    n_crit = len(CRITERIA)
    cell = np.repeat(np.arange(n_items * n_crit), n_panelists)
    panel = np.tile(np.arange(n_panelists), n_items * n_crit)
    items = [f"I{i:03d}" for i in range(n_items)]
    panelists = [f"P{p:04d}" for p in range(n_panelists)]
    return pd.DataFrame({
        "round": np.full(len(cell), round_no, dtype=np.int64),
        "panelist": pd.Categorical.from_codes(panel, panelists),
        "item": pd.Categorical.from_codes(cell // n_crit, items),
        "criterion": pd.Categorical.from_codes(cell % n_crit, list(CRITERIA)),
        "value": values.reshape(-1),
    })  # fmt: skip


def best_of(repeats: int, func: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ratings", type=int, default=1_000_000, help="ratings per round")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    ratings = make_ratings(args.ratings)
    round1 = ratings[ratings["round"] == 1].reset_index(drop=True)
    settings = consensus.CriterionSettings()
    n1 = len(round1)

    def describe_and_decide() -> None:
        consensus.decide_items(consensus.describe(round1, settings))

    key = _bincount_keys(round1)
    minlength = len(CRITERIA) * round1["item"].cat.categories.size * (SCALE_POINTS + 1)
    half = make_ratings(args.ratings // 2)
    strings = half.astype({c: str for c in ("panelist", "item", "criterion")})
    timings = {
        "a": best_of(args.repeats, describe_and_decide),
        "b": best_of(max(2, args.repeats // 2), lambda: consensus.analyse(ratings, settings)),
        "c": best_of(max(2, args.repeats // 2), lambda: _naive(round1)),
        "d": best_of(args.repeats, lambda: np.bincount(key, minlength=minlength)),
        "e": best_of(
            args.repeats,
            lambda: np.bincount(_bincount_keys(round1), minlength=minlength),
        ),
        "f": best_of(args.repeats, lambda: consensus.analyse(half, settings)),
        "g": best_of(max(2, args.repeats // 2), lambda: consensus.analyse(strings, settings)),
    }
    sizes = {"b": len(ratings), "f": len(half), "g": len(strings)}
    rates = {k: sizes.get(k, n1) / t for k, t in timings.items()}
    print(f"ratings: {n1:,} in round 1, {len(ratings):,} in both rounds")
    names = {
        "a": "describe + decide_items, round 1",
        "b": "analyse, both rounds (§2-5)",
        "c": "naive groupby quantile, round 1",
        "d": "floor: one np.bincount, round 1",
        "e": "plain numpy keys + bincount, round 1",
        "f": f"analyse, {len(half):,} ratings",
        "g": f"analyse, {len(strings):,}, str columns",
    }
    for k, name in names.items():
        print(f"({k}) {name:36s} {timings[k] * 1e3:9.2f} ms  {rates[k]:14,.0f} ratings/s")
    a_d, a_c, a_e = (timings["a"] / timings[k] for k in "dce")
    print(f"(a)/(d) = {a_d:.2f}x   (a)/(c) = {a_c:.4f}x   (a)/(e) = {a_e:.2f}x   "
          f"(b) = {timings['b']:.3f} s")  # fmt: skip
    print(f"(f)/(d) = {timings['f'] / timings['d']:.1f}x (target <= 20x)   "
          f"(g)/(f) = {timings['g'] / timings['f']:.2f}x")  # fmt: skip


def _bincount_keys(frame: pd.DataFrame) -> np.ndarray:
    values = frame["value"].to_numpy()
    index = np.where(np.isnan(values), SCALE_POINTS, values - 1).astype(np.intp)
    group = frame["item"].cat.codes.to_numpy().astype(np.intp) * len(CRITERIA)
    group += frame["criterion"].cat.codes.to_numpy()
    return group * (SCALE_POINTS + 1) + index


# ratings analysed (both rounds together); the target is for "full": at "small" the same 800
# groups hold a tenth of the ratings, so the floor shrinks tenfold and the per-group work not
SCALES = {"small": 100_000, "full": 1_000_000}
REPEATS = {"small": 7, "full": 11}


def figures(scale: str) -> list[Any]:
    """The figures for `python -m benchmarks`: the whole analysis (§2-5) of the ratings of
    two rounds, categorical columns as the web app reads them (and as the round-close path
    gets them from the database), and the same with str columns, against the floor of one
    np.bincount over the same ratings' precomputed keys (group * 10 + value index).

    Repeats are interleaved (floor, ours, floor, ours...) and the figures are their
    medians. Each is measured twice: CPU time of this process, the figure the target is
    about, which a busy shared machine barely moves, and wall time, which it does (a run
    of 50 ms is preempted where one bincount of 2 ms seldom is)."""
    from benchmarks.__main__ import Figure

    ratings = make_ratings(SCALES[scale] // 2)
    strings = ratings.astype({c: str for c in ("panelist", "item", "criterion")})
    settings = consensus.CriterionSettings()
    key, minlength = _keys_of_rounds(ratings)
    tasks = {
        "floor": lambda: np.bincount(key, minlength=minlength),
        "ours": lambda: consensus.analyse(ratings, settings),
        "str": lambda: consensus.analyse(strings, settings),
    }
    cpu: dict[str, list[float]] = {name: [] for name in tasks}
    wall: dict[str, list[float]] = {name: [] for name in tasks}
    for task in tasks.values():
        task()  # warm up: first-call imports and allocations are not what is measured
    for _ in range(REPEATS[scale]):
        for name, task in tasks.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            task()
            cpu[name].append(time.process_time() - started_cpu)
            wall[name].append(time.perf_counter() - started)

    def ms(found: dict[str, list[float]], name: str) -> float:
        return statistics.median(found[name]) * 1e3

    floor = f"one np.bincount over the keys of {len(ratings):,} ratings"
    n = f"{len(ratings):,} ratings"
    return [
        Figure("engine", f"analyse (§2-5) of {n}, CPU time", ms(cpu, "ours"), "ms", floor,
               ms(cpu, "floor"), "<= 20x" if scale == "full" else ""),
        Figure("engine", "  the same, wall time", ms(wall, "ours"), "ms", floor,
               ms(wall, "floor")),
        Figure("engine", "  the same with str columns, CPU time", ms(cpu, "str"), "ms", floor,
               ms(cpu, "floor")),
    ]  # fmt: skip


def _keys_of_rounds(frame: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Bincount keys of every rating, rounds one after the other, and the bins."""
    per_round = len(CRITERIA) * frame["item"].cat.categories.size * (SCALE_POINTS + 1)
    rounds = frame["round"].to_numpy()
    key = _bincount_keys(frame) + (rounds - rounds.min()) * per_round
    return key, per_round * int(rounds.max() - rounds.min() + 1)


def _naive(frame: pd.DataFrame) -> pd.Series:
    grouped = frame.groupby(["round", "item", "criterion"], observed=True)["value"]
    return grouped.quantile([0.25, 0.5, 0.75])


if __name__ == "__main__":
    main()
