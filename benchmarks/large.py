"""Benchmark: a large study's coordinator pages, and its export's memory.

    python -m benchmarks.large [--ratings 1000000] [--repeats 3] [--no-pdf]

A fresh PostgreSQL database holds one study: 2,500 panelists x 200 items x 2 criteria,
round 1 analysed (built as in benchmarks/close.py). In this process, as a logged-in owner,
each coordinator page of the study is fetched (best of the repeats; the size of the
HTML too), against the trivial /healthz; then `delphi_export` runs in its own process and
its peak memory (maximum resident set size) is read from the kernel.

Targets: every coordinator page under 0.5 s; the export's peak memory under 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.close import SERVER, build
from benchmarks.common import ROOT, setup_django, temporary_database

PAGES = [
    ("study page", "study-detail", ()),
    ("round dashboard", "round-detail", (1,)),
    ("round status (live totals)", "round-status", (1,)),
    ("results", "round-results", (1,)),
    ("items between rounds", "round-items", (2,)),
    ("comments of the round", "round-comments", (1,)),
    ("audit log", "audit-log", ()),
    ("team", "team", ()),
    ("privacy", "study-privacy", ()),
    ("report versions", "report-versions", ()),
    ("recommendations", "recommendation-list", ()),
]


def analysed(n_ratings: int) -> Any:
    from rounds import services

    round = build(n_ratings)
    services.round_close(round=round)
    services.analysis_run(job_id=round.analysis_jobs.get().pk)
    round.refresh_from_db()
    return round


def fetch_pages(round: Any, repeats: int) -> list[dict[str, Any]]:
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(User.objects.create_superuser("bench", "b@example.org", "x"))
    slug = round.study.slug
    rows = []
    for label, name, extra in [("GET /healthz (floor)", "healthz", None), *PAGES]:
        url = reverse(name) if extra is None else reverse(name, args=[slug, *extra])
        times, size = [], 0
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            size = len(response.content)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
        rows.append({"page": label, "url": url, "seconds": min(times), "bytes": size})
    return rows


def export_memory(slug: str, with_pdf: bool) -> dict[str, float]:
    """Run delphi_export in a child process; its wall time and peak resident memory."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "manage.py", "delphi_export", slug, "--out", out]
        if not with_pdf:
            command.append("--no-pdf")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=os.environ, check=True, capture_output=True)
        seconds = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any child so far (in KiB on Linux).
    return {"export_s": seconds, "export_peak_mb": max(peak_kb, before) / 1024}


def measure(n_ratings: int, repeats: int, with_pdf: bool) -> dict[str, Any]:
    round = analysed(n_ratings)
    pages = fetch_pages(round, repeats)
    return {"pages": pages, **export_memory(round.study.slug, with_pdf)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-pdf", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as var, temporary_database(SERVER) as url:
        setup_django(url, Path(var), eager=False)
        found = measure(args.ratings, args.repeats, not args.no_pdf)
    for row in found["pages"]:
        print(f"{row['page']:<32}{row['seconds'] * 1000:>9.0f} ms{row['bytes'] / 1024:>9.0f} KB")
    print(f"{'delphi_export':<32}{found['export_s']:>9.1f} s {found['export_peak_mb']:>7.0f} MB")
    print(json.dumps(found))
    return found


SCALES = {"small": 200_000, "full": 1_000_000}


def figures(scale: str) -> list[Any]:
    """The figures for `python -m benchmarks`."""
    from benchmarks.__main__ import Figure

    with tempfile.TemporaryDirectory() as var, temporary_database(SERVER) as url:
        setup_django(url, Path(var), eager=False)
        found = measure(SCALES[scale], 1, with_pdf=True)
    floor = found["pages"][0]["seconds"]
    out = [
        Figure("large", f"{row['page']} ({row['bytes'] / 1024:.0f} KB)", row["seconds"], "s",
               "GET /healthz", floor, "< 0.5 s", met=row["seconds"] < 0.5)
        for row in found["pages"][1:]
    ]  # fmt: skip
    out.append(
        Figure("large", "delphi_export with the PDF: peak memory", found["export_peak_mb"], "MB",
               target="< 500 MB", met=found["export_peak_mb"] < 500)
    )  # fmt: skip
    return out


if __name__ == "__main__":
    main()
