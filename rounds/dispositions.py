"""Why an item got its disposition: the clauses of the protocol's decision rule that decided
it, read from the same results the engine decided on.

Pure (numpy, pandas, the engine; no Django). An item is accepted when the accept
expression holds, else rejected when the reject expression holds, else rated again (or,
after the last round, left without consensus); see `rounds.consensus.DecisionRule`. So:

- accepted: the clauses that made the accept expression hold (all of an AND, the first
  that held of an OR);
- rejected: the clauses that made the reject expression hold;
- carried over or no consensus: the clauses that kept the accept expression from
  holding (each failed part of an AND, every part of an OR).

For an item accepted or left undecided, the clauses of the accept expression that held
are kept as context ("acceptable, but not a priority": the priority clause failed, the
acceptability clause held).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rounds import consensus

Stats = Mapping[str, Mapping[str, Any]]  # criterion code -> its results row
_Expr = tuple[str, Any]


@dataclass(frozen=True)
class Part:
    """One clause of the decision rule and how it came out for an item."""

    criterion: str
    stat: str | None  # None: the clause compares the consensus verdict
    op: str
    value: float | str
    actual: Any  # the verdict or the statistic the clause read
    held: bool | None  # None: the criterion has no result for the item

    @property
    def rule(self) -> str:
        """The clause as written in the protocol: ``priority.median >= 7``."""
        target = f"{self.criterion}.{self.stat}" if self.stat else self.criterion
        value = f"{self.value:g}" if isinstance(self.value, float) else self.value
        return f"{target} {self.op} {value}"

    @property
    def code(self) -> str:
        """``priority.median >= 7 failed (6)``: the clause, its outcome and what it read."""
        outcome = {True: "held", False: "failed", None: "no result"}[self.held]
        return f"{self.rule} {outcome} ({_plain(self.actual)})"


@dataclass(frozen=True)
class Basis:
    decision: str
    deciding: tuple[Part, ...]
    context: tuple[Part, ...]

    @property
    def code(self) -> str:
        """The deciding clauses, as ``results.csv`` writes them (``; ``-separated)."""
        return "; ".join(part.code for part in self.deciding)


def explain(stats: Stats, rule: consensus.DecisionRule | None, decision: str) -> Basis:
    """The basis of ``decision`` for an item whose results per criterion are ``stats``."""
    rule = rule or consensus.DecisionRule()
    criteria = list(stats)
    accept = rule._accept or _all(criteria, "in", "and")
    reject = rule._reject or _all(criteria, "out", "or")
    if decision == "accepted":
        deciding = _why(accept, stats, want=True)
    elif decision == "rejected":
        deciding = _why(reject, stats, want=True)
    else:
        deciding = _why(accept, stats, want=False)
    shown = {part.rule for part in deciding}
    context = (
        tuple(p for p in _parts(accept, stats) if p.held and p.rule not in shown)
        if decision != "rejected"
        else ()
    )
    return Basis(decision, deciding, context)


def explain_frame(
    results: pd.DataFrame, decisions: pd.DataFrame, rule: consensus.DecisionRule | None
) -> pd.DataFrame:
    """``round, item, decision, basis`` (the code form) for every row of ``decisions``
    (round, item, decision), from ``results`` (one row per round, item and criterion)."""
    by_item: dict[tuple[int, str], dict[str, Mapping[str, Any]]] = {}
    for record in results.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        key = (int(row["round"]), str(row["item"]))
        by_item.setdefault(key, {})[str(row["criterion"])] = row
    rows = []
    for round_, item, decision in decisions[["round", "item", "decision"]].itertuples(index=False):
        stats = by_item.get((int(round_), str(item)), {})
        basis = explain(stats, rule, str(decision)) if stats else None
        rows.append((int(round_), str(item), str(decision), basis.code if basis else ""))
    return pd.DataFrame(rows, columns=["round", "item", "decision", "basis"])


# --------------------------------------------------------------------------- clauses


@dataclass(frozen=True)
class _Verdict:
    """A clause ``<criterion> = <verdict>`` of a default rule (same fields as the engine's)."""

    criterion: str
    stat: None
    op: str
    value: str


def _all(criteria: list[str], verdict: str, kind: str) -> _Expr:
    """The default rules: every criterion ``in`` (accept), any criterion ``out`` (reject)."""
    clauses = [("clause", _Verdict(c, None, "=", verdict)) for c in criteria]
    return clauses[0] if len(clauses) == 1 else (kind, clauses)


def _part(clause: Any, stats: Stats) -> Part:
    row = stats.get(clause.criterion)
    actual = None if row is None else row.get(clause.stat or "consensus")
    held = None if row is None else _holds(clause.op, actual, clause.value, clause.stat)
    value = clause.value if clause.stat is None else float(clause.value)
    return Part(clause.criterion, clause.stat, clause.op, value, actual, held)


def _holds(op: str, actual: Any, value: Any, stat: str | None) -> bool:
    if stat is None:
        return bool(actual == value)
    try:
        a, b = float(actual), float(value)
    except (TypeError, ValueError):
        return False
    if math.isnan(a):
        return False
    tol = consensus.TOLERANCE  # the engine's tolerance for interpolated quantiles
    return {
        ">=": a >= b - tol,
        "<=": a <= b + tol,
        ">": a > b + tol,
        "<": a < b - tol,
        "=": abs(a - b) <= tol,
    }[op]


def _holds_expr(expr: _Expr, stats: Stats) -> bool:
    if expr[0] == "clause":
        return bool(_part(expr[1], stats).held)
    results = [_holds_expr(part, stats) for part in expr[1]]
    return all(results) if expr[0] == "and" else any(results)


def _why(expr: _Expr, stats: Stats, *, want: bool) -> tuple[Part, ...]:
    """The clauses that make ``expr`` come out ``want`` (True: held, False: failed)."""
    if expr[0] == "clause":
        return (_part(expr[1], stats),)
    parts = expr[1]
    decisive_all = (expr[0] == "and") == want  # AND held / OR failed: every part counts
    if decisive_all:
        return tuple(p for part in parts for p in _why(part, stats, want=want))
    chosen = [part for part in parts if _holds_expr(part, stats) == want]
    if want:  # OR held: the first part that held
        return _why(chosen[0], stats, want=True) if chosen else ()
    return tuple(p for part in chosen for p in _why(part, stats, want=False))  # AND failed


def _parts(expr: _Expr, stats: Stats) -> Iterator[Part]:
    if expr[0] == "clause":
        yield _part(expr[1], stats)
    else:
        for part in expr[1]:
            yield from _parts(part, stats)


def _plain(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


# --------------------------------------------------------------------------- decision margin


@dataclass(frozen=True)
class _Flip:
    """How to flip one clause of one item: move ratings up, down, or either way."""

    key: tuple[int, str]  # (round, item)
    clause: Any
    held: bool
    directions: tuple[str, ...]


def decision_margins(
    results: pd.DataFrame,
    decisions: pd.DataFrame,
    settings: Mapping[str, consensus.CriterionSettings],
    rule: consensus.DecisionRule | None,
) -> dict[tuple[int, str], int | None]:
    """The margin of each item's combined decision: the smallest number of ratings that
    would have to change for the decision (accepted / rejected / undecided) to change.

    ``results`` has one row per round, item and criterion with the engine's columns plus
    ``counts`` (ratings per scale point) and ``margin``; ``decisions`` has round, item,
    decision. Each clause of the decision rule costs: its criterion's consensus margin when
    a verdict clause holds; otherwise the fewest ratings moved to the scale's far end (the
    lowest up, or the highest down) for it to flip, found by recomputing the statistic with
    the engine. An AND that holds flips at its cheapest part, one that fails when each
    failed part flips (their costs add up), and the reverse for an OR. Exact when each
    clause names its own criterion and moving ratings to the far end is the quickest way
    to flip it (percent agreement, COMET, medians and shares); otherwise an upper bound.
    None when no change of ratings can change the decision (a clause on n, say).
    """
    rule = rule or consensus.DecisionRule()
    rows = _rows_by_item(results)
    plan: list[tuple[tuple[int, str], str, _Expr, _Expr]] = []
    flips: list[_Flip] = []
    for round_, item, decision in decisions[["round", "item", "decision"]].itertuples(index=False):
        key = (int(round_), str(item))
        stats = rows.get(key)
        if not stats:
            continue
        accept = rule._accept or _all(list(stats), "in", "and")
        reject = rule._reject or _all(list(stats), "out", "or")
        plan.append((key, str(decision), accept, reject))
        for expr in (accept, reject):
            flips.extend(_flip(key, clause, stats) for clause in _clause_list(expr))
    costs = _flip_costs(flips, rows, settings)
    margins: dict[tuple[int, str], int | None] = {}
    for key, decision, accept, reject in plan:
        stats = rows[key]

        def cost(expr: _Expr, key: tuple[int, str] = key, stats: Stats = stats) -> float:
            return _expr_cost(expr, stats, lambda c: costs.get((key, id(c)), math.inf))

        # accepted: the accept rule must fail; otherwise it must hold, or the reject rule
        # flip (rejected becomes undecided, undecided becomes rejected)
        found = cost(accept) if decision == "accepted" else min(cost(accept), cost(reject))
        margins[key] = None if math.isinf(found) else int(found)
    return margins


def _rows_by_item(results: pd.DataFrame) -> dict[tuple[int, str], dict[str, Mapping[str, Any]]]:
    by_item: dict[tuple[int, str], dict[str, Mapping[str, Any]]] = {}
    for record in results.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        by_item.setdefault((int(row["round"]), str(row["item"])), {})[str(row["criterion"])] = row
    return by_item


def _clause_list(expr: _Expr) -> list[Any]:
    if expr[0] == "clause":
        return [expr[1]]
    return [c for part in expr[1] for c in _clause_list(part)]


def _flip(key: tuple[int, str], clause: Any, stats: Stats) -> _Flip:
    held = bool(_part(clause, stats).held)
    if clause.stat is None:
        target = {"in": ("up",), "out": ("down",), "none": ("up", "down")}
        directions = () if held else target.get(str(clause.value), ("up", "down"))
    elif clause.stat in ("n", "n_missing", "margin"):
        directions = ()  # moving ratings cannot change these (or, for margin, not simply)
    elif clause.op in (">=", ">"):
        directions = ("down",) if held else ("up",)
    elif clause.op in ("<=", "<"):
        directions = ("up",) if held else ("down",)
    else:
        directions = ("up", "down")
    return _Flip(key, clause, held, directions)


# Statistics that only rise as ratings move up (and fall as they move down): a clause on
# one of them, or a percent/COMET verdict, flips once and stays flipped as k grows, so its
# cost is found by a galloping then a binary search instead of trying every k.
MONOTONE_STATS = frozenset({
    "median", "mean", "q1", "q3", "p30", "p70", "pct_low", "pct_mid", "pct_high",
    "count_low", "count_mid", "count_high",
})  # fmt: skip
Probe = tuple[_Flip, str, int]  # a clause, a direction, k ratings moved


def _flip_costs(
    flips: list[_Flip],
    rows: dict[tuple[int, str], dict[str, Mapping[str, Any]]],
    settings: Mapping[str, consensus.CriterionSettings],
) -> dict[tuple[tuple[int, str], int], float]:
    """Each clause's flip cost by (item key, id(clause)): the engine margin for a verdict
    that holds, else the smallest k found by moving k ratings."""
    costs: dict[tuple[tuple[int, str], int], float] = {}
    steady, other = [], []
    for flip in flips:
        row = rows[flip.key].get(flip.clause.criterion)
        if row is None:
            continue
        if flip.clause.stat is None and flip.held:
            margin = row.get("margin")
            costs[(flip.key, id(flip.clause))] = math.inf if margin is None else float(margin)
        elif _monotone(flip, settings):
            steady.append(flip)
        elif flip.directions:
            other.append(flip)
    costs.update(_search(steady, rows, settings))
    costs.update(_scan(other, rows, settings))
    return costs


def _monotone(flip: _Flip, settings: Mapping[str, consensus.CriterionSettings]) -> bool:
    if len(flip.directions) != 1:
        return False
    if flip.clause.stat is not None:
        return str(flip.clause.stat) in MONOTONE_STATS
    return settings[flip.clause.criterion].rule.kind in ("percent", "comet")


def _search(
    flips: list[_Flip],
    rows: dict[tuple[int, str], dict[str, Mapping[str, Any]]],
    settings: Mapping[str, consensus.CriterionSettings],
) -> dict[tuple[tuple[int, str], int], float]:
    """Galloping, then binary search, for all monotone clauses at once: k = 1, 2, 4, ...
    until the clause flips, then halving the interval; one engine call per step."""
    lo = {id(f): 0 for f in flips}  # known not to flip
    hi: dict[int, int | None] = {id(f): None for f in flips}  # known to flip
    size = {id(f): _n(rows[f.key][f.clause.criterion]) for f in flips}
    active = list(flips)
    while active:
        probes = []
        for f in active:
            top = hi[id(f)]
            k = min(max(2 * lo[id(f)], 1), size[id(f)]) if top is None else (lo[id(f)] + top) // 2
            probes.append((f, f.directions[0], k))
        for (f, _d, k), flipped in zip(probes, _try_moves(probes, rows, settings), strict=True):
            if flipped:
                hi[id(f)] = k
            else:
                lo[id(f)] = k
        active = [
            f for f in active
            if (hi[id(f)] is None and lo[id(f)] < size[id(f)])
            or (hi[id(f)] is not None and hi[id(f)] - lo[id(f)] > 1)  # type: ignore[operator]
        ]  # fmt: skip
    return {(f.key, id(f.clause)): float(hi[id(f)] or math.inf) for f in flips}


def _scan(
    flips: list[_Flip],
    rows: dict[tuple[int, str], dict[str, Mapping[str, Any]]],
    settings: Mapping[str, consensus.CriterionSettings],
) -> dict[tuple[tuple[int, str], int], float]:
    """Every k in growing batches (1-4, 5-20, ...) for clauses that may flip back."""
    costs: dict[tuple[tuple[int, str], int], float] = {}
    low, pending = 1, list(flips)
    while pending:
        high = low * 4 + 4
        probes = [
            (f, d, k)
            for f in pending
            for d in f.directions
            for k in range(low, min(high, _n(rows[f.key][f.clause.criterion])) + 1)
        ]
        for (f, _d, k), flipped in zip(probes, _try_moves(probes, rows, settings), strict=True):
            key = (f.key, id(f.clause))
            if flipped and k < costs.get(key, math.inf):
                costs[key] = k
        pending = [
            f for f in pending
            if (f.key, id(f.clause)) not in costs and high < _n(rows[f.key][f.clause.criterion])
        ]  # fmt: skip
        low = high + 1
    return costs


def _n(row: Mapping[str, Any]) -> int:
    return int(sum(row.get("counts") or []))


def _try_moves(
    probes: list[Probe],
    rows: dict[tuple[int, str], dict[str, Mapping[str, Any]]],
    settings: Mapping[str, consensus.CriterionSettings],
) -> list[bool]:
    """Whether each probe's clause flips once its k ratings have moved: the statistics of
    every probe recomputed by the engine in one call."""
    counts, criteria = [], []
    for flip, direction, k in probes:
        moved = _moved(list(rows[flip.key][flip.clause.criterion].get("counts") or []), k,
                       direction)  # fmt: skip
        counts.append(moved or [])
        criteria.append(flip.clause.criterion)
    if not probes:
        return []
    described = consensus.describe(_ratings_of(counts, criteria, settings), dict(settings))
    described = described.sort_values("item", kind="stable", ignore_index=True)
    present = described["item"].to_numpy()
    needed = {flip.clause.stat or "consensus" for flip, _d, _k in probes}
    columns = {name: dict(zip(present, described[name].to_numpy(), strict=True))
               for name in needed}  # fmt: skip
    flipped = []
    for index, (flip, _direction, _k) in enumerate(probes):
        if not counts[index]:  # fewer than k ratings could move
            flipped.append(False)
            continue
        actual = columns[flip.clause.stat or "consensus"][index]
        now = _holds(flip.clause.op, actual, flip.clause.value, flip.clause.stat)
        flipped.append(now != flip.held)
    return flipped


def _ratings_of(
    counts: list[list[int]],
    criteria: list[str],
    settings: Mapping[str, consensus.CriterionSettings],
) -> pd.DataFrame:
    """One ratings frame holding each count vector as an item of its own (item = index)."""
    lengths = np.array([sum(vector) for vector in counts])
    value = np.concatenate([
        np.repeat(np.arange(len(vector)) + settings[crit].scale.min, vector)
        for vector, crit in zip(counts, criteria, strict=True)
    ])  # fmt: skip
    return pd.DataFrame({
        "round": np.ones(len(value), dtype=np.int64),
        "panelist": np.arange(len(value)),
        "item": np.repeat(np.arange(len(counts)), lengths),
        "criterion": np.repeat(np.array(criteria, dtype=object), lengths),
        "value": value.astype(float),
    })  # fmt: skip


def _moved(counts: list[int], k: int, direction: str) -> list[int] | None:
    """``counts`` after the k lowest ratings move to the top (up) or the k highest to the
    bottom (down); None when fewer than k ratings can move."""
    moved = list(counts)
    points = range(len(moved)) if direction == "up" else range(len(moved) - 1, -1, -1)
    end = len(moved) - 1 if direction == "up" else 0
    left = k
    for point in points:
        if point == end or not left:
            break
        take = min(moved[point], left)
        moved[point] -= take
        moved[end] += take
        left -= take
    return None if left else moved


def _expr_cost(expr: _Expr, stats: Stats, clause_cost: Any) -> float:
    """The fewest rating changes that flip ``expr`` (see `decision_margins`)."""
    if expr[0] == "clause":
        return float(clause_cost(expr[1]))
    parts = expr[1]
    holds = [_holds_expr(part, stats) for part in parts]
    costs = [_expr_cost(part, stats, clause_cost) for part in parts]
    is_and = expr[0] == "and"
    if all(holds) if is_and else any(holds):
        # AND holds: break one part; OR holds: break every part that holds
        return min(costs) if is_and else sum(c for c, h in zip(costs, holds, strict=True) if h)
    # AND fails: mend every failed part; OR fails: mend one
    return sum(c for c, h in zip(costs, holds, strict=True) if not h) if is_and else min(costs)
