"""Item decisions across criteria (METHODS §3): one decision per item from a rule over the
verdicts and statistics of its criteria, e.g. ``acceptability = in AND priority.median >= 7``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from rounds.consensus.counting import Bools, Floats, Ints, codes_of
from rounds.consensus.settings import TOLERANCE

NUMERIC_STATS = frozenset({
    "n", "n_missing", "mean", "sd", "median", "q1", "q3", "iqr", "p30", "p70", "ipr",
    "iprcp", "ai", "ipras", "di", "pct_low", "pct_mid", "pct_high", "count_low",
    "count_mid", "count_high", "margin",
})  # fmt: skip
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<op>>=|<=|==|!=|=|>|<)|(?P<paren>[()])"
    r"|(?P<word>[A-Za-z_][\w-]*)|(?P<dot>\.))"
)


@dataclass(frozen=True)
class _Clause:
    criterion: str
    stat: str | None  # None: compare the verdict
    op: str
    value: float | str

    def evaluate(self, table: dict[tuple[str, str], Any]) -> Bools:
        values = table[(self.criterion, self.stat or "consensus")]
        if self.stat is None:
            result = values == self.value
        else:
            with np.errstate(invalid="ignore"):
                result = _COMPARE[self.op](values.astype(float), float(self.value))
        return np.asarray(result, dtype=bool)


_COMPARE: dict[str, Callable[[Floats, float], Bools]] = {
    ">=": lambda a, b: a >= b - TOLERANCE,
    "<=": lambda a, b: a <= b + TOLERANCE,
    ">": lambda a, b: a > b + TOLERANCE,
    "<": lambda a, b: a < b - TOLERANCE,
    "=": lambda a, b: np.abs(a - b) <= TOLERANCE,
}
_Expr = tuple[str, Any]  # ("clause", _Clause) | ("and"/"or", list[_Expr])


class _Parser:
    """Recursive descent: expr := term (OR term)*; term := atom (AND atom)*;
    atom := '(' expr ')' | criterion '=' in|out|none | criterion '.' stat op number."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                pos += len(text[pos:]) - len(text[pos:].lstrip())
                raise ValueError(f"unexpected character {text[pos]!r} at position {pos + 1}")
            kind = cast(str, match.lastgroup)
            start = match.start(kind)
            self.tokens.append((kind, match.group(kind), start + 1))
            pos = match.end()
        self.i = 0

    def parse(self) -> _Expr:
        if not self.tokens:
            raise ValueError("the rule is empty")
        expr = self.expr()
        if self.i < len(self.tokens):
            self.fail("expected AND, OR or the end of the rule")
        return expr

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, expected: str) -> None:
        token = self.peek()
        if token is None:
            raise ValueError(f"{expected}, but the rule ends")
        raise ValueError(f"{expected}, found {token[1]!r} at position {token[2]}")

    def take(self, kind: str, expected: str) -> str:
        token = self.peek()
        if token is None or token[0] != kind:
            self.fail(expected)
        self.i += 1
        return cast(tuple[str, str, int], token)[1]

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.i += 1
            return True
        return False

    def expr(self) -> _Expr:
        terms = [self.term()]
        while self.keyword("or"):
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def term(self) -> _Expr:
        atoms = [self.atom()]
        while self.keyword("and"):
            atoms.append(self.atom())
        return atoms[0] if len(atoms) == 1 else ("and", atoms)

    def atom(self) -> _Expr:
        token = self.peek()
        if token and token[0] == "paren" and token[1] == "(":
            self.i += 1
            inner = self.expr()
            self.take("paren", "expected ')'")
            return inner
        criterion = self.take("word", "expected a criterion code")
        if self.peek() and cast(tuple[str, str, int], self.peek())[0] == "dot":
            self.i += 1
            return ("clause", self.stat_clause(criterion))
        op = self.take("op", "expected '=' or '.'")
        if op not in ("=", "=="):
            self.i -= 1
            self.fail("expected '=' before in/out/none")
        verdict = self.take("word", "expected in, out or none").lower()
        if verdict not in ("in", "out", "none"):
            self.i -= 1
            self.fail("expected in, out or none")
        return ("clause", _Clause(criterion, None, "=", verdict))

    def stat_clause(self, criterion: str) -> _Clause:
        stat = self.take("word", "expected a statistic such as median or pct_high").lower()
        if stat not in NUMERIC_STATS:
            self.i -= 1
            self.fail(f"expected one of {', '.join(sorted(NUMERIC_STATS))}")
        op = self.take("op", "expected >=, <=, >, < or =")
        op = "=" if op == "==" else op
        if op not in _COMPARE:
            self.i -= 1
            self.fail("expected >=, <=, >, < or =")
        number = self.take("num", "expected a number")
        return _Clause(criterion, stat, op, float(number))


def _parse_expression(text: str | None, which: str) -> _Expr | None:
    if text is None or not text.strip():
        return None
    try:
        return _Parser(text).parse()
    except ValueError as exc:
        raise ValueError(f"{which} rule {text!r}: {exc}") from None


def _clauses(expr: _Expr) -> Iterator[_Clause]:
    if expr[0] == "clause":
        yield expr[1]
    else:
        for part in expr[1]:
            yield from _clauses(part)


@dataclass(frozen=True)
class DecisionRule:
    """How an item's criteria verdicts become one decision (METHODS §3, item decisions).

    An item is ``accepted`` when the accept expression holds (default: every criterion
    rated for it is ``in``), otherwise ``rejected`` when the reject expression holds
    (default: any criterion is ``out``), otherwise ``carried`` to the next round.
    Expressions: clauses ``<criterion> = in|out|none`` or ``<criterion>.<stat> <op> <number>``
    (op one of >=, <=, >, <, =; stat a numeric results column) joined by AND / OR, AND
    binding tighter, parentheses allowed, keywords case-insensitive.
    """

    accept: str | None = None
    reject: str | None = None
    _accept: _Expr | None = field(init=False, repr=False, compare=False, default=None)
    _reject: _Expr | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_accept", _parse_expression(self.accept, "accept"))
        object.__setattr__(self, "_reject", _parse_expression(self.reject, "reject"))

    @classmethod
    def parse(cls, accept: str | None = None, reject: str | None = None) -> DecisionRule:
        """Validate both expressions; ValueError names the bad token and its position."""
        return cls(accept or None, reject or None)


def decide_items(results: pd.DataFrame, rule: DecisionRule | None = None) -> pd.DataFrame:
    """round, item, decision (accepted / rejected / carried) per item of ``describe``'s
    results; see ``DecisionRule`` for the order in which the expressions are tried."""
    rule = rule or DecisionRule()
    item_codes, items, categorical = codes_of(results["item"], "item")
    rounds = results["round"].to_numpy(dtype=np.int64)
    key = rounds * (len(items) + 1) + item_codes
    uniq, first, row = np.unique(key, return_index=True, return_inverse=True)
    consensus = results["consensus"].to_numpy(dtype=object)
    if rule._accept is None:
        accepted = np.bincount(row, consensus != "in", len(uniq)) == 0
    else:
        accepted = _evaluate(rule._accept, results, row, len(uniq))
    if rule._reject is None:
        rejected = np.bincount(row, consensus == "out", len(uniq)) > 0
    else:
        rejected = _evaluate(rule._reject, results, row, len(uniq))
    decision = np.where(accepted, "accepted", np.where(rejected, "rejected", "carried"))
    item = items.take(item_codes[first])
    return pd.DataFrame({
        "round": rounds[first],
        "item": pd.Categorical(item, dtype=results["item"].dtype)  # type: ignore[call-overload]
        if categorical
        else item,
        "decision": decision.astype(object),
    }, copy=False)  # fmt: skip


def _evaluate(expr: _Expr, results: pd.DataFrame, row: Ints, size: int) -> Bools:
    criteria = results["criterion"].astype(str).to_numpy()
    known = set(criteria)
    table: dict[tuple[str, str], Any] = {}
    for clause in _clauses(expr):
        if clause.criterion not in known:
            raise ValueError(
                f"the decision rule names criterion {clause.criterion!r}, which has no "
                f"results; criteria: {', '.join(sorted(known))}"
            )
        stat = clause.stat or "consensus"
        cell = np.full(
            size, np.nan if clause.stat else None, dtype=float if clause.stat else object
        )
        mask = criteria == clause.criterion
        column = results[stat].to_numpy(dtype=float if clause.stat else object, na_value=np.nan)
        cell[row[mask]] = column[mask]
        table[(clause.criterion, stat)] = cell
    return _apply(expr, table)


def _apply(expr: _Expr, table: dict[tuple[str, str], Any]) -> Bools:
    if expr[0] == "clause":
        return cast(_Clause, expr[1]).evaluate(table)
    parts = [_apply(part, table) for part in expr[1]]
    combine = np.logical_and if expr[0] == "and" else np.logical_or
    return np.asarray(combine.reduce(parts), dtype=bool)
