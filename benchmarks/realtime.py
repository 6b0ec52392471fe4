"""Benchmark: real-time mode under load — a save and its refreshed feedback, gunicorn + PostgreSQL.

    python -m benchmarks.realtime [--panelists 200] [--requests-per-panelist 12] [--think 5]
        [--workers 3] [--threads 4] [--keep-db]

1. Creates a fresh PostgreSQL database, migrates it and builds one real-time study open for a
   week: 10 items in one domain (one step = 10 items x 2 criteria = 20 ratings) and N
   consented panelists with personal links; every panelist rates the step once (warm-up),
   so every question's feedback is shown (n >= the smallest group size).
2. Starts gunicorn (DEBUG off, sessions and the live statistics in Redis) as `save_step` does.
3. One panelist alone: R times "save the step (Save, staying on the page) then fetch its
   feedback" (`POST /p/rate/<step>/` + `GET /p/live/<step>/`), timed together: the unloaded
   figure, the floor the loaded figure is compared with.
4. All N panelists at once, each doing what the page does: every few seconds (exponential,
   mean --think) either the feedback fetch alone (two times in three, the page's poll) or
   a save followed by the fetch (one time in three: a panelist revising). Latency of the
   pair "save + refreshed feedback", and of the poll alone, with p50/p95/max. A fetch sends
   the digest of what the page shows, as the page does; with every panelist revising all
   20 ratings every 15 s on average the panel's answers change all the time, so nearly
   every fetch renders its 20 fragments (a worst case: a real panel revises far less).
5. Checks the rating history: exactly one row per rating that changed value; prints the
   queries of one save and of one fetch; stops gunicorn and drops the database.

Target: save + refreshed feedback p95 under 300 ms with 200 panelists on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from benchmarks.save_step import (
    HOST,
    N_CRITERIA,
    N_ITEMS,
    PG_SERVER,
    Browser,
    CpuMeter,
    Phase,
    StepForm,
    free_port,
    migrate,
    print_cpu,
    print_table,
    run_phase,
    server_version,
    temporary_site,
)

TARGET_P95_MS = 300.0
SINGLE_CLIENT_REQUESTS = 30


@dataclass
class BenchData:
    links: list[str]
    round_id: int


def open_realtime_round(n_panelists: int) -> Any:
    """A real-time study open for a week, with N_ITEMS items in one domain (one step) and
    ``n_panelists`` consented panelists; returns its round."""
    from django.utils import timezone

    from rounds.models import Item, Participation
    from rounds.services import round_create, round_open
    from tests.factories import make_study

    study = make_study(n_items=N_ITEMS, n_panelists=n_panelists)
    study.protocol.realtime = True
    study.protocol.save(update_fields=["realtime"])
    one_domain = {code: f"Organisation ({code})" for code in study.languages}
    Item.objects.filter(study=study).update(domain=one_domain)
    round = round_create(study=study, closes_at=timezone.now() + timedelta(days=7))
    round_open(round=round, notify=False)
    Participation.objects.filter(round=round).update(consented_at=timezone.now())
    return round


def build_data(n_panelists: int) -> BenchData:
    from panelists.links import link_issue

    round = open_realtime_round(n_panelists)
    panel = round.study.panelists.order_by("pk")
    return BenchData([urlsplit(link_issue(panelist=p)).path for p in panel], round.pk)


@dataclass
class Panelist:
    browser: Browser
    rng: random.Random
    form: StepForm | None = None
    live_path: str = ""
    version: str = ""  # the digest of the feedback shown, sent back as the page does
    unchanged: int = 0  # polls answered "nothing changed"
    check: bool = False  # every fragment must show the panel's answers (after the warm-up)
    last_posted: dict[tuple[int, int], int] = field(default_factory=dict)
    saves: list[float] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)

    def sign_in(self, link: str) -> None:
        if self.browser.request("GET", link).status != 302:
            raise RuntimeError("personal link refused")
        location = self.browser.request("GET", "/p/rate/").headers.get("Location", "")
        path = urlsplit(location).path
        page = self.browser.request("GET", path)
        if page.status != 200:
            raise RuntimeError(f"{path} answered {page.status}")
        self.form = StepForm.parse(page.body.decode(), path)
        self.live_path = f"/p/live/{self.form.step_name}/"

    def save_and_fetch(self) -> float:
        assert self.form is not None
        data, values = self.form.post_data(self.rng, self.last_posted)
        data["wizard_goto_step"] = self.form.step_name  # "Save": stay on the page
        saved = self.browser.request("POST", self.form.path, urlencode(data))
        if saved.status != 302 or not saved.headers.get("Location", "").endswith(self.form.path):
            raise RuntimeError(f"save answered {saved.status}: {saved.body[:200]!r}")
        self.last_posted = values
        seconds = saved.seconds + self.fetch()
        self.saves.append(seconds)
        return seconds

    def fetch(self) -> float:
        response = self.browser.request("GET", f"{self.live_path}?v={self.version}")
        found = json.loads(response.body) if response.status == 200 else {}
        if not found.get("open"):
            raise RuntimeError(f"live feedback answered {response.status}: {response.body[:200]!r}")
        if found["cells"]:
            if self.check and not all("data-live-n" in h for h in found["cells"].values()):
                raise RuntimeError(f"feedback without the panel's answers: {response.body[:300]!r}")
        else:
            self.unchanged += 1
        self.version = found["v"]
        return response.seconds

    def poll(self) -> float:
        seconds = self.fetch()
        self.polls.append(seconds)
        return seconds

    def act(self) -> float:
        """What the page does every few seconds: a poll, or (one time in three) a revision."""
        return self.save_and_fetch() if self.rng.random() < 1 / 3 else self.poll()


def percentile(values: list[float], p: float) -> float:
    return Phase("", values, 1.0).percentile(p)


def check_history(data: BenchData, panelists: list[Panelist], warmup_saves: int) -> int:
    """Every save changed all 20 ratings (each value differs from the last): one history row
    per rating per save, no more, no less."""
    from rounds.models import RatingChange

    saves = warmup_saves + sum(len(p.saves) for p in panelists)
    rows = RatingChange.objects.filter(round_item__round_id=data.round_id).count()
    expected = saves * N_ITEMS * N_CRITERIA
    if rows != expected:
        print(f"INCORRECT: {rows} history rows, expected {expected}")
        raise SystemExit(1)
    print(f"correct: {rows} history rows, one per changed rating of each of {saves} saves")
    return rows


def count_queries(data: BenchData) -> tuple[int, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    assert client.get(data.links[0]).status_code == 302
    step_path = client.get("/p/rate/")["Location"]
    form = StepForm.parse(client.get(step_path).content.decode())
    body, _values = form.post_data(random.Random(0), {})
    body["wizard_goto_step"] = form.step_name
    with CaptureQueriesContext(connection) as save:
        assert client.post(step_path, body).status_code == 302
    with CaptureQueriesContext(connection) as fetch:
        assert client.get(f"/p/live/{form.step_name}/").status_code == 200
    return len(save.captured_queries), len(fetch.captured_queries)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--panelists", type=int, default=200)
    parser.add_argument("--requests-per-panelist", type=int, default=12)
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds between actions")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", choices=["gthread", "sync"], default="gthread")
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    n, per = args.panelists, args.requests_per_panelist
    db_name = f"delphi_bench_rt_{os.getpid()}"
    db_url = f"{PG_SERVER}/{db_name}"
    port = free_port()
    os.environ.update(
        DATABASE_URL=db_url, DELPHI_SITE_URL=f"http://{HOST}:{port}",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/13", DJANGO_SETTINGS_MODULE="delphi.settings",
    )  # fmt: skip
    server_env = {
        **os.environ, "DJANGO_DEBUG": "0", "DELPHI_HTTPS": "0",
        "DJANGO_SECRET_KEY": "benchmark-" + os.urandom(16).hex(), "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_CONN_MAX_AGE": "60", "DJANGO_CACHE_URL": "redis://127.0.0.1:6379/12",
        "DJANGO_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    ratings = N_ITEMS * N_CRITERIA
    print(f"Real-time benchmark: {n} panelists, {per} actions each (mean pause {args.think:g} "
          f"s; a poll, or one time in three a save of {ratings} ratings + the poll)")  # fmt: skip
    print(f"machine: {os.cpu_count()} CPU cores; PostgreSQL {server_version()}, database {db_name}")
    results: dict[str, float] = {}
    with temporary_site(db_name, db_url, args.keep_db, "delphi-bench-rt-") as site:
        migrate({**os.environ})
        import django

        django.setup()
        data = build_data(n)
        from django.db import connections

        connections.close_all()
        server = site.serve(server_env, port, args)
        print(f"server: {server.description} (DEBUG off)")
        panelists = [Panelist(Browser(port), random.Random(i)) for i in range(n)]
        for panelist, link in zip(panelists, data.links, strict=True):
            panelist.sign_in(link)
        # Everyone rates once: every question then has n >= the smallest group size.
        run_phase("warm-up", panelists, Panelist.save_and_fetch, 1)
        warmup_saves = len(panelists)
        for p in panelists:
            p.saves.clear()
            p.check = True
        alone = [panelists[0]]
        single = run_phase("save + feedback, 1 client", alone, Panelist.save_and_fetch,
                           SINGLE_CLIENT_REQUESTS)  # fmt: skip
        warmup_saves += SINGLE_CLIENT_REQUESTS
        panelists[0].saves.clear()
        meter = CpuMeter(server, db_name)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        mixed = run_phase(f"{n} panelists, paced", panelists, Panelist.act, per, meter,
                          think=args.think)  # fmt: skip
        wall = time.perf_counter() - started
        site.stop()
        saves = [s for p in panelists for s in p.saves]
        polls = [s for p in panelists for s in p.polls]
        print()
        print_table([single, Phase(f"save + feedback, {n} panelists", saves, wall),
                     Phase(f"poll alone, {n} panelists", polls, wall), mixed])  # fmt: skip
        print_cpu([mixed], load_before)
        unchanged = sum(p.unchanged for p in panelists)
        print(f"polls answered 'nothing changed' (not rendered): {unchanged} of {len(polls)}")
        p95 = percentile(saves, 95)
        verdict = "met" if p95 < TARGET_P95_MS else "MISSED"
        print(f"target: save + refreshed feedback p95 < {TARGET_P95_MS:.0f} ms: {verdict} "
              f"({p95:.1f} ms; unloaded {single.percentile(95):.1f} ms)")  # fmt: skip
        print()
        check_history(data, panelists, warmup_saves)
        save_queries, fetch_queries = count_queries(data)
        print(f"SQL queries: {save_queries} per save, {fetch_queries} per feedback fetch")
        results.update(
            save_p50_ms=percentile(saves, 50), save_p95_ms=p95, poll_p95_ms=percentile(polls, 95),
            single_p95_ms=single.percentile(95), requests_per_s=mixed.throughput,
            saves=float(len(saves)), save_queries=float(save_queries),
            fetch_queries=float(fetch_queries),
        )  # fmt: skip
    return results


def figures(scale: str) -> list[Any]:
    """The figures for `python -m benchmarks`: 200 panelists at full scale, 50 at small."""
    from benchmarks.__main__ import Figure

    n = "200" if scale == "full" else "50"
    found = main(["--panelists", n, "--requests-per-panelist", "12" if scale == "full" else "6"])
    return [
        Figure("realtime", f"save + feedback p95, {n} panelists", found["save_p95_ms"], "ms",
               "the same, 1 client alone", found["single_p95_ms"], "< 300 ms",
               met=found["save_p95_ms"] < TARGET_P95_MS),
        Figure("realtime", f"feedback poll p95, {n} panelists", found["poll_p95_ms"], "ms"),
        Figure("realtime", "queries per save + feedback fetch",
               found["save_queries"] + found["fetch_queries"], ""),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
