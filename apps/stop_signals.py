"""How the long-running platform workers (relay, webhook delivery, ack
collector) are told to stop, and how the consumer-group workers go on through
a database outage."""

import logging
import os
import signal
import threading
from collections.abc import Callable

from django.db import DatabaseError, close_old_connections


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the worker finishes its step and returns.

    The handler only writes a byte to a pipe, and a thread of its own sets the
    event. Setting it in the handler would take the event's lock on the main
    thread, which may hold that lock already (inside `stop.wait()`, or inside
    the handler of a signal just before: Ctrl-C and a supervisor's SIGTERM come
    together), and the worker would hang for good."""
    stop = threading.Event()
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def set_when_signalled() -> None:
        os.read(read_end, 1)
        stop.set()

    def on_signal(*_) -> None:
        try:
            os.write(write_end, b"!")
        except BlockingIOError:  # the pipe is full of earlier signals: one is enough
            pass

    threading.Thread(target=set_when_signalled, name="stop-signal", daemon=True).start()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
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
