"""Real faults for the durable-job tests: workers killed with SIGKILL, a broker that goes
away and comes back, a mail server that refuses and then accepts.

Each test runs on both brokers the product supports out of the box: kombu's filesystem
transport (the single-machine default) in a folder of its own, and a private redis-server
on a free port. The web requests run in this process, with the Celery app pointed at the
test's broker; the workers are real `celery worker -B` processes (with beat, so their tick
takes over stalled jobs), on the test database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings

from tests.conftest import ROOT, _database_url

LEASE_SECONDS = 3
TICK_SECONDS = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    check: Callable[[], Any], timeout: float = 60.0, every: float = 0.2, *, what: str = ""
) -> Any:
    """Poll until `check()` is truthy; fail with a clear message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"still not true after {timeout:.0f} s: {what or check.__doc__ or check}")


# --------------------------------------------------------------------------- brokers


@dataclass
class Broker:
    """A broker for one test, which can be stopped and started again."""

    name: str
    url: str
    var_dir: Path
    transport_options: dict[str, Any]
    stop: Callable[[], None]
    start: Callable[[], None]

    def worker_env(self) -> dict[str, str]:
        return {"CELERY_BROKER_URL": self.url, "DELPHI_VAR_DIR": str(self.var_dir)}


def _point_app_at(url: str, options: dict[str, Any]) -> None:
    from kombu import pools

    from delphi.celery import app

    pools.reset()  # closes kombu's connection pools and forgets them, so new ones are made
    os.environ["CELERY_BROKER_URL"] = url  # Celery reads it before its own setting
    app.conf.broker_url = url
    app.conf.broker_transport_options = options
    app._pool = None  # the connection pool is made again from the new settings
    with contextlib.suppress(AttributeError, KeyError):
        app.__dict__["amqp"]._producer_pool = None


def _filesystem(var_dir: Path) -> Broker:
    folder = var_dir / "celery"
    for name in ("queue", "processed", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    queue, down = folder / "queue", folder / "queue.down"
    options = {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }

    def stop() -> None:  # the folder becomes a file: every publish fails
        queue.rename(down)
        queue.write_text("broker down")

    def start() -> None:
        queue.unlink()
        down.rename(queue)

    return Broker("filesystem", "filesystem://", var_dir, options, stop, start)


def _redis(var_dir: Path) -> tuple[Broker, Callable[[], None]]:
    port = free_port()
    process: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:
        process["server"] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(var_dir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: _listening(port), timeout=10)

    def stop() -> None:
        server = process.pop("server", None)
        if server is not None:
            server.terminate()
            server.wait(timeout=10)

    start()
    options = {"visibility_timeout": 3600, "socket_connect_timeout": 2, "socket_timeout": 5}
    broker = Broker("redis", f"redis://127.0.0.1:{port}/0", var_dir, options, stop, start)
    return broker, stop


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(params=["filesystem", "redis"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """The test's own broker; this process publishes to it while the test runs."""
    from delphi.celery import app

    if request.param == "redis" and shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (./dev test installs it)")
    saved = (app.conf.broker_url, dict(app.conf.broker_transport_options or {}))
    saved_env = os.environ.get("CELERY_BROKER_URL")
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if request.param == "filesystem":
        found = _filesystem(tmp_path)
    else:
        found, cleanup = _redis(tmp_path)
    _point_app_at(found.url, found.transport_options)
    try:
        yield found
    finally:
        _point_app_at(*saved)
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        cleanup()


# --------------------------------------------------------------------------- mail


@dataclass
class Sink:
    """A local SMTP server that records what it accepts; it can refuse for a while, and
    take its time over each message."""

    host: str
    port: int
    delay: float = 0.0
    refusing: bool = False
    received: list[str] = field(default_factory=list)  # Message-IDs, in order
    refused: int = 0

    def counts(self) -> Counter[str]:
        return Counter(self.received)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refusing:
            self.refused += 1
            return "421 Service not available, try again later"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        content = envelope.original_content or b""
        ident = next(
            (line.split(b":", 1)[1].strip().decode() for line in content.splitlines()
             if line.lower().startswith(b"message-id:")),
            "?",
        )  # fmt: skip
        self.received.append(ident)
        return "250 Message accepted"

    def env(self) -> dict[str, str]:
        return {"EMAIL_HOST": self.host, "EMAIL_PORT": str(self.port), "EMAIL_USE_TLS": "0"}


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    sink = Sink("127.0.0.1", free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


# --------------------------------------------------------------------------- workers


@dataclass
class Workers:
    broker: Broker
    extra_env: dict[str, str]
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, *, pause: float = 0.0, beat: bool = True) -> subprocess.Popen[bytes]:
        """A real worker (with its own beat) on the test database and the test's broker."""
        env = os.environ.copy()
        env.update(self.broker.worker_env())
        env.update(self.extra_env)
        env.update(
            DATABASE_URL=_database_url(),
            DELPHI_JOB_LEASES=f"default={LEASE_SECONDS}",
            DELPHI_TICK_SECONDS=str(TICK_SECONDS),
            DELPHI_JOB_REPUBLISH_SECONDS="2",
            DELPHI_RETRY_BASE_SECONDS="1",
            DELPHI_JOB_PAUSE_SECONDS=str(pause),
            DELPHI_REPORTS_ROOT=str(settings.REPORTS_ROOT),
        )
        schedule = self.broker.var_dir / f"beat-{len(self.started)}"
        command = [sys.executable, "-m", "celery", "-A", "delphi", "worker", "--pool=solo",
                   "--loglevel=WARNING", "--without-heartbeat", "--without-gossip",
                   "--without-mingle", "-n", f"w{len(self.started)}@%h"]  # fmt: skip
        if beat:
            command += ["-B", "--schedule", str(schedule)]
        # A session of its own: the worker's embedded beat is a child process, and a SIGKILL
        # to the worker alone would leave it running, orphaned, after the test.
        worker = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
        self.started.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen[bytes]) -> None:
        """SIGKILL to the worker and its beat (as when the machine or container dies): no
        clean-up, no acknowledgement, no chance to finish anything."""
        _signal_group(worker, signal.SIGKILL)
        worker.wait(timeout=10)

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.poll() is None:
                _signal_group(worker, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(timeout=20)
            _signal_group(worker, signal.SIGKILL)  # whatever is left of its group
            worker.wait(timeout=10)
        left = [w.pid for w in self.started if not _group_gone(w)]
        assert not left, f"processes of the worker groups {left} outlived the test"


def _group_gone(worker: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    """Whether no process of the worker's group is left (orphans are reaped by init)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(worker.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _signal_group(worker: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(worker.pid, sig)


@pytest.fixture
def workers(broker: Broker, transactional_db: None) -> Iterator[Workers]:
    found = Workers(broker, {})
    try:
        yield found
    finally:
        found.stop_all()


@pytest.fixture
def sending_workers(broker: Broker, smtp_sink: Sink, transactional_db: None) -> Iterator[Workers]:
    """Workers that send their e-mails to the test's SMTP sink."""
    found = Workers(broker, smtp_sink.env())
    try:
        yield found
    finally:
        found.stop_all()


@pytest.fixture(autouse=True)
def _fault_settings(settings: Any) -> None:
    """This process (the web side) uses the same short leases as the workers."""
    settings.DELPHI_JOB_LEASES = {"default": LEASE_SECONDS}
    assert settings.VAR_DIR  # the suite's var folder exists


__all__ = ["ROOT", "Broker", "Sink", "Workers", "settings", "wait_for"]
