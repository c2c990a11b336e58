"""One process holding several SDK ConfigClients, for the propagation benchmark.

Started by bench/run.py with a JSON argument. Each client's on_change records
time.monotonic_ns() (CLOCK_MONOTONIC: one clock for every process on the
machine) the moment the callback runs, i.e. after the new snapshot is in
place, and a reporter thread writes `E <client> <value> <t_ns>` lines to
stdout. `R <n> <ms>` says n clients started and their Kafka feeds are in step
(status().connected), so writes made after it are the clients' steady state. A
stdin line `add <count> <first index>` starts that many more clients (the
group grows from N=20 to N=100 in the same processes); the process closes its
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
    out_lock = threading.Lock()  # the reporter thread and start() both write lines

    def reporter() -> None:
        while True:
            item = events.get()
            if item is None:
                return
            index, value, t_ns = item
            with out_lock:
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
        client.start()
        # start() returns once the snapshot is loaded; the feed connects in the
        # background. Ready means in step, or the first writes would wait for it.
        while not client.status().connected:
            time.sleep(0.02)
        return client

    clients: list[ConfigClient] = []

    def start(first: int, count: int) -> None:
        started = time.monotonic()
        # A few connecting at a time: 80 TLS + SCRAM handshakes at once time out
        # on two cores and back off, which takes longer than queueing them.
        with ThreadPoolExecutor(max_workers=3) as pool:
            clients.extend(pool.map(make, range(first, first + count)))
        with out_lock:
            out.write(f"R {count} {(time.monotonic() - started) * 1000:.0f}\n")
            out.flush()

    start(spec["first_index"], spec["count"])
    for line in sys.stdin:  # until the orchestrator closes our stdin
        command, count, first = line.split()
        if command == "add":
            start(int(first), int(count))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda c: c.close(timeout=2.0), clients))
    events.put(None)
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
