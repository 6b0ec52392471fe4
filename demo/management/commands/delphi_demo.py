from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from demo import kce as demo
from demo import realtime as realtime_demo
from reports import exports
from rounds.errors import DomainError
from rounds.models import StudyMembership

DEMO_USER = "coordinator"
DEMO_PASSWORD = "delphi-demo"  # a demo account, printed on purpose
VIEWER_USER = "policy"


class Command(BaseCommand):
    help = (
        "Create the demo studies (simulated data): 'kce-burnout-gp', a two-round replay of the "
        "KCE 165 design with 59 simulated GPs, 'demo-live' with round 2 open, "
        "'demo-round0' whose panel proposed new items in a round 0, and 'demo-realtime', "
        "a real-time study open for three days. Writes "
        "DIR/ratings.csv, DIR/results.csv and DIR/report.pdf for 'kce-burnout-gp'. The analyses "
        "run in a real Celery worker, started for the occasion unless --external-worker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="folder for the three files")
        parser.add_argument("--seed", type=int, default=165)
        parser.add_argument(
            "--external-worker",
            action="store_true",
            help="use a Celery worker that is already running instead of starting one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        worker = None if options["external_worker"] else _start_worker()
        try:
            result = demo.build_demo(seed=options["seed"])
            realtime_demo.build_realtime_demo(np.random.default_rng(options["seed"]))
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
        out.mkdir(parents=True, exist_ok=True)
        exports.write_ratings_csv(result.kce, out / "ratings.csv")
        exports.write_results_csv(result.kce, out / "results.csv")
        with result.report.pdf.open("rb") as pdf:
            (out / "report.pdf").write_bytes(pdf.read())
        _ensure_user(DEMO_USER, superuser=True)
        viewer = _ensure_user(VIEWER_USER, superuser=False)
        StudyMembership.objects.get_or_create(
            study=result.kce, user=viewer, defaults={"role": StudyMembership.Role.VIEWER}
        )
        entry = reverse("demo-visitor")  # the home page links here; no token is written
        info = {
            "username": DEMO_USER,
            "password": DEMO_PASSWORD,
            "viewer": VIEWER_USER,
            "panelist_link": entry,
        }
        (settings.VAR_DIR / "demo.json").write_text(json.dumps(info), encoding="utf-8")
        self.stdout.write(
            f"Demo ready (simulated data). Files in {out}: ratings.csv, results.csv, report.pdf\n"
            f"Coordinator login: {DEMO_USER} / {DEMO_PASSWORD}; policy team (viewer) login: "
            f"{VIEWER_USER} / {DEMO_PASSWORD}\n"
            f"As a demo panelist (study demo-live, round 2 open): {settings.SITE_URL}{entry}\n"
            f"Real-time study: {realtime_demo.REALTIME_SLUG} (open, simulated for three days)"
        )


def _start_worker() -> subprocess.Popen[bytes]:
    """A real worker process for the demo's analyses, with this process's settings."""
    command = [sys.executable, "-m", "celery", "-A", "delphi", "worker", "--pool=solo",
               "--concurrency=1", "--loglevel=WARNING", "--without-heartbeat",
               "--without-gossip", "--without-mingle"]  # fmt: skip
    return subprocess.Popen(command, env=os.environ.copy(), cwd=settings.BASE_DIR)


def _ensure_user(username: str, *, superuser: bool) -> Any:
    users = get_user_model()
    user = users.objects.filter(username=username).first()
    if user is not None:
        return user
    email = f"{username}@demo.invalid"
    if superuser:
        return users.objects.create_superuser(username, email, DEMO_PASSWORD)
    return users.objects.create_user(username, email, DEMO_PASSWORD)
