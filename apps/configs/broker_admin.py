"""The broker's administration, by the platform principal: config and ack
topics, each service token's SCRAM credential and ACLs (the relay's broker
tasks, apps/configs/broker_tasks.py), and whether Kafka can take writes
(readiness)."""

from __future__ import annotations

import functools
import logging

from confluent_kafka import KafkaError, KafkaException
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

from apps.configs.publisher import PublishError, librdkafka_logger, platform_client_config

logger = logging.getLogger(__name__)
SCRAM_ITERATIONS = 8192
# Admin requests (topics, principals, ACLs) give up after this, and the relay retries.
ADMIN_TIMEOUT = 10.0
ADMIN_RESULT_MARGIN = 5.0


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
