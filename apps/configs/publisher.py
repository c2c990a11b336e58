"""The only server-side module that talks to Kafka."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from django.conf import settings

logger = logging.getLogger(__name__)
# librdkafka logs every reconnect attempt; its errors reach us once per outage
# through error_cb instead, so its own log stays out of the way unless asked for.
librdkafka_logger = logging.getLogger("librdkafka")
CONNECTIVITY_ERRORS = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}


def producer_config() -> dict:
    return {
        "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        # Idempotence gives acks=all, ordered retries and no duplicates from the
        # producer's own retries; at most 5 in flight keeps that order.
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        # Never give up on a message: while Kafka is down the relay waits, and
        # nothing is marked published until its delivery report arrives.
        "message.timeout.ms": 0,
        # Low latency: send at once rather than wait to fill a batch.
        "linger.ms": 0,
        "socket.nagle.disable": True,
        # The Java client's partitioner for keyed messages, so any client (the
        # SDK included) can compute which partition carries a namespace.
        "partitioner": "murmur2_random",
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 2000,
        "client.id": "noreboot-relay",
    }


class PublishError(Exception):
    pass


class OutboxPublisher:
    """Sends outbox events in order and reports which ones Kafka acknowledged."""

    def __init__(self) -> None:
        self._kafka_down = False
        self._producer = Producer(dict(producer_config(), error_cb=self._on_error), logger=librdkafka_logger)

    def _on_error(self, error: KafkaError) -> None:
        if error.code() not in CONNECTIVITY_ERRORS:
            logger.error("Kafka error: %s", error.str())
        elif not self._kafka_down:
            self._kafka_down = True
            logger.warning("Kafka unreachable (%s); events wait in the outbox", error.str())

    def publish(
        self,
        events: Iterable[tuple[int, str, str, dict]],
        *,
        keep_waiting: Callable[[], bool],
    ) -> list[int]:
        """Produce (id, topic, key, payload) in the given order and wait for every
        delivery report; returns the ids delivered, in order of their reports.
        Raises PublishError when a report is an error (the caller retries the
        batch; duplicates are fine, consumers dedupe by revision)."""
        delivered: list[int] = []
        failures: list[str] = []

        def on_delivery(event_id: int):
            def report(error, message):
                if error is None:
                    delivered.append(event_id)
                else:
                    failures.append(f"event {event_id}: {error}")

            return report

        pending = 0
        for event_id, topic, key, payload in events:
            value = json.dumps(payload, separators=(",", ":")).encode()
            while True:
                try:
                    self._producer.produce(topic, value=value, key=key.encode(), on_delivery=on_delivery(event_id))
                    break
                except BufferError:
                    # The local queue is full (Kafka slow or down): serve reports, then retry.
                    self._producer.poll(0.1)
            pending += 1
        while len(delivered) + len(failures) < pending:
            self._producer.poll(0.1)
            if not keep_waiting():
                break
        if failures:
            raise PublishError("; ".join(failures[:5]))
        if delivered and self._kafka_down:
            self._kafka_down = False
            logger.info("Kafka reachable again")
        return delivered

    def close(self, timeout: float = 5.0) -> None:
        self._producer.flush(timeout)


def _admin_client() -> AdminClient:
    # librdkafka's own log lines (one per failed connect) go through logging, not stderr.
    return AdminClient({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS}, logger=librdkafka_logger)


def topic_partition_count(topic: str, timeout: float = 5.0) -> int | None:
    """How many partitions the topic has; None when it does not exist or Kafka
    does not answer."""
    try:
        metadata = _admin_client().list_topics(topic=topic, timeout=timeout)
    except KafkaException:
        return None
    topic_metadata = metadata.topics.get(topic)
    if topic_metadata is None or topic_metadata.error is not None:
        return None
    return len(topic_metadata.partitions)


def broker_reachable(timeout: float = 2.0) -> bool:
    try:
        _admin_client().list_topics(timeout=timeout)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError):
            logger.debug("Kafka not reachable: %s", error.str())
        return False
    return True
