"""How the platform's processes reach Kafka (platform_client_config), the
relay's producer (OutboxPublisher) and the workers' consumer group
(ConfigEventConsumer). The broker's administration (topics, principals,
ACLs, readiness) is apps/configs/broker_admin.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from django.conf import settings

from apps.configs.events import config_topics_pattern, encode_event
from apps.configs.outbox import PendingEvent

logger = logging.getLogger(__name__)
# librdkafka logs every reconnect attempt; its errors reach us once per outage
# through error_cb instead, so its own log stays out of the way unless asked for.
librdkafka_logger = logging.getLogger("librdkafka")
CONNECTIVITY_ERRORS = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}


def platform_client_config() -> dict:
    """How a platform process (relay, admin tasks, workers) reaches the broker."""
    config = {
        "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        "security.protocol": settings.KAFKA_SECURITY_PROTOCOL,
    }
    if settings.KAFKA_SECURITY_PROTOCOL.startswith("SASL"):
        config.update({
            "sasl.mechanism": settings.KAFKA_SASL_MECHANISM,
            "sasl.username": settings.KAFKA_SASL_USERNAME,
            "sasl.password": settings.KAFKA_SASL_PASSWORD,
        })
    if settings.KAFKA_SECURITY_PROTOCOL.endswith("SSL"):
        config["ssl.ca.location"] = settings.KAFKA_CA_FILE
    return config


def producer_config() -> dict:
    return {
        **platform_client_config(),
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
        events: Iterable[PendingEvent],
        *,
        keep_waiting: Callable[[], bool],
    ) -> list[int]:
        """Produce the events in the given order and wait for every
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
        for event in events:
            value = encode_event(event.payload)
            while True:
                try:
                    self._producer.produce(
                        event.topic, value=value, key=event.key.encode(), on_delivery=on_delivery(event.id)
                    )
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


class ConfigEventConsumer:
    """A platform worker's consumer group over every config topic, or every
    topic of `topics_pattern` (the ack topics for the collector): a regex
    subscription, so new tenants' topics join within a metadata refresh.
    Offsets are committed only when the caller says its batch is safe
    (at least once). A partition the group has no offset for yet is read from
    `start_time()`, so a new group or a new topic neither replays old history
    nor misses events written before the group saw the topic."""

    def __init__(
        self, group_id: str, *, start_time: Callable[[], datetime], topics_pattern: str | None = None
    ) -> None:
        self._start_time = start_time
        self._consumer = Consumer({
            **platform_client_config(),
            "group.id": group_id,
            "client.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 2000,
            "fetch.wait.max.ms": 50,
            # A worker that dies holds its partitions until its session times
            # out: 10 s rather than the 45 s default bounds that delay.
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 2000,
            # A new topic (a new tenant) only adds partitions: the members go on
            # reading theirs instead of stopping the group for each one.
            "partition.assignment.strategy": "cooperative-sticky",
            "error_cb": self._on_error,
        }, logger=librdkafka_logger)
        self._consumer.subscribe([topics_pattern or config_topics_pattern()], on_assign=self._on_assign)

    @staticmethod
    def _on_error(error: KafkaError) -> None:
        if error.code() not in CONNECTIVITY_ERRORS:
            logger.error("Kafka error: %s", error.str())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Cooperative rebalancing hands over only the partitions added.
        if not partitions:
            return
        try:
            committed = consumer.committed(partitions, timeout=10)
            start_ms = int(self._start_time().timestamp() * 1000)
            fresh = [TopicPartition(p.topic, p.partition, start_ms) for p in committed if p.offset < 0]
            # Ends read before the lookup by time: a partition with no message
            # at or after the time starts at its end as it was then; the logical
            # end, resolved once fetching starts, would skip what came meanwhile.
            ends = {(p.topic, p.partition): consumer.get_watermark_offsets(p, timeout=10)[1] for p in fresh}
            starts = {(p.topic, p.partition): p.offset for p in consumer.offsets_for_times(fresh, timeout=10)}
        except KafkaException as exc:
            # auto.offset.reset=earliest then applies: old events are read and
            # skipped by the caller (webhooks hear only of later changes).
            logger.warning("start offsets not found (%s); reading from the earliest", exc)
            return
        for partition in partitions:
            key = (partition.topic, partition.partition)
            if key in starts:  # -1: no message at or after the time
                partition.offset = starts[key] if starts[key] >= 0 else ends[key]
        consumer.incremental_assign(partitions)

    def poll(self, max_messages: int, timeout: float) -> list[dict]:
        """The next decoded event values, in partition order; messages that are
        not JSON objects are logged and skipped."""
        return [value for _topic, value in self.poll_with_topics(max_messages, timeout)]

    def poll_with_topics(self, max_messages: int, timeout: float) -> list[tuple[str, dict]]:
        """Like poll, each value with the topic it came from."""
        events = []
        for message in self._consumer.consume(max_messages, timeout):
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    logger.warning("consume error: %s", message.error().str())
                continue
            try:
                value = json.loads(message.value())
            except (TypeError, ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
                value = None
            if isinstance(value, dict):
                events.append((message.topic(), value))
            else:
                logger.warning("skipped a message that is not a JSON object: %s@%d", message.topic(), message.offset())
        return events

    def commit(self) -> None:
        """Commit everything polled so far. A refused commit (a rebalance under
        way) is logged: those events come again, and the caller dedupes them."""
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                logger.warning("offset commit refused: %s", exc.args[0].str())

    def close(self) -> None:
        self._consumer.close()
