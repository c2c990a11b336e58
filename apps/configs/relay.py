"""The outbox relay: publishes committed outbox events to Kafka, in order, and
marks them published only once Kafka has acknowledged them.

One relay is active at a time (a PostgreSQL advisory lock held by its session);
others wait as standbys and take over when the active one's session ends."""

from __future__ import annotations

import logging
import select
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone
from prometheus_client import start_http_server

from apps.configs.models import OutboxEvent
from apps.configs.outbox import OUTBOX_CHANNEL
from apps.configs.publisher import OutboxPublisher, PublishError, topic_partition_count
from apps.metrics import RELAY_FAILED, RELAY_PUBLISH_LATENCY, RELAY_PUBLISHED, scrape_registry

logger = logging.getLogger(__name__)

# Any fixed 64-bit number, the same in every relay process.
RELAY_LOCK_KEY = 0x4E525F52454C4159  # "NR_RELAY"
STANDBY_RETRY_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 5.0


class OutboxRelay:
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def run(self) -> None:
        if settings.RELAY_METRICS_PORT:
            start_http_server(settings.RELAY_METRICS_PORT, addr=settings.RELAY_METRICS_ADDR, registry=scrape_registry())
        if not self._become_active():
            return
        self._check_topic()
        publisher = OutboxPublisher()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"LISTEN {OUTBOX_CHANNEL}")
            backoff = 0.1
            while not self._stop.is_set():
                try:
                    self._publish_pending(publisher)
                    backoff = 0.1
                except PublishError as exc:
                    logger.warning("publish failed, retrying in %.1fs: %s", backoff, exc)
                    publisher.close(0)
                    publisher = OutboxPublisher()
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                self._wait_for_notify(settings.OUTBOX_POLL_SECONDS)
        finally:
            publisher.close()

    def _become_active(self) -> bool:
        """Take the advisory lock, waiting as a standby while another relay holds it."""
        announced = False
        while not self._stop.is_set():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [RELAY_LOCK_KEY])
                (acquired,) = cursor.fetchone()
            if acquired:
                logger.info("relay active")
                return True
            if not announced:
                logger.info("another relay is active; waiting as standby")
                announced = True
            self._stop.wait(STANDBY_RETRY_SECONDS)
        return False

    def _check_topic(self) -> None:
        partitions = topic_partition_count(settings.KAFKA_TOPIC)
        if partitions is None:
            # Kafka down or the topic not created yet: events wait in the outbox meanwhile.
            logger.warning("topic %s not reachable (yet); events wait until it is", settings.KAFKA_TOPIC)
        elif partitions != settings.KAFKA_PARTITIONS:
            # Clients compute their partition from the advertised count: a
            # mismatch would make them listen on the wrong partition.
            raise SystemExit(
                f"topic {settings.KAFKA_TOPIC} has {partitions} partitions, "
                f"settings say KAFKA_PARTITIONS={settings.KAFKA_PARTITIONS}"
            )

    def _publish_pending(self, publisher: OutboxPublisher) -> None:
        while not self._stop.is_set():
            batch = list(
                OutboxEvent.objects.filter(published_at__isnull=True)
                .order_by("id")
                .values_list("id", "topic", "key", "payload", "request_id", "created_at")[
                    : settings.OUTBOX_BATCH_SIZE
                ]
            )
            if not batch:
                return
            started = time.monotonic()
            try:
                delivered = publisher.publish(
                    ((row[0], row[1], row[2], row[3]) for row in batch),
                    keep_waiting=lambda: not self._stop.is_set(),
                )
            except PublishError:
                RELAY_FAILED.inc(len(batch))
                raise
            delivered_at = timezone.now()
            if delivered:
                OutboxEvent.objects.filter(pk__in=delivered).update(published_at=delivered_at)
            delivered_ids = set(delivered)
            for event_id, _topic, key, payload, request_id, created_at in batch:
                if event_id not in delivered_ids:
                    continue
                latency = (delivered_at - created_at).total_seconds()
                RELAY_PUBLISHED.inc()
                RELAY_PUBLISH_LATENCY.observe(latency)
                logger.info(
                    "published %s revision %s", key, payload["revision"],
                    extra={
                        "request_id": request_id, "namespace": key, "revision": payload["revision"],
                        "op": payload["op"], "config": payload["name"], "latency_ms": round(latency * 1000, 2),
                    },
                )
            logger.debug("batch of %d in %.1f ms", len(batch), (time.monotonic() - started) * 1000)

    def _wait_for_notify(self, timeout: float) -> None:
        raw = connection.connection
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            # psycopg2 also collects notifications while it runs other queries
            # (the publish round just done): those are already here, and the
            # socket will not signal them again.
            raw.poll()
            if raw.notifies:
                raw.notifies.clear()
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Short slices so that a stop request is honoured quickly.
            select.select([raw], [], [], min(remaining, 0.5))
