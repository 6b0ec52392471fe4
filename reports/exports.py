"""The public files of METHODS.md §6, written from the database."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rounds import csvio, selectors
from rounds.models import Result, Study


def results_frame(study: Study) -> pd.DataFrame:
    """Stored results of every analysed round, as `results.csv` columns; one query."""
    stats = Result.objects.filter(round__study=study).values_list("stats", flat=True)
    frame = pd.DataFrame.from_records(list(stats), columns=list(csvio.RESULTS_COLUMNS))
    return frame.sort_values(["round", "item", "criterion"], ignore_index=True)


def write_ratings_csv(study: Study, path: Path) -> None:
    csvio.write_ratings_csv(selectors.ratings_frame(study=study), path)


def write_results_csv(study: Study, path: Path) -> None:
    csvio.write_results_csv(results_frame(study), path)
