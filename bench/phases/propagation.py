"""Propagation: PUT -> applied in N live SDK clients (bench/prop_client.py
processes), with where the time went from the outbox row's timestamps."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from httpraw import Connection
from stack import BENCH, HOST, PY, RESULTS, Processes, log

from phases import polling

if TYPE_CHECKING:
    from run import Bench


def propagate(bench: Bench, group: ClientGroup, writes: int, label: str, warmup: int = 3) -> str | None:
    conn = Connection(HOST, bench.port)
    path = bench.put_path("prop", group.name)
    headers = {**bench.jwt_headers(), "Content-Type": "application/json"}
    lat, put_ms, records = [], [], []
    missing = errors = 0
    for i in range(warmup + writes):
        value = bench.next_value()
        data = conn.build("PUT", path, headers, json.dumps({"value": value}).encode())
        t0_wall = time.time_ns()
        t0 = time.monotonic_ns()
        response = conn.send_raw(data)
        t_put = time.monotonic_ns()
        if response.status != 201:
            errors += 1
            bench.notes.append(f"{label}: PUT answered {response.status} {response.body[:200]!r}")
            continue
        # A warm-up write waits less: under load a client that has just said it
        # is in step can still skip it (seen: its feed starts after the event,
        # it sees the gap at the next one and resyncs), and the next write
        # reaches it. Measured writes wait the full time.
        timeout = 10.0 if i >= warmup else 2.0
        got = group.wait_for(value, timeout=timeout)
        if len(got) < group.n:
            log(f"{label}: write {i} reached {len(got)} of {group.n} clients in {timeout:.0f} s"
                + (" (warm-up)" if i < warmup else ""))
        if i >= warmup:
            lat.extend((t - t0) / 1e6 for t in got.values())
            missing += group.n - len(got)
            put_ms.append((t_put - t0) / 1e6)
            records.append({"t0_wall_ns": t0_wall, "revision": response.json()["revision"],
                            "apply_ms": sorted((t - t0) / 1e6 for t in got.values())})
        time.sleep(random.uniform(*bench.cfg["prop_gap"]))
    conn.close()
    bench.metric(f"{label}", lat, clients=group.n, processes=group.procs, writes=writes, missing=missing,
                put_errors=errors)
    bench.metric(f"{label}.put_response", put_ms)
    bench.raw[label] = records
    stage_breakdown(bench, label, records)
    if missing or errors:
        return f"{missing} client updates missing after 10 s, {errors} PUT errors"
    return None


def stage_breakdown(bench: Bench, label: str, records: list[dict]) -> None:
    """Where the time went, from the outbox row's own timestamps (wall clock)."""
    from setup_data import outbox_times

    if not records:
        return
    ns = bench.fx["namespaces"]["prop"]
    times = outbox_times(ns, min(r["revision"] for r in records) - 1, timeout=10)["times"]
    inserted, delivered = [], []
    for r in records:
        created, published = times.get(r["revision"], (None, None))
        if created is not None:
            inserted.append((created.timestamp() * 1e9 - r["t0_wall_ns"]) / 1e6)
        if published is not None:
            delivered.append((published.timestamp() * 1e9 - r["t0_wall_ns"]) / 1e6)
    bench.metric(f"{label}.outbox_row", inserted)
    bench.metric(f"{label}.relay_delivered", delivered)


def run(bench: Bench) -> None:
    # N=20 and N=100 share their processes: the 20 clients stay and 80 more
    # join them, as the full mode's 4 x 25 layout has it, without starting 20 twice.
    shared: ClientGroup | None = None
    try:
        for n, procs, writes in bench.cfg["prop"]:
            if n == 1:
                single(bench, writes)
                continue
            if "propagation" not in bench.only:
                continue
            label = f"propagation.n{n}"

            def one(n=n, procs=procs, writes=writes, label=label):
                nonlocal shared
                if shared is None or shared.procs != procs or shared.n > n:
                    if shared is not None:
                        shared.close()
                    shared = ClientGroup(bench, n, procs)
                else:
                    shared.grow(n)
                shared.wait_ready(90)
                return propagate(bench, shared, writes, label)

            bench.phase(label, one)
    finally:
        if shared is not None:
            shared.close()


def single(bench: Bench, writes: int) -> None:
    """N=1 (with the polling baseline beside it), then its two twins."""
    def one():
        group = ClientGroup(bench, 1, 1)
        try:
            group.wait_ready(90)
            hit = propagate(bench, group, writes, "propagation.n1")
            if "polling" in bench.only:
                # The polling baseline runs beside this client, on the same changes.
                polling.measure(bench, group)
            return hit
        finally:
            group.close()

    bench.phase("propagation.n1+polling" if "polling" in bench.only else "propagation.n1", one)
    if "propagation" in bench.only:
        bench.phase("propagation.n1_plaintext", lambda: plaintext_twin(bench, writes))
        bench.phase("propagation.n1_secret", lambda: secret_twin(bench, writes))


def plaintext_twin(bench: Bench, writes: int) -> str | None:
    """N=1 again, the client reading the internal listener (SASL_PLAINTEXT, the
    platform principal) instead of its own TLS + SCRAM credentials: what TLS
    and the client's own principal add to propagation, in the same run."""
    from apps.configs.publisher import platform_client_config

    internal = platform_client_config()
    group = ClientGroup(bench, 1, 1, bootstrap=internal.pop("bootstrap.servers"), kafka_config=internal)
    try:
        group.wait_ready(90)
        return propagate(bench, group, writes, "propagation.n1_plaintext")
    finally:
        group.close()


def secret_twin(bench: Bench, writes: int) -> str | None:
    """N=1 again on a secret config: its event carries no value, so the client
    reveals it over the API before applying it; what that round trip adds, in
    the same run."""
    from setup_data import PROP_SECRET_NAME

    group = ClientGroup(bench, 1, 1, name=PROP_SECRET_NAME)
    try:
        group.wait_ready(90)
        return propagate(bench, group, writes, "propagation.n1_secret")
    finally:
        group.close()


class ClientGroup:
    """n SDK clients spread over `procs` processes (bench/prop_client.py)."""

    def __init__(self, bench: Bench, n: int, procs: int, *, bootstrap: str | None = None,
                 kafka_config: dict | None = None, name: str = "prop") -> None:
        """Clients configured as services configure them (API URL, namespace,
        token: Kafka credentials from the API), unless a bootstrap is given;
        they time the changes of config `name`."""
        self.n, self.procs, self.name = n, procs, name
        self.cond = threading.Condition()
        self.arrivals: dict[int, dict[int, int]] = {}
        self.ready = 0
        self.exited = 0
        self.processes = []
        self.spawned, self.starting = time.monotonic(), n
        self.logs = f"{RESULTS}/clients-n{n}-*.log"
        first = 0
        for p, count in enumerate(self.spread(n)):
            spec = {"namespace": bench.fx["paths"]["prop"], "api_url": bench.api_url(), "token": bench.fx["tokens"]["prop"],
                    "bootstrap": bootstrap, "count": count, "name": name, "first_index": first,
                    "kafka_config": {**(kafka_config or {}), **bench.sdk_kafka_config}}
            first += count
            process = bench.procs.spawn([PY, str(BENCH / "prop_client.py"), json.dumps(spec)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=open(RESULTS / f"clients-n{n}-{p}.log", "w"))
            self.processes.append(process)
            threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def spread(self, n: int) -> list[int]:
        """How many of n clients each process holds."""
        return [n // self.procs + (1 if p < n % self.procs else 0) for p in range(self.procs)]

    def grow(self, n: int) -> None:
        """Start clients in the same processes until there are n (wait_ready() waits for them)."""
        first = self.n
        self.spawned, self.starting = time.monotonic(), n - self.n
        for process, before, after in zip(self.processes, self.spread(self.n), self.spread(n), strict=True):
            if after > before:
                process.stdin.write(f"add {after - before} {first}\n")
                process.stdin.flush()
                first += after - before
        self.n = n

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
        # Its stdout closed: the process ended, and a waiter need not wait out its timeout.
        with self.cond:
            self.exited += 1
            self.cond.notify_all()

    def wait_ready(self, timeout: float) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.ready >= self.n or self.exited, timeout)
            if self.ready >= self.n:
                log(f"{self.starting} SDK clients started and in step in {time.monotonic() - self.spawned:.1f} s "
                    f"({self.n} live)")
                return
            if self.exited:
                raise RuntimeError(f"an SDK client process exited before its clients started; see {self.logs}")
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
