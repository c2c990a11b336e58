"""Closed-loop HTTP load: each thread sends its next request as soon as the last
one answered, on its own keep-alive connection, from a common start time for
a fixed duration. Writes its raw results (latency of every request, status
counts, and for PUTs the versions the server answered) to spec["out"].

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
    start_at = spec["start_at"]  # time.monotonic() of the orchestrator: one clock for all processes
    end_at = start_at + spec["duration"]

    def run(index: int) -> None:
        conn = Connection(spec["host"], spec["port"])
        res = results[index]
        lat, status = res["lat"], res["status"]
        path = spec["paths"][index % len(spec["paths"])] if spec["mode"] == "put" else spec["path"]
        headers = dict(spec["headers"])
        fixed = conn.build("GET", path, headers) if spec["mode"] == "get" else None
        seq = 0
        # Open the connection before the clock starts.
        conn.request("GET", "/healthz")
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
    for thread in threads:
        thread.join()
    with open(spec["out"], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    sys.exit(main())
