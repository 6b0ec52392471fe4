"""Benchmark: saving one rating step under load, against gunicorn + PostgreSQL on loopback.

    python -m benchmarks.save_step [--panelists 50] [--requests-per-panelist 20]
        [--workers 3] [--threads 4] [--worker-class gthread|sync] [--keep-db] [--show-queries]

1. Creates a fresh PostgreSQL database (delphi_bench_<pid>), migrates it, and builds one
   study whose round 1 is open for a week: 10 items in one domain (one step = 10 items x 2
   criteria = 20 ratings) and N panelists who gave consent, each with a personal link.
2. Starts gunicorn (DEBUG off, persistent DB connections) and waits for /healthz.
3. Each panelist is a thread with its own keep-alive HTTP connection and cookie jar: it
   opens its personal link, GETs the step once (CSRF token, field names), then, after a
   warm-up that is not counted,
   - GETs /healthz R times (the trivial-view baseline), all panelists at once; then
   - POSTs the whole step R times (20 new ratings 1-9 each time), all panelists at once,
   timing each request up to the end of its response (the 302 to the review page is not
   followed). One panelist alone first does the same, unloaded, for reference.
4. Prints p50/p95/p99/max and throughput for both, the save/healthz ratios, the CPU time
   per request of gunicorn, PostgreSQL, the load generator and the rest of the machine
   (/proc), what the database connections were doing (pg_stat_activity samples), and the
   SQL queries of one save; checks that the database holds exactly panelists x 20
   ratings, each panelist's equal to its last POST (exit status 1 if not).
5. Stops gunicorn and drops the database (unless --keep-db).

Two loads: closed-loop, where every panelist posts again as soon as its previous save
returns (no think time), so once the server is saturated the latency is mostly queueing
(about panelists / throughput) and the figure to read is the throughput; and paced, where
each panelist pauses (exponential, mean --think seconds, 5 by default) before each save:
still far busier than GPs who spend a minute or more on a step, and the latency a panelist
feels when 50 of them are rating at once. The load generator, gunicorn and PostgreSQL share the
machine; the CPU figures say how much other processes took. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
N_ITEMS = 10
N_CRITERIA = 2
TARGET_P95_MS = 500.0
WARMUP_REQUESTS = 3
SINGLE_CLIENT_REQUESTS = 50

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
STEP_RE = re.compile(r'name="([\w-]+-current_step)" value="([^"]*)"')
RATING_RE = re.compile(r'name="([\w]+-r-(\d+)-(\d+))"')


# --- the database -------------------------------------------------------------------------


DROP = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def _admin_connection() -> psycopg.Connection[Any]:
    return psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True)


def create_database(name: str) -> None:
    with _admin_connection() as conn:
        conn.execute(DROP.format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with _admin_connection() as conn:
        conn.execute(DROP.format(sql.Identifier(name)))


def server_version() -> str:
    with _admin_connection() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


@dataclass
class BenchData:
    panelist_ids: list[int]
    links: list[str]  # paths of the personal links, in panelist_ids order


def build_data(n_panelists: int) -> BenchData:
    """One study, round 1 open for a week, 10 items in one domain, consented panelists."""
    from django.utils import timezone

    from panelists.links import link_issue
    from rounds.models import Item, Participation
    from rounds.services import round_create, round_open
    from tests.factories import make_study

    study = make_study(n_items=N_ITEMS, n_panelists=n_panelists)
    one_domain = {code: f"Organisation ({code})" for code in study.languages}
    Item.objects.filter(study=study).update(domain=one_domain)
    round = round_create(study=study, closes_at=timezone.now() + timedelta(days=7))
    round_open(round=round, notify=False)
    Participation.objects.filter(round=round).update(consented_at=timezone.now())
    panelists = list(study.panelists.order_by("pk"))
    links = [urlsplit(link_issue(panelist=p)).path for p in panelists]
    return BenchData([p.pk for p in panelists], links)


def check_ratings(data: BenchData, expected: list[dict[tuple[int, int], int]]) -> None:
    """Exactly panelists x 20 ratings, each panelist's equal to its last POST; else exit 1."""
    from rounds.models import Rating

    total = Rating.objects.count()
    want = len(data.panelist_ids) * N_ITEMS * N_CRITERIA
    problems = []
    if total != want:
        problems.append(f"{total} Rating rows, expected {want}")
    for panelist_id, last_posted in zip(data.panelist_ids, expected, strict=True):
        saved = {
            (r.round_item_id, r.criterion_id): r.value
            for r in Rating.objects.filter(panelist_id=panelist_id)
        }
        if saved != last_posted:
            diff = sum(saved.get(k) != v for k, v in last_posted.items())
            problems.append(f"panelist {panelist_id}: {diff} ratings differ from the last POST")
    if problems:
        print("INCORRECT:", *problems[:10], sep="\n  ")
        raise SystemExit(1)
    print(f"correct: {total} Rating rows; every panelist's ratings equal its last POST")


def count_queries(data: BenchData, show: bool) -> int:
    """The SQL queries of one step save, run in-process through Django's test client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from panelists.links import link_issue
    from rounds.models import Panelist

    client = Client()
    panelist = Panelist.objects.get(pk=data.panelist_ids[0])
    assert client.get(urlsplit(link_issue(panelist=panelist)).path).status_code == 302
    step_path = client.get("/p/rate/")["Location"]
    form = StepForm.parse(client.get(step_path).content.decode())
    body, _values = form.post_data(random.Random(0), {})
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(step_path, body)
    assert response.status_code == 302, response.status_code
    # Transaction control (BEGIN, COMMIT, savepoints) is not a query of the save's own.
    queries = [q["sql"] for q in ctx.captured_queries if not _transaction_control(q["sql"])]
    if show:
        for i, sql in enumerate(queries, 1):
            print(f"  {i:2d}. {sql[:160]}")
    return len(queries)


def _transaction_control(sql: str) -> bool:
    return sql.strip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))


# --- gunicorn -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path
    description: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start_gunicorn(env: dict[str, str], port: int, args: argparse.Namespace, log: Path) -> Server:
    options = ["--worker-class", args.worker_class, "--workers", str(args.workers)]
    if args.worker_class == "gthread":
        options += ["--threads", str(args.threads)]
    options += ["--keep-alive", "30", "--backlog", "2048"]
    command = [sys.executable, "-m", "gunicorn", "delphi.wsgi", "--bind", f"{HOST}:{port}"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, *options], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(process, log, "gunicorn delphi.wsgi " + " ".join(options))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_tail()}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer /healthz in 60 s:\n{server.log_tail()}")


# --- the panelists' HTTP clients ----------------------------------------------------------


@dataclass
class Site:
    """The gunicorn of a benchmark run (see `temporary_site`)."""

    log: Path
    server: Server | None = None

    def serve(self, env: dict[str, str], port: int, args: argparse.Namespace) -> Server:
        self.server = start_gunicorn(env, port, args, self.log)
        return self.server

    def stop(self) -> None:
        """Stop gunicorn now, saying so if it did not exit cleanly."""
        server, self.server = self.server, None
        if server is None:
            return
        server.stop()
        if server.process.returncode not in (0, -signal.SIGTERM):
            print(f"gunicorn exited with {server.process.returncode}:\n{server.log_tail()}")


@contextmanager
def temporary_site(db_name: str, db_url: str, keep_db: bool, log_prefix: str) -> Iterator[Site]:
    """A temporary PostgreSQL database for one benchmark run, and the gunicorn serving it
    (started with `Site.serve`). On the way out: gunicorn stopped (its log printed on an
    error), Django's connections closed, the database dropped (unless kept), the log
    removed."""
    site = Site(log=Path(tempfile.mkstemp(prefix=log_prefix, suffix=".log")[1]))
    create_database(db_name)
    try:
        yield site
    except BaseException:
        if site.server is not None:
            print(f"--- gunicorn log ---\n{site.server.log_tail()}", file=sys.stderr)
        raise
    finally:
        if site.server is not None:
            site.server.stop()
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if keep_db:
            print(f"kept the database: DATABASE_URL={db_url}")
        else:
            drop_database(db_name)
        site.log.unlink(missing_ok=True)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float


class Browser:
    """One keep-alive connection and a cookie jar (the Secure flag is not enforced:
    with DEBUG off the cookies are marked Secure, and this benchmark runs over plain HTTP)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)
        self.cookies: dict[str, str] = {}
        self.reconnects = 0

    def request(self, method: str, path: str, body: str | None = None) -> Response:
        headers = {"Host": f"{HOST}:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                start = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                seconds = time.perf_counter() - start
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # Most likely the server closed an idle keep-alive connection: reconnect and
                # send again, timed from the new attempt (a save is an idempotent upsert).
                # Resent requests are counted and reported.
                self.conn.close()
                self.reconnects += 1
                if attempt:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value and morsel["max-age"] not in ("0", 0):
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return Response(response.status, response.headers, payload, seconds)


@dataclass
class StepForm:
    path: str
    csrf_token: str
    step_field: str
    step_name: str
    ratings: list[tuple[str, int, int]]  # (field name, round item id, criterion id)

    @classmethod
    def parse(cls, html: str, path: str = "") -> StepForm:
        csrf = CSRF_RE.search(html)
        step = STEP_RE.search(html)
        if csrf is None or step is None:
            raise RuntimeError(f"{path}: no CSRF token or step field in the page")
        ratings = sorted({(m[1], int(m[2]), int(m[3])) for m in RATING_RE.finditer(html)})
        return cls(path, csrf[1], step[1], step[2], ratings)

    def post_data(
        self, rng: random.Random, previous: dict[tuple[int, int], int]
    ) -> tuple[dict[str, str], dict[tuple[int, int], int]]:
        """Every rating of the step, each different from its previous value."""
        # The page's "answers seen" stamp, as a browser sends it; one far in the future
        # passes the staleness check (which costs the same) on every save of the run.
        data = {"csrfmiddlewaretoken": self.csrf_token, self.step_field: self.step_name,
                "answers_seen": "9999-12-31T00:00:00+00:00"}  # fmt: skip
        values = {}
        for name, round_item_id, criterion_id in self.ratings:
            key = (round_item_id, criterion_id)
            value = rng.choice([v for v in range(1, 10) if v != previous.get(key)])
            values[key] = value
            data[name] = str(value)
        return data, values


@dataclass
class Panelist:
    browser: Browser
    rng: random.Random
    form: StepForm | None = None
    last_posted: dict[tuple[int, int], int] = field(default_factory=dict)

    def sign_in(self, link: str) -> None:
        response = self.browser.request("GET", link)
        if response.status != 302:
            raise RuntimeError(f"personal link answered {response.status}")
        response = self.browser.request("GET", "/p/rate/")
        location = response.headers.get("Location", "")
        if response.status != 302 or "/p/rate/" not in location:
            raise RuntimeError(f"/p/rate/ answered {response.status} -> {location!r}")
        path = urlsplit(location).path
        page = self.browser.request("GET", path)
        if page.status != 200:
            raise RuntimeError(f"{path} answered {page.status}")
        self.form = StepForm.parse(page.body.decode(), path)
        if len(self.form.ratings) != N_ITEMS * N_CRITERIA:
            raise RuntimeError(f"{path}: {len(self.form.ratings)} rating fields, expected 20")

    def save_step(self) -> float:
        assert self.form is not None
        data, values = self.form.post_data(self.rng, self.last_posted)
        response = self.browser.request("POST", self.form.path, urlencode(data))
        location = response.headers.get("Location", "")
        if response.status != 302 or not location.endswith("/p/review/"):
            raise RuntimeError(
                f"save answered {response.status} -> {location!r}: {response.body[:300]!r}"
            )
        self.last_posted = values
        return response.seconds

    def healthz(self) -> float:
        response = self.browser.request("GET", "/healthz")
        if response.status != 200 or response.body != b"ok":
            raise RuntimeError(f"/healthz answered {response.status}")
        return response.seconds


# --- CPU accounting -----------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _machine_cpu() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


@dataclass
class CpuSnapshot:
    at: float
    machine: float
    client: float
    processes: dict[str, dict[int, float]]  # group -> pid -> CPU seconds


@dataclass
class CpuMeter:
    """Where the CPU goes: gunicorn (master and workers), the PostgreSQL backends of the
    benchmark database, this process (the load generator), and the rest of the machine."""

    server: Server
    db_name: str

    def snapshot(self) -> CpuSnapshot:
        master = self.server.process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        with _admin_connection() as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.db_name]
            ).fetchall()
        groups = {"gunicorn": [master, *map(int, children)], "postgres": [r[0] for r in rows]}
        times = os.times()
        return CpuSnapshot(
            at=time.perf_counter(),
            machine=_machine_cpu(),
            client=times.user + times.system,
            processes={k: {pid: _process_cpu(pid) for pid in v} for k, v in groups.items()},
        )

    @staticmethod
    def per_request(start: CpuSnapshot, end: CpuSnapshot, n: int) -> dict[str, float]:
        """CPU milliseconds per request by group, and `busy`: the share of all cores in use.
        A process that ended during the phase is left out (the pids are stable here:
        persistent workers and database connections)."""
        used = {
            group: sum(cpu - start.processes[group].get(pid, 0.0) for pid, cpu in pids.items())
            for group, pids in end.processes.items()
        }
        used["client"] = end.client - start.client
        machine = end.machine - start.machine
        used["other"] = max(0.0, machine - sum(used.values()))
        out = {k: v * 1000 / n for k, v in used.items()}
        out["busy"] = machine / ((end.at - start.at) * (os.cpu_count() or 1))
        return out


class DbActivity:
    """Samples what the benchmark database's connections are doing (pg_stat_activity) in a
    background thread: running, waiting on a lock, idle inside a transaction, or idle."""

    INTERVAL = 0.02

    def __init__(self, db_name: str) -> None:
        self.db_name = db_name
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DbActivity:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        query = "SELECT wait_event_type, state FROM pg_stat_activity WHERE datname = %s"
        with _admin_connection() as conn:
            while not self._stop.wait(self.INTERVAL):
                for wait, state in conn.execute(query, [self.db_name]).fetchall():
                    if wait == "Lock":
                        self.counts["waiting on a lock"] += 1
                    elif state == "active":
                        self.counts["running"] += 1
                    else:
                        self.counts[state or "other"] += 1
                self.samples += 1

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        order = ["running", "waiting on a lock", "idle in transaction", "idle"]
        keys = order + sorted(set(self.counts) - set(order))
        return ", ".join(f"{self.counts[k] / self.samples:.1f} {k}" for k in keys)


@dataclass
class Phase:
    name: str
    latencies: list[float]
    wall: float
    cpu: dict[str, float] | None = None
    db_activity: str = ""

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall


def run_phase(
    name: str,
    panelists: list[Panelist],
    action: Callable[[Panelist], float],
    n: int,
    meter: CpuMeter | None = None,
    think: float = 0.0,
) -> Phase:
    """Every panelist does `action` n times, all starting together; per-request latencies.
    With `think`, each panelist first pauses a random time (exponential, mean `think` s)."""
    barrier = threading.Barrier(len(panelists) + 1)
    results: list[list[float]] = [[] for _ in panelists]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        pauses = random.Random(1000 + index)
        try:
            barrier.wait()
            for _ in range(n):
                if think:
                    time.sleep(pauses.expovariate(1.0 / think))
                results[index].append(action(panelists[index]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(panelists))]
    for thread in threads:
        thread.start()
    cpu_start = meter.snapshot() if meter else None
    with DbActivity(meter.db_name) if meter else nullcontext() as activity:
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{name}: {len(errors)} panelists failed; first: {errors[0]!r}")
    cpu = None
    if meter and cpu_start:
        cpu = CpuMeter.per_request(cpu_start, meter.snapshot(), n * len(panelists))
    summary = activity.summary() if activity else ""
    return Phase(name, [x for r in results for x in r], wall, cpu, summary)


# --- the run ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--panelists", type=int, default=50)
    parser.add_argument("--requests-per-panelist", type=int, default=20)
    parser.add_argument("--workers", type=int, default=cores + 1, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--worker-class", choices=["gthread", "sync"], default="gthread")
    parser.add_argument("--keep-db", action="store_true", help="keep the benchmark database")
    parser.add_argument("--show-queries", action="store_true", help="list one save's queries")
    parser.add_argument(
        "--think",
        type=float,
        default=5.0,
        help="mean pause in seconds between a panelist's saves in the paced phase",
    )
    return parser.parse_args(argv)


def print_table(phases: list[Phase]) -> None:
    print(f"{'':24} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'req/s':>8}")  # fmt: skip
    for phase in phases:
        print(
            f"{phase.name:24} {len(phase.latencies):8d} {phase.percentile(50):8.1f} "
            f"{phase.percentile(95):8.1f} {phase.percentile(99):8.1f} "
            f"{max(phase.latencies) * 1000:8.1f} {phase.throughput:8.1f}"
        )


def print_cpu(phases: list[Phase], load_before: float) -> None:
    print(f"CPU ms per request under load: {'gunicorn':>9} {'postgres':>9} {'client':>9} "
          f"{'other':>9} {'busy':>6}")  # fmt: skip
    for phase in phases:
        if phase.cpu:
            c = phase.cpu
            print(f"  {phase.name:28} {c['gunicorn']:9.2f} {c['postgres']:9.2f} "
                  f"{c['client']:9.2f} {c['other']:9.2f} {c['busy']:6.0%}")  # fmt: skip
    print(f"  (other: the rest of the machine, PostgreSQL's background processes included; "
          f"busy: share of the {os.cpu_count()} cores in use; "
          f"load average before: {load_before:.2f})")  # fmt: skip
    for phase in phases:
        if phase.db_activity:
            print(f"database connections, on average, {phase.name}: {phase.db_activity}")


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    results: dict[str, float] = {}
    n, per = args.panelists, args.requests_per_panelist
    db_name = f"delphi_bench_{os.getpid()}"
    db_url = f"{PG_SERVER}/{db_name}"
    port = free_port()
    site_url = f"http://{HOST}:{port}"
    common = {
        "DATABASE_URL": db_url,
        "DELPHI_SITE_URL": site_url,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
        "DJANGO_SETTINGS_MODULE": "delphi.settings",
    }
    os.environ.update(common)  # this process: setup and checks, with the default settings
    server_env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DELPHI_HTTPS": "0",  # plain HTTP on loopback
        "DJANGO_SECRET_KEY": "benchmark-" + os.urandom(16).hex(),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DATABASE_CONN_MAX_AGE": "60",
        "DJANGO_CACHE_URL": "redis://127.0.0.1:6379/12",  # sessions read through Redis
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    print(f"Save-a-step benchmark: {n} panelists x {per} requests; one step = "
          f"{N_ITEMS} items x {N_CRITERIA} criteria = {N_ITEMS * N_CRITERIA} ratings")  # fmt: skip
    print(f"machine: {os.cpu_count()} CPU cores; PostgreSQL {server_version()} on {HOST}:5432, "
          f"database {db_name}")  # fmt: skip

    with temporary_site(db_name, db_url, args.keep_db, "delphi-bench-gunicorn-") as site:
        started = time.perf_counter()
        migrate({**os.environ})
        import django

        django.setup()
        data = build_data(n)
        from django.db import connections

        connections.close_all()
        print(f"setup (migrate + data): {time.perf_counter() - started:.1f} s")

        server = site.serve(server_env, port, args)
        print(f"server: {server.description} (DEBUG off, DATABASE_CONN_MAX_AGE=60)")

        panelists = [Panelist(Browser(port), random.Random(i)) for i in range(n)]
        for panelist, link in zip(panelists, data.links, strict=True):
            panelist.sign_in(link)
        run_phase("warm-up /healthz", panelists, Panelist.healthz, WARMUP_REQUESTS)
        run_phase("warm-up save", panelists, Panelist.save_step, WARMUP_REQUESTS)

        alone = [panelists[0]]
        single = [
            run_phase("GET /healthz, 1 client", alone, Panelist.healthz, SINGLE_CLIENT_REQUESTS),
            run_phase("POST step, 1 client", alone, Panelist.save_step, SINGLE_CLIENT_REQUESTS),
        ]
        meter = CpuMeter(server, db_name)
        load_before = os.getloadavg()[0]
        healthz = run_phase(f"GET /healthz, {n} clients", panelists, Panelist.healthz, per, meter)
        save = run_phase(f"POST step, {n} clients", panelists, Panelist.save_step, per, meter)
        paced = run_phase(
            f"POST step, {n} paced {args.think:g} s",
            panelists,
            Panelist.save_step,
            per,
            think=args.think,
        )
        reconnects = sum(p.browser.reconnects for p in panelists)
        site.stop()

        print()
        print_table([*single, healthz, save, paced])
        print_cpu([healthz, save], load_before)
        ratios = [save.percentile(p) / healthz.percentile(p) for p in (50, 95)]
        print(f"ratio save/healthz under load: p50 {ratios[0]:.1f}x, p95 {ratios[1]:.1f}x")
        for phase in (save, paced):
            verdict = "met" if phase.percentile(95) < TARGET_P95_MS else "MISSED"
            print(f"target p95 < {TARGET_P95_MS:.0f} ms, {phase.name}: {verdict} "
                  f"({phase.percentile(95):.1f} ms)")  # fmt: skip
        if reconnects:
            print(f"({reconnects} requests were resent on a new connection after keep-alive ended)")
        print()
        check_ratings(data, [p.last_posted for p in panelists])
        queries = count_queries(data, args.show_queries)
        print(f"SQL queries per save (in-process, one save): {queries}")
        results.update(
            saves_per_s=save.throughput, save_p50_ms=save.percentile(50),
            save_p95_ms=save.percentile(95), healthz_per_s=healthz.throughput,
            healthz_p95_ms=healthz.percentile(95), paced_p95_ms=paced.percentile(95),
            queries=float(queries), ratings_per_save=float(N_ITEMS * N_CRITERIA),
        )  # fmt: skip
    return results


PEER_SAVES_PER_S = 5.8  # django-survey-and-report 1.5.0: 60-answer submits, 50 clients, PG
PEER_ANSWERS_PER_SAVE = 60


def figures(scale: str) -> list[Any]:
    """The figures for `python -m benchmarks`: 50 panelists at full scale, 20 at small."""
    from benchmarks.__main__ import Figure

    n = "50" if scale == "full" else "20"
    found = main(["--panelists", n, "--requests-per-panelist", "20" if scale == "full" else "10"])
    per_rating = found["saves_per_s"] * found["ratings_per_save"]
    peer = PEER_SAVES_PER_S * PEER_ANSWERS_PER_SAVE
    return [
        Figure("save", f"saves/s, {n} panelists back to back", found["saves_per_s"], "/s",
               target=">= 150/s", met=found["saves_per_s"] >= 150),
        Figure("save", "save p95 under that load", found["save_p95_ms"], "ms",
               "GET /healthz p95, same load", found["healthz_p95_ms"], "< 500 ms",
               met=found["save_p95_ms"] < 500),
        Figure("save", "queries per save (20 ratings)", found["queries"], "",
               target="<= 6", met=found["queries"] <= 6),
        Figure("save", "ratings saved per second vs the peer's", per_rating, "/s",
               "peer: answers saved per second", peer, ">= 10x", met=per_rating >= 10 * peer),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
