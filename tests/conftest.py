from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    """A URL for the database the tests are using right now (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker in its own process, on the test database and the test broker."""
    with start_worker() as worker:
        yield worker


@contextlib.contextmanager
def start_worker() -> Iterator[subprocess.Popen[bytes]]:
    """Start a worker on a clean queue (messages left by an earlier run are dropped)."""
    from delphi.celery import app

    app.control.purge()
    env = os.environ.copy()
    env["DATABASE_URL"] = _database_url()
    env["DELPHI_VAR_DIR"] = str(settings.VAR_DIR)
    command = [sys.executable, "-m", "celery", "-A", "delphi", "worker", "--pool=solo",
               "--loglevel=WARNING", "--without-heartbeat", "--without-gossip",
               "--without-mingle"]  # fmt: skip
    worker = subprocess.Popen(command, env=env, cwd=ROOT)
    time.sleep(0.5)
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.fixture(autouse=True)
def _english(settings: object) -> None:
    from django.utils import translation

    translation.activate("en")
