"""The Kafka contract in one place (DESIGN, "Kafka contract"): where a
namespace's events go, what an event holds and how it is encoded.

Changing the topic layout means changing route_for and nothing else: the
outbox, the relay and the snapshot endpoint all ask it."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass
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
    op: str  # upsert | delete
    changed_at: str
    actor: str
    request_id: str
    event_id: str

    @classmethod
    def for_change(
        cls, *, namespace: Namespace, name: str, value: Any, version: int, revision: int, epoch: str, op: str,
        changed_at: datetime, actor: str, request_id: str,
    ) -> ConfigEvent:
        return cls(
            namespace=namespace.path, name=name, value=value, version=version, revision=revision, epoch=epoch, op=op,
            changed_at=changed_at.isoformat().replace("+00:00", "Z"), actor=actor, request_id=request_id,
            event_id=str(uuid.uuid4()),
        )

    def to_payload(self) -> dict:
        return asdict(self)


def encode_event(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
