"""The only server-side module that talks to Kafka."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable

from confluent_kafka import KafkaError, KafkaException, Producer
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

from apps.configs.events import encode_event
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


@functools.cache
def _admin_client() -> AdminClient:
    # One per process: each new client would log in again (a SASL handshake).
    # librdkafka's own log lines (one per failed connect) go through logging, not stderr.
    return AdminClient(platform_client_config(), logger=librdkafka_logger)


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


def topic_ensure(topic: str, partitions: int, timeout: float = 10.0) -> int | None:
    """Create the topic unless it exists; its partition count, or None when
    Kafka does not answer (the caller retries)."""
    existing = topic_partition_count(topic, timeout)
    if existing is not None:
        return existing
    # Replication factor and min.insync.replicas are the brokers' defaults,
    # which a cluster sets for its size.
    futures = _admin_client().create_topics([NewTopic(topic, num_partitions=partitions)], request_timeout=timeout)
    try:
        futures[topic].result(timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            logger.warning("creating topic %s failed: %s", topic, exc.args[0].str())
            return None
    logger.info("created topic %s with %d partitions", topic, partitions)
    return topic_partition_count(topic, timeout)


SCRAM_ITERATIONS = 8192
ADMIN_TIMEOUT = 10.0


def _await(futures: dict, what: str, *, tolerated: frozenset = frozenset()) -> None:
    """Wait for an admin request's futures; PublishError unless each succeeded
    or failed with a tolerated error code (e.g. "already gone")."""
    for future in futures.values():
        try:
            future.result(ADMIN_TIMEOUT)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() not in tolerated:
                raise PublishError(f"{what}: {error.str()}") from exc


def scram_credential_upsert(username: str, password: str) -> None:
    credential = UserScramCredentialUpsertion(
        username, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), password.encode()
    )
    _await(_admin_client().alter_user_scram_credentials([credential]), f"SCRAM credential of {username}")


def scram_credential_delete(username: str) -> None:
    deletion = UserScramCredentialDeletion(username, ScramMechanism.SCRAM_SHA_512)
    _await(
        _admin_client().alter_user_scram_credentials([deletion]), f"deleting the SCRAM credential of {username}",
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
    try:
        _admin_client().list_topics(timeout=timeout)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError):
            logger.debug("Kafka not reachable: %s", error.str())
        return False
    return True
