"""Retry pacing and outage reporting for the listener thread.

A dependency that is down is retried with capped exponential backoff (with
jitter, so a fleet of clients does not reconnect in lockstep when the
service comes back) and reported once when it goes down and once when it
comes back, not on every failed attempt.
"""

import logging
import random
import time
from collections.abc import Callable

logger = logging.getLogger("noreboot")


class Backoff:
    """Delays of ``initial * 2**n``, capped at ``maximum``, with +-20% jitter."""

    def __init__(self, initial: float = 0.2, maximum: float = 10.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._attempt = 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.initial * (2**self._attempt))
        self._attempt = min(self._attempt + 1, 32)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._attempt = 0


class Outage:
    """Tracks whether one dependency is up and logs only the transitions."""

    def __init__(self, what: str, *, on_error: Callable[[str], None]) -> None:
        self.what = what
        self.down_since: float | None = None
        # Told of every failed attempt, not only the first: the client's
        # status() shows the latest one.
        self._on_error = on_error

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def down(self, reason: object) -> None:
        self._on_error(f"{self.what}: {reason}")
        if self.down_since is None:
            self.down_since = time.monotonic()
            logger.warning("%s unreachable: %s (retrying in the background)", self.what, reason)

    def up(self) -> float:
        """Mark the dependency reachable; returns how long it was down (0 if it was up)."""
        if self.down_since is None:
            return 0.0
        duration = time.monotonic() - self.down_since
        self.down_since = None
        logger.info("%s back after %.1fs", self.what, duration)
        return duration
