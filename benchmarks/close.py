"""Benchmark: closing a round of 1,000,000 ratings, until its analysis is stored.

    python -m benchmarks.close [--ratings 1000000] [--repeats 3]

A fresh PostgreSQL database holds one study: 2,500 panelists x 200 items x 2 criteria, every
panelist submitted (loaded with COPY). Then, in this process, as a worker does it:

- ours: `round_close` and the analysis job (read the counted ratings, the data checksum,
  the engine, storing results and decisions), until the round is analysed; the first run
  closes the round, the next ones analyse it again (a forced re-analysis, the same work);
- the parts: reading the ratings into a DataFrame, the checksum, the engine alone;
- the floor: the server reading the same rows, `COPY (the same SELECT) TO '/dev/null'`.

Prints the best of the repeats and the ratio to the floor (target: at most 2).
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, a superuser: COPY to a server file).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import setup_django, temporary_database

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
N_ITEMS = 200


def build(n_ratings: int, seed: int = 3) -> Any:
    """A study with round 1 open and every rating in place, loaded with COPY."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from rounds import services
    from rounds.models import Criterion, Item, Panelist, Participation, Protocol, Rating, Study

    n_panelists = max(2, n_ratings // (N_ITEMS * 2))
    study = Study.objects.create(slug="bench-close", title={"en": "Close benchmark"})
    Protocol.objects.create(study=study)
    criteria = [
        Criterion.objects.create(study=study, code=code, name={"en": code}, position=i)
        for i, code in enumerate(("acceptability", "priority"))
    ]
    Item.objects.bulk_create(
        Item(study=study, code=f"I{i:03d}", position=i, text={"en": f"Item {i}"})
        for i in range(N_ITEMS)
    )
    Panelist.objects.bulk_create(
        (Panelist(study=study, pseudonym=f"P{i + 1:05d}", email=f"p{i}@example.org",
                  group=("solo", "group")[i % 2]) for i in range(n_panelists)),
        batch_size=5000,
    )  # fmt: skip
    round = services.round_create(study=study)
    round.closes_at = timezone.now() + timedelta(days=1)
    round.save(update_fields=["closes_at"])
    services.round_open(round=round, notify=False)
    rng = np.random.default_rng(seed)
    panel = list(study.panelists.values_list("pk", flat=True))
    items = list(round.round_items.values_list("pk", flat=True))
    modes = rng.integers(1, 10, size=(len(items), 2))
    buffer = io.StringIO()
    for i, ri in enumerate(items):
        for c, criterion in enumerate(criteria):
            values = np.clip(modes[i, c] + rng.integers(-2, 3, size=len(panel)), 1, 9)
            missing = rng.random(len(panel)) < 0.05
            for pk, value, dk in zip(panel, values, missing, strict=True):
                shown = "\\N" if dk else str(int(value))
                buffer.write(f"{ri}\t{criterion.pk}\t{pk}\t{shown}\t\t2026-01-01 00:00:00+00\n")
    buffer.seek(0)
    table = Rating._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        columns = "(round_item_id, criterion_id, panelist_id, value, comment, updated_at)"
        with cursor.cursor.copy(f"COPY {table} {columns} FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        Participation.objects.filter(round=round).update(status=Participation.Status.SUBMITTED)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    return round


def best(repeats: int, run: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(round: Any, repeats: int) -> dict[str, float]:
    from django.db import connection

    from rounds import consensus, selectors, services

    study = round.study
    qs = selectors.counted_rows(study=study, rounds=[round.number])
    sql, params = qs.query.sql_with_params()

    def floor() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"COPY ({sql}) TO '/dev/null'", params)

    first = [True]

    def close_and_analyse() -> None:
        if first[0]:
            first[0] = False
            services.round_close(round=round)
            job = round.analysis_jobs.get()
        else:
            job = services.analysis_request(round=round, force=True)
        services.analysis_run(job_id=job.pk)
        round.refresh_from_db()
        assert round.state == "analysed"

    frame = selectors.ratings_frame(study=study, rounds=[round.number])
    settings = selectors.criterion_settings(study)
    rule = study.protocol.decision_rule()
    figures = {
        "ratings": float(len(frame)),
        "floor_copy_s": best(repeats, floor),
        "read_frame_s": best(repeats, lambda: selectors.ratings_frame(study=study, rounds=[1])),
        "checksum_s": best(repeats, lambda: selectors.data_checksum(frame)),
        "engine_s": best(repeats, lambda: consensus.analyse(frame, settings, rule)),
        "close_to_stored_s": best(repeats, close_and_analyse),
    }
    figures["ratio"] = figures["close_to_stored_s"] / figures["floor_copy_s"]
    return figures


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as var, temporary_database(SERVER) as url:
        setup_django(url, Path(var), eager=False)  # the analysis runs here, as in a worker
        figures = measure(build(args.ratings), args.repeats)
    for name, value in figures.items():
        print(f"{name:<24}{value:>12.3f}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()


SCALES = {"small": 200_000, "full": 1_000_000}


def figures(scale: str) -> list[Any]:
    """The figures for `python -m benchmarks`."""
    from benchmarks.__main__ import Figure

    with tempfile.TemporaryDirectory() as var, temporary_database(SERVER) as url:
        setup_django(url, Path(var), eager=False)
        found = measure(build(SCALES[scale]), repeats=1)
    floor, name = found["floor_copy_s"], "COPY (same SELECT) TO '/dev/null'"
    n = f"{int(found['ratings']):,} ratings"
    return [
        Figure("close", f"close a round of {n} until stored", found["close_to_stored_s"], "s",
               name, floor, "<= 2x"),
        Figure("close", "  of which: ratings into a DataFrame", found["read_frame_s"], "s",
               name, floor),
        Figure("close", "  of which: data checksum", found["checksum_s"], "s"),
        Figure("close", "  of which: the engine (analyse)", found["engine_s"], "s"),
    ]  # fmt: skip
