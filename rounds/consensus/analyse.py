"""The whole analysis of a study's ratings (METHODS §2-5), and the same ratings under every
rule side by side (the alternative rules of §5).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from rounds.consensus.between import STABILITY_COLUMNS, compare_columns
from rounds.consensus.counting import Bools, Counted, Ints, count_ratings
from rounds.consensus.decisions import DecisionRule, decide_items
from rounds.consensus.describe import describe_counted, keep_none
from rounds.consensus.kendall import kendall
from rounds.consensus.margin_search import Sorted
from rounds.consensus.margins import margins
from rounds.consensus.rules import LABELS, verdicts
from rounds.consensus.settings import ALL_RULES, CriterionSettings, SettingsArg


@dataclass(frozen=True)
class Analysis:
    results: pd.DataFrame
    decisions: pd.DataFrame
    all_rules: pd.DataFrame
    stability: pd.DataFrame
    kendall: pd.DataFrame


def analyse(
    ratings: pd.DataFrame,
    settings: SettingsArg,
    decision_rule: DecisionRule | None = None,
    stable_below: float = 15.0,
) -> Analysis:
    """Everything the platform shows for a study's ratings: §2-3 results with margins,
    item decisions, the §5 alternative rules, §4 stability for each consecutive pair of
    rounds present (with prev_round and round columns) and Kendall's W."""
    counted = count_ratings(ratings, settings, panels=True)
    results = describe_counted(counted)
    rounds = sorted(set(counted.rounds.tolist()))
    columns = ["prev_round", "round", *STABILITY_COLUMNS]
    stability = [
        pd.DataFrame({"prev_round": prev, "round": cur, **compared}, columns=columns)
        for prev, cur in itertools.pairwise(rounds)
        for compared in [compare_columns(counted, prev, cur, stable_below)]
    ]
    if len(stability) > 1:
        stability = [pd.concat(stability, ignore_index=True)]
    return Analysis(
        results=results,
        decisions=decide_items(results, decision_rule),
        all_rules=all_rules_counted(counted),
        stability=stability[0] if stability else pd.DataFrame(columns=columns),
        kendall=kendall(counted),
    )


def consensus_under_all_rules(ratings: pd.DataFrame, settings: SettingsArg) -> pd.DataFrame:
    """The verdict and margin of every rule in ``ALL_RULES`` side by side (METHODS §5).

    Columns: round, item, criterion, then per rule ``<label>`` (in/out/none) and
    ``<label>_margin``. A rule that cannot apply to a criterion's scale (RAND off the 1-9
    scale, IQR without a default k) gives None. Scale and quantile type stay the study's.
    """
    return all_rules_counted(count_ratings(ratings, settings))


def all_rules_counted(counted: Counted) -> pd.DataFrame:
    n_groups = len(counted.counts)
    columns: dict[str, Any] = {
        "round": counted.rounds,
        "item": counted.item_column(counted.item_codes),
        "criterion": counted.criterion_column(counted.crit_codes),
    }
    verdicts_of: dict[str, npt.NDArray[np.object_]] = {}
    margins_of: dict[str, Ints] = {}
    for rule in ALL_RULES:
        verdicts_of[rule.label] = np.full(n_groups, None, dtype=object)
        margins_of[rule.label] = np.full(n_groups, -1, dtype=np.int64)
    for rows, settings in _settings_blocks(counted):
        counts = counted.block(rows, settings.scale)
        ordered = None  # the sorted ratings, built once for the median-based rules
        for rule in ALL_RULES:
            try:
                applied = CriterionSettings(settings.scale, rule, settings.quantile)
            except ValueError:
                continue  # the rule does not apply to this scale
            if ordered is None and rule.kind in ("rand", "iqr"):
                ordered = Sorted.of(counts, settings.scale.min)
            code = verdicts(counts, applied, rule)
            verdicts_of[rule.label][rows] = LABELS[code + 1]
            margins_of[rule.label][rows] = margins(counts, applied, rule, code, ordered)
    for rule in ALL_RULES:
        margin = margins_of[rule.label]
        columns[rule.label] = keep_none(verdicts_of[rule.label])
        columns[f"{rule.label}_margin"] = pd.arrays.IntegerArray(np.maximum(margin, 0),
                                                                 margin < 0)  # fmt: skip
    return pd.DataFrame(columns, copy=False)


def _settings_blocks(counted: Counted) -> Iterator[tuple[Bools | slice, CriterionSettings]]:
    """The groups of each distinct criterion settings (all of them when there is one)."""
    distinct = dict.fromkeys(counted.settings)
    for settings in distinct:
        if len(distinct) == 1:
            yield slice(None), settings
            continue
        codes = [c for c, s in enumerate(counted.settings) if s == settings]
        yield np.isin(counted.crit_codes, codes), settings
