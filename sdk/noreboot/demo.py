"""A client service that lives on its configuration: ``python -m noreboot.demo``.

Configured like ``ConfigClient`` (``NOREBOOT_NAMESPACE``, ``NOREBOOT_URL``,
``NOREBOOT_TOKEN``; optional ``NOREBOOT_KAFKA_BOOTSTRAP`` and
``NOREBOOT_CACHE_DIR``), plus ``NOREBOOT_DEMO_INTERVAL`` (seconds between
cycles, default 2). Change ``timeout`` or ``new_checkout`` through the API and
watch the next cycle use the new value, with no restart.
"""

import logging
import os
import signal
import sys
import threading

from noreboot.client import ConfigClient
from noreboot.errors import NoRebootError


def describe_cycle(cycle: int, revision: int, timeout: float | None, new_checkout: bool | None) -> str:
    flow = "new checkout flow ON" if new_checkout else "classic checkout flow"
    return f"cycle {cycle} rev {revision}: calling upstream with timeout={timeout}s, {flow}"


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        interval = float(os.environ.get("NOREBOOT_DEMO_INTERVAL", "2"))
    except ValueError:
        print("NOREBOOT_DEMO_INTERVAL must be a number of seconds", file=sys.stderr)
        return 2

    stopping = threading.Event()

    def announce(name: str, old: object, new: object) -> None:
        print(f"config changed: {name} {old!r} -> {new!r} (rev {client.revision})", flush=True)

    try:
        client = ConfigClient()
        client.start()
    except (ValueError, NoRebootError) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    # From here Ctrl-C and SIGTERM (a service manager stopping us) both end
    # the loop between cycles, so the client is always closed.
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    client.on_change(announce)
    print(f"serving {client.namespace} from the {client.source} at revision {client.revision}", flush=True)

    cycle = 0
    try:
        while not stopping.is_set():
            cycle += 1
            timeout = client.get_float("timeout", 1.0)
            new_checkout = client.get_bool("new_checkout", False)
            print(describe_cycle(cycle, client.revision, timeout, new_checkout), flush=True)
            stopping.wait(interval)
    finally:
        client.close()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
