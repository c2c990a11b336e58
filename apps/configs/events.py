"""The Kafka contract in one place (DESIGN, "Kafka contract"): where a
namespace's events go, what an event holds and how it is encoded.

Changing the topic layout means changing route_for and nothing else: the
outbox, the relay and the snapshot endpoint all ask it."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.conf import settings

from apps.tenants.models import Namespace


@dataclass(frozen=True)
class Route:
    topic: str
    partitions: int
    # The namespace path: Kafka keeps one key's events in order on one partition.
    key: str


def config_topic_partitions() -> int:
    # Every config topic has the same count, so the relay can check any topic
    # it publishes to, and clients compute their partition from it.
    return settings.KAFKA_PARTITIONS


def config_topic_for_tenant(tenant_slug: str) -> str:
    """The topic that carries the tenant's config events (KAFKA_TOPIC_LAYOUT)."""
    if settings.KAFKA_TOPIC_LAYOUT == "shared":
        return settings.KAFKA_TOPIC
    # Slugs are lowercase letters, digits and '-': always a legal topic name.
    return f"{settings.KAFKA_TOPIC}.{tenant_slug}"


def config_topics_pattern() -> str:
    """A regex subscription to every config topic, present and future (librdkafka
    takes a topic name starting with ^ as a regex): platform workers read all tenants."""
    if settings.KAFKA_TOPIC_LAYOUT == "shared":
        return f"^{re.escape(settings.KAFKA_TOPIC)}$"
    return rf"^{re.escape(settings.KAFKA_TOPIC)}\..+"


def ack_topic_for_tenant(tenant_slug: str) -> str:
    """The topic SDK clients of the tenant report their applied revisions on
    (DESIGN, "Instances and acks"); its tokens' principals may write only there."""
    if settings.KAFKA_TOPIC_LAYOUT == "shared":
        return settings.KAFKA_ACK_TOPIC
    return f"{settings.KAFKA_ACK_TOPIC}.{tenant_slug}"


def ack_topics_pattern() -> str:
    """A regex subscription to every ack topic, present and future."""
    if settings.KAFKA_TOPIC_LAYOUT == "shared":
        return f"^{re.escape(settings.KAFKA_ACK_TOPIC)}$"
    return rf"^{re.escape(settings.KAFKA_ACK_TOPIC)}\..+"


def tenant_of_ack_topic(topic: str) -> str | None:
    """The tenant whose principals alone may write `topic`; None for the shared
    layout's single topic, which the broker does not keep apart."""
    prefix = f"{settings.KAFKA_ACK_TOPIC}."
    return topic[len(prefix):] if topic.startswith(prefix) else None


def route_for(namespace: Namespace) -> Route:
    # The tenant is the path's first segment: a service token's namespace
    # comes without its tenant row, and this needs no query.
    tenant_slug = namespace.path.partition("/")[0]
    return Route(topic=config_topic_for_tenant(tenant_slug), partitions=config_topic_partitions(), key=namespace.path)


@dataclass(frozen=True)
class ConfigEvent:
    """The value of one Kafka message: a superset of the seed's {name, value}."""

    namespace: str
    name: str
    value: Any
    version: int
    revision: int
    # The database lineage the revision belongs to (apps/configs/lineage.py).
    epoch: str
    op: str  # upsert | delete | batch | rollout
    changed_at: str
    actor: str
    request_id: str
    event_id: str
    # op "batch" only (a changeset's part in this namespace; name, value and
    # version are then null): its changes, the changeset's id and the revision
    # it gave each namespace it touched, so that a client holding several
    # namespaces can wait until it holds all of them.
    changes: list[dict] | None = None
    changeset: int | None = None
    changeset_revisions: dict[str, int] | None = None
    # op "rollout" only: the running rollout of `name` ({id, value, percent,
    # labels}), or null when it was withdrawn; `value` stays the stable value.
    rollout: dict | None = None
    # A secret's change: its value is never on Kafka (null); clients fetch it over the API.
    secret: bool = False

    @classmethod
    def for_change(
        cls, *, namespace: Namespace, name: str, value: Any, version: int, revision: int, epoch: str, op: str,
        changed_at: datetime, actor: str, request_id: str, rollout: dict | None = None, secret: bool = False,
    ) -> ConfigEvent:
        return cls(
            namespace=namespace.path, name=name, value=None if secret else value, version=version, revision=revision,
            epoch=epoch, op=op, changed_at=changed_at.isoformat().replace("+00:00", "Z"), actor=actor,
            request_id=request_id, event_id=str(uuid.uuid4()), rollout=rollout, secret=secret,
        )

    @classmethod
    def for_batch(
        cls, *, namespace: Namespace, revision: int, epoch: str, changes: list[dict], changeset: int,
        changeset_revisions: dict[str, int], changed_at: datetime, actor: str, request_id: str,
    ) -> ConfigEvent:
        return cls(
            namespace=namespace.path, name=None, value=None, version=None, revision=revision, epoch=epoch, op="batch",
            changed_at=changed_at.isoformat().replace("+00:00", "Z"), actor=actor, request_id=request_id,
            event_id=str(uuid.uuid4()), changes=changes, changeset=changeset, changeset_revisions=changeset_revisions,
        )

    def change(self) -> dict:
        """This single change as an entry of a batch's `changes`."""
        change = {field: getattr(self, field) for field in CHANGE_FIELDS}
        if self.secret:
            change["secret"] = True
        return change

    def to_payload(self) -> dict:
        # A shallow copy: the payload is encoded at once, and a deep copy cost more than the rest of the write.
        payload = {field.name: getattr(self, field.name) for field in fields(self)}
        # A single change's event keeps its shape: no batch fields.
        for field in BATCH_FIELDS:
            if payload[field] is None:
                del payload[field]
        if self.op != "rollout":
            del payload["rollout"]
        if not self.secret:
            del payload["secret"]
        return payload


# What one change of a batch carries.
CHANGE_FIELDS = ("name", "op", "value", "version")
BATCH_FIELDS = ("changes", "changeset", "changeset_revisions")


def encode_event(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
