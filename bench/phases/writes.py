"""API writes: closed-loop PUTs from bench/loadgen.py on distinct configs, on
one config (checked in the database for contiguous versions) and spread over
namespaces, with the outbox lag of what they wrote. Each load on one
namespace is preceded by its raw floor: the same writers and configs as raw
database writes (setup_data.pg_raw_load), in the same minute of the machine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack import HOST

from phases.load import run_load

if TYPE_CHECKING:
    from run import Bench


def run(bench: Bench) -> None:
    from setup_data import latest_version, namespace_revision, outbox_times, pg_raw_load, version_check

    namespace = bench.fx["namespaces"]["write"]
    headers = bench.jwt_headers()

    def writes(label: str, names: list[str], duration: float, spread: bool = False):
        """8 closed-loop writers; thread i writes names[i]: in bench/write/main,
        or (spread) each in a namespace of its own, bench/write/ns<i>."""
        keys = [f"write{i}" if spread else "write" for i in range(len(names))]
        since = {key: namespace_revision(bench.fx["namespaces"][key]) for key in set(keys)}
        before = {name: latest_version(namespace, name) for name in set(names)}
        paths = [bench.put_path(key, name) for key, name in zip(keys, names, strict=True)]
        spec = {"mode": "put", "host": HOST, "port": bench.port, "threads": 8, "duration": duration,
                "paths": paths, "headers": headers}
        load = run_load(bench, spec, 1)
        results, statuses, elapsed = load.results, load.statuses, load.elapsed
        ok = statuses.get("201", 0)
        errors = sum(statuses.values()) - ok
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
            lag = outbox_times(bench.fx["namespaces"][key], revision, timeout=120)
            unpublished += lag["unpublished"]
            lags.extend((published - created).total_seconds() * 1000
                        for created, published in lag["times"].values() if published is not None)
        extra["unpublished_after_wait"] = unpublished
        bench.metric(label, load.latencies, **extra)
        bench.raw[label] = load.latencies
        bench.metric(label + ".outbox_lag", lags)
        return f"{errors} errors" if any(not c.isdigit() for c in statuses) else None

    def raw_floor(label: str, names: list[str]) -> None:
        load = pg_raw_load(bench.fx["namespaces"]["floor"], bench.fx["user"], names, bench.cfg["raw_load_s"])
        bench.metric(label, load.pop("latencies"), **load)

    bench.phase("writes.distinct.raw_floor", lambda: raw_floor("writes.distinct.raw_floor", [f"floor{i}" for i in range(8)]))
    bench.phase("writes.distinct", lambda: writes("writes.distinct", [f"w{i}" for i in range(8)], bench.cfg["writes_s"]))
    bench.phase("writes.one_config.raw_floor", lambda: raw_floor("writes.one_config.raw_floor", ["floor"] * 8))
    bench.phase("writes.one_config", lambda: writes("writes.one_config", ["hot"] * 8, bench.cfg["single_s"]))
    bench.phase("writes.namespaces", lambda: writes("writes.namespaces", ["w"] * 8, bench.cfg["spread_s"], spread=True))
