"""The platform's own processes, started for real by tests: the outbox relay
(`manage.py relay_outbox`) and the API under its server (deploy/serve.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def stack_env(database_name: str, **extra: str) -> dict[str, str]:
    """The environment of a platform process working on the test database."""
    database = settings.DATABASES["default"]
    env = dict(
        os.environ,
        DATABASE_URL=(
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/{database_name}"
        ),
        # Tests wait on real conditions; a fast safety-net poll keeps them short.
        NOREBOOT_OUTBOX_POLL_SECONDS="1",
    )
    env.update(extra)
    return env


class PlatformProcess:
    command: list[str]

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self.process: subprocess.Popen | None = None
        # A file, not a pipe: nobody reads while the test runs, and a full pipe would block the process.
        self._log = tempfile.TemporaryFile(mode="w+")

    def start(self) -> None:
        # A process group of its own, which stop() clears: a worker process
        # must not outlive its server (one SIGKILLed after the grace period).
        self.process = subprocess.Popen(
            self.command, env=self._env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        """SIGKILL: no chance to flush, mark or release anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> str:
        """Stop gracefully; returns everything it logged."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process = None
        return self.output()

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, f"{text!r} not logged: {self.output()[-2000:]}"
            time.sleep(0.05)


class RelayProcess(PlatformProcess):
    def __init__(self, database_name: str, **extra_env: str) -> None:
        super().__init__(stack_env(database_name, **extra_env))
        self.command = [sys.executable, str(ROOT / "manage.py"), "relay_outbox"]


class AckCollectorProcess(PlatformProcess):
    """`manage.py collect_acks` in a consumer group of its own: other test runs
    share the broker, and a shared group would split the partitions with them."""

    def __init__(self, database_name: str, **extra_env: str) -> None:
        super().__init__(stack_env(
            database_name, NOREBOOT_ACK_CONSUMER_GROUP=f"test-acks-{os.getpid()}-{time.monotonic_ns()}", **extra_env
        ))
        self.command = [sys.executable, str(ROOT / "manage.py"), "collect_acks"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ApiServer(PlatformProcess):
    """The API under its server (deploy/serve.py) with several workers, as in production."""

    def __init__(self, database_name: str, workers: int = 2, **extra_env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(stack_env(
            database_name, NOREBOOT_BIND=f"127.0.0.1:{self.port}", WEB_CONCURRENCY=str(workers), **extra_env
        ))
        self.command = [sys.executable, str(ROOT / "deploy" / "serve.py")]

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).close()
                return
            except OSError:
                if time.monotonic() >= deadline:
                    # Not left running for the rest of the session: the caller's teardown never sees it.
                    output = self.stop()
                    raise AssertionError(f"the API did not answer: {output[-2000:]}") from None
                time.sleep(0.1)


def http_call(url: str, method: str = "GET", token: str | None = None, body: dict | None = None, **headers):
    """(status, body text) of one request to a platform process; error statuses are answers too."""
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
