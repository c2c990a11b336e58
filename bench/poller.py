"""The baseline users would pick instead of live updates: clients that poll the
namespace list endpoint every second, some with plain GETs (always 200 and
the whole list) and some with If-None-Match (304 while unchanged).

The pollers' phases are spread evenly over the interval, as independent
clients' would be, so each change yields one staleness sample per poller.
A poller writes `E <mode> <poller> <value> <t_ns>` when a response first
shows a new value of the watched config, and on stdin EOF a final
`S <json>` line with request latencies and status counts.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from httpraw import Connection


def main() -> None:
    spec = json.loads(sys.argv[1])
    interval = spec["interval"]
    # Interleave the modes over the phases so neither gets the better slots.
    modes: list[str] = []
    plain, etag = spec["plain"], spec["etag"]
    while plain or etag:
        if plain:
            modes.append("plain")
            plain -= 1
        if etag:
            modes.append("etag")
            etag -= 1
    stop = threading.Event()
    lock = threading.Lock()
    out = sys.stdout
    latencies: dict[str, list[float]] = {"plain": [], "etag": []}
    statuses: dict[str, dict[str, int]] = {"plain": {}, "etag": {}}
    start = time.monotonic() + 0.2

    def poll(index: int, mode: str) -> None:
        conn = Connection(spec["host"], spec["port"])
        headers = {"Authorization": f"Bearer {spec['token']}", "Accept": "application/json"}
        etag = None
        value = object()
        next_at = start + interval * index / len(modes)
        lats, codes = latencies[mode], statuses[mode]
        while not stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            request_headers = dict(headers)
            if mode == "etag" and etag is not None:
                request_headers["If-None-Match"] = etag
            t0 = time.monotonic_ns()
            try:
                response = conn.request("GET", spec["path"], request_headers)
            except OSError as exc:
                codes[type(exc).__name__] = codes.get(type(exc).__name__, 0) + 1
                next_at += interval
                continue
            t1 = time.monotonic_ns()
            lats.append((t1 - t0) / 1e6)
            codes[str(response.status)] = codes.get(str(response.status), 0) + 1
            if response.status == 200:
                etag = response.headers.get("etag")
                configs = response.json()["configs"]
                current = next((c["value"] for c in configs if c["name"] == spec["name"]), None)
                if current != value:
                    value = current
                    with lock:
                        out.write(f"E {mode} {index} {json.dumps(current)} {t1}\n")
                        out.flush()
            next_at += interval
            if next_at < time.monotonic():  # fell behind: keep the phase, skip the missed slot
                next_at += interval * int((time.monotonic() - next_at) / interval + 1)
        conn.close()

    threads = [threading.Thread(target=poll, args=(i, mode), daemon=True) for i, mode in enumerate(modes)]
    for thread in threads:
        thread.start()
    out.write("R\n")
    out.flush()
    sys.stdin.read()
    stop.set()
    for thread in threads:
        thread.join(5)
    out.write("S " + json.dumps({"latencies": latencies, "statuses": statuses}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
