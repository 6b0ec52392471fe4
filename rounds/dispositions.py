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
