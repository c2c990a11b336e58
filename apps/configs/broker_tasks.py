"""Broker tasks from the outbox, carried out by the relay in outbox order:
a tenant's topics, and each service token's principal (DESIGN, "Kafka
security"). Every task is idempotent, so a retry after a failure is safe."""

from __future__ import annotations

import logging

from apps.configs.broker_admin import (
    consumer_acls_grant,
    principal_acls_delete,
    producer_acls_grant,
    scram_credential_delete,
    scram_credential_upsert,
    topic_ensure,
)
from apps.configs.events import ack_topic_for_tenant, config_topic_for_tenant, config_topic_partitions
from apps.configs.publisher import PublishError
from apps.tenants.kafka_principals import principal_name, principal_password
from apps.tenants.models import ServiceToken

logger = logging.getLogger(__name__)


def broker_task_run(task: dict) -> None:
    """Carry out one task; raises PublishError when the broker did not do it."""
    kind = task["task"]
    if kind == "tenant.topics":
        _tenant_topics(task["tenant"])
    elif kind == "principal.upsert":
        _principal_upsert(task["token_id"])
    elif kind == "principal.delete":
        _principal_delete(task["token_id"])
    else:
        # A task this relay does not know (written by a newer version): keep it
        # unpublished rather than drop it.
        raise PublishError(f"unknown broker task {kind!r}")


def _tenant_topics(tenant_slug: str) -> None:
    # The ack topic has as many partitions as the config topic: the collector
    # group spreads over them the same way.
    for topic in (config_topic_for_tenant(tenant_slug), ack_topic_for_tenant(tenant_slug)):
        if topic_ensure(topic, config_topic_partitions()) is None:
            raise PublishError(f"topic {topic} not created (yet)")


def _principal_upsert(token_id: int) -> None:
    token = (
        ServiceToken.objects.filter(pk=token_id)
        .values("revoked_at", "secret_hash", "kafka_credential_generation", "namespace__tenant__slug")
        .first()
    )
    if token is None or token["revoked_at"] is not None:
        # Revoked since: the delete task that follows removes whatever exists.
        return
    # The tenant's topics first: a tenant created before its ack topic existed
    # (an upgrade) gets it with its next token, and an ACL on a missing topic
    # would leave the token's first reports to time out.
    _tenant_topics(token["namespace__tenant__slug"])
    username = principal_name(token["secret_hash"])
    topic = config_topic_for_tenant(token["namespace__tenant__slug"])
    scram_credential_upsert(username, principal_password(username, token["kafka_credential_generation"]))
    # The Python client needs a group.id and looks up that group's coordinator
    # even when it only assigns partitions: a group of its own name, nothing more.
    consumer_acls_grant(username, topic=topic, group=username)
    ack_topic = ack_topic_for_tenant(token["namespace__tenant__slug"])
    producer_acls_grant(username, topic=ack_topic)
    logger.info("principal %s may read %s and write %s", username, topic, ack_topic)


def _principal_delete(token_id: int) -> None:
    username = principal_name(ServiceToken.objects.values_list("secret_hash", flat=True).get(pk=token_id))
    # ACLs first: every request is authorized, so open connections lose access at once.
    principal_acls_delete(username)
    scram_credential_delete(username)
    logger.info("principal %s deleted", username)
