"""The only server-side module that talks to Kafka: the relay's producer, the
broker admin tasks, and the workers' consumer group (ConfigEventConsumer)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from django.conf import settings

from apps.configs.events import config_topics_pattern, encode_event
from apps.configs.outbox import PendingEvent

logger = logging.getLogger(__name__)
# librdkafka logs every reconnect attempt; its errors reach us once per outage
# through error_cb instead, so its own log stays out of the way unless asked for.
librdkafka_logger = logging.getLogger("librdkafka")
CONNECTIVITY_ERRORS = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}
SCRAM_ITERATIONS = 8192
# Admin requests (topics, principals, ACLs) give up after this, and the relay retries.
ADMIN_TIMEOUT = 10.0
ADMIN_RESULT_MARGIN = 5.0


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


@functools.cache
def _admin_client() -> AdminClient:
    # One per process: each new client would log in again (a SASL handshake).
    # librdkafka's own log lines (one per failed connect) go through logging, not stderr.
    # Connected to every broker, not only the ones it has needed so far: when a
    # broker of a cluster dies, the next request (a readiness check) goes to
    # one already logged in instead of waiting for a new SASL handshake.
    return AdminClient(dict(platform_client_config(), **{"enable.sparse.connections": False}), logger=librdkafka_logger)


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


def replication_for(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of a config topic on a cluster
    of this many brokers: with 3 or more, one broker may fail with no write
    refused and no acknowledged write lost (acks=all needs 2 of 3 copies)."""
    replicas = min(3, brokers)
    return replicas, min(2, replicas)


def topic_ensure(topic: str, partitions: int, timeout: float = 10.0) -> int | None:
    """Create the topic unless it exists; its partition count, or None when
    Kafka does not answer (the caller retries)."""
    existing = topic_partition_count(topic, timeout)
    if existing is not None:
        return existing
    try:
        brokers = len(_admin_client().list_topics(timeout=timeout).brokers)
    except KafkaException:
        return None
    # Counted among the brokers up now: Kafka refuses a factor above that, and
    # a topic made while one of 3 is down has 2 copies (reassign it later).
    replicas, min_insync = replication_for(brokers)
    new_topic = NewTopic(
        topic, num_partitions=partitions, replication_factor=replicas,
        config={"min.insync.replicas": str(min_insync)},
    )
    futures = _admin_client().create_topics([new_topic], request_timeout=timeout)
    try:
        # librdkafka gives up at request_timeout; the extra time only guards
        # against waiting forever should it not.
        futures[topic].result(timeout + ADMIN_RESULT_MARGIN)
    except TimeoutError:
        logger.warning("creating topic %s: no answer within %.0fs", topic, timeout)
        return None
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            logger.warning("creating topic %s failed: %s", topic, exc.args[0].str())
            return None
    logger.info("created topic %s with %d partitions, %d replicas", topic, partitions, replicas)
    return topic_partition_count(topic, timeout)


def _await(futures: dict, what: str, *, tolerated: frozenset = frozenset()) -> None:
    """Wait for an admin request's futures; PublishError unless each succeeded
    or failed with a tolerated error code (e.g. "already gone")."""
    for future in futures.values():
        try:
            future.result(ADMIN_TIMEOUT + ADMIN_RESULT_MARGIN)
        except TimeoutError as exc:
            raise PublishError(f"{what}: no answer within {ADMIN_TIMEOUT:.0f}s") from exc
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() not in tolerated:
                raise PublishError(f"{what}: {error.str()}") from exc


def scram_credential_upsert(username: str, password: str) -> None:
    credential = UserScramCredentialUpsertion(
        username, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), password.encode()
    )
    _await(
        _admin_client().alter_user_scram_credentials([credential], request_timeout=ADMIN_TIMEOUT),
        f"SCRAM credential of {username}",
    )


def scram_credential_delete(username: str) -> None:
    deletion = UserScramCredentialDeletion(username, ScramMechanism.SCRAM_SHA_512)
    _await(
        _admin_client().alter_user_scram_credentials([deletion], request_timeout=ADMIN_TIMEOUT),
        f"deleting the SCRAM credential of {username}",
        tolerated=frozenset({KafkaError.RESOURCE_NOT_FOUND}),
    )


def consumer_acls_grant(username: str, *, topic: str, group: str) -> None:
    """READ and DESCRIBE on one topic and READ on one group: all a consumer needs."""
    principal = f"User:{username}"
    bindings = [
        AclBinding(resource, name, ResourcePatternType.LITERAL, principal, "*", operation, AclPermissionType.ALLOW)
        for resource, name, operation in (
            (ResourceType.TOPIC, topic, AclOperation.READ),
            (ResourceType.TOPIC, topic, AclOperation.DESCRIBE),
            (ResourceType.GROUP, group, AclOperation.READ),
        )
    ]
    _await(_admin_client().create_acls(bindings, request_timeout=ADMIN_TIMEOUT), f"ACLs of {username}")


def producer_acls_grant(username: str, *, topic: str) -> None:
    """WRITE and DESCRIBE on one topic: all a non-idempotent producer needs."""
    principal = f"User:{username}"
    bindings = [
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, "*", operation,
                   AclPermissionType.ALLOW)
        for operation in (AclOperation.WRITE, AclOperation.DESCRIBE)
    ]
    _await(_admin_client().create_acls(bindings, request_timeout=ADMIN_TIMEOUT), f"ACLs of {username}")


def principal_acls_delete(username: str) -> None:
    every_acl_of_principal = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{username}", None,
        AclOperation.ANY, AclPermissionType.ANY,
    )
    _await(
        _admin_client().delete_acls([every_acl_of_principal], request_timeout=ADMIN_TIMEOUT),
        f"deleting the ACLs of {username}",
    )


def broker_reachable(timeout: float = 2.0) -> bool:
    """Kafka answers and can take the relay's writes: enough brokers are up
    for acks=all on the most replicated topic (min.insync.replicas of it).
    Asked twice, each within half of `timeout`: a request sent to a broker as
    it died gets no answer, and one broker down is no outage of a cluster
    (the second request goes to another)."""
    metadata = None
    for _ in range(2):
        try:
            metadata = _admin_client().list_topics(timeout=timeout / 2)
            break
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError):
                logger.debug("Kafka not reachable: %s", error.str())
    if metadata is None:
        return False
    # The metadata names the brokers that are up, and each partition's replicas.
    replicas = max(
        (len(partition.replicas) for topic in metadata.topics.values() for partition in topic.partitions.values()),
        default=1,
    )
    _, min_insync = replication_for(replicas)
    if len(metadata.brokers) < min_insync:
        logger.warning("Kafka has %d broker(s) up; writes need %d", len(metadata.brokers), min_insync)
        return False
    return True


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
