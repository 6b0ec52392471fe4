"""Benchmark: the cost of one real-time feedback fetch (`GET /p/live/<step>/`) in one process.

    python -m benchmarks.live_fetch [--calls 200] [--panelists 30]

Builds, in a temporary SQLite database with the in-process cache, one real-time study open
for a week: 10 items in one domain (one step = 10 items x 2 criteria) and N panelists who
have all rated it, so every question's feedback is shown. One panelist signs in with the
Django test client; then, `--calls` times each, measured with `time.process_time` (CPU of
this process: the view, the ORM, the templates, the test client) and Django's
`CaptureQueriesContext`:

- "changed": a fetch whose digest is stale (`?v=` empty), which returns the 20 fragments
  (rendered once, then read from the cache, as on a server);
- "unchanged": the page's usual poll, whose digest is current: nothing rendered;
- the floor: `GET /healthz` through the same client (a trivial view).

The live statistics are cached for 2 s, as on a server: a run of a few seconds computes
them again a few times, and that is in the figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.save_step import N_ITEMS


def _setup(folder: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["DELPHI_VAR_DIR"] = str(folder)
    os.environ.pop("DJANGO_CACHE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delphi.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build(n_panelists: int) -> tuple[Any, str]:
    """The study, everyone's ratings, and the signed-in client of the first panelist."""
    from django.test import Client

    from benchmarks.realtime import open_realtime_round
    from panelists.links import link_issue
    from rounds import answers, realtime
    from rounds.models import Criterion, RoundItem

    round = open_realtime_round(n_panelists)
    study = round.study
    cells = [(ri.pk, c.pk) for ri in RoundItem.objects.filter(round=round)
             for c in Criterion.objects.filter(study=study)]  # fmt: skip
    for i, panelist in enumerate(study.panelists.order_by("pk")):
        given = [answers.Answer(ri, c, 1 + (i + ri) % 9, "") for ri, c in cells]
        answers.ratings_save(panelist=panelist, round=round, answers=given)
    realtime.live_forget(round)
    client = Client()
    first = study.panelists.order_by("pk").first()
    assert client.get(link_issue(panelist=first)).status_code == 302
    step = client.get("/p/rate/")["Location"].rstrip("/").rsplit("/", 1)[-1]
    return client, f"/p/live/{step}/"


def measure(client: Any, path: str, calls: int) -> tuple[float, float]:
    """CPU ms per call and queries per call over `calls` GETs of `path`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)  # warm: templates compiled, fragments cached
    with CaptureQueriesContext(connection) as queries:
        started = time.process_time()
        for _ in range(calls):
            response = client.get(path)
            assert response.status_code == 200, response.status_code
        cpu = time.process_time() - started
    return cpu / calls * 1000, len(queries.captured_queries) / calls


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--panelists", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        _setup(Path(folder))
        client, path = build(args.panelists)
        first = client.get(path).json()
        assert first["open"] and len(first["cells"]) == N_ITEMS * 2, first
        assert all("data-live-n" in html for html in first["cells"].values())
        changed = measure(client, path, args.calls)
        unchanged = measure(client, f"{path}?v={first['v']}", args.calls)
        floor = measure(client, "/healthz", args.calls)
    print(f"{args.calls} calls each, {args.panelists} panelists, one step of {N_ITEMS} items x 2")
    print(f"{'':34} {'ms CPU/call':>12} {'queries/call':>13} {'x floor':>8}")
    rows = [("fetch, changed (20 fragments)", changed), ("fetch, unchanged (current ?v=)",
            unchanged), ("floor: GET /healthz", floor)]  # fmt: skip
    for name, (ms, queries) in rows:
        print(f"{name:34} {ms:12.2f} {queries:13.2f} {ms / floor[0]:8.1f}")
    return {"changed_ms": changed[0], "changed_queries": changed[1],
            "unchanged_ms": unchanged[0], "unchanged_queries": unchanged[1],
            "floor_ms": floor[0]}  # fmt: skip


def figures(scale: str) -> list[Any]:
    """The figures for `python -m benchmarks`."""
    from benchmarks.__main__ import Figure

    found = main(["--calls", "200" if scale == "full" else "100"])
    return [
        Figure("live_fetch", "feedback fetch, nothing changed, CPU", found["unchanged_ms"], "ms",
               "GET /healthz, same client", found["floor_ms"]),
        Figure("live_fetch", "feedback fetch, 20 fragments, CPU", found["changed_ms"], "ms",
               "GET /healthz, same client", found["floor_ms"]),
        Figure("live_fetch", "queries per feedback fetch", found["unchanged_queries"], ""),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
