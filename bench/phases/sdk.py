"""The SDK's own costs, from bench/sdk_bench.py in fresh processes: bootstrap
time and RSS on 10,000 configs, get() against dict.get, applying one event."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from run import Bench


def run(bench: Bench) -> None:
    cfg = bench.cfg
    # As a service configures the SDK: its Kafka credentials come from the API.
    bootstrap = None

    def boot():
        runs = []
        spec = {"namespace": bench.fx["paths"]["k10"], "api_url": bench.api_url(), "token": bench.fx["tokens"]["k10"],
                "bootstrap": bootstrap}
        for _ in range(cfg["boot_runs"]):
            runs.append(bench.procs.run_json("sdk_bench.py", "bootstrap", json.dumps(spec), timeout=120))
        bench.metric("sdk.bootstrap_10k", [r["ms"] for r in runs], configs=runs[0]["configs"])
        bench.metric("sdk.rss_10k", [r["rss_settled_kb"] / 1024 for r in runs], unit="MiB",
                    before_start_mib=[round(r["rss_before_kb"] / 1024, 1) for r in runs],
                    after_start_mib=[round(r["rss_after_kb"] / 1024, 1) for r in runs])

    def micro():
        spec = {"api_url": bench.api_url(), "bootstrap": bootstrap, "repeat": cfg["get_repeat"],
                "number": cfg["get_number"], "events": cfg["apply_events"],
                "targets": [
                    {"namespace": bench.fx["paths"]["k10"], "token": bench.fx["tokens"]["k10"], "label": "10k", "get": True},
                    {"namespace": bench.fx["paths"]["k1"], "token": bench.fx["tokens"]["k1"], "label": "1k"},
                    {"namespace": bench.fx["paths"]["prop"], "token": bench.fx["tokens"]["prop"], "label": "11"},
                ]}
        result = bench.procs.run_json("sdk_bench.py", "micro", json.dumps(spec), timeout=300)
        get = result["get"]
        bench.metric("sdk.get", get["client_ns"], unit="ns", number=get["number"], configs=get["configs"])
        bench.metric("sdk.dict_get", get["dict_ns"], unit="ns", number=get["number"])
        bench.metric("sdk.loop_overhead", get["loop_ns"], unit="ns", number=get["number"])
        for label, costs in result["apply_us"].items():
            bench.metric(f"sdk.apply_{label}", costs, unit="us")

    bench.phase("sdk.bootstrap", boot)
    bench.phase("sdk.micro", micro)
