"""The polling baseline: bench/poller.py clients polling the namespace list
every second (plain GETs and If-None-Match), beside the N=1 SDK client of the
propagation phase and on the same changes."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from typing import TYPE_CHECKING

from httpraw import Connection
from stack import BENCH, HOST, PY, RESULTS

if TYPE_CHECKING:
    from run import Bench

    from phases.propagation import ClientGroup


def measure(bench: Bench, group: ClientGroup) -> None:
    """Pollers on the namespace list and the running SDK client, on the same changes."""
    cfg = bench.cfg
    spec = {"host": HOST, "port": bench.port, "path": bench.list_path("prop"), "token": bench.fx["tokens"]["prop"],
            "name": "prop", "plain": cfg["pollers"], "etag": cfg["pollers"], "interval": 1.0}
    proc = bench.procs.spawn([PY, str(BENCH / "poller.py"), json.dumps(spec)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=open(RESULTS / "poller.log", "w"))
    seen: dict[tuple[str, int], list[tuple[int, int]]] = {}
    final: dict = {}
    news = threading.Condition()
    pollers = 2 * cfg["pollers"]

    def read() -> None:
        for line in proc.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "E":
                mode, index, value, t = rest.split(" ")
                with news:
                    seen.setdefault((mode, int(index)), []).append((int(t), json.loads(value)))
                    news.notify_all()
            elif kind == "S":
                final.update(json.loads(rest))

    def all_seen(value: int) -> bool:
        """Every poller has had a response showing `value` or a later one."""
        return len(seen) == pollers and all(
            any(isinstance(v, int) and v >= value for _t, v in observations) for observations in seen.values())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with news:
        # The first poller has answered, so the schedule has begun: the others
        # poll at their phases within this interval, as they would after a change.
        news.wait_for(lambda: seen, 30)
    conn = Connection(HOST, bench.port)
    path = bench.put_path("prop", "prop")
    headers = {**bench.jwt_headers(), "Content-Type": "application/json"}
    changes, ours = [], []
    for _ in range(cfg["poll_changes"]):
        if changes:
            # Changes further apart than the interval, at random phases.
            time.sleep(max(0.0, changes[-1][0] / 1e9 + random.uniform(1.05, 1.5) - time.monotonic_ns() / 1e9))
        value = bench.next_value()
        data = conn.build("PUT", path, headers, json.dumps({"value": value}).encode())
        t0 = time.monotonic_ns()
        response = conn.send_raw(data)
        if response.status != 201:
            bench.notes.append(f"polling: PUT answered {response.status}")
            continue
        changes.append((t0, value))
        ours.extend((t - t0) / 1e6 for t in group.wait_for(value, timeout=10.0).values())
    if changes:
        with news:  # within one interval, unless a poller missed it
            news.wait_for(lambda: all_seen(changes[-1][1]), 2.5)
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
        bench.metric(f"polling.{mode}", staleness, pollers=cfg["pollers"], changes=len(changes), missed=missed)
        bench.raw[f"polling.{mode}"] = staleness
        bench.metric(f"polling.{mode}.request", final.get("latencies", {}).get(mode, []),
                    statuses=final.get("statuses", {}).get(mode, {}))
    bench.metric("polling.sdk_same_changes", ours)
