"""What the benchmarks share: a throwaway PostgreSQL database, Django set up on it, a port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def temporary_database(server: str) -> Iterator[str]:
    """A fresh database on ``server``, dropped afterwards; yields its URL."""
    import psycopg

    name = f"delphi_bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    try:
        yield url
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(url: str, var_dir: Path, *, broker: str | None = None, eager: bool = True) -> None:
    """Migrate the database at ``url`` and set Django up on it in this process (and in the
    environment, for the processes this one starts)."""
    env = {"DATABASE_URL": url, "DELPHI_VAR_DIR": str(var_dir)}
    if broker:
        env["CELERY_BROKER_URL"] = broker
    if eager:
        env["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=os.environ, check=True
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delphi.settings")
    import django

    django.setup()
