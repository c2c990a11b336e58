"""`make bench` / `make bench-quick`: the benchmarks of issue 10 against the real
local stack, with the raw baselines measured in the same run.

The run starts its own API (deploy/serve.py on 127.0.0.1:8001 by default) and its own
outbox relay against the main database, creates or reuses the bench fixtures
(bench/setup_data.py), measures, prints a table with the targets of the issue
and writes bench/results/latest.json. Whatever happens (failure, Ctrl-C,
SIGTERM) it stops every process it started.

Options: --mode quick|full, --only phase,... (propagation, polling, floor,
writes, reads, sdk), --port, --workers, --threads. Environment: BENCH_PORT,
BENCH_WORKERS, BENCH_THREADS.

This module runs the phases in order and reports; each phase lives in
bench/phases/, the stack and the processes in bench/stack.py, the table's rows
and targets in bench/table.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import uuid
from datetime import datetime, timezone

from charts import write_charts
from phases import acks, floor, propagation, reads, sdk, writes
from procstat import CpuMeter
from stack import HOST, RESULTS, ROOT, Processes, Stack, kafka_identity, log
from stats import summary
from table import build_rows, format_table

MODES = {
    "quick": {
        "budget_s": 60,
        "prop": [(1, 1, 20), (20, 4, 6), (100, 4, 5)],  # (clients, processes, writes)
        "prop_gap": (0.02, 0.06),
        "pollers": 5, "poll_changes": 2,
        "pg_floor": 40, "kafka_floor": 60,
        "writes_s": 2.0, "single_s": 1.5, "spread_s": 1.5, "raw_load_s": 0.5,
        "list_k1": 20, "list_k10": 5, "n304": 150, "spec_list": 20, "tput_s": 1.5,
        "boot_runs": 2, "get_repeat": 15, "get_number": 100_000, "apply_events": 300,
        "ack_reports": 4000, "sdk_reports": 500,
    },
    "full": {
        "budget_s": 600,
        "prop": [(1, 1, 200), (20, 4, 60), (100, 4, 60)],
        "prop_gap": (0.05, 0.15),
        "pollers": 5, "poll_changes": 30,
        "pg_floor": 300, "kafka_floor": 500,
        "writes_s": 30.0, "single_s": 30.0, "spread_s": 20.0, "raw_load_s": 10.0,
        "list_k1": 300, "list_k10": 60, "n304": 2000, "spec_list": 300, "tput_s": 15.0,
        "boot_runs": 10, "get_repeat": 50, "get_number": 200_000, "apply_events": 3000,
        "ack_reports": 40000, "sdk_reports": 800,
    },
}
PHASES = ("propagation", "polling", "floor", "writes", "reads", "sdk", "acks")


class Bench:
    """One run: its settings, fixtures, stack and figures. The phases
    (bench/phases/) measure through it and record with metric() inside phase()."""

    def __init__(self, args) -> None:
        self.args = args
        self.cfg = MODES[args.mode]
        self.run_id = uuid.uuid4().hex
        self.procs = Processes(self.run_id)
        self.notes: list[str] = []
        self.stack = Stack(self.procs, port=args.port, workers=args.workers, threads=args.threads,
                           notes=self.notes)
        self.metrics: dict[str, dict] = {}
        self.cpu: dict[str, dict] = {}
        self.raw: dict[str, object] = {}
        self.current_phase = "setup"
        self.hit_phases: dict[str, str] = {}
        self.value_base = time.time_ns() // 1000  # config values rise across runs, so every write is a change
        self.value_seq = 0
        self.started = time.monotonic()

    @property
    def port(self) -> int:
        return self.stack.port

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
        roots = {"api": [self.stack.api.pid], "relay": [self.stack.relay.pid], "bench": [os.getpid()]}
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

    # -- main ---------------------------------------------------------------------------

    def run(self) -> int:
        self.only = set(self.args.only.split(",")) if self.args.only else set(PHASES)
        log(f"mode {self.args.mode}: starting the bench API on {HOST}:{self.port} and a relay")
        self.stack.start()
        import django

        sys.path[:0] = [str(ROOT), str(ROOT / "platform")]
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_service.settings")
        django.setup()
        from django.db import connection
        from setup_data import RUN_TOKEN_NAME, ensure_fixtures

        self.fx = ensure_fixtures(token_name=RUN_TOKEN_NAME)
        connection.close()
        for key, seeded in self.fx["seeded"].items():
            if seeded["added"]:
                log(f"seeded {seeded['added']} configs into {self.fx['paths'][key]} in {seeded['seconds']} s")
        self.stack.wait()
        log(f"API up on port {self.port} ({self.args.workers} workers x {self.args.threads} threads), relay {self.stack.relay_state}")
        self.stack.drain_outbox()
        self.setup_s = time.monotonic() - self.started
        failed = None
        try:
            if "propagation" in self.only or "polling" in self.only:
                propagation.run(self)
            if "floor" in self.only:
                floor.run(self)
            if "writes" in self.only:
                writes.run(self)
            if "reads" in self.only:
                reads.run(self)
            if "sdk" in self.only:
                sdk.run(self)
            if "acks" in self.only:
                acks.run(self)
        except KeyboardInterrupt:
            log("interrupted: reporting what was measured, then stopping what the bench started")
            self.notes.append("the run was interrupted; figures are partial")
            self.report(None)
            return 130
        except Exception:  # report what was measured, then fail
            failed = traceback.format_exc()
            self.notes.append("the run failed: " + failed.strip().splitlines()[-1])
        self.procs.terminate_all()
        return self.report(failed)

    # -- report -------------------------------------------------------------------------

    def report(self, failed: str | None) -> int:
        rows = build_rows(self.metrics, self.cpu)
        for r in rows:
            phase = self.metrics.get(r["key"], {}).get("phase")
            if phase in self.hit_phases:
                r["note"] = (r.get("note") + "; " if r.get("note") else "") + "hit: " + self.hit_phases[phase]
                r["metric"] = r["metric"] + " [hit]"
        wall = time.monotonic() - self.started
        head = [
            f"No-Reboot HQ benchmarks, mode {self.args.mode}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC, "
            f"{wall:.0f} s (budget {self.cfg['budget_s']} s)",
            f"machine: {os.cpu_count()} CPUs shared by everything below: the bench API (deploy/serve.py, "
            f"{self.args.workers} workers x {self.args.threads} threads, 127.0.0.1:{self.port}), the relay "
            f"({self.stack.relay_state}), PostgreSQL, the Kafka broker, the SDK clients and the load generators, "
            "and whatever else runs here (other people's tests). Figures are of this shared machine.",
            f"commit {git_state()}; load average before the run {self.loadavg_before}",
        ]
        table = format_table(rows)
        cpu_lines = ["CPU per phase (CPU seconds by process group; busy = share of all CPUs; others = share of the "
                     "CPU used that went to processes outside the stack and the bench; contended = those used more "
                     "than 0.25 CPU on average; io = share of the wall time in which some / all of the machine's "
                     "non-idle tasks waited on the disk, every commit's WAL flush included):"]
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
            io = cpu["io_stalled"]
            io_part = "" if io is None else f", io {io['some_pct']:.0f}/{io['full_pct']:.0f}%"
            cpu_lines.append(f"  {name:<24} {cpu['wall_s']:>6.1f} s wall, busy {cpu['machine_busy_pct']:>5.1f}%"
                             f"{io_part}, others {other_share:>3.0f}%: {parts}{flag}")
        in_phases = sum(cpu["wall_s"] for cpu in self.cpu.values())
        cpu_lines.append(f"wall time: {self.setup_s:.1f} s setup (API, relay, fixtures, outbox), {in_phases:.1f} s in "
                         f"the phases above, {wall - self.setup_s - in_phases:.1f} s between them")
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
                      "relay": self.stack.relay_state, "commit": git_state()},
            "metrics": self.metrics, "targets": [r for r in rows if r.get("pass") is not None], "table": rows,
            "cpu": self.cpu, "notes": self.notes, "raw": self.raw, "error": failed,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        try:
            drawing = time.monotonic()
            charts = write_charts(self.raw, RESULTS)
            log(f"wrote {', '.join(str(chart) for chart in charts)} in {time.monotonic() - drawing:.1f} s")
        except ImportError:
            log("no charts: matplotlib is a dev dependency (pip install -e '.[dev]')")
        (RESULTS / "latest.json").write_text(json.dumps(doc, indent=1, default=str))
        (RESULTS / "latest.txt").write_text(text + "\n")
        log(f"wrote {RESULTS / 'latest.json'}")
        if failed:
            print(failed, file=sys.stderr, flush=True)
            return 1
        return 0


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
        stopping = time.monotonic()
        bench.procs.stop_all()
        log(f"every process of the run stopped (waited {time.monotonic() - stopping:.1f} s for them)")


if __name__ == "__main__":
    sys.exit(main())
