"""The API's HTTP server (`make run`, docker-compose, the image, the bench and
the tests that need several workers): Granian serving the Django application
over WSGI, several worker processes of several threads each. Environment
variables override the defaults: NOREBOOT_BIND (host:port), WEB_CONCURRENCY
(processes), NOREBOOT_THREADS (threads per process).

    python deploy/serve.py

Granian parses HTTP and keeps connections in Rust, outside the GIL; the
Python threads only run the application. On this project's most frequent
request, a conditional GET answered 304, the API process spent about half the
CPU under it that it spent under gunicorn's threaded workers, and answered
twice as many per second on two cores (issue 17; bench/README.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The workers are started afresh and import the application from here.
sys.path.insert(0, str(ROOT / "platform"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_service.settings")


def main() -> None:
    host, _, port = os.environ.get("NOREBOOT_BIND", "127.0.0.1:8000").rpartition(":")
    # The settings once here: a refused key (settings.signing_key) then stops
    # the server with its one line, instead of failing every worker in turn.
    import config_service.settings  # noqa: F401
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    Granian(
        "config_service.wsgi:served",
        address=host.strip("[]"),
        port=int(port),
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=int(os.environ.get("WEB_CONCURRENCY", "2")),
        blocking_threads=int(os.environ.get("NOREBOOT_THREADS", "4")),
        # A worker that dies (killed, out of memory) is started again.
        respawn_failed_workers=True,
        respawn_interval=0.5,
        # The request middleware logs each request with its context; no second access log.
        log_access=False,
        working_dir=ROOT,
    ).serve()


if __name__ == "__main__":
    main()
