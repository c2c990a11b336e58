"""How the long-running platform workers (relay, webhook delivery, ack
collector) are told to stop, and how the consumer-group workers go on through
a database outage."""

import logging
import signal
import threading
from collections.abc import Callable

from django.db import DatabaseError, close_old_connections


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the worker finishes its step and returns."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def rounds_until_stopped(
    stop: threading.Event, one_round: Callable[[], object], *, logger: logging.Logger, max_backoff: float = 5.0
) -> None:
    """Call `one_round` until `stop` is set. With PostgreSQL away (a
    DatabaseError) the round is retried, after a delay doubling up to
    `max_backoff`: what it polled but did not store is kept by the worker."""
    backoff = 0.1
    while not stop.is_set():
        try:
            one_round()
            backoff = 0.1
        except DatabaseError as exc:
            logger.warning("database error, retrying in %.1fs: %s", backoff, exc)
            close_old_connections()
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff)
