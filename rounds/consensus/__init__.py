"""The consensus engine: the one implementation of the platform's statistical methods.

Pure on purpose (stdlib, numpy, pandas; no Django): the web app, the CLI, the PDF and the
exports all call it, and ``tests/rounds/test_consensus_purity.py`` keeps every module of
this package that way. One module per part of the methods:

- ``settings``: scales and their bands, consensus rules, quantile types;
- ``counting``: ratings reduced to one count vector per (round, item, criterion);
- ``quantiles``: Hyndman-Fan percentiles of count vectors;
- ``describe``: descriptive statistics, one results row per (round, item, criterion);
- ``rules``: the consensus verdicts (percent, COMET, RAND/UCLA, IQR);
- ``decisions``: item decisions across criteria and their rule language;
- ``between``: percent change, Wilcoxon, McNemar (Holm-adjusted too) and CV between
  consecutive rounds;
- ``kendall``: Kendall's W of agreement on the order of the items, per round;
- ``margins``: the consensus margin, with ``margin_search`` for the median-based rules;
- ``analyse``: everything at once, and every rule side by side.
"""

from __future__ import annotations

from rounds.consensus.analyse import Analysis, analyse, consensus_under_all_rules
from rounds.consensus.between import STABILITY_COLUMNS, compare_rounds
from rounds.consensus.decisions import NUMERIC_STATS, DecisionRule, decide_items
from rounds.consensus.describe import EXTRA_COLUMNS, KEY_COLUMNS, RESULTS_COLUMNS, describe
from rounds.consensus.kendall import KENDALL_COLUMNS, kendalls_w

# Verdict codes and margins of raw count vectors: the brute-force margin tests compare
# against them directly, below the DataFrame layer.
from rounds.consensus.margins import margins as _margins  # noqa: F401
from rounds.consensus.rules import verdicts as _verdicts  # noqa: F401
from rounds.consensus.settings import (
    ALL_RULES,
    QUANTILE_TYPES,
    TOLERANCE,
    CriterionSettings,
    Rule,
    RuleKind,
    Scale,
    SettingsArg,
)

__all__ = [
    "ALL_RULES",
    "EXTRA_COLUMNS",
    "KENDALL_COLUMNS",
    "KEY_COLUMNS",
    "NUMERIC_STATS",
    "QUANTILE_TYPES",
    "RESULTS_COLUMNS",
    "STABILITY_COLUMNS",
    "TOLERANCE",
    "Analysis",
    "CriterionSettings",
    "DecisionRule",
    "Rule",
    "RuleKind",
    "Scale",
    "SettingsArg",
    "analyse",
    "compare_rounds",
    "consensus_under_all_rules",
    "decide_items",
    "describe",
    "kendalls_w",
]
