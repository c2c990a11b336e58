"""Reads: sequential keep-alive GETs of the namespace lists (200 and 304) and
of the seed's list, then the throughput of conditional GETs under load."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from httpraw import Connection
from stack import HOST

from phases.load import run_load

if TYPE_CHECKING:
    from run import Bench


def sequential(bench: Bench, path: str, headers: dict, count: int, warmup: int = 3):
    conn = Connection(HOST, bench.port)
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


def run(bench: Bench) -> None:
    cfg = bench.cfg

    def lists():
        for key, count in (("k1", cfg["list_k1"]), ("k10", cfg["list_k10"])):
            lat, statuses, last = sequential(bench, bench.list_path(key), bench.token_headers(key), count)
            body = last.json()
            bench.metric(f"reads.list_{key}.200", lat, statuses=statuses, configs=len(body["configs"]),
                        bytes=len(last.body))
            etag = last.headers["etag"]
            lat, statuses, _ = sequential(bench, bench.list_path(key), {**bench.token_headers(key), "If-None-Match": etag},
                                               cfg["n304"] if key == "k1" else max(50, cfg["n304"] // 4))
            bench.metric(f"reads.list_{key}.304", lat, statuses=statuses)
        lat, statuses, last = sequential(bench, "/api/configs/", bench.jwt_headers(), cfg["spec_list"])
        bench.metric("reads.spec_list", lat, statuses=statuses, configs=len(last.json()), bytes=len(last.body))

    def throughput():
        _lat, _s, last = sequential(bench, bench.list_path("k1"), bench.token_headers("k1"), 1, warmup=0)
        spec = {"mode": "get", "host": HOST, "port": bench.port, "threads": 4, "duration": cfg["tput_s"],
                "path": bench.list_path("k1"), "headers": {**bench.token_headers("k1"), "If-None-Match": last.headers["etag"]}}
        load = run_load(bench, spec, 2)
        bench.metric("reads.304_throughput", load.latencies, connections=8, load_processes=2,
                     seconds=round(load.elapsed, 2), rate_per_s=round(load.statuses.get("304", 0) / load.elapsed, 1),
                     statuses=load.statuses)

    bench.phase("reads.latency", lists)
    bench.phase("reads.304_throughput", throughput)
