"""One process holding several SDK ConfigClients, for the propagation benchmark.

Started by bench/run.py with a JSON argument. Each client's on_change records
time.monotonic_ns() (CLOCK_MONOTONIC: one clock for every process on the
machine) the moment the callback runs, i.e. after the new snapshot is in
place, and a reporter thread writes `E <client> <value> <t_ns>` lines to
stdout. `R <n> <ms>` says all clients started. The process closes its
clients and exits when stdin closes.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from noreboot import ConfigClient


def main() -> None:
    spec = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    events: queue.SimpleQueue = queue.SimpleQueue()
    out = sys.stdout

    def reporter() -> None:
        while True:
            item = events.get()
            if item is None:
                return
            index, value, t_ns = item
            out.write(f"E {index} {json.dumps(value, separators=(',', ':'))} {t_ns}\n")
            out.flush()

    threading.Thread(target=reporter, daemon=True).start()

    def make(index: int) -> ConfigClient:
        client = ConfigClient(namespace=spec["namespace"], api_url=spec["api_url"], token=spec["token"],
                              kafka_bootstrap=spec["bootstrap"],
                              kafka_config=spec.get("kafka_config") or None)

        def on_change(name, old, new, _index=index):
            # Timestamp first: everything else in the callback is after the fact.
            events.put((_index, new, time.monotonic_ns()))

        client.on_change(on_change, names=[spec["name"]])
        return client.start()

    started = time.monotonic()
    base = spec["first_index"]
    with ThreadPoolExecutor(max_workers=min(8, spec["count"])) as pool:
        clients = list(pool.map(make, range(base, base + spec["count"])))
    out.write(f"R {len(clients)} {(time.monotonic() - started) * 1000:.0f}\n")
    out.flush()

    sys.stdin.read()  # until the orchestrator closes our stdin
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda c: c.close(timeout=2.0), clients))
    events.put(None)
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
