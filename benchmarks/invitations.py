"""Benchmark: opening a round for 10,000 panelists and sending the invitations.

    python -m benchmarks.invitations [--panelists 10000] [--workers 4] [--keep-db]

1. A fresh PostgreSQL database and a Redis broker database (13, flushed); a local SMTP
   server in its own process (aiosmtpd) that counts what it accepts and spots duplicates.
2. The floor: a plain smtplib loop sending the same number of ready-made messages of the
   same size (text and HTML parts) over one SMTP connection.
3. Ours: a study with that many panelists; `round_open` (what the "Open now" request runs)
   records the invitations and returns; then N Celery workers (real processes) render and
   send them; timed until the database says every invitation is sent.
4. Prints the figures and ratios, and checks that the server got each message exactly once.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, free_port, setup_django, temporary_database

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
BROKER = "redis://127.0.0.1:6379/13"

SINK = r"""
import asyncio, signal, sys, threading
from collections import Counter
from aiosmtpd.controller import Controller

class Handler:
    def __init__(self):
        self.ids = Counter()
    async def handle_DATA(self, server, session, envelope):
        for line in (envelope.original_content or b"").splitlines():
            if line.lower().startswith(b"message-id:"):
                self.ids[line.split(b":", 1)[1].strip()] += 1
                break
        else:
            self.ids[b"?"] += 1
        return "250 OK"

handler = Handler()
controller = Controller(handler, hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
done.wait()
controller.stop()
counts = handler.ids
print(sum(counts.values()), sum(1 for n in counts.values() if n > 1), flush=True)
"""


@dataclass
class Sink:
    process: subprocess.Popen[str]
    port: int

    def stop(self) -> tuple[int, int]:
        """Messages received, and how many Message-IDs came more than once."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        received, doubled = out.split()[-2:]
        return int(received), int(doubled)


def start_sink() -> Sink:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return Sink(process, port)


def plain_loop(port: int, n: int, sample: Any) -> float:
    """The floor: n ready-made messages (the size of ours) over one SMTP connection."""
    messages = []
    for i in range(n):
        message = EmailMessage()
        message["From"], message["To"] = sample.from_email, f"p{i:05d}@example.org"
        message["Subject"], message["Message-ID"] = sample.subject, f"<plain-{i}@bench>"
        message.set_content(sample.body)
        message.add_alternative(sample.alternatives[0][0], subtype="html")
        messages.append(message)
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for message in messages:
            smtp.send_message(message)
    return time.perf_counter() - started


def build_study(n_panelists: int) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from rounds import services
    from rounds.models import Criterion, Item, Panelist, Protocol, Study

    study = Study.objects.create(
        slug="bench-invitations", title={"en": "Invitations benchmark", "fr": "Banc d'essai"},
        languages=["fr", "nl", "en"], contact_name="Dr Bench", contact_email="bench@example.org",
    )  # fmt: skip
    Protocol.objects.create(study=study)
    Criterion.objects.create(study=study, code="priority", name={"en": "Priority"})
    Item.objects.bulk_create(
        Item(study=study, code=f"I{i:02d}", position=i, text={"en": f"Item {i}"}) for i in range(10)
    )
    Panelist.objects.bulk_create(
        (
            Panelist(study=study, pseudonym=f"P{i + 1:05d}", email=f"p{i:05d}@example.org",
                     name=f"Panelist {i}", language=("fr", "nl", "en")[i % 3])
            for i in range(n_panelists)
        ),
        batch_size=2000,
    )  # fmt: skip
    round = services.round_create(study=study)
    round.closes_at = timezone.now() + timedelta(days=14)
    round.save(update_fields=["closes_at"])
    return round


def _sample(round: Any) -> Any:
    """One of our invitations, as sent, to size the floor's messages like ours."""
    from panelists.models import EmailMessage
    from panelists.services import compose

    email = EmailMessage(panelist=round.study.panelists.first(), round=round, kind="invitation")
    return compose(email, "http://127.0.0.1:8000/p/" + "x" * 43 + "/")


def start_workers(n: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "celery", "-A", "delphi", "worker", "--pool=solo",
               "--loglevel=WARNING", "--without-heartbeat", "--without-gossip",
               "--without-mingle"]  # fmt: skip
    return [subprocess.Popen([*command, "-n", f"bench{i}@%h"], env=env, cwd=ROOT) for i in range(n)]


def wait_until_ready(n: int, timeout: float = 120.0) -> None:
    from delphi.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1.0)) >= n:
            return
    raise SystemExit(f"{n} workers did not start within {timeout:.0f} s")


def measure(n_panelists: int, n_workers: int) -> dict[str, Any]:
    from django.db import transaction

    from panelists.models import EmailMessage
    from rounds import services

    sink = start_sink()
    env = {**os.environ, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(sink.port),
           "EMAIL_USE_TLS": "0"}  # fmt: skip
    workers: list[subprocess.Popen[bytes]] = []
    try:
        round = build_study(n_panelists)
        floor = plain_loop(sink.port, n_panelists, _sample(round))
        workers = start_workers(n_workers, env)
        wait_until_ready(n_workers)  # running workers, as in production
        started = time.perf_counter()
        with transaction.atomic():
            services.round_open(round=round)
        opened = time.perf_counter() - started
        emails = EmailMessage.objects.filter(round=round)
        while emails.filter(status="sent").count() < n_panelists:
            if emails.filter(status="failed").exists():
                raise SystemExit(f"failed: {emails.filter(status='failed').first().error}")
            time.sleep(0.2)
        end_to_end = time.perf_counter() - started
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        received, doubled = sink.stop()
    ours = received - n_panelists  # the floor's messages went to the same server
    return {
        "panelists": n_panelists,
        "workers": n_workers,
        "open_round_s": opened,
        "end_to_end_s": end_to_end,
        "plain_smtplib_loop_s": floor,
        "ratio": end_to_end / floor,
        "delivered": ours,
        "delivered_twice": doubled,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--panelists", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as var, temporary_database(SERVER) as url:
        subprocess.run(["redis-cli", "-n", "13", "flushdb"], check=True, capture_output=True)
        setup_django(url, Path(var), broker=BROKER, eager=False)
        result = measure(args.panelists, args.workers)
    print(f"{'invitations':<40}{result['panelists']:>12,}")
    print(f"{'open the round (records them)':<40}{result['open_round_s']:>11.2f}s")
    print(f"{'all sent, end to end':<40}{result['end_to_end_s']:>11.2f}s")
    print(f"{'floor: plain smtplib loop':<40}{result['plain_smtplib_loop_s']:>11.2f}s")
    print(f"{'ratio (target <= 2)':<40}{result['ratio']:>12.2f}")
    print(
        f"{'delivered / delivered twice':<40}{result['delivered']:>6} / {result['delivered_twice']}"
    )
    print(json.dumps(result))
    if result["delivered"] != result["panelists"] or result["delivered_twice"]:
        raise SystemExit("the server did not get every invitation exactly once")
    return result


if __name__ == "__main__":
    main()


SCALES = {"small": 1_000, "full": 10_000}


def figures(scale: str) -> list[Any]:
    """The figures for `python -m benchmarks`."""
    from benchmarks.__main__ import Figure

    with tempfile.TemporaryDirectory() as var, temporary_database(SERVER) as url:
        subprocess.run(["redis-cli", "-n", "13", "flushdb"], check=True, capture_output=True)
        setup_django(url, Path(var), broker=BROKER, eager=False)
        found = measure(SCALES[scale], 4)
    if found["delivered"] != found["panelists"] or found["delivered_twice"]:
        raise SystemExit("the server did not get every invitation exactly once")
    floor, name = found["plain_smtplib_loop_s"], "plain smtplib loop, one connection"
    n = f"{found['panelists']:,}"
    return [
        Figure("invitations", f"{n} invitations sent, 4 workers", found["end_to_end_s"], "s",
               name, floor, "<= 2x"),
        Figure("invitations", "opening the round (records them)", found["open_round_s"], "s",
               target="< 5 s", met=found["open_round_s"] < 5),
    ]  # fmt: skip
