"""`make bench` / `make bench-quick`: the benchmarks of issue 10 against the real
local stack, with the raw baselines measured in the same run.

The run starts its own API (gunicorn on 127.0.0.1:8001 by default) and its own
outbox relay against the main database, creates or reuses the bench fixtures
(bench/setup_data.py), measures, prints a table with the targets of the issue
and writes bench/results/latest.json. Whatever happens (failure, Ctrl-C,
SIGTERM) it stops every process it started.

Options: --mode quick|full, --only phase,... (propagation, polling, floor,
writes, reads, sdk), --port, --workers, --threads. Environment: BENCH_PORT,
BENCH_WORKERS, BENCH_THREADS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from pathlib import Path

from httpraw import Connection
from procstat import CpuMeter
from stats import summary

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PIDFILE = RESULTS / ".pids.json"
PY = sys.executable
HOST = "127.0.0.1"

MODES = {
    "quick": {
        "budget_s": 60,
        "prop": [(1, 1, 20), (20, 4, 6), (100, 4, 5)],  # (clients, processes, writes)
        "prop_gap": (0.02, 0.06),
        "pollers": 5, "poll_changes": 3,
        "pg_floor": 40, "kafka_floor": 60,
        "writes_s": 3.0, "single_s": 2.0, "spread_s": 2.0,
        "list_k1": 20, "list_k10": 5, "n304": 150, "spec_list": 20, "tput_s": 2.0,
        "boot_runs": 2, "get_repeat": 15, "get_number": 100_000, "apply_events": 300,
    },
    "full": {
        "budget_s": 600,
        "prop": [(1, 1, 200), (20, 4, 60), (100, 4, 60)],
        "prop_gap": (0.05, 0.15),
        "pollers": 5, "poll_changes": 30,
        "pg_floor": 300, "kafka_floor": 500,
        "writes_s": 30.0, "single_s": 30.0, "spread_s": 20.0,
        "list_k1": 300, "list_k10": 60, "n304": 2000, "spec_list": 300, "tput_s": 15.0,
        "boot_runs": 10, "get_repeat": 50, "get_number": 200_000, "apply_events": 3000,
    },
}
PHASES = ("propagation", "polling", "floor", "writes", "reads", "sdk")

# Targets of issue 10.
T_PROP1_P50, T_PROP1_P99 = 10.0, 40.0
T_FLOOR_RATIO = 3.0
T_PROP100_P99 = 150.0
T_POLL_RATIO = 40.0
T_WRITES_RPS, T_WRITES_P99 = 400.0, 50.0
T_LIST1K, T_LIST10K, T_304, T_304_RPS = 5.0, 40.0, 2.0, 1500.0
T_GET_RATIO = 2.0
T_BOOT = 500.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- processes we start, and their cleanup ---------------------------------------

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

    def stop_all(self) -> None:
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


# -- the benchmark ---------------------------------------------------------------

class Bench:
    def __init__(self, args) -> None:
        self.args = args
        self.cfg = MODES[args.mode]
        self.run_id = uuid.uuid4().hex
        self.procs = Processes(self.run_id)
        self.port = args.port
        self.metrics: dict[str, dict] = {}
        self.cpu: dict[str, dict] = {}
        self.notes: list[str] = []
        self.raw: dict[str, object] = {}
        self.current_phase = "setup"
        self.hit_phases: dict[str, str] = {}
        self.value_base = time.time_ns() // 1000  # config values rise across runs, so every write is a change
        self.value_seq = 0
        self.started = time.monotonic()

    # -- stack ---------------------------------------------------------------

    def start_stack(self) -> None:
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
        # As `make run` runs them: the project's gunicorn settings when it has
        # them, a metrics folder shared by the workers and the relay (fresh for
        # the run), no relay metrics port (it could clash with a `make run`).
        metrics_dir = RESULTS / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "NOREBOOT_RELAY_METRICS_PORT": "0"}
        conf = ROOT / "deploy" / "gunicorn.conf.py"
        app = ["-c", str(conf)] if conf.exists() else ["--pythonpath", "platform", "config_service.wsgi:application"]
        self.api = self.procs.spawn(
            [PY, "-m", "gunicorn", *app, "--bind", f"{HOST}:{self.port}", "--workers", str(self.args.workers),
             "--threads", str(self.args.threads)],
            stdout=self.api_log, stderr=subprocess.STDOUT, env=env,
        )
        self.relay = self.procs.spawn([PY, "manage.py", "relay_outbox"], stdout=self.relay_log,
                                      stderr=subprocess.STDOUT, env=env)

    def wait_stack(self) -> None:
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
        self.relay_state = "unknown"
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

    # -- helpers -------------------------------------------------------------

    def next_value(self) -> int:
        self.value_seq += 1
        return self.value_base + self.value_seq

    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def put_path(self, key: str, name: str) -> str:
        return f"/api/v1/namespaces/{self.fx['paths'][key]}/configs/{name}/"

    def list_path(self, key: str) -> str:
        return f"/api/v1/namespaces/{self.fx['paths'][key]}/configs/"

    def jwt_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.fx['jwt']}", "Accept": "application/json"}

    def token_headers(self, key: str) -> dict:
        return {"Authorization": f"Bearer {self.fx['tokens'][key]}", "Accept": "application/json"}

    def metric(self, key: str, values, unit: str = "ms", **extra) -> dict:
        self.metrics[key] = summary(values, unit, phase=self.current_phase, **extra)
        return self.metrics[key]

    def phase(self, name: str, fn) -> None:
        """Run one phase with CPU accounting; run it again once if the broker was
        restarted under it (others' tests do that) or it says it was hit."""
        roots = {"api": [self.api.pid], "relay": [self.relay.pid], "bench": [os.getpid()]}
        self.current_phase = name
        for attempt in (1, 2):
            before = kafka_identity()
            meter = CpuMeter(roots)
            meter.start()
            log(f"{name} ...")
            hit = fn()
            cpu = meter.stop()
            restarted = before != kafka_identity()
            self.cpu[name] = cpu
            why = "the Kafka broker restarted during it" if restarted else str(hit)
            in_budget = time.monotonic() - self.started < 0.75 * self.cfg["budget_s"]
            if (restarted or hit) and attempt == 1 and in_budget:
                self.notes.append(f"{name}: re-run because {why}")
                log(f"{name}: re-running ({why})")
                continue
            if restarted or hit:
                self.hit_phases[name] = why
                self.notes.append(f"{name}: figures marked 'hit': {why}" + ("" if attempt == 2 else " (no time to re-run)"))
            return

    # -- 1. propagation ----------------------------------------------------------

    def start_clients(self, n: int, procs: int) -> ClientGroup:
        return ClientGroup(self, n, procs)

    def propagate(self, group: ClientGroup, writes: int, label: str, warmup: int = 3) -> str | None:
        conn = Connection(HOST, self.port)
        path = self.put_path("prop", "prop")
        headers = {**self.jwt_headers(), "Content-Type": "application/json"}
        lat, put_ms, records = [], [], []
        missing = errors = 0
        for i in range(warmup + writes):
            value = self.next_value()
            data = conn.build("PUT", path, headers, json.dumps({"value": value}).encode())
            t0_wall = time.time_ns()
            t0 = time.monotonic_ns()
            response = conn.send_raw(data)
            t_put = time.monotonic_ns()
            if response.status != 201:
                errors += 1
                self.notes.append(f"{label}: PUT answered {response.status} {response.body[:200]!r}")
                continue
            got = group.wait_for(value, timeout=10.0)
            if i >= warmup:
                lat.extend((t - t0) / 1e6 for t in got.values())
                missing += group.n - len(got)
                put_ms.append((t_put - t0) / 1e6)
                records.append({"t0_wall_ns": t0_wall, "revision": response.json()["revision"],
                                "apply_ms": sorted((t - t0) / 1e6 for t in got.values())})
            time.sleep(random.uniform(*self.cfg["prop_gap"]))
        conn.close()
        self.metric(f"{label}", lat, clients=group.n, processes=group.procs, writes=writes, missing=missing,
                    put_errors=errors)
        self.metric(f"{label}.put_response", put_ms)
        self.raw[label] = records
        self._stage_breakdown(label, records)
        if missing or errors:
            return f"{missing} client updates missing after 10 s, {errors} PUT errors"
        return None

    def _stage_breakdown(self, label: str, records: list[dict]) -> None:
        """Where the time went, from the outbox row's own timestamps (wall clock)."""
        from setup_data import outbox_times

        if not records:
            return
        ns = self.fx["namespaces"]["prop"]
        times = outbox_times(ns, min(r["revision"] for r in records) - 1, timeout=10)["times"]
        inserted, delivered = [], []
        for r in records:
            created, published = times.get(r["revision"], (None, None))
            if created is not None:
                inserted.append((created.timestamp() * 1e9 - r["t0_wall_ns"]) / 1e6)
            if published is not None:
                delivered.append((published.timestamp() * 1e9 - r["t0_wall_ns"]) / 1e6)
        self.metric(f"{label}.outbox_row", inserted)
        self.metric(f"{label}.relay_delivered", delivered)

    def run_propagation(self) -> None:
        for n, procs, writes in self.cfg["prop"]:
            if n != 1 and "propagation" not in self.only:
                continue
            label = f"propagation.n{n}"

            def one(n=n, procs=procs, writes=writes, label=label):
                group = self.start_clients(n, procs)
                try:
                    group.wait_ready(90)
                    hit = self.propagate(group, writes, label)
                    if n == 1 and "polling" in self.only:
                        # The polling baseline runs beside this client, on the same changes.
                        self.polling(group)
                    return hit
                finally:
                    group.close()

            self.phase(label if n != 1 or "polling" not in self.only else label + "+polling", one)

    # -- 3. polling baseline ---------------------------------------------------------

    def polling(self, group: ClientGroup) -> None:
        cfg = self.cfg
        spec = {"host": HOST, "port": self.port, "path": self.list_path("prop"), "token": self.fx["tokens"]["prop"],
                "name": "prop", "plain": cfg["pollers"], "etag": cfg["pollers"], "interval": 1.0}
        proc = self.procs.spawn([PY, str(BENCH / "poller.py"), json.dumps(spec)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=open(RESULTS / "poller.log", "w"))
        seen: dict[tuple[str, int], list[tuple[int, int]]] = {}
        final: dict = {}
        ready = threading.Event()

        def read() -> None:
            for line in proc.stdout:
                kind, _, rest = line.rstrip("\n").partition(" ")
                if kind == "R":
                    ready.set()
                elif kind == "E":
                    mode, index, value, t = rest.split(" ")
                    seen.setdefault((mode, int(index)), []).append((int(t), json.loads(value)))
                elif kind == "S":
                    final.update(json.loads(rest))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        ready.wait(30)
        time.sleep(1.1)  # every poller has seen the current value
        conn = Connection(HOST, self.port)
        path = self.put_path("prop", "prop")
        headers = {**self.jwt_headers(), "Content-Type": "application/json"}
        changes, ours = [], []
        for _ in range(cfg["poll_changes"]):
            value = self.next_value()
            data = conn.build("PUT", path, headers, json.dumps({"value": value}).encode())
            t0 = time.monotonic_ns()
            response = conn.send_raw(data)
            if response.status != 201:
                self.notes.append(f"polling: PUT answered {response.status}")
                continue
            changes.append((t0, value))
            ours.extend((t - t0) / 1e6 for t in group.wait_for(value, timeout=10.0).values())
            # Changes further apart than the interval, at random phases.
            time.sleep(max(0.0, t0 / 1e9 + random.uniform(1.05, 1.5) - time.monotonic_ns() / 1e9))
        time.sleep(1.1)
        conn.close()
        proc.stdin.close()
        proc.wait(15)
        reader.join(5)
        for mode in ("plain", "etag"):
            staleness, missed = [], 0
            for (m, _index), observations in seen.items():
                if m != mode:
                    continue
                for t0, value in changes:
                    first = next((t for t, v in observations if t >= t0 and isinstance(v, int) and v >= value), None)
                    if first is None:
                        missed += 1
                    else:
                        staleness.append((first - t0) / 1e6)
            self.metric(f"polling.{mode}", staleness, pollers=cfg["pollers"], changes=len(changes), missed=missed)
            self.metric(f"polling.{mode}.request", final.get("latencies", {}).get(mode, []),
                        statuses=final.get("statuses", {}).get(mode, {}))
        self.metric("polling.sdk_same_changes", ours)

    # -- 2. raw floor --------------------------------------------------------------------

    def run_floor(self) -> None:
        from django.conf import settings
        from setup_data import pg_floor

        from apps.configs.publisher import producer_config

        def pg():
            self.metric("floor.pg_write", pg_floor(self.fx["namespaces"]["floor"], self.fx["user"], self.cfg["pg_floor"]))

        def kafka():
            producer = dict(producer_config(), **{"client.id": "noreboot-bench-floor"})
            spec = {"topic": settings.KAFKA_TOPIC, "key": "bench/floor/kafka", "producer": producer,
                    "count": self.cfg["kafka_floor"], "warmup": 10, "gap": 0.01}
            out = subprocess.run([PY, str(BENCH / "kafka_floor.py"), json.dumps(spec)], cwd=ROOT, env=self.procs.env,
                                 capture_output=True, text=True, timeout=300, start_new_session=True)
            if out.returncode != 0:
                raise RuntimeError(f"kafka_floor failed: {out.stderr[-2000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            self.metric("floor.kafka_hop", result["hop_ms"], lost=result["lost"], partition=result["partition"],
                        broker_rtt_us=result["broker_rtt_us"], broker_int_latency_us=result["broker_int_latency_us"])
            self.metric("floor.kafka_ack", result["ack_ms"])
            return f"{result['lost']} Kafka messages lost" if result["lost"] else None

        self.phase("floor.pg", pg)
        self.phase("floor.kafka", kafka)

    # -- 4. writes ------------------------------------------------------------------------

    def loadgen(self, spec: dict, procs: int) -> list[dict]:
        outs = []
        children = []
        start_at = time.monotonic() + 1.0
        for p in range(procs):
            out = RESULTS / f".loadgen-{p}.json"
            outs.append(out)
            children.append(self.procs.spawn(
                [PY, str(BENCH / "loadgen.py"), json.dumps({**spec, "proc": p, "out": str(out), "start_at": start_at})],
                stderr=open(RESULTS / f"loadgen-{p}.log", "w")))
        for child in children:
            child.wait(spec["duration"] + 60)
        results = []
        for out in outs:
            results.extend(json.loads(out.read_text()))
            out.unlink()
        return results

    def run_writes(self) -> None:
        from setup_data import latest_version, namespace_revision, outbox_times, version_check

        namespace = self.fx["namespaces"]["write"]
        headers = self.jwt_headers()

        def writes(label: str, names: list[str], duration: float, spread: bool = False):
            """8 closed-loop writers; thread i writes names[i]: in bench/write/main,
            or (spread) each in a namespace of its own, bench/write/ns<i>."""
            keys = [f"write{i}" if spread else "write" for i in range(len(names))]
            since = {key: namespace_revision(self.fx["namespaces"][key]) for key in set(keys)}
            before = {name: latest_version(namespace, name) for name in set(names)}
            paths = [self.put_path(key, name) for key, name in zip(keys, names, strict=True)]
            spec = {"mode": "put", "host": HOST, "port": self.port, "threads": 8, "duration": duration,
                    "paths": paths, "headers": headers}
            results = self.loadgen(spec, 1)
            latencies = [x for r in results for x in r["lat"]]
            statuses: dict[str, int] = {}
            for r in results:
                for code, count in r["status"].items():
                    statuses[code] = statuses.get(code, 0) + count
            ok = statuses.get("201", 0)
            errors = sum(statuses.values()) - ok
            elapsed = max(r.get("elapsed", duration) for r in results)
            extra = {"writers": 8, "configs": len(set(paths)), "namespaces": len(set(keys)), "seconds": round(elapsed, 2),
                     "rate_per_s": round(ok / elapsed, 1), "errors": errors, "statuses": statuses,
                     "error_samples": [e for r in results for e in r["errors"]][:5]}
            if len(set(paths)) == 1:
                check = version_check(namespace, names[0], before[names[0]])
                answered = sorted(v for r in results for v in r["versions"])
                check["answered_versions_match"] = answered == list(range(before[names[0]] + 1, before[names[0]] + 1 + ok))
                check["written_equals_ok"] = check["written"] == ok
                extra["version_check"] = check
            lags, unpublished = [], 0
            for key, revision in since.items():
                lag = outbox_times(self.fx["namespaces"][key], revision, timeout=120)
                unpublished += lag["unpublished"]
                lags.extend((published - created).total_seconds() * 1000
                            for created, published in lag["times"].values() if published is not None)
            extra["unpublished_after_wait"] = unpublished
            self.metric(label, latencies, **extra)
            self.metric(label + ".outbox_lag", lags)
            return f"{errors} errors" if any(not c.isdigit() for c in statuses) else None

        self.phase("writes.distinct", lambda: writes("writes.distinct", [f"w{i}" for i in range(8)], self.cfg["writes_s"]))
        self.phase("writes.one_config", lambda: writes("writes.one_config", ["hot"] * 8, self.cfg["single_s"]))
        self.phase("writes.namespaces", lambda: writes("writes.namespaces", ["w"] * 8, self.cfg["spread_s"], spread=True))

    # -- 5. reads -----------------------------------------------------------------------

    def sequential(self, path: str, headers: dict, count: int, warmup: int = 3):
        conn = Connection(HOST, self.port)
        data = conn.build("GET", path, headers)
        latencies, statuses, last = [], {}, None
        for i in range(warmup + count):
            t0 = time.monotonic_ns()
            response = conn.send_raw(data)
            t1 = time.monotonic_ns()
            last = response
            if i >= warmup:
                latencies.append((t1 - t0) / 1e6)
                statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
        conn.close()
        return latencies, statuses, last

    def run_reads(self) -> None:
        cfg = self.cfg

        def lists():
            for key, count in (("k1", cfg["list_k1"]), ("k10", cfg["list_k10"])):
                lat, statuses, last = self.sequential(self.list_path(key), self.token_headers(key), count)
                body = last.json()
                self.metric(f"reads.list_{key}.200", lat, statuses=statuses, configs=len(body["configs"]),
                            bytes=len(last.body))
                etag = last.headers["etag"]
                lat, statuses, _ = self.sequential(self.list_path(key), {**self.token_headers(key), "If-None-Match": etag},
                                                   cfg["n304"] if key == "k1" else max(50, cfg["n304"] // 4))
                self.metric(f"reads.list_{key}.304", lat, statuses=statuses)
            lat, statuses, last = self.sequential("/api/configs/", self.jwt_headers(), cfg["spec_list"])
            self.metric("reads.spec_list", lat, statuses=statuses, configs=len(last.json()), bytes=len(last.body))

        def throughput():
            _lat, _s, last = self.sequential(self.list_path("k1"), self.token_headers("k1"), 1, warmup=0)
            spec = {"mode": "get", "host": HOST, "port": self.port, "threads": 4, "duration": cfg["tput_s"],
                    "path": self.list_path("k1"), "headers": {**self.token_headers("k1"), "If-None-Match": last.headers["etag"]}}
            results = self.loadgen(spec, 2)
            latencies = [x for r in results for x in r["lat"]]
            statuses: dict[str, int] = {}
            for r in results:
                for code, count in r["status"].items():
                    statuses[code] = statuses.get(code, 0) + count
            elapsed = max(r.get("elapsed", cfg["tput_s"]) for r in results)
            self.metric("reads.304_throughput", latencies, connections=8, load_processes=2, seconds=round(elapsed, 2),
                        rate_per_s=round(statuses.get("304", 0) / elapsed, 1), statuses=statuses)

        self.phase("reads.latency", lists)
        self.phase("reads.304_throughput", throughput)

    # -- 6. SDK ---------------------------------------------------------------------------

    def run_sdk(self) -> None:
        cfg = self.cfg
        from django.conf import settings

        bootstrap = settings.KAFKA_BOOTSTRAP_SERVERS

        def boot():
            runs = []
            spec = {"namespace": self.fx["paths"]["k10"], "api_url": self.api_url(), "token": self.fx["tokens"]["k10"],
                    "bootstrap": bootstrap}
            for _ in range(cfg["boot_runs"]):
                out = subprocess.run([PY, str(BENCH / "sdk_bench.py"), "bootstrap", json.dumps(spec)], cwd=ROOT,
                                     env=self.procs.env, capture_output=True, text=True, timeout=120,
                                     start_new_session=True)
                if out.returncode != 0:
                    raise RuntimeError(f"sdk_bench bootstrap failed: {out.stderr[-2000:]}")
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            self.metric("sdk.bootstrap_10k", [r["ms"] for r in runs], configs=runs[0]["configs"])
            self.metric("sdk.rss_10k", [r["rss_settled_kb"] / 1024 for r in runs], unit="MiB",
                        before_start_mib=[round(r["rss_before_kb"] / 1024, 1) for r in runs],
                        after_start_mib=[round(r["rss_after_kb"] / 1024, 1) for r in runs])

        def micro():
            spec = {"api_url": self.api_url(), "bootstrap": bootstrap, "repeat": cfg["get_repeat"],
                    "number": cfg["get_number"], "events": cfg["apply_events"],
                    "targets": [
                        {"namespace": self.fx["paths"]["k10"], "token": self.fx["tokens"]["k10"], "label": "10k", "get": True},
                        {"namespace": self.fx["paths"]["k1"], "token": self.fx["tokens"]["k1"], "label": "1k"},
                        {"namespace": self.fx["paths"]["prop"], "token": self.fx["tokens"]["prop"], "label": "11"},
                    ]}
            out = subprocess.run([PY, str(BENCH / "sdk_bench.py"), "micro", json.dumps(spec)], cwd=ROOT,
                                 env=self.procs.env, capture_output=True, text=True, timeout=300, start_new_session=True)
            if out.returncode != 0:
                raise RuntimeError(f"sdk_bench micro failed: {out.stderr[-2000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            get = result["get"]
            self.metric("sdk.get", get["client_ns"], unit="ns", number=get["number"], configs=get["configs"])
            self.metric("sdk.dict_get", get["dict_ns"], unit="ns", number=get["number"])
            self.metric("sdk.loop_overhead", get["loop_ns"], unit="ns", number=get["number"])
            for label, costs in result["apply_us"].items():
                self.metric(f"sdk.apply_{label}", costs, unit="us")

        self.phase("sdk.bootstrap", boot)
        self.phase("sdk.micro", micro)

    # -- main ---------------------------------------------------------------------------

    def run(self) -> int:
        self.only = set(self.args.only.split(",")) if self.args.only else set(PHASES)
        log(f"mode {self.args.mode}: starting the bench API on {HOST}:{self.port} and a relay")
        self.start_stack()
        import django

        sys.path[:0] = [str(ROOT), str(ROOT / "platform")]
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_service.settings")
        django.setup()
        from django.db import connection
        from setup_data import ensure_fixtures

        self.fx = ensure_fixtures()
        connection.close()
        for key, seeded in self.fx["seeded"].items():
            if seeded["added"]:
                log(f"seeded {seeded['added']} configs into {self.fx['paths'][key]} in {seeded['seconds']} s")
        self.wait_stack()
        log(f"API up on port {self.port} ({self.args.workers} workers x {self.args.threads} threads), relay {self.relay_state}")
        self.drain_outbox()
        failed = None
        try:
            if "propagation" in self.only or "polling" in self.only:
                self.run_propagation()
            if "floor" in self.only:
                self.run_floor()
            if "writes" in self.only:
                self.run_writes()
            if "reads" in self.only:
                self.run_reads()
            if "sdk" in self.only:
                self.run_sdk()
        except KeyboardInterrupt:
            log("interrupted: reporting what was measured, then stopping what the bench started")
            self.notes.append("the run was interrupted; figures are partial")
            self.report(None)
            return 130
        except Exception:  # report what was measured, then fail
            failed = traceback.format_exc()
            self.notes.append("the run failed: " + failed.strip().splitlines()[-1])
        return self.report(failed)

    # -- report -------------------------------------------------------------------------

    def report(self, failed: str | None) -> int:
        rows = build_rows(self.metrics)
        for r in rows:
            phase = self.metrics.get(r["key"], {}).get("phase")
            if phase in self.hit_phases:
                r["note"] = (r.get("note") + "; " if r.get("note") else "") + "hit: " + self.hit_phases[phase]
                r["metric"] = r["metric"] + " [hit]"
        wall = time.monotonic() - self.started
        head = [
            f"No-Reboot HQ benchmarks, mode {self.args.mode}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC, "
            f"{wall:.0f} s (budget {self.cfg['budget_s']} s)",
            f"machine: {os.cpu_count()} CPUs shared by everything below: the bench API (gunicorn, "
            f"{self.args.workers} workers x {self.args.threads} threads, 127.0.0.1:{self.port}), the relay "
            f"({self.relay_state}), PostgreSQL, the Kafka broker, the SDK clients and the load generators, "
            "and whatever else runs here (other people's tests). Figures are of this shared machine.",
            f"commit {git_state()}; load average before the run {self.loadavg_before}",
        ]
        table = format_table(rows)
        cpu_lines = ["CPU per phase (CPU seconds by process group; busy = share of all CPUs; others = share of the "
                     "CPU used that went to processes outside the stack and the bench; contended = those used more "
                     "than 0.25 CPU on average):"]
        contended = []
        for name, cpu in self.cpu.items():
            parts = ", ".join(f"{k} {v:.1f}" for k, v in cpu["cpu_s"].items())
            total = sum(cpu["cpu_s"].values()) or 1.0
            other_share = 100.0 * cpu["cpu_s"].get("other", 0.0) / total
            other_cores = cpu["cpu_s"].get("other", 0.0) / max(cpu["wall_s"], 1e-9)
            cpu["other_share_pct"] = round(other_share, 1)
            cpu["other_cores"] = round(other_cores, 2)
            flag = "  <- contended" if other_cores > 0.25 else ""
            if flag:
                contended.append(name)
            cpu_lines.append(f"  {name:<24} {cpu['wall_s']:>6.1f} s wall, busy {cpu['machine_busy_pct']:>5.1f}%, "
                             f"others {other_share:>3.0f}%: {parts}{flag}")
        if contended:
            self.notes.append(
                "processes outside the stack (\"other\") used more than a quarter of a CPU on average during: "
                + ", ".join(contended) + "; those figures are pessimistic, re-run on a quiet machine to compare")
        text = "\n".join(head) + "\n\n" + table + "\n\n" + "\n".join(cpu_lines)
        if self.notes:
            text += "\n\nnotes:\n" + "\n".join(f"  - {note}" for note in self.notes)
        print("\n" + text, flush=True)
        passed = sum(1 for r in rows if r.get("pass") is True)
        judged = sum(1 for r in rows if r.get("pass") is not None)
        print(f"\ntargets met: {passed} of {judged}", flush=True)
        doc = {
            "mode": self.args.mode, "finished_at": datetime.now(timezone.utc).isoformat(), "wall_seconds": round(wall, 1),
            "machine": {"cpus": os.cpu_count(), "loadavg_before": self.loadavg_before,
                        "loadavg_after": open("/proc/loadavg").read().split()[:3]},
            "stack": {"port": self.port, "workers": self.args.workers, "threads": self.args.threads,
                      "relay": self.relay_state, "commit": git_state()},
            "metrics": self.metrics, "targets": [r for r in rows if r.get("pass") is not None], "table": rows,
            "cpu": self.cpu, "notes": self.notes, "raw": self.raw, "error": failed,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "latest.json").write_text(json.dumps(doc, indent=1, default=str))
        (RESULTS / "latest.txt").write_text(text + "\n")
        log(f"wrote {RESULTS / 'latest.json'}")
        if failed:
            print(failed, file=sys.stderr, flush=True)
            return 1
        return 0


class ClientGroup:
    """n SDK clients spread over `procs` processes (bench/prop_client.py)."""

    def __init__(self, bench: Bench, n: int, procs: int) -> None:
        from django.conf import settings

        self.n, self.procs = n, procs
        self.bench = bench
        self.cond = threading.Condition()
        self.arrivals: dict[int, dict[int, int]] = {}
        self.ready = 0
        self.processes = []
        per = [n // procs + (1 if p < n % procs else 0) for p in range(procs)]
        first = 0
        for p, count in enumerate(per):
            spec = {"namespace": bench.fx["paths"]["prop"], "api_url": bench.api_url(), "token": bench.fx["tokens"]["prop"],
                    "bootstrap": settings.KAFKA_BOOTSTRAP_SERVERS, "count": count, "name": "prop", "first_index": first,
                    "kafka_config": bench.sdk_kafka_config}
            first += count
            process = bench.procs.spawn([PY, str(BENCH / "prop_client.py"), json.dumps(spec)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=open(RESULTS / f"clients-n{n}-{p}.log", "w"))
            self.processes.append(process)
            threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process) -> None:
        for line in process.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "E":
                index, value, t = rest.split(" ")
                try:
                    value = json.loads(value)
                except ValueError:
                    continue
                if not isinstance(value, int):
                    continue
                with self.cond:
                    self.arrivals.setdefault(value, {}).setdefault(int(index), int(t))
                    self.cond.notify_all()
            elif kind == "R":
                with self.cond:
                    self.ready += int(rest.split()[0])
                    self.cond.notify_all()

    def wait_ready(self, timeout: float) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.ready >= self.n, timeout):
                raise RuntimeError(f"only {self.ready} of {self.n} SDK clients started within {timeout:.0f} s")

    def wait_for(self, value: int, timeout: float) -> dict[int, int]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.arrivals.get(value, ())) >= self.n, timeout)
            return dict(self.arrivals.pop(value, {}))

    def close(self) -> None:
        for process in self.processes:
            try:
                process.stdin.close()
            except OSError:
                pass
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                Processes.stop(process)


# -- table ------------------------------------------------------------------------------

def build_rows(m: dict) -> list[dict]:
    rows: list[dict] = []

    def row(key: str, label: str, target: str = "", ok: bool | None = None, note: str = "") -> None:
        if key not in m:
            return
        rows.append({"key": key, "metric": label, **{k: m[key][k] for k in ("count", "p50", "p95", "p99", "max", "unit")},
                     "target": target, "pass": ok, "note": note})

    def value_row(label: str, value: float | None, unit: str, target: str, ok: bool | None, note: str = "") -> None:
        if value is None:
            return
        rows.append({"key": label, "metric": label, "count": None, "p50": value, "p95": None, "p99": None, "max": None,
                     "unit": unit, "target": target, "pass": ok, "note": note})

    def get(key, field="p50"):
        return m.get(key, {}).get(field)

    p1 = m.get("propagation.n1")
    if p1:
        extra = f"{p1['clients']} client; missing {p1['missing']}"
        row("propagation.n1", "propagation PUT->applied, N=1", "p50<=10, p99<=40",
            p1["p50"] <= T_PROP1_P50 and p1["p99"] <= T_PROP1_P99 and p1["missing"] == 0, extra)
        row("propagation.n1.put_response", "  of which: PUT response")
        row("propagation.n1.outbox_row", "  of which: outbox row inserted")
        row("propagation.n1.relay_delivered", "  of which: relay delivery report")
    for n in (20, 100):
        pn = m.get(f"propagation.n{n}")
        if pn:
            note = f"{pn['processes']} processes; missing {pn['missing']}"
            if n == 100:
                row("propagation.n100", "propagation PUT->applied, N=100", "p99<=150",
                    pn["p99"] <= T_PROP100_P99 and pn["missing"] == 0, note)
            else:
                row("propagation.n20", "propagation PUT->applied, N=20", "", None, note)
    row("floor.pg_write", "floor: write transaction (config_set)")
    row("floor.kafka_hop", "floor: Kafka produce->consume")
    row("floor.kafka_ack", "floor: Kafka produce->ack")
    if get("propagation.n1") and get("floor.pg_write") and get("floor.kafka_hop"):
        ratio = get("propagation.n1") / (get("floor.pg_write") + get("floor.kafka_hop"))
        value_row("propagation p50 / (PG p50 + Kafka p50)", round(ratio, 2), "x", "<=3", ratio <= T_FLOOR_RATIO)
    for mode, label in (("plain", "polling 1 s, plain GET"), ("etag", "polling 1 s, If-None-Match")):
        row(f"polling.{mode}", f"staleness: {label}", note=f"missed {m.get(f'polling.{mode}', {}).get('missed')}")
    row("polling.sdk_same_changes", "staleness: SDK, same changes")
    ours = get("polling.sdk_same_changes") or get("propagation.n1")
    for mode in ("plain", "etag"):
        if get(f"polling.{mode}") and ours:
            ratio = get(f"polling.{mode}") / ours
            value_row(f"polling {mode} p50 / SDK p50", round(ratio, 1), "x", ">=40" if mode == "plain" else "",
                      ratio >= T_POLL_RATIO if mode == "plain" else None)
    w = m.get("writes.distinct")
    if w:
        ok = w["rate_per_s"] >= T_WRITES_RPS and w["p99"] <= T_WRITES_P99 and w["errors"] == 0
        row("writes.distinct", f"PUT, 8 writers x 8 configs: {w['rate_per_s']:.0f}/s, {w['errors']} err",
            ">=400/s, p99<=50, 0 err", ok)
        row("writes.distinct.outbox_lag", "  outbox lag commit->delivered")
    s = m.get("writes.one_config")
    if s:
        check = s.get("version_check", {})
        good = (s["errors"] == 0 and check.get("contiguous") and check.get("written_equals_ok")
                and check.get("answered_versions_match") and check.get("active_rows") == 1)
        row("writes.one_config", f"PUT, 8 writers x 1 config: {s['rate_per_s']:.0f}/s, {s['errors']} err",
            "0 err, versions contiguous", bool(good),
            f"versions {check.get('first')}..{check.get('last')} contiguous={check.get('contiguous')}")
        row("writes.one_config.outbox_lag", "  outbox lag commit->delivered")
    n = m.get("writes.namespaces")
    if n:
        row("writes.namespaces", f"PUT, 8 writers x 8 namespaces: {n['rate_per_s']:.0f}/s, {n['errors']} err",
            note="no shared namespace lock (for comparison)")
        row("writes.namespaces.outbox_lag", "  outbox lag commit->delivered")
    for key, label, limit in (("k1", "1,000", T_LIST1K), ("k10", "10,000", T_LIST10K)):
        r = m.get(f"reads.list_{key}.200")
        if r:
            row(f"reads.list_{key}.200", f"GET list {label} configs (200)", f"p50<={limit:g}", r["p50"] <= limit,
                f"{r['bytes']} bytes")
        r = m.get(f"reads.list_{key}.304")
        if r:
            row(f"reads.list_{key}.304", f"GET list {label} configs (304)", "p50<=2", r["p50"] <= T_304)
    t = m.get("reads.304_throughput")
    if t:
        row("reads.304_throughput", f"conditional GETs, 8 conns: {t['rate_per_s']:.0f}/s", ">=1500/s",
            t["rate_per_s"] >= T_304_RPS, f"statuses {t['statuses']}")
    row("reads.spec_list", "GET /api/configs/", note=f"{m.get('reads.spec_list', {}).get('configs')} configs")
    row("sdk.get", "SDK client.get()")
    row("sdk.dict_get", "plain dict.get()")
    row("sdk.loop_overhead", "  (timeit loop, in both)")
    if get("sdk.get") and get("sdk.dict_get"):
        ratio = get("sdk.get") / get("sdk.dict_get")
        value_row("get() / dict.get", round(ratio, 2), "x", "<=2", ratio <= T_GET_RATIO)
    for label in ("10k", "1k", "11"):
        row(f"sdk.apply_{label}", f"SDK apply one event, {label} configs")
    b = m.get("sdk.bootstrap_10k")
    if b:
        row("sdk.bootstrap_10k", "SDK bootstrap, 10,000 configs", "p50<=500", b["p50"] <= T_BOOT)
    row("sdk.rss_10k", "SDK process RSS, 10,000 configs")
    return rows


def fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:
            return "n/a"
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def format_table(rows: list[dict]) -> str:
    header = ["metric", "count", "p50", "p95", "p99", "max", "unit", "target", "result", "note"]
    lines = [[r["metric"], fmt(r["count"]), fmt(r["p50"]), fmt(r["p95"]), fmt(r["p99"]), fmt(r["max"]), r["unit"],
              r["target"], "" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL"), r.get("note") or ""]
             for r in rows]
    widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]
    out = []
    for k, line in enumerate([header, *lines]):
        cells = [line[0].ljust(widths[0])] + [line[i].rjust(widths[i]) for i in range(1, 6)] + [
            line[6].ljust(widths[6]), line[7].ljust(widths[7]), line[8].ljust(widths[8]), line[9]]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("-" * len(out[0]))
    return "\n".join(out)


def git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=sorted(MODES), default="quick")
    parser.add_argument("--only", default="", help="comma-separated phases: " + ",".join(PHASES))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 8001)))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 4)))
    parser.add_argument("--sdk-kafka-config", default="",
                        help="JSON of extra librdkafka settings for the propagation clients (experiments)")
    args = parser.parse_args()
    bench = Bench(args)
    bench.sdk_kafka_config = json.loads(args.sdk_kafka_config) if args.sdk_kafka_config else {}
    if bench.sdk_kafka_config:
        bench.notes.append(f"propagation clients ran with kafka_config={bench.sdk_kafka_config}")
    bench.loadavg_before = open("/proc/loadavg").read().split()[:3]

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    try:
        return bench.run()
    except KeyboardInterrupt:
        log("interrupted: stopping what the bench started")
        return 130
    finally:
        bench.procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
