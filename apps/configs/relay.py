"""The outbox relay: publishes committed outbox events to Kafka, in order, and
marks them published only once Kafka has acknowledged them.

One relay is active at a time (a PostgreSQL advisory lock held by its session);
others wait as standbys and take over when the active one's session ends.

A lost database connection (a restart, a failover, an administrator ending the
session) is not fatal: the relay reconnects with backoff, takes the lock again
(or stands by, if another relay took it meanwhile) and resumes from the oldest
unpublished event. It exits only when asked to, by a signal."""

from __future__ import annotations

import itertools
import logging
import select
import threading
import time

import psycopg2
from django.conf import settings
from django.db import Error as DatabaseLayerError
from django.db import connection
from django.utils import timezone

from apps.configs.broker_admin import topic_ensure
from apps.configs.broker_tasks import broker_task_run
from apps.configs.events import config_topic_partitions
from apps.configs.models import OutboxEvent
from apps.configs.outbox import OUTBOX_CHANNEL, PendingEvent, outbox_mark_published, outbox_pending
from apps.configs.publisher import OutboxPublisher, PublishError
from apps.metrics import RELAY_FAILED, RELAY_PUBLISH_LATENCY, RELAY_PUBLISHED, serve_metrics

logger = logging.getLogger(__name__)

# Any fixed 64-bit number, the same in every relay process.
RELAY_LOCK_KEY = 0x4E525F52454C4159  # "NR_RELAY"
STANDBY_RETRY_SECONDS = 0.5
INITIAL_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
# Django wraps errors raised through a cursor; the raw connection's poll(),
# used while waiting for notifications, raises psycopg2's own.
DATABASE_ERRORS = (DatabaseLayerError, psycopg2.Error)


class OutboxRelay:
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        # Topics seen to exist with the expected partition count.
        self._ready_topics: set[str] = set()
        self._reconnect_backoff = INITIAL_BACKOFF_SECONDS

    def run(self) -> None:
        if settings.RELAY_METRICS_PORT:
            serve_metrics(settings.RELAY_METRICS_PORT, settings.RELAY_METRICS_ADDR)
        # Kafka's connection outlives database outages: what it has in flight
        # is still acknowledged, and at worst published again (consumers dedupe).
        publisher = OutboxPublisher()
        try:
            while not self._stop.is_set():
                try:
                    publisher = self._serve(publisher)
                except DATABASE_ERRORS as exc:
                    # The session, and with it the advisory lock and LISTEN, is gone.
                    backoff = self._reconnect_backoff
                    logger.warning("database connection lost, reconnecting in %.1fs: %s", backoff, exc)
                    self._drop_connection()
                    self._stop.wait(backoff)
                    self._reconnect_backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        finally:
            publisher.close()
            self._drop_connection()

    def _serve(self, publisher: OutboxPublisher) -> OutboxPublisher:
        """Take the lock and publish until stopped; returns the publisher in
        use (replaced after a Kafka error). Database errors propagate."""
        if not self._become_active():
            return publisher
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {OUTBOX_CHANNEL}")
        # Connected and active again: the next outage starts from a short wait.
        self._reconnect_backoff = INITIAL_BACKOFF_SECONDS
        backoff = INITIAL_BACKOFF_SECONDS
        while not self._stop.is_set():
            try:
                self._publish_pending(publisher)
                backoff = INITIAL_BACKOFF_SECONDS
            except PublishError as exc:
                logger.warning("publish failed, retrying in %.1fs: %s", backoff, exc)
                publisher.close(0)
                publisher = OutboxPublisher()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            self._wait_for_notify(settings.OUTBOX_POLL_SECONDS)
        return publisher

    @staticmethod
    def _drop_connection() -> None:
        try:
            connection.close()
        except DATABASE_ERRORS:
            # Closing a connection the server already dropped may complain; it is closed either way.
            pass

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

    def _ensure_topics(self, batch: list[PendingEvent]) -> None:
        for topic in {event.topic for event in batch} - self._ready_topics:
            expected = config_topic_partitions()
            partitions = topic_ensure(topic, expected)
            if partitions is None:
                # Kafka down: the events wait in the outbox, and the caller retries.
                raise PublishError(f"topic {topic} not reachable (yet)")
            if partitions != expected:
                # Clients compute their partition from the advertised count: a
                # mismatch would make them listen on the wrong partition.
                raise SystemExit(f"topic {topic} has {partitions} partitions; the configured count is {expected}")
            self._ready_topics.add(topic)

    def _publish_pending(self, publisher: OutboxPublisher) -> None:
        while not self._stop.is_set():
            batch = outbox_pending(settings.OUTBOX_BATCH_SIZE)
            if not batch:
                return
            started = time.monotonic()
            # Runs of config events are published together; a broker task runs
            # alone, after everything before it was acknowledged, so a tenant's
            # topic exists before its first event and a revoked principal loses
            # access before later events are sent.
            for is_task, run in itertools.groupby(batch, key=lambda event: event.kind == OutboxEvent.Kind.BROKER_TASK):
                run = list(run)
                done = self._run_broker_tasks(run) if is_task else self._publish_config_events(publisher, run)
                if not done:
                    return
            logger.debug("batch of %d in %.1f ms", len(batch), (time.monotonic() - started) * 1000)
            # A short batch was everything committed when it was read; whatever
            # commits later notifies this connection (LISTEN), which wakes the
            # wait at once: no further read that would find nothing.
            if len(batch) < settings.OUTBOX_BATCH_SIZE:
                return

    def _run_broker_tasks(self, tasks: list[PendingEvent]) -> bool:
        for task in tasks:
            if self._stop.is_set():
                return False
            try:
                broker_task_run(task.payload)
            except PublishError:
                RELAY_FAILED.inc()
                raise
            outbox_mark_published([task.id], timezone.now())
        return True

    def _publish_config_events(self, publisher: OutboxPublisher, events: list[PendingEvent]) -> bool:
        """Publish in order; True when Kafka acknowledged every one."""
        self._ensure_topics(events)
        try:
            delivered = publisher.publish(events, keep_waiting=lambda: not self._stop.is_set())
        except PublishError:
            RELAY_FAILED.inc(len(events))
            raise
        delivered_at = timezone.now()
        if delivered:
            outbox_mark_published(delivered, delivered_at)
        delivered_ids = set(delivered)
        for event in events:
            if event.id not in delivered_ids:
                continue
            latency = (delivered_at - event.created_at).total_seconds()
            RELAY_PUBLISHED.inc()
            RELAY_PUBLISH_LATENCY.observe(latency)
            payload = event.payload
            logger.info(
                "published %s revision %s", event.key, payload["revision"],
                extra={
                    "request_id": event.request_id, "namespace": event.key, "revision": payload["revision"],
                    "op": payload["op"], "config": payload["name"], "latency_ms": round(latency * 1000, 2),
                },
            )
        return len(delivered_ids) == len(events)

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
