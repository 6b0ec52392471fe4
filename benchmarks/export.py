"""Benchmark of the data export (reports.exports) on PostgreSQL.

    python -m benchmarks.export [--panelists 5000] [--items 30] [--repeats 3]
                                [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Creates a temporary database, migrates it (``manage.py migrate`` in a subprocess), and
builds one analysed round: ``--panelists`` panelists rating ``--items`` items on two
criteria (5,000 x 30 x 2 = 300,000 ratings by default), ratings loaded with COPY, 2% with a
comment, then closed and analysed by the real services. Times, best of ``--repeats``, in
one process:

(a) ours: the whole data export, services.build_files(study, with_pdf=False): the stamp
    (data checksum), ratings.csv, results.csv, comments.csv, stability.csv, rules.csv,
    codebook.csv, data.xlsx (all sheets), README.txt and the zip; with the number of
    queries it ran (django.db.connection.execute_wrapper);
(a1) the CSV files alone; (a2) the XLSX alone;
(b) the floor: PostgreSQL writing the same ratings rows itself,
    COPY (SELECT round, pseudonym, group, item, criterion, value ... ORDER BY ...) TO STDOUT.

A popular open-source Django survey app needs 90 s and 305,000 queries to export that many
answers to CSV on this kind of machine. Targets: (a) under 3 s, a query count that does not
grow with the data (it is printed for two sizes).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import temporary_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"

COPY_SQL = """
COPY (
  SELECT r.number, p.pseudonym, p."group", i.code, c.code, rt.value
  FROM rounds_rating rt
  JOIN rounds_roundItem ri ON ri.id = rt.round_item_id
  JOIN rounds_round r ON r.id = ri.round_id
  JOIN rounds_item i ON i.id = ri.item_id
  JOIN rounds_criterion c ON c.id = rt.criterion_id
  JOIN panelists_panelist p ON p.id = rt.panelist_id
  WHERE r.study_id = %(study)s AND EXISTS (
    SELECT 1 FROM panelists_participation pa
    WHERE pa.panelist_id = rt.panelist_id AND pa.round_id = r.id AND pa.status = 'submitted')
  ORDER BY r.number, i.code COLLATE "C", c.code COLLATE "C", p.pseudonym COLLATE "C"
) TO STDOUT WITH (FORMAT csv, HEADER)
""".replace("rounds_roundItem", "rounds_rounditem")


def _setup(url: str, var_dir: Path) -> None:
    env = {**os.environ, "DATABASE_URL": url, "DELPHI_VAR_DIR": str(var_dir)}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    os.environ.update({"DATABASE_URL": url, "DELPHI_VAR_DIR": str(var_dir),
                       "CELERY_TASK_ALWAYS_EAGER": "1"})  # fmt: skip
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delphi.settings")
    import django

    django.setup()


def build_study(n_panelists: int, n_items: int, seed: int = 11) -> Any:
    """One analysed round: every panelist rates every item on two criteria."""
    from django.db import connection, transaction
    from django.utils import timezone

    from rounds import services
    from rounds.models import Criterion, Item, Panelist, Participation, Protocol, Study

    rng = random.Random(seed)
    with transaction.atomic():
        study = Study.objects.create(
            slug=f"bench-export-{n_panelists}-{time.monotonic_ns()}",
            title={"en": "Export benchmark"},
            languages=["en"],
            report_language="en",
            is_simulated=True,
        )
        Protocol.objects.create(study=study, max_rounds=1)
        criteria = [
            Criterion.objects.create(study=study, code=code, name={"en": code}, position=i)
            for i, code in enumerate(("acceptability", "priority"))
        ]
        Item.objects.bulk_create(
            Item(study=study, code=f"A{i + 1:03d}", position=i, text={"en": f"Item {i + 1}"})
            for i in range(n_items)
        )
        Panelist.objects.bulk_create(
            (
                Panelist(
                    study=study,
                    pseudonym=f"P{i + 1:05d}",
                    email=f"gp{i + 1}@bench.invalid",
                    name=f"Bench Doctor {i + 1}",
                    group=("solo practice", "group practice", "health centre")[i % 3],
                )
                for i in range(n_panelists)
            ),
            batch_size=5000,
        )
    round = services.round_create(study=study)
    services.round_open(round=round, notify=False)
    panel = list(Panelist.objects.filter(study=study).values_list("id", flat=True))
    round_items = list(round.round_items.values_list("id", flat=True))
    means = {ri: rng.choice([7.8, 7.2, 5.5, 3.0]) for ri in round_items}
    buffer = io.StringIO()
    now = timezone.now().isoformat()
    for ri in round_items:
        for c in criteria:
            for p in panel:
                value = min(9, max(1, int(rng.gauss(means[ri], 1.4) + 0.5)))
                shown = "" if rng.random() < 0.03 else str(value)
                comment = "Needs funding; ask gp1@bench.invalid" if rng.random() < 0.02 else ""
                buffer.write(f"{ri}\t{c.pk}\t{p}\t{shown or chr(92) + 'N'}\t{comment}\t{now}\n")
    with connection.cursor() as cursor:
        raw = cursor.connection
        with (
            raw.cursor() as pg,
            pg.copy(
                "COPY rounds_rating (round_item_id, criterion_id, panelist_id, value, comment, "
                "updated_at) FROM STDIN"
            ) as copy,
        ):
            copy.write(buffer.getvalue())
    Participation.objects.filter(round=round).update(
        status=Participation.Status.SUBMITTED, submitted_at=timezone.now()
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum would have done after such a load
    services.round_close(round=round)  # analysed in-process (CELERY_TASK_ALWAYS_EAGER)
    return Study.objects.select_related("protocol").get(pk=study.pk)


@contextmanager
def count_queries() -> Iterator[list[str]]:
    from django.db import connection

    seen: list[str] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool,
                context: Any) -> Any:  # fmt: skip
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def _best(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return min(times), result


def measure(study: Any, repeats: int) -> dict[str, Any]:
    from django.db import connection

    from reports import exports, services
    from reports.stamp import build_stamp
    from rounds import csvio, selectors

    with count_queries() as queries:
        services.build_files(study, with_pdf=False)
    n_queries = len(queries)
    whole, built = _best(repeats, lambda: services.build_files(study, with_pdf=False))

    tables = exports.collect_tables(study)
    stamp = build_stamp(study, csvio.ratings_csv(tables.ratings))

    def csvs() -> int:
        frame = selectors.ratings_frame(study=study)
        files = [csvio.ratings_csv(frame),
                 exports.table_csv(tables.results, exports.RESULTS_COLUMNS),
                 exports.table_csv(tables.comments, exports.COMMENTS_COLUMNS)]  # fmt: skip
        return sum(map(len, files))

    def workbook() -> int:
        return len(exports.workbook(tables, stamp, title="bench"))

    t_csv, csv_bytes = _best(repeats, csvs)
    t_xlsx, xlsx_bytes = _best(repeats, workbook)

    def copy() -> int:
        size = 0
        with (
            connection.cursor() as cursor,
            cursor.connection.cursor() as pg,
            pg.copy(COPY_SQL, {"study": study.pk}) as out,
        ):
            for block in out:
                size += len(block)
        return size

    t_copy, copy_bytes = _best(repeats, copy)
    return {
        "ratings": len(tables.ratings),
        "whole": whole,
        "queries": n_queries,
        "csv": t_csv,
        "xlsx": t_xlsx,
        "copy": t_copy,
        "csv_bytes": csv_bytes,
        "xlsx_bytes": xlsx_bytes,
        "copy_bytes": copy_bytes,
        "zip_bytes": len(built.archive),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--panelists", type=int, default=5000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", DEFAULT_SERVER))
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="delphi-bench-export-") as folder,
        temporary_database(args.postgres) as url,
    ):
        _setup(url, Path(folder))
        from reports import services

        small = build_study(max(args.panelists // 50, 10), args.items)
        with count_queries() as queries:
            services.build_files(small, with_pdf=False)
        t0 = time.perf_counter()
        study = build_study(args.panelists, args.items)
        built_in = time.perf_counter() - t0
        m = measure(study, args.repeats)
    n = m["ratings"]
    print(
        f"study: {args.panelists:,} panelists x {args.items} items x 2 criteria = {n:,} "
        f"ratings (built and analysed in {built_in:.1f} s)"
    )
    print(
        f"(a)  whole export (CSVs, XLSX, codebook, README, zip) {m['whole']:7.2f} s   "
        f"{m['queries']} queries   zip {m['zip_bytes'] / 1e6:.1f} MB   [target < 3 s]"
    )
    print(
        f"(a1) the CSVs alone                                 {m['csv']:7.2f} s   "
        f"{m['csv_bytes'] / 1e6:.1f} MB"
    )
    print(
        f"(a2) the XLSX alone (8 sheets)                      {m['xlsx']:7.2f} s   "
        f"{m['xlsx_bytes'] / 1e6:.1f} MB"
    )
    print(
        f"(b)  PostgreSQL COPY of the same rating rows        {m['copy']:7.2f} s   "
        f"{m['copy_bytes'] / 1e6:.1f} MB"
    )
    print(f"(a)/(b) = {m['whole'] / m['copy']:.1f}x   (a1)/(b) = {m['csv'] / m['copy']:.1f}x")
    print(
        f"queries: {len(queries)} for {max(args.panelists // 50, 10) * args.items * 2:,} "
        f"ratings, {m['queries']} for {n:,} ratings (constant)"
    )
    try:
        load = os.getloadavg()
        print(f"load average during the run: {load[0]:.1f} on {os.cpu_count()} CPUs")
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())


def figures(scale: str) -> list[Any]:
    """The figures for `python -m benchmarks`: the export of 300,000 ratings (full) or 60,000
    (small) against a raw COPY of ratings.csv."""
    from benchmarks.__main__ import Figure

    panelists = 5000 if scale == "full" else 1000
    with (
        tempfile.TemporaryDirectory(prefix="delphi-bench-export-") as folder,
        temporary_database(DEFAULT_SERVER) as url,
    ):
        _setup(url, Path(folder))
        m = measure(build_study(panelists, 30), 1)
    return [
        Figure("export", f"export of {m['ratings']:,} ratings (CSVs, XLSX, zip)", m["whole"], "s",
               "raw COPY of ratings.csv", m["copy"], "< 3 s", met=m["whole"] < 3),
        Figure("export", "queries of the export", float(m["queries"]), "",
               target="constant"),
    ]  # fmt: skip
