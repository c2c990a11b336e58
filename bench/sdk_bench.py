"""SDK costs, each in a fresh process so that RSS means something.

  bootstrap: time of ConfigClient.start() (the snapshot fetched, decoded and
             in place, the listener started) and the process RSS around it.
  micro:     get() against a plain dict.get on the same values, interleaved
             in the same process; then the cost of applying one decoded
             event (the client's own store.apply, listener stopped) per
             namespace size.

Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
import timeit
import uuid


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bootstrap(spec: dict) -> dict:
    from noreboot import ConfigClient

    client = ConfigClient(namespace=spec["namespace"], api_url=spec["api_url"], token=spec["token"],
                          kafka_bootstrap=spec["bootstrap"])
    before = rss_kb()
    t0 = time.perf_counter_ns()
    client.start()
    t1 = time.perf_counter_ns()
    after = rss_kb()
    # The listener thread creates its Kafka consumer right after start(): the
    # settled RSS is read once that consumer is connected and in step.
    deadline = time.monotonic() + 10
    while not client.status().connected and time.monotonic() < deadline:
        time.sleep(0.02)
    settled = rss_kb()
    count = len(client.snapshot())
    client.close(timeout=2.0)
    return {"ms": (t1 - t0) / 1e6, "rss_before_kb": before, "rss_after_kb": after,
            "rss_settled_kb": settled, "configs": count}


def get_cost(client, repeat: int, number: int) -> dict:
    d = dict(client.snapshot())
    key = sorted(d)[len(d) // 2]
    env = {"c": client, "d": d, "k": key}
    t_client, t_dict, t_empty = [], [], []
    timers = (
        (timeit.Timer("c.get(k)", globals=env), t_client),
        (timeit.Timer("d.get(k)", globals=env), t_dict),
        (timeit.Timer("pass", globals=env), t_empty),
    )
    for _ in range(repeat):  # interleaved, so noise hits both alike
        for timer, sink in timers:
            sink.append(timer.timeit(number) / number * 1e9)
    return {"client_ns": t_client, "dict_ns": t_dict, "loop_ns": t_empty, "number": number}


def apply_cost(client, events: int) -> list[float]:
    from noreboot.snapshot import Outcome

    names = sorted(client.snapshot()) or ["x"]
    revision = client.revision
    decoded = [
        {
            "namespace": client.namespace, "name": names[i % len(names)], "value": {"i": i, "on": True},
            "version": 1_000_000 + i, "revision": revision + 1 + i, "op": "upsert",
            "event_id": str(uuid.uuid4()), "changed_at": "2025-01-01T00:00:00Z", "actor": "bench",
        }
        for i in range(events)
    ]
    costs = []
    clock = time.perf_counter_ns
    for event in decoded:
        t0 = clock()
        result = client._store.apply(event)
        costs.append((clock() - t0) / 1000.0)
        if result.outcome is not Outcome.APPLIED:
            raise SystemExit(f"event not applied: {result}")
    return costs


def micro(spec: dict) -> dict:
    from noreboot import ConfigClient

    out: dict = {"apply_us": {}}
    for target in spec["targets"]:  # [{namespace, token, label, get: bool}]
        client = ConfigClient(namespace=target["namespace"], api_url=spec["api_url"], token=target["token"],
                              kafka_bootstrap=spec["bootstrap"]).start()
        if target.get("get"):
            out["get"] = get_cost(client, spec["repeat"], spec["number"])
            out["get"]["configs"] = len(client.snapshot())
        client.close(timeout=2.0)  # the listener stops; the snapshot stays
        out["apply_us"][target["label"]] = apply_cost(client, spec["events"])
    return out


def main() -> None:
    mode, spec = sys.argv[1], json.loads(sys.argv[2])
    result = bootstrap(spec) if mode == "bootstrap" else micro(spec)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
