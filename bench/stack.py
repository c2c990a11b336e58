"""Where the benchmark runs: its paths, the processes it starts (each stopped
by its process-group id, whatever happens) and its own API and outbox relay."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from httpraw import Connection

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PIDFILE = RESULTS / ".pids.json"
PY = sys.executable
HOST = "127.0.0.1"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Processes:
    """Every child runs in a session of its own (so a terminal's Ctrl-C reaches
    only us) and is stopped by its process-group id, never by name."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.children: list[subprocess.Popen] = []
        self.env = dict(os.environ, NOREBOOT_BENCH_RUN=run_id, PYTHONUNBUFFERED="1")

    def spawn(self, argv: list[str], *, stdout=None, stderr=None, stdin=None, text=True, env=None) -> subprocess.Popen:
        process = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **(env or {})}, stdout=stdout, stderr=stderr, stdin=stdin,
            text=text, start_new_session=True,
        )
        self.children.append(process)
        self._write_pidfile()
        return process

    def run_json(self, script: str, *args: str, timeout: float) -> dict:
        """Runs bench/<script> to its end and returns the JSON of its last stdout line."""
        out = subprocess.run([PY, str(BENCH / script), *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                             timeout=timeout, start_new_session=True)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join([script, *args[:-1]])} failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def _write_pidfile(self) -> None:
        alive = [p.pid for p in self.children if p.poll() is None]
        PIDFILE.write_text(json.dumps({"run_id": self.run_id, "pids": alive}))

    @staticmethod
    def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(5)

    def terminate_all(self) -> None:
        """Ask every child to stop, without waiting: they wind down together
        (and while the report is drawn), not one after another."""
        for process in self.children:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def stop_all(self) -> None:
        self.terminate_all()
        for process in reversed(self.children):
            self.stop(process)
        self._write_pidfile()

    @staticmethod
    def reap_stale() -> None:
        """Stop what an earlier run that was killed outright left behind: only
        processes named in our pid file that carry that run's marker."""
        try:
            old = json.loads(PIDFILE.read_text())
        except (OSError, ValueError):
            return
        marker = f"NOREBOOT_BENCH_RUN={old.get('run_id')}".encode()
        for pid in old.get("pids", []):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if marker not in f.read().split(b"\0"):
                        continue
                os.killpg(pid, signal.SIGTERM)
                log(f"stopped process group {pid} left by an earlier run")
            except (OSError, ProcessLookupError):
                continue


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) != 0


def kafka_identity() -> str | None:
    """The local broker's pid and start time: changes when someone restarts it."""
    try:
        pid = (ROOT / ".local" / "kafka" / "kafka.pid").read_text().strip()
        with open(f"/proc/{pid}/stat") as f:
            return f"{pid}:{f.read().rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        return None


class Stack:
    """The bench's own API (deploy/serve.py) and outbox relay against the main database."""

    def __init__(self, procs: Processes, *, port: int, workers: int, threads: int, notes: list[str]) -> None:
        self.procs = procs
        self.port = port
        self.workers, self.threads = workers, threads
        self.notes = notes
        self.relay_state = "unknown"

    def start(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        Processes.reap_stale()
        port = self.port
        while not port_free(port):
            port += 1
            if port > self.port + 20:
                raise SystemExit(f"no free port in {self.port}..{port}")
        if port != self.port:
            self.notes.append(f"port {self.port} was taken; the bench API used {port}")
        self.port = port
        self.api_log = open(RESULTS / "api.log", "w")
        self.relay_log_path = RESULTS / "relay.log"
        self.relay_log = open(self.relay_log_path, "w")
        # As `make run` runs them: the project's API server, a metrics folder
        # shared by the workers and the relay (fresh for the run), no relay
        # metrics port (it could clash with a `make run`).
        metrics_dir = RESULTS / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "NOREBOOT_RELAY_METRICS_PORT": "0"}
        self.api = self.procs.spawn(
            [PY, str(ROOT / "deploy" / "serve.py")], stdout=self.api_log, stderr=subprocess.STDOUT,
            env={**env, "NOREBOOT_BIND": f"{HOST}:{self.port}", "WEB_CONCURRENCY": str(self.workers),
                 "NOREBOOT_THREADS": str(self.threads)},
        )
        self.relay = self.procs.spawn([PY, "manage.py", "relay_outbox"], stdout=self.relay_log,
                                      stderr=subprocess.STDOUT, env=env)

    def wait(self) -> None:
        deadline = time.monotonic() + 60
        conn = Connection(HOST, self.port, timeout=5)
        while True:
            if self.api.poll() is not None:
                raise SystemExit(f"the bench API exited; see {RESULTS / 'api.log'}:\n" + (RESULTS / "api.log").read_text()[-3000:])
            try:
                if conn.request("GET", "/healthz").status == 200:
                    break
            except OSError:
                conn.close()
            if time.monotonic() > deadline:
                raise SystemExit("the bench API did not answer /healthz within 60 s")
            time.sleep(0.1)
        conn.close()
        while time.monotonic() < deadline:
            text = self.relay_log_path.read_text()
            if self.relay.poll() is not None:
                raise SystemExit(f"the bench relay exited:\n{text[-3000:]}")
            if "relay active" in text:
                self.relay_state = "active"
                break
            if "standby" in text:
                self.relay_state = "standby"
                self.notes.append("another relay holds the lock on this database (a `make run`?): it publishes "
                                  "the bench's events, not the bench's own relay")
                break
            time.sleep(0.1)

    def drain_outbox(self, timeout: float = 60.0) -> None:
        """Start from an empty outbox, so that no phase pays for events written
        while no relay ran (an earlier run stopped mid-way, manual writes)."""
        from django.db import connection

        from apps.configs.models import OutboxEvent

        pending = OutboxEvent.objects.filter(published_at__isnull=True)
        backlog = pending.count()
        if backlog:
            deadline = time.monotonic() + timeout
            while pending.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            left = pending.count()
            self.notes.append(f"the outbox held {backlog} unpublished events at the start; "
                              + (f"{left} still unpublished after {timeout:.0f} s" if left else "drained before measuring"))
            log(f"outbox backlog of {backlog} events " + ("drained" if not left else f"not drained ({left} left)"))
        connection.close()
