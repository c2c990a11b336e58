"""Closed-loop HTTP load from bench/loadgen.py processes, shared by the write
and read phases."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stack import BENCH, PY, RESULTS

if TYPE_CHECKING:
    from run import Bench


@dataclass
class Load:
    results: list[dict]  # one per load thread, as bench/loadgen.py writes them
    latencies: list[float]
    statuses: dict[str, int]
    elapsed: float


def run_load(bench: Bench, spec: dict, procs: int) -> Load:
    """`procs` load processes that start together once all are connected; their results merged."""
    outs = []
    children = []
    for p in range(procs):
        out = RESULTS / f".loadgen-{p}.json"
        outs.append(out)
        children.append(bench.procs.spawn(
            [PY, str(BENCH / "loadgen.py"), json.dumps({**spec, "proc": p, "out": str(out)})],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(RESULTS / f"loadgen-{p}.log", "w")))
    for child in children:
        if child.stdout.readline().strip() != "R":
            raise RuntimeError(f"a load generator exited before it was ready; see {RESULTS}/loadgen-*.log")
    # A little ahead, so that every process has read it before the clock starts.
    start_at = time.monotonic() + 0.02
    for child in children:
        child.stdin.write(f"{start_at}\n")
        child.stdin.close()
    for child in children:
        child.wait(spec["duration"] + 60)
    results = []
    for out in outs:
        results.extend(json.loads(out.read_text()))
        out.unlink()
    statuses: dict[str, int] = {}
    for r in results:
        for code, count in r["status"].items():
            statuses[code] = statuses.get(code, 0) + count
    return Load(results=results, latencies=[x for r in results for x in r["lat"]], statuses=statuses,
                elapsed=max(r.get("elapsed", spec["duration"]) for r in results))
