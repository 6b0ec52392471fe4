"""Benchmark of the report PDF (reports.pdf.render_report_pdf).

    python -m benchmarks.report [--sheets 30 200] [--workers 1 2] [--items-per-sheet 2]
                                [--panel 40] [--repeats 1]

For each size, builds a synthetic finished study in a temporary SQLite database (bulk
inserts, then the real round services: two rounds, analysed in-process): N recommendation
sheets, each resting on ``--items-per-sheet`` items, a panel of ``--panel`` members rating
every item on acceptability and priority, one in ten ratings with a comment. Then times,
in one process, best of ``--repeats``:

(a) ours, for each number of layout workers in ``--workers``: render_report_pdf(study),
    the queries, the context, the template, WeasyPrint (one process, or the report laid
    out in parts by that many worker processes and assembled, see reports.parts);
(b) direct: WeasyPrint alone on the very HTML of the one-process report, with the same
    stylesheet and the same PDF/UA options: HTML(string=html).render(...).write_pdf(...);
(c) our part alone: report_html(study), the queries, the context and the template.

Target: 200 sheets under 20 s. Wall-clock and CPU time (of this process and the layout
workers) are both printed; on a shared machine the wall-clock figures move with the load,
printed at the end, and the CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _setup(folder: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["DELPHI_VAR_DIR"] = str(folder)
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delphi.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_study(n_sheets: int, items_per_sheet: int, panel: int, seed: int = 7) -> Any:
    """A finished two-round study with ``n_sheets`` recommendations; returns the Study."""
    from django.db import transaction

    from reports.models import Recommendation, RecommendationItem
    from rounds import services
    from rounds.models import Criterion, Item, Panelist, Protocol, Study

    rng = random.Random(seed)
    n_items = n_sheets * items_per_sheet
    with transaction.atomic():
        study = Study.objects.create(
            slug=f"bench-{n_sheets}-{time.monotonic_ns()}",
            title={"en": f"Benchmark study with {n_sheets} recommendations"},
            description={"en": "Synthetic data for the report benchmark."},
            languages=["en"],
            report_language="en",
            is_simulated=True,
        )
        Protocol.objects.create(study=study, max_rounds=2)
        for position, code in enumerate(("acceptability", "priority")):
            Criterion.objects.create(
                study=study, code=code, name={"en": code.title()}, position=position
            )
        Item.objects.bulk_create(
            Item(
                study=study,
                code=f"A{i + 1:03d}",
                position=i,
                domain={"en": f"Domain {i % 7 + 1}"},
                text={"en": f"Synthetic action item number {i + 1}, worded as a GP would read it"},
            )
            for i in range(n_items)
        )
        Panelist.objects.bulk_create(
            Panelist(
                study=study,
                pseudonym=f"P{i + 1:03d}",
                email=f"p{i + 1}@bench.invalid",
                name=f"Bench Panelist {i + 1}",
                group="solo practice" if i % 2 else "group practice",
            )
            for i in range(panel)
        )
    profile = {code: rng.choice([8.0, 8.0, 7.5, 5.5, 2.5]) for code in range(n_items)}
    for number in (1, 2):
        round = study.rounds.filter(number=number).first() or services.round_create(study=study)
        services.round_open(round=round, notify=False)
        _rate(round, profile, rng, dropouts=panel // 10 if number == 2 else 0)
        services.round_close(round=round)  # analysed eagerly (CELERY_TASK_ALWAYS_EAGER)
        study.refresh_from_db()
        if study.status == Study.Status.FINISHED:
            break
    items = list(study.items.order_by("position"))
    recs = Recommendation.objects.bulk_create(
        Recommendation(
            study=study,
            position=i + 1,
            title=f"Recommendation {i + 1}: organise support for general practitioners",
            text=_TEXT,
            actors=["individual", "health_system"] if i % 2 else ["practice_training"],
            implementation_notes=_NOTES,
        )
        for i in range(n_sheets)
    )
    RecommendationItem.objects.bulk_create(
        RecommendationItem(recommendation=rec, item=items[i * items_per_sheet + j], position=j)
        for i, rec in enumerate(recs)
        for j in range(items_per_sheet)
    )
    return Study.objects.select_related("protocol").get(pk=study.pk)


def _rate(round: Any, profile: dict[int, float], rng: random.Random, dropouts: int) -> None:
    from django.utils import timezone

    from rounds.models import Participation, Rating

    panel = list(round.study.panelists.order_by("pseudonym"))[dropouts:]
    criteria = list(round.study.criteria.all())
    ratings = []
    for ri in round.round_items.select_related("item"):
        for criterion in criteria:
            mu = profile[ri.item.position] - (0.5 if criterion.code == "priority" else 0)
            for p in panel:
                value = min(9, max(1, round_half(rng.gauss(mu, 1.3))))
                comment = _COMMENT if rng.random() < 0.1 else ""
                ratings.append(
                    Rating(
                        round_item=ri, criterion=criterion, panelist=p, value=value, comment=comment
                    )
                )
    Rating.objects.bulk_create(ratings, batch_size=5000)
    now = timezone.now()
    Participation.objects.filter(round=round, panelist__in=panel).update(
        status=Participation.Status.SUBMITTED, submitted_at=now
    )


def round_half(x: float) -> int:
    return int(x + 0.5)


_TEXT = """General practitioners should be able to **reach help early**, before exhaustion
sets in. The panel agreed that the first step must be easy to take and confidential.

- a single point of contact, open around the clock;
- follow-up by a professional trained in the care of physicians.

Professional bodies and insurers share the cost; see the implementation notes."""
_NOTES = "Pilot in two provinces for 18 months, then evaluate uptake and return to work."
_COMMENT = "Useful, but only if it stays confidential; contact me at someone@example.org."


def _cpu() -> float:
    """CPU seconds of this process and of the layout workers it has waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(
    n_sheets: int, items_per_sheet: int, panel: int, repeats: int, workers: list[int]
) -> dict[str, Any]:
    """Best wall-clock and CPU seconds of (a) ours per worker count, (b) WeasyPrint alone."""
    from django.test import override_settings
    from weasyprint import HTML

    from reports.pdf import PDF_OPTIONS, _fetcher, render_report_pdf, report_html, stylesheet

    t0 = time.perf_counter()
    study = build_study(n_sheets, items_per_sheet, panel)
    build = time.perf_counter() - t0
    stylesheet()  # parsed once per process, as in a worker; not part of either timing
    ours: dict[int, list[tuple[float, float]]] = {w: [] for w in workers}
    direct: list[tuple[float, float]] = []
    pages = 0
    for _ in range(repeats):
        for count in workers:
            with override_settings(DELPHI_REPORT_WORKERS=count):
                wall, cpu = time.perf_counter(), _cpu()
                render_report_pdf(study)
                ours[count].append((time.perf_counter() - wall, _cpu() - cpu))
        html = report_html(study)
        wall, cpu = time.perf_counter(), time.process_time()
        document = HTML(string=html, url_fetcher=_fetcher()).render(
            stylesheets=[stylesheet()], **PDF_OPTIONS
        )
        document.write_pdf(**PDF_OPTIONS)
        direct.append((time.perf_counter() - wall, time.process_time() - cpu))
        pages = len(document.pages)
    part = []
    for _ in range(max(repeats, 3)):
        wall = time.perf_counter()
        report_html(study)
        part.append(time.perf_counter() - wall)
    return {
        "part": min(part),
        "build": build,
        "ours": {w: (min(x for x, _ in r), min(c for _, c in r)) for w, r in ours.items()},
        "direct": min(w for w, _ in direct),
        "direct_cpu": min(c for _, c in direct),
        "pages": pages,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sheets", type=int, nargs="+", default=[30, 200])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--items-per-sheet", type=int, default=2)
    parser.add_argument("--panel", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="delphi-bench-report-") as folder:
        _setup(Path(folder))
        for n in args.sheets:
            m = measure(n, args.items_per_sheet, args.panel, args.repeats, args.workers)
            print(
                f"{n:4d} sheets ({n * args.items_per_sheet} items, {args.panel} panelists, "
                f"{m['pages']} pages; study built in {m['build']:.1f} s)",
                flush=True,
            )
            for count, (wall, cpu) in m["ours"].items():
                target = " [target: under 20 s]" if n >= 200 else ""
                line = f"     ours, {count} layout worker(s): {wall:6.2f} s"
                print(f"{line} (CPU, workers included, {cpu:6.2f} s){target}", flush=True)
            print(
                f"     WeasyPrint alone on the one-process HTML: {m['direct']:6.2f} s "
                f"(CPU {m['direct_cpu']:6.2f} s)\n"
                f"     our part alone (queries, context, template; no WeasyPrint) "
                f"{m['part']:.2f} s",
                flush=True,
            )
    try:
        load = os.getloadavg()
        print(f"load average during the run: {load[0]:.1f} on {os.cpu_count()} CPUs")
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
