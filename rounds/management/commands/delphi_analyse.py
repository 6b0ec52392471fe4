from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rounds import consensus, csvio


class Command(BaseCommand):
    help = (
        "Analyse a ratings.csv (round,panelist,group,item,criterion,value; value empty for "
        "don't know) as METHODS.md §6 describes, outside the web app. Writes into DIR: "
        "results.csv (one row per round, item and criterion: the §6 columns, then the "
        "consensus margin), decisions.csv (round,item,decision: accepted/rejected/carried), "
        "stability.csv (§4 between consecutive rounds: percent change, Wilcoxon and McNemar "
        "p-values, each also Holm-adjusted over the items of a criterion, coefficient of "
        "variation) and kendall.csv (Kendall's W per round and criterion, with m, the "
        "panelists who rated every item, n_items and n_panelists). Bad input writes nothing "
        "and exits non-zero, naming the lines to fix."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ratings", type=Path, help="the ratings.csv to analyse")
        parser.add_argument("--out", required=True, type=Path, help="folder for the results")
        parser.add_argument(
            "--scale", default="1-9", help="1-9, 1-7, 1-5 or e.g. 0-10:0-3,4-6,7-10"
        )
        parser.add_argument(
            "--rule",
            default="percent:75",
            help="percent:T (T above 50, decimals allowed: 66.7), comet, rand, rand:half, iqr or "
            "iqr:K; results.csv writes it in full (iqr:2, percent:75)",
        )
        parser.add_argument("--quantile", default="7", help="Hyndman-Fan type: 5, 6, 7 or 8")
        parser.add_argument(
            "--decision",
            default=None,
            help="accept rule, e.g. 'acceptability = in AND priority.median >= 7' "
            "(default: every criterion in)",
        )
        parser.add_argument(
            "--reject", default=None, help="reject rule (default: any criterion out)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        settings, decision = _settings(options)
        try:
            ratings = csvio.read_ratings_csv(options["ratings"], settings.scale)
        except FileNotFoundError:
            raise CommandError(f"{options['ratings']}: no such file") from None
        except csvio.RatingsFileError as exc:
            raise CommandError(f"{options['ratings']}: {exc}") from None
        try:
            analysis = consensus.analyse(ratings, settings, decision)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        _write(options["out"], analysis)
        self.stdout.write(
            f"{len(analysis.results)} results, {len(analysis.decisions)} item decisions "
            f"written to {options['out']}"
        )


def _settings(
    options: dict[str, Any],
) -> tuple[consensus.CriterionSettings, consensus.DecisionRule]:
    try:
        scale = consensus.Scale.parse(options["scale"])
        rule = consensus.Rule.parse(options["rule"])
        quantile = _quantile(options["quantile"])
        settings = consensus.CriterionSettings(scale=scale, rule=rule, quantile=quantile)
        decision = consensus.DecisionRule.parse(options["decision"], options["reject"])
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return settings, decision


def _quantile(text: str) -> int:
    if text.strip() not in {"5", "6", "7", "8"}:
        raise ValueError(f"unknown quantile type {text!r}; choose 5, 6, 7 or 8")
    return int(text)


def _write(out: Path, analysis: consensus.Analysis) -> None:
    """Create the folder only now that every number is computed; each file is atomic."""
    out.mkdir(parents=True, exist_ok=True)
    csvio.write_results_csv(analysis.results, out / "results.csv")
    csvio.write_csv(analysis.decisions, out / "decisions.csv", ["round", "item", "decision"])
    csvio.write_csv(analysis.stability, out / "stability.csv", list(analysis.stability.columns))
    csvio.write_csv(analysis.kendall, out / "kendall.csv", list(analysis.kendall.columns))
