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

from apps.configs.publisher import ConfigEventConsumer
from apps.stop_signals import rounds_until_stopped
from apps.webhooks.deliveries import deliveries_enqueue_for_events, deliveries_start_time, delivery_send_next

logger = logging.getLogger(__name__)

POLL_MAX_MESSAGES = 500
POLL_TIMEOUT_SECONDS = 0.2
# Sends per round before Kafka is polled again, so neither side starves.
SENDS_PER_ROUND = 50


class WebhookWorker:
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        # Polled but not yet stored: kept across a database error, so that no
        # later commit moves the group past them.
        self._unstored: list[dict] = []

    def run(self) -> None:
        consumer = ConfigEventConsumer(settings.WEBHOOK_CONSUMER_GROUP, start_time=deliveries_start_time)
        logger.info("webhook worker started (group %s)", settings.WEBHOOK_CONSUMER_GROUP)
        try:
            # PostgreSQL away: the events not stored yet are retried.
            rounds_until_stopped(self._stop, lambda: self._round(consumer), logger=logger)
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
