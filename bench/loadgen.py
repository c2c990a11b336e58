"""Closed-loop HTTP load: each thread sends its next request as soon as the last
one answered, on its own keep-alive connection, from a common start time for
a fixed duration. Writes its raw results (latency of every request, status
counts, and for PUTs the versions the server answered) to spec["out"].

Prints `R` once every thread's connection is open, then reads the start time
(time.monotonic() of the orchestrator: one clock for all processes) from
stdin, so several processes start together as soon as all are ready.

Modes: "put" (thread i writes spec["paths"][i % len]: distinct configs, one
config, or configs in distinct namespaces) and
"get" (a fixed request, e.g. a conditional GET that should answer 304).
"""

from __future__ import annotations

import json
import sys
import threading
import time

from httpraw import Connection


def main() -> None:
    spec = json.loads(sys.argv[1])
    threads_n = spec["threads"]
    results = [{"lat": [], "status": {}, "versions": [], "errors": []} for _ in range(threads_n)]
    connected = threading.Barrier(threads_n + 1)
    go = threading.Event()
    clock: dict[str, float] = {}

    def run(index: int) -> None:
        conn = Connection(spec["host"], spec["port"])
        res = results[index]
        lat, status = res["lat"], res["status"]
        path = spec["paths"][index % len(spec["paths"])] if spec["mode"] == "put" else spec["path"]
        headers = dict(spec["headers"])
        fixed = conn.build("GET", path, headers) if spec["mode"] == "get" else None
        seq = 0
        # Open the connection before the clock starts.
        try:
            conn.request("GET", "/healthz")
        except OSError:
            connected.abort()  # the process exits instead of waiting for this thread
            raise
        connected.wait()
        go.wait()
        start_at, end_at = clock["start_at"], clock["end_at"]
        delay = start_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        while True:
            t0 = time.monotonic()
            if t0 >= end_at:
                break
            if fixed is not None:
                data = fixed
            else:
                seq += 1
                body = json.dumps({"value": {"writer": spec["proc"] * 100 + index, "seq": seq}}).encode()
                data = conn.build("PUT", path, {**headers, "Content-Type": "application/json"}, body)
            try:
                response = conn.send_raw(data)
            except OSError as exc:
                status[type(exc).__name__] = status.get(type(exc).__name__, 0) + 1
                res["errors"].append(repr(exc))
                conn.close()
                continue
            t1 = time.monotonic()
            lat.append((t1 - t0) * 1000.0)
            code = str(response.status)
            status[code] = status.get(code, 0) + 1
            if spec["mode"] == "put":
                if response.status == 201:
                    res["versions"].append(json.loads(response.body)["version"])
                elif len(res["errors"]) < 5:
                    res["errors"].append(f"{response.status} {response.body[:300]!r}")
        res["elapsed"] = time.monotonic() - start_at
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    connected.wait()
    print("R", flush=True)
    clock["start_at"] = float(sys.stdin.readline())
    clock["end_at"] = clock["start_at"] + spec["duration"]
    go.set()
    for thread in threads:
        thread.join()
    with open(spec["out"], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    sys.exit(main())
