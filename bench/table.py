"""The result table: one row per figure, with the targets of issues 10 and 17
and PASS/FAIL beside them, and its plain-text layout."""

from __future__ import annotations

import os

CPUS = os.cpu_count() or 1

# Targets of issue 10, as issue 17 tightened them.
T_PROP1_P50, T_PROP1_P99 = 10.0, 40.0
T_FLOOR_RATIO = 3.0
T_PROP100_P99 = 150.0
T_POLL_RATIO = 50.0
T_WRITES_RPS, T_WRITES_P99 = 400.0, 50.0
T_ONE_CONFIG_RPS = 300.0
T_LIST1K, T_LIST10K, T_304, T_304_RPS = 5.0, 40.0, 1.0, 2000.0
# Issue 17: the API's own CPU per request (ms), from the phase's CPU accounting.
T_CPU_PUT, T_CPU_304 = 2.5, 0.5
T_GET_RATIO = 2.0
T_BOOT = 500.0
# Issue 14: what TLS + SCRAM (each client's own principal) may add to propagation.
T_TLS_EXTRA_MS = 2.0
# Issue 19: SDK apply reports the collector stores per second.
T_ACKS_RPS = 2000.0


def api_cpu_ms(m: dict, cpu: dict, phase: str, status: str) -> float | None:
    """The API processes' CPU milliseconds per `status` answer during the phase."""
    used = cpu.get(phase, {}).get("cpu_s", {}).get("api")
    answered = m.get(phase, {}).get("statuses", {}).get(status)
    return round(1000 * used / answered, 3) if used and answered else None


def build_rows(m: dict, cpu: dict | None = None) -> list[dict]:
    cpu = cpu or {}
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
        row("propagation.n1", "propagation PUT->applied, N=1 (TLS+SCRAM)", "p50<=10, p99<=40",
            p1["p50"] <= T_PROP1_P50 and p1["p99"] <= T_PROP1_P99 and p1["missing"] == 0, extra)
        row("propagation.n1.put_response", "  of which: PUT response")
        row("propagation.n1.outbox_row", "  of which: outbox row inserted")
        row("propagation.n1.relay_delivered", "  of which: relay delivery report")
    row("propagation.n1_plaintext", "propagation N=1, SASL_PLAINTEXT listener")
    if get("propagation.n1") and get("propagation.n1_plaintext"):
        extra_ms = get("propagation.n1") - get("propagation.n1_plaintext")
        value_row("TLS+SCRAM minus SASL_PLAINTEXT, p50", round(extra_ms, 2), "ms", "<=2", extra_ms <= T_TLS_EXTRA_MS)
    row("propagation.n1_secret", "propagation N=1, a secret (revealed over the API)")
    if get("propagation.n1") and get("propagation.n1_secret"):
        value_row("secret minus plain, p50", round(get("propagation.n1_secret") - get("propagation.n1"), 2), "ms", "",
                  None)
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
    row("floor.pg_raw", "floor: raw PG transaction of the write's shape")
    row("floor.kafka_hop", "floor: Kafka produce->consume (SASL_PLAINTEXT)")
    row("floor.kafka_tls_hop", "floor: Kafka produce->consume (consumer on TLS+SCRAM)")
    row("floor.kafka_ack", "floor: Kafka produce->ack")
    if get("propagation.n1") and get("floor.pg_write") and get("floor.kafka_hop"):
        ratio = get("propagation.n1") / (get("floor.pg_write") + get("floor.kafka_hop"))
        value_row("propagation p50 / (config_set p50 + Kafka p50)", round(ratio, 2), "x", "", None)
    if get("propagation.n1") and get("floor.pg_raw") and get("floor.kafka_hop"):
        ratio = get("propagation.n1") / (get("floor.pg_raw") + get("floor.kafka_hop"))
        value_row("propagation p50 / (raw PG p50 + Kafka p50)", round(ratio, 2), "x", "<=3", ratio <= T_FLOOR_RATIO)
    for mode, label in (("plain", "polling 1 s, plain GET"), ("etag", "polling 1 s, If-None-Match")):
        row(f"polling.{mode}", f"staleness: {label}", note=f"missed {m.get(f'polling.{mode}', {}).get('missed')}")
    row("polling.sdk_same_changes", "staleness: SDK, same changes")
    ours = get("polling.sdk_same_changes") or get("propagation.n1")
    for mode in ("plain", "etag"):
        if get(f"polling.{mode}") and ours:
            ratio = get(f"polling.{mode}") / ours
            value_row(f"polling {mode} p50 / SDK p50", round(ratio, 1), "x", ">=50" if mode == "plain" else "",
                      ratio >= T_POLL_RATIO if mode == "plain" else None)
    def write_bounds(phase: str) -> None:
        """What bounds a write phase's rate: the raw database writes of the
        same writers and configs, run just before it (the namespace lock's
        hold at the database's own speed), and the CPU a PUT cost the whole
        machine (the rate if all CPUs ran at that cost)."""
        floor = m.get(phase + ".raw_floor")
        if floor:
            row(phase + ".raw_floor", f"  raw PG floor, same writers: {floor['rate_per_s']:.0f}/s")
            value_row("  PUT rate / raw floor rate", round(m[phase]["rate_per_s"] / floor["rate_per_s"], 2), "x", "",
                      None)
        used = cpu.get(phase, {}).get("cpu_s", {})
        written = m[phase]["statuses"].get("201")
        if used and written:
            per_put = {group: 1000 * seconds / written for group, seconds in used.items()}
            total = sum(per_put.values())
            parts = ", ".join(f"{group} {ms:.2f}" for group, ms in sorted(per_put.items(), key=lambda kv: -kv[1]))
            value_row("  CPU per PUT, whole machine", round(total, 2), "ms", "", None,
                      f"{parts}; all {CPUS} CPUs at that cost: {1000 * CPUS / total:.0f}/s")

    w = m.get("writes.distinct")
    if w:
        ok = w["rate_per_s"] >= T_WRITES_RPS and w["p99"] <= T_WRITES_P99 and w["errors"] == 0
        row("writes.distinct", f"PUT, 8 writers x 8 configs: {w['rate_per_s']:.0f}/s, {w['errors']} err",
            ">=400/s, p99<=50, 0 err", ok)
        write_bounds("writes.distinct")
        row("writes.distinct.outbox_lag", "  outbox lag commit->delivered")
    s = m.get("writes.one_config")
    if s:
        check = s.get("version_check", {})
        good = (s["errors"] == 0 and check.get("contiguous") and check.get("written_equals_ok")
                and check.get("answered_versions_match") and check.get("active_rows") == 1
                and s["rate_per_s"] >= T_ONE_CONFIG_RPS)
        row("writes.one_config", f"PUT, 8 writers x 1 config: {s['rate_per_s']:.0f}/s, {s['errors']} err",
            ">=300/s, 0 err, versions contiguous", bool(good),
            f"versions {check.get('first')}..{check.get('last')} contiguous={check.get('contiguous')}")
        write_bounds("writes.one_config")
        row("writes.one_config.outbox_lag", "  outbox lag commit->delivered")
    n = m.get("writes.namespaces")
    if n:
        row("writes.namespaces", f"PUT, 8 writers x 8 namespaces: {n['rate_per_s']:.0f}/s, {n['errors']} err",
            note="no shared namespace lock (for comparison)")
        write_bounds("writes.namespaces")
        row("writes.namespaces.outbox_lag", "  outbox lag commit->delivered")
    for key, label, limit in (("k1", "1,000", T_LIST1K), ("k10", "10,000", T_LIST10K)):
        r = m.get(f"reads.list_{key}.200")
        if r:
            row(f"reads.list_{key}.200", f"GET list {label} configs (200)", f"p50<={limit:g}", r["p50"] <= limit,
                f"{r['bytes']} bytes")
        r = m.get(f"reads.list_{key}.304")
        if r:
            row(f"reads.list_{key}.304", f"GET list {label} configs (304)", "p50<=1", r["p50"] <= T_304)
    t = m.get("reads.304_throughput")
    if t:
        row("reads.304_throughput", f"conditional GETs, 8 conns: {t['rate_per_s']:.0f}/s", ">=2000/s",
            t["rate_per_s"] >= T_304_RPS, f"statuses {t['statuses']}")
    for label, phase, status, limit in (("PUT", "writes.distinct", "201", T_CPU_PUT),
                                        ("304", "reads.304_throughput", "304", T_CPU_304)):
        used = api_cpu_ms(m, cpu, phase, status)
        if used is not None:
            value_row(f"API CPU per {label}", used, "ms", f"<={limit:g}", used <= limit, f"{phase} phase")
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
    acks = m.get("acks.collector_batch")
    if acks:
        row("acks.collector_batch", "collector: one batch (poll + upsert)", "", None,
            f"{acks['reports']} reports from {acks['instances']} instances; lost {acks['lost']}")
        value_row("collector: reports stored per second", acks["rate"], "/s", ">=2000",
                  acks["rate"] is not None and acks["rate"] >= T_ACKS_RPS and acks["lost"] == 0)
    report = m.get("acks.sdk_report")
    if report:
        row("acks.sdk_report", "SDK: one apply report", "1 produce call",
            report["produce_calls_per_report"] == 1 and report["dropped"] == 0,
            f"{report['produce_calls_per_report']:g} produce call(s) per report; dropped {report['dropped']}")
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
