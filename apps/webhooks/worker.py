"""The webhook worker (`manage.py deliver_webhooks`): reads every config topic
in a consumer group, turns each event into deliveries for the webhooks that
subscribe to it (committing Kafka offsets only after that is in PostgreSQL:
at least once), and sends the deliveries that are due.

Run as many as needed: Kafka spreads the partitions over the group, and the
delivery queue's row locks keep each (webhook, namespace) in order."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from apps.configs.publisher import ConfigEventConsumer
from apps.webhooks.deliveries import deliveries_enqueue_for_events, deliveries_start_time, delivery_send_next

logger = logging.getLogger(__name__)

POLL_MAX_MESSAGES = 500
POLL_TIMEOUT_SECONDS = 0.2
# Sends per round before Kafka is polled again, so neither side starves.
SENDS_PER_ROUND = 50
MAX_BACKOFF_SECONDS = 5.0


class WebhookWorker:
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        # Polled but not yet stored: kept across a database error, so that no
        # later commit moves the group past them.
        self._unstored: list[dict] = []

    def run(self) -> None:
        consumer = ConfigEventConsumer(settings.WEBHOOK_CONSUMER_GROUP, start_time=deliveries_start_time)
        logger.info("webhook worker started (group %s)", settings.WEBHOOK_CONSUMER_GROUP)
        backoff = 0.1
        try:
            while not self._stop.is_set():
                try:
                    self._round(consumer)
                    backoff = 0.1
                except DatabaseError as exc:
                    # PostgreSQL away: the events not stored yet are retried.
                    logger.warning("database error, retrying in %.1fs: %s", backoff, exc)
                    close_old_connections()
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            consumer.close()

    def _round(self, consumer: ConfigEventConsumer) -> None:
        if not self._unstored:
            self._unstored = consumer.poll(POLL_MAX_MESSAGES, POLL_TIMEOUT_SECONDS)
        if self._unstored:
            deliveries_enqueue_for_events(self._unstored)
            self._unstored = []
            consumer.commit()
        for _ in range(SENDS_PER_ROUND):
            if self._stop.is_set() or not delivery_send_next():
                return
