"""The ack collector (`manage.py collect_acks`): reads every ack topic in a
consumer group, stores the reports in batches (apps/fleet/reports.py),
committing offsets only after they are in PostgreSQL, drives the running
rollouts, and forgets instances unseen for a day.

Run as many as needed: Kafka spreads the partitions over the group."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.configs.events import ack_topics_pattern
from apps.configs.publisher import ConfigEventConsumer
from apps.fleet.driver import rollouts_drive
from apps.fleet.reports import instances_forget, reports_store
from apps.stop_signals import rounds_until_stopped

logger = logging.getLogger(__name__)

POLL_MAX_MESSAGES = 2000
POLL_TIMEOUT_SECONDS = 0.2
DRIVE_INTERVAL_SECONDS = 0.5
FORGET_INTERVAL_SECONDS = 60.0
# A new ack topic (a new tenant) is read from this long before the group
# first saw it, so reports sent while it was being discovered still count.
REPLAY_ON_NEW_PARTITION = timedelta(minutes=5)


class AckCollector:
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        # Polled but not stored yet: kept across a database error, so that no
        # later commit moves the group past them.
        self._unstored: list[tuple[str, dict]] = []
        self._next_drive = 0.0
        self._next_forget = 0.0

    def run(self) -> None:
        consumer = ConfigEventConsumer(
            settings.ACK_CONSUMER_GROUP, start_time=lambda: timezone.now() - REPLAY_ON_NEW_PARTITION,
            topics_pattern=ack_topics_pattern(),
        )
        logger.info("ack collector started (group %s)", settings.ACK_CONSUMER_GROUP)
        try:
            rounds_until_stopped(self._stop, lambda: self.round(consumer), logger=logger)
        finally:
            consumer.close()

    def round(self, consumer: ConfigEventConsumer) -> int:
        """Poll and store one batch, then drive rollouts and forget instances
        when due; returns how many reports the batch held."""
        if not self._unstored:
            self._unstored = consumer.poll_with_topics(POLL_MAX_MESSAGES, POLL_TIMEOUT_SECONDS)
        batch = len(self._unstored)
        if self._unstored:
            reports_store(self._unstored)
            self._unstored = []
            consumer.commit()
        now = time.monotonic()
        if now >= self._next_drive:
            rollouts_drive()
            self._next_drive = now + DRIVE_INTERVAL_SECONDS
        if now >= self._next_forget:
            forgotten = instances_forget(older_than=timezone.now() - timedelta(seconds=settings.FLEET_FORGET_SECONDS))
            if forgotten:
                logger.info("forgot %d instance(s) unseen for %.0fs", forgotten, settings.FLEET_FORGET_SECONDS)
            self._next_forget = now + FORGET_INTERVAL_SECONDS
        return batch
